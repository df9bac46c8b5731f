"""The read side of the contract: what devices, ctl and the simulator read from the controller.

Each document is decoded once, with msgspec, into one of these structs; every reader of the hall
uses them, so a field means one thing everywhere. Readers are lenient where the contract lets the
controller add fields (unknown fields are ignored, hallq's own fields have defaults) and strict
where a wrong value would mislead a person: numbers of people and seconds are bounded, texts
shown on a sign, screen or ticket have bounded length, and a ticket number carries no control
characters. A document that fails is refused whole (:class:`BadDocument` names what was wrong):
a reader never acts on half of it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec

from hallq.errors import HallqError

# bounds a real hall never reaches; past them a document is wrong, not big
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Name = Annotated[str, msgspec.Meta(max_length=500)]
# a ticket number as printed, spoken and shown: printable characters only
Number = Annotated[str, msgspec.Meta(min_length=1, max_length=16, pattern=r"^[^\x00-\x1f\x7f]+$")]


class BadDocument(HallqError):
    """A message that is not the document it should be; the text names what was wrong."""


# --- parts ------------------------------------------------------------------------------------
class TicketDoc(msgspec.Struct):
    """A ticket as replies, events and the state's counters carry it (state: a subset)."""
    number: Number
    id: str = ""
    service: str = ""
    priority: str = "normal"
    status: str = "waiting"
    issued_at: datetime | None = None
    waiting_ahead: Count | None = None
    est_wait_s: Seconds | None = None
    counter: str | None = None
    called_at: str | None = None
    recalls: Count = 0
    outage: bool = False
    offline: bool = False
    appointment: bool = False
    slot: datetime | None = None
    est_known: bool = True        # hallq's extension: False when nobody is calling its service
    # hallq's journeys: the route's services (a ticket's own document), the step it is at (its index
    # in the route) of how many (a counter's ticket carries the count, not the route), and the
    # estimate until its last step is done
    route: list[str] = []
    step: Annotated[int, msgspec.Meta(ge=0, le=16)] = 0
    steps: Annotated[int, msgspec.Meta(ge=0, le=16)] = 0
    est_route_s: Seconds = 0

    @property
    def journey(self) -> tuple[int, int] | None:
        """(step, of steps), counted from 1, for a journey's ticket; None for a one-service one."""
        total = len(self.route) or self.steps
        return (self.step + 1, total) if total > 1 else None


class ServiceDoc(msgspec.Struct):
    id: str
    name: Name = ""
    prefix: str = ""
    suspended: bool = False
    waiting: Count = 0
    est_wait_s: Seconds = 0
    name_en: Name = ""
    waiting_priority: Count = 0
    open_counters: Count = 0
    est_known: bool = True        # hallq's extension: False when nobody is calling it (est_wait_s is 0)


class CounterDoc(msgspec.Struct):
    id: str
    name: Name = ""
    status: str = "idle"
    ticket: TicketDoc | None = None
    clerk: Name | None = None
    number: int | None = None
    suspend_reason: Name | None = None
    services: list[str] = []


class RecentCallDoc(msgspec.Struct):
    number: Number
    counter: str
    at: str = ""
    service: str = ""
    counter_name: Name = ""
    step: Annotated[int, msgspec.Meta(ge=0, le=16)] = 0     # a journey's call: its step (index in its route)
    steps: Annotated[int, msgspec.Meta(ge=0, le=16)] = 0    # of how many; 0: not a journey


class HallResultDoc(msgspec.Struct):
    """The ``hall`` result of admin ops."""
    mode: str
    message: Name | None = None
    announcements: list[Name] = []


class LeaseDoc(msgspec.Struct):
    service: str
    start: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    end: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    day: str
    first: str = ""
    last: str = ""


class AppointmentDoc(msgspec.Struct):
    code: str
    service: str
    slot: str
    day: str = ""


class BookedDoc(msgspec.Struct):
    """One of the day's booked slots as a kiosk keeps it to check in offline (the ``appointments`` op)."""
    code_hash: str
    service: str
    slot: datetime
    day: str


class RemoteTicketDoc(msgspec.Struct):
    """A ticket joined from a phone, not yet confirmed here, as a kiosk keeps it (the ``appointments``
    op): its customer can confirm arriving with the arrival code while the controller is away."""
    code_hash: str
    number: str
    service: str
    day: str


