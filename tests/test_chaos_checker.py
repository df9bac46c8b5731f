"""The chaos run's checker tells a ticket a SIGKILLed kiosk never printed (its process replaced by a
later one of the same kiosk) from a real loss, by the request ids' per-process tags in event order."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hallq.core import events as e
from hallq.core.model import Ticket

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))

import chaos  # noqa: E402

AT = datetime(2026, 12, 5, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def issued(number: str) -> e.TicketIssued:
    return e.TicketIssued(at=AT, ticket=Ticket(id=f"20261205-{number}", number=number, service="biz", issued_at=AT,
                                               day="2026-12-05", source="kiosk.k1"))


def reply(ticket: str) -> bytes:
    return json.dumps({"ok": True, "ticket": {"id": f"20261205-{ticket}"}}).encode()


def test_a_kiosk_replaced_by_one_that_only_synced_offline_tickets_was_killed_with_its_last_issue():
    events = [issued("B013"), issued("B014"), issued("B980")]
    replies = [("kiosk.k1", "aaaa-16", "issue", reply("B013")), ("kiosk.k1", "aaaa-17", "issue", reply("B014")),
               ("kiosk.k1", "bbbb-3", "sync", json.dumps({"ok": True, "tickets": [{"id": "20261205-B980"}]}).encode())]
    assert chaos.in_flight_when_killed(events, replies, "kiosk.k1", "20261205-B014")
    assert not chaos.in_flight_when_killed(events, replies, "kiosk.k1", "20261205-B013")   # not its last
    # no later process of that kiosk: its last ticket unprinted is a loss, not a kill
    assert not chaos.in_flight_when_killed(events[:2], replies[:2], "kiosk.k1", "20261205-B014")


def test_a_ticket_printed_just_after_the_traffic_stopped_is_not_a_ghost(tmp_path):
    """The end-of-run audit waits for what the kiosks had in flight: a ticket whose reply reached its
    kiosk a moment after the traffic stopped is printed then, not a ghost; one never printed stays one."""
    import sqlite3
    import threading

    from hallq.simulator.audit import wait_for_kiosks_in_flight

    db_path = tmp_path / "controller.db"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, day TEXT NOT NULL, body BLOB NOT NULL)")
    for seq, number in enumerate(["B013", "B014"], 1):
        db.execute("INSERT INTO events VALUES (?, ?, ?)", (seq, "2026-12-05", e.encode_event(issued(number))))
    db.commit()
    db.close()
    tickets = tmp_path / "tickets"
    tickets.mkdir()
    (tickets / "B013.bin").write_bytes(b"printed before")
    printer = threading.Timer(1.0, lambda: (tickets / "B014.bin").write_bytes(b"printed late"))
    printer.start()
    try:
        assert wait_for_kiosks_in_flight(db_path, {"k1": tickets}, still_s=10.0) == []
    finally:
        printer.cancel()
    (tickets / "B014.bin").unlink()
    assert wait_for_kiosks_in_flight(db_path, {"k1": tickets}, still_s=0.5) == ["2026-12-05:B014"]
