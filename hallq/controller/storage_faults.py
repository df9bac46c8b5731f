"""When the controller's storage cannot be written: disk full, read-only, I/O errors, locked.

The controller never answers a request before its change is durable, so while the database cannot
be written it cannot take new work. It must not crash either: under systemd a controller that
exits on a full disk restarts, fails again and loops while the disk stays full, and every device
sees it come and go. Instead:

- the batch that hit the fault is undone (rows and memory): nothing half-applied, nothing answered;
- the controller says so on its retained presence: ``{"online": false, "epoch": E, "fault": "..."}``.
  Devices treat it as a controller away (the outage path every device already has: kiosks issue
  from their leases into their own journals, counters refuse presses with their offline sign, the
  screens show the "controller away" banner); the console and ``hallq ctl status`` show the reason;
- requests that arrive meanwhile are not answered (their devices give up and fall back, as they
  would with a controller that is down); presence and status messages are kept, newest per device;
- every second it tries a small write; when one succeeds it says it is back (presence online),
  applies what it kept, and the kiosks sync their offline tickets: nothing lost, nothing doubled.

Which errors count: SQLite's FULL, IOERR, READONLY, CANTOPEN, BUSY and LOCKED (the store, not the
message, is at fault). Anything else stays what it was: one message's bug, undone and logged.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hallq.contract.topics import Topics
from hallq.runtime.mqttlink import Inbound, LinkUp
from hallq.runtime.storage import RECOVER_FREE_MB, StorageFault, free_mb, probe

from .store import Store

log = logging.getLogger("hallq.controller")


class StorageFaults:
    """The fault while there is one, what arrives meanwhile, and the probe that ends it. ``say`` tells
    the hall the controller's presence (offline with the fault, or online) on the main link."""

    def __init__(self, store: Store, topics: Topics, say: Callable[[], None]) -> None:
        self.store = store
        self.topics = topics
        self.say = say
        self.fault: StorageFault | None = None

    def failed(self, what: str, batch: list[Any]) -> None:
        self.fault = StorageFault(what, self.store.path)
        log.error("%s", self.fault.message)
        self._hold(batch)
        self.say()

    def _hold(self, batch: list[Any]) -> None:
        """Keep presence and status (newest per device) for later; requests go unanswered."""
        assert self.fault is not None
        for item in batch:
            if isinstance(item, LinkUp):       # say it again on a new connection
                self.say()
            elif isinstance(item, Inbound):
                what, device = self.topics.parse(item.topic)
                if what == "req":
                    self.fault.dropped_requests += 1
                elif device:
                    self.fault.held[(what, device)] = item

    def while_faulted(self, batch: list[Any], tick: bool) -> list[Any] | None:
        """The batch kept or dropped; the storage tried once a second. None while it lasts; once
        writable again, what was kept, to be applied (a LinkUp first: presence online again)."""
        fault = self.fault
        assert fault is not None
        self._hold(batch)
        if not tick or not fault.probe_due(time.monotonic()):
            return None
        still = probe(self.store.db)
        room = free_mb(self.store.path.parent)
        if still is None and room is not None and room < RECOVER_FREE_MB:
            still = fault.what              # one row fits, the next batch would not
        if still is not None:
            if still != fault.what:
                fault.what = still
                self.say()
            return None
        self.fault = None
        log.warning("storage writable again after %.0f s: taking work again (%d requests went unanswered "
                    "meanwhile; their devices fell back)", time.monotonic() - fault.since, fault.dropped_requests)
        return [LinkUp(), *fault.held.values()]
