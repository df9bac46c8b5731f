"""The hall screen's view model: state and events in, what is shown and spoken out (no pixels)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hallq.display.model import HallView
import json

from hallq.contract import BadDocument, PresenceDoc, convert, read, read_event
from hallq.contract import StateDoc as HallState
from hallq.contract import WireEvent as Event


def decode(payload, kind):
    """A document as the shell decodes it (bytes) or from a dict (tests)."""
    if kind is Event:
        return read_event(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    return read(payload, kind) if isinstance(payload, bytes) else convert(payload, kind)


def presence(view: HallView, online: bool, epoch: int, now: float) -> None:
    """What the shell does with the controller's presence, then tells the view."""
    view.availability.presence(PresenceDoc(online=online, epoch=epoch))
    view.connection_changed(now)


def link(view: HallView, up: bool, now: float) -> None:
    view.availability.link(up)
    view.connection_changed(now)
from hallq.runtime.config import load_config

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
            {"id": "c1", "name": "1号窗口", "status": "serving",
             "ticket": {"number": "A011", "service": "pay", "called_at": iso(-30)}, "clerk": None},
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
               epoch: int = 2, called_at: str | None = None, recalls: int | None = None) -> Event:
    """As the controller sends it: the ticket carries called_at (the first call's time on a recall)."""
    at = at or iso()
    recalls = (1 if kind == "ticket_recalled" else 0) if recalls is None else recalls
    return decode({"epoch": epoch, "seq": seq, "type": kind, "at": at,
                   "ticket": {"id": f"t-{number}", "number": number, "service": "pay", "status": "called",
                              "called_at": called_at or at, "recalls": recalls, "issued_at": iso(-600),
                              "day": "2025-03-04"},
                   "counter": counter}, Event)


def serving(state: dict, **at_counter: str | tuple[str, int] | None) -> dict:
    """The state with these counters serving these tickets (None: idle); (number, recalls) for a recall."""
    for counter in state["counters"]:
        if counter["id"] in at_counter:
            value = at_counter[counter["id"]]
            if value is None:
                counter.update(status="idle", ticket=None)
            else:
                number, recalls = value if isinstance(value, tuple) else (value, 0)
                counter.update(status="serving", ticket={"number": number, "service": "pay", "called_at": iso(),
                                                         "recalls": recalls})
    return state


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



def said(view: HallView) -> list[tuple[str, str, bool]]:
    return [(a.number, a.counter_id, a.call.recall) for a in view.take_announcements()]


def live(vm) -> list[tuple[str, str]]:
    return [(c.number, c.counter_id) for c in vm.calls]


def step(view: HallView, t: float, state: dict, *events: Event) -> None:
    """One change as the controller publishes it: its events, then the new state."""
    for event in events:
        view.apply_event(event, t, WALL + timedelta(seconds=t))
    view.apply_state(decode(state, HallState), t + 0.005, WALL + timedelta(seconds=t))


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
    assert (pay.waiting, pay.est_zh, pay.est_en, pay.suspended) == (4, "约7分钟", "about 7 min", False)
    assert biz.suspended and biz.label_zh == "暂停取号"
    assert vm.notices == ("今日16:00起暂停办理过户业务",)          # blank notices are not shown
    # A011 is at counter 1 now: a live call; A010 is history
    assert live(vm) == [("A011", "c1")] and [r.number for r in vm.recent] == ["A010"]
    assert vm.recent[0].counter_name == "2号窗口"
    assert vm.banners == ()
    # a restarted screen shows the calls it finds, not flashing, and announces none of them
    assert not vm.calls[0].flashing
    assert view.take_announcements() == []


def test_before_any_state_the_screen_says_connecting(config):
    v = HallView(config, config.display[0])
    vm = v.view(0.0, WALL)
    assert vm.screen == "connecting" and vm.calls == () and vm.counters == ()
    assert vm.title_zh == "正在连接排队系统…"


def test_outage_shows_the_operators_message_as_the_message(view):
    view.apply_state(decode(make_state(11, "outage", message="系统维护，业务照常取号"), HallState), 1.0, WALL)
    vm = view.view(1.0, WALL)
    banner = vm.banner("outage")
    # no fixed heading contradicting the operator's words
    assert banner is not None and (banner.zh, banner.en) == ("系统维护，业务照常取号", "")
    assert vm.counters, "the hall's picture stays under the banner"
    view.apply_state(decode(make_state(12, "outage"), HallState), 2.0, WALL)
    assert view.view(2.0, WALL).banner("outage") == type(banner)("outage", "系统维护中，请稍候",
                                                                  "System maintenance, please wait")
    view.apply_state(decode(make_state(13, "open"), HallState), 3.0, WALL)
    assert view.view(3.0, WALL).banner("outage") is None


