"""The counter terminal against a real Mosquitto and the real controller.

The counter runs in this process (its owner loop in a thread) so the test can press its keys on
gpiozero's MockFactory and read the bytes its sign confirmed over ``loop://`` or a real serial
line (a pty). A second set of tests runs ``hallq counter --stub`` as a process, driven only by
``R/sim`` as an acceptance check would.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from paho.mqtt.enums import CallbackAPIVersion

from hallq.counter.app import CounterRole
from hallq.counter.view import LampView
from hallq.runtime.config import load_config
from hallq.runtime.mqttlink import forget_unsent
from hallq.runtime.loop import StopFlag
from hallq.device.shell import DeviceShell
from hallq.hardware.pins import make_pin_factory
from hallq.testing.sign_emulator import SignEmulator
from hallq.testing import WAIT_S, Broker, Process, TestClient, start_controller, wait_until

R = "hallq/v1/h1"
GB = "gb18030"


class Rig:
    """One counter app in a thread, with its MockFactory pins at hand."""

    def __init__(self, config_path: Path, data: Path, counter_id: str = "c1", sign_url: str | None = "loop://",
                 tweak: Callable[[Any], None] | None = None) -> None:
        config = load_config(config_path)
        counter = config.counter_by_id(counter_id)
        assert counter is not None
        counter.keys.repeat_s = 0.3      # short double-press window; presses below wait it out
        if tweak:
            tweak(counter)
        self.counter = counter
        self.factory = MockFactory(pin_class=MockPWMPin)
        self.app = CounterRole(config, counter, self.factory, sign_url=sign_url)
        self.shell = DeviceShell(config, f"counter.{counter.id}", self.app, stub=True, data_dir=str(data))
        self.pressed_at: dict[str, float] = {}
        self.stop_flag = StopFlag()
        self.thread = threading.Thread(target=self.shell.run, args=(self.stop_flag,), daemon=True)
        self.thread.start()

    def press(self, key: str, pin: int | None = None, bounces: int = 1) -> None:
        """A deliberate press: after the double-press window of the key's last press has passed."""
        last = self.pressed_at.get(key if pin is None else "transfer_to")
        if last is not None:
            time.sleep(max(0.0, last + self.counter.keys.repeat_s + 0.05 - time.monotonic()))
        self.bounce(key, pin, bounces)

    def bounce(self, key: str, pin: int | None = None, bounces: int = 1) -> None:
        """Edges right now, whatever came before (contact bounce, an impatient finger)."""
        self.pressed_at[key if pin is None else "transfer_to"] = time.monotonic()
        gpio = self.factory.pin(pin if pin is not None else getattr(self.counter.keys, key))
        for _ in range(bounces):
            gpio.drive_low()
            gpio.drive_high()

    def lamp(self) -> list[str]:
        assert self.app.keypad is not None
        return self.app.keypad.lit()

    def sign_shows(self, text: str, timeout: float = WAIT_S) -> bytes:
        """Wait until the sign confirmed ``text``; return the frame it confirmed."""
        def shown() -> bytes | None:
            health = self.app.sign_health
            return health.frame if health and health.ok and health.shown == text else None
        return wait_until(shown, timeout, f"sign showing {text!r} (now {self.app.sign_health})")

    def wait_lamp(self, lamp: str) -> None:
        wait_until(lambda: self.lamp() == [lamp] and not self.app.keypad._shown.blink, what=f"lamp {lamp}")

    def close(self) -> None:
        self.stop_flag.set()
        self.thread.join(WAIT_S)
        self.factory.reset()


@pytest.fixture
def rig_factory(hall_config: Path, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(**kw: Any) -> Rig:
        rig = Rig(kw.pop("config_path", hall_config), tmp_path / f"counter-{len(rigs)}", **kw)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def issue(broker: Broker, *services: str) -> list[str]:
    kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    try:
        return [kiosk.request("issue", service=s)["ticket"]["number"] for s in services]
    finally:
        kiosk.close()


def counter_entry(state: dict[str, Any], counter_id: str = "c1") -> dict[str, Any]:
    return next(c for c in state["counters"] if c["id"] == counter_id)


def await_event(admin: TestClient, kind: str, number: str, start: int = 0) -> dict[str, Any]:
    return admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == kind
                          and (d.get("ticket") or {}).get("number") == number, start=start)


