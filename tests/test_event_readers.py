"""Every reader of the hall's events reads them with the controller's own structs: the web's copy
of the records and head office. Every event type the core can emit goes through both (a property
test over the event union); an appointment's check-in no longer stops them; an event that cannot
be read stops that hall's records loudly and never another hall's."""
from __future__ import annotations

import json
import typing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hallq.records.archive import HallArchive
from hallq.records.store import CentralStore
from hallq.core import events as e
from hallq.core.model import Alert, Appointment, CallingRules, Ticket
from hallq.contract.tokens import token_hash
from hallq.contract import BadDocument, event_bytes, read_event
from hallq.testing import wait_until

ZONE = ZoneInfo("Asia/Shanghai")
EVENT_TYPES = typing.get_args(e.AnyEvent)

moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2034, 12, 31),
                       timezones=st.just(ZONE))
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=24)
texts = st.text(max_size=60)
days = st.dates(min_value=datetime(2024, 1, 1).date(), max_value=datetime(2034, 12, 31).date()).map(str)
tickets = st.builds(Ticket, id=ids, number=st.from_regex(r"[A-Z]{1,2}[0-9]{3}", fullmatch=True), service=ids,
                    issued_at=moments, day=days, status=st.sampled_from(["waiting", "called", "served", "no_show",
                                                                        "voided"]),
                    clerk=st.none() | ids, rating=st.none() | st.integers(1, 3), counter=st.none() | ids,
                    transferred_from=st.none() | ids, appointment=st.booleans())
st.register_type_strategy(Ticket, tickets)
st.register_type_strategy(Appointment, st.builds(Appointment, code=ids, service=ids, slot=moments, day=days))
# the rules within the bounds the core keeps them in (set_rules refuses others)
st.register_type_strategy(CallingRules, st.builds(
    CallingRules, priority_per_normal=st.integers(0, 50), ageing_s=st.integers(0, 86400),
    auto_call_s=st.integers(0, 3600), journey_order=st.sampled_from(["issued", "step"]),
    appointment_place=st.sampled_from(["ahead", "interleaved"])))
st.register_type_strategy(Alert, st.builds(Alert, id=ids, kind=ids, severity=st.sampled_from(["critical", "warning"]),
                                           since=moments, text=texts))


def event_strategy(kind: type) -> st.SearchStrategy[e.Event]:
    extra: dict[str, st.SearchStrategy] = {"at": moments}
    hints = typing.get_type_hints(kind)
    for name, hint in hints.items():
        if hint is str and name != "at":
            extra[name] = ids
        elif name == "status" and kind is e.DeviceStatusChanged:
            extra[name] = st.dictionaries(ids, st.one_of(texts, st.integers(-999, 999), st.booleans()), max_size=4)
        elif hint == list[str]:
            extra[name] = st.lists(ids, max_size=3)
        elif hint is int:
            extra[name] = st.integers(0, 10_000)
        elif hint is float:
            extra[name] = st.floats(0, 10_000, allow_nan=False)
    return st.builds(kind, **extra)


events = st.sampled_from(EVENT_TYPES).flatmap(event_strategy)


@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_the_strategy_covers_every_event_the_core_can_emit(data):
    assert len(EVENT_TYPES) >= 31
    for kind in EVENT_TYPES:        # each builds: the property below sees every type
        assert isinstance(data.draw(event_strategy(kind)), kind)