def test_the_hall_wording_comes_from_its_config(tmp_path):
    text = EXAMPLE.read_text("utf-8").replace(
        "[[service]]", '[hall.texts]\noutage = "系统升级，请到人工窗口"\ncontroller_away = "请稍候"\n'
                       'closed = "今日已下班"\nsuspended = "暂停服务，请到其他窗口"\n\n[[service]]', 1)
    path = tmp_path / "hall.toml"
    path.write_text(text, "utf-8")
    config = load_config(path)
    v = HallView(config, config.display[0])
    link(v, True, 0.0)
    presence(v, True, 2, 0.0)
    v.apply_state(decode(make_state(mode="outage"), HallState), 0.0, WALL)
    vm = v.view(0.0, WALL)
    assert vm.banner("outage").zh == "系统升级，请到人工窗口"
    assert {c.id: c.label_zh for c in vm.counters}["c3"] == "暂停服务，请到其他窗口"
    v.apply_state(decode(make_state(seq=11), HallState), 0.5, WALL)        # the outage ended
    presence(v, False, 2, 1.0)
    assert v.view(1.0, WALL).banner("reconnecting").zh == "请稍候"
    v.apply_state(decode(make_state(seq=12, mode="closed"), HallState), 2.0, WALL)
    assert v.view(2.0, WALL).title_zh == "今日已下班"


def test_closed_hall_shows_opening_hours(config):
    v = HallView(config, config.display[0])
    link(v, True, 0.0)
    v.apply_state(decode(make_state(mode="closed", hours=[["09:00", "12:00"], ["13:00", "17:00"]]), HallState),
                  0.0, WALL)
    vm = v.view(0.0, WALL)
    assert vm.screen == "closed" and vm.title_zh == "暂停营业"
    assert vm.hours_zh == "营业时间 09:00–12:00  13:00–17:00"
    assert vm.hours_en == "Opening hours 09:00–12:00  13:00–17:00"


def test_reconnect_banner_when_controller_presence_goes_offline(view):
    before = view.view(1.0, WALL)
    presence(view, False, 2, 2.0)
    vm = view.view(2.0, WALL)
    assert vm.banner("reconnecting") is not None
    assert vm.counters == before.counters and vm.calls == before.calls   # the last picture is kept
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


# --- the calls area is the state's truth, at once ------------------------------------------------
def test_three_counters_calling_together_are_all_shown_at_once(view):
    step(view, 10.0, serving(make_state(11), c2="A012"), call_event(11, "A012", "c2"))
    step(view, 10.04, serving(make_state(12), c2="A012", c3="A013"), call_event(12, "A013", "c3"))
    step(view, 10.08, serving(make_state(13), c2="A012", c3="A013", c4="A014"), call_event(13, "A014", "c4"))
    vm = view.view(10.1, WALL)
    # every live call, newest first; the new ones flash, the one from before the restart does not
    assert live(vm) == [("A014", "c4"), ("A013", "c3"), ("A012", "c2"), ("A011", "c1")]
    assert [c.flashing for c in vm.calls] == [True, True, True, False]
    assert vm.calls[0].counter_name == "4号窗口" and vm.calls[0].counter_name_en == "Counter 4"
    assert said(view) == [("A012", "c2", False), ("A013", "c3", False), ("A014", "c4", False)]
    later = view.view(10.1 + view.display.flash_s, WALL)
    assert not any(c.flashing for c in later.calls) and live(later) == live(vm)


@pytest.mark.parametrize("how", ["served", "no_show", "transferred"])
def test_a_call_leaves_the_screen_when_its_ticket_leaves_the_counter(view, how):
    step(view, 1.0, serving(make_state(11), c2="A012"), call_event(11, "A012", "c2"))
    assert live(view.view(1.1, WALL))[0] == ("A012", "c2")
    done = {"epoch": 2, "seq": 12, "type": {"served": "ticket_served", "no_show": "ticket_no_show",
                                              "transferred": "ticket_transferred"}[how],
            "at": iso(5), "ticket": {"id": "t-A012", "number": "A012", "service": "pay", "issued_at": iso(-600),
                                   "day": "2025-03-04", "status": "served" if how == "served" else "waiting"},
            "counter": "c2", "service_s": 60.0, "from_service": "pay"}
    step(view, 5.0, serving(make_state(12), c2=None), decode(done, Event))
    vm = view.view(5.01, WALL)
    assert ("A012", "c2") not in live(vm)              # within the frame after the state
    assert {c.id: c.number for c in vm.counters}["c2"] == ""


def test_a_ticket_called_again_elsewhere_moves(view):
    step(view, 1.0, serving(make_state(11), c2="A012"), call_event(11, "A012", "c2"))
    step(view, 9.0, serving(make_state(12), c2=None, c3="A012"), call_event(12, "A012", "c3"))
    assert [(n, c) for n, c in live(view.view(9.1, WALL)) if n == "A012"] == [("A012", "c3")]


def test_recall_flashes_again_and_is_announced_as_a_recall(view):
    step(view, 0.0, serving(make_state(11), c2="A012"), call_event(11, "A012", "c2"))
    assert said(view) == [("A012", "c2", False)]
    t = 0.0 + view.display.flash_s + 10
    assert not view.view(t, WALL).calls[0].flashing
    step(view, t, serving(make_state(12), c2=("A012", 1)),
         call_event(12, "A012", "c2", kind="ticket_recalled", at=iso(t), called_at=iso()))
    call = view.view(t + 0.1, WALL).calls[0]
    assert (call.number, call.recall, call.flashing) == ("A012", True, True)
    assert said(view) == [("A012", "c2", True)]


