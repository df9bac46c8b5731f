"""Requests a device sends to the controller: fresh id, resent with the same id until answered.

The controller answers a repeated id with the stored reply and changes nothing, so resending is
always safe. A request may carry a give-up time: a counter's "next" pressed while the controller
is away is dropped after that (and the clerk told), never applied late to skip a customer. So
that "dropped" is true, nothing is handed to the link while it is down (paho would keep it and
send it after a reconnect, however late), and what paho still holds of a dropped request is taken
out of its queue (``forget``).

One tracker per process, owned by its owner thread: devices (through the shell), ``hallq ctl``
and the simulator all resend by this one rule.
"""
from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hallq.contract import ReplyDoc, dumps

log = logging.getLogger(__name__)

RESEND_S = 1.0
GIVEN_UP_KEPT = 100


def new_request_id() -> str:
    """Unique per device, even across restarts: a random prefix per process, then a counter."""
    return f"{_process_tag}-{next(_counter)}"


_process_tag = uuid.uuid4().hex[:12]
_counter = itertools.count(1)


@dataclass
class Pending:
    request_id: str
    body: dict[str, Any]
    on_reply: Callable[[ReplyDoc], None]
    on_give_up: Callable[[], None] | None
    sent_at: float
    give_up_at: float | None
    last_sent: float = field(default=0.0)
    mids: list[int] = field(default_factory=list)   # the link's message ids of its copies

    @property
    def op(self) -> str:
        return str(self.body["op"])


class RequestTracker:
    """``publish(payload)`` hands one copy to the link and returns its message id, or None when
    the link is down (nothing sent); ``forget(mids)`` drops copies the link still holds."""

    def __init__(self, publish: Callable[[bytes], int | None], clock: Callable[[], float] = time.monotonic,
                 forget: Callable[[list[int]], int] | None = None) -> None:
        self.publish = publish
        self.clock = clock
        self.forget = forget
        self.pending: dict[str, Pending] = {}
        self.given_up: deque[str] = deque(maxlen=GIVEN_UP_KEPT)
        self.forgotten = 0            # copies taken back from the link after a give-up

    def send(
        self,
        op: str,
        on_reply: Callable[[ReplyDoc], None],
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
        mid = self.publish(dumps(pending.body))
        if mid is not None:
            pending.mids.append(mid)

    def on_reply(self, reply: ReplyDoc) -> bool:
        """Hand a reply to its request; False if it answers nothing pending (a duplicate, or a
        late answer to a request given up: logged, since it means the controller was stalled)."""
        rid = reply.request_id
        pending = self.pending.pop(rid, None) if rid is not None else None
        if pending is None:
            if rid in self.given_up:
                log.warning("late reply to given-up request %s (the controller was stalled): ok=%s %s",
                            rid, reply.ok, reply.code)
            return False
        pending.on_reply(reply)
        return True

    def tick(self) -> None:
        now = self.clock()
        for rid, pending in list(self.pending.items()):
            if pending.give_up_at is not None and now >= pending.give_up_at:
                self.drop(rid)
                if pending.on_give_up is not None:
                    pending.on_give_up()
            elif now - pending.last_sent >= RESEND_S:
                self._transmit(pending, now)

    def drop(self, rid: str) -> Pending | None:
        """Stop waiting for ``rid`` now; copies the link still holds are taken back."""
        pending = self.pending.pop(rid, None)
        if pending is None:
            return None
        self.given_up.append(rid)
        if self.forget is not None and pending.mids:
            self.forgotten += self.forget(pending.mids)
        return pending

    def resend_all(self) -> None:
        """After a reconnect or the controller's return: send everything still pending at once."""
        now = self.clock()
        for pending in self.pending.values():
            self._transmit(pending, now)

    def busy_with(self, ops: set[str]) -> bool:
        return any(p.op in ops for p in self.pending.values())


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
