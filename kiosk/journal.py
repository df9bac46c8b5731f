"""The kiosk's durable memory (SQLite, WAL, synchronous=FULL): leases, offline tickets, voids.

An offline ticket is written here, committed, and only then printed; a kiosk that restarts in
the middle finds it again and syncs it, so a printed number is never lost nor issued twice. A
ticket whose printing failed for certain is marked ``void`` and never synced (its number stays
unused: numbers are unique, not gapless). One that may have printed (a crash during printing)
is synced: a ticket in someone's hand must be in the queue.

Ticket states: ``journaled`` (committed, print not confirmed) -> ``printed`` -> ``synced`` |
``rejected``; or ``journaled`` -> ``void``.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass

from hallq.runtime.sqlite import private_database, sqlite_transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS lease (
    service TEXT NOT NULL, day TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    next INTEGER NOT NULL, prefix TEXT NOT NULL, leased_at TEXT NOT NULL,
    PRIMARY KEY (service, day, start));
CREATE TABLE IF NOT EXISTS ticket (
    day TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL, priority TEXT NOT NULL,
    issued_at TEXT NOT NULL, state TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', token_hash TEXT,
    PRIMARY KEY (day, number));
CREATE TABLE IF NOT EXISTS pending_void (
    request_id TEXT PRIMARY KEY, reason TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS appointment (
    day TEXT NOT NULL, code_hash TEXT NOT NULL, service TEXT NOT NULL, slot TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, code_hash));
CREATE TABLE IF NOT EXISTS remote_ticket (
    day TEXT NOT NULL, code_hash TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL,
    arrived_at TEXT, code TEXT, sent INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, code_hash));
"""
UNSYNCED = ("journaled", "printed")
TICKET_COLUMNS = "day, number, service, priority, issued_at, state, token_hash, code"


@dataclass(frozen=True)
class OfflineTicket:
    day: str
    number: str
    service: str
    priority: str
    issued_at: str
    state: str
    token_hash: str | None = None      # of the token on its QR code (hallq/contract/tokens.py)
    code: str | None = None            # an appointment checked in offline: its code, for the sync


