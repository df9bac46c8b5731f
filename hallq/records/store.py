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
from datetime import datetime
from typing import Any

import msgspec

from hallq.contract import BadDocument, WireEvent, read_event
from hallq.core import events as e
from hallq.core.model import Ticket
from hallq.runtime.sqlite import private_database, sqlite_transaction

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS events (
        hall TEXT NOT NULL, seq BIGINT NOT NULL, epoch INTEGER NOT NULL, type TEXT NOT NULL,
        at TEXT NOT NULL, day TEXT NOT NULL, ticket TEXT, ticket_day TEXT, service TEXT,
        issued_service TEXT, status TEXT, clerk TEXT, issued_at TEXT, rating INTEGER,
        body TEXT NOT NULL, counter TEXT, service_s REAL, appointment INTEGER, step INTEGER, queued_at TEXT,
        PRIMARY KEY (hall, seq))""",
    "CREATE INDEX IF NOT EXISTS events_day_type ON events (day, type)",
    # one row per ticket and day, folded from that day's events as each hall's report folds them:
    # the first event gives the service it was issued for, the last its end state (by seq)
    """CREATE TABLE IF NOT EXISTS tickets (
        hall TEXT NOT NULL, ticket TEXT NOT NULL, day TEXT NOT NULL, first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL, issued_service TEXT NOT NULL, service TEXT NOT NULL, status TEXT NOT NULL,
        issued_at TEXT, first_called TEXT, clerk TEXT, rating INTEGER, counter TEXT, service_s REAL,
        appointment INTEGER, wait_s REAL, PRIMARY KEY (hall, ticket))""",
    "CREATE INDEX IF NOT EXISTS tickets_day ON tickets (day, hall, service)",
    # one row per ticket and visit to a service: a ticket for one service has one; a journey's (one number
    # through several services) one per step, each with that step's service, wait, counter, clerk, rating —
    # as each hall's report counts a journey's steps. Folded from the events like ``tickets``.
    """CREATE TABLE IF NOT EXISTS visits (
        hall TEXT NOT NULL, ticket TEXT NOT NULL, step INTEGER NOT NULL, day TEXT NOT NULL, last_seq BIGINT NOT NULL,
        service TEXT, status TEXT, queued_at TEXT, first_called TEXT, wait_s REAL, counter TEXT, clerk TEXT,
        service_s REAL, rating INTEGER, PRIMARY KEY (hall, ticket, step))""",
    "CREATE INDEX IF NOT EXISTS visits_day ON visits (day, hall, service)",
    """CREATE TABLE IF NOT EXISTS halls (
        hall TEXT PRIMARY KEY, state TEXT, state_seq BIGINT, online INTEGER, updated TEXT)""",
    # messages of a hall that could not be read or stored: kept (an excerpt) with the reason, never
    # skipped in silence; the hall's records stop before such an event (its seq) until it is read
    """CREATE TABLE IF NOT EXISTS quarantine (
        hall TEXT NOT NULL, seq BIGINT, reason TEXT NOT NULL, excerpt TEXT NOT NULL, at TEXT NOT NULL)""",
]
INSERT = ("INSERT INTO events (hall, seq, epoch, type, at, day, ticket, ticket_day, service, issued_service, "
          "status, clerk, issued_at, rating, body, counter, service_s, appointment, step, queued_at) "
          "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (hall, seq) DO NOTHING")
# columns a store made by an older hallq lacks (added, then filled from the events' bodies once)
ADDED_COLUMNS = (("events", "step", "INTEGER"), ("events", "queued_at", "TEXT"))


def _times(table: str) -> str:
    """The columns a ticket's row and a visit's row fold alike, order-free: the time at the counter of
    the latest event that has one, the first call (and the wait to it), the latest seq seen."""
    return f"""
        service_s = CASE WHEN excluded.service_s IS NULL THEN {table}.service_s
                         WHEN {table}.service_s IS NULL OR excluded.last_seq > {table}.last_seq THEN excluded.service_s
                         ELSE {table}.service_s END,
        last_seq = CASE WHEN excluded.last_seq > {table}.last_seq THEN excluded.last_seq ELSE {table}.last_seq END,
        wait_s = CASE WHEN excluded.first_called IS NULL THEN {table}.wait_s
                      WHEN {table}.first_called IS NULL OR excluded.first_called < {table}.first_called
                      THEN excluded.wait_s ELSE {table}.wait_s END,
        first_called = CASE WHEN {table}.first_called IS NULL THEN excluded.first_called
                            WHEN excluded.first_called IS NULL THEN {table}.first_called
                            WHEN excluded.first_called < {table}.first_called THEN excluded.first_called
                            ELSE {table}.first_called END"""


# idempotent and order-free: a repeated or late event changes a ticket only where its seq says so
UPSERT_TICKET = """
    INSERT INTO tickets (hall, ticket, day, first_seq, last_seq, issued_service, service, status, issued_at,
                         first_called, clerk, rating, counter, service_s, appointment, wait_s)
    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT (hall, ticket) DO UPDATE SET
        issued_service = CASE WHEN excluded.first_seq < tickets.first_seq THEN excluded.issued_service
                              ELSE tickets.issued_service END,
        first_seq = CASE WHEN excluded.first_seq < tickets.first_seq THEN excluded.first_seq ELSE tickets.first_seq END,
        service = CASE WHEN excluded.last_seq > tickets.last_seq THEN excluded.service ELSE tickets.service END,
        status = CASE WHEN excluded.last_seq > tickets.last_seq THEN excluded.status ELSE tickets.status END,
        issued_at = CASE WHEN excluded.last_seq > tickets.last_seq THEN excluded.issued_at ELSE tickets.issued_at END,
        clerk = CASE WHEN excluded.last_seq > tickets.last_seq THEN excluded.clerk ELSE tickets.clerk END,
        rating = CASE WHEN excluded.last_seq > tickets.last_seq THEN excluded.rating ELSE tickets.rating END,
        counter = CASE WHEN excluded.last_seq > tickets.last_seq THEN excluded.counter ELSE tickets.counter END,
        appointment = CASE WHEN excluded.last_seq > tickets.last_seq THEN excluded.appointment
                           ELSE tickets.appointment END,""" + _times("tickets")


# the same for a visit. A rating names its step and says nothing else (its ticket may be at the next step
# already: last_seq -1 so it is never "later"); counter and clerk are the last known (a transfer or a
# step's start clears them on the ticket, the visit still happened there)
UPSERT_VISIT = """
    INSERT INTO visits (hall, ticket, step, day, last_seq, service, status, queued_at, first_called, wait_s,
                        counter, clerk, service_s, rating)
    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT (hall, ticket, step) DO UPDATE SET
        service = CASE WHEN excluded.last_seq > visits.last_seq THEN excluded.service ELSE visits.service END,
        status = CASE WHEN excluded.last_seq > visits.last_seq THEN excluded.status ELSE visits.status END,
        queued_at = COALESCE(visits.queued_at, excluded.queued_at),
        counter = CASE WHEN excluded.counter IS NOT NULL AND (visits.counter IS NULL OR excluded.last_seq > visits.last_seq)
                       THEN excluded.counter ELSE visits.counter END,
        clerk = CASE WHEN excluded.clerk IS NOT NULL AND (visits.clerk IS NULL OR excluded.last_seq > visits.last_seq)
                     THEN excluded.clerk ELSE visits.clerk END,
        rating = COALESCE(excluded.rating, visits.rating),""" + _times("visits")


# a hall's latest state and presence: what a message does not carry stays as it was
UPSERT_HALL = """
    INSERT INTO halls (hall, state, state_seq, online, updated) VALUES (?,?,?,?,?)
    ON CONFLICT (hall) DO UPDATE SET state = COALESCE(excluded.state, halls.state),
        state_seq = COALESCE(excluded.state_seq, halls.state_seq),
        online = COALESCE(excluded.online, halls.online), updated = excluded.updated"""


def ticket_row(row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The tickets-table row an event row contributes, if it is a ticket's event on its own day."""
    hall, seq, _epoch, kind, at, day, ticket, ticket_day, service, issued_service, status, clerk, issued_at, \
        rating, _body, counter, service_s, appointment, _step, _queued_at = row
    if ticket is None or ticket_day != day:      # a carried ticket's later events: no day's report has them
        return None
    called = kind == "ticket_called"
    # the wait (issue to first call) computed once, here, as each hall's report computes it
    wait = (datetime.fromisoformat(at) - datetime.fromisoformat(issued_at)).total_seconds() \
        if called and issued_at else None
    return (hall, ticket, day, seq, seq, issued_service, service, status, issued_at,
            at if called else None, clerk, rating, counter,
            service_s if kind == "ticket_served" else None, appointment, wait)


