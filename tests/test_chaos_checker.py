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
