"""The hall screen's view model: state and events in, what is shown and spoken out (no pixels)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from display.model import HallView
from hall.wire import BadDocument, PresenceDoc, convert, read
from hall.wire import EventDoc as Event
from hall.wire import StateDoc as HallState


def decode(payload, kind):
    """A document as the shell decodes it (bytes) or from a dict (tests)."""
    return read(payload, kind) if isinstance(payload, bytes) else convert(payload, kind)


def presence(view: HallView, online: bool, epoch: int, now: float) -> None:
    """What the shell does with the controller's presence, then tells the view."""
    view.availability.presence(PresenceDoc(online=online, epoch=epoch))
    view.connection_changed(now)


def link(view: HallView, up: bool, now: float) -> None:
    view.availability.link(up)
    view.connection_changed(now)
from hall.config import load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hall.toml"
WALL = datetime(2025, 3, 4, 2, 30, 15, tzinfo=timezone.utc)       # 10:30:15 in Shanghai, a Tuesday


def iso(offset_s: float = 0) -> str:
    return (WALL + timedelta(seconds=offset_s)).isoformat()


def make_state(seq: int = 10, mode: str = "open", **over) -> dict:
    state = {
        "hall": "h1", "epoch": 2, "seq": seq, "mode": mode, "message": None,
        "services": [
            {"id": "pay", "name": "缴费", "name_en": "Payment", "prefix": "A", "suspended": False,
             "waiting": 4, "est_wait_s": 361},
            {"id": "biz", "name": "业务办理", "prefix": "B", "suspended": True, "waiting": 0, "est_wait_s": 0},
        ],
        "counters": [
            {"id": "c1", "name": "1号窗口", "status": "serving", "ticket": {"number": "A011", "service": "pay"},
             "clerk": None},
            {"id": "c2", "name": "2号窗口", "status": "idle", "ticket": None, "clerk": None},
            {"id": "c3", "name": "3号窗口", "status": "suspended", "ticket": None, "clerk": None},
            {"id": "c4", "name": "4号窗口", "status": "offline", "ticket": None, "clerk": None},
        ],
        "recent_calls": [{"number": "A011", "counter": "c1", "at": iso(-30)},
                         {"number": "A010", "counter": "c2", "at": iso(-90)}],
        "announcements": ["今日16:00起暂停办理过户业务", "  "],
        "devices": {},
    }
    state.update(over)
    return state


def call_event(seq: int, number: str, counter: str, *, kind: str = "ticket_called", at: str | None = None,
               epoch: int = 2, called_at: str | None = None) -> Event:
    """As the controller sends it: the ticket carries called_at (the first call's time on a recall)."""
    at = at or iso()
    return decode({"epoch": epoch, "seq": seq, "type": kind, "at": at,
                   "ticket": {"id": f"t-{number}", "number": number, "service": "pay", "status": "called",
                              "called_at": called_at or at},
                   "counter": counter}, Event)


@pytest.fixture
def config():
    return load_config(EXAMPLE)


@pytest.fixture
def view(config) -> HallView:
    v = HallView(config, config.display[0], sound=True)
    link(v, True, 0.0)
    presence(v, True, 2, 0.0)
    v.apply_state(decode(make_state(), HallState), 0.0, WALL)
    return v


def spoken(view: HallView) -> list[tuple[str, str, bool]]:
    return [(c.number, c.counter_id, c.recall) for c in view.take_speech()]


# --- state -> view model -------------------------------------------------------------------
def test_state_becomes_view_model(view):
    vm = view.view(1.0, WALL)
    assert vm.screen == "open" and vm.hall_name == "城东供电营业厅"
    assert vm.clock == "10:30:15" and vm.date_zh == "2025年3月4日 星期二"
    counters = {c.id: c for c in vm.counters}
    assert counters["c1"].number == "A011" and counters["c1"].label_zh == ""
    assert counters["c2"].number == "" and counters["c2"].label_zh == "空闲"
    assert counters["c3"].label_zh == "暂停服务" and counters["c3"].label_en == "Suspended"
    assert counters["c4"].label_zh == "暂未开放"
    assert counters["c3"].name_en == "Counter 3"
    pay, biz = vm.services
    assert (pay.waiting, pay.est_zh, pay.est_en, pay.suspended) == (4, "约 7 分钟", "about 7 min", False)
    assert biz.suspended and biz.label_zh == "暂停办理"
    assert vm.notices == ("今日16:00起暂停办理过户业务",)          # blank notices are not shown
    assert [r.number for r in vm.recent] == ["A011", "A010"]
    assert vm.recent[0].counter_name == "1号窗口"
    assert vm.banners == ()
    # a restarted screen shows the latest call on the big panel, not flashing and not spoken
    assert vm.panel is not None and vm.panel.number == "A011" and not vm.panel.flashing
    assert view.take_speech() == []