def events_of(admin: TestClient, kind: str, start: int = 0) -> list[dict[str, Any]]:
    return [ev for ev in admin.events(start) if ev["type"] == kind]


# --- calling ------------------------------------------------------------------------------
def test_press_next_shows_the_controllers_ticket_on_the_sign(broker, controller, admin, rig_factory) -> None:
    assert issue(broker, "pay", "pay") == ["A001", "A002"]
    rig = rig_factory()
    rig.sign_shows("欢迎光临")
    rig.wait_lamp("idle")
    mark = admin.mark()
    rig.press("next")
    called = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_called", start=mark)
    assert called["counter"] == "c1" and called["ticket"]["number"] == "A001"
    frame = rig.sign_shows("请A001号")
    assert frame == "请A001号".encode(GB) + b"\r\n"     # the bytes that came back over loop://
    assert frame == b"\xc7\xebA001\xba\xc5\r\n"
    rig.wait_lamp("serving")
    state = admin.state(lambda s: (counter_entry(s)["ticket"] or {}).get("number") == "A001", start=mark)
    assert counter_entry(state)["status"] == "serving"
    rig.press("next")                                    # A001 served, A002 called
    rig.sign_shows("请A002号")
    rig.press("finish")
    rig.sign_shows("欢迎光临")
    rig.wait_lamp("idle")
    await_event(admin, "ticket_served", "A002", mark)
    assert [e["ticket"]["number"] for e in events_of(admin, "ticket_called", mark)] == ["A001", "A002"]
    assert sorted(e["ticket"]["number"] for e in events_of(admin, "ticket_served", mark)) == ["A001", "A002"]


def test_sign_bytes_on_a_real_serial_line(broker, controller, admin, rig_factory, tmp_path) -> None:
    sign = SignEmulator(tmp_path / "ttyLED", protocol="ledbox", address=4)
    try:
        def ledbox(counter: Any) -> None:
            counter.sign.protocol, counter.sign.address = "ledbox", 4
            counter.sign.port = str(sign.link)
        issue(broker, "biz")
        rig = rig_factory(sign_url=None, tweak=ledbox)
        rig.sign_shows("欢迎光临")
        rig.press("next")
        rig.sign_shows("请B001号")
        text = "请B001号".encode(GB)
        body = bytes([4, 0x31, 0, len(text) + 2, 0, 1]) + text
        assert sign.frames[-1] == bytes([0xAA]) + body + bytes([sum(body) & 0xFF, 0x55])
    finally:
        sign.close()


def test_bounce_and_double_press_give_one_call(broker, controller, admin, rig_factory) -> None:
    issue(broker, "pay", "pay", "pay")

    def slow_fingers(counter: Any) -> None:
        counter.keys.repeat_s = 30.0     # so the second press below is surely inside the window
    rig = rig_factory(tweak=slow_fingers)
    rig.wait_lamp("idle")
    mark = admin.mark()
    rig.bounce("next", bounces=5)        # a bouncing contact
    rig.sign_shows("请A001号")
    rig.bounce("next")                   # the impatient second press, after the first was answered
    rig.press("recall")                  # a different key: processed after the presses above
    admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_recalled", start=mark)
    assert [e["ticket"]["number"] for e in events_of(admin, "ticket_called", mark)] == ["A001"]
    assert events_of(admin, "ticket_served", mark) == []
    state = admin.state(lambda s: s["services"][0]["waiting"] == 2, start=mark)
    assert counter_entry(state)["ticket"]["number"] == "A001"


# --- suspend, transfer, rating, login -----------------------------------------------------
def test_suspend_shows_on_sign_and_state_and_calls_go_elsewhere(broker, controller, admin, rig_factory) -> None:
    rig = rig_factory()
    rig.wait_lamp("idle")
    mark = admin.mark()
    rig.press("suspend")
    rig.sign_shows("暂停服务")
    rig.wait_lamp("suspended")
    admin.state(lambda s: counter_entry(s)["status"] == "suspended", start=mark)
    assert issue(broker, "pay") == ["A001"]
    rig.press("next")                  # refused by the controller: counter_suspended
    wait_until(lambda: rig.app.keypad._shown.blink, what="refusal blink")
    other = broker.client("counter.c2", subscribe=[f"{R}/dev/counter.c2/res"])
    try:
        assert other.request("call_next")["ticket"]["number"] == "A001"
    finally:
        other.close()
    admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_called", start=mark)
    assert [e["counter"] for e in events_of(admin, "ticket_called", mark)] == ["c2"]
    rig.press("suspend")                    # toggles back
    rig.sign_shows("欢迎光临")
    assert counter_entry(admin.state_after("counter_resumed", start=mark))["status"] == "idle"


