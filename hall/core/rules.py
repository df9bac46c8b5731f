"""The queue rules: decide what a command does (events), and evolve a state by an event.

``QueueRules(setup).handle(state, command, now)`` returns ``(new_state, events)`` or raises
:class:`~hall.errors.RequestError` with a contract error code, changing nothing. ``evolve`` is a
plain function of (state, event): replaying stored events rebuilds the state.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from msgspec.structs import replace

from ..errors import RequestError
from . import commands as c
from . import events as e
from .model import (NO_LEASE, OPEN_STATUSES, TOP_NUMBER, Appointment, CounterState, DeviceState, HallState,
                    Lease, RecentCall, ServiceState, Ticket)

RECENT_CALLS_KEPT = 20
ANNOUNCEMENTS_KEPT = 10
SERVICE_TIME_BOUNDS = (20.0, 3600.0)   # a measured service time outside is an outlier (forgot to finish)
SERVICE_TIME_WEIGHT = 0.3              # weight of the newest measurement in the moving average
ONLINE_RESERVE = 50                    # a lease leaves at least this many numbers for online issuing


# --- the static part of a hall, from its config -------------------------------------------
@dataclass(frozen=True)
class ServiceSetup:
    id: str
    prefix: str
    est_service_s: float


@dataclass(frozen=True)
class CounterSetup:
    id: str
    services: tuple[str, ...]
    call_order: str


@dataclass(frozen=True)
class Setup:
    tz: ZoneInfo
    hours: tuple[tuple[time, time], ...] | None
    services: dict[str, ServiceSetup]
    counters: dict[str, CounterSetup]
    kiosks: dict[str, tuple[str, ...]]
    outage_issuing: str = "continue"
    no_show_reinstate_s: int = 1800
    rating_window_s: int = 120
    appointment_early_s: int = 3600
    appointment_late_s: int = 900

    def business_day(self, now: datetime) -> str:
        return now.astimezone(self.tz).date().isoformat()

    def in_hours(self, now: datetime) -> bool:
        if self.hours is None:
            return True
        local = now.astimezone(self.tz).time()
        return any(start <= local < end for start, end in self.hours)

    def initial_state(self) -> HallState:
        return HallState(
            services={s.id: ServiceState(id=s.id, avg_service_s=s.est_service_s) for s in self.services.values()},
            counters={k: CounterState(id=k) for k in self.counters},
        )

    def reconcile(self, state: HallState) -> HallState:
        """Adapt a stored state to an edited config: new services and counters appear."""
        missing_services = [s for s in self.services.values() if s.id not in state.services]
        missing_counters = [k for k in self.counters if k not in state.counters]
        if not missing_services and not missing_counters:
            return state
        new = state.copy()
        for s in missing_services:
            new.services[s.id] = ServiceState(id=s.id, avg_service_s=s.est_service_s)
        for k in missing_counters:
            new.counters[k] = CounterState(id=k)
        return new


# --- queries shared by rules and views ------------------------------------------------------
def format_number(prefix: str, n: int) -> str:
    return f"{prefix}{n:03d}"


def ticket_id(day: str, number: str) -> str:
    return f"{day.replace('-', '')}-{number}"


def waiting_tickets(state: HallState, service: str | None = None) -> list[Ticket]:
    return [t for t in state.tickets.values()
            if t.status == "waiting" and (service is None or t.service == service)]


def open_counters(setup: Setup, state: HallState, service: str) -> int:
    """Counters that serve ``service`` now: not suspended and not known to be offline."""
    count = 0
    for counter in setup.counters.values():
        if service not in counter.services:
            continue
        cs = state.counters.get(counter.id)
        device = state.devices.get(f"counter.{counter.id}")
        if cs is not None and not cs.suspended and (device is None or device.online is not False):
            count += 1
    return count


def estimate_wait_s(setup: Setup, state: HallState, service: str, ahead: int) -> int:
    """People ahead times the measured service time, shared by the counters open for it.

    With no counter open, assume the counters configured for it will open (at least one).
    """
    counters = open_counters(setup, state, service)
    if counters == 0:
        counters = configured_counters(setup, service)
    return wait_for(ahead, state.services[service].avg_service_s, counters)


def configured_counters(setup: Setup, service: str) -> int:
    """Counters configured to serve ``service`` (at least one, so estimates never divide by 0)."""
    return max(1, sum(1 for k in setup.counters.values() if service in k.services))


def wait_for(ahead: int, service_s: float, counters: int) -> int:
    """The one estimate rule: people ahead times the service time, shared by the counters.
    The kiosk uses it too when it issues from its lease (with the configured service time)."""
    return int(math.ceil(ahead * service_s / max(1, counters)))


def waiting_ahead(state: HallState, ticket: Ticket, now: datetime) -> int:
    """Waiting tickets of its service called before it at ``now`` (``Ticket.queue_key``).

    Walk-ins (most tickets) are compared without building key tuples: this runs for every
    ticket issued and every ticket shown, over every waiting ticket.
    """
    rank, when, order = ticket.queue_key(now)
    service = ticket.service
    ahead = 0
    for t in state.tickets.values():
        if t.status != "waiting" or t.service != service:
            continue
        if t.priority != "priority" and not t.appointment:      # a walk-in: (2, issued_at, order)
            if rank == 2 and (t.issued_at < when or (t.issued_at == when and t.order < order)):
                ahead += 1
        elif t.queue_key(now) < (rank, when, order):
            ahead += 1
    return ahead


def with_estimate(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> Ticket:
    """The ticket with its people-ahead and estimated wait as of ``state`` (0 unless waiting)."""
    if ticket.status != "waiting":
        if ticket.waiting_ahead or ticket.est_wait_s:
            return replace(ticket, waiting_ahead=0, est_wait_s=0)
        return ticket
    ahead = waiting_ahead(state, ticket, now)
    return replace(ticket, waiting_ahead=ahead, est_wait_s=estimate_wait_s(setup, state, ticket.service, ahead))


def find_waiting(state: HallState, number: str) -> Ticket | None:
    """The waiting ticket with this number, today's first (an unfinished one carried over next)."""
    found = [t for t in state.tickets.values() if t.number == number and t.status == "waiting"]
    return min(found, key=lambda t: t.day != state.day) if found else None


