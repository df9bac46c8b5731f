"""The hall's state and the numbered events that made it: the one place both change.

Every change is a core command run through the rules; its events are stored (in the batch's
transaction) and numbered as they are made, and the new state is kept in memory. One message's
changes are all or nothing (:meth:`Ledger.undoable`), and a batch the storage refused is taken
back whole (:meth:`Ledger.restore`). The controller's collaborators (answers, device reports,
record keeping) change the hall only through here.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NamedTuple

import msgspec

from hallq import contract as wire
from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.model import HallState
from hallq.core.rules import QueueRules

from .outbox import Outbox
from .store import Store


class Mark(NamedTuple):
    """Where the ledger stood: what a refused batch returns to."""
    state: HallState
    seq: int
    since_snapshot: int


class Ledger:
    def __init__(self, rules: QueueRules, store: Store, epoch: int, state: HallState, seq: int) -> None:
        self.rules = rules
        self.store = store
        self.epoch = epoch
        self.state = state
        self.seq = seq
        self.events_since_snapshot = 0

    def apply(self, command: c.Command, now: datetime, out: Outbox) -> list[e.Event]:
        """Run the rules; record the events durably (in the caller's transaction)."""
        new_state, events = self.rules.handle(self.state, command, now)
        for event in events:
            self.seq += 1
            body = e.encode_event(event)
            self.store.append_event(self.seq, self.epoch, e.event_type(event), event.at.isoformat(),
                                    new_state.day, body)
            out.events.append(wire.event_bytes(self.epoch, self.seq, body))
        if events:
            self.state = new_state
            self.events_since_snapshot += len(events)
            out.state_changed = True
        return events

    @contextmanager
    def undoable(self, out: Outbox) -> Iterator[None]:
        """All or nothing for one message: its rows (a SAVEPOINT) and the in-memory state."""
        before, published = self.mark(), len(out.events)
        with self.store.savepoint():
            try:
                yield
            except BaseException:
                self.restore(before)
                del out.events[published:]
                raise

    def mark(self) -> Mark:
        return Mark(self.state, self.seq, self.events_since_snapshot)

    def restore(self, mark: Mark) -> None:
        self.state, self.seq, self.events_since_snapshot = mark

    def snapshot(self) -> None:
        """The whole state as of seq, stored (in the caller's transaction): a start replays from here."""
        self.store.save_snapshot(self.seq, msgspec.json.encode(self.state))
        self.events_since_snapshot = 0
