"""The device shell: what every hallq device does alike, written once.

A role (kiosk, counter, display; later web and central) composes one :class:`DeviceShell` and
implements only what is its own, by overriding :class:`DeviceRole`'s methods: its inputs (keys,
buttons, sign, audio), what it does with the hall's state and events, its timers and its status.
The shell owns the rest (Home Assistant splits its MQTT protocol layer from its entities alike):

- presence: the retained birth message on every connect, the will, and the goodbye on stop;
- status: the role's retained status, published when it changed (and again on every connect);
- availability: one rule for "the controller is there" (:class:`Availability`);
- routing: topic → decoded document (:mod:`hallq.contract`) → the role's handler; older states are
  dropped here so no role ever rolls back;
- requests: one :class:`~hallq.device.requests.RequestTracker`, fed every reply;
- the ``R/sim`` hook of a ``--stub`` device;
- the owner loop (:func:`run_device`): one thread applies every item in order.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hallq import contract as wire
from hallq.contract.topics import CONTROLLER_ID, Topics
from hallq.errors import RequestError
from hallq.runtime.config import Config
from hallq.runtime.loop import StopFlag, run_owner_loop
from hallq.runtime.mqttlink import Inbound, LinkDown, LinkUp, MqttLink

from .requests import RequestTracker, boot_number

log = logging.getLogger(__name__)

LINK_SAID_EVERY_S = 30.0   # a link that keeps dropping is one log line this often, with the count
UNANSWERED_HOLD_S = 30.0   # after a give-up, the controller counts as away until heard from, at most this long


class StampedInbox(queue.Queue):  # type: ignore[type-arg]
    """The owner's inbox; remembers when each item arrived (event-to-frame latency starts there)."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put((time.monotonic(), item), block, timeout)


@dataclass
class Availability:
    """Whether the controller can be asked now: pure, times passed in.

    Reachable: our broker link is up and the controller's retained presence says online.
    Available: reachable, and it answers: after a request went unanswered (given up) it counts as
    away until it is heard from again (a reply, a newer state, a change of presence) or
    ``hold_s`` has passed, so a frozen controller (a stalled SD card) never gets a second "next"
    to apply when it wakes.
    """
    hold_s: float = UNANSWERED_HOLD_S
    link_up: bool = False
    controller_online: bool | None = None     # None: no presence seen yet
    controller_fault: str | None = None       # why a running controller takes no work (disk full ...)
    unanswered_since: float | None = None

    @property
    def reachable(self) -> bool:
        return self.link_up and self.controller_online is True

    @property
    def available(self) -> bool:
        return self.reachable and self.unanswered_since is None

    def link(self, up: bool) -> None:
        self.link_up = up

    def presence(self, doc: wire.PresenceDoc) -> None:
        if doc.online != self.controller_online:
            self.unanswered_since = None      # it went away or came back: a fresh start
        self.controller_online = doc.online
        self.controller_fault = doc.fault

    def heard(self) -> None:
        self.unanswered_since = None

    def gave_up(self, now: float) -> None:
        if self.unanswered_since is None:
            self.unanswered_since = now

    def expire(self, now: float) -> None:
        # a request lost on the way must not keep the controller "away" for ever
        if self.unanswered_since is not None and now - self.unanswered_since >= self.hold_s:
            self.unanswered_since = None


class DeviceRole:
    """What a role adds to the shell. Every method runs on the owner thread; the defaults do
    nothing, so a role overrides only what is its own."""
    kind = ""                   # kiosk | counter | display
    wants_state = True          # subscribe to R/state
    wants_events = False        # subscribe to R/event
    tick_s = 0.1
    shell: DeviceShell

    def attach(self, shell: DeviceShell) -> None:
        self.shell = shell

    def start(self) -> None:
        """Hardware up, before the link starts."""

    def stopping(self) -> None:
        """Last words while the link is still up (SIGTERM): e.g. undo work left half done."""

    def close(self) -> None:
        """Hardware down, after the goodbye."""

    def on_input(self, item: Any) -> None:
        """One of the role's own inbox items (a key, a button, the sign, the speaker)."""

    def on_state(self, state: wire.StateDoc) -> None:
        """A hall state no older than the last one."""

    def on_event(self, event: wire.WireEvent) -> None:
        """One event (QoS 1: possibly a repeat)."""

    def on_availability(self, available: bool) -> None:
        """The controller became available (link and presence, and answering) or not."""

    def on_link(self, up: bool) -> None:
        """The broker link came up or went down."""

    def on_sim(self, payload: dict[str, Any]) -> None:
        """A maintainer's ``R/sim`` message (``--stub`` devices only)."""

    def tick(self, now: float) -> None:
        """Timers; called at least every ``tick_s``."""

    def refresh(self, now: float) -> None:
        """After every item and tick: bring lamps, signs and screens up to date."""

    def status(self) -> dict[str, Any] | None:
        """The retained status document, or None for none."""
        return None


