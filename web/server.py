"""``hallq web``: Starlette on uvicorn, in one asyncio loop that is also the device shell's owner.

Pages follow the hall with Server-Sent Events (no polling): each open page waits on the hub and
is sent its own view again when the hall changed. Everything but ``/t/<token>`` (a customer's
ticket), ``/screen/<display id>`` (a hall screen) and ``/static`` needs a console login.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
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

from hallq.contract import ReplyDoc, ops
from hallq.contract.tokens import TOKEN_PATTERN, new_token, token_hash
from hallq.device.shell import DeviceShell, StampedInbox
from hallq.http.accounts import Accounts, Session
from hallq.http.limits import MAX_BODY, BodyLimit, Overloads, StreamGate
from hallq.http.login import COOKIE, LoginGuard, SecurityHeaders, form_fields, login
from hallq.http.pages import STATIC, chart_svg, login_page
from hallq.records.store import CentralStore
from hallq.runtime.config import Config
from hallq.runtime.i18n import N_, counter_name, gettext

from . import api, booking, join, pages, planning
from .api import Webhooks
from .integrations import Integrations
from .board import board
from .reports import Reports, period_bounds
from .role import Hub, WebRole
from .screen import BANNER_KINDS, ScreenFeeds

log = logging.getLogger(__name__)

HEARTBEAT_S = 20.0
SETTLE_S = 0.01
ACTION_WAIT_S = 6.0
ACTIONS = {"suspend_service", "resume_service", "outage", "announce", "unannounce", "open", "close", "void",
           "reinstate", "call", "suspend", "resume"}


class LoopInbox(StampedInbox):
    """The shell's inbox; whoever puts (paho's thread) also wakes the asyncio loop that owns it."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.wake = asyncio.Event()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.wake.set)


