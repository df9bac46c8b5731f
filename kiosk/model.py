"""What the kiosk knows of the hall and decides from it: pure, times passed in, no I/O.

Fed by the hall's state (through the shell) and the printer's condition; answers which lamps
show what, why an offline press is refused, and the ``mode`` of its status. Opening hours are the
core's own rule (:meth:`~hallq.core.rules.Setup.in_hours`), so the kiosk and the controller
never disagree about them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hallq.contract import StateDoc
from hallq.core.rules import Setup
from hallq.printer.status import PRINTABLE


@dataclass
class KioskModel:
    setup: Setup
    outage_issuing: str = "continue"
    hall_mode: str = "open"
    suspended: set[str] = field(default_factory=set)
    waiting: dict[str, int] = field(default_factory=dict)
    printer_condition: str = "ok"
    reason: str | None = None                 # why the last press gave no ticket (status)

    def apply_state(self, state: StateDoc) -> None:
        self.hall_mode = state.mode
        self.suspended = {s.id for s in state.services if s.suspended}
        self.waiting = {s.id: s.waiting for s in state.services}

    @property
    def can_print(self) -> bool:
        return self.printer_condition in PRINTABLE

    def offline_refusal(self, service: str, now: datetime) -> str | None:
        """The controller's refusal code a press would get, decided here while it is away."""
        if not self.setup.in_hours(now) or self.hall_mode == "closed":
            return "hall_closed"
        if service in self.suspended:
            return "service_suspended"
        if self.hall_mode == "outage" and self.outage_issuing == "refuse":
            return "outage"
        return None

    def lamp_mode(self, service: str, available: bool, lease_left: int, now: datetime) -> str:
        """``on`` (press for a ticket), ``off`` (nothing to issue), ``slow`` (issuing in outage or
        from the lease), ``fast`` (printer fault)."""
        if not self.can_print:
            return "fast"
        if available:
            if service in self.suspended or self.hall_mode == "closed":
                return "off"
            if self.hall_mode == "outage":
                return "off" if self.outage_issuing == "refuse" else "slow"
            return "on"
        if self.offline_refusal(service, now) is not None or lease_left == 0:
            return "off"
        return "slow"

    def mode(self, available: bool) -> str:
        if not available:
            return "offline"
        return "outage" if self.hall_mode == "outage" else "online"