class ErrorDoc(msgspec.Struct):
    code: str
    message: str = ""


class RejectedDoc(msgspec.Struct):
    number: str
    code: str = ""
    message: str = ""


class RulesDoc(msgspec.Struct):
    """The calling rules in force (state's ``rules``, the ``set_rules`` result); ``by``: "file" or "operator"."""
    priority_per_normal: Count = 0
    ageing_s: Seconds = 0
    journey_order: str = "issued"
    auto_call_s: Seconds = 0
    appointment_place: str = "ahead"
    by: str = "file"


class AlertDoc(msgspec.Struct):
    """A supervisor alert the controller raised (kinds in hallq/core/alerts.py)."""
    id: str
    kind: str = ""
    severity: str = "warning"
    since: str = ""
    text: Name = ""


# --- documents --------------------------------------------------------------------------------
class StateDoc(msgspec.Struct):
    """``R/state``: the whole hall, retained."""
    hall: str
    epoch: Seq
    seq: Seq
    mode: str
    message: Name | None = None
    services: list[ServiceDoc] = []
    counters: list[CounterDoc] = []
    recent_calls: list[RecentCallDoc] = []
    announcements: list[Name] = []
    hall_name: Name | None = None
    hall_name_en: Name | None = None
    hours: list[list[str]] | None = None
    day: str | None = None
    devices: dict[str, dict[str, Any]] = {}
    alerts: list[AlertDoc] = []
    rules: RulesDoc | None = None

    def service(self, service_id: str) -> ServiceDoc | None:
        return next((s for s in self.services if s.id == service_id), None)

    def counter(self, counter_id: str) -> CounterDoc | None:
        return next((c for c in self.counters if c.id == counter_id), None)


class PresenceDoc(msgspec.Struct, omit_defaults=True):
    """``R/presence/<id>``: the controller's carries its ``epoch``, a device's its ``boot``."""
    online: bool
    boot: int = 0
    epoch: int = 0
    fault: str | None = None     # the controller's, when it is alive but cannot take work (e.g. disk full)


class ReplyDoc(msgspec.Struct):
    """``R/dev/<id>/res``: the answer to one request; the result field depends on the op."""
    request_id: str | None
    ok: bool
    error: ErrorDoc | None = None
    ticket: TicketDoc | None = None
    counter: CounterDoc | None = None
    service: ServiceDoc | None = None
    hall: HallResultDoc | None = None
    lease: LeaseDoc | None = None
    appointment: AppointmentDoc | None = None
    rules: RulesDoc | None = None
    appointments: list[BookedDoc] = []
    remote: list[RemoteTicketDoc] = []
    tickets: list[TicketDoc] = []
    rejected: list[RejectedDoc] = []
    # the read-only ops ``snapshot`` and ``events`` (hallq's own): kept raw for the core to decode
    epoch: int | None = None
    seq: int | None = None
    state: msgspec.Raw = msgspec.Raw(b"null")
    events: list[msgspec.Raw] = []
    last_seq: int | None = None
    first_seq: int | None = None        # ``events``: the oldest event the controller still keeps

    @property
    def code(self) -> str:
        """The error code of a refusal ("" when ok)."""
        return "" if self.ok else (self.error.code if self.error else "internal")

    @property
    def message(self) -> str:
        return self.error.message if self.error else ""


D = TypeVar("D")
_decoders: dict[type, msgspec.json.Decoder] = {}


def read(payload: bytes, kind: type[D]) -> D:
    """Decode one document; :class:`BadDocument` naming the field if it is not one."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        payload.decode("utf-8")      # msgspec does not check the bytes of fields it skips
        return decoder.decode(payload)
    except msgspec.DecodeError as err:
        raise BadDocument(str(err).replace("$.", "").replace("`$`", "the document")) from None
    except RecursionError:
        raise BadDocument("nested too deeply") from None
    except UnicodeDecodeError as err:
        raise BadDocument(f"not UTF-8: {err.reason} at byte {err.start}") from None


def convert(value: dict[str, Any], kind: type[D]) -> D:
    """An already-parsed document (tests, the simulator) as its struct; BadDocument if wrong."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as err:
        raise BadDocument(str(err).replace("$.", "")) from None
