"""What the controller's database keeps, and for how long: a hall runs for years on one SD card.

The policy (docs/controller.md, "What is kept and for how long"):

- **Replies to requests** exist so that a resent request gets the same answer and changes nothing.
  No device resends for long: a kiosk or counter resends until answered (seconds; a kiosk offline
  for days syncs with fresh ids). Accepted ones are kept ``REPLIES_KEPT_DAYS`` (14), refusals one
  day: a flood of refused requests cannot fill the disk for a fortnight.
- **Events** are the hall's record (reports, the web's archive, head office). They are kept
  ``[hall] keep_events_days`` (400: a year and its month-on-month comparison) and, whatever their
  age, the oldest whole days go first once the records take more than ``[hall] keep_records_mb``
  (2,000), never those of the last ``MIN_KEEP_DAYS`` (31). Only events already inside a snapshot go,
  so a restart never needs one that was deleted; the latest event always stays, so ``seq`` goes on.
- Checked at start and then every hour, in its own short transaction; what went is logged.

Devices that fetch events (the web's records, head office) learn from the ``events`` reply's
``first_seq`` that older ones are gone, and stop asking for them.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hallq.core.rules import Setup
from hallq.runtime.config import Config
from hallq.runtime.storage import storage_fault

from .ledger import Ledger
from .store import Store

log = logging.getLogger("hallq.controller")

REPLIES_KEPT_DAYS = 14
REFUSALS_KEPT_DAYS = 1
MIN_KEEP_DAYS = 31
EVERY_S = 3600.0


@dataclass(frozen=True)
class Policy:
    keep_events_days: int = 400
    keep_records_mb: int = 2000


@dataclass(frozen=True)
class Pruned:
    replies: int = 0
    events: int = 0
    oldest_day: str | None = None


def keep_within(store: Store, policy: Policy, now: datetime, today: date, snapshot_seq: int) -> Pruned:
    """Delete what the policy no longer keeps. ``today``: the business day; ``snapshot_seq``: the
    newest event inside a saved snapshot (no event above it is ever deleted)."""
    replies = store.forget_replies(ok_before=(now - timedelta(days=REPLIES_KEPT_DAYS)).isoformat(),
                                   refused_before=(now - timedelta(days=REFUSALS_KEPT_DAYS)).isoformat())
    events = store.forget_events(before_day=(today - timedelta(days=policy.keep_events_days)).isoformat(),
                                 up_to_seq=snapshot_seq)
    floor = (today - timedelta(days=MIN_KEEP_DAYS)).isoformat()     # this day and older may go
    while store.size_mb() > policy.keep_records_mb:
        oldest = store.oldest_day()
        if oldest is None or oldest > floor:       # the last MIN_KEEP_DAYS days, today included, stay
            log.warning("the records take %.0f MB, above keep_records_mb = %d, but are all from the last %d days: "
                        "kept", store.size_mb(), policy.keep_records_mb, MIN_KEEP_DAYS)
            break
        gone = store.forget_events(before_day=_next_day(oldest), up_to_seq=snapshot_seq)
        if gone == 0:
            break
        events += gone
    if replies or events:
        log.info("records kept within policy: %d stored replies and %d events removed; oldest day now %s",
                 replies, events, store.oldest_day() or "-")
    return Pruned(replies, events, store.oldest_day())


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


class RecordKeeping:
    """The controller's side of it: at start, then hourly (``keep``)."""

    def __init__(self, config: Config, setup: Setup, ledger: Ledger, store: Store,
                 clock: Callable[[], datetime]) -> None:
        self.config = config
        self.setup = setup
        self.ledger = ledger
        self.store = store
        self.clock = clock
        self.kept_at = -1e18

    def keep(self, force: bool = False) -> Pruned | None:
        if not force and time.monotonic() - self.kept_at < EVERY_S:
            return None
        self.kept_at = time.monotonic()
        hall = self.config.hall
        try:
            with self.store.transaction():       # every event up to seq inside a snapshot first
                self.ledger.snapshot()
            now = self.clock()
            today = date.fromisoformat(max(self.ledger.state.day or "", self.setup.business_day(now)))
            return keep_within(self.store, Policy(hall.keep_events_days, hall.keep_records_mb), now, today,
                               self.ledger.seq)
        except Exception as err:
            if storage_fault(err) is None:
                raise
            log.warning("records not tidied this hour: %s", storage_fault(err))
            return None
