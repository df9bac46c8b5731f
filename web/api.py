"""The hall's read-only HTTP API for other systems (``/api/v1/...``), described by OpenAPI
(``/api/v1/openapi.json``, made from the same structs the answers are encoded with), and the
webhook sender that posts the hall's events to each integration's receiver, signed, in seq order,
once each, resumable (hallq/web/integrations.py).

Answers come from the state the controller publishes (``R/state``: services, counters) and the web's
copy of the records (the waiting order, a ticket by its token): what the console and the phone pages
show, nothing more (no personal data, no token or hash of another ticket).
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from hallq.contract import StateDoc
from hallq.core import events as e
from hallq.runtime.config import Config

from .integrations import Integrations, signature

log = logging.getLogger(__name__)


# --- the answers ------------------------------------------------------------------------------------
class ApiHall(msgspec.Struct):
    hall: str
    name: str
    mode: str                       # open | closed | outage
    day: str | None
    seq: int                        # the last event of the hall applied (webhooks carry the same seq)
    message: str | None = None      # the outage message


class ApiService(msgspec.Struct):
    id: str
    name: str
    name_en: str
    prefix: str
    suspended: bool
    waiting: int
    est_wait_s: int                 # what a walk-in taking a ticket now is told
    est_known: bool                 # False: nobody is calling the service; est_wait_s promises nothing
    open_counters: int


class ApiCounter(msgspec.Struct):
    id: str
    name: str
    status: str                     # idle | serving | suspended | offline
    ticket: str | None              # the number being served
    services: list[str]


class ApiTicket(msgspec.Struct):
    number: str
    service: str
    status: str                     # waiting | called | served | no_show | voided
    ahead: int
    est_wait_s: int
    est_known: bool
    counter: str | None
    issued_at: str
    remote: bool = False
    arrived: bool = True


class ApiError(msgspec.Struct):
    error: str


def hall_answer(config: Config, state: StateDoc) -> ApiHall:
    return ApiHall(config.hall.id, config.hall.name, state.mode, state.day, state.seq, state.message)


def services_answer(config: Config, state: StateDoc) -> list[ApiService]:
    return [ApiService(s.id, s.name, s.name_en, s.prefix, s.suspended, s.waiting, s.est_wait_s, s.est_known,
                       s.open_counters) for s in state.services]


def counters_answer(state: StateDoc) -> list[ApiCounter]:
    return [ApiCounter(k.id, k.name, k.status, k.ticket.number if k.ticket else None, list(k.services))
            for k in state.counters]


def ticket_answer(view: dict[str, Any]) -> ApiTicket:
    return ApiTicket(view["number"], view["service"], view["status"], view["ahead"], view["est_wait_s"],
                     view["est_known"], view["counter"], view["issued_at"], bool(view.get("remote")),
                     bool(view.get("arrived", True)))


PATHS: dict[str, tuple[str, Any]] = {
    "/api/v1/hall": ("The hall: its mode and the last event applied", ApiHall),
    "/api/v1/services": ("Each service: people waiting and the wait a newcomer is told", list[ApiService]),
    "/api/v1/counters": ("Each counter: its status and the number it serves", list[ApiCounter]),
    "/api/v1/waiting": ("Per service, the waiting numbers in the order they will be called", dict[str, list[str]]),
    "/api/v1/tickets/{token}": ("One ticket by the token on its QR code", ApiTicket),
}


def openapi(config: Config) -> dict[str, Any]:
    """The API's OpenAPI 3.1 description, its schemas made from the answers' own structs."""
    types = [kind for _, kind in PATHS.values()] + [ApiError]
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    paths: dict[str, Any] = {}
    for (path, (summary, _)), schema in zip(PATHS.items(), schemas):
        op: dict[str, Any] = {
            "summary": summary, "security": [{"token": []}],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
                          "401": {"description": "no or a wrong token",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}},
                          "503": {"description": "the web has no state from the controller yet"}}}
        if "{token}" in path:
            op["parameters"] = [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}]
            op["responses"]["404"] = {"description": "no ticket of today has this token"}
        paths[path] = {"get": op}
    return {"openapi": "3.1.0",
            "info": {"title": f"hallq: {config.hall.name}", "version": "1",
                     "description": "Read-only. Tokens per integration: `hallq web token add NAME`."},
            "paths": paths, "components": {"schemas": components,
                                           "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}}}


# --- webhooks ---------------------------------------------------------------------------------------
class Webhooks:
    """Posts the hall's events to each integration's webhook: in seq order, the next only once the
    receiver answered 2xx for this one (every event once), signed (``X-Hallq-Signature``); a failure
    is tried again after 1, 2, 4 ... s (at most ``retry_max_s``), from the same event; a receiver
    failing for ``give_up_s`` is disabled (``hallq web token enable NAME`` resumes it where it stopped).
    The events come from the web's copy of the records: a restart resumes from each cursor."""

    def __init__(self, config: Config, integrations: Integrations, records: Path,
                 version: Callable[[], int], wake: Callable[[int, float], Any], retry_max_s: float,
                 give_up_s: float) -> None:
        """``version()``: the records' version now; ``wake(seen, timeout)``: until it differs from ``seen``."""
        self.config, self.integrations, self.records = config, integrations, records
        self.version, self.wake, self.retry_max_s, self.give_up_s = version, wake, retry_max_s, give_up_s
        self.backoff: dict[str, float] = {}
        self.next_try: dict[str, float] = {}
        self.stopped = False

    def _pending(self, after: int, limit: int = 100) -> list[tuple[int, str, bytes]]:
        if not self.records.exists():
            return []
        db = sqlite3.connect(f"file:{self.records}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT seq, type, body FROM events WHERE hall = ? AND seq > ? ORDER BY seq LIMIT ?",
                              (self.config.hall.id, after, limit)).fetchall()
        finally:
            db.close()
        return [(seq, kind, body.encode() if isinstance(body, str) else body) for seq, kind, body in rows]

    async def run(self) -> None:
        while not self.stopped:
            seen = self.version()           # before reading: news while sending wakes the next round
            busy = False
            for integration in await asyncio.to_thread(self.integrations.all):
                if integration.webhook and not integration.disabled_at \
                        and time.monotonic() >= self.next_try.get(integration.name, 0):
                    busy |= await self._deliver(integration)
            if not busy:
                await self.wake(seen, 1.0)

    @staticmethod
    def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[bool, str]:
        """One POST with the standard library (on a worker thread): (a 2xx?, what went wrong)."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:   # noqa: S310 - the hall's own receivers
                return 200 <= answer.status < 300, f"HTTP {answer.status}"
        except urllib.error.HTTPError as err:
            return False, f"HTTP {err.code}"
        except (urllib.error.URLError, OSError, ValueError) as err:
            return False, f"{type(err).__name__}: {getattr(err, 'reason', err)}"

    async def _deliver(self, integration: Any) -> bool:
        """Some events to one receiver; True if any was sent (there may be more)."""
        rows = await asyncio.to_thread(self._pending, integration.cursor)
        skipped = integration.cursor
        for seq, kind, body in rows:
            if not integration.wants(kind):
                skipped = seq
                continue
            if skipped != integration.cursor:
                await asyncio.to_thread(self.integrations.delivered, integration.name, skipped)
            stamp = str(int(time.time()))
            ok, error = await asyncio.to_thread(self._post, integration.webhook, body, {
                "Content-Type": "application/json", "X-Hallq-Hall": self.config.hall.id,
                "X-Hallq-Event": kind, "X-Hallq-Seq": str(seq), "X-Hallq-Timestamp": stamp,
                "X-Hallq-Signature": signature(integration.secret, stamp, body)})
            if not ok:
                wait = min(self.retry_max_s, self.backoff.get(integration.name, 0.5) * 2)
                self.backoff[integration.name] = wait
                self.next_try[integration.name] = time.monotonic() + wait
                disabled = await asyncio.to_thread(self.integrations.failed, integration.name, error,
                                                   datetime.now().astimezone(), self.give_up_s)
                log.warning("webhook %s: event %d not delivered (%s); %s", integration.name, seq, error,
                            "disabled after failing too long" if disabled else f"again in {wait:.0f} s")
                return False
            self.backoff.pop(integration.name, None)
            await asyncio.to_thread(self.integrations.delivered, integration.name, seq)
            skipped = seq
        if skipped != integration.cursor:
            await asyncio.to_thread(self.integrations.delivered, integration.name, skipped)
        return bool(rows)


# the event types a webhook may ask for (``--events``): every event the core records
KNOWN_EVENTS = {str(kind.__struct_config__.tag) for kind in typing.get_args(e.AnyEvent)}