class Journal:
    def __init__(self, path: str) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        private_database(path)
        self.db.execute("PRAGMA synchronous=FULL")   # a committed ticket survives a power cut
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(ticket)")}
        if "token_hash" not in columns:      # a journal written before phone pages existed
            self.db.execute("ALTER TABLE ticket ADD COLUMN token_hash TEXT")
        if "code" not in columns:            # ... before offline check-in
            self.db.execute("ALTER TABLE ticket ADD COLUMN code TEXT")

    def close(self) -> None:
        self.db.close()

    # --- leases ------------------------------------------------------------------------------
    def add_lease(self, service: str, day: str, start: int, end: int, prefix: str, leased_at: str) -> None:
        """Keep a block; the same block again (a repeated reply) changes nothing."""
        self.db.execute("INSERT OR IGNORE INTO lease VALUES (?,?,?,?,?,?,?)",
                        (service, day, start, end, start, prefix, leased_at))

    def remaining(self, service: str, day: str) -> int:
        row = self.db.execute('SELECT COALESCE(SUM("end" - next + 1), 0) FROM lease '
                              "WHERE service=? AND day=? AND next <= \"end\"", (service, day)).fetchone()
        return int(row[0])

    def leased(self, service: str, day: str) -> int:
        row = self.db.execute('SELECT COALESCE(SUM("end" - start + 1), 0) FROM lease WHERE service=? AND day=?',
                              (service, day)).fetchone()
        return int(row[0])

    def take_number(self, service: str, day: str, priority: str, issued_at: str,
                    token_hash: str | None = None, code: str | None = None,
                    code_hash: str | None = None) -> OfflineTicket | None:
        """The next leased number, journaled in the same transaction; None if none is left. With an
        appointment's code its booking is marked used in that transaction too."""
        with sqlite_transaction(self.db):
            row = self.db.execute('SELECT start, next, prefix FROM lease WHERE service=? AND day=? AND next <= "end" '
                                  "ORDER BY start DESC LIMIT 1", (service, day)).fetchone()
            if row is None:
                return None
            start, value, prefix = row
            number = f"{prefix}{value:03d}"
            self.db.execute("UPDATE lease SET next = next + 1 WHERE service=? AND day=? AND start=?",
                            (service, day, start))
            self.db.execute("INSERT INTO ticket (day, number, service, priority, issued_at, state, token_hash, code) "
                            "VALUES (?,?,?,?,?,'journaled',?,?)",
                            (day, number, service, priority, issued_at, token_hash, code))
            if code_hash is not None:
                self.db.execute("UPDATE appointment SET used=1 WHERE day=? AND code_hash=?", (day, code_hash))
        return OfflineTicket(day, number, service, priority, issued_at, "journaled", token_hash, code)

    # --- the day's booked slots (checked in offline) -------------------------------------------------
    def keep_appointments(self, day: str, booked: list[tuple[str, str, str]]) -> None:
        """The controller's list of the day's unused bookings (code hash, service, slot) replaces ours;
        a code already used here stays used."""
        with sqlite_transaction(self.db):
            used = {h for (h,) in self.db.execute("SELECT code_hash FROM appointment WHERE day=? AND used=1", (day,))}
            self.db.execute("DELETE FROM appointment WHERE day=?", (day,))
            self.db.executemany("INSERT INTO appointment VALUES (?,?,?,?,?)",
                                [(day, h, service, slot, int(h in used)) for h, service, slot in booked])

    def appointment(self, day: str, code_hash: str) -> tuple[str, str, bool] | None:
        """(service, slot, used) of a booking, or None."""
        row = self.db.execute("SELECT service, slot, used FROM appointment WHERE day=? AND code_hash=?",
                              (day, code_hash)).fetchone()
        return (row[0], row[1], bool(row[2])) if row else None

    # --- tickets joined from phones (their customers confirm arriving here while offline) --------------
    def keep_remote(self, day: str, waiting: list[tuple[str, str, str]]) -> None:
        """The controller's list of the day's remote tickets not yet confirmed (code hash, number,
        service) replaces ours; one whose arrival was noted here stays until the controller has it."""
        with sqlite_transaction(self.db):
            self.db.execute("DELETE FROM remote_ticket WHERE day=? AND arrived_at IS NULL", (day,))
            self.db.executemany("INSERT OR IGNORE INTO remote_ticket (day, code_hash, number, service) VALUES (?,?,?,?)",
                                [(day, h, number, service) for h, number, service in waiting])

    def remote_ticket(self, day: str, code_hash: str) -> tuple[str, str, bool] | None:
        """(number, service, arrival noted already) of a remote ticket, or None."""
        row = self.db.execute("SELECT number, service, arrived_at FROM remote_ticket WHERE day=? AND code_hash=?",
                              (day, code_hash)).fetchone()
        return (row[0], row[1], row[2] is not None) if row else None

    def note_arrival(self, day: str, code_hash: str, code: str, at: str) -> None:
        """Its customer is here: kept (with the code, which the controller is told) until sent."""
        self.db.execute("UPDATE remote_ticket SET arrived_at=?, code=? WHERE day=? AND code_hash=?",
                        (at, code, day, code_hash))

    def arrivals_unsent(self) -> list[tuple[str, str, str]]:
        """(day, code hash, code) of arrivals noted here the controller has not acknowledged, oldest first."""
        return list(self.db.execute("SELECT day, code_hash, code FROM remote_ticket WHERE arrived_at IS NOT NULL "
                                    "AND sent=0 ORDER BY arrived_at"))

    def arrival_sent(self, day: str, code_hash: str) -> None:
        self.db.execute("UPDATE remote_ticket SET sent=1, code=NULL WHERE day=? AND code_hash=?", (day, code_hash))

    # --- tickets -----------------------------------------------------------------------------
    def set_state(self, day: str, number: str, state: str, note: str = "") -> None:
        self.db.execute("UPDATE ticket SET state=?, note=? WHERE day=? AND number=?", (state, note, day, number))

    def unsynced(self, limit: int = 500) -> list[OfflineTicket]:
        rows = self.db.execute(f"SELECT {TICKET_COLUMNS} FROM ticket "
                               "WHERE state IN (?, ?) ORDER BY issued_at LIMIT ?", (*UNSYNCED, limit)).fetchall()
        return [OfflineTicket(*row) for row in rows]

    def count(self, state: str | None = None, service: str | None = None) -> int:
        query, params = "SELECT COUNT(*) FROM ticket WHERE 1=1", []
        if state is not None:
            states = UNSYNCED if state == "unsynced" else (state,)
            query += f" AND state IN ({','.join('?' * len(states))})"
            params += list(states)
        if service is not None:
            query += " AND service=?"
            params.append(service)
        return int(self.db.execute(query, params).fetchone()[0])

    def ticket(self, day: str, number: str) -> OfflineTicket | None:
        row = self.db.execute(f"SELECT {TICKET_COLUMNS} FROM ticket WHERE day=? AND number=?",
                              (day, number)).fetchone()
        return OfflineTicket(*row) if row else None

    # --- voids for issue requests the kiosk gave up on -----------------------------------------
    def add_pending_void(self, request_id: str, reason: str, created_at: str) -> None:
        """Note (or re-word) a void owed for an issue request; kept until the controller answers it."""
        self.db.execute("INSERT INTO pending_void VALUES (?,?,?) ON CONFLICT(request_id) DO UPDATE SET reason=excluded.reason",
                        (request_id, reason, created_at))

    def pending_voids(self) -> list[tuple[str, str]]:
        return [(r, reason) for r, reason in
                self.db.execute("SELECT request_id, reason FROM pending_void ORDER BY created_at")]

    def remove_pending_void(self, request_id: str) -> None:
        self.db.execute("DELETE FROM pending_void WHERE request_id=?", (request_id,))

    def prune(self, before_day: str) -> None:
        """Forget finished business days (leases are valid for their day only)."""
        with sqlite_transaction(self.db):
            self.db.execute("DELETE FROM lease WHERE day < ?", (before_day,))
            self.db.execute("DELETE FROM appointment WHERE day < ?", (before_day,))
            self.db.execute("DELETE FROM remote_ticket WHERE day < ?", (before_day,))
            self.db.execute("DELETE FROM ticket WHERE day < ? AND state NOT IN (?, ?)", (before_day, *UNSYNCED))