LinkFactory = Callable[..., Any]


class DeviceShell:
    def __init__(self, config: Config, device_id: str, role: DeviceRole, *, stub: bool = False,
                 data_dir: str | None = None, link_factory: LinkFactory = MqttLink,
                 clock: Callable[[], float] = time.monotonic, inbox: StampedInbox | None = None) -> None:
        self.config = config
        self.device_id = device_id
        self.role = role
        self.stub = stub
        self.clock = clock
        self.topics = Topics(config.hall.id)
        self.inbox: StampedInbox = inbox if inbox is not None else StampedInbox()
        self.boot = boot_number(data_dir)
        self.availability = Availability()
        self.arrived = 0.0                       # when the item being handled arrived
        self.payload = b""                       # the raw bytes of the message being handled
        self.state_key: tuple[int, int] = (-1, -1)
        self._published_status: bytes | None = None
        self._was_available = False
        self._link_said_at: float | None = None   # when a lost link was last logged
        self._links_lost = 0                     # losses since then, not yet logged
        t = self.topics
        # presence first: it arrives (retained) before the state, so no state is read as news
        # from an absent controller
        subscriptions = [t.controller_presence, t.reply(device_id)]
        if role.wants_state:
            subscriptions.append(t.state)
        if role.wants_events:
            subscriptions.append(t.event)
        if stub:
            subscriptions.append(t.sim(device_id))
        self.link = link_factory(config, device_id, self.inbox, subscriptions,
                                 will=(t.presence(device_id), self._presence(False)))
        self.requests = RequestTracker(self._publish_request, clock=clock, forget=self.link.forget)
        self.sim_socket = LocalSim(data_dir, t.sim(device_id), self.inbox) if stub and data_dir else None
        role.attach(self)

    # --- what roles use --------------------------------------------------------------------------
    @property
    def link_up(self) -> bool:
        return self.availability.link_up

    @property
    def available(self) -> bool:
        return self.availability.available

    @property
    def reachable(self) -> bool:
        return self.availability.reachable

    def request(self, op: str, on_reply: Callable[[wire.ReplyDoc], None], *,
                on_give_up: Callable[[], None] | None = None, **kw: Any) -> str:
        """Send a request through the one tracker (see :meth:`RequestTracker.send`). A request
        given up for want of an answer makes the controller unavailable until heard from."""
        def gave_up() -> None:
            self.availability.gave_up(self.clock())
            if on_give_up is not None:
                on_give_up()
        return self.requests.send(op, on_reply, on_give_up=gave_up, **kw)

    def give_up(self, request_id: str) -> bool:
        """Stop waiting for a request now (e.g. the controller went away); True if it was pending."""
        return self.requests.drop(request_id) is not None

    def publish_status(self) -> None:
        status = self.role.status()
        if status is None:
            return
        payload = wire.dumps(status)
        if payload != self._published_status and self.link_up:
            self.link.publish(self.topics.status(self.device_id), payload, retain=True)
            self._published_status = payload

    # --- the owner loop ----------------------------------------------------------------------------
    def handle(self, stamped: tuple[float, Any]) -> None:
        self.arrived, item = stamped
        now = self.clock()
        if isinstance(item, Inbound):
            self._inbound(item, now)
        elif isinstance(item, LinkUp):
            self.availability.link(True)
            self.link.publish(self.topics.presence(self.device_id), self._presence(True), retain=True)
            self._published_status = None
            self.role.on_link(True)
            self.requests.resend_all()
        elif isinstance(item, LinkDown):
            self._say_link_lost(item.reason, now)
            self.availability.link(False)
            self.role.on_link(False)
        else:
            self.role.on_input(item)
        self._after(now)

    def _say_link_lost(self, reason: str, now: float) -> None:
        self._links_lost += 1
        if self._link_said_at is not None and now - self._link_said_at < LINK_SAID_EVERY_S:
            return
        more = f" ({self._links_lost} losses since the last such line)" if self._links_lost > 1 else ""
        log.warning("broker link lost: %s%s", reason, more)
        self._link_said_at, self._links_lost = now, 0

    def tick(self, now: float) -> None:
        self.requests.tick()
        self.availability.expire(self.clock())
        self.role.tick(now)
        self._after(now)

    def _after(self, now: float) -> None:
        available = self.available
        if available != self._was_available:
            self._was_available = available
            if available:
                self.requests.resend_all()
            self.role.on_availability(available)
        self.role.refresh(now)
        self.publish_status()

    def _inbound(self, message: Inbound, now: float) -> None:
        what, device = self.topics.parse(message.topic)
        if not message.payload:
            return              # a cleared retained message
        self.payload = message.payload
        try:
            if what == "res" and device == self.device_id:
                reply = wire.read(message.payload, wire.ReplyDoc)
                self.availability.heard()
                self.requests.on_reply(reply)
            elif what == "presence" and device == CONTROLLER_ID:
                presence = wire.read(message.payload, wire.PresenceDoc)
                if presence.online and presence.epoch < self.state_key[0]:
                    self.state_key = (presence.epoch, -1)   # a controller started afresh: its states count
                self.availability.presence(presence)
            elif what == "state":
                state = wire.read(message.payload, wire.StateDoc)
                key = (state.epoch, state.seq)
                if key < self.state_key:
                    log.debug("older state %s ignored (have %s)", key, self.state_key)
                    return
                if key > self.state_key:
                    self.availability.heard()
                self.state_key = key
                self.role.on_state(state)
            elif what == "event":
                self.role.on_event(wire.read_event(message.payload))
            elif what == "sim" and device == self.device_id and self.stub:
                self.role.on_sim(wire.loads_object(message.payload))
        except (wire.BadDocument, RequestError) as err:
            log.warning("ignored a bad %s message on %s: %s", what or "unknown", message.topic, err)

    # --- life ---------------------------------------------------------------------------------------
    def _presence(self, online: bool) -> bytes:
        return wire.dumps(wire.PresenceDoc(online=online, boot=self.boot))

    def _publish_request(self, payload: bytes) -> int | None:
        if not self.link_up:
            return None     # paho would keep it and send it after a reconnect, however late
        return self.link.publish(self.topics.request(self.device_id), payload)

    def start(self) -> None:
        self.role.start()
        self.role.refresh(self.clock())
        self.link.start()

    def stop(self) -> None:
        goodbye = None
        if self.link_up:
            self.role.stopping()     # queued before the goodbye, which the link waits for: sent first
            goodbye = (self.topics.presence(self.device_id), self._presence(False))
        self.link.stop(last_words=goodbye)
        if self.sim_socket is not None:
            self.sim_socket.close()
        self.role.close()

    def run(self, stop: StopFlag) -> None:
        self.start()
        try:
            run_owner_loop(self.inbox, self.handle, self.tick, stop, tick_s=self.role.tick_s)
        finally:
            self.stop()