class WebService:
    def __init__(self, config: Config, data_dir: str, voice: bool = True, max_streams: int | None = None) -> None:
        self.config = config
        web = config.web
        assert web is not None
        self.web = web
        self.hub = Hub()
        self.inbox = LoopInbox()
        self.accounts = Accounts(str(Path(data_dir) / "web.db"), session_s=web.session_hours * 3600)
        self.records_path = Path(data_dir).resolve() / "records.db"
        self.join_key = join.keys_file(Path(data_dir))
        self.integrations = Integrations(Path(data_dir) / "integrations.db")
        self.webhooks = Webhooks(config, self.integrations, self.records_path, lambda: self.hub.versions["stored"],
                                 lambda seen, timeout: self.hub.wait(seen, timeout, "stored"),
                                 web.webhook_retry_max_s, web.webhook_give_up_s)
        self.records = CentralStore(f"sqlite:///{self.records_path}")
        self.reports = Reports(self.records, config.hall.id, Path(data_dir) / "reports", config)
        self.role = WebRole(config, self.hub, records=self.records, on_day_ended=self.reports.nightly)
        self.shell = DeviceShell(config, f"admin.{web.id}", self.role, data_dir=data_dir, inbox=self.inbox)
        self.screens = ScreenFeeds(config, self.shell.availability, voice=voice)
        self.role.screens = self.screens
        self.secure = web.secure_cookies if web.secure_cookies is not None else \
            bool(web.public_url and web.public_url.startswith("https://"))
        self.overloads = Overloads()
        self.streams = StreamGate(web.streams_per_client, min(web.max_streams, max_streams or web.max_streams),
                                  self.overloads)
        self.guard = LoginGuard.of(web.hall_networks)
        self.app = Starlette(exception_handlers={Exception: self.failed}, routes=[
            Route("/", lambda r: RedirectResponse("/console", 303)),
            Route("/healthz", self.healthz),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/console", self.console),
            Route("/api/board", self.board),
            Route("/api/board/stream", self.board_stream),
            Route("/api/action", self.action, methods=["POST"]),
            Route("/reports", self.report_page),
            Route("/planning", self.planning_page),
            Route("/reports.csv", self.report_csv),
            Route("/reports.xlsx", self.report_xlsx),
            Route("/reports/nightly/{name}", self.nightly_file),
            Route("/api/v1/openapi.json", self.api_openapi),
            Route("/api/v1/hall", self.api_hall),
            Route("/api/v1/services", self.api_services),
            Route("/api/v1/counters", self.api_counters),
            Route("/api/v1/waiting", self.api_waiting),
            Route("/api/v1/tickets/{token}", self.api_ticket),
            Route("/book", self.book_list),
            Route("/book/manage", self.book_manage, methods=["GET", "POST"]),
            Route("/book/cancel", self.book_cancel, methods=["POST"]),
            Route("/book/move", self.book_move, methods=["POST"]),
            Route("/book/{service}", self.book_page, methods=["GET", "POST"]),
            Route("/join", self.join_list),
            Route("/join/{service}", self.join_page, methods=["GET"]),
            Route("/join/{service}", self.join, methods=["POST"]),
            Route("/arrive", self.arrive),
            Route("/t/{token}", self.ticket_page),
            Route("/t/{token}/stream", self.ticket_stream),
            Route("/screen/{display}", self.screen_page),
            Route("/screen/{display}/stream", self.screen_stream),
            Route("/screen/{display}/layout", self.screen_layout),
            Route("/screen/{display}/audio/{clip:int}.wav", self.screen_audio),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ])
        self.asgi = BodyLimit(SecurityHeaders(self.app, https=self.secure), MAX_BODY, self.overloads)

    # --- the owner loop ------------------------------------------------------------------------
    async def run_shell(self, stopping: asyncio.Event) -> None:
        self.inbox.loop = asyncio.get_running_loop()
        self.shell.start()
        next_tick = 0.0
        try:
            while not stopping.is_set():
                try:
                    await asyncio.wait_for(self.inbox.wake.wait(), self.role.tick_s)
                except TimeoutError:
                    pass
                self.inbox.wake.clear()
                while not self.inbox.empty():
                    try:
                        self.shell.handle(self.inbox.get_nowait())
                    except Exception:       # a fault becomes a log line, never a dead service
                        log.exception("failed to handle a message")
                now = time.monotonic()
                if now >= next_tick:
                    self.shell.tick(now)
                    next_tick = now + self.role.tick_s
        finally:
            self.shell.stop()
            self.screens.close()
            self.records.close()

    # --- helpers ---------------------------------------------------------------------------------
    def session(self, request: Request) -> Session | None:
        return self.accounts.session(request.cookies.get(COOKIE))

    def now(self) -> datetime:
        return datetime.now(self.config.zone)

    async def failed(self, request: Request, err: Exception) -> Response:
        """Whatever no handler foresaw: one log line, a plain answer (never a traceback per request)."""
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(err).__name__, err)
        return PlainTextResponse("服务器内部错误 internal error", status_code=500)

    async def stream(self, request: Request, render: Callable[[], Any], channel: str = "all") -> Response:
        """SSE: the view now, then again whenever it changed; a comment line as heartbeat.
        After a wake-up it waits ``SETTLE_S``: a call's events (served, called) and the new state
        arrive together and are rendered once. Open streams are bounded per address and in all
        (hallq/http/limits.py): beyond, 429 or 503 with Retry-After (the pages try again later)."""
        client = request.client.host if request.client else "?"
        refused = self.streams.enter(client)
        if refused:
            return PlainTextResponse("打开的页面太多，请稍后再试 too many open pages: try again later",
                                     status_code=429 if refused == "client" else 503,
                                     headers={"Retry-After": "30", "Connection": "close"})

        async def events() -> AsyncIterator[str]:
            try:
                async for chunk in self._events(render, channel):
                    yield chunk
            finally:
                self.streams.leave(client)
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _events(self, render: Callable[[], Any], channel: str) -> AsyncIterator[str]:
        seen, last = -1, None
        while True:
            woken = await self.hub.wait(seen, HEARTBEAT_S, channel)
            if woken != seen and seen != -1:
                await asyncio.sleep(SETTLE_S)
                woken = self.hub.versions[channel]
            seen = woken
            doc = render()
            text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            if text != last:
                last = text
                yield f"data: {text}\n\n"
            else:
                yield ": ping\n\n"

    # --- public: health, a ticket's page, a hall screen -----------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok" if self.role.mirror.ready else "catching up",
                                 status_code=200 if self.role.mirror.ready else 503)

    def _ticket_doc(self, token: str, lang: str) -> dict[str, Any] | None:
        ticket = self.role.mirror.ticket_by_token(token) if TOKEN_PATTERN.match(token) else None
        if ticket is None:
            return None
        view = self.role.mirror.ticket_view(ticket, self.now())
        name = counter_name(self.config, view["counter"], lang) if view["counter"] else ""
        return pages.phone_texts(view, lang, self.config, name, self.web.near)

    # --- the read-only API for other systems (hallq/web/api.py) --------------------------------------
    def _api(self, request: Request, answer: Callable[[], Any]) -> Response:
        """An API answer for a caller with an integration's token, from the state the controller published."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token or self.integrations.by_token(token) is None:
            return Response(msgspec.json.encode(api.ApiError("a token of this hall's integrations is needed: "
                                                             "Authorization: Bearer <token>")), status_code=401,
                            media_type="application/json", headers={"WWW-Authenticate": "Bearer"})
        if self.role.state is None or self.role.mirror.state is None:
            return Response(msgspec.json.encode(api.ApiError("no state from the controller yet")), status_code=503,
                            media_type="application/json")
        found = answer()
        if found is None:
            return Response(msgspec.json.encode(api.ApiError("no such ticket today")), status_code=404,
                            media_type="application/json")
        return Response(msgspec.json.encode(found), media_type="application/json", headers={"Cache-Control": "no-store"})

    async def api_openapi(self, request: Request) -> Response:
        return JSONResponse(api.openapi(self.config))

    async def api_hall(self, request: Request) -> Response:
        return self._api(request, lambda: api.hall_answer(self.config, self.role.state))

    async def api_services(self, request: Request) -> Response:
        return self._api(request, lambda: api.services_answer(self.config, self.role.state))

    async def api_counters(self, request: Request) -> Response:
        return self._api(request, lambda: api.counters_answer(self.role.state))

    async def api_waiting(self, request: Request) -> Response:
        return self._api(request, lambda: self.role.mirror.waiting_numbers(self.now()))

    async def api_ticket(self, request: Request) -> Response:
        token = request.path_params["token"]

        def answer() -> Any:
            ticket = self.role.mirror.ticket_by_token(token) if TOKEN_PATTERN.match(token) else None
            return api.ticket_answer(self.role.mirror.ticket_view(ticket, self.now())) if ticket else None
        return self._api(request, answer)

    # --- booking a slot (hallq/web/booking.py) ------------------------------------------------------
    def _page_with_nonce(self, request: Request, html_text: str, status: int = 200) -> Response:
        response = HTMLResponse(html_text, status_code=status, headers={"Cache-Control": "no-store"})
        response.set_cookie(join.NONCE_COOKIE, self._nonce(request), httponly=True, samesite="strict", secure=self.secure)
        return response

    @staticmethod
    def _nonce(request: Request) -> str:
        """The form's nonce: the browser's cookie, or one made for this request (then set as the cookie)."""
        nonce = request.cookies.get(join.NONCE_COOKIE)
        if nonce:
            return nonce
        if not hasattr(request.state, "nonce"):
            request.state.nonce = secrets.token_urlsafe(16)
        return str(request.state.nonce)

    def _mobile(self, form: dict[str, str]) -> str | None:
        """The optional mobile number of a join or booking form ("" none, or no SMS modem in this hall;
        None: given but not a number)."""
        number = re.sub(r"[\s-]", "", form.get("phone", ""))[:20] if self.config.sms is not None else ""
        return None if number and not join.PHONE.match(number) else number

    @staticmethod
    def _refusal(reply: ReplyDoc | None, lang: str) -> str:
        """What a booking page says when the controller refused, or did not answer."""
        return booking.words(lang)["away"] if reply is None else booking.refusal(reply.code or "", reply.message or "", lang)

    @staticmethod
    def _nonce_ok(request: Request, form: dict[str, str]) -> bool:
        nonce = request.cookies.get(join.NONCE_COOKIE, "")
        return bool(nonce) and hmac.compare_digest(nonce, form.get("nonce", ""))

    async def book_list(self, request: Request) -> Response:
        return HTMLResponse(booking.list_page(self.config, pages.language(request.headers.get("accept-language"))))

    def _book_form(self, request: Request, service: str, lang: str, day_text: str | None, message: str = "",
                   status: int = 200) -> Response:
        mirror, now = self.role.mirror, self.now()
        days = booking.days_ahead(mirror.setup, service, now)
        day = next((d for d in days if d.isoformat() == day_text), days[0])
        state = mirror.state if self.shell.available else None
        return self._page_with_nonce(request, booking.service_page(self.config, mirror.setup, state, service, day, now,
                                                                    self._nonce(request), lang, message),
                                     status if state is not None else 503)

    async def book_page(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        service = request.path_params["service"]
        if service not in booking.offered(self.config):
            return HTMLResponse(booking.list_page(self.config, lang), status_code=404)
        if request.method == "GET":
            return self._book_form(request, service, lang, request.query_params.get("day"))
        form = await form_fields(request)
        slot = _slot_of(form.get("slot", ""))
        if not self._nonce_ok(request, form) or slot is None:
            return self._book_form(request, service, lang, None, booking.words(lang)["again"], 400)
        number = self._mobile(form)
        if number is None:
            return self._book_form(request, service, lang, slot.date().isoformat(), join.words(lang)["phone_bad"], 400)
        reply = await self._ask("book", service=service, slot=slot.isoformat(), lang=lang,
                                **({"phone": number} if number else {}))
        if reply is None or not reply.ok or reply.appointment is None:
            return self._book_form(request, service, lang, slot.date().isoformat(), self._refusal(reply, lang), 409)
        return HTMLResponse(booking.booked_page(self.config, msgspec.to_builtins(reply.appointment), lang),
                            headers={"Cache-Control": "no-store"})

    async def book_manage(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        if request.method == "GET":
            return self._page_with_nonce(request, booking.manage_form(self.config, self._nonce(request), lang))
        form = await form_fields(request)
        found = self.role.mirror.state.appointments.get(form.get("code", "").strip()) \
            if self.role.mirror.state is not None else None
        if not self._nonce_ok(request, form) or found is None or found.status != "booked":
            return self._page_with_nonce(request, booking.manage_form(self.config, self._nonce(request), lang,
                                                                      booking.words(lang)["unknown"]), 404)
        day = next((d for d in booking.days_ahead(self.role.mirror.setup, found.service, self.now())
                    if d.isoformat() == form.get("day")), None)          # another day to move to
        return self._page_with_nonce(request, booking.manage_page(self.config, self.role.mirror.setup,
                                                                  self.role.mirror.state, found, self.now(),
                                                                  self._nonce(request), lang, day))

    async def book_cancel(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        form = await form_fields(request)
        if not self._nonce_ok(request, form):
            return self._page_with_nonce(request, booking.manage_form(self.config, self._nonce(request), lang,
                                                                      booking.words(lang)["again"]), 400)
        reply = await self._ask("cancel_booking", code=form.get("code", "").strip()[:32] or "-")
        if reply is None or not reply.ok:
            return self._page_with_nonce(request, booking.manage_form(self.config, self._nonce(request), lang,
                                                                      self._refusal(reply, lang)), 409)
        return HTMLResponse(booking.cancelled_page(self.config, lang))

    async def book_move(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        form = await form_fields(request)
        slot = _slot_of(form.get("slot", ""))
        if not self._nonce_ok(request, form) or slot is None:
            return self._page_with_nonce(request, booking.manage_form(self.config, self._nonce(request), lang,
                                                                      booking.words(lang)["again"]), 400)
        reply = await self._ask("move_booking", code=form.get("code", "").strip()[:32] or "-", slot=slot.isoformat())
        if reply is None or not reply.ok or reply.appointment is None:
            return self._page_with_nonce(request, booking.manage_form(self.config, self._nonce(request), lang,
                                                                      self._refusal(reply, lang)), 409)
        return HTMLResponse(booking.booked_page(self.config, msgspec.to_builtins(reply.appointment), lang, moved=True),
                            headers={"Cache-Control": "no-store"})

    # --- joining from a phone (hallq/web/join.py) ----------------------------------------------------
    async def join_list(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        return HTMLResponse(join.list_page(self.config, lang), headers={"Cache-Control": "no-store"})

    def _join_view(self, service: str) -> dict[str, Any] | None:
        """The service as a phone about to join sees it; None: the controller is away (nothing promised)."""
        mirror = self.role.mirror
        published = self.role.state.service(service) if self.role.state is not None else None
        if not self.shell.available or mirror.state is None or published is None:
            return None
        state = mirror.state
        cap = mirror.setup.remote_caps.get(service, 0)
        # people waiting and a newcomer's wait as the controller published them (what the screens show):
        # a public page does not play the hall forward for each phone that opens it
        return {"waiting": published.waiting, "est_wait_s": published.est_wait_s, "est_known": published.est_known,
                "left": max(0, cap - state.remote_joins.get(f"service:{service}", 0)),
                "closed": not state.is_open or published.suspended}

    def _join_form(self, request: Request, service: str, lang: str, message: str = "",
                   status: int = 200) -> Response:
        view = self._join_view(service)
        return self._page_with_nonce(request, join.service_page(self.config, service, lang, view, self._nonce(request),
                                                                message), status if view is not None else 503)

    async def join_page(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        service = request.path_params["service"]
        if service not in join.offered(self.config):
            return HTMLResponse(join.list_page(self.config, lang), status_code=404)
        return self._join_form(request, service, lang)

    async def join(self, request: Request) -> Response:
        """A phone takes a number: the ``join`` op, then its live page (the token in a cookie, for the door)."""
        lang = pages.language(request.headers.get("accept-language"))
        service = request.path_params["service"]
        if service not in join.offered(self.config):
            return HTMLResponse(join.list_page(self.config, lang), status_code=404)
        form = await form_fields(request)
        if not self._nonce_ok(request, form):
            return self._join_form(request, service, lang, gettext(N_("Please press the button on this page again."), lang), 403)
        if not self.shell.available:
            return self._join_form(request, service, lang)
        number = self._mobile(form)
        if number is None:
            return self._join_form(request, service, lang, join.words(lang)["phone_bad"], 400)
        phone = request.cookies.get(join.PHONE_COOKIE) or secrets.token_urlsafe(16)
        client = request.client.host if request.client else "?"
        token = new_token()
        reply: ReplyDoc | None = None
        for _ in range(3):                        # an arrival code given today already: another one
            reply = await self._ask("join", service=service, device=join.keyed(self.join_key, phone),
                                    address=join.keyed(self.join_key, client), code=join.new_code(),
                                    token_hash=token_hash(token), lang=lang,
                                    **({"phone": number} if number else {}))
            if reply is None or reply.ok or reply.code != "bad_request":
                break
        if reply is None:
            return self._join_form(request, service, lang)
        if not reply.ok:
            return self._join_form(request, service, lang, join.refusal(reply.code or "", reply.message or "", lang), 409)
        log.info("joined from a phone: %s %s", service, reply.ticket.number if reply.ticket else "?")
        await self._until_known(token)
        response = RedirectResponse(f"/t/{token}", 303)
        response.set_cookie(join.PHONE_COOKIE, phone, max_age=400 * 86400, httponly=True, samesite="lax",
                            secure=self.secure)
        response.set_cookie(join.TICKET_COOKIE, token, max_age=86400, httponly=True, samesite="lax", secure=self.secure)
        return response

    async def arrive(self, request: Request) -> Response:
        """The QR code at the hall's door: the ticket this phone joined with is here (``arrived`` op)."""
        lang = pages.language(request.headers.get("accept-language"))
        door = self.web.door_code
        if not door or not hmac.compare_digest(door, request.query_params.get("door", "")):
            return HTMLResponse(join.door_page(self.config, lang, "door_bad"), status_code=400)
        token = request.cookies.get(join.TICKET_COOKIE, "")
        if not TOKEN_PATTERN.match(token) or self.role.mirror.ticket_by_token(token) is None:
            return HTMLResponse(join.door_page(self.config, lang, "door_no_ticket"), status_code=404)
        reply = await self._ask("arrived", token_hash=token_hash(token))
        if reply is None:
            return self._join_form(request, self.role.mirror.ticket_by_token(token).service, lang)  # type: ignore[union-attr]
        return RedirectResponse(f"/t/{token}", 303)

    async def _until_known(self, token: str, timeout: float = ACTION_WAIT_S) -> None:
        """Until the web's copy of the records has the ticket (its event comes just after the reply),
        so that the page the phone is sent to finds it; at most ``timeout``."""
        deadline = time.monotonic() + timeout
        seen = self.hub.versions["records"]
        while self.role.mirror.ticket_by_token(token) is None and time.monotonic() < deadline:
            seen = await self.hub.wait(seen, deadline - time.monotonic(), "records")

    async def _ask(self, op: str, **args: Any) -> ReplyDoc | None:
        """One request to the controller; None when it does not answer in time."""
        answer: asyncio.Future[ReplyDoc] = asyncio.get_running_loop().create_future()
        self.shell.request(op, lambda reply: answer.done() or answer.set_result(reply), give_up_after=ACTION_WAIT_S,
                           **args)
        try:
            return await asyncio.wait_for(answer, ACTION_WAIT_S + 1)
        except TimeoutError:
            return None

    async def ticket_page(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        token = request.path_params["token"]
        doc = self._ticket_doc(token, lang)
        if doc is None:
            # scanned the moment it printed, the ticket may not be in the web's copy yet: once, the page
            # looks again a few seconds later (a browser follows the Refresh header); then it is unknown
            first = "again" not in request.query_params
            return HTMLResponse(pages.unknown_ticket_page(self.config, lang, looking=first), status_code=404,
                                headers={"Refresh": f"3; url=/t/{token}?again=1", "Cache-Control": "no-store"}
                                if first else {"Cache-Control": "no-store"})
        return HTMLResponse(pages.phone_page(self.config, token, doc, lang), headers={"Cache-Control": "no-store"})

    async def ticket_stream(self, request: Request) -> Response:
        lang = pages.language(request.headers.get("accept-language"))
        token = request.path_params["token"]
        if self._ticket_doc(token, lang) is None:
            return PlainTextResponse("unknown ticket", status_code=404)
        return await self.stream(request, lambda: self._ticket_doc(token, lang) or {"status": "gone"}, "records")

    async def screen_page(self, request: Request) -> Response:
        display = request.path_params["display"]
        if display not in self.screens.views:
            return PlainTextResponse("no such display in this hall", status_code=404)
        return HTMLResponse(pages.screen_page(self.config, display))

    async def screen_stream(self, request: Request) -> Response:
        display = request.path_params["display"]
        if display not in self.screens.views:
            return PlainTextResponse("no such display in this hall", status_code=404)
        return await self.stream(request, lambda: self.screens.view(display))

    async def screen_layout(self, request: Request) -> Response:
        """``?w=1920&h=1080&banners=outage.1,resumed.0&notices=1``: the layout for the browser's size
        (banners: kind and whether it has an English line)."""
        display = request.path_params["display"]
        query = request.query_params
        try:
            width, height = int(query.get("w", "")), int(query.get("h", ""))
            if not (160 <= width <= 7680 and 160 <= height <= 7680):
                raise ValueError
        except ValueError:
            return PlainTextResponse("w and h: the screen's size in pixels, 160 to 7680", status_code=400)
        banners = []
        for item in filter(None, query.get("banners", "").split(",")):
            kind, _, two = item.partition(".")
            if kind not in BANNER_KINDS or two not in ("0", "1") or len(banners) >= len(BANNER_KINDS):
                return PlainTextResponse(f"banners: up to {len(BANNER_KINDS)} of {', '.join(BANNER_KINDS)}, "
                                         "each as kind.0 or kind.1", status_code=400)
            banners.append((kind, two == "1"))
        doc = self.screens.layout(display, width, height, tuple(banners), query.get("notices") == "1")
        if doc is None:
            return PlainTextResponse("no such display in this hall", status_code=404)
        return JSONResponse(doc)

    async def screen_audio(self, request: Request) -> Response:
        clip = await self.screens.clip(request.path_params["clip"])
        if clip is None:
            return PlainTextResponse("no such clip", status_code=404)
        return Response(clip, media_type="audio/wav", headers={"Cache-Control": "max-age=3600"})

    # --- the console ------------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse("/console", 303)
        return HTMLResponse(self._login_form())

    def _login_form(self, message: str = "", name: str = "") -> str:
        return login_page(self.config.hall.name, "管理控制台 Console", message, name)

    async def login(self, request: Request) -> Response:
        return await login(request, self.accounts, self.guard, self._login_form, "/console", self.secure)

    def _csrf_ok(self, request: Request, session: Session, form_value: str | None = None) -> bool:
        sent = request.headers.get("x-csrf-token") or form_value or ""
        return hmac.compare_digest(sent.encode(), session.csrf.encode())

    async def logout(self, request: Request) -> Response:
        session = self.session(request)
        if session is not None:
            form = await form_fields(request)
            if not self._csrf_ok(request, session, form.get("csrf", "")):
                return PlainTextResponse("CSRF token missing or wrong", status_code=403)
            self.accounts.logout(session.id)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def console(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse("/login", 303)
        lang = pages.language(request.headers.get("accept-language"))
        return HTMLResponse(pages.console_page(self.config, session.name, session.role, session.csrf, lang),
                            headers={"Cache-Control": "no-store"})

    def _board(self, lang: str) -> dict[str, Any]:
        return board(self.config, self.role, self.shell.availability, self.now(), lang)

    async def board(self, request: Request) -> Response:
        if self.session(request) is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        lang = pages.language(request.headers.get("accept-language"))
        return JSONResponse(self._board(lang), headers={"Cache-Control": "no-store"})

    async def board_stream(self, request: Request) -> Response:
        if self.session(request) is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        lang = pages.language(request.headers.get("accept-language"))
        return await self.stream(request, lambda: self._board(lang))

    # --- reports --------------------------------------------------------------------------------------
    def _period(self, request: Request) -> str | None:
        """``?month=YYYY-MM`` (a month's report) or ``?date=YYYY-MM-DD`` (a day's; default today)."""
        period = request.query_params.get("month") or request.query_params.get("date") or self.now().date().isoformat()
        return period if period_bounds(period) is not None else None

    async def report_page(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse("/login", 303)
        lang = pages.language(request.headers.get("accept-language"))
        period = self._period(request)
        if period is None:
            return PlainTextResponse("date: YYYY-MM-DD, month: YYYY-MM", status_code=400)
        report = self.reports.report(period, lang)
        nightly = self.reports.nightly_files() if session.role == "manager" else None
        return HTMLResponse(pages.report_page(self.config, report, chart_svg(report.tables["service"], lang),
                                              self.reports.days(), self.reports.months(), nightly, lang),
                            headers={"Cache-Control": "no-store"})

    async def planning_page(self, request: Request) -> Response:
        """排班与重演: next week's counters and a recorded day played again (supervisors and managers)."""
        if self.session(request) is None:
            return RedirectResponse("/login", 303)
        lang = pages.language(request.headers.get("accept-language"))
        records = self.records_path
        today = self.now().date()
        days = planning.days_with_records(records, today)
        question, problem = planning.read_question(dict(request.query_params), self.config, days)
        # a replay and the forecast read weeks of events: off the event loop, which serves the hall's screens
        rows, days_read, comparison = await asyncio.to_thread(planning.run, self.config, self.role.mirror.setup, records,
                                                              today, question)
        body = planning.planning_body(self.config, days, question, problem, (rows, days_read), comparison, lang,
                                      pages.texts(lang))
        return HTMLResponse(pages.page(gettext(N_("Staffing and what-if"), lang), body, lang=lang),
                            status_code=400 if problem else 200, headers={"Cache-Control": "no-store"})

    async def report_csv(self, request: Request) -> Response:
        return self._report_download(request, "csv", "text/csv; charset=utf-8",
                                     lambda period, lang: self.reports.csv_text(period, lang).encode("utf-8"))

    async def report_xlsx(self, request: Request) -> Response:
        return self._report_download(request, "xlsx",
                                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                                     self.reports.xlsx_bytes)

    def _report_download(self, request: Request, suffix: str, media_type: str,
                         content: Callable[[str, str], bytes]) -> Response:
        """A report as a file (login required; the period from ?date= or ?month=, the headings in the
        browser's language)."""
        if self.session(request) is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        period = self._period(request)
        if period is None:
            return PlainTextResponse("date: YYYY-MM-DD, month: YYYY-MM", status_code=400)
        lang = pages.language(request.headers.get("accept-language"))
        return Response(content(period, lang), media_type=media_type, headers={
            "Content-Disposition": f'attachment; filename="{self.config.hall.id}-{period}.{suffix}"'})

    async def nightly_file(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        if session.role != "manager":
            return PlainTextResponse("the nightly copies are for managers", status_code=403)
        name = request.path_params["name"]
        if name not in self.reports.nightly_files():
            return PlainTextResponse("no such report", status_code=404)
        return Response((self.reports.folder / name).read_bytes(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def action(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        if not self._csrf_ok(request, session):
            return JSONResponse({"error": "CSRF token missing or wrong"}, status_code=403)
        op, args, problem = console_action(await request.body())
        if problem:
            return JSONResponse({"ok": False, "code": "bad_request", "message": problem}, status_code=400)
        if not self.shell.available:
            return JSONResponse({"ok": False, "code": "controller_offline",
                                 "message": "the controller does not answer: try again when it is back"}, status_code=503)
        reply = await self._ask(op, **args)
        if reply is None:
            return JSONResponse({"ok": False, "code": "no_answer", "message": "no answer from the controller"},
                                status_code=504)
        log.info("%s by %s: %s %s", op, session.name, "ok" if reply.ok else reply.code, args)
        return JSONResponse({"ok": reply.ok, "code": reply.code, "message": reply.message})


class _Action(msgspec.Struct, forbid_unknown_fields=True):
    op: str
    args: dict[str, str | bool | int] = {}


_action = msgspec.json.Decoder(_Action)


def console_action(body: bytes) -> tuple[str, dict[str, Any], str]:
    """(op, args, '') from a console action's JSON, or ('', {}, what is wrong): the op must be one
    the console offers and its args exactly those of the op's own struct (hallq/contract/ops.py), checked
    here as the controller will check them, so that nothing the controller would refuse as
    malformed, nor anything too big for the broker, is sent."""
    try:
        action = _action.decode(body)
    except msgspec.DecodeError as err:
        return "", {}, f"not a console action: {str(err).replace('$.', '')}"
    except RecursionError:
        return "", {}, "not a console action: nested too deeply"
    if action.op not in ACTIONS:
        return "", {}, f"op must be one of {', '.join(sorted(ACTIONS))}"
    struct = ops.OPS[action.op].args
    unknown = sorted(set(action.args) - set(struct.__struct_fields__))
    if unknown:
        return "", {}, f"{action.op} takes {', '.join(struct.__struct_fields__) or 'no arguments'}, not {', '.join(unknown)}"
    try:
        msgspec.convert(action.args, struct)
    except msgspec.ValidationError as err:
        return "", {}, f"{action.op}: {str(err).replace('$.', '')}"
    return action.op, action.args, ""


def _slot_of(text: str) -> datetime | None:
    """A slot's start from a booking form (ISO-8601 with its offset), or None."""
    try:
        slot = datetime.fromisoformat(text[:40])
    except ValueError:
        return None
    return slot if slot.tzinfo is not None else None