def find_by_number(state: HallState, number: str) -> Ticket | None:
    today = [t for t in state.tickets.values() if t.number == number and t.day == state.day]
    if today:
        return today[0]
    return next((t for t in state.tickets.values() if t.number == number), None)


# --- evolve: apply one event ------------------------------------------------------------------
def evolve(state: HallState, event: e.Event) -> HallState:
    s = state.copy()
    match event:
        case e.DayStarted(day=day, carried=carried):
            keep = set(carried)
            s.tickets = {k: t for k, t in s.tickets.items() if k in keep}
            s.services = {k: replace(v, next_number=1, lease_floor=NO_LEASE) for k, v in s.services.items()}
            s.counters = {k: replace(v, ticket=v.ticket if v.ticket in keep else None,
                                     last_served=None, last_served_at=None)
                          for k, v in s.counters.items()}
            s.leases, s.recent_calls, s.arrivals, s.day = [], [], 0, day
            s.appointments = {k: a for k, a in s.appointments.items() if a.day >= day}
        case e.TicketIssued(ticket=t):
            s.tickets[t.id] = t
            s.arrivals += 1
            if not t.offline:
                svc = s.services[t.service]
                s.services[t.service] = replace(svc, next_number=max(svc.next_number, int(t.number[-3:]) + 1))
        case e.TicketCalled(ticket=t, counter=k, at=at):
            s.tickets[t.id] = t
            s.counters[k] = replace(s.counters[k], ticket=t.id)
            _push_call(s, RecentCall(number=t.number, counter=k, at=at, service=t.service, ticket=t.id))
        case e.TicketRecalled(ticket=t, counter=k, at=at):
            s.tickets[t.id] = t
            _push_call(s, RecentCall(number=t.number, counter=k, at=at, service=t.service, ticket=t.id))
        case e.TicketServed(ticket=t, counter=k, at=at, service_s=seconds):
            s.tickets[t.id] = t
            s.counters[k] = replace(s.counters[k], ticket=None, last_served=t.id, last_served_at=at)
            low, high = SERVICE_TIME_BOUNDS
            if low <= seconds <= high:
                svc = s.services[t.service]
                avg = svc.avg_service_s + SERVICE_TIME_WEIGHT * (seconds - svc.avg_service_s)
                s.services[t.service] = replace(svc, avg_service_s=avg, measured=svc.measured + 1)
        case e.TicketNoShow(ticket=t, counter=k) | e.TicketTransferred(ticket=t, counter=k):
            s.tickets[t.id] = t
            s.counters[k] = replace(s.counters[k], ticket=None)
        case e.TicketVoided(ticket=t, counter=k):
            s.tickets[t.id] = t
            if k is not None and s.counters[k].ticket == t.id:
                s.counters[k] = replace(s.counters[k], ticket=None)
        case e.TicketReinstated(ticket=t) | e.TicketRated(ticket=t):
            s.tickets[t.id] = t
        case e.CounterSuspended(counter=k, reason=reason):
            s.counters[k] = replace(s.counters[k], suspended=True, suspend_reason=reason)
        case e.CounterResumed(counter=k):
            s.counters[k] = replace(s.counters[k], suspended=False, suspend_reason="")
        case e.ClerkLoggedIn(counter=k, clerk=clerk):
            s.counters[k] = replace(s.counters[k], clerk=clerk)
        case e.ClerkLoggedOut(counter=k):
            s.counters[k] = replace(s.counters[k], clerk=None)
        case e.ServiceSuspended(service=sid):
            s.services[sid] = replace(s.services[sid], suspended=True)
        case e.ServiceResumed(service=sid):
            s.services[sid] = replace(s.services[sid], suspended=False)
        case e.OutageStarted(message=message):
            s.outage, s.outage_message = True, message
        case e.OutageEnded():
            s.outage, s.outage_message = False, None
        case e.HallOpened(by=by):
            if by == "schedule":
                s.schedule_open, s.override = True, None
            else:
                s.override = "open"
        case e.HallClosed(by=by):
            if by == "schedule":
                s.schedule_open, s.override = False, None
            else:
                s.override = "closed"
        case e.Announcement(text=text):
            s.announcements = ([a for a in s.announcements if a != text] + [text])[-ANNOUNCEMENTS_KEPT:]
        case e.AnnouncementRemoved(text=text):
            s.announcements = [] if text is None else [a for a in s.announcements if a != text]
        case e.DeviceOnline(device=d, boot=boot) | e.DeviceOffline(device=d, boot=boot):
            old = s.devices.get(d, DeviceState())
            s.devices[d] = replace(old, online=isinstance(event, e.DeviceOnline), boot=boot)
        case e.DeviceStatusChanged(device=d, status=status):
            s.devices[d] = replace(s.devices.get(d, DeviceState()), status=dict(status))
        case e.NumbersLeased(kiosk=kiosk, service=sid, start=start, end=end, day=day):
            s.leases.append(Lease(kiosk=kiosk, service=sid, start=start, end=end, day=day))
            svc = s.services[sid]
            s.services[sid] = replace(svc, lease_floor=min(svc.lease_floor, start))
        case e.AppointmentBooked(appointment=a):
            s.appointments[a.code] = a
        case e.AppointmentCheckedIn(code=code, ticket=tid, on_time=on_time, at=at):
            s.appointments[code] = replace(s.appointments[code], status="checked_in", ticket=tid,
                                           checked_in_at=at, on_time=on_time)
        case _:
            raise TypeError(f"no evolve rule for {type(event).__name__}")
    return s


