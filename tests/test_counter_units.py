"""The counter's pure parts and its GPIO side on gpiozero's MockFactory (no broker)."""
from __future__ import annotations

import json
import queue

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from hypothesis import given, settings
from hypothesis import strategies as st

from hallq.counter.keys import KeyEdge, KeyPad, duplicate_pins
from hallq.counter.view import CounterView, LampView
from hallq.runtime.config import CounterConfig, CounterKeys, SignConfig, parse_config
from hallq.runtime.mqttlink import Inbound, LinkDown, LinkUp
from hallq.device.shell import LINK_SAID_EVERY_S, UNANSWERED_HOLD_S, DeviceRole, DeviceShell
from hallq.testing import RecordingLink
from hallq.contract import ReplyDoc, convert
from hallq.hardware.debounce import Debouncer

HALL = {"hall": {"id": "h1", "name": "x"}, "broker": {"host": "127.0.0.1", "port": 1},
        "service": [{"id": "pay", "name": "p", "prefix": "A"}],
        "counter": [{"id": "c1", "name": "1号窗口", "services": ["pay"]}]}
R = "hallq/v1/h1"


def counter_config(**kw) -> CounterConfig:
    return CounterConfig(id="c1", name="1号窗口", services=["pay", "biz"], **kw)


def state(seq: int, status: str = "idle", ticket: str | None = None, clerk: str | None = None, epoch: int = 1) -> dict:
    return {"hall": "h1", "epoch": epoch, "seq": seq, "mode": "open", "counters": [
        {"id": "c2", "status": "serving", "ticket": {"number": "A999", "service": "pay"}},
        {"id": "c1", "name": "1号窗口", "status": status,
         "ticket": {"number": ticket, "service": "pay"} if ticket else None, "clerk": clerk},
    ]}


class ViewRole(DeviceRole):
    """Only the counter's view behind the real shell (its routing, state order, availability)."""
    kind = "counter"

    def __init__(self, view: CounterView) -> None:
        self.view = view
        self.applied = 0

    def attach(self, shell: DeviceShell) -> None:
        super().attach(shell)
        self.view.availability = shell.availability

    def on_state(self, state) -> None:
        self.applied += self.view.apply_state(state)


class Harness:
    def __init__(self, view: CounterView) -> None:
        self.view = view
        self.role = ViewRole(view)
        self.shell = DeviceShell(parse_config(HALL, "hall.toml"), "counter.c1", self.role, link_factory=RecordingLink)

    def feed(self, item) -> None:
        self.shell.handle((0.0, item))

    def link_up(self) -> None:
        self.feed(LinkUp())

    def presence(self, online: bool, epoch: int = 1) -> None:
        self.feed(Inbound(f"{R}/presence/controller", json.dumps({"online": online, "epoch": epoch}).encode(), True))

    def state(self, doc) -> bool:
        """Publish a state through the shell; True if it reached the view and named our counter."""
        before = self.role.applied
        payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.feed(Inbound(f"{R}/state", payload, True))
        return self.role.applied > before

    def reply(self, body: dict) -> None:
        self.feed(Inbound(f"{R}/dev/counter.c1/res", json.dumps({"request_id": "r", **body}).encode(), False))


def online_view(**kw) -> CounterView:
    return online_harness(**kw).view


def online_harness(**kw) -> Harness:
    h = Harness(CounterView(counter_config(**kw)))
    h.link_up()
    h.presence(True)
    return h


def reply(body: dict) -> ReplyDoc:
    return convert({"request_id": "r", **body}, ReplyDoc)


def doc(d: dict):
    from hallq.contract import StateDoc
    return convert(d, StateDoc)


# --- debounce -----------------------------------------------------------------------------
def test_bounce_gives_one_press() -> None:
    d = Debouncer(bounce_s=0.05, repeat_s=1.0)
    edges = [10.0, 10.002, 10.004, 10.011, 10.030]
    assert [d.accept("next", t) for t in edges] == [True, False, False, False, False]


def test_double_press_gives_one_press_and_a_later_press_counts() -> None:
    d = Debouncer(bounce_s=0.05, repeat_s=1.0)
    assert d.accept("next", 0.0)
    assert not d.accept("next", 0.35)        # impatient second press
    assert d.accept("next", 1.5)             # a deliberate new call
    assert d.accept("finish", 1.6)           # keys are independent


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=0.999), min_size=1, max_size=30))
def test_any_burst_shorter_than_repeat_window_is_one_press(offsets: list[float]) -> None:
    d = Debouncer(bounce_s=0.05, repeat_s=1.0)
    accepted = [d.accept("next", 100.0 + t) for t in sorted(offsets)]
    assert accepted.count(True) == 1 and accepted[0] is True


# --- GPIO on MockFactory ------------------------------------------------------------------
@pytest.fixture
def factory():
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


def drain(inbox: queue.Queue) -> list:
    items = []
    while not inbox.empty():
        items.append(inbox.get_nowait())
    return items


