"""Commands: what someone asks the hall to do, imperative. ``by`` is the asking device id."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class Command(msgspec.Struct, frozen=True, kw_only=True):
    by: str = ""


class IssueTicket(Command, frozen=True):
    service: str
    priority: Literal["normal", "priority"] = "normal"
    token_hash: str | None = None


class JoinRemotely(Command, frozen=True):
    """A ticket from the hall's join page (a phone): ``device`` and ``address`` are keyed hashes of
    the phone's cookie and its address (the limits count them; neither can be read back)."""
    service: str
    device: str
    address: str
    code: str                      # what the customer shows or types at a kiosk on arrival
    token_hash: str | None = None


class ConfirmArrival(Command, frozen=True):
    """A remote ticket's customer is in the hall: by its code (at a kiosk) or its token (the door's QR code)."""
    code: str | None = None
    token_hash: str | None = None


class PostponeTicket(Command, frozen=True):
    """The customer asks for more time (an SMS reply "1"): moved back ``places`` places, once."""
    ticket_id: str
    places: int = 3


class VoidTicket(Command, frozen=True):
    ticket_id: str
    reason: str = ""


class LeaseNumbers(Command, frozen=True):
    service: str
    size: int = 20


class PlaceOfflineTicket(Command, frozen=True):
    number: str
    service: str
    issued_at: datetime
    priority: Literal["normal", "priority"] = "normal"
    token_hash: str | None = None
    code: str | None = None        # an appointment checked in at the kiosk while offline


class CallNext(Command, frozen=True):
    counter: str


class CallTicket(Command, frozen=True):
    """Call one waiting ticket out of order (contract v1.1 ``call``)."""
    counter: str
    number: str


class BookAppointment(Command, frozen=True):
    code: str
    service: str
    slot: datetime


class CancelBooking(Command, frozen=True):
    code: str


class MoveBooking(Command, frozen=True):
    code: str
    slot: datetime


class CheckIn(Command, frozen=True):
    code: str
    token_hash: str | None = None


class Recall(Command, frozen=True):
    counter: str


class Finish(Command, frozen=True):
    counter: str
    rating: int | None = None


class Rate(Command, frozen=True):
    counter: str
    rating: int


class NoShow(Command, frozen=True):
    counter: str


class Transfer(Command, frozen=True):
    counter: str
    service: str


class SuspendCounter(Command, frozen=True):
    counter: str
    reason: str = ""


class ResumeCounter(Command, frozen=True):
    counter: str


class Login(Command, frozen=True):
    counter: str
    clerk: str


class Logout(Command, frozen=True):
    counter: str


class Reinstate(Command, frozen=True):
    ticket_id: str | None = None
    number: str | None = None


class SuspendService(Command, frozen=True):
    service: str


class ResumeService(Command, frozen=True):
    service: str


class SetOutage(Command, frozen=True):
    active: bool
    message: str | None = None


class Announce(Command, frozen=True):
    text: str


class Unannounce(Command, frozen=True):
    text: str | None = None


class OpenHall(Command, frozen=True):
    pass


class CloseHall(Command, frozen=True):
    pass


class Tick(Command, frozen=True):
    """Time passed: opening hours and the business day are checked; and the supervisors' alerts,
    unless ``alerts`` is False (the controller checks them once a second, not at every batch)."""
    alerts: bool = True


class DevicePresence(Command, frozen=True):
    device: str
    online: bool
    boot: int = 0


class DeviceStatus(Command, frozen=True):
    device: str
    status: dict[str, Any]


class SetRules(Command, frozen=True):
    """An operator's calling rules for the rest of the business day (the hall file's again the next)."""
    rules: dict[str, Any]          # some of CallingRules' fields, the others kept as in force


class AdoptFileRules(Command, frozen=True):
    """At the controller's start: the hall file's calling rules, recorded when they changed since
    the last start (the file wins over an operator's change of the day)."""


class ContinueNumbering(Command, frozen=True):
    """A fresh start on purpose: each service's numbers go on above the highest the hall had used
    (prefix -> that number), so none is issued twice (hallq/controller/continuity.py)."""
    numbers: dict[str, int]
