"""What the kiosk prints: tickets issued online or from its lease, and refusal slips.

Turns a ticket (as the controller's reply carries it, or as journaled offline) into the printer
layer's :class:`~printer.layout.TicketView`, renders ESC/POS and sends it to the printer passed in.
A lease ticket's estimate uses the core's one estimate rule with the configured service time.
"""
from __future__ import annotations

import logging
from datetime import datetime

from hallq.contract import TicketDoc
from hallq.contract.tokens import ticket_url
from hallq.core.rules import Setup, configured_counters, wait_for
from hallq.errors import DeviceFault
from hallq.printer.escpos_render import render_escpos
from hallq.printer.layout import Layout, TicketView, second_language, slip_layout, ticket_layout
from hallq.printer.transport import TicketPrinter
from hallq.runtime.config import Config, KioskConfig
from hallq.runtime.i18n import N_, bilingual, gettext

from .journal import OfflineTicket

log = logging.getLogger(__name__)

# what a refusal slip says, by the controller's error code
REFUSALS = {      # code -> (title, what to do): the slip's title in Chinese, the rest in both languages
    "hall_closed": (N_("Tickets paused"), N_("The hall is closed")),
    # suspending a service stops its tickets; those already issued are still called
    "service_suspended": (N_("Tickets paused"), N_("No new tickets for this service now: please ask at the service desk")),
    "outage": (N_("Tickets paused"), N_("Please ask at the service desk")),
    "numbers_exhausted": (N_("Today's numbers are used up"), N_("Please ask at the service desk")),
    "kiosk_quota": (N_("This machine has paused"), N_("Please use another ticket machine")),
    "rate_limited": (N_("Please wait"), N_("Please press again in a moment")),
    "no_lease": (N_("Tickets paused"), N_("Please ask at the service desk")),
    "storage": (N_("Tickets paused"), N_("Please ask at the service desk")),
    "unknown_appointment": (N_("Appointment code not valid"), N_("Code not found: please ask at the desk")),
    "already_checked_in": (N_("Already checked in"), N_("This appointment is already checked in")),
    "check_in_offline": (N_("Check-in paused"), N_("Please ask at the service desk")),
    "too_early": (N_("Too early to check in"), N_("Check-in has not opened yet")),
}


