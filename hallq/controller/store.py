"""The controller's durable records in SQLite (WAL, synchronous=FULL).

Events are the truth: each has its ``seq`` and JSON body. A snapshot of the state is kept every
few hundred events so that a restart replays only the tail. Each request's reply is stored under
(device, request id) in the same transaction as the events it caused, so a resent request gets
the same reply and changes nothing, also after a crash.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from hallq.runtime.sqlite import private_database, sqlite_transaction

EVENT_ENVELOPE_BYTES = 64      # what the wire adds to a stored body (``"epoch":…,"seq":…,``, the list's comma)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    day TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_day ON events(day, type);
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    body BLOB NOT NULL
);
-- phone numbers for the day's SMS (never in an event): forgotten when the business day ends
CREATE TABLE IF NOT EXISTS contacts (
    ticket TEXT PRIMARY KEY, day TEXT NOT NULL, phone TEXT NOT NULL, lang TEXT NOT NULL
);
-- the SMS outbox: a message queued in the same transaction as what caused it (its key: once), then
-- written to the modem's storage (slot), sent (reference); its state says how far it got
CREATE TABLE IF NOT EXISTS sms_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, ticket TEXT NOT NULL, day TEXT NOT NULL,
    phone TEXT NOT NULL, text TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'queued', slot INTEGER,
    reference INTEGER, attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL DEFAULT 0, error TEXT,
    queued_at TEXT NOT NULL, sent_at TEXT, delivery TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    device TEXT NOT NULL,
    request_id TEXT NOT NULL,
    op TEXT NOT NULL,
    at TEXT NOT NULL,
    reply BLOB NOT NULL,
    PRIMARY KEY (device, request_id)
) WITHOUT ROWID;
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        private_database(self.path)
        # FULL: a reply goes out only after the WAL is on disk (power cuts happen in halls)
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- transactions ---------------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[None]:
        return sqlite_transaction(self.db)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo only this part if it fails."""
        self.db.execute("SAVEPOINT one")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:       # else SQLite rolled the whole transaction back itself
                self.db.execute("ROLLBACK TO one")
                self.db.execute("RELEASE one")
            raise
        self.db.execute("RELEASE one")

    # --- meta -------------------------------------------------------------------------------
    def next_epoch(self) -> int:
        with self.transaction():
            row = self.db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()
            epoch = (int(row[0]) if row else 0) + 1
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('epoch', ?)", (str(epoch),))
        return epoch

    # --- events -----------------------------------------------------------------------------
    def last_seq(self) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def append_event(self, seq: int, epoch: int, type_: str, at: str, day: str, body: bytes) -> None:
        self.db.execute("INSERT INTO events(seq, epoch, type, at, day, body) VALUES (?,?,?,?,?,?)",
                        (seq, epoch, type_, at, day, body))

    def events_after(self, seq: int) -> Iterator[tuple[int, bytes]]:
        yield from self.db.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq", (seq,))

    # --- snapshot -----------------------------------------------------------------------------
    def events_page(self, after_seq: int, limit: int, max_bytes: int | None = None) -> list[tuple[int, int, bytes]]:
        """(seq, epoch, body) of up to ``limit`` events after ``after_seq``, in order; with ``max_bytes``,
        only as many as fit in that many bytes of bodies (always at least one)."""
        rows = self.db.execute("SELECT seq, epoch, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                               (after_seq, limit)).fetchall()
        if max_bytes is None:
            return rows
        size = 0
        for i, (_, _, body) in enumerate(rows):
            size += len(body) + EVENT_ENVELOPE_BYTES
            if size > max_bytes and i > 0:
                return rows[:i]
        return rows

    def load_snapshot(self) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT seq, body FROM snapshot WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def save_snapshot(self, seq: int, body: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO snapshot(id, seq, body) VALUES (1, ?, ?)", (seq, body))

    # --- request replies ------------------------------------------------------------------------
    def reply_for(self, device: str, request_id: str) -> bytes | None:
        row = self.db.execute("SELECT reply FROM requests WHERE device = ? AND request_id = ?",
                              (device, request_id)).fetchone()
        return bytes(row[0]) if row else None

    def save_reply(self, device: str, request_id: str, op: str, at: str, reply: bytes) -> None:
        self.db.execute("INSERT INTO requests(device, request_id, op, at, reply) VALUES (?,?,?,?,?)",
                        (device, request_id, op, at, reply))

    def forget_replies(self, ok_before: str, refused_before: str) -> int:
        """Old request ids can go (hallq/controller/retention.py): accepted ones after weeks, refusals sooner."""
        with self.transaction():
            return self.db.execute("DELETE FROM requests WHERE at < ? OR (at < ? AND instr(reply, ?) > 0)",
                                   (ok_before, refused_before, b'"ok":false')).rowcount

    # --- retention (hallq/controller/retention.py) -----------------------------------------------------------
    def forget_events(self, before_day: str, up_to_seq: int) -> int:
        """Events of days before ``before_day``, never above ``up_to_seq`` nor the latest one."""
        with self.transaction():
            return self.db.execute("DELETE FROM events WHERE day < ? AND seq <= ? AND seq < (SELECT MAX(seq) FROM events)",
                                   (before_day, up_to_seq)).rowcount

    def first_seq(self) -> int:
        row = self.db.execute("SELECT MIN(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def oldest_day(self) -> str | None:
        row = self.db.execute("SELECT MIN(day) FROM events WHERE day != ''").fetchone()
        return row[0] if row else None

    # --- the day's SMS (hallq/controller/notify.py) --------------------------------------------------
    def add_contact(self, ticket: str, day: str, phone: str, lang: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO contacts (ticket, day, phone, lang) VALUES (?, ?, ?, ?)",
                        (ticket, day, phone, lang))

    def contact(self, key: str) -> tuple[str, str] | None:
        """(phone, language) left with ``key`` (a ticket id, or ``appt:<code>``), or None."""
        row = self.db.execute("SELECT phone, lang FROM contacts WHERE ticket = ?", (key,)).fetchone()
        return (row[0], row[1]) if row else None

    def contacts(self, day: str) -> dict[str, tuple[str, str]]:
        return {t: (p, lang) for t, p, lang in self.db.execute(
            "SELECT ticket, phone, lang FROM contacts WHERE day = ?", (day,))}

    def queue_sms(self, key: str, ticket: str, day: str, phone: str, text: str, at: str) -> bool:
        """Queued once per key (True when it is new)."""
        return self.db.execute("INSERT OR IGNORE INTO sms_outbox (key, ticket, day, phone, text, queued_at) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (key, ticket, day, phone, text, at)).rowcount > 0

    def sms_keys(self, day: str) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM sms_outbox WHERE day = ?", (day,))}

    def forget_phones(self, before_day: str) -> None:
        """The end of a business day: its phone numbers go (the outbox keeps what was sent, not to whom)."""
        self.db.execute("DELETE FROM contacts WHERE day < ?", (before_day,))
        self.db.execute("UPDATE sms_outbox SET phone = '' WHERE day < ? AND state IN ('sent', 'failed')", (before_day,))

    def size_mb(self) -> float:
        """What the records take inside the file (free pages are reused, not counted)."""
        pages = self.db.execute("PRAGMA page_count").fetchone()[0] - self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return pages * self.db.execute("PRAGMA page_size").fetchone()[0] / 1e6
