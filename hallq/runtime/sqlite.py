"""SQLite as every hallq process keeps its records (the controller's store, a kiosk's journal, the
web's accounts, head office's store): files for their owner only, all-or-nothing transactions."""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


def private_database(path: str | os.PathLike[str]) -> None:
    """A database, its WAL and shared memory readable by their owner only (an older install's 0644
    files too): they hold tickets, tokens' hashes, session ids and appointment codes' hashes."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.chmod(f"{os.fspath(path)}{suffix}", 0o600)
        except FileNotFoundError:
            pass


@contextmanager
def sqlite_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """All or nothing on a connection opened with ``isolation_level=None`` (the controller's store,
    the kiosk's journal, head office's SQLite): BEGIN IMMEDIATE takes the write lock at once."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back by itself (disk full, I/O error): the original error
        # is what matters, not a second one from a ROLLBACK with nothing to undo
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
