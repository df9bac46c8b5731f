"""State of one hall, as immutable values (msgspec structs, frozen where shared)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

TicketStatus = Literal["waiting", "called", "served", "no_show", "voided"]
OPEN_STATUSES = ("waiting", "called")
TOP_NUMBER = 999           # numbers are the prefix plus three digits ...
NO_LEASE = TOP_NUMBER + 1  # lease floor when nothing is leased
OVERFLOW_TOP = 9999        # ... and a fourth digit once a service's three-digit numbers are used up
NO_OVERFLOW_LEASE = OVERFLOW_TOP + 1
NUMBER = re.compile(r"([A-Z]{1,2})([0-9]{3}|[1-9][0-9]{3})")   # A001-A999, then A1000-A9999
# a ticket number as printed, shown and spoken: printable, short (readers refuse anything else)
Number = Annotated[str, msgspec.Meta(min_length=1, max_length=16, pattern=r"^[^\x00-\x1f\x7f]+$")]


def number_value(number: str) -> int:
    """The digits of a number after its prefix (A012 -> 12, A1003 -> 1003); 0 if it has none."""
    digits = number.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return int(digits) if digits.isascii() and digits.isdigit() else 0


class Ticket(msgspec.Struct, frozen=True, kw_only=True):
    # contract fields
    id: str
    number: Number
    service: str
    priority: Literal["normal", "priority"] = "normal"
    status: TicketStatus = "waiting"
    issued_at: datetime
    waiting_ahead: int = 0     # as of the event that carries it
    est_wait_s: int = 0
    counter: str | None = None
    # hallq's own
    est_known: bool = True     # False: nobody was calling its service, est_wait_s (0) promises nothing
    day: str
    source: str = ""
    offline: bool = False
    outage: bool = False
    order: int = 0             # tie-break for equal issue times: order of arrival at the controller
    recalls: int = 0
    called_at: datetime | None = None
    finished_at: datetime | None = None
    rating: int | None = None
    clerk: str | None = None
    reason: str | None = None
    transferred_from: str | None = None
    appointment: bool = False          # checked in on time for a booked slot (contract v1.1)
    token_hash: str | None = None      # hash of the token on its QR code (the phone page's key)
    slot: datetime | None = None       # that slot's start
    ahead_at_slot: bool = True         # an appointment goes ahead of walk-ins once its slot began ([hall] appointment_place)
    # a journey (one number through several services): its services in order, and the one it is at
    route: tuple[str, ...] = ()        # empty: a ticket for one service
    step: int = 0                      # index in ``route`` of the step it waits for or is served at
    step_at: datetime | None = None    # when it joined this step's queue (None: at its issue)
    queue_since: datetime | None = None  # the time this step queues it by, when not its issue time
    est_route_s: int = 0               # a journey waiting: seconds until its last step is done, as estimated
    # joined from a phone (the hall's join page): it must be confirmed on arrival (the door's QR code, or
    # its code at a kiosk) before it is called ([hall] remote_unconfirmed)
    remote: bool = False
    arrived: bool = True
    arrival_code: str | None = None
    postponed: bool = False            # moved back once at the customer's request (an SMS reply "1")

    @property
    def booked(self) -> bool:
        """Queued by its booked slot, ahead of walk-ins once it began: an appointment checked in on
        time, at its first step (an interleaved one queues among walk-ins by its slot: ``queue_since``)."""
        return self.appointment and self.slot is not None and self.step == 0 and self.ahead_at_slot

    @property
    def walk_in(self) -> bool:
        """Neither a priority ticket nor a checked-in appointment: queued by its queue time."""
        return self.priority != "priority" and not self.booked

    @property
    def queued_by(self) -> datetime:
        """The time it queues by: its issue time (a transfer and, by default, a journey's next step keep it)."""
        return self.queue_since or self.issued_at

    @property
    def waiting_since(self) -> datetime:
        """When it began waiting for the step it waits for (its issue, or the step before finished)."""
        return self.step_at or self.issued_at

    @property
    def last_step(self) -> bool:
        return self.step >= len(self.route) - 1

    def queue_key(self, now: datetime) -> tuple[int, datetime, int]:
        """The order of calling at ``now``: priority tickets first (by issue time); then
        appointments whose slot has begun (by slot); then everyone else by the time they queue
        by: the issue time for walk-ins (a transfer keeps it), the slot for an appointment
        that is not due yet. Arrival order breaks ties."""
        if self.priority == "priority":
            return (0, self.queued_by, self.order)
        if self.booked:
            return (1 if self.slot <= now else 2, self.slot, self.order)  # type: ignore[operator]
        return (2, self.queued_by, self.order)


class ServiceState(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    suspended: bool = False
    next_number: int = 1        # next online number
    lease_floor: int = NO_LEASE  # lowest number leased today; online numbers stay below it
    overflow_floor: int = NO_OVERFLOW_LEASE   # the same in the four-digit numbers
    avg_service_s: float = 300.0
    measured: int = 0
    occupancy_s: float = 0.0    # a ticket's time at a counter, served or no-show (0: not measured yet)
    priority_run: int = 0       # priority tickets called in a row (Setup.priority_per_normal)


class CounterState(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    suspended: bool = False
    suspend_reason: str = ""
    ticket: str | None = None          # id of the ticket called here
    clerk: str | None = None
    last_served: str | None = None     # for the rating pad
    last_served_at: datetime | None = None
    last_served_step: int = 0          # the journey step it served (a journey's ticket has gone on to the next)
    last_rated: bool = False           # the rating pad rated what it served last (a journey's ticket: each step once)
    suspended_at: datetime | None = None   # when its current pause began (estimates: when it returns)
    free_since: datetime | None = None     # its last customer left or it came back from a pause, today
    calls: dict[str, int] = {}             # tickets it called today per service (weighted calling order)


class DeviceState(msgspec.Struct, frozen=True, kw_only=True):
    online: bool | None = None         # None: never heard of
    boot: int = 0
    status: dict[str, Any] = {}


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    kiosk: str
    service: str
    start: int
    end: int
    day: str
    at: datetime | None = None         # when it was leased: no ticket from it was issued before


AppointmentStatus = Literal["booked", "checked_in"]


class Appointment(msgspec.Struct, frozen=True, kw_only=True):
    """A booked slot (预约): presented at a kiosk by its code, once."""
    code: str
    service: str
    slot: datetime
    day: str                           # the business day of the slot
    status: AppointmentStatus = "booked"
    ticket: str | None = None          # id of the ticket its check-in issued
    checked_in_at: datetime | None = None
    on_time: bool | None = None        # checked in within the slot's window


JourneyOrder = Literal["issued", "step"]
AppointmentPlace = Literal["ahead", "interleaved"]


class CallingRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The calling rules a hall may change (docs/controller.md): the hall file's, or an operator's
    for the rest of the business day (``set_rules``)."""
    priority_per_normal: Annotated[int, msgspec.Meta(ge=0, le=50)] = 0
    ageing_s: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 0
    journey_order: JourneyOrder = "issued"
    auto_call_s: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 0
    appointment_place: AppointmentPlace = "ahead"

    def changes(self, other: CallingRules) -> dict[str, tuple[Any, Any]]:
        """name -> (this value, the other's), for the rules that differ."""
        return {name: (getattr(self, name), getattr(other, name)) for name in self.__struct_fields__
                if getattr(self, name) != getattr(other, name)}


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """Something a supervisor should look at; raised and cleared by the controller itself."""
    id: str                            # kind:subject, e.g. "unserved:biz"
    kind: str                          # unserved | long_wait | idle_counter | printer | offline
    severity: str                      # critical | warning | info
    since: datetime
    text: str


class RecentCall(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    counter: str
    at: datetime
    service: str
    ticket: str
    step: int = 0                      # a journey's call: its step (index in its route) ...
    steps: int = 0                     # ... of how many (0: not a journey)


class HallState(msgspec.Struct, kw_only=True):
    day: str = ""
    schedule_open: bool | None = None   # what the hours say, as last checked
    override: Literal["open", "closed"] | None = None  # operator's open/close until the next boundary
    outage: bool = False
    outage_message: str | None = None
    announcements: list[str] = []
    services: dict[str, ServiceState] = {}
    counters: dict[str, CounterState] = {}
    tickets: dict[str, Ticket] = {}
    devices: dict[str, DeviceState] = {}
    leases: list[Lease] = []
    recent_calls: list[RecentCall] = []
    appointments: dict[str, Appointment] = {}
    alerts: dict[str, Alert] = {}
    arrivals: int = 0                   # tickets placed today: the `order` of the next one
    kiosk_issued: dict[str, int] = {}   # "kiosk.k1|pay" -> tickets that kiosk issued today (its share)
    gap_s: float = 0.0                  # measured: a clerk's time from finishing one customer to calling the next
    pause_s: float = 1800.0             # measured: how long a counter's pause (暂停服务) lasts
    remote_joins: dict[str, int] = {}   # today's remote joins: "service:pay", "device:<key>", "address:<key>" -> count
    rules: CallingRules | None = None   # an operator's calling rules for the rest of the day (None: the hall file's)
    file_rules: CallingRules | None = None  # the hall file's rules as last recorded (None: the defaults)

    @property
    def is_open(self) -> bool:
        if self.override is not None:
            return self.override == "open"
        return bool(self.schedule_open)

    @property
    def mode(self) -> str:
        if self.outage:
            return "outage"
        return "open" if self.is_open else "closed"

    def copy(self) -> HallState:
        """A new state sharing the (immutable) items; containers are copied so the old stays intact."""
        return msgspec.structs.replace(
            self,
            announcements=list(self.announcements),
            services=dict(self.services),
            counters=dict(self.counters),
            tickets=dict(self.tickets),
            devices=dict(self.devices),
            leases=list(self.leases),
            recent_calls=list(self.recent_calls),
            appointments=dict(self.appointments),
            alerts=dict(self.alerts),
            kiosk_issued=dict(self.kiosk_issued),
            remote_joins=dict(self.remote_joins),
        )
