"""TLS on the hall's broker: `hallq broker-config` with ``[broker.tls]`` gives a Mosquitto that
speaks only TLS; the controller and a real stub kiosk work through it; a client that does not
trust the hall's CA, or speaks plain MQTT, gets nowhere.

The CA and the broker's certificate are made here with the openssl command line (a throwaway CA
that lives as long as the test).
"""
from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hallq.broker_config import write_broker_config
from hallq.runtime.config import load_config
from hallq.testing import WAIT_S, Broker, Process, TestClient, write_hall_config

R = "hallq/v1/h1"

pytestmark = [pytest.mark.processes,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed to make a CA")]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_server_cert(folder: Path) -> dict[str, Path]:
    """ca.crt/ca.key, and server.crt/server.key for 127.0.0.1 and localhost signed by that CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hallq test CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                                    "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=folder)
    # a second, unrelated CA: what a stranger's client would trust
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other CA",
            "-keyout", "other.key", "-out", "other.crt", cwd=folder)
    if os.geteuid() == 0:    # Mosquitto started as root reads its key as user mosquitto
        try:
            shutil.chown(folder / "server.key", user="mosquitto")
        except (LookupError, OSError):
            pass
    return {"ca": folder / "ca.crt", "server": folder / "server.crt", "server_key": folder / "server.key",
            "other": folder / "other.crt"}


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Broker, dict[str, Path]]]:
    broker = Broker(tmp_path)
    broker.broker_dir.chmod(0o755)
    certs = make_ca_and_server_cert(broker.broker_dir)
    tls = (f'[broker.tls]\nca = "{certs["ca"]}"\nserver_cert = "{certs["server"]}"\n'
           f'server_key = "{certs["server_key"]}"\n')
    hall = write_hall_config(tmp_path / "hall.toml", broker.port, broker.broker_dir / "credentials.toml", extra=tls)
    broker.configure(hall)
    broker.start()
    yield broker, certs
    broker.cleanup()


def tls_client(broker: Broker, device_id: str, ca: Path | None, subscribe: list[str] | None = None) -> TestClient:
    # "watcher": sees the whole hall with the controller's rights, under another client id
    user = "controller" if device_id == "watcher" else device_id
    client = TestClient(broker.port, device_id, broker.credentials.get(user), subscribe=subscribe, connect=False,
                        username=user)
    client.c.tls_set(ca_certs=str(ca) if ca else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.c.connect("127.0.0.1", broker.port, keepalive=10)
    client.c.loop_start()
    if not client.connected.wait(WAIT_S):
        raise TimeoutError(f"{device_id}: no TLS connection ({client.refused})")
    return client


def test_broker_config_writes_a_tls_listener_with_the_configured_files(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    hall = write_hall_config(tmp_path / "hall.toml", 8883, None,
                             extra='[broker.tls]\nca = "certs/ca.crt"\nserver_cert = "certs/broker.crt"\n'
                                   'server_key = "/etc/mosquitto/certs/broker.key"\nrequire_client_cert = true\n')
    files = write_broker_config(load_config(hall), tmp_path / "out", listen="0.0.0.0")
    conf = files.conf.read_text()
    listener = conf.index("listener 8883 0.0.0.0")
    # the TLS lines belong to that listener: they come after it
    assert conf.index(f"cafile {tmp_path / 'certs' / 'ca.crt'}") > listener
    assert f"certfile {tmp_path / 'certs' / 'broker.crt'}" in conf
    assert "keyfile /etc/mosquitto/certs/broker.key" in conf
    assert "require_certificate true" in conf
    plain = write_hall_config(tmp_path / "plain.toml", 1883, None)
    assert "cafile" not in write_broker_config(load_config(plain), tmp_path / "out2").conf.read_text()


def test_controller_and_kiosk_over_tls_and_strangers_refused(tls_broker, tmp_path: Path) -> None:
    broker, certs = tls_broker
    assert broker.config_path is not None
    watcher = tls_client(broker, "watcher", certs["ca"], subscribe=[f"{R}/#"])
    # the controller, as a real process, over TLS (it reads [broker.tls] from the hall TOML)
    mark = watcher.mark()
    controller = Process(["controller", "--config", str(broker.config_path), "--data", str(tmp_path / "ctl")],
                         tmp_path, "controller").start()
    kiosk_out = tmp_path / "tickets"
    kiosk = Process(["kiosk", "--config", str(broker.config_path), "--id", "k1", "--stub",
                     "--printer-out", str(kiosk_out), "--data", str(tmp_path / "kiosk")], tmp_path, "kiosk").start()
    try:
        watcher.wait_for(lambda t, d: t == f"{R}/presence/controller" and isinstance(d, dict) and d.get("online"),
                         start=mark)
        # a plain kiosk client over TLS: issue round trip
        k2 = tls_client(broker, "kiosk.k2", certs["ca"], subscribe=[f"{R}/dev/kiosk.k2/res"])
        reply = k2.request("issue", service="pay")
        assert reply["ok"] and reply["ticket"]["number"] == "A001", reply
        k2.close()
        # the real stub kiosk over TLS: a press prints a ticket the controller knows
        watcher.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"))
        mark = watcher.mark()
        watcher.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
        # (A001's event may still be on its way after k2's reply: wait for the kiosk's own)
        event = watcher.wait_for(lambda t, d: t == f"{R}/event" and isinstance(d, dict)
                                 and d.get("type") == "ticket_issued"
                                 and d.get("ticket", {}).get("source") == "kiosk.k1", start=mark, timeout=15)
        assert event["ticket"]["number"] == "A002" and event["ticket"]["source"] == "kiosk.k1"
        deadline = time.monotonic() + 15
        while not (kiosk_out / "A002.bin").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (kiosk_out / "A002.bin").exists(), kiosk.output()[-2000:]
    finally:
        kiosk.stop()
        controller.stop()
        watcher.close()
    assert "Traceback" not in controller.output()

    # a client that trusts another CA (or only the system's) is refused during the handshake
    for ca in (certs["other"], None):
        stranger = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="kiosk.k2", protocol=mqtt.MQTTv311)
        stranger.username_pw_set("kiosk.k2", broker.credentials["kiosk.k2"])
        stranger.tls_set(ca_certs=str(ca) if ca else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        with pytest.raises(ssl.SSLCertVerificationError):
            stranger.connect("127.0.0.1", broker.port, keepalive=5)
    # plain MQTT to the TLS listener: never a CONNACK
    plain = TestClient(broker.port, "kiosk.k2", broker.credentials["kiosk.k2"], connect=False)
    got_ack = False
    try:
        plain.c.connect("127.0.0.1", broker.port, keepalive=5)
        plain.c.loop_start()
        got_ack = plain.connected.wait(3)
    except (OSError, ssl.SSLError):
        pass
    finally:
        plain.c.loop_stop()
    assert not got_ack and plain.refused is None
