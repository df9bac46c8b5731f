"""Requests a device sends to the controller: fresh id, retried with the same id until answered.

The controller answers a repeated id with the stored reply and changes nothing, so resending is
always safe. A request may carry a give-up time: a counter's "next" pressed while the controller
is away is dropped after that (and the clerk told), never applied late to skip a customer.
"""
from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .wire import dumps

RESEND_S = 1.0


def new_request_id() -> str:
    """Unique per device, even across restarts: a random prefix per process, then a counter."""
    return f"{_process_tag}-{next(_counter)}"


_process_tag = uuid.uuid4().hex[:12]
_counter = itertools.count(1)


@dataclass
class Pending:
    request_id: str
    body: dict[str, Any]
    on_reply: Callable[[dict[str, Any]], None]
    on_give_up: Callable[[], None] | None
    sent_at: float
    give_up_at: float | None
    last_sent: float = field(default=0.0)


class RequestTracker:
    """Owned by one thread; ``send`` publishes through ``publish(payload)``."""

    def __init__(self, device_id: str, publish: Callable[[bytes], Any], clock: Callable[[], float] = time.monotonic) -> None:
        self.device_id = device_id
        self.publish = publish
        self.clock = clock
        self.pending: dict[str, Pending] = {}

    def send(
        self,
        op: str,
        on_reply: Callable[[dict[str, Any]], None],
        *,
        give_up_after: float | None = None,
        on_give_up: Callable[[], None] | None = None,
        request_id: str | None = None,
        **args: Any,
    ) -> str:
        rid = request_id or new_request_id()
        now = self.clock()
        pending = Pending(rid, {"op": op, "request_id": rid, **args}, on_reply, on_give_up, now,
                          None if give_up_after is None else now + give_up_after)
        self.pending[rid] = pending
        self._transmit(pending, now)
        return rid

    def _transmit(self, pending: Pending, now: float) -> None:
        pending.last_sent = now
        self.publish(dumps(pending.body))

    def on_reply(self, reply: dict[str, Any]) -> bool:
        """Hand a reply to its request; False if it answers nothing pending (a duplicate)."""
        rid = reply.get("request_id")
        pending = self.pending.pop(rid, None) if isinstance(rid, str) else None
        if pending is None:
            return False
        pending.on_reply(reply)
        return True

    def tick(self) -> None:
        now = self.clock()
        for rid, pending in list(self.pending.items()):
            if pending.give_up_at is not None and now >= pending.give_up_at:
                del self.pending[rid]
                if pending.on_give_up is not None:
                    pending.on_give_up()
            elif now - pending.last_sent >= RESEND_S:
                self._transmit(pending, now)

    def resend_all(self) -> None:
        """After a reconnect: send everything still pending at once."""
        now = self.clock()
        for pending in self.pending.values():
            self._transmit(pending, now)


def boot_number(data_dir: str | None) -> int:
    """A number that grows each time a device starts (kept in its data folder when it has one)."""
    if not data_dir:
        return int(time.time())
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, "boot")
    try:
        with open(path, encoding="ascii") as fh:
            value = int(fh.read().strip() or 0) + 1
    except (OSError, ValueError):
        value = 1
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(str(value))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return value
