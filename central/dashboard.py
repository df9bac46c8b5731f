"""Head office's dashboard (``[central] listen`` or ``--listen``): every hall live (open, closed or
outage, waiting, longest wait, devices offline, alerts) and a day's figures with a chart and CSV,
behind a login (users: ``hallq central user add NAME --role manager``; the hall console's
accounts, sessions, CSRF and login throttling).

It runs in its own thread and asyncio loop with its own read-only database connection; the ingest
loop stays the only writer. Pages follow the estate by Server-Sent Events, sent when the number of
stored events or the halls' states changed.
"""
from __future__ import annotations

import asyncio
import html
import json
import re
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hallq.http.accounts import Accounts
from hallq.http.login import COOKIE, LoginGuard, SecurityHeaders, login
from hallq.http.pages import STATIC, chart_svg, login_page, page
from hallq.records.figures import COLUMNS, csv_text, day_report
from hallq.records.store import CentralStore
from hallq.runtime.config import WebConfig


def estate_board(store: CentralStore) -> list[dict[str, Any]]:
    halls = []
    for hall, state_text, seq, online, updated in store.query(
            "SELECT hall, state, state_seq, online, updated FROM halls ORDER BY hall"):
        state = json.loads(state_text) if state_text else {}
        devices = state.get("devices", {})
        offline = sorted(d for d, v in devices.items() if v.get("online") is False)
        waiting = sum(s.get("waiting", 0) for s in state.get("services", []))
        alerts = ([] if online else ["控制器离线 controller offline"]) + \
            ([f"故障模式 outage: {state.get('message') or ''}"] if state.get("mode") == "outage" else []) + \
            [a.get("text", "") for a in state.get("alerts", []) if a.get("severity") in ("critical", "warning")]
        oldest = store.query("SELECT MIN(issued_at) FROM tickets WHERE hall = ? AND day = ? AND status = 'waiting'",
                             (hall, state.get("day") or ""))
        since = oldest[0][0] if oldest else None
        wait_s = int((datetime.now(timezone.utc) - datetime.fromisoformat(since)).total_seconds()) if since else 0
        alerts = quarantine_alerts(store, hall) + alerts
        halls.append({"hall": hall, "name": state.get("hall_name") or hall, "mode": state.get("mode", "?"),
                      "online": bool(online), "waiting": waiting, "longest_wait_s": max(0, wait_s),
                      "devices_offline": len(offline), "alerts": alerts, "seq": seq, "updated": updated})
    return halls


def quarantine_alerts(store: CentralStore, hall: str) -> list[str]:
    """A hall's messages that could not be read: the one its records stop before, and the latest
    others (never skipped in silence)."""
    mark = store.contiguous(hall)
    out = []
    for _hall, seq, reason, _at in store.quarantined(hall)[:20]:
        if seq is not None and seq > mark:
            out.append(f"记录停在第{seq}条之前 records stop before event {seq}: {reason}")
            break
    unnumbered = [r for r in store.quarantined(hall)[:20] if r[1] is None]
    if unnumbered:
        out.append(f"无法读取的消息 {len(unnumbered)} unreadable message(s), latest: {unnumbered[0][2]}")
    return out


