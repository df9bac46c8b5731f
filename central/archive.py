"""One hall's events kept in a store, exactly once, with gaps fetched from the hall's controller.

Used by head office (one per bridged hall) and by the hall's web service (its own hall, for the
console's reports). Rows are stored by the caller in batches (group commit); the archive keeps
the contiguous high-water mark (every seq up to it is stored) and, when the hall is known to have
more (an event or a state beyond it), asks for the missing range with the read-only ``events``
admin op, one page at a time, through ``send`` (a request tracker's ``send``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hall import wire

from .store import CentralStore, event_row

log = logging.getLogger("hallq.archive")

REPAIR_GIVE_UP_S = 30.0


class HallArchive:
    def __init__(self, store: CentralStore, hall: str, send: Callable[..., Any], page: int = 500) -> None:
        self.store, self.hall, self.send, self.page = store, hall, send, page
        self.contiguous = store.contiguous(hall)
        self.above = {int(r[0]) for r in store.query("SELECT seq FROM events WHERE hall = ? AND seq > ?",
                                                     (hall, self.contiguous))}
        self.newest = max([self.contiguous, *self.above])
        self.repairing = False

    def stored(self, seq: int) -> None:
        """``seq`` is in the store now: advance the mark over every stored neighbour."""
        if seq <= self.contiguous:
            return
        self.above.add(seq)
        self._advance()
        self.newest = max(self.newest, seq)

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

    def repair(self) -> None:
        """Ask for the next missing page, unless complete or already asking."""
        if self.complete or self.repairing:
            return
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
            self.store_rows([event_row(self.hall, bytes(raw)) for raw in reply.events])
            if reply.last_seq is not None:
                self.hall_has(reply.last_seq)
            log.info("hall %s: %d events fetched after %d; in order up to %d of %d", self.hall, len(reply.events),
                     after, self.contiguous, self.newest)

        def gave_up() -> None:
            self.repairing = False

        self.send("events", answered, give_up_after=REPAIR_GIVE_UP_S, on_give_up=gave_up, after_seq=after,
                  limit=self.page)
