"""Real parts for tests: a Mosquitto on a free loopback port with the project's own generated
config, the controller as a real process, and a small MQTT client that waits for messages.

Every wait is bounded; everything talks to 127.0.0.1 only.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hall.broker_config import write_broker_config
from hall.config import load_config
from hall.mqttlink import set_nodelay
from simulator.rig import Component

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_HALL = REPO / "examples" / "hall.toml"
WAIT_S = 10.0


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT_S, what: str = "condition",
               poll_s: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something true (returned), bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not found:
        raise RuntimeError("mosquitto is not installed (make system-deps installs it)")
    return found


def wait_port(port: int, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def write_hall_config(path: Path, port: int, credentials: Path | None, extra: str = "",
                      base: Path = EXAMPLE_HALL, hall_overrides: dict[str, str] | None = None) -> Path:
    """The example hall pointed at this broker; ``extra`` TOML is appended (more tables)."""
    text = base.read_text("utf-8")
    broker = f'[broker]\nhost = "127.0.0.1"\nport = {port}\n'
    if credentials is not None:
        broker += f'credentials = "{credentials}"\n'
    head, _, rest = text.partition("[broker]")
    rest = rest.split("\n[[", 1)
    text = head + broker + ("\n[[" + rest[1] if len(rest) > 1 else "")
    for key, value in (hall_overrides or {}).items():
        text = text.replace("[hall]\n", f"[hall]\n{key} = {value}\n", 1)
    path.write_text(text + "\n" + extra, "utf-8")
    return path


@dataclass
class Broker:
    """A real Mosquitto with hallq's generated config (auth + ACL + persistence)."""
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    conf: Path | None = None
    config_path: Path | None = None
    # Mosquitto started as root drops to user "mosquitto", which cannot enter pytest's 0700
    # tmp folders: its files live in a folder it can reach, as they would in /etc/mosquitto.
    broker_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hallq-broker-")))

    def configure(self, hall_toml: Path | None = None) -> Path:
        """Write the hall TOML and Mosquitto's files; return the hall TOML path."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker_dir.chmod(0o755)
        cred = self.broker_dir / "credentials.toml"
        self.config_path = hall_toml or write_hall_config(self.workdir / "hall.toml", self.port, cred)
        config = load_config(self.config_path)
        log = self.broker_dir / "mosquitto.log"
        files = write_broker_config(config, self.broker_dir, listen="127.0.0.1",
                                    log_dest=f"file {log}", port=self.port)
        self.conf = files.conf
        self.credentials = tomllib.loads(files.credentials.read_text("utf-8"))
        log.touch()
        if os.geteuid() == 0:
            try:
                shutil.chown(log, user="mosquitto")
            except (LookupError, OSError):
                pass
        return self.config_path

    def start(self) -> None:
        assert self.conf is not None, "configure() first"
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port)

    def kill(self) -> None:
        """SIGKILL, as a power cut would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.broker_dir, ignore_errors=True)

    def client(self, device_id: str, **kw: Any) -> TestClient:
        return TestClient(self.port, device_id, self.credentials.get(device_id), **kw)


class TestClient:
    """A plain MQTT client as an acceptance check would use: records every message it gets."""
    __test__ = False

    def __init__(self, port: int, client_id: str, password: str | None, subscribe: list[str] | None = None,
                 hall_id: str = "h1", connect: bool = True, username: str | None = None) -> None:
        self.client_id = client_id
        self.root = f"hallq/v1/{hall_id}"
        self.messages: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.refused: Any = None
        self._ids = itertools.count(1)
        self._subs = subscribe if subscribe is not None else [f"{self.root}/#"]
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self.c.username_pw_set(username or client_id, password)
        self.c.max_inflight_messages_set(0)   # no limit: bursts in load tests (see hall/mqttlink.py)
        self.c.on_socket_open = set_nodelay
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.port = port
        if connect:
            self.c.connect("127.0.0.1", port, keepalive=10)
            self.c.loop_start()
            if not self.connected.wait(WAIT_S):
                raise TimeoutError(f"{client_id}: no connection ({self.refused})")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.refused = reason
            return
        if self._subs:
            result, mid = client.subscribe([(t, 1) for t in self._subs])
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self.cond.notify_all()

    def publish(self, topic: str, payload: Any, retain: bool = False, qos: int = 1) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.c.publish(topic, data, qos=qos, retain=retain).wait_for_publish(WAIT_S)

    def wait_for(self, predicate: Callable[[str, Any], bool], timeout: float = WAIT_S, start: int = 0) -> Any:
        """The first message (decoded JSON) at index >= start satisfying predicate(topic, doc)."""
        deadline = time.monotonic() + timeout
        index = start
        with self.cond:
            while True:
                while index < len(self.messages):
                    topic, payload, _ = self.messages[index]
                    index += 1
                    try:
                        doc = json.loads(payload) if payload else None
                    except ValueError:
                        doc = None
                    if predicate(topic, doc):
                        return doc
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.client_id}: no matching message in {timeout}s")
                self.cond.wait(remaining)

    def mark(self) -> int:
        with self.cond:
            return len(self.messages)

    def request(self, op: str, request_id: str | None = None, timeout: float = WAIT_S, **args: Any) -> dict[str, Any]:
        rid = request_id or f"t-{uuid.uuid4().hex[:8]}-{next(self._ids)}"
        start = self.mark()
        self.publish(f"{self.root}/dev/{self.client_id}/req", {"op": op, "request_id": rid, **args})
        res = f"{self.root}/dev/{self.client_id}/res"
        return self.wait_for(lambda t, d: t == res and isinstance(d, dict) and d.get("request_id") == rid,
                             timeout, start)

    def state(self, predicate: Callable[[dict[str, Any]], bool] = lambda s: True, timeout: float = WAIT_S,
              start: int = 0) -> dict[str, Any]:
        topic = f"{self.root}/state"
        return self.wait_for(lambda t, d: t == topic and isinstance(d, dict) and predicate(d), timeout, start)

    def events(self, start: int = 0) -> list[dict[str, Any]]:
        topic = f"{self.root}/event"
        with self.cond:
            return [json.loads(p) for t, p, _ in self.messages[start:] if t == topic]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


class Process(Component):
    """A hallq command run as a real process (the simulator's Component), headless, with its log at hand."""

    def __init__(self, args: list[str], workdir: Path, name: str, env: dict[str, str] | None = None) -> None:
        super().__init__(name, args, workdir, {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", **(env or {})})

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""


def start_controller(config_path: Path, workdir: Path, watcher: TestClient, data: Path | None = None) -> Process:
    """Start ``hallq controller`` and wait until it says it is online (a new epoch)."""
    data = data or workdir / "controller-data"
    start = watcher.mark()
    proc = Process(["controller", "--config", str(config_path), "--data", str(data)], workdir, "controller").start()
    topic = f"{watcher.root}/presence/controller"
    try:
        watcher.wait_for(lambda t, d: t == topic and isinstance(d, dict) and d.get("online") is True, start=start)
    except TimeoutError:
        proc.kill()
        raise RuntimeError("controller did not come online:\n" + proc.output()) from None
    return proc
