"""Head office's store: every hall's events keyed by (hall, seq), exactly once, in PostgreSQL
(psycopg 3) or SQLite. The same SQL runs on both (``?`` placeholders become ``%s`` for psycopg).

An event is kept whole (its JSON) with the columns the figures need pulled out at ingest: the
business day it happened on (the date of its ``at``, written in the hall's own time zone), and
for ticket events the ticket, its day, service, the service it was issued for, status, clerk,
issue time and rating. A repeated (hall, seq) changes nothing (``ON CONFLICT DO NOTHING``).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS events (
        hall TEXT NOT NULL, seq BIGINT NOT NULL, epoch INTEGER NOT NULL, type TEXT NOT NULL,
        at TEXT NOT NULL, day TEXT NOT NULL, ticket TEXT, ticket_day TEXT, service TEXT,
        issued_service TEXT, status TEXT, clerk TEXT, issued_at TEXT, rating INTEGER,
        body TEXT NOT NULL, PRIMARY KEY (hall, seq))""",
    "CREATE INDEX IF NOT EXISTS events_day_ticket ON events (day, ticket_day, hall, ticket, seq)",
    """CREATE TABLE IF NOT EXISTS halls (
        hall TEXT PRIMARY KEY, state TEXT, state_seq BIGINT, online INTEGER, updated TEXT)""",
]
INSERT = ("INSERT INTO events (hall, seq, epoch, type, at, day, ticket, ticket_day, service, issued_service, "
          "status, clerk, issued_at, rating, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
          "ON CONFLICT (hall, seq) DO NOTHING")


class _Ticket(msgspec.Struct):
    id: str
    service: str
    status: str
    day: str = ""
    issued_at: str = ""
    clerk: str | None = None
    rating: int | None = None
    transferred_from: str | None = None


class _Event(msgspec.Struct):
    epoch: int
    seq: int
    type: str
    at: str
    ticket: _Ticket | None = None


_event = msgspec.json.Decoder(_Event)


def event_row(hall: str, payload: bytes) -> tuple[Any, ...]:
    """The row of one event (``R/event`` JSON); msgspec.DecodeError if it is not one."""
    ev = _event.decode(payload)
    t = ev.ticket
    return (hall, ev.seq, ev.epoch, ev.type, ev.at, ev.at[:10],
            t.id if t else None, t.day if t else None, t.service if t else None,
            (t.transferred_from or t.service) if t else None, t.status if t else None,
            t.clerk if t else None, t.issued_at if t else None, t.rating if t else None,
            payload.decode("utf-8"))


@dataclass
class TicketFigures:
    hall: str
    service: str
    issued: int
    served: int
    no_show: int
    voided: int


class CentralStore:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            self.kind = "sqlite"
            self.db: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
        else:
            import psycopg  # noqa: PLC0415 - only head offices on PostgreSQL need it
            self.kind = "postgresql"
            self.db = psycopg.connect(url, autocommit=True)
        for statement in SCHEMA:
            self.db.execute(statement)

    def _sql(self, text: str) -> str:
        return text if self.kind == "sqlite" else text.replace("?", "%s")

    def query(self, text: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.db.execute(self._sql(text), tuple(params)).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.kind == "sqlite":
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        else:
            with self.db.transaction():
                yield

    def close(self) -> None:
        self.db.close()

    # --- ingest ------------------------------------------------------------------------------
    def add_events(self, rows: list[tuple[Any, ...]]) -> None:
        """Store a batch in one transaction (group commit); rows already there change nothing."""
        if not rows:
            return
        with self.transaction():
            if self.kind == "sqlite":
                self.db.executemany(INSERT, rows)
            else:
                with self.db.cursor() as cur:
                    cur.executemany(self._sql(INSERT), rows)

    def contiguous(self, hall: str) -> int:
        """The highest seq up to which every event of ``hall`` is stored (0: not even seq 1)."""
        first = self.query("SELECT 1 FROM events WHERE hall = ? AND seq = 1", (hall,))
        if not first:
            return 0
        row = self.query("SELECT MIN(e.seq) FROM events e WHERE e.hall = ? AND NOT EXISTS "
                         "(SELECT 1 FROM events n WHERE n.hall = e.hall AND n.seq = e.seq + 1)", (hall,))
        return int(row[0][0])

    def halls(self) -> list[str]:
        known = {r[0] for r in self.query("SELECT DISTINCT hall FROM events")}
        known |= {r[0] for r in self.query("SELECT hall FROM halls")}
        return sorted(known)

    def set_hall(self, hall: str, *, state: bytes | None = None, state_seq: int | None = None,
                 online: bool | None = None, at: str = "") -> None:
        if not self.query("SELECT 1 FROM halls WHERE hall = ?", (hall,)):
            self.db.execute(self._sql("INSERT INTO halls (hall) VALUES (?) ON CONFLICT (hall) DO NOTHING"), (hall,))
        if state is not None:
            self.db.execute(self._sql("UPDATE halls SET state = ?, state_seq = ?, updated = ? WHERE hall = ?"),
                            (state.decode("utf-8"), state_seq, at, hall))
        if online is not None:
            self.db.execute(self._sql("UPDATE halls SET online = ?, updated = ? WHERE hall = ?"), (int(online), at, hall))

    # --- figures --------------------------------------------------------------------------------
    TICKETS = """
        WITH t AS (
            SELECT hall, ticket, MIN(seq) AS first_seq, MAX(seq) AS last_seq,
                   MIN(CASE WHEN type = 'ticket_called' THEN at END) AS first_called
            FROM events WHERE day = ? AND ticket_day = ? AND ticket IS NOT NULL
            GROUP BY hall, ticket)
        SELECT t.hall, f.issued_service, l.service, l.status, l.issued_at, t.first_called, l.clerk, l.rating
        FROM t JOIN events f ON f.hall = t.hall AND f.seq = t.first_seq
               JOIN events l ON l.hall = t.hall AND l.seq = t.last_seq"""

    def day_tickets(self, day: str) -> list[tuple[Any, ...]]:
        """Per ticket of ``day`` (as each hall's report folds them: the first event's service is
        the one it was issued for, the last event is its end state)."""
        return self.query(self.TICKETS, (day, day))

    def day_figures(self, day: str) -> list[TicketFigures]:
        """Issued (by the service issued for), served, no-shows and voided (by the final service),
        per hall and service, counted in the database."""
        rows = self.query(f"""
            WITH tickets AS ({self.TICKETS})
            SELECT hall, service, SUM(issued), SUM(served), SUM(no_show), SUM(voided) FROM (
                SELECT hall, issued_service AS service, 1 AS issued, 0 AS served, 0 AS no_show, 0 AS voided
                FROM tickets
                UNION ALL
                SELECT hall, service, 0, CASE WHEN status = 'served' THEN 1 ELSE 0 END,
                       CASE WHEN status = 'no_show' THEN 1 ELSE 0 END, CASE WHEN status = 'voided' THEN 1 ELSE 0 END
                FROM tickets) AS parts
            GROUP BY hall, service ORDER BY hall, service""", (day, day))
        return [TicketFigures(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]
