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
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mqttlink import Inbound, LinkUp
from .store import sqlite_transaction

log = logging.getLogger("hallq.controller")

# primary result codes (the low byte of SQLite's extended codes)
_STORAGE_CODES = {
    5: "the database is locked by another program",        # SQLITE_BUSY
    6: "the database is locked",                            # SQLITE_LOCKED
    8: "the storage is read-only",                          # SQLITE_READONLY
    10: "an I/O error",                                     # SQLITE_IOERR
    13: "the disk is full",                                 # SQLITE_FULL
    14: "the database file cannot be opened",               # SQLITE_CANTOPEN
}
PROBE_EVERY_S = 1.0
PROBE_BYTES = 256 * 1024
RECOVER_FREE_MB = 1.0     # free space needed before work is taken again after a full disk


def storage_fault(err: BaseException) -> str | None:
    """What is wrong with the storage, when ``err`` says the store (not the message) failed."""
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorcode", None)
        if code is not None:
            return _STORAGE_CODES.get(code & 0xFF)
        text = str(err).lower()          # an error raised without a code (e.g. at COMMIT)
        for words, what in (("disk is full", 13), ("readonly", 8), ("disk i/o", 10), ("locked", 5)):
            if words in text:
                return _STORAGE_CODES[what]
    if isinstance(err, OSError) and err.errno is not None:
        import errno  # noqa: PLC0415
        return {errno.ENOSPC: "the disk is full", errno.EROFS: "the storage is read-only",
                errno.EIO: "an I/O error", errno.EDQUOT: "the disk quota is used up"}.get(err.errno)
    return None


def free_mb(path: Path) -> float | None:
    try:
        return shutil.disk_usage(path).free / 1e6
    except OSError:
        return None


@dataclass
class StorageFault:
    """The fault being lived through, and what was kept to apply when it is over."""
    what: str                              # "the disk is full", ...
    path: Path
    since: float = field(default_factory=time.monotonic)
    next_probe: float = 0.0
    dropped_requests: int = 0
    held: dict[tuple[str, str], object] = field(default_factory=dict)   # (kind, device) -> newest message

    @property
    def message(self) -> str:
        free = free_mb(self.path.parent)
        room = f" ({free:.1f} MB free)" if free is not None else ""
        return (f"cannot write {self.path}: {self.what}{room}; taking no new work until it can "
                "(devices work offline meanwhile)")

    def probe_due(self, now: float) -> bool:
        if now < self.next_probe:
            return False
        self.next_probe = now + PROBE_EVERY_S
        return True


def probe(db: sqlite3.Connection) -> str | None:
    """One small durable write; None when it went through, else what is still wrong."""
    try:
        with sqlite_transaction(db):
            # room for a batch's worth of pages, not just one row: a full disk often still takes
            # one row (free pages inside the file, a WAL reused from its start)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('storage_probe', CAST(zeroblob(?) AS TEXT))",
                       (PROBE_BYTES,))
        db.execute("DELETE FROM meta WHERE key = 'storage_probe'")
    except sqlite3.Error as err:
        what = storage_fault(err)
        if what is None:
            raise
        return what
    return None


class StorageFaultHandling:
    """The controller's side of it (a mixin of :class:`hall.controller.Controller`)."""
    fault: StorageFault | None
    store: Any
    link: Any
    topics: Any
    apply_batch: Any
    _presence: Any

    def _storage_failed(self, what: str, batch: list[Any]) -> None:
        self.fault = StorageFault(what, self.store.path)
        log.error("%s", self.fault.message)
        self._hold(batch)
        self.link.publish(self.topics.controller_presence, self._presence(False), retain=True)

    def _hold(self, batch: list[Any]) -> None:
        """Keep presence and status (newest per device) for later; requests go unanswered."""
        assert self.fault is not None
        for item in batch:
            if isinstance(item, LinkUp):       # say it again on a new connection
                self.link.publish(self.topics.controller_presence, self._presence(False), retain=True)
            elif isinstance(item, Inbound):
                what, device = self.topics.parse(item.topic)
                if what == "req":
                    self.fault.dropped_requests += 1
                elif device:
                    self.fault.held[(what, device)] = item

    def _while_faulted(self, batch: list[Any], tick: bool) -> Any:
        """The batch kept or dropped; the storage tried once a second. None, or the outbox of the
        first batch after it came back."""
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
                self.link.publish(self.topics.controller_presence, self._presence(False), retain=True)
            return None
        self.fault = None
        log.warning("storage writable again after %.0f s: taking work again (%d requests went unanswered "
                    "meanwhile; their devices fell back)", time.monotonic() - fault.since, fault.dropped_requests)
        return self.apply_batch([LinkUp(), *fault.held.values()], tick=True)   # LinkUp: presence online again

