"""Events: what happened, past tense. Each carries what ``evolve`` needs to apply it.

On the wire (``R/event``) an event is its fields plus ``type`` (the tag), ``epoch`` and ``seq``.
Call events carry the ``ticket`` and the ``counter`` as the contract asks.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from .model import Alert, Appointment, CallingRules, Ticket


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    at: datetime


class DayStarted(Event, tag="day_started"):
    day: str
    carried: list[str] = []       # ids of unfinished tickets kept from the previous day


class TicketIssued(Event, tag="ticket_issued"):
    ticket: Ticket


class RemoteJoined(Event, tag="remote_joined"):
    """A phone joined the queue (its ``ticket_issued`` follows): what the day's limits count."""
    service: str
    device: str
    address: str


class TicketArrived(Event, tag="ticket_arrived"):
    """A remote ticket's customer confirmed they are in the hall: it can be called now."""
    ticket: Ticket
    by: str = ""


class TicketPostponed(Event, tag="ticket_postponed"):
    """Moved back at the customer's request: its place is now just behind the ticket it let go first."""
    ticket: Ticket
    places: int                    # how many it let go first (fewer when fewer waited behind it)


class TicketCalled(Event, tag="ticket_called"):
    ticket: Ticket
    counter: str
    out_of_order: bool = False     # called by number (``call``), not as the next in line
    auto: bool = False             # called by the counter itself, free for ``[hall] auto_call_s``


class TicketRecalled(Event, tag="ticket_recalled"):
    ticket: Ticket
    counter: str


class TicketServed(Event, tag="ticket_served"):
    ticket: Ticket
    counter: str
    service_s: float


class TicketRouted(Event, tag="ticket_routed"):
    """A journey's step was finished (its ``ticket_served`` just before): the ticket, keeping its
    number, now waits for the next service of its route."""
    ticket: Ticket
    counter: str
    from_service: str


class TicketNoShow(Event, tag="ticket_no_show"):
    ticket: Ticket
    counter: str


class TicketTransferred(Event, tag="ticket_transferred"):
    ticket: Ticket
    counter: str
    from_service: str


class TicketVoided(Event, tag="ticket_voided"):
    ticket: Ticket
    counter: str | None = None


class TicketReinstated(Event, tag="ticket_reinstated"):
    ticket: Ticket


class TicketRated(Event, tag="ticket_rated"):
    ticket: Ticket
    counter: str
    rating: int
    # the journey step rated: its ticket may have gone on to the next step already (None: recorded
    # before steps were named; the step served last at ``counter`` is meant)
    step: int | None = None


class CounterSuspended(Event, tag="counter_suspended"):
    counter: str
    reason: str = ""


class CounterResumed(Event, tag="counter_resumed"):
    counter: str


class ClerkLoggedIn(Event, tag="clerk_logged_in"):
    counter: str
    clerk: str


class ClerkLoggedOut(Event, tag="clerk_logged_out"):
    counter: str
    clerk: str


class ServiceSuspended(Event, tag="service_suspended"):
    service: str


class ServiceResumed(Event, tag="service_resumed"):
    service: str


class OutageStarted(Event, tag="outage_started"):
    message: str | None = None


class OutageEnded(Event, tag="outage_ended"):
    pass


class HallOpened(Event, tag="hall_opened"):
    by: str                        # "schedule" or "operator"


class HallClosed(Event, tag="hall_closed"):
    by: str


class Announcement(Event, tag="announcement"):
    text: str


class AnnouncementRemoved(Event, tag="announcement_removed"):
    text: str | None = None        # None: all


class DeviceOnline(Event, tag="device_online"):
    device: str
    boot: int = 0


class DeviceOffline(Event, tag="device_offline"):
    device: str
    boot: int = 0


class DeviceStatusChanged(Event, tag="device_status"):
    device: str
    status: dict[str, Any]


class NumbersLeased(Event, tag="numbers_leased"):
    kiosk: str
    service: str
    start: int
    end: int
    day: str


class AppointmentBooked(Event, tag="appointment_booked"):
    appointment: Appointment


class AppointmentCancelled(Event, tag="appointment_cancelled"):
    code: str


class AppointmentMoved(Event, tag="appointment_moved"):
    appointment: Appointment       # with its new slot (and day)


class AppointmentCheckedIn(Event, tag="appointment_checked_in"):
    code: str
    ticket: str                    # id of the ticket issued for it (its own ticket_issued follows)
    on_time: bool


class AlertRaised(Event, tag="alert_raised"):
    alert: Alert


class AlertCleared(Event, tag="alert_cleared"):
    id: str


class NumberingContinued(Event, tag="numbering_continued"):
    service: str
    next_number: int               # the next online number of the service, at least


class RulesChanged(Event, tag="rules_changed"):
    """The calling rules in force changed: an operator's (``set_rules``, for the rest of the day) or
    the hall file's at a controller's start (``file``)."""
    rules: CallingRules
    before: CallingRules
    by: str = ""
    file: bool = False


AnyEvent = (
    DayStarted | TicketIssued | TicketCalled | TicketRecalled | TicketServed | TicketNoShow
    | TicketTransferred | TicketVoided | TicketReinstated | TicketRated | CounterSuspended
    | CounterResumed | ClerkLoggedIn | ClerkLoggedOut | ServiceSuspended | ServiceResumed
    | OutageStarted | OutageEnded | HallOpened | HallClosed | Announcement | AnnouncementRemoved
    | DeviceOnline | DeviceOffline | DeviceStatusChanged | NumbersLeased | AppointmentBooked
    | AppointmentCheckedIn | AlertRaised | AlertCleared | NumberingContinued | TicketRouted | RulesChanged
    | RemoteJoined | TicketArrived | TicketPostponed | AppointmentCancelled | AppointmentMoved
)

_decoder = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder()


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> Event:
    return _decoder.decode(data)


def event_type(event: Event) -> str:
    return type(event).__struct_config__.tag  # type: ignore[return-value]
