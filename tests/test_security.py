"""The generated Mosquitto config keeps strangers out and devices in their lanes.

A forbidden publish is dropped silently by Mosquitto, so each check publishes the forbidden
message and then an allowed marker from the same client: messages of one publisher arrive in
order, so when the marker has arrived, the forbidden one would have arrived before it.
"""
from __future__ import annotations

import json
import time

import pytest

from hallq.testing import TestClient

R = "hallq/v1/h1"


def connect_result(port: int, username: str | None, password: str | None) -> object:
    client = TestClient(port, username or "anon", password, subscribe=[], connect=False, username=username)
    if username is None:
        client.c.username_pw_set(None, None)
    client.c.connect("127.0.0.1", port)
    client.c.loop_start()
    client.connected.wait(3)
    for _ in range(100):
        if client.refused is not None or client.connected.is_set():
            break
        client.connected.wait(0.05)
    client.c.loop_stop()
    return client.refused if client.refused is not None else "accepted"


def test_anonymous_and_wrong_password_refused(broker):
    assert str(connect_result(broker.port, None, None)) == "Not authorized"
    assert str(connect_result(broker.port, "kiosk.k1", "wrong")) == "Not authorized"
    assert str(connect_result(broker.port, "kiosk.k9", "whatever")) == "Not authorized"
    assert connect_result(broker.port, "kiosk.k1", broker.credentials["kiosk.k1"]) == "accepted"


def dropped(watcher: TestClient, writer: TestClient, topic: str, payload: dict, retain: bool = False) -> bool:
    """Publish ``payload`` on ``topic`` as ``writer``, then a marker on its own status topic."""
    start = watcher.mark()
    writer.publish(topic, payload, retain=retain)
    marker_topic = f"{R}/dev/{writer.client_id}/status"
    writer.publish(marker_topic, {"marker": start})
    watcher.wait_for(lambda t, d: t == marker_topic and d == {"marker": start}, start=start)
    with watcher.cond:
        got = [json.loads(p) for t, p, _ in watcher.messages[start:] if t == topic]
    return payload not in got


@pytest.fixture
def watcher(broker):
    """Sees every topic of the hall (the controller's rights), under another client id."""
    client = TestClient(broker.port, "watcher", broker.credentials["controller"], username="controller")
    yield client
    client.close()


@pytest.mark.parametrize("writer,topic", [
    ("kiosk.k1", f"{R}/state"),
    ("kiosk.k1", f"{R}/event"),
    ("kiosk.k1", f"{R}/presence/controller"),
    ("kiosk.k1", f"{R}/dev/kiosk.k2/req"),
    ("kiosk.k1", f"{R}/dev/counter.c1/req"),
    ("kiosk.k1", f"{R}/dev/kiosk.k1/res"),
    ("kiosk.k1", f"{R}/presence/kiosk.k2"),
    ("kiosk.k1", f"{R}/sim/kiosk.k2"),
    ("display.d1", f"{R}/dev/kiosk.k1/req"),
    ("counter.c1", f"{R}/dev/counter.c2/req"),
    ("counter.c1", f"{R}/state"),
])
def test_devices_cannot_write_outside_their_lane(broker, watcher, writer, topic):
    client = broker.client(writer, subscribe=[])
    assert dropped(watcher, client, topic, {"forged": True, "op": "issue", "request_id": "f1", "service": "pay"})
    client.close()


def test_devices_can_write_their_own_lane(broker, watcher):
    client = broker.client("kiosk.k1", subscribe=[])
    assert not dropped(watcher, client, f"{R}/dev/kiosk.k1/req", {"op": "lease", "request_id": "own-1", "service": "pay"})
    assert not dropped(watcher, client, f"{R}/presence/kiosk.k1", {"online": True, "boot": 1})
    client.close()


def test_display_cannot_issue_tickets(broker, controller, admin):
    display = broker.client("display.d1", subscribe=[f"{R}/dev/display.d1/res"])
    reply = display.request("issue", service="pay")
    assert reply["ok"] is False and reply["error"]["code"] == "not_allowed"
    display.close()


