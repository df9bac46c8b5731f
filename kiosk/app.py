"""``hallq kiosk``: the ticket dispenser (buttons, lamps, thermal printer, outage-mode issuing).

A role over the device shell (hallq/device/shell.py), which owns presence, status, availability, routing
and the request tracker. Its parts: the pure :class:`~kiosk.model.KioskModel`, the GPIO
:class:`~kiosk.panel.KioskPanel`, :class:`~kiosk.tickets.TicketPrinting` and the durable
:class:`~kiosk.journal.Journal`. This module is the issuing protocol. A press:

1. debounced (hardware/debounce.py); presses while a ticket is being issued or printed are
   dropped, so a bounce or an impatient double press gives one ticket;
2. the printer is asked (``DLE EOT``); a printer that cannot print means no ``issue`` at all;
3. online: ``issue`` with a fresh request id, resent with the same id until answered; only the
   ticket the controller returned is printed. No reply within ``offline_after_s``: the kiosk
   sends ``void`` with ``issue_request_id`` (kept in the journal until answered, so a late copy
   of the request issues nothing) and issues from its lease instead;
4. offline (controller away, broker unreachable, or no reply): the next number of the block
   leased for this service today is journaled durably, then printed, then synced when the
   controller is back.

If printing fails after the controller issued a ticket, the kiosk voids that ticket (see
docs/kiosk.md, "Print failures").
"""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hallq.contract import ReplyDoc, StateDoc
from hallq.contract.tokens import new_token, token_hash
from hallq.device.requests import new_request_id
from hallq.device.shell import DeviceRole, DeviceShell
from hallq.errors import DeviceFault
from hallq.hardware.debounce import Debouncer
from hallq.printer.status import CONDITIONS
from hallq.printer.transport import TicketPrinter
from hallq.runtime.clock import Clock
from hallq.runtime.config import Config, appointment_key
from hallq.runtime.setup import setup_from_config
from hallq.runtime.storage import storage_fault

from .appointments import AppointmentBook, OfflineCheckIn, RemoteArrival
from .journal import Journal
from .leases import LeaseKeeper
from .model import KioskModel
from .panel import PRIORITY, ButtonPressed, KioskPanel
from .stub import drive_sim
from .tickets import TicketPrinting

log = logging.getLogger(__name__)
NOT_JOURNALED = object()          # a journal write the storage refused

CHATTER_S = 0.05        # a contact's bounce settles within this


@dataclass
class IssueAttempt:
    request_id: str
    service: str            # "" for a check-in (the appointment names it)
    priority: str
    token: str              # printed in the QR code; only its hash was sent
    give_up: Callable[[], None]   # what not getting an answer means for it (issue: the lease; check-in: the list)
    code: str = ""          # a check-in's code


VOID_RETRY_S = 2.0      # a void refused as rate_limited is asked again this much later (the rate is 1 per 2 s)