def test_transfer_key_then_service_key(broker, controller, admin, rig_factory) -> None:
    issue(broker, "pay")

    def with_target(counter: Any) -> None:
        counter.keys.transfer_to = {"biz": 24}
    rig = rig_factory(tweak=with_target)
    rig.wait_lamp("idle")
    mark = admin.mark()
    rig.press("next")
    rig.sign_shows("请A001号")
    rig.press("to:biz", pin=24)             # a target key alone does nothing
    rig.press("transfer")
    rig.press("to:biz", pin=24)
    moved = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_transferred", start=mark)
    assert moved["ticket"]["number"] == "A001" and moved["ticket"]["service"] == "biz"
    rig.sign_shows("欢迎光临")
    assert len(events_of(admin, "ticket_transferred", mark)) == 1


def test_rating_is_stored_once(broker, controller, admin, rig_factory) -> None:
    issue(broker, "pay", "pay")
    rig = rig_factory()
    rig.wait_lamp("idle")
    mark = admin.mark()
    rig.press("next")
    rig.sign_shows("请A001号")
    rig.press("finish")
    rig.sign_shows("欢迎光临")
    rig.bounce("rate_1", bounces=3)
    rated = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_rated", start=mark)
    assert rated["ticket"]["number"] == "A001" and rated["rating"] == 1
    rig.press("rate_3")                          # a second rating of the same ticket
    rig.press("next")                            # the next customer; A002 is not rated by anyone
    rig.sign_shows("请A002号")
    await_event(admin, "ticket_called", "A002", mark)
    assert [(e["ticket"]["number"], e["rating"]) for e in events_of(admin, "ticket_rated", mark)] == [("A001", 1)]


def test_clerk_from_config_and_by_key_sequence(broker, controller, admin, rig_factory) -> None:
    def clerks(counter: Any) -> None:
        counter.clerk = "王芳"
        counter.clerks = ["王芳", "李强"]
    rig = rig_factory(tweak=clerks)
    admin.state(lambda s: counter_entry(s)["clerk"] == "王芳")
    # as a clerk would: once the counter itself shows the login done (its reply handled, nothing in flight)
    wait_until(lambda: rig.app.view.clerk == "王芳" and not rig.app.requests.busy_with({"login", "logout"}),
               what="the counter logged in")
    rig.press("transfer")
    rig.press("recall")                          # transfer, recall: the next clerk logs in
    admin.state(lambda s: counter_entry(s)["clerk"] == "李强")


# --- offline ------------------------------------------------------------------------------
def test_controller_killed_shows_offline_and_skips_nobody(broker, hall_config, admin, rig_factory, tmp_path) -> None:
    ctl = start_controller(hall_config, tmp_path, admin)
    try:
        issue(broker, "pay", "pay", "pay")
        rig = rig_factory()
        rig.wait_lamp("idle")
        rig.press("next")
        rig.sign_shows("请A001号")
        ctl.kill()
        rig.sign_shows("系统连接中，请稍候")
        rig.wait_lamp("offline")
        mark = admin.mark()
        rig.press("next")                        # while the controller is away: refused, not queued
        wait_until(lambda: rig.app.keypad._shown.blink, what="offline blink")
        assert rig.app.requests.pending == {}
        ctl = start_controller(hall_config, tmp_path, admin)
        rig.sign_shows("请A001号")                # back, still serving A001
        rig.wait_lamp("serving")
        state = admin.state(lambda s: s["services"][0]["waiting"] == 2, start=mark)
        assert counter_entry(state)["ticket"]["number"] == "A001"
        assert events_of(admin, "ticket_called", mark) == [] and events_of(admin, "ticket_served", mark) == []
        rig.press("next")                        # the next press calls the next customer, A002
        rig.sign_shows("请A002号")
        await_event(admin, "ticket_called", "A002", mark)
        assert [e["ticket"]["number"] for e in events_of(admin, "ticket_called", mark)] == ["A002"]
    finally:
        ctl.stop()