def visit_row(row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The visits-table row an event row contributes: a ticket's event on its own day, about the
    step (visit) it names."""
    hall, seq, _epoch, kind, at, day, ticket, ticket_day, service, _issued_service, status, clerk, _issued_at, \
        rating, _body, counter, service_s, _appointment, step, queued_at = row
    if ticket is None or ticket_day != day or step is None:
        return None
    if kind == "ticket_rated":        # only the rating: the ticket it carries may be at its next step
        return (hall, ticket, step, day, -1, None, None, None, None, None, None, None, None, rating)
    called = kind == "ticket_called"
    wait = (datetime.fromisoformat(at) - datetime.fromisoformat(queued_at)).total_seconds() \
        if called and queued_at else None
    return (hall, ticket, step, day, seq, service, status, queued_at, at if called else None, wait, counter, clerk,
            service_s if kind == "ticket_served" else None, None)


def _iso(moment: datetime | None) -> str | None:
    """A time as the event's JSON writes it (msgspec's RFC 3339), so stored text equals the wire's."""
    return None if moment is None else msgspec.json.encode(moment)[1:-1].decode()


def event_row(hall: str, wired: WireEvent, payload: bytes) -> tuple[Any, ...]:
    """The row of one event, from the controller's own struct (``hallq.contract.read_event``)."""
    ev = wired.event
    t = getattr(ev, "ticket", None)
    if not isinstance(t, Ticket):          # appointment_checked_in names its ticket by id only
        t = None
    at = _iso(ev.at) or ""
    step: int | None = None
    if t is not None:
        # the visit the event is about: a rating names the step it rates (its ticket may have gone on)
        step = ev.step if isinstance(ev, e.TicketRated) and ev.step is not None else t.step
    return (hall, wired.seq, wired.epoch, wired.type, at, at[:10],
            t.id if t else None, t.day if t else None, t.service if t else None,
            (t.transferred_from or t.service) if t else None, t.status if t else None,
            t.clerk if t else None, _iso(t.issued_at) if t else None, t.rating if t else None,
            payload.decode("utf-8"), t.counter if t else None,
            ev.service_s if isinstance(ev, e.TicketServed) else None, int(t.appointment) if t else None,
            step, _iso(t.step_at or t.issued_at) if t else None)