def test_keypad_edges_through_debouncer_give_one_press(factory) -> None:
    keys = CounterKeys(transfer_to={"biz": 24})
    inbox: queue.Queue = queue.Queue()
    pad = KeyPad(keys, factory, inbox)
    pin = factory.pin(keys.next)
    for _ in range(4):           # a bouncing contact: four closures within a few ms
        pin.drive_low()
        pin.drive_high()
    factory.pin(24).drive_low()
    edges = drain(inbox)
    assert [e.key for e in edges] == ["next"] * 4 + ["transfer_to"]
    assert edges[-1].service == "biz"
    d = Debouncer(keys.bounce_s, keys.repeat_s)
    assert sum(d.accept(e.key, e.at) for e in edges if e.key == "next") == 1
    pad.close()


def test_lamps_light_exactly_one(factory) -> None:
    keys = CounterKeys()
    pad = KeyPad(keys, factory, queue.Queue())
    pad.show(LampView("serving"))
    assert pad.lit() == ["serving"]
    assert factory.pin(keys.lamp_serving).state and not factory.pin(keys.lamp_idle).state
    pad.show(LampView("offline"))
    assert pad.lit() == ["offline"]
    assert factory.pin(keys.lamp_offline).state and not factory.pin(keys.lamp_serving).state
    pad.close()


def test_duplicate_pins_are_found() -> None:
    assert duplicate_pins(CounterKeys()) == []
    assert duplicate_pins(CounterKeys(transfer_to={"biz": 5})) == [5]


# --- the counter's view -------------------------------------------------------------------
def test_offline_until_link_controller_and_state_are_all_there() -> None:
    h = Harness(CounterView(counter_config()))
    view = h.view
    assert view.lamp(0) == LampView("offline")
    assert view.sign().kind == "offline" and view.sign().text == "系统连接中，请稍候"
    h.link_up()
    h.presence(True)
    assert view.lamp(0).lit == "offline"          # no state seen yet
    assert h.state(state(5))
    assert view.lamp(0) == LampView("idle") and view.sign().text == "欢迎光临"
    h.presence(False)
    assert view.lamp(0) == LampView("offline") and view.sign().kind == "offline"


def test_serving_and_suspended_on_the_sign() -> None:
    view = online_view()
    view.apply_state(doc(state(6, "serving", "A012")))
    assert view.sign().text == "请A012号" and view.sign().kind == "serving"
    assert view.lamp(0).lit == "serving"
    view.apply_state(doc(state(7, "suspended")))
    assert view.sign().text == "暂停服务" and view.lamp(0).lit == "suspended"


def test_serving_text_template_and_a_broken_one() -> None:
    view = online_view(sign=SignConfig(serving_text="{number} {counter}"))
    view.apply_state(doc(state(1, "serving", "B003")))
    assert view.sign().text == "B003 1号窗口"
    broken = online_view(sign=SignConfig(serving_text="{nmber}"))
    broken.apply_state(doc(state(1, "serving", "B003")))
    assert broken.sign().text == "B003"


def test_older_state_is_ignored() -> None:
    h = online_harness()
    view = h.view
    assert h.state(state(10, "serving", "A002"))
    assert not h.state(state(9, "serving", "A001"))
    assert view.ticket and view.ticket.number == "A002"
    assert not h.state({"seq": "x"})
    assert not h.state({"hall": "h1", "mode": "open", "seq": 11, "epoch": 1, "counters": [{"id": "c9"}]})
    assert not h.state(b"\xff not json")
    assert view.ticket and view.ticket.number == "A002"


def test_state_saying_we_are_offline_is_the_controllers_lag_not_ours() -> None:
    view = online_view()
    view.apply_state(doc(state(3, "offline", "A004")))
    assert view.lamp(0).lit == "serving"


def test_replies_apply_at_once_and_rating_target_follows() -> None:
    view = online_view()
    view.apply_state(doc(state(1)))
    view.apply_reply("call_next", reply({"ok": True, "ticket": {"number": "A001", "service": "pay"}}), 0)
    assert view.sign().text == "请A001号" and view.last_served is None
    view.apply_reply("call_next", reply({"ok": True, "ticket": {"number": "A002", "service": "pay"}}), 0)
    assert view.last_served == "A001"
    view.apply_reply("finish", reply({"ok": True, "ticket": {"number": "A002", "status": "served"}}), 0)
    assert view.ticket is None and view.last_served == "A002" and view.lamp(0).lit == "idle"
    assert not view.rating_spent
    view.apply_reply("rate", reply({"ok": True, "ticket": {"number": "A002"}}), 0)
    assert view.rating_spent
    view.apply_reply("call_next", reply({"ok": True, "ticket": {"number": "A003", "service": "pay"}}), 0)
    assert view.rating_spent and view.last_served == "A002"   # quiet until A003 is served


def test_a_rating_the_controller_cannot_take_quiets_the_pad() -> None:
    view = online_view()
    view.apply_reply("rate", reply({"ok": False, "error": {"code": "not_serving", "message": "x"}}), 0)
    assert view.rating_spent
    view.apply_reply("finish", reply({"ok": True, "ticket": {"number": "A004"}}), 0)
    assert not view.rating_spent


