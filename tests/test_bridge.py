"""broker_config/bridge.conf.template between two real Mosquittos: the hall's (hallq's generated
config, ACL and all, plus the filled bridge section) and a central one over TLS.

The centre sees the hall's state, events and presence under the hall's remapped root, and an
operator there can make an announcement and gets the reply; the devices' own requests never
leave the hall, and nothing the centre publishes outside the admin's request topic gets in.
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

import pytest

from hallq.broker_config import hash_password
from test_tls import make_ca_and_server_cert
from hallq.testing import (WAIT_S, Broker, TestClient, free_port, mosquitto_binary, start_controller, wait_port,
                           write_hall_config)

R = "hallq/v1/h1"
REMOTE = "estate/sh/pudong/h1"

pytestmark = [pytest.mark.processes,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed to make a CA")]


def central_broker(folder: Path, port: int, certs: dict[str, Path], password: str) -> subprocess.Popen[bytes]:
    """A central Mosquitto: TLS, one account per hall, each confined to its own root."""
    (folder / "passwords").write_text(f"hall-h1:{hash_password(password)}\nhq-operator:{hash_password(password)}\n")
    (folder / "acl").write_text(f"user hall-h1\ntopic write {REMOTE}/#\ntopic read {REMOTE}/dev/admin.hq/req\n\n"
                                f"user hq-operator\ntopic readwrite estate/#\n")
    for name in ("passwords", "acl"):
        (folder / name).chmod(0o644)
    (folder / "central.conf").write_text(
        f"per_listener_settings false\nallow_anonymous false\npassword_file {folder / 'passwords'}\n"
        f"acl_file {folder / 'acl'}\nlistener {port} 127.0.0.1\ncafile {certs['ca']}\n"
        f"certfile {certs['server']}\nkeyfile {certs['server_key']}\npersistence false\n"
        f"log_dest file {folder / 'central.log'}\n")
    (folder / "central.log").touch()
    if os.geteuid() == 0:
        try:
            shutil.chown(folder / "central.log", user="mosquitto")
        except (LookupError, OSError):
            pass
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(folder / "central.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def test_hall_bridged_to_a_central_broker(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hallq-central-"))
    folder.chmod(0o755)
    central_port = free_port()
    central_password = "central-" + os.urandom(6).hex()
    certs = make_ca_and_server_cert(folder)
    central = central_broker(folder, central_port, certs, central_password)
    hall = Broker(tmp_path)
    config_path = write_hall_config(tmp_path / "hall.toml", hall.port, hall.broker_dir / "credentials.toml",
                                    extra='[[admin]]\nid = "hq"\n')
    hall.configure(config_path)
    template = resources.files("hallq.broker_config").joinpath("bridge.conf.template").read_text("utf-8")
    bridge = template.format(hall_id="h1", remote_root=REMOTE, central_host="127.0.0.1",
                             central_port=central_port, central_ca=certs["ca"], remote_username="hall-h1",
                             remote_password=central_password, central_admin="hq",
                             local_password=hall.credentials["admin.hq"])
    assert hall.conf is not None
    hall.conf.write_text(hall.conf.read_text() + "\n" + bridge)
    hall.start()
    operator = TestClient(central_port, "hq-operator", central_password, subscribe=[f"{REMOTE}/#"], connect=False)
    operator.c.tls_set(ca_certs=str(certs["ca"]), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    admin = hall.client("admin.ctl")
    controller = None
    try:
        operator.c.connect("127.0.0.1", central_port, keepalive=10)
        operator.c.loop_start()
        assert operator.connected.wait(WAIT_S)
        controller = start_controller(config_path, tmp_path, admin)
        # out: the hall's retained state and the controller's presence arrive at the centre
        state = operator.wait_for(lambda t, d: t == f"{REMOTE}/state" and isinstance(d, dict), timeout=15)
        assert state["hall"] == "h1"
        operator.wait_for(lambda t, d: t == f"{REMOTE}/presence/controller" and isinstance(d, dict)
                          and d.get("online"), timeout=15)
        # a kiosk in the hall issues a ticket: its event goes out, its request and reply do not
        kiosk = hall.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
        mark = operator.mark()
        assert kiosk.request("issue", service="pay")["ok"]
        event = operator.wait_for(lambda t, d: t == f"{REMOTE}/event" and isinstance(d, dict)
                                  and d.get("type") == "ticket_issued", start=mark, timeout=15)
        assert event["ticket"]["number"] == "A001"
        # the centre tries to act as a kiosk, and to overwrite the hall's state: neither gets in
        operator.publish(f"{REMOTE}/dev/kiosk.k1/req", {"op": "issue", "request_id": "from-centre", "service": "pay"})
        operator.publish(f"{REMOTE}/state", {"hall": "h1", "poison": True}, retain=True)
        # in: an operator request from the centre, answered back through the bridge
        mark_hall = admin.mark()
        operator.publish(f"{REMOTE}/dev/admin.hq/req", {"op": "announce", "request_id": "hq-1",
                                                         "text": "系统升级 今晚停机"})
        reply = operator.wait_for(lambda t, d: t == f"{REMOTE}/dev/admin.hq/res" and isinstance(d, dict)
                                  and d.get("request_id") == "hq-1", timeout=15)
        assert reply["ok"] and "系统升级 今晚停机" in reply["hall"]["announcements"]
        hall_state = admin.state(lambda s: "系统升级 今晚停机" in s.get("announcements", []), start=mark_hall)
        assert "poison" not in hall_state
        with admin.cond:
            inside = [(t, json.loads(p)) for t, p, _ in admin.messages[mark_hall:] if t.startswith(R)]
        assert not any(t == f"{R}/dev/kiosk.k1/req" for t, _ in inside)
        assert not any(isinstance(d, dict) and d.get("poison") for _, d in inside)
        # and the kiosk's own reply never showed up at the centre
        time.sleep(0.2)
        with operator.cond:
            at_centre = [(t, p) for t, p, _ in operator.messages]
        assert not any(t == f"{REMOTE}/dev/kiosk.k1/res" for t, _ in at_centre)
        # the only kiosk request the centre ever saw is the one it published itself
        assert [json.loads(p)["request_id"] for t, p in at_centre if t == f"{REMOTE}/dev/kiosk.k1/req"] == ["from-centre"]
        kiosk.close()
    finally:
        if controller is not None:
            controller.stop()
        operator.c.loop_stop()
        admin.close()
        hall.cleanup()
        central.terminate()
        central.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