def _push_call(s: HallState, call: RecentCall) -> None:
    s.recent_calls = ([call] + [r for r in s.recent_calls if r.ticket != call.ticket])[:RECENT_CALLS_KEPT]


def fold(state: HallState, events: Iterable[e.Event]) -> HallState:
    for event in events:
        state = evolve(state, event)
    return state


# --- decide: what a command does ----------------------------------------------------------------
class QueueRules:
    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._deciders: dict[type, Callable[[HallState, Any, datetime], list[e.Event]]] = {
            c.IssueTicket: self._issue, c.VoidTicket: self._void, c.LeaseNumbers: self._lease,
            c.PlaceOfflineTicket: self._place_offline, c.CallNext: self._call_next,
            c.CallTicket: self._call_ticket, c.BookAppointment: self._book, c.CheckIn: self._check_in,
            c.Recall: self._recall, c.Finish: self._finish, c.Rate: self._rate, c.NoShow: self._no_show,
            c.Transfer: self._transfer, c.SuspendCounter: self._suspend_counter,
            c.ResumeCounter: self._resume_counter, c.Login: self._login, c.Logout: self._logout,
            c.Reinstate: self._reinstate, c.SuspendService: self._suspend_service,
            c.ResumeService: self._resume_service, c.SetOutage: self._outage, c.Announce: self._announce,
            c.Unannounce: self._unannounce, c.OpenHall: self._open, c.CloseHall: self._close,
            c.Tick: self._tick, c.DevicePresence: self._presence, c.DeviceStatus: self._status,
        }

    def handle(self, state: HallState, command: c.Command, now: datetime) -> tuple[HallState, list[e.Event]]:
        """Apply ``command`` at ``now``; raise RequestError (nothing changed) if it is refused.

        The caller runs ``Tick`` first so that the business day and the hours are current.
        """
        decide = self._deciders.get(type(command))
        if decide is None:
            raise RequestError("unknown_op", f"no rule for {type(command).__name__}")
        events: list[e.Event] = []
        for event in decide(state, command, now):
            state = evolve(state, event)
            events.append(event)
        return state, events

    # -- helpers --
    def _service(self, state: HallState, service: str) -> ServiceState:
        if service not in self.setup.services:
            raise RequestError("unknown_service", f"unknown service {service!r}")
        return state.services[service]

    def _counter(self, state: HallState, counter: str) -> CounterState:
        if counter not in self.setup.counters:
            raise RequestError("not_allowed", f"unknown counter {counter!r}")
        return state.counters[counter]

    def _current(self, state: HallState, counter: str) -> Ticket:
        cs = self._counter(state, counter)
        if cs.ticket is None:
            raise RequestError("not_serving", f"counter {counter} has no ticket called")
        return state.tickets[cs.ticket]

    def _kiosk_may_issue(self, kiosk_device: str, service: str) -> None:
        kind, _, kiosk = kiosk_device.partition(".")
        if kind == "kiosk" and kiosk in self.setup.kiosks and service not in self.setup.kiosks[kiosk]:
            raise RequestError("not_allowed", f"kiosk {kiosk} does not issue tickets for {service!r}")

    # -- tickets --
    def _issue(self, state: HallState, cmd: c.IssueTicket, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)          # unknown_service before the kiosk's own list
        self._kiosk_may_issue(cmd.by, cmd.service)
        ticket = self._new_ticket(state, cmd.service, cmd.priority, cmd.by, now, token_hash=cmd.token_hash)
        return [e.TicketIssued(at=now, ticket=with_estimate(self.setup, state, ticket, now))]

    def _new_ticket(self, state: HallState, service: str, priority: str, by: str, now: datetime,
                    slot: datetime | None = None, token_hash: str | None = None) -> Ticket:
        """The next number of ``service``, if the hall issues now (the checks of ``issue``)."""
        svc = self._service(state, service)
        if state.outage and self.setup.outage_issuing == "refuse":
            raise RequestError("outage", "tickets are not issued during the declared outage")
        if not state.is_open:
            raise RequestError("hall_closed", "the hall is closed: no tickets are issued now")
        if svc.suspended:
            raise RequestError("service_suspended", f"service {service!r} is suspended (暂停办理)")
        if svc.next_number >= svc.lease_floor or svc.next_number > TOP_NUMBER:
            raise RequestError("numbers_exhausted", f"no numbers left today for {service!r}")
        number = format_number(self.setup.services[service].prefix, svc.next_number)
        return Ticket(id=ticket_id(state.day, number), number=number, service=service,
                      priority=priority, issued_at=now, day=state.day, source=by,  # type: ignore[arg-type]
                      outage=state.outage, order=state.arrivals, appointment=slot is not None, slot=slot,
                      token_hash=token_hash)

    def _void(self, state: HallState, cmd: c.VoidTicket, now: datetime) -> list[e.Event]:
        ticket = state.tickets.get(cmd.ticket_id)
        if ticket is None:
            raise RequestError("unknown_ticket", f"no ticket {cmd.ticket_id!r}")
        if cmd.by.startswith("kiosk.") and ticket.source != cmd.by:
            raise RequestError("not_allowed", f"ticket {ticket.number} was not issued by {cmd.by}")
        if ticket.status not in OPEN_STATUSES:
            raise RequestError("not_allowed", f"ticket {ticket.number} is already {ticket.status}")
        counter = ticket.counter if ticket.status == "called" else None
        voided = replace(ticket, status="voided", reason=cmd.reason or None, finished_at=now,
                         waiting_ahead=0, est_wait_s=0)
        return [e.TicketVoided(at=now, ticket=voided, counter=counter)]

    def _lease(self, state: HallState, cmd: c.LeaseNumbers, now: datetime) -> list[e.Event]:
        svc = self._service(state, cmd.service)
        self._kiosk_may_issue(cmd.by, cmd.service)
        end = svc.lease_floor - 1
        start = max(end - cmd.size + 1, svc.next_number + ONLINE_RESERVE)
        if start > end:
            raise RequestError("numbers_exhausted", f"no block of numbers left to lease for {cmd.service!r}")
        return [e.NumbersLeased(at=now, kiosk=cmd.by, service=cmd.service, start=start, end=end, day=state.day)]

    def _place_offline(self, state: HallState, cmd: c.PlaceOfflineTicket, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)
        setup = self.setup.services[cmd.service]
        prefix, digits = cmd.number[:-3], cmd.number[-3:]
        if prefix != setup.prefix or not digits.isdigit():
            raise RequestError("bad_request", f"number {cmd.number!r} is not a {cmd.service!r} number")
        day = self.setup.business_day(cmd.issued_at)
        value = int(digits)
        lease = next((l for l in state.leases if l.kiosk == cmd.by and l.service == cmd.service
                      and l.day == day and l.start <= value <= l.end), None)
        if lease is None:
            raise RequestError("not_allowed", f"{cmd.number} on {day} is not in a block leased to {cmd.by}")
        existing = state.tickets.get(ticket_id(day, cmd.number))
        if existing is not None:
            if existing.source == cmd.by and existing.issued_at == cmd.issued_at:
                return []          # placed before: the caller returns it again
            raise RequestError("not_allowed", f"{cmd.number} was already used on {day}")
        ticket = Ticket(id=ticket_id(day, cmd.number), number=cmd.number, service=cmd.service,
                        priority=cmd.priority, issued_at=cmd.issued_at.astimezone(self.setup.tz), day=day,
                        source=cmd.by, offline=True, outage=state.outage, order=state.arrivals,
                        token_hash=cmd.token_hash)
        return [e.TicketIssued(at=now, ticket=ticket)]

    def _next_for(self, state: HallState, counter: str, now: datetime) -> Ticket | None:
        setup = self.setup.counters[counter]
        rank = {sid: i for i, sid in enumerate(setup.services)}
        candidates = [t for t in state.tickets.values() if t.status == "waiting" and t.service in rank]
        if not candidates:
            return None
        if setup.call_order == "service_order":
            def by_service(t: Ticket) -> tuple[Any, ...]:
                key = t.queue_key(now)
                return (key[0], rank[t.service], key[1:])
            return min(candidates, key=by_service)
        return min(candidates, key=lambda t: t.queue_key(now))

    def _served(self, state: HallState, counter: str, ticket: Ticket, now: datetime) -> e.TicketServed:
        started = ticket.called_at or now
        served = replace(ticket, status="served", finished_at=now)
        return e.TicketServed(at=now, ticket=served, counter=counter,
                              service_s=max(0.0, (now - started).total_seconds()))

    def _call_next(self, state: HallState, cmd: c.CallNext, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        if cs.suspended:
            raise RequestError("counter_suspended", f"counter {cmd.counter} is suspended (暂停服务)")
        nxt = self._next_for(state, cmd.counter, now)
        if nxt is None:
            raise RequestError("no_ticket", "no ticket is waiting for this counter")
        return self._call(state, cmd.counter, nxt, now, out_of_order=False)

    def _call(self, state: HallState, counter: str, ticket: Ticket, now: datetime,
              out_of_order: bool) -> list[e.Event]:
        """``ticket`` called to ``counter``; the one being served there, if any, becomes served."""
        cs = state.counters[counter]
        events: list[e.Event] = []
        if cs.ticket is not None:
            events.append(self._served(state, counter, state.tickets[cs.ticket], now))
        called = replace(ticket, status="called", counter=counter, called_at=now, clerk=cs.clerk,
                         waiting_ahead=0, est_wait_s=0)
        events.append(e.TicketCalled(at=now, ticket=called, counter=counter, out_of_order=out_of_order))
        return events

    def _call_ticket(self, state: HallState, cmd: c.CallTicket, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        if cs.suspended:
            raise RequestError("counter_suspended", f"counter {cmd.counter} is suspended (暂停服务)")
        ticket = find_waiting(state, cmd.number.strip())
        if ticket is None:
            raise RequestError("unknown_ticket", f"no ticket {cmd.number!r} is waiting today")
        if ticket.service not in self.setup.counters[cmd.counter].services:
            raise RequestError("not_allowed", f"counter {cmd.counter} does not serve {ticket.service!r} "
                                              f"({ticket.number})")
        return self._call(state, cmd.counter, ticket, now, out_of_order=True)

    def _recall(self, state: HallState, cmd: c.Recall, now: datetime) -> list[e.Event]:
        ticket = self._current(state, cmd.counter)
        return [e.TicketRecalled(at=now, ticket=replace(ticket, recalls=ticket.recalls + 1), counter=cmd.counter)]

    def _finish(self, state: HallState, cmd: c.Finish, now: datetime) -> list[e.Event]:
        ticket = self._current(state, cmd.counter)
        served = self._served(state, cmd.counter, ticket, now)
        events: list[e.Event] = [served]
        if cmd.rating is not None:
            events.append(e.TicketRated(at=now, ticket=replace(served.ticket, rating=cmd.rating),
                                        counter=cmd.counter, rating=cmd.rating))
        return events

    def _rate(self, state: HallState, cmd: c.Rate, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        if cs.last_served is None or cs.last_served not in state.tickets:
            raise RequestError("not_serving", f"counter {cmd.counter} has served no ticket to rate")
        ticket = state.tickets[cs.last_served]
        if ticket.rating is not None:
            raise RequestError("already_rated", f"ticket {ticket.number} is already rated")
        if cs.last_served_at and now - cs.last_served_at > timedelta(seconds=self.setup.rating_window_s):
            raise RequestError("too_late", f"ticket {ticket.number} was finished too long ago to rate")
        return [e.TicketRated(at=now, ticket=replace(ticket, rating=cmd.rating), counter=cmd.counter,
                              rating=cmd.rating)]

    def _no_show(self, state: HallState, cmd: c.NoShow, now: datetime) -> list[e.Event]:
        ticket = self._current(state, cmd.counter)
        return [e.TicketNoShow(at=now, ticket=replace(ticket, status="no_show", finished_at=now),
                               counter=cmd.counter)]

    def _transfer(self, state: HallState, cmd: c.Transfer, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)
        ticket = self._current(state, cmd.counter)
        moved = replace(ticket, status="waiting", service=cmd.service, counter=None,
                        transferred_from=ticket.service)
        return [e.TicketTransferred(at=now, ticket=moved, counter=cmd.counter, from_service=ticket.service)]

    def _reinstate(self, state: HallState, cmd: c.Reinstate, now: datetime) -> list[e.Event]:
        ticket = (state.tickets.get(cmd.ticket_id) if cmd.ticket_id
                  else find_by_number(state, cmd.number) if cmd.number else None)
        if ticket is None:
            raise RequestError("unknown_ticket", f"no ticket {cmd.ticket_id or cmd.number!r}")
        if ticket.status != "no_show":
            raise RequestError("not_allowed", f"ticket {ticket.number} is {ticket.status}, not a no-show")
        if ticket.finished_at and now - ticket.finished_at > timedelta(seconds=self.setup.no_show_reinstate_s):
            raise RequestError("too_late", f"ticket {ticket.number} missed its call too long ago")
        back = replace(ticket, status="waiting", counter=None, finished_at=None)
        return [e.TicketReinstated(at=now, ticket=with_estimate(self.setup, state, back, now))]

    # -- appointments --
    def _book(self, state: HallState, cmd: c.BookAppointment, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)
        code = cmd.code.strip()
        if not code:
            raise RequestError("bad_request", "an appointment needs a code")
        if code in state.appointments:
            raise RequestError("not_allowed", f"code {code!r} is already booked")
        slot = cmd.slot.astimezone(self.setup.tz)
        day = self.setup.business_day(slot)
        if day < state.day:
            raise RequestError("not_allowed", f"the slot {slot.isoformat()} is on a day already past")
        return [e.AppointmentBooked(at=now, appointment=Appointment(code=code, service=cmd.service, slot=slot, day=day))]

    def _check_in(self, state: HallState, cmd: c.CheckIn, now: datetime) -> list[e.Event]:
        appointment = state.appointments.get(cmd.code.strip())
        if appointment is None:
            raise RequestError("unknown_appointment", "no appointment has this code")
        if appointment.status == "checked_in":
            raise RequestError("already_checked_in", "this appointment is already checked in")
        if appointment.day != state.day:
            raise RequestError("not_allowed", f"this appointment is for {appointment.day}")
        opens = appointment.slot - timedelta(seconds=self.setup.appointment_early_s)
        if now < opens:
            raise RequestError("too_early", f"check-in opens at {opens.astimezone(self.setup.tz):%H:%M}")
        on_time = now <= appointment.slot + timedelta(seconds=self.setup.appointment_late_s)
        # too late: a walk-in ticket (it queues by its issue time); the code is used up either way
        ticket = self._new_ticket(state, appointment.service, "normal", cmd.by, now,
                                  slot=appointment.slot if on_time else None, token_hash=cmd.token_hash)
        checked = e.AppointmentCheckedIn(at=now, code=appointment.code, ticket=ticket.id, on_time=on_time)
        return [checked, e.TicketIssued(at=now, ticket=with_estimate(self.setup, evolve(state, checked), ticket, now))]

    # -- counters --
    def _suspend_counter(self, state: HallState, cmd: c.SuspendCounter, now: datetime) -> list[e.Event]:
        # always allowed (contract v1.1): a ticket being served stays until finished, transferred
        # or marked no-show; no new calls meanwhile (call_next and call: counter_suspended)
        cs = self._counter(state, cmd.counter)
        if cs.suspended and cs.suspend_reason == cmd.reason:
            return []
        return [e.CounterSuspended(at=now, counter=cmd.counter, reason=cmd.reason)]

    def _resume_counter(self, state: HallState, cmd: c.ResumeCounter, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        return [e.CounterResumed(at=now, counter=cmd.counter)] if cs.suspended else []

    def _login(self, state: HallState, cmd: c.Login, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        if cs.clerk == cmd.clerk:
            return []
        events: list[e.Event] = []
        if cs.clerk is not None:
            events.append(e.ClerkLoggedOut(at=now, counter=cmd.counter, clerk=cs.clerk))
        events.append(e.ClerkLoggedIn(at=now, counter=cmd.counter, clerk=cmd.clerk))
        return events

    def _logout(self, state: HallState, cmd: c.Logout, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        return [e.ClerkLoggedOut(at=now, counter=cmd.counter, clerk=cs.clerk)] if cs.clerk else []

    # -- hall --
    def _suspend_service(self, state: HallState, cmd: c.SuspendService, now: datetime) -> list[e.Event]:
        svc = self._service(state, cmd.service)
        return [] if svc.suspended else [e.ServiceSuspended(at=now, service=cmd.service)]

    def _resume_service(self, state: HallState, cmd: c.ResumeService, now: datetime) -> list[e.Event]:
        svc = self._service(state, cmd.service)
        return [e.ServiceResumed(at=now, service=cmd.service)] if svc.suspended else []

    def _outage(self, state: HallState, cmd: c.SetOutage, now: datetime) -> list[e.Event]:
        if cmd.active:
            if state.outage and state.outage_message == cmd.message:
                return []
            return [e.OutageStarted(at=now, message=cmd.message)]
        return [e.OutageEnded(at=now)] if state.outage else []

    def _announce(self, state: HallState, cmd: c.Announce, now: datetime) -> list[e.Event]:
        return [e.Announcement(at=now, text=cmd.text)]

    def _unannounce(self, state: HallState, cmd: c.Unannounce, now: datetime) -> list[e.Event]:
        if cmd.text is not None and cmd.text not in state.announcements:
            raise RequestError("not_allowed", f"no notice {cmd.text!r} is shown")
        return [e.AnnouncementRemoved(at=now, text=cmd.text)] if state.announcements else []

    def _open(self, state: HallState, cmd: c.OpenHall, now: datetime) -> list[e.Event]:
        return [] if state.is_open else [e.HallOpened(at=now, by="operator")]

    def _close(self, state: HallState, cmd: c.CloseHall, now: datetime) -> list[e.Event]:
        return [] if not state.is_open else [e.HallClosed(at=now, by="operator")]

    def _tick(self, state: HallState, cmd: c.Tick, now: datetime) -> list[e.Event]:
        events: list[e.Event] = []
        day = self.setup.business_day(now)
        if day != state.day:
            # unfinished tickets of the previous day stay (and are still served); numbers restart
            carried = [t.id for t in state.tickets.values() if t.status in OPEN_STATUSES]
            events.append(e.DayStarted(at=now, day=day, carried=carried))
        scheduled = self.setup.in_hours(now)
        if scheduled != state.schedule_open:
            events.append(e.HallOpened(at=now, by="schedule") if scheduled else e.HallClosed(at=now, by="schedule"))
        return events

    def _presence(self, state: HallState, cmd: c.DevicePresence, now: datetime) -> list[e.Event]:
        old = state.devices.get(cmd.device)
        if old is not None and old.online == cmd.online and old.boot == cmd.boot:
            return []
        kind = e.DeviceOnline if cmd.online else e.DeviceOffline
        return [kind(at=now, device=cmd.device, boot=cmd.boot)]

    def _status(self, state: HallState, cmd: c.DeviceStatus, now: datetime) -> list[e.Event]:
        old = state.devices.get(cmd.device)
        if old is not None and old.status == cmd.status:
            return []
        return [e.DeviceStatusChanged(at=now, device=cmd.device, status=cmd.status)]