class KioskRole(DeviceRole):
    kind = "kiosk"

    def __init__(self, config: Config, kiosk_id: str, printer: TicketPrinter, pin_factory: Any,
                 data_dir: str, clock: Clock | None = None) -> None:
        kiosk = config.require("kiosk", kiosk_id)
        self.clock = clock or Clock()        # the real one; the demo's simulated day
        self.config, self.kiosk, self.printer, self.pin_factory = config, kiosk, printer, pin_factory
        self.data_dir = data_dir
        self.setup = setup_from_config(config)
        self.model = KioskModel(self.setup, config.hall.outage_issuing)
        self.tickets = TicketPrinting(config, kiosk, self.setup, printer)
        self.journal = Journal(os.path.join(data_dir, "journal.sqlite"))
        self.debouncer = Debouncer(kiosk.buttons.bounce_s)
        self.issuing: IssueAttempt | None = None
        self.busy_until = 0.0                          # presses before this (during a print) are dropped
        self.priority_until = 0.0
        self.voids_inflight: set[str] = set()
        self.voids_due: dict[str, tuple[float, str]] = {}   # refused for now (rate_limited): when to ask again
        self.last_tick = 0.0                           # the shell's clock at the last tick
        self.next_poll = 0.0
        self.day = ""
        self.lease_left: dict[str, int] = {}           # per service, as of the last refresh

    def attach(self, shell: DeviceShell) -> None:
        super().attach(shell)
        self.panel = KioskPanel(self.kiosk, self.config.path or "<config>", self.config.kiosk.index(self.kiosk),
                                self.pin_factory, shell.inbox)
        if self.panel.fault:
            log.error("kiosk buttons unavailable: %s", self.panel.fault)
        self.leases = LeaseKeeper(self.kiosk, self.setup, self.journal, shell, self.today,
                                  lambda: self.now().isoformat())
        self.appointments = AppointmentBook(appointment_key(self.config), self.setup, self.journal, shell, self.today)

    @property
    def printed(self) -> list[str]:
        return self.tickets.printed

    # --- life --------------------------------------------------------------------------------
    def start(self) -> None:
        self.model.printer_condition = self.tickets.printer_condition()
        for request_id, reason in self.journal.pending_voids():
            self._send_void(request_id, reason)

    def stopping(self) -> None:
        # stopped (SIGTERM) while an issue waits: the controller may have applied it, and no one
        # will print it; void it now (the journal's note sends it again at the next start too)
        if self.issuing is not None:
            log.info("stopping with issue %s unanswered: voiding it", self.issuing.request_id)
            self._send_void(self.issuing.request_id, "kiosk stopped before printing")

    def close(self) -> None:
        self.panel.close()
        self.printer.close()
        self.journal.close()

    def now(self) -> datetime:
        return self.clock.wall().astimezone(self.config.zone)

    def today(self) -> str:
        return self.now().date().isoformat()

    # --- what the shell routes here -------------------------------------------------------------
    def on_input(self, item: Any) -> None:
        if isinstance(item, ButtonPressed):
            self.on_press(item.button, item.at)

    def on_state(self, state: StateDoc) -> None:
        self.model.apply_state(state)

    def on_link(self, up: bool) -> None:
        if not up:
            self._fall_back_now("broker unreachable")

    def on_availability(self, available: bool) -> None:
        if available:
            self.leases.controller_back()
        elif not self.shell.reachable:
            log.warning("controller is away: issuing from the lease")
            self._fall_back_now("controller went offline")

    def tick(self, now: float) -> None:
        self.last_tick = now
        day = self.today()
        if day != self.day:
            self.day = day
            self.leases.new_day(day)
        if self.priority_until and now > self.priority_until:
            self.priority_until = 0.0
        if now >= self.next_poll and self.issuing is None:
            self.next_poll = now + self.kiosk.printer.status_poll_s
            condition = self.tickets.printer_condition()
            if condition != self.model.printer_condition:
                self.model.printer_condition = condition
                log.info("printer: %s", condition)
        if self.shell.reachable:
            self.leases.keep(now)
            self.appointments.keep(now)
        for request_id, (due, reason) in list(self.voids_due.items()):
            if now >= due:
                del self.voids_due[request_id]
                self._send_void(request_id, reason)

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
            return
        if self.issuing is not None or at < self.busy_until:
            log.info("press of %s ignored: a ticket is being issued", button)
            return
        priority = "priority" if self.priority_until and at <= self.priority_until else "normal"
        self.priority_until = 0.0
        self.issue(button, priority)

    def issue(self, service: str, priority: str = "normal") -> None:
        self.model.printer_condition = self.tickets.printer_condition()
        if not self.model.can_print:
            self.model.reason = f"printer {self.model.printer_condition}"
            log.warning("no ticket for %s: printer %s", service, self.model.printer_condition)
            self.busy_until = time.monotonic()
            return
        if not self.shell.available:
            self._issue_offline(service, priority)
            return
        # Noted durably before it is sent: a kiosk killed before the reply voids it when it
        # starts again (start() sends every pending void), so no unprinted ticket waits in
        # the queue. The note goes once the reply is here, before printing: a ticket that may
        # be in a customer's hand is never voided.
        request_id, token = new_request_id(), new_token()
        if not self._noted_before_sending(request_id):
            return
        self.shell.request("issue", self._on_issue_reply, give_up_after=self.kiosk.offline_after_s,
                           on_give_up=self._on_issue_give_up, request_id=request_id, service=service,
                           priority=priority, token_hash=token_hash(token))
        self.issuing = IssueAttempt(request_id, service, priority, token, self._on_issue_give_up)

    def check_in(self, code: str) -> None:
        """An appointment's code presented (scanner, keypad, or the stub): its ticket, or a slip.
        While the controller is away, from the day's bookings kept here (kiosk/appointments.py)."""
        if self.issuing is not None:
            log.info("check-in ignored: a ticket is being issued")
            return
        self.model.printer_condition = self.tickets.printer_condition()
        if not self.model.can_print:
            self.model.reason = f"printer {self.model.printer_condition}"
            return
        if not self.shell.available:
            self._check_in_offline(code)
            return
        request_id, token = new_request_id(), new_token()   # noted before it is sent, as an issue is
        if not self._noted_before_sending(request_id):
            return
        self.shell.request("check_in", self._on_issue_reply, give_up_after=self.kiosk.offline_after_s,
                           on_give_up=self._on_check_in_give_up, request_id=request_id, code=code[:64],
                           token_hash=token_hash(token))
        self.issuing = IssueAttempt(request_id, "", "normal", token, self._on_check_in_give_up, code=code)

    def _on_check_in_give_up(self) -> None:
        attempt, self.issuing = self.issuing, None
        if attempt is not None:
            self._send_void(attempt.request_id, "kiosk gave up waiting")
            self._check_in_offline(attempt.code)
        self.busy_until = time.monotonic()

    def _check_in_offline(self, code: str) -> None:
        result = self.appointments.check_in_offline(code, self.now())
        if isinstance(result, str):
            self.model.reason = result
            self._print_refusal(result, "")
            return
        if isinstance(result, RemoteArrival):
            self._arrived_offline(result)
            return
        log.info("appointment checked in offline (%s, %s)", result.service, "on time" if result.slot else "late")
        self._issue_offline(result.service, "normal", result)

    def _arrived_offline(self, arrival: RemoteArrival) -> None:
        """A customer who joined from a phone is here: noted (durable first; the controller is told once
        it answers), then their ticket printed — the number they hold, kept in the queue all along."""
        now = self.now()
        self.busy_until = time.monotonic()
        if self._journaled(self.journal.note_arrival, now.date().isoformat(), arrival.code_hash, arrival.code,
                           now.isoformat()) is NOT_JOURNALED:
            return
        self.appointments.noted()
        log.info("remote ticket %s: arrival noted offline", arrival.number)
        try:
            self.tickets.ticket(self.tickets.arrival_view(arrival.number, arrival.service, now))
        except DeviceFault as fault:
            # the arrival stands (the customer is here, their phone shows the number): only the paper failed
            log.error("remote ticket %s: arrival noted, not printed (%s)", arrival.number, self._printer_fault(fault))
        else:
            self.model.reason = None
        self.busy_until = time.monotonic()

    def _on_issue_reply(self, reply: ReplyDoc) -> None:
        attempt, self.issuing = self.issuing, None
        if attempt is None:
            return
        if self._journaled(self.journal.remove_pending_void, attempt.request_id) is NOT_JOURNALED:
            if reply.ok and reply.ticket is not None:
                # printed without this note, a restart would void it in a customer's hand: void it now
                self._send_void(attempt.request_id, "not printed: the kiosk's journal cannot be written")
            return
        self.busy_until = time.monotonic()
        if not reply.ok or reply.ticket is None:
            code = reply.code if not reply.ok else "internal"
            log.warning("issue %s refused: %s %s (request %s)", attempt.service, code, reply.message, attempt.request_id)
            self.model.reason = code
            self._print_refusal(code, reply.message, attempt.service)
            return
        ticket = reply.ticket
        self.model.reason = None
        try:
            self.tickets.ticket(self.tickets.online_view(ticket, attempt.service, self.now(), attempt.token))
        except DeviceFault as fault:
            # Print failed after issue: void it (docs/kiosk.md). The customer saw no ticket and
            # will press again; a ghost in the queue would cost everyone behind it a no-show wait.
            log.error("ticket %s issued but not printed (%s): voiding it", ticket.number, fault)
            reason = f"not printed: printer {self._printer_fault(fault)}"
            # noted so a restart still voids it; if the storage cannot take it, voided now all the same
            self._journaled(self.journal.add_pending_void, attempt.request_id, reason, self.now().isoformat(),
                            slip=False)
            self._send_void(attempt.request_id, reason)
        else:
            log.info("ticket %s printed (request %s)", ticket.number, attempt.request_id)
        self.busy_until = time.monotonic()

    def _on_issue_give_up(self) -> None:
        attempt, self.issuing = self.issuing, None
        if attempt is None:
            return
        log.warning("no reply to issue %s within %.1fs: issuing from the lease", attempt.request_id,
                    self.kiosk.offline_after_s)
        self._journaled(self.journal.add_pending_void, attempt.request_id, "kiosk gave up waiting",
                        self.now().isoformat(), slip=False)
        self._send_void(attempt.request_id, "kiosk gave up waiting")
        self._issue_offline(attempt.service, attempt.priority)

    def _fall_back_now(self, why: str) -> None:
        """The controller or broker went away while an issue waited: give up at once."""
        if self.issuing is not None and self.shell.give_up(self.issuing.request_id):
            log.info("%s during issue", why)
            self.issuing.give_up()

    # --- offline issuing ---------------------------------------------------------------------------
    def _issue_offline(self, service: str, priority: str, check_in: OfflineCheckIn | None = None) -> None:
        now = self.now()
        self.busy_until = time.monotonic()
        refusal = self.model.offline_refusal(service, now)
        if refusal is not None:
            self.model.reason = refusal
            self._print_refusal(refusal, "", service)
            return
        day = now.date().isoformat()
        ahead = self.model.waiting.get(service, 0) + self.journal.count("unsynced", service)
        token = new_token()
        ticket = self._journaled(self.journal.take_number, service, day, priority, now.isoformat(),  # durable first
                                 token_hash(token), code=check_in.code if check_in else None,
                                 code_hash=check_in.code_hash if check_in else None)
        if ticket is NOT_JOURNALED:
            return
        if ticket is None:
            self.model.reason = "no_lease"
            self._print_refusal("no_lease", "")
            return
        log.info("offline ticket %s (%s) journaled", ticket.number, service)
        try:
            self.tickets.ticket(self.tickets.offline_view(ticket, ahead, now, token,
                                                          slot=check_in.slot if check_in else None))
        except DeviceFault as fault:
            # certain it did not print: the number stays unused and is never synced
            self._printer_fault(fault)
            self._journaled(self.journal.set_state, ticket.day, ticket.number, "void", f"not printed: {fault}", slip=False)
            log.error("offline ticket %s not printed (%s): voided", ticket.number, fault)
        else:
            # not noted (disk full): it stays "journaled", which is synced all the same
            self._journaled(self.journal.set_state, ticket.day, ticket.number, "printed", slip=False)
            self.model.reason = None
        self.busy_until = time.monotonic()

    def _noted_before_sending(self, request_id: str) -> bool:
        """The pending void of an ``issue``/``check_in`` about to be sent (a kiosk killed before the
        reply voids it at restart); False when the journal cannot take it (no request then)."""
        return self._journaled(self.journal.add_pending_void, request_id, "kiosk stopped before printing",
                               self.now().isoformat()) is not NOT_JOURNALED

    def _journaled(self, write: Callable[..., Any], *args: Any, slip: bool = True, **kwargs: Any) -> Any:
        """A journal write's result, or NOT_JOURNALED with a status and a slip when the storage cannot
        take it (disk full, read-only): a ticket is on disk before it is printed, so none is printed then."""
        try:
            result = write(*args, **kwargs)
        except sqlite3.Error as err:
            what = storage_fault(err)
            if what is None:
                raise
            log.error("cannot write the journal in %s: %s%s", self.data_dir, what, ": no ticket" if slip else "")
            self.model.reason = "storage"
            if slip:
                self._print_refusal("storage", "")
                self.busy_until = time.monotonic()
            return NOT_JOURNALED
        return result

    def _send_void(self, request_id: str, reason: str) -> None:
        if request_id in self.voids_inflight:
            return
        self.voids_inflight.add(request_id)

        def on_reply(reply: ReplyDoc) -> None:
            self.voids_inflight.discard(request_id)
            if not reply.ok and reply.code == "rate_limited":
                # refused for now, not for good: a ticket nobody holds must not stay in the queue, so the
                # void is asked again (a new request; the note stays in the journal meanwhile)
                log.warning("void of issue %s refused for now (%s): asking again in %.0f s", request_id,
                            reply.code, VOID_RETRY_S)
                self.voids_due[request_id] = (self.last_tick + VOID_RETRY_S, reason)
                return
            if not reply.ok:
                log.warning("void of issue %s: %s %s", request_id, reply.code, reply.message)
            else:
                log.info("issue %s voided (%s)", request_id, reply.ticket.number if reply.ticket else "never issued")
            self._journaled(self.journal.remove_pending_void, request_id, slip=False)   # else resent, same answer

        self.shell.requests.send("void", on_reply, issue_request_id=request_id, reason=reason[:200])

    # --- maintainers' stub -------------------------------------------------------------------------
    def on_sim(self, payload: dict[str, Any]) -> None:
        drive_sim(self, payload)

    # --- printer, lamps, status ----------------------------------------------------------------------
    def _printer_fault(self, fault: DeviceFault) -> str:
        self.model.printer_condition = fault.condition if fault.condition in CONDITIONS else "offline"
        self.model.reason = f"printer {self.model.printer_condition}"
        return self.model.printer_condition

    def _print_refusal(self, code: str, message: str, service: str | None = None) -> None:
        if self.model.can_print:
            self.tickets.refusal(code, message, self.now(), self.shell.boot, service)

    def refresh(self, now: float) -> None:
        # the numbers left in each lease, read once here for the lamps and for the status that the
        # shell publishes right after (this runs after every message and tick)
        wall = self.now()
        day = wall.date().isoformat()
        self.lease_left = {s: self.journal.remaining(s, day) for s in self.kiosk.services}
        modes = {s: self.model.lamp_mode(s, self.shell.available, self.lease_left[s], wall)
                 for s in self.kiosk.services if s in self.panel.lamps}
        modes[PRIORITY] = "on" if self.priority_until else "off"
        self.panel.show(modes)

    def status(self) -> dict[str, Any]:
        return {
            "printer": self.model.printer_condition,
            "mode": self.model.mode(self.shell.available),
            "reason": self.model.reason,
            "lamps": {s: self.panel.modes.get(s, "off") for s in self.kiosk.services},
            "lease": dict(self.lease_left),
            "unsynced": self.journal.count("unsynced"),
            "bookings": self.appointments.kept,
            "remote": self.appointments.remote_kept,
            "arrivals_unsent": self.appointments.unsent,
            "boot": self.shell.boot,
            "buttons": "fault" if self.panel.fault else "ok",
            **({"buttons_detail": self.panel.fault} if self.panel.fault else {}),
        }