def test_before_any_state_the_screen_says_connecting(config):
    v = HallView(config, config.display[0])
    vm = v.view(0.0, WALL)
    assert vm.screen == "connecting" and vm.panel is None and vm.counters == ()


def test_outage_banner_follows_mode(view):
    view.apply_state(decode(make_state(11, "outage", message="网络故障，正在抢修"), HallState), 1.0, WALL)
    vm = view.view(1.0, WALL)
    banner = vm.banner("outage")
    assert banner is not None
    assert banner.zh == "系统故障，请在休息区等候" and banner.detail == "网络故障，正在抢修"
    assert vm.counters, "the hall's picture stays under the banner"
    view.apply_state(decode(make_state(12, "open"), HallState), 2.0, WALL)
    assert view.view(2.0, WALL).banner("outage") is None


def test_closed_hall_shows_opening_hours(config):
    v = HallView(config, config.display[0])
    link(v, True, 0.0)
    v.apply_state(decode(make_state(mode="closed", hours=[["09:00", "12:00"], ["13:00", "17:00"]]), HallState),
                  0.0, WALL)
    vm = v.view(0.0, WALL)
    assert vm.screen == "closed"
    assert vm.hours_zh == "营业时间 09:00–12:00  13:00–17:00"
    assert vm.hours_en == "Opening hours 09:00–12:00  13:00–17:00"


def test_reconnect_banner_when_controller_presence_goes_offline(view):
    before = view.view(1.0, WALL)
    presence(view, False, 2, 2.0)
    vm = view.view(2.0, WALL)
    assert vm.banner("reconnecting") is not None
    assert vm.counters == before.counters and vm.services == before.services   # the last picture is kept
    presence(view, True, 3, 3.0)
    vm = view.view(3.0, WALL)
    assert vm.banner("reconnecting") is None and vm.banner("resumed") is not None
    assert view.view(3.0 + view.display.resumed_s + 0.1, WALL).banner("resumed") is None


def test_reconnect_banner_when_broker_unreachable(view):
    link(view, False, 5.0)
    assert view.view(5.0, WALL).banner("reconnecting") is not None
    link(view, True, 6.0)
    vm = view.view(6.0, WALL)
    assert vm.banner("reconnecting") is None and vm.banner("resumed") is not None


def test_bad_state_is_rejected_with_a_clear_error():
    with pytest.raises(BadDocument, match="seq"):
        decode(b'{"hall": "h1", "epoch": 1, "seq": "x", "mode": "open"}', HallState)
    with pytest.raises(BadDocument, match="mode"):
        decode(b'{"hall": "h1", "epoch": 1, "seq": 3}', HallState)


# --- events -> announcements ---------------------------------------------------------------------
def test_calls_are_announced_in_order_and_deduplicated_by_seq(view):
    for seq, number, counter in [(11, "A012", "c1"), (12, "A013", "c2"), (13, "B001", "c3")]:
        assert view.apply_event(call_event(seq, number, counter), 1.0, WALL)
    # QoS 1 may deliver the same event again: announced once
    assert not view.apply_event(call_event(12, "A013", "c2"), 1.05, WALL)
    assert spoken(view) == [("A012", "c1", False), ("A013", "c2", False), ("B001", "c3", False)]
    assert view.take_speech() == []


def test_three_calls_within_100ms_all_take_the_panel_in_turn(view):
    t0 = 10.0
    for i, (number, counter) in enumerate([("A012", "c1"), ("A013", "c2"), ("A014", "c4")]):
        view.apply_event(call_event(11 + i, number, counter), t0 + 0.04 * i, WALL)
    items = view.take_speech()
    shown: list[str] = []
    t = t0 + 0.1
    for _ in range(200):                      # bounded: 20 s of frames at 10 Hz
        vm = view.view(t, WALL)
        if not shown or shown[-1] != vm.panel.number:
            shown.append(vm.panel.number)
        # the speaker finishes each call 5 s after the panel started showing it
        current = view.panel
        if current.shown_at is not None and t - current.shown_at >= 5.0:
            view.speech_done(current.key)
        t += 0.1
    assert shown == ["A012", "A013", "A014"]
    assert [i.number for i in items] == ["A012", "A013", "A014"]


