"""Lost and doubled tickets: what the kiosks printed against what the controller recorded.

- printed: every ``<number>.bin`` a stub kiosk wrote with ``--printer-out`` (refusal slips excluded),
  plus every time the simulator saw such a file written again (a reprint).
- lost: a printed number the controller does not hold for the day (a customer with a ticket the
  hall does not know), or a ticket the controller issued to a kiosk, never voided, that no kiosk
  printed (a ghost that costs everyone behind it a no-show wait).
- doubled: a number printed by two kiosks or twice, or issued twice by the controller.
Both must be zero.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hallq.core import events as e
from hallq.core.model import Ticket
from hallq.records.day import open_read_only


@dataclass
class Audit:
    printed: dict[str, list[str]] = field(default_factory=dict)     # number -> kiosks that printed it
    issued_events: Counter[str] = field(default_factory=Counter)     # number -> ticket_issued events
    tickets: dict[str, Ticket] = field(default_factory=dict)         # number -> last recorded form
    lost_printed: list[str] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    reprints: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(self.lost_printed) + len(self.ghosts)

    @property
    def doubled_count(self) -> int:
        return len(self.doubled)

    def count(self, status: str) -> int:
        return sum(1 for t in self.tickets.values() if t.status == status)

    @property
    def offline_issued(self) -> int:
        return sum(1 for t in self.tickets.values() if t.offline)

    @property
    def outage_issued(self) -> int:
        return sum(1 for t in self.tickets.values() if t.outage)


def printed_numbers(ticket_dirs: dict[str, Path]) -> dict[str, list[str]]:
    printed: dict[str, list[str]] = {}
    for kiosk, folder in ticket_dirs.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.name.endswith(".bin") and not entry.name.startswith("slip-"):
                printed.setdefault(entry.name[:-4], []).append(kiosk)
    return printed


def audit_day(db_path: Path, day: str, ticket_dirs: dict[str, Path], reprints: list[str] | None = None) -> Audit:
    a = Audit(printed=printed_numbers(ticket_dirs), reprints=list(reprints or []))
    db = open_read_only(db_path)
    try:
        rows = db.execute("SELECT body FROM events WHERE day = ? ORDER BY seq", (day,)).fetchall()
    finally:
        db.close()
    for (body,) in rows:
        event = e.decode_event(body)
        ticket = getattr(event, "ticket", None)
        if not isinstance(ticket, Ticket) or ticket.day != day:
            continue
        if isinstance(event, e.TicketIssued):
            a.issued_events[ticket.number] += 1
        a.tickets[ticket.number] = ticket
    a.lost_printed = sorted(n for n in a.printed if n not in a.tickets)
    a.ghosts = sorted(n for n, t in a.tickets.items()
                      if t.source.startswith("kiosk.") and t.status != "voided" and n not in a.printed)
    doubled = {n for n, kiosks in a.printed.items() if len(kiosks) > 1}
    doubled |= {n for n, count in a.issued_events.items() if count > 1}
    doubled |= set(a.reprints)
    a.doubled = sorted(doubled)
    return a


def wait_for_kiosks_in_flight(db_path: Path, ticket_dirs: dict[str, Path], still_s: float = 6.0,
                              limit_s: float = 30.0) -> list[str]:
    """Once the traffic has stopped, wait (kiosks still running) until what they had in flight is done,
    and return the ghosts left (day:number).

    A ticket the controller issued whose reply is still on its way to its kiosk, or that the kiosk
    gave up on (after 3 s) and is about to void, is not a ghost yet: judged at once, it was reported
    as one (a run that printed it 3 s after the check). So the audit is repeated until no ghost is
    left, or the ghosts have not changed for ``still_s`` (those left are for the audit to judge:
    say, a kiosk killed before it printed), and ``limit_s`` at most."""
    def ghosts() -> set[str]:
        db = open_read_only(db_path)
        try:
            days = [d for (d,) in db.execute("SELECT DISTINCT day FROM events")]
        finally:
            db.close()
        return {f"{day}:{n}" for day in days for n in audit_day(db_path, day, ticket_dirs).ghosts}
    start = time.monotonic()
    left, changed = ghosts(), start
    while left and time.monotonic() - changed < still_s and time.monotonic() - start < limit_s:
        time.sleep(0.25)
        now_left = ghosts()
        if now_left != left:
            left, changed = now_left, time.monotonic()
    return sorted(left)
