"""Kiosk parts that need no broker: debounce, journal, pins, presses on mock GPIO, sim payloads."""
from __future__ import annotations

import json
import queue

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallq.runtime.config import parse_config
from hallq.errors import ConfigError
from hallq.hardware.pins import make_pin_factory
from hallq.runtime.mqttlink import Inbound
from hallq.device.shell import DeviceShell
from hallq.testing import RecordingLink
from hallq.hardware.debounce import Debouncer
from hallq.kiosk.app import KioskRole
from hallq.kiosk.panel import resolve_pins
from hallq.kiosk.journal import Journal
from hallq.printer.transport import StubPrinter

HALL = {
    "hall": {"id": "h1", "name": "城东供电营业厅", "timezone": "Asia/Shanghai"},
    "broker": {"host": "127.0.0.1", "port": 1},          # nothing listens: the kiosk is offline
    "service": [{"id": "pay", "name": "缴费 Payment", "prefix": "A"},
                {"id": "biz", "name": "业务办理 Applications", "prefix": "B"}],
    "counter": [{"id": "c1", "name": "1号窗口", "services": ["pay", "biz"]}],
    "kiosk": [{"id": "k1", "services": ["pay", "biz"]}],
}


# --- debounce ------------------------------------------------------------------------------
def test_debounce_chatter_gives_one_press():
    d = Debouncer(0.3)
    edges = [10.0, 10.002, 10.005, 10.011, 10.02, 10.1]
    assert [d.accept("pay", t) for t in edges] == [True, False, False, False, False, False]
    assert d.accept("pay", 10.5)            # quiet for 0.4 s: a new press
    assert d.accept("biz", 10.5)            # buttons are independent


@settings(max_examples=200)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=50))
def test_debounce_accepted_presses_are_quiet_periods_apart(times):
    d = Debouncer(0.3)
    times.sort()
    accepted = [t for t in times if d.accept("pay", t)]
    assert accepted[0] == times[0]
    for earlier, later in zip(times, times[1:]):
        if later in accepted and later != earlier:
            assert later - earlier >= 0.3