class TicketPrinting:
    def __init__(self, config: Config, kiosk: KioskConfig, setup: Setup, printer: TicketPrinter) -> None:
        self.config, self.kiosk, self.setup, self.printer = config, kiosk, setup, printer
        self.printed: list[str] = []                   # labels printed this run (tests, bench)
        self.slips = 0

    def printer_condition(self) -> str:
        """The printer's condition (``DLE EOT``); a transport fault is ``offline``, never a crash."""
        try:
            return self.printer.status()
        except Exception as err:
            log.error("printer status failed: %s", err)
            return "offline"

    def _print(self, layout: Layout, label: str) -> None:
        job = render_escpos(layout, self.kiosk.printer.chinese)
        self.printer.print_job(job, label, layout)
        self.printed.append(label)

    def ticket(self, view: TicketView) -> None:
        """Print one ticket; DeviceFault if the printer failed."""
        self._print(ticket_layout(view, self.kiosk.printer.width_mm, cut=self.kiosk.printer.cut), view.number)

    def refusal(self, code: str, message: str, now: datetime, boot: int, service: str | None = None) -> None:
        """A slip saying why no ticket came (when configured); a printer fault is only logged."""
        if not self.kiosk.refused_slip:
            return
        if code in REFUSALS:
            title, detail = (gettext(REFUSALS[code][0], "zh_CN"), bilingual(REFUSALS[code][1]))
        else:
            title, detail = gettext(N_("No ticket issued"), "zh_CN"), message or code
        if service is not None:              # the slip names the service the button was for
            detail = f"{self._service_line(service)}\n{detail}"
        self.slips += 1
        layout = slip_layout(self.config.hall.name, title, detail, now, self.kiosk.printer.width_mm,
                             cut=self.kiosk.printer.cut)
        try:
            self._print(layout, f"slip-{boot}-{self.slips}")
        except DeviceFault as fault:
            log.error("refusal slip not printed: %s", fault)

    def _service_line(self, service: str) -> str:
        name, name_en = self._names(service)
        return f"{name} {second_language(name, name_en)}".strip()

    def _names(self, service: str) -> tuple[str, str]:
        setup = self.config.service_by_id(service)
        return (setup.name, setup.name_en) if setup else (service, "")

    def _outage_text(self) -> str:
        texts = self.config.hall.texts
        return f"{texts.outage} {texts.outage_en}".strip()

    def _qr(self, number: str, token: str) -> str | None:
        """The phone page of this ticket when the hall has one (``[web] public_url``), else the
        kiosk's own ``qr_url`` template, else no QR code."""
        web = self.config.web
        if web is not None and web.public_url and token:
            return ticket_url(web.public_url, token)
        url = self.kiosk.printer.qr_url
        return url.replace("{ticket}", number).replace("{hall}", self.config.hall.id) if url else None

    def online_view(self, ticket: TicketDoc, service: str, now: datetime, token: str = "") -> TicketView:
        name, name_en = self._names(ticket.service or service)
        issued = ticket.issued_at.astimezone(self.config.zone) if ticket.issued_at else now
        return TicketView(
            hall_name=self.config.hall.name, hall_name_en=self.config.hall.name_en, number=ticket.number,
            service_name=name, service_name_en=name_en, waiting_ahead=ticket.waiting_ahead,
            est_wait_s=ticket.est_wait_s, est_known=ticket.est_known, issued_at=issued, priority=ticket.priority == "priority",
            outage=ticket.outage, outage_text=self._outage_text(), notice=self.kiosk.printer.notice,
            qr_data=self._qr(ticket.number, token),
            appointment_slot=ticket.slot.astimezone(self.config.zone) if ticket.appointment and ticket.slot else None,
            route=self._route_names(ticket.service or service),
            est_route_s=ticket.est_route_s if ticket.route and ticket.est_known else None)

    def _route_names(self, service: str) -> tuple[str, ...]:
        """A journey's services by name, in Chinese: the steps its number goes through."""
        then = self.setup.services[service].route if service in self.setup.services else ()
        return tuple(self._names(s)[0] for s in (service, *then)) if then else ()

    def arrival_view(self, number: str, service: str, now: datetime) -> TicketView:
        """The ticket of a customer who joined from a phone and confirmed arriving here while the
        controller was away: their number, no count or wait (the kiosk cannot know them)."""
        name, name_en = self._names(service)
        return TicketView(
            hall_name=self.config.hall.name, hall_name_en=self.config.hall.name_en, number=number,
            service_name=name, service_name_en=name_en, waiting_ahead=None, est_wait_s=None, issued_at=now,
            notice=self.kiosk.printer.notice, arrival_noted=True, route=self._route_names(service))

    def offline_view(self, ticket: OfflineTicket, ahead: int, now: datetime, token: str = "",
                     slot: datetime | None = None) -> TicketView:
        name, name_en = self._names(ticket.service)
        service = self.setup.services.get(ticket.service)
        per = service.est_service_s if service else 300.0
        return TicketView(
            hall_name=self.config.hall.name, hall_name_en=self.config.hall.name_en, number=ticket.number,
            service_name=name, service_name_en=name_en, waiting_ahead=ahead,
            est_wait_s=wait_for(ahead, per, configured_counters(self.setup, ticket.service)),
            issued_at=now, priority=ticket.priority == "priority", offline=True, approximate=True,
            notice=self.kiosk.printer.notice, qr_data=self._qr(ticket.number, token),
            appointment_slot=slot.astimezone(self.config.zone) if slot else None,
            route=self._route_names(ticket.service))
