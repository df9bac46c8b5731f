"""One hall's events kept in a store, exactly once, with gaps fetched from the hall's controller.

Used by head office (one per bridged hall) and by the hall's web service (its own hall, for the
console's reports). Rows are stored by the caller in batches (group commit); the archive keeps
the contiguous high-water mark (every seq up to it is stored) and, when the hall is known to have
more (an event or a state beyond it), asks for the missing range with the read-only ``events``
admin op, one page at a time, through ``send`` (a request tracker's ``send``).

Events are read with the controller's own structs (``hallq.contract.read_event``). One that cannot be
read is kept aside in the store's quarantine with the reason, the mark stops before it (every
later event is still stored: nothing is lost), the archive says so (``blocked``: the console and
the dashboard show it) and asks for it again only every few minutes (a newer hallq may read it):
never skipped in silence, never fetched in a loop.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hallq import contract as wire

from .store import CentralStore, event_row

log = logging.getLogger("hallq.archive")

REPAIR_GIVE_UP_S = 30.0
BLOCKED_RETRY_S = 300.0     # an event that could not be read is asked for again this often
MAX_UNNUMBERED = 100        # unreadable messages without a seq kept aside per hall and run


class HallArchive:
    def __init__(self, store: CentralStore, hall: str, send: Callable[..., Any], page: int = 500) -> None:
        self.store, self.hall, self.send, self.page = store, hall, send, page
        self.contiguous = store.contiguous(hall)
        self.above = {int(r[0]) for r in store.query("SELECT seq FROM events WHERE hall = ? AND seq > ?",
                                                     (hall, self.contiguous))}
        self.newest = max([self.contiguous, *self.above])
        self.repairing = False
        self.blocked: tuple[int, str] | None = None     # (seq, why): the event the records stop before
        self.blocked_at = 0.0
        self.refused: set[int] = set()                   # seqs kept aside this run
        self.unnumbered = 0                              # messages kept aside without a seq

    def take(self, payload: bytes, now: float | None = None) -> tuple[Any, ...] | None:
        """The row of one event's JSON, or None when it cannot be read (then it is quarantined)."""
        try:
            return event_row(self.hall, wire.read_event(payload), payload)
        except wire.BadDocument as err:
            self.refuse(payload, str(err), now)
            return None

    def refuse(self, payload: bytes, reason: str, now: float | None = None) -> None:
        """Keep an event aside (once), and stop the mark before it when it has a place in the log."""
        try:
            seq: int | None = wire.read_envelope(payload).seq
        except wire.BadDocument:
            seq = None             # not even its place in the log: kept aside, the mark unaffected
        if seq is not None:
            if seq <= self.contiguous or seq in self.refused:
                return             # stored already, or kept aside already (fetched again)
            self.refused.add(seq)
            if self.blocked is None or seq < self.blocked[0]:
                self.blocked = (seq, reason)
                self.blocked_at = time.monotonic() if now is None else now
        else:
            self.unnumbered += 1
            if self.unnumbered > MAX_UNNUMBERED:
                return             # a hall sending nothing but garbage: counted, not stored without end
        log.error("hall %s: an event that cannot be read%s, kept aside: %s", self.hall,
                  f" (seq {seq})" if seq is not None else "", reason)
        self.store.quarantine(self.hall, seq, reason, payload)

    def stored(self, seq: int) -> None:
        """``seq`` is in the store now: advance the mark over every stored neighbour."""
        if seq <= self.contiguous:
            return
        self.above.add(seq)
        self._advance()
        self.newest = max(self.newest, seq)
        if self.blocked is not None and self.contiguous >= self.blocked[0]:
            log.info("hall %s: event %d read at last; the records go on", self.hall, self.blocked[0])
            self.blocked = None
            self.refused = {s for s in self.refused if s > self.contiguous}

    def _advance(self) -> None:
        while self.contiguous + 1 in self.above:
            self.contiguous += 1
            self.above.discard(self.contiguous)

    def store_rows(self, rows: list[tuple[Any, ...]]) -> None:
        self.store.add_events(rows)
        for row in rows:
            self.stored(row[1])

    def hall_has(self, seq: int) -> None:
        """The hall is known to have events up to ``seq`` (its state said so)."""
        self.newest = max(self.newest, seq)

    @property
    def complete(self) -> bool:
        return self.contiguous >= self.newest

    def repair(self, now: float | None = None) -> None:
        """Ask for the next missing page, unless complete or already asking (or stopped before an
        event that cannot be read, and not yet time to ask for it again)."""
        if self.complete or self.repairing:
            return
        now = time.monotonic() if now is None else now
        if self.blocked is not None and self.contiguous + 1 >= self.blocked[0]:
            if now - self.blocked_at < BLOCKED_RETRY_S:
                return
            self.blocked_at = now
        self.repairing = True
        after = self.contiguous

        def answered(reply: wire.ReplyDoc) -> None:
            self.repairing = False
            if not reply.ok:
                log.error("hall %s refused events after %d: %s %s", self.hall, after, reply.code, reply.message)
                return
            if reply.first_seq and reply.first_seq > after + 1 and self.contiguous < reply.first_seq - 1:
                # the hall no longer keeps these (its retention policy): they cannot be fetched, go on after them
                log.warning("hall %s no longer keeps events %d-%d: the records go on from %d", self.hall, after + 1,
                            reply.first_seq - 1, reply.first_seq)
                self.contiguous = reply.first_seq - 1
                self.above = {seq for seq in self.above if seq > self.contiguous}
                self._advance()
            rows = [row for row in (self.take(bytes(raw), now) for raw in reply.events) if row is not None]
            self.store_rows(rows)
            if reply.last_seq is not None:
                self.hall_has(reply.last_seq)
            log.info("hall %s: %d events fetched after %d; in order up to %d of %d", self.hall, len(reply.events),
                     after, self.contiguous, self.newest)

        def gave_up() -> None:
            self.repairing = False

        self.send("events", answered, give_up_after=REPAIR_GIVE_UP_S, on_give_up=gave_up, after_seq=after,
                  limit=self.page)