def test_refusal_blinks_for_a_while_then_the_lamp_returns() -> None:
    view = online_view()
    view.apply_state(doc(state(1)))
    view.apply_reply("call_next", reply({"ok": False, "error": {"code": "no_ticket", "message": "none"}}), now=100.0)
    assert view.lamp(100.5) == LampView("idle", blink=True)
    assert view.lamp(103.0) == LampView("idle")
    view.gave_up(200.0)
    assert view.lamp(200.1) == LampView("offline", blink=True)
    assert view.lamp(203.0) == LampView("offline")      # held until the controller is heard from
    view.availability.heard()
    assert view.lamp(203.0) == LampView("idle")


def test_suspend_reply_carries_the_counter() -> None:
    view = online_view()
    view.apply_state(doc(state(1)))
    view.apply_reply("suspend", reply({"ok": True, "counter": {"id": "c1", "status": "suspended", "ticket": None}}), 0)
    assert view.sign().text == "暂停服务"
    view.apply_reply("resume", reply({"ok": True, "counter": {"id": "c1", "status": "idle", "ticket": None}}), 0)
    assert view.sign().text == "欢迎光临"


def test_key_edge_is_plain_data() -> None:
    assert KeyEdge("next", 1.0) == KeyEdge("next", 1.0, None)


def test_after_a_give_up_keys_stay_offline_until_the_controller_is_heard() -> None:
    h = online_harness()
    view = h.view
    h.state(state(4))
    view.gave_up(10.0)
    assert not view.online and view.sign().kind == "offline"
    assert view.lamp(15.0) == LampView("offline")
    assert not h.state(state(3))               # an older state is not hearing from it
    assert not view.online
    h.state(state(5))                          # a newer state is
    assert view.online
    view.gave_up(20.0)
    h.reply({"ok": True})                      # so is any reply, also a late one
    assert view.online
    view.gave_up(30.0)
    view.availability.expire(30.0 + UNANSWERED_HOLD_S - 1)
    assert not view.online
    view.availability.expire(30.0 + UNANSWERED_HOLD_S)   # a lost message does not lock the keys for ever
    assert view.online
    view.gave_up(100.0)
    h.presence(False)
    h.presence(True, epoch=2)                  # a restarted controller: a fresh start
    assert view.online


def test_a_controller_started_afresh_is_believed() -> None:
    """A controller whose epoch went back (its data lost) still gets its states read."""
    h = online_harness()
    h.presence(True, epoch=7)
    assert h.state(state(500, "serving", "A009", epoch=7))
    h.presence(False, epoch=7)
    h.presence(True, epoch=1)
    assert h.state(state(1, epoch=1))
    assert h.view.ticket is None


@pytest.mark.parametrize("extra, key", [
    ("[counter.keys]\nnext = 6\n", "counter[0].keys"),
    ("[counter.keys.transfer_to]\nnope = 24\n", "counter[0].keys.transfer_to.nope"),
    ("[counter.sign]\naddress = 0\n", "counter[0].sign.address"),
    ("[counter.sign]\nanswer_timeout_s = 0.0\n", "counter[0].sign.answer_timeout_s"),
    ("[counter.sign]\nprotocol = \"modbus\"\n", "counter[0].sign.protocol"),
])
def test_bad_counter_hardware_config_names_the_key(tmp_path, extra: str, key: str) -> None:
    from hallq.counter.app import check_counter_config
    from hallq.runtime.config import load_config
    from hallq.errors import ConfigError
    path = tmp_path / "hall.toml"
    path.write_text('[hall]\nid = "h1"\nname = "x"\n[[service]]\nid = "pay"\nname = "p"\nprefix = "A"\n'
                    '[[counter]]\nid = "c1"\nname = "1号窗口"\nservices = ["pay"]\n' + extra, "utf-8")
    with pytest.raises(ConfigError) as info:
        config = load_config(path)
        check_counter_config(config, config.counter[0])
    assert info.value.key == key and str(path) in str(info.value)


def test_a_link_that_keeps_dropping_is_one_log_line_every_half_minute(caplog):
    """A flapping broker link (a starved machine, a bad cable) is said once with a count, not a line per drop."""
    now = [1000.0]
    shell = DeviceShell(parse_config(HALL, "hall.toml"), "counter.c1", ViewRole(CounterView(counter_config())),
                        link_factory=RecordingLink, clock=lambda: now[0])
    caplog.set_level("WARNING", logger="hallq.device.shell")
    for _ in range(50):                      # 50 drops in 25 s
        shell.handle((now[0], LinkUp()))
        shell.handle((now[0], LinkDown("Unspecified error")))
        now[0] += 0.5
    lines = [r.getMessage() for r in caplog.records if "link lost" in r.getMessage()]
    assert lines == ["broker link lost: Unspecified error"]
    now[0] += LINK_SAID_EVERY_S
    shell.handle((now[0], LinkDown("Unspecified error")))
    lines = [r.getMessage() for r in caplog.records if "link lost" in r.getMessage()]
    assert lines[1:] == ["broker link lost: Unspecified error (50 losses since the last such line)"]