def test_panel_waits_for_the_voice_before_the_next_call(view):
    view.apply_event(call_event(11, "A012", "c1"), 0.0, WALL)
    view.apply_event(call_event(12, "A013", "c2"), 0.0, WALL)
    first = view.view(0.1, WALL).panel
    assert first.number == "A012" and first.flashing and first.queued == 1
    # hold time passed but A012 is still being spoken: it keeps the panel
    assert view.view(0.1 + view.display.call_hold_s + 1, WALL).panel.number == "A012"
    view.speech_done(view.panel.key)
    assert view.view(0.1 + view.display.call_hold_s + 1.1, WALL).panel.number == "A013"


def test_recall_is_announced_again(view):
    view.apply_event(call_event(11, "A012", "c1"), 0.0, WALL)
    view.apply_event(call_event(12, "A012", "c1", kind="ticket_recalled", at=iso(20), called_at=iso()), 20.0,
                     WALL + timedelta(seconds=20))
    assert spoken(view) == [("A012", "c1", False), ("A012", "c1", True)]


def test_old_calls_are_shown_but_not_spoken(view):
    old = call_event(11, "A012", "c1", at=iso(-(view.display.speak_max_age_s + 5)))
    assert view.apply_event(old, 0.0, WALL)
    assert view.take_speech() == []
    assert view.view(0.1, WALL).panel.number == "A012"


def test_without_sound_nothing_is_spoken_but_calls_still_take_turns(config):
    v = HallView(config, config.display[0], sound=False)
    link(v, True, 0.0)
    v.apply_state(decode(make_state(), HallState), 0.0, WALL)
    v.apply_event(call_event(11, "A012", "c1"), 0.0, WALL)
    v.apply_event(call_event(12, "A013", "c2"), 0.0, WALL)
    assert v.take_speech() == []
    assert v.view(0.1, WALL).panel.number == "A012"
    assert v.view(0.2 + config.display[0].call_hold_s, WALL).panel.number == "A013"


def test_seq_gap_is_repaired_from_the_next_state(view):
    view.apply_event(call_event(11, "A012", "c1", at=iso(1)), 1.0, WALL)
    # events 12 and 13 are lost (e.g. the broker dropped us for a moment); 14 arrives
    view.apply_event(call_event(14, "A015", "c3", at=iso(4)), 4.0, WALL)
    assert view.repair_pending
    state = make_state(14, recent_calls=[
        {"number": "A015", "counter": "c3", "at": iso(4)},
        {"number": "A014", "counter": "c2", "at": iso(3)},
        {"number": "A013", "counter": "c4", "at": iso(2)},
        {"number": "A012", "counter": "c1", "at": iso(1)},
    ])
    view.apply_state(decode(state, HallState), 4.1, WALL)
    assert not view.repair_pending
    # the missed calls are spoken, oldest first; nothing already announced is repeated
    assert spoken(view) == [("A012", "c1", False), ("A015", "c3", False), ("A013", "c4", False),
                            ("A014", "c2", False)]
    # the same events arriving late change nothing
    assert view.apply_event(call_event(13, "A013", "c4", at=iso(2)), 4.2, WALL)
    assert view.take_speech() == []


def test_reconnect_repairs_calls_missed_while_away(view):
    link(view, False, 1.0)
    link(view, True, 5.0)
    state = make_state(15, recent_calls=[{"number": "A020", "counter": "c2", "at": iso(3)},
                                         {"number": "A011", "counter": "c1", "at": iso(-30)}])
    view.apply_state(decode(state, HallState), 5.1, WALL + timedelta(seconds=5))
    assert spoken(view) == [("A020", "c2", False)]


def test_state_before_its_event_does_not_double_announce(view):
    # the controller's state may arrive before the event of the same change
    state = make_state(11, recent_calls=[{"number": "A012", "counter": "c1", "at": iso()},
                                         {"number": "A011", "counter": "c1", "at": iso(-30)}])
    view.apply_state(decode(state, HallState), 1.0, WALL)
    assert view.take_speech() == []
    view.apply_event(call_event(11, "A012", "c1"), 1.01, WALL)
    assert spoken(view) == [("A012", "c1", False)]


def test_counter_number_for_speech_comes_from_state_or_name(view, config):
    view.apply_state(decode(make_state(11, counters=[
        {"id": "c1", "name": "VIP窗口", "status": "idle", "ticket": None, "number": 9}]), HallState), 1.0, WALL)
    view.apply_event(call_event(12, "A012", "c1"), 1.0, WALL)
    view.apply_event(call_event(13, "A013", "c2"), 1.0, WALL)
    items = view.take_speech()
    assert [(i.counter_number, i.counter_name) for i in items] == [(9, "VIP窗口"), (2, "2号窗口")]