def test_unanswered_press_is_given_up_and_never_sent_again(broker, hall_config, admin, rig_factory,
                                                           tmp_path) -> None:
    ctl = start_controller(hall_config, tmp_path, admin)
    watcher = TestClient(broker.port, "watch-requests", broker.credentials["controller"], username="controller",
                         subscribe=[f"{R}/dev/counter.c1/req", f"{R}/dev/counter.c1/res"])
    try:
        issue(broker, "pay")

        def impatient(counter: Any) -> None:
            counter.give_up_s = 2.5
        rig = rig_factory(tweak=impatient)
        rig.wait_lamp("idle")
        rig.press("recall")                       # a request answered in time (refused: nothing to recall)
        wait_until(lambda: "recall: not_serving" in (rig.app.last_refusal or ""), what="the recall's answer")
        answered = {json.loads(p)["request_id"] for t, p, _ in list(watcher.messages) if t.endswith("/req")}
        os.kill(ctl.proc.pid, signal.SIGSTOP)     # alive for the broker, answering nothing
        rig.press("next")
        wait_until(lambda: rig.app.requests.pending == {} and rig.app.keypad._shown == LampView("offline", True),
                   what="give-up")

        def copies() -> list[str]:
            return [rid for t, p, _ in list(watcher.messages) if t.endswith("/req")
                    and (rid := json.loads(p)["request_id"]) not in answered]
        sent = copies()
        assert len(set(sent)) == 1 and 2 <= len(sent) <= 4     # resent with the same id, then dropped
        assert rig.app.view.sign().kind == "offline"
        mark = admin.mark()
        rig.press("next")                 # the clerk tries again: refused until the controller answers
        time.sleep(2.0)                   # two resend intervals: nothing more goes out
        assert copies() == sent
        os.kill(ctl.proc.pid, signal.SIGCONT)
        # it wakes and reads what was in its socket: the "next" the counter gave up on is refused as
        # expired, not applied late (no customer called behind the clerk's back); the counter hears
        # from it and is online again
        late = watcher.wait_for(lambda t, d: t.endswith("/res") and d.get("request_id") == sent[0])
        wait_until(lambda: rig.app.view.online, what="heard from the controller again")
        assert not late["ok"] and late["error"]["code"] == "expired", late
        events = admin.events(mark)
        assert [e for e in events if e["type"] in ("ticket_called", "ticket_served")] == []
        rig.press("next")                 # the clerk's next press calls A001, once
        await_event(admin, "ticket_called", "A001", mark)
    finally:
        watcher.close()
        ctl.kill()                                              # SIGKILL also ends a stopped process


def test_broker_gone_shows_offline_and_refuses_presses(broker, controller, admin, rig_factory) -> None:
    issue(broker, "pay")
    rig = rig_factory()
    rig.wait_lamp("idle")
    broker.kill()
    rig.sign_shows("系统连接中，请稍候")
    rig.press("next")
    wait_until(lambda: rig.app.keypad._shown.blink, what="offline blink")
    assert rig.app.requests.pending == {}


