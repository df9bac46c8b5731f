"""Whether a storage error is the storage's fault (disk full, read-only, I/O error, locked) rather
than one message's: the controller pauses on it (hallq/controller/storage_faults.py), a kiosk prints a slip."""
from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from .sqlite import sqlite_transaction

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
