"""Real parts for tests, the simulator and the benchmarks, shipped with the package (as gpiozero
ships MockFactory): free ports, bounded waiting, a Mosquitto with the hall's generated config, a
hallq command as a real process, a plain MQTT client that records what it hears, and a link that
records what a process would publish.

Every wait is bounded; everything talks to 127.0.0.1 only.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hallq.broker_config import BrokerFiles, write_broker_config
from hallq.runtime.config import Config, load_config
from hallq.runtime.mqttlink import Inbound, set_nodelay

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLE_HALL = REPO / "examples" / "hall.toml"
WAIT_S = 10.0


# --- waiting --------------------------------------------------------------------------------
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


def eventually(predicate: Callable[[], Any], timeout: float, poll_s: float = 0.05) -> bool:
    """Like :func:`wait_until`, but answers False instead of raising (for scripts that go on)."""
    try:
        wait_until(predicate, timeout, poll_s=poll_s)
        return True
    except TimeoutError:
        return bool(predicate())


_HANDED_OUT: set[int] = set()
PORTS_FROM = 20000          # test servers' ports: from here up to the kernel's ephemeral range
PORT_SLICES = 9             # one per pytest-xdist worker gw0..gw7, the last for everyone else


def _own_ports() -> range | None:
    """This process's share of the ports below the kernel's ephemeral range, or None where that
    range leaves too little below it.

    A port picked by binding port 0 is in the ephemeral range, and it is free again once the probe
    closes: until the server meant for it binds, seconds later (a broker and a controller start
    first), any process's outgoing connection may take it as its local port, and with three workers
    running hundreds of connections that happened ("address already in use" at the web's start).
    The kernel never hands out ports below the range on its own, and each test worker has its own
    slice, so only this process's own picks can meet, and those it remembers."""
    try:
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    size = (first_ephemeral - PORTS_FROM) // PORT_SLICES
    if size < 200:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else PORT_SLICES - 1
    index = min(index, PORT_SLICES - 1)
    return range(PORTS_FROM + index * size, PORTS_FROM + (index + 1) * size)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on now, never one this process handed out before (a port picked for a
    server not started yet is free again to the kernel), and outside the kernel's ephemeral range
    where it can (:func:`_own_ports`)."""
    own = _own_ports()
    if own is not None:
        for _ in range(2):
            start = (os.getpid() * 7919 + len(_HANDED_OUT)) % len(own)
            for i in range(len(own)):
                port = own[(start + i) % len(own)]
                if port not in _HANDED_OUT and _bindable(port):
                    _HANDED_OUT.add(port)
                    return port
            _HANDED_OUT.difference_update(own)  # a long run used them all: the earliest are long closed
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port the tests have not used already")


def port_open(port: int, timeout: float = WAIT_S) -> bool:
    """True once something accepts connections on 127.0.0.1:port (within ``timeout``)."""
    def accepts() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    return eventually(accepts, timeout, poll_s=0.02)


def wait_port(port: int, timeout: float = WAIT_S) -> None:
    if not port_open(port, timeout):
        raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


# --- Mosquitto -------------------------------------------------------------------------------
def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def require_mosquitto() -> str:
    found = mosquitto_binary()
    if not found:
        raise RuntimeError("mosquitto is not installed (make system-deps installs it)")
    return found


def mosquitto_folder(prefix: str) -> Path:
    """A folder Mosquitto can use. Started as root it drops to user ``mosquitto``, which cannot
    enter pytest's 0700 tmp folders: its files live where it can reach, as in /etc/mosquitto."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def write_mosquitto_files(config: Config, folder: Path, port: int) -> BrokerFiles:
    """The hall's generated broker config on loopback, logging to a file Mosquitto may write."""
    log = folder / "mosquitto.log"
    files = write_broker_config(config, folder, listen="127.0.0.1", log_dest=f"file {log}", port=port)
    log.touch()
    if os.geteuid() == 0:
        try:
            shutil.chown(log, user="mosquitto")
        except (LookupError, OSError):
            pass
    return files


def write_hall_config(path: Path, port: int, credentials: Path | None, extra: str = "",
                      base: Path = EXAMPLE_HALL, hall_overrides: dict[str, str] | None = None,
                      counters: int | None = None, edits: dict[str, str] | None = None) -> Path:
    """The example hall pointed at this broker; ``extra`` TOML is appended (more tables).
    ``counters``: that many counters (c1..cN, 1号窗口.., serving both services) instead of its four.
    ``edits``: texts of the example's file replaced by others (once each), e.g. a key added to a table."""
    text = base.read_text("utf-8")
    for old, new in (edits or {}).items():
        if old not in text:
            raise ValueError(f"{old!r} is not in {base}")
        text = text.replace(old, new, 1)
    if counters is not None:
        blocks = re.split(r"\n(?=\[)", text)
        text = "\n".join(b for b in blocks if not b.startswith("[[counter]]"))
        text += "".join(f'\n[[counter]]\nid = "c{i}"\nname = "{i}号窗口"\nservices = ["pay", "biz"]\n'
                        for i in range(1, counters + 1))
    # test observers borrow the controller's account while it runs (see [broker] bind_client_ids)
    broker = f'[broker]\nhost = "127.0.0.1"\nport = {port}\nbind_client_ids = false\n'
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
    broker_dir: Path = field(default_factory=lambda: mosquitto_folder("hallq-broker-"))

    def configure(self, hall_toml: Path | None = None, hall_overrides: dict[str, str] | None = None) -> Path:
        """Write the hall TOML and Mosquitto's files; return the hall TOML path."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        cred = self.broker_dir / "credentials.toml"
        self.config_path = hall_toml or write_hall_config(self.workdir / "hall.toml", self.port, cred,
                                                          hall_overrides=hall_overrides)
        files = write_mosquitto_files(load_config(self.config_path), self.broker_dir, self.port)
        self.conf = files.conf
        self.credentials = tomllib.loads(files.credentials.read_text("utf-8"))
        return self.config_path

    def start(self, nofile: int | None = None) -> None:
        """``nofile``: Mosquitto's descriptor limit (``prlimit``), as systemd's LimitNOFILE would set it."""
        assert self.conf is not None, "configure() first"
        limit = ["prlimit", f"--nofile={nofile}:{nofile}"] if nofile else []
        self.proc = subprocess.Popen([*limit, require_mosquitto(), "-c", str(self.conf)],
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

    def client(self, device_id: str, **kw: Any) -> HallClient:
        return HallClient(self.port, device_id, self.credentials.get(device_id), **kw)


# --- processes -------------------------------------------------------------------------------
class Component:
    """One ``hallq`` command as a real process (killable with SIGKILL, restartable)."""

    def __init__(self, name: str, args: list[str], workdir: Path, env: dict[str, str] | None = None,
                 wrap: list[str] | None = None, module: str = "hallq") -> None:
        """``wrap``: a command the process runs under, e.g. ``["prlimit", "--nofile=1024:1024"]``;
        ``module``: what ``python -m`` runs (an older tree's ``hall.cli`` in the versions bench)."""
        self.name, self.args, self.workdir, self.wrap, self.module = name, args, workdir, wrap or [], module
        # each process its own escpos capabilities cache: two writing one pickle at once corrupt it
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1",
                    "ESCPOS_CAPABILITIES_PICKLE_DIR": str(workdir / "data" / "escpos-cache" / name), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "logs" / f"{name}.log"
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Component:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            log.write(f"--- start {self.starts + 1}: hallq {' '.join(self.args)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen([*self.wrap, sys.executable, "-m", self.module, *self.args], cwd=self.workdir,
                                         stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        self.starts += 1
        return self

    def kill(self) -> None:
        """SIGKILL, as a power cut would."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode if self.proc else None

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""


class Process(Component):
    """A hallq command for a test: headless and silent (SDL dummy drivers)."""

    def __init__(self, args: list[str], workdir: Path, name: str, env: dict[str, str] | None = None,
                 wrap: list[str] | None = None, module: str = "hallq") -> None:
        super().__init__(name, args, workdir, {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", **(env or {})},
                         wrap, module)


def start_controller(config_path: Path, workdir: Path, watcher: HallClient, data: Path | None = None,
                     env: dict[str, str] | None = None) -> Process:
    """Start ``hallq controller`` and wait until it says it is online (a new epoch)."""
    data = data or workdir / "controller-data"
    start = watcher.mark()
    proc = Process(["controller", "--config", str(config_path), "--data", str(data)], workdir, "controller",
                   env=env).start()
    topic = f"{watcher.root}/presence/controller"
    try:
        watcher.wait_for(lambda t, d: t == topic and isinstance(d, dict) and d.get("online") is True, start=start)
    except TimeoutError:
        proc.kill()
        raise RuntimeError("controller did not come online:\n" + proc.output()) from None
    return proc


def run_controller(config_path: Path, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``hallq controller`` run to its end (one that refuses to start), its output kept."""
    return subprocess.run([sys.executable, "-m", "hallq", "controller", "--config", str(config_path),
                           "--data", str(data), *extra], capture_output=True, text=True, timeout=60)


def call_event(epoch: int, seq: int, counter: str, number: str, service: str, at: datetime,
               recalls: int = 0) -> Any:
    """A ``ticket_called`` (``ticket_recalled`` with ``recalls``) as readers get it from the wire."""
    from hallq.contract import WireEvent
    from hallq.core import events as e
    from hallq.core.model import Ticket
    ticket = Ticket(id=f"{at.date():%Y%m%d}-{number}", number=number, service=service, status="called",
                    issued_at=at, day=at.date().isoformat(), counter=counter, recalls=recalls, called_at=at)
    kind = e.TicketRecalled if recalls else e.TicketCalled
    return WireEvent(epoch, seq, kind(at=at, ticket=ticket, counter=counter))


def request_message(device: str, op: str, request_id: str, hall_id: str = "h1", **args: Any) -> Inbound:
    """A device's request as the controller's link hands it over (for controllers without a broker)."""
    return Inbound(f"hallq/v1/{hall_id}/dev/{device}/req",
                   json.dumps({"op": op, "request_id": request_id, **args}).encode(), False)


# --- a day of commands through the pure core --------------------------------------------------
@dataclass(frozen=True)
class DayStep:
    """One accepted command of a played day: the state just before and after it, its events."""
    command: Any
    now: datetime
    before: Any
    after: Any
    events: list[Any]


def day_steps(setup: Any, steps: Any, start: datetime) -> Iterator[DayStep]:
    """A hall day: (command, seconds after the one before) pairs through the rules from ``start``,
    each accepted one yielded. A refused command must say why and change nothing (checked here for
    every random day the property tests generate)."""
    from hallq.core import commands as c  # noqa: PLC0415 - only the tests that play days need the core
    from hallq.core.rules import QueueRules  # noqa: PLC0415
    from hallq.errors import RequestError  # noqa: PLC0415
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), start)[0]
    now = start
    for command, advance in steps:
        now += timedelta(seconds=advance)
        before, as_it_was = state, msgspec.json.encode(state)
        try:
            state, events = rules.handle(state, command, now)
        except RequestError as err:
            assert err.code and err.message, f"{command!r} refused without saying why"
            # the state is shared, not copied: a rule that changed it in place before refusing shows here
            assert msgspec.json.encode(before) == as_it_was, f"{command!r} was refused but changed the state"
            continue
        yield DayStep(command, now, before, state, events)


def play_commands(setup: Any, steps: Any, start: datetime) -> tuple[Any, list[Any]]:
    """(the last state, every event) of :func:`day_steps`' day."""
    state, log = None, []
    for step in day_steps(setup, steps, start):
        state = step.after
        log += step.events
    if state is None:               # nothing accepted: the day as it opened
        from hallq.core import commands as c  # noqa: PLC0415
        from hallq.core.rules import QueueRules  # noqa: PLC0415
        state = QueueRules(setup).handle(setup.initial_state(), c.Tick(), start)[0]
    return state, log


# --- clients ---------------------------------------------------------------------------------
class HallClient:
    """A plain MQTT client as an acceptance check would use: records every message it gets.

    Deliberately raw paho (no hallq code between it and the broker), with knobs for the security
    tests: any username, no password, TLS set on ``c`` before connecting. ``on_message`` (called
    on paho's thread, under the record lock) lets a subclass keep a running summary.
    """
    __test__ = False

    def __init__(self, port: int, client_id: str, password: str | None, subscribe: list[str] | None = None,
                 hall_id: str = "h1", connect: bool = True, username: str | None = None,
                 host: str = "127.0.0.1", keepalive: int = 10, record: bool = True) -> None:
        self.client_id = client_id
        self.root = f"hallq/v1/{hall_id}"
        self.messages: list[tuple[str, bytes, bool]] = []
        self.record = record          # False: only on_message sees them (long runs)
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.refused: Any = None
        self._ids = itertools.count(1)
        self._subs = subscribe if subscribe is not None else [f"{self.root}/#"]
        # A connection id of its own: a test client borrowing an account (say admin.ctl) must not push
        # the real process with that account (`hallq ctl`) off the broker, nor be pushed off by it and
        # miss what was published while it reconnected. Where the broker binds ids to user names
        # ([broker] bind_client_ids) it takes the user name instead, as it does for every device.
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}~{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv311)
        self.c.username_pw_set(username or client_id, password)
        self.c.max_inflight_messages_set(0)   # no limit: bursts in load tests (see hallq/runtime/mqttlink.py)
        self.c.reconnect_delay_set(min_delay=0.1, max_delay=1)
        self.c.on_socket_open = set_nodelay
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self._sub_mid: int | None = None
        self.port, self.host, self.keepalive = port, host, keepalive
        if connect:
            self.connect()

    def connect(self, timeout: float = WAIT_S) -> None:
        self.c.connect_async(self.host, self.port, keepalive=self.keepalive)
        self.c.loop_start()
        if not self.connected.wait(timeout):
            raise TimeoutError(f"{self.client_id}: no connection ({self.refused})")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.refused = reason
            return
        if self._subs:
            # connected once the broker has taken the subscriptions (its SUBACK): a message published
            # after connect() returns is heard, with no pause "to let the broker take" them
            self._sub_mid = client.subscribe([(t, 1) for t in self._subs])[1]
        else:
            self.connected.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if mid == self._sub_mid:
            self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            if self.record:
                self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self.on_message(msg.topic, msg.payload)
            self.cond.notify_all()

    def on_message(self, topic: str, payload: bytes) -> None:
        """Hook for subclasses (paho's thread, record lock held): keep it short."""

    def publish(self, topic: str, payload: Any, retain: bool = False, qos: int = 1, wait: bool = True) -> bool:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.c.publish(topic, data, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(WAIT_S)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

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

    def new_request_id(self) -> str:
        return f"t-{uuid.uuid4().hex[:8]}-{next(self._ids)}"

    def request(self, op: str, request_id: str | None = None, timeout: float = WAIT_S, **args: Any) -> dict[str, Any]:
        """Publish one request (no resend: what a plain outside client does) and wait for its reply."""
        rid = request_id or self.new_request_id()
        start = self.mark()
        self.publish(f"{self.root}/dev/{self.client_id}/req", {"op": op, "request_id": rid, **args})
        res = f"{self.root}/dev/{self.client_id}/res"
        return self.wait_for(lambda t, d: t == res and isinstance(d, dict) and d.get("request_id") == rid,
                             timeout, start)

    def state(self, predicate: Callable[[dict[str, Any]], bool] = lambda s: True, timeout: float = WAIT_S,
              start: int = 0) -> dict[str, Any]:
        topic = f"{self.root}/state"
        return self.wait_for(lambda t, d: t == topic and isinstance(d, dict) and predicate(d), timeout, start)

    def state_after(self, event_type: str, start: int = 0, timeout: float = WAIT_S) -> dict[str, Any]:
        """The hall's state as of the first ``event_type`` event at index >= start, or later. A state
        matched by content alone may be an older one still on its way (the controller publishes the
        state after the reply), which an idle counter, say, matches before it was ever called."""
        event = self.wait_for(lambda t, d: t == f"{self.root}/event" and isinstance(d, dict)
                              and d.get("type") == event_type, timeout, start)
        return self.state(lambda s: s["seq"] >= event["seq"], timeout, start)

    def events(self, start: int = 0) -> list[dict[str, Any]]:
        topic = f"{self.root}/event"
        with self.cond:
            return [json.loads(p) for t, p, _ in self.messages[start:] if t == topic]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


TestClient = HallClient     # the name the tests grew up with


class RecordingLink:
    """Stands in for :class:`~hallq.runtime.mqttlink.MqttLink` where no broker is wanted: it records
    what the owner publishes. ``up()`` / ``down()`` put the link events a real link would."""

    def __init__(self, config: Config, client_id: str, inbox: Any, subscriptions: list[str],
                 will: tuple[str, bytes] | None = None, lane: str = "") -> None:
        self.client_id, self.inbox, self.subscriptions, self.will = client_id, inbox, subscriptions, will
        self.lane = lane
        self.published: list[tuple[str, bytes, bool]] = []
        self.forgotten: list[int] = []
        self.started = False
        self._mids = itertools.count(1)

    def start(self) -> None:
        self.started = True

    def publish(self, topic: str, payload: bytes, retain: bool = False, qos: int = 1) -> int:
        self.published.append((topic, payload, retain))
        return next(self._mids)

    def forget(self, mids: list[int]) -> int:
        self.forgotten.extend(mids)
        return 0

    def stop(self, last_words: tuple[str, bytes] | None = None) -> None:
        if last_words is not None:
            self.published.append((last_words[0], last_words[1], True))
        self.started = False

    def up(self) -> None:
        from hallq.runtime.mqttlink import LinkUp
        self.inbox.put(LinkUp())

    def down(self, reason: str = "test") -> None:
        from hallq.runtime.mqttlink import LinkDown
        self.inbox.put(LinkDown(reason))