@pytest.mark.processes
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(events, min_size=1, max_size=12))
def test_every_event_type_goes_through_the_records_exactly_as_the_controller_wrote_it(tmp_path_factory, batch):
    store = CentralStore(f"sqlite:///{tmp_path_factory.mktemp('records') / 'r.db'}")
    archive = HallArchive(store, "h1", lambda *a, **k: None)
    try:
        rows = []
        for seq, event in enumerate(batch, start=1):
            payload = event_bytes(3, seq, e.encode_event(event))   # as the controller publishes it
            wired = read_event(payload)
            assert (wired.epoch, wired.seq, wired.event) == (3, seq, event)
            assert json.loads(payload)["type"] == e.event_type(event)
            row = archive.take(payload)
            assert row is not None and row[1] == seq and row[3] == e.event_type(event)
            rows.append(row)
        archive.store_rows(rows)
        assert archive.contiguous == len(batch) and archive.blocked is None
        stored = store.query("SELECT seq, type, body FROM events WHERE hall = 'h1' ORDER BY seq")
        assert [(s, t) for s, t, _ in stored] == [(i, e.event_type(ev)) for i, ev in enumerate(batch, 1)]
        assert [read_event(b.encode()).event for _, _, b in stored] == batch
    finally:
        store.close()


def test_an_event_that_cannot_be_read_stops_the_records_before_it_and_says_why(tmp_path):
    store = CentralStore(f"sqlite:///{tmp_path / 'r.db'}")
    archive = HallArchive(store, "h1", lambda *a, **k: None)
    at = datetime(2026, 12, 4, 10, 0, tzinfo=ZONE)
    good = [event_bytes(1, s, e.encode_event(e.Announcement(at=at, text=f"n{s}"))) for s in (1, 2, 4)]
    newer = b'{"epoch":1,"seq":3,"type":"queue_rules_changed","at":"2026-12-04T10:00:00+08:00"}'
    huge = b'{"epoch":1,"seq":9223372036854775808,"type":"announcement","at":"2026-12-04T10:00:00+08:00","text":"x"}'
    rows = [archive.take(p) for p in (good[0], good[1], newer, huge, good[2])]
    archive.store_rows([r for r in rows if r is not None])
    assert rows[2] is None and rows[3] is None
    assert archive.contiguous == 2 and archive.blocked is not None and archive.blocked[0] == 3
    assert "queue_rules_changed" in archive.blocked[1] and "newer controller" in archive.blocked[1]
    assert store.query("SELECT seq FROM events ORDER BY seq") == [(1,), (2,), (4,)]    # nothing after it lost
    kept = store.quarantined("h1")
    assert {r[1] for r in kept} == {3, None} and any("seq" in r[2] for r in kept if r[1] is None)
    with pytest.raises(BadDocument, match="at most"):
        read_event(b'{"epoch":1,"seq":5,"type":"announcement","at":"2026-12-04T10:00:00+08:00","text":"'
                   + b"x" * 70_000 + b'"}')
    store.close()


# --- through the real web service ---------------------------------------------------------------------
@pytest.mark.processes
def test_an_appointment_check_in_leaves_the_webs_records_going(tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from webkit import start_web_hall, stop_web_hall
    hall = start_web_hall(tmp_path)
    kiosk = hall.client("kiosk.k1")
    try:
        slot = (datetime.now(ZONE) + timedelta(minutes=10)).replace(second=0, microsecond=0)
        booked = hall.admin.request("book", service="biz", slot=slot.isoformat(), code="88001234")
        assert booked["ok"], booked
        checked = kiosk.request("check_in", code="88001234")
        assert checked["ok"] and checked["ticket"]["appointment"], checked
        token = "phone-page-token-after-the-check-in"
        later = kiosk.request("issue", service="pay", token_hash=token_hash(token))
        assert later["ok"]
        web = hall.http()
        page = wait_until(lambda: (r := web.get(f"/t/{token}")).status_code == 200 and r.text, timeout=20,
                          what="the later ticket's phone page")
        assert later["ticket"]["number"] in page
        client, _ = hall.login()
        def waiting_for_pay(board: dict) -> list[str]:
            return next((w["numbers"] for w in board["waiting"] if w["service"] == "pay"), [])
        board = wait_until(lambda: waiting_for_pay(b := client.get("/api/board").json()) and b, timeout=20,
                           what="the console's waiting list")
        assert later["ticket"]["number"] in waiting_for_pay(board)
        assert not any(a["id"] == "records:blocked" for a in board["alerts"])
        assert "Traceback" not in hall.web.output()
    finally:
        kiosk.close()
        stop_web_hall(hall)