def test_retained_state_cannot_be_poisoned(broker, controller, admin):
    kiosk = broker.client("kiosk.k1", subscribe=[])
    kiosk.publish(f"{R}/state", {"hall": "h1", "mode": "closed", "poison": True}, retain=True)
    kiosk.close()
    fresh = broker.client("display.d1", subscribe=[f"{R}/state"])
    state = fresh.state()
    assert "poison" not in state and state["mode"] == "open"
    fresh.close()


def test_devices_cannot_read_other_devices_replies(broker, controller):
    spy = broker.client("kiosk.k2", subscribe=[f"{R}/dev/kiosk.k1/res", f"{R}/dev/kiosk.k2/res"])
    kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    kiosk.request("issue", service="pay")
    own = spy.request("lease", service="pay", size=1)   # after this, k1's reply would have come too
    assert own["ok"]
    with spy.cond:
        assert not any(t.endswith("kiosk.k1/res") for t, _, _ in spy.messages)
    spy.close(), kiosk.close()


@pytest.mark.processes
def test_a_stolen_device_password_cannot_push_the_controller_off(tmp_path):
    """[broker] bind_client_ids (on in a hall): Mosquitto takes each client's id from its user name,
    so a kiosk's password presented with the client id "controller" connects as kiosk.k1."""
    from hallq.testing import Broker, start_controller, write_hall_config
    broker = Broker(tmp_path / "bound")
    cred = broker.broker_dir / "credentials.toml"
    hall = write_hall_config(tmp_path / "bound.toml", broker.port, cred)
    hall.write_text(hall.read_text("utf-8").replace("bind_client_ids = false", "bind_client_ids = true"), "utf-8")
    broker.configure(hall)
    assert "use_username_as_clientid true" in broker.conf.read_text("utf-8")
    broker.start()
    admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/controller"])
    controller = start_controller(hall, tmp_path, admin)
    try:
        presence = f"{R}/presence/controller"
        mark = admin.mark()
        intruders = []
        for _ in range(10):        # ten tries with kiosk.k1's password as "controller"
            intruders.append(TestClient(broker.port, "controller", broker.credentials["kiosk.k1"],
                                        username="kiosk.k1", subscribe=[]))
        for intruder in intruders:
            intruder.close()
        time.sleep(1.0)
        with admin.cond:
            flips = [json.loads(p) for t, p, _ in admin.messages[mark:] if t == presence]
        assert flips == [], flips                       # the controller was never pushed off
        assert controller.alive
        kiosk = broker.client("kiosk.k2", subscribe=[f"{R}/dev/kiosk.k2/res"])
        assert kiosk.request("issue", service="pay")["ok"]   # and it still answers
        kiosk.close()
    finally:
        controller.stop()
        admin.close()
        broker.cleanup()


IDLE_SOCKETS = """
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        break
    held.append(s)
print(len(held), flush=True)
sys.stdin.read()
"""


def test_idle_sockets_lock_devices_out_only_when_the_descriptor_limit_leaves_no_room(broker):
    """Sockets that never send CONNECT hold Mosquitto's descriptors (it has no
    CONNECT timeout). With too few descriptors a real kiosk cannot connect; with the limit the
    bundle's install sets for mosquitto (LimitNOFILE=4096) 1,500 such sockets leave it room. The
    sockets are another process's, as they would be another machine's (paho's select() in this
    process could not take descriptors above 1024)."""
    import subprocess
    import sys

    def kiosk_connects() -> bool:
        try:
            broker.client("kiosk.k1", subscribe=[]).close()
            return True
        except TimeoutError:
            return False

    for nofile, idle, room in ((64, 100, False), (4096, 1500, True)):
        broker.stop()
        broker.start(nofile=nofile)
        holder = subprocess.Popen([sys.executable, "-c", IDLE_SOCKETS, str(broker.port), str(idle)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            held = int(holder.stdout.readline())
            # as many as this machine lets one process hold (1,500 here): far more than 64, so the room is real
            assert held >= min(idle, 900) or not room, held
            assert kiosk_connects() is room, (nofile, held)
        finally:
            holder.kill()
            holder.wait()
