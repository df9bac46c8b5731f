"""What keeps ``hallq web`` answering when someone leans on it: open event streams bounded per
client and in all, request bodies capped, password hashing on worker threads a few at a time, and
the descriptors the process may open raised to what systemd gives it.

An overload is one log line every ten seconds with the counts, never a traceback per connection.
"""
from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hallq.web")

MAX_BODY = 64 * 1024          # no page or action of the console sends more
SAY_EVERY_S = 10.0
DESCRIPTORS_KEPT = 256        # for the broker link, the databases, plain requests and the listening socket


def raise_descriptor_limit() -> int:
    """The soft descriptor limit raised to the hard one (systemd's LimitNOFILE); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


class Overloads:
    """Counts what was refused and says so in one line at most every ten seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.counts: dict[str, int] = {}
        self.clock = clock
        self.said_at = -1e18

    def refused(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        now = self.clock()
        if now - self.said_at >= SAY_EVERY_S:
            self.said_at = now
            log.warning("overload: refused %s in the last %.0f s", ", ".join(
                f"{n} {w}" for w, n in sorted(self.counts.items())), SAY_EVERY_S)
            self.counts.clear()


class StreamGate:
    """Open event streams: at most ``per_client`` from one address and ``total`` in all (bounded by
    the descriptors the process has, so that plain pages always find one)."""

    def __init__(self, per_client: int, total: int, overloads: Overloads) -> None:
        self.per_client, self.total, self.overloads = per_client, total, overloads
        self.open: dict[str, int] = {}
        self.count = 0

    def enter(self, client: str) -> str:
        """'' when a stream may open (call :meth:`leave` when it ends), else 'client' or 'total'."""
        if self.count >= self.total:
            self.overloads.refused("streams (all streams open)")
            return "total"
        if self.open.get(client, 0) >= self.per_client:
            self.overloads.refused("streams (one address's share)")
            return "client"
        self.open[client] = self.open.get(client, 0) + 1
        self.count += 1
        return ""

    def leave(self, client: str) -> None:
        self.count -= 1
        left = self.open.get(client, 1) - 1
        if left:
            self.open[client] = left
        else:
            self.open.pop(client, None)


class HashingGate:
    """Password hashing (scrypt: ~50 ms and 16 MB each) on worker threads, ``workers`` at once; with
    more than ``waiting`` in line a login is answered "busy" at once instead of queueing without end.
    The event loop that serves pages and the hall's link never runs a hash."""

    def __init__(self, workers: int = 2, waiting: int = 16) -> None:
        self.slots = asyncio.Semaphore(workers)
        self.limit = waiting
        self.queued = 0

    async def run(self, work: Callable[[], Any]) -> tuple[bool, Any]:
        """(True, result), or (False, None) when too many logins wait already."""
        if self.queued >= self.limit:
            return False, None
        self.queued += 1
        try:
            async with self.slots:
                return True, await asyncio.to_thread(work)
        finally:
            self.queued -= 1


class BodyLimit:
    """An ASGI wrapper: a request body over ``limit`` bytes is answered 413 and never read whole."""

    def __init__(self, app: Any, limit: int = MAX_BODY, overloads: Overloads | None = None) -> None:
        self.app, self.limit, self.overloads = app, limit, overloads

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._too_big(send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooBig
            return message
        started = False

        async def tracking(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, counted, tracking)
        except BodyTooBig:
            if not started:
                await self._too_big(send)

    async def _too_big(self, send: Callable) -> None:
        if self.overloads is not None:
            self.overloads.refused("request bodies over 64 KB")
        body = f"请求过大 the request is over {self.limit // 1024} KB".encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class BodyTooBig(Exception):
    """A body that grew past the limit while being read."""