class Dashboard:
    def __init__(self, url: str, data_dir: str, version: Callable[[], int], target_s: int) -> None:
        self.url, self.version, self.target_s = url, version, target_s
        self.accounts = Accounts(str(Path(data_dir) / "central-users.db"))
        self.guard = LoginGuard.of(WebConfig().hall_networks)   # head office's own network
        self.store: CentralStore | None = None
        self.app = SecurityHeaders(Starlette(routes=[
            Route("/", self.board_page), Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]), Route("/board", self.board),
            Route("/board/stream", self.stream), Route("/figures", self.figures),
            Route("/figures.csv", self.figures_csv), Mount("/static", StaticFiles(directory=STATIC)),
        ]))

    def db(self) -> CentralStore:
        if self.store is None:               # opened in the dashboard's own thread
            self.store = CentralStore(self.url)
        return self.store

    def signed_in(self, request: Request) -> bool:
        return self.accounts.session(request.cookies.get(COOKIE)) is not None

    async def login_form(self, request: Request) -> Response:
        return HTMLResponse(_login_form())

    async def login(self, request: Request) -> Response:
        return await login(request, self.accounts, self.guard, _login_form, "/", secure=False)

    async def board_page(self, request: Request) -> Response:
        if not self.signed_in(request):
            return RedirectResponse("/login", 303)
        body = ('<header class="bar"><strong>hallq 总部 Head office</strong><a class="user" href="/figures">'
                '报表 Figures</a></header><main class="console"><section><h2>营业厅 Halls</h2>'
                '<table id="halls"></table></section></main>')
        return HTMLResponse(page("hallq head office", body, scripts=("dom.js", "estate.js")))

    async def board(self, request: Request) -> Response:
        if not self.signed_in(request):
            return JSONResponse({"error": "login required"}, status_code=401)
        return JSONResponse(estate_board(self.db()))

    async def stream(self, request: Request) -> Response:
        if not self.signed_in(request):
            return JSONResponse({"error": "login required"}, status_code=401)

        async def events() -> AsyncIterator[str]:
            seen, beats = None, 0
            while True:
                version = self.version()
                if version != seen or beats >= 20:
                    seen, beats = version, 0
                    yield f"data: {json.dumps(estate_board(self.db()), ensure_ascii=False)}\n\n"
                beats += 1
                await asyncio.sleep(0.5)
        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    def _day(self, request: Request) -> str | None:
        day = request.query_params.get("date") or datetime.now(timezone.utc).date().isoformat()
        return day if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else None

    async def figures(self, request: Request) -> Response:
        if not self.signed_in(request):
            return RedirectResponse("/login", 303)
        day = self._day(request)
        if day is None:
            return PlainTextResponse("date: YYYY-MM-DD", status_code=400)
        rows = day_report(self.db(), day, self.target_s)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
        body_rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if r[c] is None else str(r[c]))}</td>"
                                             for c in COLUMNS) + "</tr>" for r in rows)
        per_hall: dict[str, dict[str, Any]] = {}
        for r in rows:
            h = per_hall.setdefault(r["hall"], {"name": r["hall"], "issued": 0, "served": 0})
            h["issued"] += r["issued"]
            h["served"] += r["served"]
        body = (f'<header class="bar"><strong>hallq 总部 Head office</strong><a class="user" href="/">实时 Live</a>'
                f'</header><main class="console"><section><h2>{html.escape(day)}</h2>'
                f'<table id="figures"><tr>{head}</tr>{body_rows}</table>'
                f'<p><a href="/figures.csv?date={html.escape(day)}">CSV (Excel)</a></p></section>'
                f"<section><h2>各厅 Per hall</h2>{chart_svg(list(per_hall.values()))}</section></main>")
        return HTMLResponse(page(f"hallq {day}", body))

    async def figures_csv(self, request: Request) -> Response:
        if not self.signed_in(request):
            return JSONResponse({"error": "login required"}, status_code=401)
        day = self._day(request)
        if day is None:
            return PlainTextResponse("date: YYYY-MM-DD", status_code=400)
        return Response(csv_text(day_report(self.db(), day, self.target_s)).encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="estate-{day}.csv"'})


def _login_form(message: str = "", name: str = "") -> str:
    return login_page("hallq 总部 Head office", "全部营业厅 All halls", message, name)


def start_dashboard(url: str, data_dir: str, host: str, port: int, version: Callable[[], int],
                    target_s: int) -> threading.Thread:
    """Serve the dashboard from a daemon thread (its own asyncio loop)."""
    import uvicorn  # noqa: PLC0415
    dashboard = Dashboard(url, data_dir, version, target_s)
    server = uvicorn.Server(uvicorn.Config(dashboard.app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    server.install_signal_handlers = lambda: None     # the ingest loop owns SIGTERM/SIGINT  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name="hallq-dashboard", daemon=True)
    thread.start()
    return thread