# --- journal -------------------------------------------------------------------------------
def test_journal_takes_numbers_from_leases_in_order(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    j.add_lease("pay", "2026-11-23", 980, 999, "A", "t")
    j.add_lease("pay", "2026-11-23", 980, 999, "A", "t")     # repeated reply: ignored
    j.add_lease("pay", "2026-11-23", 960, 979, "A", "t")
    assert j.remaining("pay", "2026-11-23") == 40
    numbers = [j.take_number("pay", "2026-11-23", "normal", f"t{i}").number for i in range(21)]
    assert numbers[:2] == ["A980", "A981"] and numbers[19] == "A999" and numbers[20] == "A960"
    assert len(set(numbers)) == 21
    assert j.remaining("pay", "2026-11-23") == 19
    assert j.take_number("pay", "2026-11-24", "normal", "t") is None      # leases are per day
    assert j.count("unsynced") == 21


def test_journal_survives_reopen_and_keeps_states(tmp_path):
    path = str(tmp_path / "j.sqlite")
    j = Journal(path)
    j.add_lease("biz", "2026-11-23", 999, 999, "B", "t")
    t = j.take_number("biz", "2026-11-23", "priority", "2026-11-23T10:00:00+08:00")
    j.add_pending_void("rid-1", "gave up", "t")
    j.close()
    j = Journal(path)
    assert j.take_number("biz", "2026-11-23", "normal", "t") is None      # the one number is used
    [again] = j.unsynced()
    assert (again.number, again.priority, again.state) == ("B999", "priority", "journaled")
    j.set_state(t.day, t.number, "synced")
    assert j.unsynced() == [] and j.pending_voids() == [("rid-1", "gave up")]
    j.remove_pending_void("rid-1")
    assert j.pending_voids() == []


def test_journal_prune_keeps_unsynced(tmp_path):
    j = Journal(str(tmp_path / "j.sqlite"))
    j.add_lease("pay", "2026-11-22", 990, 999, "A", "t")
    a = j.take_number("pay", "2026-11-22", "normal", "a")
    b = j.take_number("pay", "2026-11-22", "normal", "b")
    j.set_state(a.day, a.number, "synced")
    j.prune("2026-11-23")
    assert [t.number for t in j.unsynced()] == [b.number]
    assert j.ticket(a.day, a.number) is None


# --- pins ----------------------------------------------------------------------------------
def test_pins_default_and_refusals():
    config = parse_config(HALL, "hall.toml")
    buttons, lamps, prio, prio_lamp = resolve_pins(config.kiosk[0], "hall.toml", 0)
    assert set(buttons) == {"pay", "biz"} and len(set(buttons.values()) | set(lamps.values()) | {prio, prio_lamp}) == 6
    bad = dict(HALL, kiosk=[{"id": "k1", "services": ["pay"], "buttons": {"service_pins": {"biz": 5}}}])
    with pytest.raises(ConfigError, match="service_pins.biz"):
        resolve_pins(parse_config(bad, "hall.toml").kiosk[0], "hall.toml", 0)
    clash = dict(HALL, kiosk=[{"id": "k1", "services": ["pay"], "buttons": {"service_pins": {"pay": 12}}}])
    with pytest.raises(ConfigError, match="also"):
        resolve_pins(parse_config(clash, "hall.toml").kiosk[0], "hall.toml", 0)


# --- the kiosk without a broker (offline from the start) ------------------------------------
@pytest.fixture
def offline_kiosk(tmp_path):
    made = []

    def make(lease: bool = True, hall_over: dict | None = None, **kiosk_over):
        hall = dict(HALL, kiosk=[{"id": "k1", "services": ["pay", "biz"], **kiosk_over}])
        hall["hall"] = {**HALL["hall"], **(hall_over or {})}
        config = parse_config(hall, str(tmp_path / "hall.toml"))
        printer = StubPrinter(str(tmp_path / "out"))
        role = KioskRole(config, "k1", printer, make_pin_factory(True), str(tmp_path / "data"))
        DeviceShell(config, "kiosk.k1", role, stub=True, data_dir=str(tmp_path / "data"),   # attaches the role
                            link_factory=RecordingLink)
        if lease:
            role.journal.add_lease("pay", role.today(), 980, 999, "A", "t")
        made.append(role)
        return role

    yield make
    for k in made:
        k.close()


def drain(k: KioskRole) -> None:
    """Play the owner loop by hand: every queued item through the shell."""
    while True:
        try:
            item = k.shell.inbox.get_nowait()
        except queue.Empty:
            return
        k.shell.handle(item)


def sim(k: KioskRole, payload: bytes) -> None:
    """An R/sim message, routed by the shell as the broker would bring it."""
    k.shell.handle((0.0, Inbound("hallq/v1/h1/sim/kiosk.k1", payload, False)))


def test_mock_pin_chatter_gives_one_offline_ticket(offline_kiosk):
    k = offline_kiosk()
    pin = k.panel.buttons["pay"].pin
    for _ in range(5):                 # a bouncing contact: five edges within a few ms
        pin.drive_low()
        pin.drive_high()
    drain(k)
    assert k.printed == ["A980"]
    assert k.journal.ticket(k.today(), "A980").state == "printed"
    data = k.printer.jobs[-1][1]
    assert b"\x1c&" in data and "离线取号".encode("gb18030") in data


def test_press_during_print_is_dropped(offline_kiosk):
    k = offline_kiosk(buttons={"bounce_s": 0.0})
    k.on_press("pay", 1e9 - 1)          # a press long ago ... printed
    # a press whose time lies before the end of that print (it queued while printing)
    k.on_press("biz", k.busy_until - 0.001)
    assert k.printed == ["A980"]


def test_priority_then_service_issues_priority(offline_kiosk):
    k = offline_kiosk()
    sim(k, b'{"press": "pay", "priority": true}')
    drain(k)
    [ticket] = k.journal.unsynced()
    assert ticket.priority == "priority"
    assert "优先".encode("gb18030") in k.printer.jobs[-1][1]


def test_printer_out_means_no_ticket_and_no_number_used(offline_kiosk):
    k = offline_kiosk()
    sim(k, b'{"printer": "paper_out"}')
    sim(k, b'{"press": "pay"}')
    drain(k)
    assert k.printed == [] and k.journal.count() == 0
    assert k.status()["printer"] == "paper_out"
    assert k.panel.modes["pay"] == "fast"


def test_print_failure_offline_voids_the_journaled_number(offline_kiosk):
    k = offline_kiosk()
    sim(k, b'{"printer_fail_next": "paper_out"}')
    sim(k, b'{"press": "pay"}')
    drain(k)
    assert k.journal.ticket(k.today(), "A980").state == "void"
    assert k.journal.unsynced() == []
    assert k.model.printer_condition == "paper_out"


def test_bad_sim_payloads_change_nothing(offline_kiosk):
    k = offline_kiosk()
    for payload in (b"not json", b"[1,2]", b'{"press": 5}', b'{"press": "nope"}', b'{"printer": "on_fire"}',
                    b'{"printer": "ok", "press": "nope"}', b'{"priority": "yes"}', b"\xff\xfe"):
        sim(k, payload)
    drain(k)
    assert k.printed == [] and k.printer.condition == "ok" and k.journal.count() == 0


def test_no_lease_offline_prints_refusal_slip_only(offline_kiosk):
    k = offline_kiosk(lease=False)
    sim(k, b'{"press": "biz"}')
    drain(k)
    assert k.journal.count() == 0
    assert k.printed and k.printed[0].startswith("slip-")
    assert k.model.reason == "no_lease" and k.panel.modes["biz"] == "off"


def test_hours_closed_offline_refuses(offline_kiosk, tmp_path):
    k = offline_kiosk(refused_slip=False, hall_over={"hours": [["00:00", "00:01"]]})
    if k.setup.in_hours(k.now()):
        pytest.skip("the test ran in the one open minute")
    sim(k, b'{"press": "pay"}')
    drain(k)
    assert k.printed == [] and k.journal.count() == 0 and k.model.reason == "hall_closed"


def test_press_again_after_the_ticket_is_out_is_a_new_ticket(offline_kiosk):
    k = offline_kiosk()                      # bounce_s 0.3 (the default)
    k.on_press("pay", 100.0)
    assert k.printed == ["A980"]
    k.busy_until = 100.01                    # that ticket was out 10 ms later
    k.on_press("pay", 100.03)                # chatter 30 ms after: still the same press
    assert k.printed == ["A980"]
    k.on_press("pay", 100.2)                 # a new press once the ticket is out
    assert k.printed == ["A980", "A981"]


def test_double_press_while_issuing_is_one_ticket(offline_kiosk):
    k = offline_kiosk()
    k.on_press("pay", 100.0)
    k.busy_until = 101.0                     # the printer was busy for a second
    k.on_press("pay", 100.5)                 # pressed again while it printed
    assert k.printed == ["A980"]


# --- an arrival noted while the controller was away, told once it answers -------------------------
def sent(k: KioskRole, op: str) -> list[dict]:
    """The kiosk's requests of ``op`` handed to its (recording) link, oldest first."""
    requests = [json.loads(p) for t, p, _ in k.shell.link.published if t == "hallq/v1/h1/dev/kiosk.k1/req"]
    return [r for r in requests if r["op"] == op]


def reply(k: KioskRole, request: dict, doc: dict) -> None:
    """The controller's answer to ``request``, as the broker would bring it."""
    k.shell.handle((0.0, Inbound("hallq/v1/h1/dev/kiosk.k1/res",
                                 json.dumps({"request_id": request["request_id"], **doc}).encode(), False)))


def test_an_arrival_noted_offline_is_told_until_acknowledged_and_not_more_often_than_every_few_seconds(offline_kiosk):

    from hallq.contract.tokens import code_hash
    k = offline_kiosk()
    day = k.today()
    hashed = code_hash(k.appointments.key, "123456")
    k.journal.keep_remote(day, [(hashed, "A005", "pay")])
    k.shell.link.up()
    k.shell.handle((0.0, Inbound("hallq/v1/h1/presence/controller", b'{"online": true, "epoch": 1}', True)))
    drain(k)
    result = k.appointments.check_in_offline("123456", k.now())
    assert (result.number, result.service) == ("A005", "pay")
    k.journal.note_arrival(day, result.code_hash, result.code, k.now().isoformat())
    k.appointments.noted()
    assert k.appointments.check_in_offline("123456", k.now()) == "already_checked_in"

    def told() -> list[dict]:
        return sent(k, "check_in")

    def answer(request: dict, doc: dict) -> None:
        reply(k, request, doc)

    k.shell.tick(100.0)
    assert [r["code"] for r in told()] == ["123456"] and k.appointments.unsent == 1
    answer(told()[-1], {"ok": False, "error": {"code": "rate_limited", "message": "slow down"}})
    k.shell.tick(102.0)
    assert len(told()) == 1                                  # not again at once
    k.shell.tick(105.5)
    assert len(told()) == 2                                  # a few seconds later
    answer(told()[-1], {"ok": True})
    for now in (106.0, 120.0, 200.0):
        k.shell.tick(now)
    assert len(told()) == 2 and k.appointments.unsent == 0 and k.journal.arrivals_unsent() == []


def test_a_void_refused_for_now_is_asked_again_until_answered_and_kept_in_the_journal_meanwhile(offline_kiosk):
    """A ticket the kiosk gave up on must leave the queue: a void refused as rate_limited (the
    controller's answer to that request, for good) is asked again a little later as a new request."""

    k = offline_kiosk()
    k.shell.link.up()
    k.shell.handle((0.0, Inbound("hallq/v1/h1/presence/controller", b'{"online": true, "epoch": 1}', True)))
    drain(k)
    k.journal.add_pending_void("issue-7", "kiosk gave up waiting", k.now().isoformat())
    k._send_void("issue-7", "kiosk gave up waiting")

    def voids() -> list[dict]:
        return sent(k, "void")

    def answer(request: dict, doc: dict) -> None:
        reply(k, request, doc)

    assert [v["issue_request_id"] for v in voids()] == ["issue-7"]
    k.shell.tick(100.0)                                                       # the owner loop ticks all along
    answer(voids()[-1], {"ok": False, "error": {"code": "rate_limited", "message": "slow down"}})
    assert [rid for rid, _ in k.journal.pending_voids()] == ["issue-7"]      # still to be voided
    k.shell.tick(100.0)
    k.shell.tick(101.0)
    assert len(voids()) == 1                                                  # not again at once
    k.shell.tick(102.5)
    assert len(voids()) == 2 and voids()[-1]["issue_request_id"] == "issue-7"
    assert voids()[-1]["request_id"] != voids()[0]["request_id"]            # a new request: the old one was answered
    answer(voids()[-1], {"ok": True, "ticket": None})
    for now in (110.0, 200.0):
        k.shell.tick(now)
    assert len(voids()) == 2 and k.journal.pending_voids() == []