class LocalSim:
    """A stub device's second way in for ``R/sim`` messages: a Unix datagram socket ``sim.sock`` in
    its data folder, so a maintainer can press its buttons while the broker is down (rehearsing
    offline issuing, `hallq sim`). Its thread only puts the message on the inbox, as paho's does."""

    def __init__(self, data_dir: str, topic: str, inbox: StampedInbox) -> None:
        import socket  # noqa: PLC0415
        self.path = os.path.join(data_dir, "sim.sock")
        self.sock: Any = None
        try:
            os.makedirs(data_dir, exist_ok=True)
            if os.path.exists(self.path):
                os.unlink(self.path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(self.path)
        except OSError as err:
            log.warning("no local sim socket at %s: %s (R/sim through the broker only)", self.path, err)
            return
        self.sock = sock
        self.topic, self.inbox = topic, inbox
        threading.Thread(target=self._run, name="hallq-local-sim", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return                                  # closed at stop
            self.inbox.put(Inbound(self.topic, data, False))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass


def run_device(args: Any, kind: str, build: Callable[[Config, Any, Any], DeviceRole],
               stop: StopFlag | None = None) -> int:
    """The one ``main`` of every device command: config, the role built by its bootstrap, the
    shell, signals, the owner loop. ``build(config, device_config, args)`` makes the role with its
    hardware adapters (passed in, chosen in ``hardware/``)."""
    from hallq.runtime.config import load_config
    from hallq.runtime.loop import install_signal_handlers, setup_logging
    setup_logging(getattr(args, "verbose", False))
    config = load_config(args.config, args.broker)
    device = config.require(kind, args.id)
    role = build(config, device, args)
    shell = DeviceShell(config, f"{kind}.{args.id}", role, stub=bool(getattr(args, "stub", False)),
                        data_dir=args.data)
    stop = stop or getattr(role, "stop_flag", None) or StopFlag()
    install_signal_handlers(stop)
    log.info("%s running", shell.device_id)
    shell.run(stop)
    return 0
