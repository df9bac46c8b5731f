"""``hallq kiosk``: the ticket dispenser (buttons, lamps, thermal printer, outage-mode issuing).

One owner thread applies everything (paho and gpiozero callbacks only enqueue). A press:

1. debounced (our own: the mock ignores ``bounce_time``); presses while a ticket is being
   issued or printed are dropped, so a bounce or an impatient double press gives one ticket;
2. the printer is asked (``DLE EOT``); a printer that cannot print means no ``issue`` at all;
3. online: ``issue`` with a fresh request id, resent with the same id until answered; only the
   ticket the controller returned is printed. No reply within ``offline_after_s``: the kiosk
   sends ``void`` with ``issue_request_id`` (kept in the journal until answered, so a late copy
   of the request issues nothing) and issues from its lease instead;
4. offline (controller presence offline, broker unreachable, or no reply): the next number of
   the block leased for this service today is journaled durably, then printed, then synced when
   the controller is back.

If printing fails after the controller issued a ticket, the kiosk voids that ticket (see
docs/kiosk.md, "Print failures").
"""
from __future__ import annotations

import argparse
import logging
import os
import queue
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from hall.config import Config, KioskConfig, load_config
from hall.errors import ConfigError, DeviceFault
from hall.mqttlink import Inbound, LinkDown, LinkUp, MqttLink
from hall.requests import RequestTracker, boot_number, new_request_id
from hall.runtime import StopFlag, install_signal_handlers, run_owner_loop, setup_logging
from hall.topics import Topics
from hall.wire import dumps
from printer.escpos_render import render_escpos
from printer.layout import Layout, TicketView, slip_layout, ticket_layout
from printer.status import CONDITIONS, PRINTABLE
from printer.transport import StubPrinter, TicketPrinter

from .debounce import Debouncer
from .journal import Journal, OfflineTicket

log = logging.getLogger(__name__)

# default BCM pins when [kiosk.buttons] names none (documented in docs/kiosk.md)
DEFAULT_BUTTON_PINS = [5, 6, 13, 19, 26, 20, 21]
DEFAULT_LAMP_PINS = [17, 27, 22, 23, 24, 25, 18]
DEFAULT_PRIORITY_PIN = 12
DEFAULT_PRIORITY_LAMP_PIN = 16
PRIORITY = "priority"
LEASE_RETRY_S = 30.0
PROBE_S = 5.0
CHATTER_S = 0.05        # a contact's bounce settles within this

# what a refusal slip says, by the controller's error code
REFUSALS = {
    "hall_closed": ("暂停取号", "现在不是办理时间 The hall is closed"),
    "service_suspended": ("暂停办理", "本业务暂停办理 This service is suspended"),
    "outage": ("暂停取号", "系统维护中，请到服务台 Please ask at the service desk"),
    "numbers_exhausted": ("今日号已取完", "请到服务台 Please ask at the service desk"),
    "no_lease": ("暂停取号", "系统维护中，请到服务台 Please ask at the service desk"),
}


@dataclass(frozen=True)
class ButtonPressed:
    button: str
    at: float


@dataclass
class IssueAttempt:
    request_id: str
    service: str
    priority: str


class _SimPayload(msgspec.Struct):
    press: str | None = None
    priority: bool = False
    printer: str | None = None
    printer_fail_next: str | None = None   # extension: the next print fails with this condition