def test_forgotten_messages_are_never_delivered_after_reconnect(broker, admin) -> None:
    """What the counter does with a given-up request: paho must not send it after a reconnect."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="counter.c4", protocol=mqtt.MQTTv311)
    client.username_pw_set("counter.c4", broker.credentials.get("counter.c4"))
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    wait_until(connected.is_set, what="connection")
    broker.kill()
    wait_until(lambda: not client.is_connected(), what="disconnect")
    client.loop_stop()                 # reconnect below, once the watcher listens
    topic = f"{R}/dev/counter.c4/req"
    stale = client.publish(topic, json.dumps({"op": "call_next", "request_id": "stale-1"}), qos=1)
    client.publish(topic, json.dumps({"op": "recall", "request_id": "kept-1"}), qos=1)
    assert forget_unsent(client, [stale.mid]) == 1
    assert forget_unsent(client, [stale.mid]) == 0
    broker.start()
    watcher = broker.client("controller", subscribe=[f"{R}/dev/+/req"])   # only it may read requests
    try:                               # (listening: the client returns once the broker took its subscription)
        connected.clear()
        client.reconnect()
        client.loop_start()
        wait_until(connected.is_set, what="reconnect")
        # the kept one proves paho resends after a reconnect; the forgotten one never comes
        watcher.wait_for(lambda t, d: isinstance(d, dict) and d.get("request_id") == "kept-1")
        client.publish(topic, json.dumps({"op": "recall", "request_id": "marker"}), qos=1).wait_for_publish(5)
        watcher.wait_for(lambda t, d: isinstance(d, dict) and d.get("request_id") == "marker")
        seen = [json.loads(p).get("request_id") for t, p, _ in watcher.messages]
        assert "stale-1" not in seen and seen.count("kept-1") == 1
    finally:
        watcher.close()
        client.disconnect()
        client.loop_stop()


# --- the sign on a serial line: garbage and unplug ------------------------------------------
def test_garbage_from_the_sign_is_a_status_fault_and_the_sign_is_redrawn(broker, controller, admin, rig_factory,
                                                                          tmp_path) -> None:
    sign = SignEmulator(tmp_path / "ttyLED", protocol="line", mode="garbage")
    try:
        def on_pty(counter: Any) -> None:
            counter.sign.port = str(sign.link)
            counter.sign.retry_s = 0.2
        issue(broker, "pay")
        rig = rig_factory(sign_url=None, tweak=on_pty)
        status_topic = f"{R}/dev/counter.c1/status"
        fault = admin.wait_for(lambda t, d: t == status_topic and d.get("sign") == "fault")
        assert "garbage" in fault["detail"]
        rig.wait_lamp("idle")                    # the counter works on without its sign
        rig.press("next")
        admin.state(lambda s: (counter_entry(s)["ticket"] or {}).get("number") == "A001")
        mark = admin.mark()
        sign.mode = "ok"
        admin.wait_for(lambda t, d: t == status_topic and d.get("sign") == "ok", start=mark)
        rig.sign_shows("请A001号")
        assert sign.frames[-1] == "请A001号".encode(GB) + b"\r\n"
        mark = admin.mark()
        sign.unplug()
        assert "unplugged" in admin.wait_for(lambda t, d: t == status_topic and d.get("sign") == "fault",
                                             start=mark)["detail"]
        sign.frames.clear()
        sign.replug()
        admin.wait_for(lambda t, d: t == status_topic and d.get("sign") == "ok", start=mark)
        assert sign.frames[-1] == "请A001号".encode(GB) + b"\r\n"
    finally:
        sign.close()


# --- `hallq counter --stub` as a process, driven over R/sim -------------------------------
@pytest.fixture
def stub_counter(broker, hall_config, controller, admin, tmp_path) -> Iterator[Process]:
    mark = admin.mark()
    proc = Process(["counter", "--config", str(hall_config), "--id", "c1", "--stub", "--data",
                    str(tmp_path / "counter-data")], tmp_path, "counter").start()
    try:
        admin.wait_for(lambda t, d: t == f"{R}/dev/counter.c1/status" and d.get("sign") == "ok", start=mark)
    except TimeoutError:
        proc.kill()
        raise RuntimeError(proc.output()) from None
    yield proc
    proc.stop()


def test_stub_counter_over_sim(broker, admin, stub_counter) -> None:
    sim = f"{R}/sim/counter.c1"
    presence = admin.wait_for(lambda t, d: t == f"{R}/presence/counter.c1")
    assert presence["online"] is True and presence["boot"] >= 1
    issue(broker, "pay", "pay")
    mark = admin.mark()
    admin.publish(sim, b"not json")
    admin.publish(sim, {"press": "no_such_key"})
    admin.publish(sim, {"press": "next"})
    admin.state(lambda s: (counter_entry(s)["ticket"] or {}).get("number") == "A001", start=mark)
    admin.publish(sim, {"press": "transfer", "service": "biz"})
    moved = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_transferred", start=mark)
    assert moved["ticket"]["service"] == "biz"
    assert counter_entry(admin.state_after("ticket_transferred", start=mark))["ticket"] is None
    mark = admin.mark()
    admin.publish(sim, {"press": "suspend"})
    assert counter_entry(admin.state_after("counter_suspended", start=mark))["status"] == "suspended"
    mark = admin.mark()
    admin.publish(sim, {"press": "resume"})
    assert counter_entry(admin.state_after("counter_resumed", start=mark))["status"] == "idle"
    # back to back, as a script sends them: each waits for the one before
    for press in ("next", "finish", "rate_2"):
        admin.publish(sim, {"press": press})
    rated = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_rated", start=mark)
    # the transferred A001 kept its issue time, so c1 (pay and biz) calls it before A002
    assert rated["ticket"]["number"] == "A001" and rated["ticket"]["service"] == "biz" and rated["rating"] == 2
    admin.publish(sim, {"login": "张伟"})
    admin.state(lambda s: counter_entry(s)["clerk"] == "张伟", start=mark)
    status = f"{R}/dev/counter.c1/status"
    admin.publish(sim, {"sign": "unplugged"})
    admin.wait_for(lambda t, d: t == status and d.get("sign") == "fault", start=mark)
    admin.publish(sim, {"sign": "ok"})
    admin.wait_for(lambda t, d: t == status and d.get("sign") == "ok", start=mark)
    assert stub_counter.proc is not None and stub_counter.proc.poll() is None
    mark = admin.mark()
    assert stub_counter.stop() == 0
    gone = admin.wait_for(lambda t, d: t == f"{R}/presence/counter.c1", start=mark)
    assert gone == {"online": False, "boot": presence["boot"]}


def test_unknown_counter_id_is_a_config_error(hall_config, tmp_path) -> None:
    proc = Process(["counter", "--config", str(hall_config), "--id", "c99", "--stub"], tmp_path, "bad").start()
    assert proc.proc is not None and proc.proc.wait(WAIT_S) == 2
    assert "c99" in proc.output()


def test_no_gpio_is_a_keys_fault_on_status_not_a_crash(broker, hall_config, controller, admin, tmp_path) -> None:
    # on a machine without GPIO, without --stub gpiozero finds no pin factory
    try:
        make_pin_factory(False)
    except Exception:
        pass
    else:
        pytest.skip("this machine has GPIO")
    mark = admin.mark()
    proc = Process(["counter", "--config", str(hall_config), "--id", "c3"], tmp_path, "counter-c3").start()
    try:
        status = admin.wait_for(lambda t, d: t == f"{R}/dev/counter.c3/status" and d.get("sign") == "ok", start=mark)
        assert status["keys"] == "fault" and status["keys_detail"]
        assert admin.wait_for(lambda t, d: t == f"{R}/presence/counter.c3", start=mark)["online"] is True
    finally:
        assert proc.stop() == 0


def test_a_numeric_keypad_calls_a_ticket_out_of_order(broker, controller, admin, rig_factory) -> None:
    """call, a service key, three digits: that ticket is called ahead of its turn (contract v1.1 `call`)."""
    for _ in range(3):
        issue(broker, "pay")                                  # A001 A002 A003
    issue(broker, "biz")                                      # B001

    def keypad(counter: Any) -> None:
        counter.keys.call = 24
        counter.keys.digits = [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]
        counter.keys.transfer_to = {"biz": 25}
    rig = rig_factory(tweak=keypad)
    rig.wait_lamp("idle")
    digit = rig.counter.keys.digits
    mark = admin.mark()
    rig.press("call")
    for d in (0, 0, 3):                                      # the counter's first service: pay -> A003
        rig.bounce(f"digit_{d}", pin=digit[d])
        time.sleep(0.1)
    called = await_event(admin, "ticket_called", "A003", mark)
    assert called.get("out_of_order") is True
    rig.sign_shows("请A003号")
    rig.press("finish")
    mark = admin.mark()
    rig.press("call")
    rig.press("transfer", pin=25)                             # the biz key chooses the prefix: B001
    for d in (0, 0, 1):
        rig.bounce(f"digit_{d}", pin=digit[d])
        time.sleep(0.1)
    await_event(admin, "ticket_called", "B001", mark)
    assert [e["ticket"]["number"] for e in events_of(admin, "ticket_called", mark)] == ["B001"]
