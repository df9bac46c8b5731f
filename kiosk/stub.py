"""The ``--stub`` kiosk's ``R/sim`` messages (contract "Stub devices"): presses through the mock
pins, exactly the path of a person's finger, the stub printer's condition, and check-in codes.

``{"press": "pay"}``, ``{"press": "pay", "priority": true}``, ``{"press": "check_in", "code": "…"}``,
``{"printer": "paper_out"}``, ``{"printer_fail_next": "paper_out"}`` (extension: the next print fails).
A wrong message is logged, naming what was wrong, and changes nothing.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

import msgspec

from hallq.printer.status import CONDITIONS
from hallq.printer.transport import StubPrinter, TicketPrinter

from .model import KioskModel
from .panel import PRIORITY, KioskPanel

log = logging.getLogger(__name__)


class SimPayload(msgspec.Struct):
    press: str | None = None
    priority: bool = False
    code: str | None = None                # with "check_in": the appointment's code
    printer: str | None = None
    printer_fail_next: str | None = None   # extension: the next print fails with this condition


class StubbedKiosk(Protocol):
    """What the stub's messages reach of the kiosk role: its buttons, printer, model and check-in."""
    panel: KioskPanel
    printer: TicketPrinter
    model: KioskModel

    def check_in(self, code: str) -> None: ...


def drive_sim(role: StubbedKiosk, payload: dict[str, Any]) -> None:
    try:
        sim = msgspec.convert(payload, SimPayload)
    except msgspec.ValidationError as err:
        log.warning("sim message refused: %s", err)
        return
    for name in ("printer", "printer_fail_next"):
        value = getattr(sim, name)
        if value is not None and value not in CONDITIONS:
            log.warning("sim message refused: %s must be one of %s, not %r", name, ", ".join(CONDITIONS), value)
            return
    if sim.press == "check_in":
        if not sim.code:
            log.warning("sim message refused: check_in needs a code")
        else:
            role.check_in(sim.code)
        return
    if sim.press is not None and role.panel.fault:
        log.warning("sim message refused: the kiosk has no buttons (%s)", role.panel.fault)
        return
    if sim.press is not None and sim.press not in role.panel.buttons:
        log.warning("sim message refused: no button %r (buttons: %s)", sim.press, ", ".join(role.panel.buttons))
        return
    if (sim.printer or sim.printer_fail_next) and not isinstance(role.printer, StubPrinter):
        log.warning("sim message refused: the printer is not a stub")
        return
    if sim.printer is not None:
        role.printer.set_condition(sim.printer)  # type: ignore[union-attr]
        role.model.printer_condition = role.printer.status()
        if role.model.can_print and role.model.reason and role.model.reason.startswith("printer"):
            role.model.reason = None
    if sim.printer_fail_next is not None:
        role.printer.fail_next = sim.printer_fail_next  # type: ignore[union-attr]
    if sim.press is not None:
        if sim.priority and sim.press != PRIORITY:
            role.panel.drive(PRIORITY)
        role.panel.drive(sim.press)