def resolve_pins(kiosk: KioskConfig, path: str, index: int) -> tuple[dict[str, int], dict[str, int], int, int | None]:
    """Button and lamp pins per service, the priority button and lamp; ConfigError if wrong."""
    b = kiosk.buttons
    key = f"kiosk[{index}].buttons"
    for table, pins in (("service_pins", b.service_pins), ("lamp_pins", b.lamp_pins)):
        for service in pins:
            if service not in kiosk.services:
                raise ConfigError(path, f"{key}.{table}.{service}", f"a service of this kiosk ({', '.join(kiosk.services)})")
    buttons, lamps = {}, {}
    free_buttons = [p for p in DEFAULT_BUTTON_PINS if p not in b.service_pins.values()]
    free_lamps = [p for p in DEFAULT_LAMP_PINS if p not in b.lamp_pins.values()]
    for service in kiosk.services:
        if service in b.service_pins:
            buttons[service] = b.service_pins[service]
        elif free_buttons:
            buttons[service] = free_buttons.pop(0)
        else:
            raise ConfigError(path, f"{key}.service_pins.{service}", "a BCM pin for this service's button")
        if service in b.lamp_pins:
            lamps[service] = b.lamp_pins[service]
        elif free_lamps:
            lamps[service] = free_lamps.pop(0)
    priority_pin = b.priority_pin if b.priority_pin is not None else DEFAULT_PRIORITY_PIN
    priority_lamp = b.priority_lamp_pin if b.priority_lamp_pin is not None else DEFAULT_PRIORITY_LAMP_PIN
    used: dict[int, str] = {}
    for name, pin in [*((f"service_pins.{s}", p) for s, p in buttons.items()),
                      *((f"lamp_pins.{s}", p) for s, p in lamps.items()),
                      ("priority_pin", priority_pin), ("priority_lamp_pin", priority_lamp)]:
        if pin is None:
            continue
        if not 0 <= pin <= 27:
            raise ConfigError(path, f"{key}.{name}", "a BCM GPIO number from 0 to 27")
        if pin in used:
            raise ConfigError(path, f"{key}.{name}", f"a pin of its own; BCM {pin} is also {used[pin]}")
        used[pin] = name
    return buttons, lamps, priority_pin, priority_lamp