def test_a_repeated_event_is_announced_once(view):
    assert view.apply_event(call_event(11, "A012", "c2"), 1.0, WALL)
    assert not view.apply_event(call_event(11, "A012", "c2"), 1.05, WALL)   # QoS 1 may deliver it again
    view.apply_state(decode(serving(make_state(11), c2="A012"), HallState), 1.1, WALL)
    assert said(view) == [("A012", "c2", False)]


def test_old_calls_are_shown_but_not_said(view):
    old = iso(-(view.display.speak_max_age_s + 5))
    step(view, 0.0, serving(make_state(11), c2="A012"), call_event(11, "A012", "c2", at=old))
    assert said(view) == []
    assert live(view.view(0.1, WALL))[0] == ("A012", "c2")


def test_without_sound_calls_are_shown_and_nothing_is_said(config):
    v = HallView(config, config.display[0], sound=False)
    link(v, True, 0.0)
    v.apply_state(decode(make_state(), HallState), 0.0, WALL)
    step(v, 1.0, serving(make_state(11), c2="A012", c3="A013"), call_event(11, "A012", "c2"),
         call_event(12, "A013", "c3"))
    assert v.take_announcements() == []
    assert live(v.view(1.1, WALL))[:2] == [("A013", "c3"), ("A012", "c2")]


def test_calls_that_no_event_brought_are_announced_from_the_state(view):
    # events lost (the broker dropped the screen for a moment): the next state shows and announces
    state = serving(make_state(15), c2="A020", c4="A021")
    state["counters"][3]["status"] = "serving"
    view.apply_state(decode(state, HallState), 5.0, WALL)
    assert said(view) == [("A020", "c2", False), ("A021", "c4", False)]
    assert [c.flashing for c in view.view(5.1, WALL).calls][:2] == [True, True]


def test_a_call_is_live_until_a_state_says_otherwise(view):
    view.apply_event(call_event(11, "A012", "c2"), 1.0, WALL)
    (item,) = view.take_announcements()
    assert view.is_live(item)                      # the event is here, its state not yet
    view.apply_state(decode(serving(make_state(11), c2="A012"), HallState), 1.01, WALL)
    assert view.is_live(item)
    view.apply_state(decode(serving(make_state(12), c2=None), HallState), 3.0, WALL)
    assert not view.is_live(item)                  # served before it was said: the voice skips it


def test_a_zone_speaks_only_its_counters(tmp_path):
    text = EXAMPLE.read_text("utf-8").replace('[[display]]\nid = "d1"', '[[display]]\nid = "d1"\nspeak_counters = ["c3"]')
    path = tmp_path / "hall.toml"
    path.write_text(text, "utf-8")
    config = load_config(path)
    v = HallView(config, config.display[0])
    link(v, True, 0.0)
    v.apply_state(decode(make_state(), HallState), 0.0, WALL)
    step(v, 1.0, serving(make_state(12), c2="A012", c3="A013"), call_event(11, "A012", "c2"),
         call_event(12, "A013", "c3"))
    assert [(a.number, a.counter_id) for a in v.take_announcements()] == [("A013", "c3")]
    assert len(v.view(1.1, WALL).calls) == 3      # every call is still shown


def test_counter_number_for_speech_comes_from_state_or_name(view):
    view.apply_state(decode(make_state(11, counters=[
        {"id": "c1", "name": "VIP窗口", "status": "idle", "ticket": None, "number": 9}]), HallState), 1.0, WALL)
    view.apply_event(call_event(12, "A012", "c1"), 1.0, WALL)
    view.apply_event(call_event(13, "A013", "c2"), 1.0, WALL)
    items = view.take_announcements()
    assert [(i.call.counter_number, i.call.counter_name) for i in items] == [(9, "VIP窗口"), (2, "2号窗口")]


def test_one_banner_at_a_time_and_a_declared_outage_wins(view):
    """After a controller restart during a declared outage the screen said "系统故障" in red and
    "服务已恢复 Service resumed" in green together: the outage stands until the hall ends it."""
    view.apply_state(decode(make_state(seq=11, mode="outage", message="网络故障，正在抢修"), HallState), 1.0, WALL)
    presence(view, False, 2, 2.0)                       # the controller restarts
    vm = view.view(2.0, WALL)
    assert [b.kind for b in vm.banners] == ["outage"]   # not "reconnecting" beside it
    presence(view, True, 3, 3.0)
    vm = view.view(3.0, WALL)
    assert [(b.kind, b.zh) for b in vm.banners] == [("outage", "网络故障，正在抢修")]   # no "resumed"
    view.apply_state(decode(make_state(seq=12), HallState), 4.0, WALL)           # the outage ended
    assert [b.kind for b in view.view(4.0, WALL).banners] == ["resumed"]        # now it is true
    later = 3.0 + view.display.resumed_s + 1
    assert view.view(later, WALL).banners == ()
    presence(view, False, 3, later + 1)
    assert [b.kind for b in view.view(later + 1, WALL).banners] == ["reconnecting"]