@dataclass
class TicketFigures:
    hall: str
    service: str
    issued: int
    served: int
    no_show: int
    voided: int
    service_s_sum: float = 0.0
    service_s_n: int = 0
    rating_1: int = 0
    rating_2: int = 0
    rating_3: int = 0


class CentralStore:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            self.kind = "sqlite"
            self.db: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            private_database(url.removeprefix("sqlite:///"))
            self.db.execute("PRAGMA synchronous=FULL")
        else:
            import psycopg  # noqa: PLC0415 - only head offices on PostgreSQL need it
            self.kind = "postgresql"
            self.db = psycopg.connect(url, autocommit=True)
        for statement in SCHEMA:
            self.db.execute(statement)
        self._migrate()

    def _sql(self, text: str) -> str:
        return text if self.kind == "sqlite" else text.replace("?", "%s")

    def query(self, text: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.db.execute(self._sql(text), tuple(params)).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.kind == "sqlite":
            with sqlite_transaction(self.db):
                yield
        else:
            with self.db.transaction():
                yield

    def close(self) -> None:
        self.db.close()

    # --- ingest ------------------------------------------------------------------------------
    def add_events(self, rows: list[tuple[Any, ...]], halls: list[tuple[Any, ...]] | None = None) -> None:
        """Store a batch in one transaction (group commit); rows already there change nothing.
        ``halls``: (hall, state JSON or None, its seq or None, online or None, at) — each hall's
        latest state and controller presence from the same batch, written with it."""
        halls = halls or []
        if not rows and not halls:
            return
        tickets = [t for t in map(ticket_row, rows) if t is not None]
        visits = [v for v in map(visit_row, rows) if v is not None]
        with self.transaction():
            for statement, params in ((INSERT, rows), (UPSERT_TICKET, tickets), (UPSERT_VISIT, visits),
                                      (UPSERT_HALL, halls)):
                self._many(statement, params)

    def _migrate(self) -> None:
        """A store an older hallq made: add the columns it lacks and fold its events' bodies into them
        and into the visits table, in one transaction (a crash leaves all of it to do again)."""
        def columns(table: str) -> set[str]:
            if self.kind == "sqlite":
                return {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            return {r[0] for r in self.query("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                             (table,))}
        missing = [(table, column, kind) for table, column, kind in ADDED_COLUMNS if column not in columns(table)]
        if not missing:
            return
        with self.transaction():
            for table, column, kind in missing:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            rows = []
            for hall, seq, body in self.query("SELECT hall, seq, body FROM events WHERE ticket IS NOT NULL "
                                              "ORDER BY hall, seq"):
                try:
                    rows.append(event_row(hall, read_event(body.encode("utf-8")), body.encode("utf-8")))
                except BadDocument:
                    continue
            self._many("UPDATE events SET step = ?, queued_at = ? WHERE hall = ? AND seq = ?",
                       [(r[18], r[19], r[0], r[1]) for r in rows])
            self._many(UPSERT_VISIT, [v for v in map(visit_row, rows) if v is not None])

    def _many(self, statement: str, params: list[tuple[Any, ...]]) -> None:
        if not params:
            return
        if self.kind == "sqlite":
            self.db.executemany(statement, params)
        else:
            with self.db.cursor() as cur:
                cur.executemany(self._sql(statement), params)

    def quarantine(self, hall: str, seq: int | None, reason: str, payload: bytes) -> None:
        """Keep a message that could not be read or stored, with why (the dashboard shows it)."""
        excerpt = payload[:400].decode("utf-8", "replace")
        with self.transaction():
            self.db.execute(self._sql("INSERT INTO quarantine (hall, seq, reason, excerpt, at) VALUES (?,?,?,?,?)"),
                            (hall, seq, reason[:500], excerpt, datetime.now().astimezone().isoformat()))

    def quarantined(self, hall: str | None = None) -> list[tuple[Any, ...]]:
        """(hall, seq, reason, at) of the messages kept aside, newest first."""
        where, params = ("WHERE hall = ?", (hall,)) if hall else ("", ())
        return self.query(f"SELECT hall, seq, reason, at FROM quarantine {where} ORDER BY at DESC", params)

    def contiguous(self, hall: str) -> int:
        """The highest seq up to which every event of ``hall`` is stored (0: not even seq 1)."""
        first = self.query("SELECT 1 FROM events WHERE hall = ? AND seq = 1", (hall,))
        if not first:
            return 0
        row = self.query("SELECT MIN(e.seq) FROM events e WHERE e.hall = ? AND NOT EXISTS "
                         "(SELECT 1 FROM events n WHERE n.hall = e.hall AND n.seq = e.seq + 1)", (hall,))
        return int(row[0][0])

    def recorded_days(self, hall: str, before: str, limit: int) -> list[str]:
        """The hall's business days with events before ``before``, newest first."""
        rows = self.query("SELECT DISTINCT day FROM events WHERE hall = ? AND day < ? ORDER BY day DESC LIMIT ?",
                          (hall, before, limit))
        return [r[0] for r in rows]

    def events_of(self, hall: str, days: Iterable[str]) -> dict[str, list[e.Event]]:
        """The hall's events of each of ``days``, in order (those the core cannot read are left out:
        the quarantine holds them)."""
        out: dict[str, list[e.Event]] = {day: [] for day in days}
        for day in out:
            for (body,) in self.query("SELECT body FROM events WHERE hall = ? AND day = ? ORDER BY seq", (hall, day)):
                try:
                    out[day].append(e.decode_event(body))
                except msgspec.DecodeError:
                    continue
        return out

    def halls(self) -> list[str]:
        known = {r[0] for r in self.query("SELECT DISTINCT hall FROM events")}
        known |= {r[0] for r in self.query("SELECT hall FROM halls")}
        return sorted(known)


    # --- figures --------------------------------------------------------------------------------
    def day_people(self, day: str, by: str, last: str | None = None) -> list[tuple[Any, ...]]:
        """Per hall and counter (``by="counter"``) or clerk: served, no-shows, mean service time,
        ratings 1/2/3 (visits that ended served or no-show: a journey's steps each at its counter; as
        each hall's report counts them).
        ``last``: the days from ``day`` to ``last`` (a month's report)."""
        column = {"counter": "counter", "clerk": "clerk"}[by]
        return self.query(f"""
            SELECT hall, {column}, SUM(CASE WHEN status = 'served' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN status = 'no_show' THEN 1 ELSE 0 END),
                   AVG(CASE WHEN status = 'served' THEN service_s END),
                   SUM(CASE WHEN rating = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN rating = 2 THEN 1 ELSE 0 END),
                   SUM(CASE WHEN rating = 3 THEN 1 ELSE 0 END)
            FROM visits WHERE day BETWEEN ? AND ? AND status IN ('served', 'no_show') AND {column} IS NOT NULL
            GROUP BY hall, {column} ORDER BY hall, {column}""", (day, last or day))

    def day_hall_extras(self, day: str, last: str | None = None) -> dict[str, dict[str, Any]]:
        """Per hall: appointments booked for the day(s) and checked in on time, outages (count,
        minutes), calls out of order (by number, ahead of their turn)."""
        last = last or day
        out: dict[str, dict[str, Any]] = {}
        for hall, n in self.query("SELECT hall, SUM(appointment) FROM tickets WHERE day BETWEEN ? AND ? GROUP BY hall",
                                  (day, last)):
            out.setdefault(hall, {})["appointments_on_time"] = int(n or 0)
        for hall, body in self.query("SELECT hall, body FROM events WHERE type = 'appointment_booked'"):
            if day <= (msgspec.json.decode(body).get("appointment", {}).get("day") or "") <= last:
                entry = out.setdefault(hall, {})
                entry["appointments_booked"] = entry.get("appointments_booked", 0) + 1
        for hall, n in self.query("SELECT hall, COUNT(*) FROM events WHERE day BETWEEN ? AND ? AND type = "
                                  "'ticket_called' AND body LIKE ? GROUP BY hall", (day, last, '%"out_of_order":true%')):
            out.setdefault(hall, {})["out_of_order"] = int(n)
        spans: dict[str, list[str]] = {}
        for hall, kind, at in self.query("SELECT hall, type, at FROM events WHERE day BETWEEN ? AND ? AND type IN "
                                         "('outage_started', 'outage_ended') ORDER BY hall, seq", (day, last)):
            spans.setdefault(hall, []).append(f"{kind}|{at}")
        for hall, marks in spans.items():
            minutes, count, started = 0.0, 0, None
            for mark in marks:
                kind, at = mark.split("|", 1)
                if kind == "outage_started" and started is None:
                    started, count = datetime.fromisoformat(at), count + 1
                elif kind == "outage_ended" and started is not None:
                    minutes += (datetime.fromisoformat(at) - started).total_seconds() / 60
                    started = None
            out.setdefault(hall, {}).update(outages=count, outage_minutes=round(minutes, 1))
        return out

    def day_wait_figures(self, day: str, target_s: int, last: str | None = None) -> list[tuple[Any, ...]]:
        """Per hall and service, over visits that ended served or no-show (a ticket's, in the service it
        ended in; each step of a journey's, from the step before finishing): (hall, service, n, median wait,
        nearest-rank p90 wait, share within ``target_s``), in SQL (window functions, as in both
        PostgreSQL and SQLite). The median is the mean of the middle two for an even count, as
        Python's ``statistics.median``; p90 the value at rank ceil(0.9 n), as ``hallq report``."""
        return self.query("""
            WITH w AS (
                SELECT hall, service, wait_s,
                       ROW_NUMBER() OVER (PARTITION BY hall, service ORDER BY wait_s) AS k,
                       COUNT(*) OVER (PARTITION BY hall, service) AS n
                FROM visits WHERE day BETWEEN ? AND ? AND status IN ('served', 'no_show') AND wait_s IS NOT NULL)
            SELECT hall, service, MAX(n),
                   AVG(CASE WHEN k = (n + 1) / 2 OR k = (n + 2) / 2 THEN wait_s END),
                   MAX(CASE WHEN k = (9 * n + 9) / 10 THEN wait_s END),
                   SUM(CASE WHEN wait_s <= ? THEN 1 ELSE 0 END) * 1.0 / MAX(n)
            FROM w GROUP BY hall, service""", (day, last or day, target_s))

    def day_figures(self, day: str, last: str | None = None) -> list[TicketFigures]:
        """Issued (by the service issued for), served, no-shows and voided (by the service each visit
        ended in: a journey's steps each in its own), per hall and service, counted in the database."""
        rows = self.query("""
            SELECT hall, service, SUM(issued), SUM(served), SUM(no_show), SUM(voided), SUM(service_sum),
                   SUM(service_n), SUM(r1), SUM(r2), SUM(r3) FROM (
                SELECT hall, issued_service AS service, COUNT(*) AS issued, 0 AS served, 0 AS no_show, 0 AS voided,
                       0 AS service_sum, 0 AS service_n, 0 AS r1, 0 AS r2, 0 AS r3
                FROM tickets WHERE day BETWEEN ? AND ? GROUP BY hall, issued_service
                UNION ALL
                SELECT hall, service, 0, SUM(CASE WHEN status = 'served' THEN 1 ELSE 0 END),
                       SUM(CASE WHEN status = 'no_show' THEN 1 ELSE 0 END),
                       SUM(CASE WHEN status = 'voided' THEN 1 ELSE 0 END),
                       SUM(CASE WHEN status = 'served' THEN service_s END),
                       COUNT(CASE WHEN status = 'served' THEN service_s END),
                       SUM(CASE WHEN rating = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN rating = 2 THEN 1 ELSE 0 END),
                       SUM(CASE WHEN rating = 3 THEN 1 ELSE 0 END)
                FROM visits WHERE day BETWEEN ? AND ? AND service IS NOT NULL GROUP BY hall, service) AS parts
            GROUP BY hall, service ORDER BY hall, service""", (day, last or day, day, last or day))
        return [TicketFigures(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), float(r[6] or 0),
                              int(r[7] or 0), int(r[8] or 0), int(r[9] or 0), int(r[10] or 0)) for r in rows]