class Kiosk:
    def __init__(self, config: Config, kiosk_id: str, printer: TicketPrinter, pin_factory: Any,
                 data_dir: str, stub: bool, inbox: queue.Queue[Any] | None = None) -> None:
        kiosk = config.require("kiosk", kiosk_id)
        self.config, self.kiosk, self.printer, self.stub = config, kiosk, printer, stub
        self.device_id = f"kiosk.{kiosk_id}"
        self.topics = Topics(config.hall.id)
        self.inbox: queue.Queue[Any] = inbox if inbox is not None else queue.Queue()
        self.journal = Journal(os.path.join(data_dir, "journal.sqlite"))
        self.boot = boot_number(data_dir)
        subscriptions = [self.topics.controller_presence, self.topics.state, self.topics.reply(self.device_id)]
        if stub:
            subscriptions.append(self.topics.sim(self.device_id))
        self.link = MqttLink(config, self.device_id, self.inbox, subscriptions,
                             will=(self.topics.presence(self.device_id), self._presence(False)))
        self.tracker = RequestTracker(self.device_id, self._publish_request)
        self.debouncer = Debouncer(kiosk.buttons.bounce_s)
        index = config.kiosk.index(kiosk)
        self.button_pins, self.lamp_pins, self.priority_pin, self.priority_lamp_pin = \
            resolve_pins(kiosk, config.path or "<config>", index)
        self._make_gpio(pin_factory)
        # what the kiosk knows
        self.controller_online: bool | None = None   # None: no presence seen yet
        self.controller_suspect = False               # an issue went unanswered: issue offline until it answers
        self.hall_mode = "open"
        self.suspended: set[str] = set()
        self.waiting: dict[str, int] = {}
        self.est_wait: dict[str, int] = {}
        self.printer_condition: str = "ok"
        self.issuing: IssueAttempt | None = None
        self.busy_until = 0.0                          # presses before this (during a print) are dropped
        self.priority_until = 0.0
        self.lease_inflight: dict[str, str] = {}
        self.lease_retry_at: dict[str, float] = {}
        self.sync_inflight: str | None = None
        self.probe_at = 0.0
        self.voids_inflight: set[str] = set()
        self.last_status = b""
        self.lamp_modes: dict[str, str] = {}
        self.reason: str | None = None
        self.next_poll = 0.0
        self.slip_count = 0
        self.day = ""
        self.printed: list[str] = []                   # labels printed this run (tests, bench)
        self._update_lamps()

    # --- set-up ----------------------------------------------------------------------------
    def _make_gpio(self, pin_factory: Any) -> None:
        from gpiozero import LED, Button
        pull_up = not self.kiosk.buttons.active_high
        self.buttons: dict[str, Any] = {}
        for name, pin in [*self.button_pins.items(), (PRIORITY, self.priority_pin)]:
            button = Button(pin, pull_up=pull_up, bounce_time=None, pin_factory=pin_factory)
            button.when_pressed = self._pressed_callback(name)
            self.buttons[name] = button
        self.lamps: dict[str, Any] = {name: LED(pin, pin_factory=pin_factory) for name, pin in self.lamp_pins.items()}
        if self.priority_lamp_pin is not None:
            self.lamps[PRIORITY] = LED(self.priority_lamp_pin, pin_factory=pin_factory)

    def _pressed_callback(self, name: str):
        def pressed() -> None:         # gpiozero's thread: enqueue only
            self.inbox.put(ButtonPressed(name, time.monotonic()))
        return pressed

    def start(self) -> None:
        self.printer_condition = self._ask_printer()
        for request_id, reason in self.journal.pending_voids():
            self._send_void(request_id, reason)
        self._update_lamps()
        self.link.start()

    def stop(self) -> None:
        self.link.stop(last_words=(self.topics.presence(self.device_id), self._presence(False)))
        for lamp in self.lamps.values():
            lamp.off()
            lamp.close()
        for button in self.buttons.values():
            button.close()
        self.printer.close()
        self.journal.close()

    # --- time and day --------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(self.config.zone)

    def today(self) -> str:
        return self.now().date().isoformat()

    def _in_hours(self, now: datetime) -> bool:
        hours = self.config.opening_hours
        if hours is None:
            return True
        local = now.time()
        return any(start <= local < end for start, end in hours)

    @property
    def online(self) -> bool:
        return self.link.connected and self.controller_online is not False

    # --- owner loop ------------------------------------------------------------------------------
    def handle(self, item: Any) -> None:
        if isinstance(item, ButtonPressed):
            self.on_press(item.button, item.at)
        elif isinstance(item, Inbound):
            self.on_message(item)
        elif isinstance(item, LinkUp):
            self.link.publish(self.topics.presence(self.device_id), self._presence(True), retain=True)
            self.last_status = b""
            self._publish_status()
            self.tracker.resend_all()
        elif isinstance(item, LinkDown):
            log.warning("broker connection lost: %s", item.reason)
            self._fall_back_now("broker unreachable")
            self._update_lamps()

    def tick(self, now: float) -> None:
        self.tracker.tick()
        day = self.today()
        if day != self.day:
            # a new business day: yesterday's leases are void; finished records are dropped
            self.day = day
            self.journal.prune(day)
            self.lease_retry_at.clear()
        if self.priority_until and now > self.priority_until:
            self.priority_until = 0.0
            self._update_lamps()
        if now >= self.next_poll and self.issuing is None:
            self.next_poll = now + self.kiosk.printer.status_poll_s
            condition = self._ask_printer()
            if condition != self.printer_condition:
                self.printer_condition = condition
                log.info("printer: %s", condition)
        if self.online:
            self._keep_leases(now)
            self._keep_synced(now)
        self._update_lamps()
        self._publish_status()

    # --- buttons -----------------------------------------------------------------------------------
    def on_press(self, button: str, at: float) -> None:
        # Within bounce_s of the last edge a press is a bounce or a double press, while the
        # ticket is still on its way. Once it is out, only contact chatter (CHATTER_S) is
        # filtered: pressing again then is a new wish for a ticket.
        settled = self.issuing is None and at >= self.busy_until > 0
        if not self.debouncer.accept(button, at, CHATTER_S if settled else None):
            log.debug("press of %s ignored (bounce)", button)
            return
        if button == PRIORITY:
            self.priority_until = time.monotonic() + self.kiosk.buttons.priority_window_s
            self._update_lamps()
            return
        if self.issuing is not None or at < self.busy_until:
            log.info("press of %s ignored: a ticket is being issued", button)
            return
        priority = "priority" if self.priority_until and at <= self.priority_until else "normal"
        self.priority_until = 0.0
        self.issue(button, priority)

    def issue(self, service: str, priority: str = "normal") -> None:
        condition = self._ask_printer()
        self.printer_condition = condition
        if condition not in PRINTABLE:
            self.reason = f"printer {condition}"
            log.warning("no ticket for %s: printer %s", service, condition)
            self._update_lamps()
            self._publish_status()
            self.busy_until = time.monotonic()
            return
        if not self.online or self.controller_suspect:
            self._issue_offline(service, priority)
            return
        # Noted durably before it is sent: a kiosk killed before the reply voids it when it
        # starts again (start() sends every pending void), so no unprinted ticket waits in
        # the queue. The note goes once the reply is here, before printing: a ticket that may
        # be in a customer's hand is never voided.
        request_id = new_request_id()
        self.journal.add_pending_void(request_id, "kiosk stopped before printing", self.now().isoformat())
        self.tracker.send(
            "issue", self._on_issue_reply, give_up_after=self.kiosk.offline_after_s,
            on_give_up=self._on_issue_give_up, request_id=request_id, service=service, priority=priority)
        self.issuing = IssueAttempt(request_id, service, priority)

    def _on_issue_reply(self, reply: dict[str, Any]) -> None:
        attempt, self.issuing = self.issuing, None
        self.controller_suspect = False
        if attempt is None:
            return
        self.journal.remove_pending_void(attempt.request_id)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            code = str(error.get("code", "internal"))
            log.warning("issue %s refused: %s %s", attempt.service, code, error.get("message", ""))
            self.reason = code
            self._print_refusal(code, str(error.get("message", "")))
            self.busy_until = time.monotonic()
            return
        ticket = reply.get("ticket")
        if not isinstance(ticket, dict) or not isinstance(ticket.get("number"), str):
            log.error("issue reply without a ticket: %r", reply)
            self.busy_until = time.monotonic()
            return
        self.reason = None
        view = self._view_online(ticket, attempt)
        layout = ticket_layout(view, self.kiosk.printer.width_mm, cut=self.kiosk.printer.cut)
        try:
            self._print(layout, ticket["number"])
        except DeviceFault as fault:
            # Print failed after issue: void it (docs/kiosk.md). The customer saw no ticket and
            # will press again; a ghost in the queue would cost everyone behind it a no-show wait.
            log.error("ticket %s issued but not printed (%s): voiding it", ticket["number"], fault)
            self.printer_condition = fault.condition if fault.condition in CONDITIONS else "offline"
            self.reason = f"printer {self.printer_condition}"
            reason = f"not printed: printer {self.printer_condition}"
            self.journal.add_pending_void(attempt.request_id, reason, self.now().isoformat())
            self._send_void(attempt.request_id, reason)
        self.busy_until = time.monotonic()
        self._update_lamps()
        self._publish_status()

    def _on_issue_give_up(self) -> None:
        attempt, self.issuing = self.issuing, None
        if attempt is None:
            return
        log.warning("no reply to issue %s within %.1fs: issuing from the lease", attempt.request_id,
                    self.kiosk.offline_after_s)
        self.controller_suspect = True
        self.journal.add_pending_void(attempt.request_id, "kiosk gave up waiting", self.now().isoformat())
        self._send_void(attempt.request_id, "kiosk gave up waiting")
        self._issue_offline(attempt.service, attempt.priority)

    def _fall_back_now(self, why: str) -> None:
        """The controller or broker went away while an issue waited: give up at once."""
        if self.issuing is not None and self.tracker.pending.pop(self.issuing.request_id, None) is not None:
            log.info("%s during issue", why)
            self._on_issue_give_up()

    # --- offline issuing ---------------------------------------------------------------------------
    def _issue_offline(self, service: str, priority: str) -> None:
        now = self.now()
        refusal = self._offline_refusal(service, now)
        if refusal is not None:
            self.reason = refusal
            self._print_refusal(refusal, "")
            self.busy_until = time.monotonic()
            return
        day = now.date().isoformat()
        ahead = self.waiting.get(service, 0) + self.journal.count("unsynced", service)
        ticket = self.journal.take_number(service, day, priority, now.isoformat())   # durable first
        if ticket is None:
            self.reason = "no_lease"
            self._print_refusal("no_lease", "")
            self.busy_until = time.monotonic()
            self._update_lamps()
            return
        log.info("offline ticket %s (%s) journaled", ticket.number, service)
        view = self._view_offline(ticket, ahead, now)
        layout = ticket_layout(view, self.kiosk.printer.width_mm, cut=self.kiosk.printer.cut)
        try:
            self._print(layout, ticket.number)
        except DeviceFault as fault:
            # certain it did not print: the number stays unused and is never synced
            self.printer_condition = fault.condition if fault.condition in CONDITIONS else "offline"
            self.reason = f"printer {self.printer_condition}"
            self.journal.set_state(ticket.day, ticket.number, "void", f"not printed: {fault}")
            log.error("offline ticket %s not printed (%s): voided", ticket.number, fault)
        else:
            self.journal.set_state(ticket.day, ticket.number, "printed")
            self.reason = None
        self.busy_until = time.monotonic()
        self._update_lamps()
        self._publish_status()

    def _offline_refusal(self, service: str, now: datetime) -> str | None:
        if not self._in_hours(now) or self.hall_mode == "closed":
            return "hall_closed"
        if service in self.suspended:
            return "service_suspended"
        if self.hall_mode == "outage" and self.config.hall.outage_issuing == "refuse":
            return "outage"
        return None

    # --- leases and sync --------------------------------------------------------------------------
    def _keep_leases(self, now: float) -> None:
        day = self.today()
        for service in self.kiosk.services:
            if service in self.lease_inflight or now < self.lease_retry_at.get(service, 0.0):
                continue
            if self.journal.remaining(service, day) * 2 > self.kiosk.lease_size:
                continue
            rid = self.tracker.send("lease", self._lease_reply(service), give_up_after=LEASE_RETRY_S,
                                    on_give_up=self._lease_gave_up(service), service=service,
                                    size=self.kiosk.lease_size)
            self.lease_inflight[service] = rid

    def _lease_reply(self, service: str):
        def on_reply(reply: dict[str, Any]) -> None:
            self.lease_inflight.pop(service, None)
            self.controller_suspect = False
            lease = reply.get("lease") if reply.get("ok") else None
            if not isinstance(lease, dict):
                code = (reply.get("error") or {}).get("code")
                log.warning("lease for %s refused: %s", service, code)
                self.lease_retry_at[service] = time.monotonic() + LEASE_RETRY_S
                return
            try:
                start, end, day = int(lease["start"]), int(lease["end"]), str(lease["day"])
            except (KeyError, TypeError, ValueError):
                log.error("lease reply not understood: %r", reply)
                self.lease_retry_at[service] = time.monotonic() + LEASE_RETRY_S
                return
            setup = self.config.service_by_id(service)
            prefix = setup.prefix if setup else str(lease.get("first", ""))[:-3]
            self.journal.add_lease(service, day, start, end, prefix, self.now().isoformat())
            if day != self.today():
                log.warning("lease for %s is for %s, today is %s", service, day, self.today())
                self.lease_retry_at[service] = time.monotonic() + LEASE_RETRY_S
            log.info("leased %s%03d-%s%03d for %s", prefix, start, prefix, end, day)
        return on_reply

    def _lease_gave_up(self, service: str):
        def gave_up() -> None:
            self.lease_inflight.pop(service, None)
        return gave_up

    def _keep_synced(self, now: float) -> None:
        if self.sync_inflight is not None:
            return
        batch = self.journal.unsynced(500)
        if not batch and not self.controller_suspect:
            return
        if not batch and now < self.probe_at:
            return
        self.probe_at = now + PROBE_S
        # an empty sync is a harmless probe: its reply says the controller answers again
        tickets = [{"number": t.number, "service": t.service, "issued_at": t.issued_at, "priority": t.priority}
                   for t in batch]
        self.sync_inflight = self.tracker.send("sync", self._sync_reply(batch), give_up_after=PROBE_S,
                                               on_give_up=self._sync_gave_up, tickets=tickets)

    def _sync_reply(self, batch: list[OfflineTicket]):
        def on_reply(reply: dict[str, Any]) -> None:
            self.sync_inflight = None
            self.controller_suspect = False
            if not reply.get("ok"):
                log.error("sync refused: %r", reply.get("error"))
                return
            placed = {t.get("number") for t in reply.get("tickets") or [] if isinstance(t, dict)}
            rejected = {r.get("number"): r for r in reply.get("rejected") or [] if isinstance(r, dict)}
            for ticket in batch:
                if ticket.number in rejected:
                    r = rejected[ticket.number]
                    log.error("offline ticket %s rejected: %s %s", ticket.number, r.get("code"), r.get("message"))
                    self.journal.set_state(ticket.day, ticket.number, "rejected", f"{r.get('code')}: {r.get('message')}")
                elif ticket.number in placed:
                    self.journal.set_state(ticket.day, ticket.number, "synced")
            if batch:
                log.info("synced %d offline tickets (%d rejected)", len(placed), len(rejected))
            self._publish_status()
        return on_reply

    def _sync_gave_up(self) -> None:
        self.sync_inflight = None

    def _send_void(self, request_id: str, reason: str) -> None:
        if request_id in self.voids_inflight:
            return
        self.voids_inflight.add(request_id)

        def on_reply(reply: dict[str, Any]) -> None:
            self.voids_inflight.discard(request_id)
            self.controller_suspect = False
            if not reply.get("ok"):
                log.warning("void of issue %s: %r", request_id, reply.get("error"))
            else:
                ticket = reply.get("ticket")
                log.info("issue %s voided (%s)", request_id, ticket.get("number") if isinstance(ticket, dict) else "never issued")
            self.journal.remove_pending_void(request_id)

        self.tracker.send("void", on_reply, issue_request_id=request_id, reason=reason[:200])

    # --- MQTT messages -------------------------------------------------------------------------------
    def on_message(self, message: Inbound) -> None:
        what, device = self.topics.parse(message.topic)
        if what == "res" and device == self.device_id:
            self._on_reply(message.payload)
        elif what == "presence" and message.topic == self.topics.controller_presence:
            self._on_controller_presence(message.payload)
        elif what == "state":
            self._on_state(message.payload)
        elif what == "sim" and device == self.device_id and self.stub:
            self._on_sim(message.payload)

    def _on_reply(self, payload: bytes) -> None:
        try:
            reply = msgspec.json.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            log.warning("reply is not JSON: %r", payload[:200])
            return
        if not isinstance(reply, dict):
            log.warning("reply is not a JSON object: %r", payload[:200])
            return
        self.tracker.on_reply(reply)

    def _on_controller_presence(self, payload: bytes) -> None:
        try:
            presence = msgspec.json.decode(payload)
            online = presence["online"]
            if not isinstance(online, bool):
                raise TypeError
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, KeyError, TypeError):
            log.warning("controller presence not understood: %r", payload[:200])
            return
        was = self.controller_online
        self.controller_online = online
        if online:
            self.controller_suspect = False
            self.probe_at = 0.0
            if was is False:
                log.info("controller is back")
                self.lease_retry_at.clear()
                self.tracker.resend_all()
        else:
            log.warning("controller is offline: issuing from the lease")
            self._fall_back_now("controller went offline")
        self._update_lamps()

    def _on_state(self, payload: bytes) -> None:
        try:
            state = msgspec.json.decode(payload)
            mode = state["mode"]
            services = state["services"]
            if not isinstance(mode, str) or not isinstance(services, list):
                raise TypeError
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, KeyError, TypeError):
            log.warning("hall state not understood")
            return
        self.hall_mode = mode
        suspended, waiting, est = set(), {}, {}
        for svc in services:
            if not isinstance(svc, dict) or not isinstance(svc.get("id"), str):
                continue
            if svc.get("suspended") is True:
                suspended.add(svc["id"])
            if isinstance(svc.get("waiting"), int):
                waiting[svc["id"]] = svc["waiting"]
            if isinstance(svc.get("est_wait_s"), int):
                est[svc["id"]] = svc["est_wait_s"]
        self.suspended, self.waiting, self.est_wait = suspended, waiting, est
        self._update_lamps()

    def _on_sim(self, payload: bytes) -> None:
        try:
            sim = msgspec.json.decode(payload, type=_SimPayload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as err:
            log.warning("sim message refused: %s", err)
            return
        for field in ("printer", "printer_fail_next"):
            value = getattr(sim, field)
            if value is not None and value not in CONDITIONS:
                log.warning("sim message refused: %s must be one of %s, not %r", field, ", ".join(CONDITIONS), value)
                return
        if sim.press is not None and sim.press not in self.buttons:
            log.warning("sim message refused: no button %r (buttons: %s)", sim.press, ", ".join(self.buttons))
            return
        if (sim.printer or sim.printer_fail_next) and not isinstance(self.printer, StubPrinter):
            log.warning("sim message refused: the printer is not a stub")
            return
        if sim.printer is not None:
            self.printer.set_condition(sim.printer)  # type: ignore[union-attr]
            self.printer_condition = self.printer.status()
            if self.printer_condition in PRINTABLE and self.reason and self.reason.startswith("printer"):
                self.reason = None
            self._update_lamps()
            self._publish_status()
        if sim.printer_fail_next is not None:
            self.printer.fail_next = sim.printer_fail_next  # type: ignore[union-attr]
        if sim.press is not None:
            if sim.priority and sim.press != PRIORITY:
                self._drive(PRIORITY)
            self._drive(sim.press)

    def _drive(self, name: str) -> None:
        """Press and release the mock pin: the same path as a person's finger."""
        pin = self.buttons[name].pin
        if self.kiosk.buttons.active_high:
            pin.drive_high()
            pin.drive_low()
        else:
            pin.drive_low()
            pin.drive_high()

    # --- printing -------------------------------------------------------------------------------------
    def _ask_printer(self) -> str:
        try:
            return self.printer.status()
        except Exception as err:  # a transport fault is a condition, never a crash
            log.error("printer status failed: %s", err)
            return "offline"

    def _print(self, layout: Layout, label: str) -> None:
        job = render_escpos(layout, self.kiosk.printer.chinese)
        self.printer.print_job(job, label, layout)
        self.printed.append(label)

    def _print_refusal(self, code: str, message: str) -> None:
        if not self.kiosk.refused_slip or self.printer_condition not in PRINTABLE:
            return
        title, detail = REFUSALS.get(code, ("取号失败", message or code))
        self.slip_count += 1
        layout = slip_layout(self.config.hall.name, title, detail, self.now(), self.kiosk.printer.width_mm,
                             cut=self.kiosk.printer.cut)
        try:
            self._print(layout, f"slip-{self.boot}-{self.slip_count}")
        except DeviceFault as fault:
            log.error("refusal slip not printed: %s", fault)

    def _service_names(self, service: str) -> tuple[str, str]:
        setup = self.config.service_by_id(service)
        return (setup.name, setup.name_en) if setup else (service, "")

    def _qr(self, number: str) -> str | None:
        url = self.kiosk.printer.qr_url
        return url.replace("{ticket}", number).replace("{hall}", self.config.hall.id) if url else None

    def _view_online(self, ticket: dict[str, Any], attempt: IssueAttempt) -> TicketView:
        name, name_en = self._service_names(str(ticket.get("service", attempt.service)))
        try:
            issued = datetime.fromisoformat(str(ticket.get("issued_at"))).astimezone(self.config.zone)
        except ValueError:
            issued = self.now()
        ahead, est = ticket.get("waiting_ahead"), ticket.get("est_wait_s")
        return TicketView(
            hall_name=self.config.hall.name, hall_name_en=self.config.hall.name_en, number=ticket["number"],
            service_name=name, service_name_en=name_en,
            waiting_ahead=ahead if isinstance(ahead, int) else None, est_wait_s=est if isinstance(est, int) else None,
            issued_at=issued, priority=ticket.get("priority") == "priority", outage=ticket.get("outage") is True,
            notice=self.kiosk.printer.notice, qr_data=self._qr(ticket["number"]))

    def _view_offline(self, ticket: OfflineTicket, ahead: int, now: datetime) -> TicketView:
        name, name_en = self._service_names(ticket.service)
        setup = self.config.service_by_id(ticket.service)
        per = setup.est_service_s if setup else 300
        counters = max(1, sum(1 for c in self.config.counter if ticket.service in c.services))
        return TicketView(
            hall_name=self.config.hall.name, hall_name_en=self.config.hall.name_en, number=ticket.number,
            service_name=name, service_name_en=name_en, waiting_ahead=ahead, est_wait_s=ahead * per // counters,
            issued_at=now, priority=ticket.priority == "priority", offline=True, approximate=True,
            notice=self.kiosk.printer.notice, qr_data=self._qr(ticket.number))

    # --- lamps and status ----------------------------------------------------------------------------
    def service_lamp_mode(self, service: str) -> str:
        """``on`` (press for a ticket), ``off`` (nothing to issue), ``slow`` (issuing in outage or
        from the lease), ``fast`` (printer fault)."""
        if self.printer_condition not in PRINTABLE:
            return "fast"
        now = self.now()
        if self.online and not self.controller_suspect:
            if service in self.suspended or self.hall_mode == "closed":
                return "off"
            if self.hall_mode == "outage":
                return "off" if self.config.hall.outage_issuing == "refuse" else "slow"
            return "on"
        if self._offline_refusal(service, now) is not None or self.journal.remaining(service, now.date().isoformat()) == 0:
            return "off"
        return "slow"

    def _update_lamps(self) -> None:
        modes = {s: self.service_lamp_mode(s) for s in self.kiosk.services if s in self.lamps}
        if PRIORITY in self.lamps:
            modes[PRIORITY] = "on" if self.priority_until else "off"
        for name, mode in modes.items():
            if self.lamp_modes.get(name) == mode:
                continue
            self.lamp_modes[name] = mode
            lamp = self.lamps[name]
            if mode == "on":
                lamp.on()
            elif mode == "off":
                lamp.off()
            elif mode == "slow":
                lamp.blink(on_time=1.0, off_time=1.0)
            else:
                lamp.blink(on_time=0.2, off_time=0.2)

    def status_payload(self) -> dict[str, Any]:
        day = self.today()
        if not self.online or self.controller_suspect:
            mode = "offline"
        else:
            mode = "outage" if self.hall_mode == "outage" else "online"
        return {
            "printer": self.printer_condition,
            "mode": mode,
            "reason": self.reason,
            "lamps": {s: self.lamp_modes.get(s, "off") for s in self.kiosk.services},
            "lease": {s: self.journal.remaining(s, day) for s in self.kiosk.services},
            "unsynced": self.journal.count("unsynced"),
            "boot": self.boot,
        }

    def _publish_status(self) -> None:
        payload = dumps(self.status_payload())
        if payload == self.last_status or not self.link.connected:
            return
        self.last_status = payload
        self.link.publish(self.topics.status(self.device_id), payload, retain=True)

    def _presence(self, online: bool) -> bytes:
        return dumps({"online": online, "boot": self.boot})

    def _publish_request(self, payload: bytes) -> None:
        self.link.publish(self.topics.request(self.device_id), payload)


def default_data_dir(config: Config, kiosk_id: str) -> str:
    return str(Path("hallq-data") / config.hall.id / f"kiosk.{kiosk_id}")


def main(args: argparse.Namespace) -> int:
    setup_logging(getattr(args, "verbose", False))
    config = load_config(args.config, args.broker)
    kiosk_cfg = config.require("kiosk", args.id)
    data_dir = args.data or default_data_dir(config, args.id)
    os.makedirs(data_dir, exist_ok=True)
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", os.path.join(data_dir, "escpos-cache"))
    from hardware.pins import make_pin_factory
    from hardware.printers import make_printer
    printer_out = getattr(args, "printer_out", None)
    if printer_out and not args.stub:
        log.warning("--printer-out is for --stub kiosks; ignored")
        printer_out = None
    printer = make_printer(kiosk_cfg.printer, args.stub, printer_out, config.path,
                           f"kiosk[{config.kiosk.index(kiosk_cfg)}].printer")
    kiosk = Kiosk(config, args.id, printer, make_pin_factory(args.stub), data_dir, args.stub)
    stop = StopFlag()
    install_signal_handlers(stop)
    kiosk.start()
    log.info("kiosk %s running (%s printer, %s)", kiosk.device_id, printer.description,
             "stub GPIO" if args.stub else "GPIO")
    try:
        run_owner_loop(kiosk.inbox, kiosk.handle, kiosk.tick, stop, tick_s=0.1)
    finally:
        kiosk.stop()
    return 0
