"""The queue rules: decide what a command does (events), and evolve a state by an event.

``QueueRules(setup).handle(state, command, now)`` returns ``(new_state, events)`` or raises
:class:`~hallq.errors.RequestError` with a contract error code, changing nothing. ``evolve``
(hallq/core/evolve.py) is a plain function of (state, event): replaying stored events rebuilds the
state. The hall's setup (setup.py) and the queries (queries.py) are re-exported here.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import msgspec
from msgspec.structs import replace

from hallq.errors import RequestError

from . import commands as c
from . import events as e
from .alerts import alert_changes
from .evolve import evolve, fold
from .forecast import configured_counters, forecast, newcomer_waits, note_evolved, wait_for, wait_of
from .model import (
    NUMBER,
    OPEN_STATUSES,
    OVERFLOW_TOP,
    TOP_NUMBER,
    Appointment,
    CallingRules,
    CounterState,
    HallState,
    ServiceState,
    Ticket,
)
from .numbering import continue_numbering
from .queries import (
    find_by_number,
    find_waiting,
    format_number,
    booking_slots,
    latest_issue,
    open_counters,
    route_estimate,
    ticket_id,
    waiting_ahead,
    waiting_tickets,
    with_estimate,
)
from .setup import CounterSetup, ServiceSetup, Setup

ONLINE_RESERVE = 50                    # a lease leaves at least this many numbers for online issuing

__all__ = ["QueueRules", "Setup", "ServiceSetup", "CounterSetup", "evolve", "fold", "configured_counters",
           "forecast", "newcomer_waits", "latest_issue", "wait_of", "find_by_number", "find_waiting", "format_number", "open_counters", "route_estimate", "ticket_id",
           "wait_for", "waiting_ahead", "waiting_tickets", "with_estimate", "ONLINE_RESERVE"]


def _no_estimate(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> Ticket:
    return ticket


def transferred_route(ticket: Ticket, service: str) -> tuple[str, ...]:
    """A journey's route once its current step is moved to ``service``. Moved to a service the
    route visits later, the customer does that step now and is not queued for it a second time;
    the steps in between still follow (a clerk sending someone ahead drops nothing they need).
    Moved elsewhere, the step is done at that service and the route goes on as it was."""
    route, step = ticket.route, ticket.step
    if service not in route[step + 1:]:
        return route
    return (*route[:step], service, *(s for s in route[step + 1:] if s != service))


class QueueRules:
    def __init__(self, setup: Setup, estimates: bool = True) -> None:
        """``estimates`` False: tickets are issued without people-ahead and wait (a replay of the
        records plays the calls, not what was told; playing the queue forward is its main cost)."""
        self.setup = setup
        self._estimate = with_estimate if estimates else _no_estimate
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
            c.ContinueNumbering: partial(continue_numbering, self.setup),
            c.SetRules: self._set_rules, c.AdoptFileRules: self._adopt_file_rules,
            c.JoinRemotely: self._join, c.ConfirmArrival: self._confirm_arrival,
            c.PostponeTicket: self._postpone,
            c.CancelBooking: self._cancel_booking, c.MoveBooking: self._move_booking,
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
            after = evolve(state, event)
            note_evolved(state, after, event)        # the walk-in estimates follow (forecast.py)
            state = after
            events.append(event)
        return state, events

    # -- helpers --
    def _service(self, state: HallState, service: str) -> ServiceState:
        if service not in self.setup.services:
            raise RequestError("unknown_service", f"unknown service {service!r}")
        return state.services[service]

    def _counter(self, state: HallState, counter: str) -> CounterState:
        if counter not in self.setup.counters:
            raise RequestError("unknown_counter", f"no counter {counter!r} in this hall")
        return state.counters[counter]

    def _current(self, state: HallState, counter: str) -> Ticket:
        cs = self._counter(state, counter)
        if cs.ticket is None:
            raise RequestError("not_serving", f"counter {counter} has no ticket called")
        return state.tickets[cs.ticket]

    def _kiosk_may_issue(self, state: HallState, kiosk_device: str, service: str) -> None:
        kind, _, kiosk = kiosk_device.partition(".")
        if kind != "kiosk" or kiosk not in self.setup.kiosks:
            return
        if service not in self.setup.kiosks[kiosk]:
            raise RequestError("not_allowed", f"kiosk {kiosk} does not issue tickets for {service!r}")
        cap = self.setup.kiosk_cap(kiosk, service, state.kiosk_issued)
        if cap is not None and state.kiosk_issued.get(f"{kiosk_device}|{service}", 0) >= cap:
            # one kiosk (a stuck button, a stolen password) cannot use up a service's day: the others,
            # and the service desk, go on; the supervisors get an alert (hallq/core/alerts.py)
            raise RequestError("kiosk_quota", f"kiosk {kiosk} has issued its share of {service!r} today ({cap})")

    def _next_value(self, svc: ServiceState, value: int) -> int | None:
        """``value`` or the next online number after it that is free of leases; the three-digit
        numbers first, then four digits (A1000 on): a hall never runs out of numbers in a day."""
        if value < svc.lease_floor and value <= TOP_NUMBER:
            return value
        value = max(value, TOP_NUMBER + 1)
        return value if value < svc.overflow_floor and value <= OVERFLOW_TOP else None

    # -- tickets --
    def _issue(self, state: HallState, cmd: c.IssueTicket, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)          # unknown_service before the kiosk's own list
        self._kiosk_may_issue(state, cmd.by, cmd.service)
        ticket = self._new_ticket(state, cmd.service, cmd.priority, cmd.by, now, token_hash=cmd.token_hash)
        return [e.TicketIssued(at=now, ticket=self._estimate(self.setup, state, ticket, now))]

    # -- joining from a phone --
    def _join(self, state: HallState, cmd: c.JoinRemotely, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)
        cap = self.setup.remote_caps.get(cmd.service, 0)
        if cap <= 0:
            raise RequestError("not_allowed", f"joining from a phone is not offered for {cmd.service!r}")
        joins = state.remote_joins
        if joins.get(f"service:{cmd.service}", 0) >= cap:
            raise RequestError("remote_cap", f"today's {cap} tickets from phones for {cmd.service!r} are taken")
        if joins.get(f"device:{cmd.device}", 0) >= self.setup.remote_per_device:
            raise RequestError("remote_limit", f"this phone has joined {self.setup.remote_per_device} times today")
        if joins.get(f"address:{cmd.address}", 0) >= self.setup.remote_per_address:
            raise RequestError("remote_limit", f"{self.setup.remote_per_address} tickets from this address today")
        code = cmd.code.strip()
        # never one a ticket of today had, whatever became of it (a no-show may be put back)
        if not code or any(t.remote and t.arrival_code == code and t.day == state.day for t in state.tickets.values()):
            raise RequestError("bad_request", "an arrival code that no ticket of today has")
        ticket = self._new_ticket(state, cmd.service, "normal", cmd.by, now, token_hash=cmd.token_hash)
        ticket = replace(ticket, remote=True, arrived=False, arrival_code=code)
        joined = e.RemoteJoined(at=now, service=cmd.service, device=cmd.device, address=cmd.address)
        return [joined, e.TicketIssued(at=now, ticket=self._estimate(self.setup, state, ticket, now))]

    @staticmethod
    def _remote_by_code(state: HallState, code: str) -> Ticket | None:
        return next((t for t in state.tickets.values() if t.remote and t.arrival_code == code
                     and t.day == state.day and t.status in OPEN_STATUSES), None)

    def _confirm_arrival(self, state: HallState, cmd: c.ConfirmArrival, now: datetime) -> list[e.Event]:
        if cmd.code:
            ticket = self._remote_by_code(state, cmd.code.strip())
        else:
            ticket = next((t for t in state.tickets.values() if cmd.token_hash and t.token_hash == cmd.token_hash
                           and t.remote and t.status in OPEN_STATUSES), None)
        if ticket is None:
            raise RequestError("unknown_ticket", "no ticket joined from a phone has this code today")
        return self._arrived(ticket, cmd.by, now, by_code=bool(cmd.code))

    @staticmethod
    def _arrived(ticket: Ticket, by: str, now: datetime, by_code: bool) -> list[e.Event]:
        """A remote ticket's customer is here. Told again by a code (a kiosk prints the ticket again),
        the event is repeated; by the door's QR code, nothing happens twice."""
        if ticket.arrived:
            return [e.TicketArrived(at=now, ticket=ticket, by=by)] if by_code else []
        return [e.TicketArrived(at=now, ticket=replace(ticket, arrived=True), by=by)]

    def _postpone(self, state: HallState, cmd: c.PostponeTicket, now: datetime) -> list[e.Event]:
        """Moved back ``places`` places in its service's calling order, once: it queues just after
        the ticket it lets go first (at the end, if fewer wait behind it)."""
        ticket = state.tickets.get(cmd.ticket_id)
        if ticket is None:
            raise RequestError("unknown_ticket", f"no ticket {cmd.ticket_id!r}")
        if ticket.status != "waiting":
            raise RequestError("not_allowed", f"ticket {ticket.number} is {ticket.status}, not waiting")
        if ticket.postponed:
            raise RequestError("not_allowed", f"ticket {ticket.number} was moved back once already")
        behind = sorted((t for t in state.tickets.values() if t.status == "waiting" and t.service == ticket.service
                         and t.queue_key(now) > ticket.queue_key(now)), key=lambda t: t.queue_key(now))
        if not behind:
            return [e.TicketPostponed(at=now, ticket=replace(ticket, postponed=True), places=0)]
        passed = behind[:max(1, cmd.places)]
        last = passed[-1]
        # a walk-in's place: just after the last it lets go (a microsecond later in the same order)
        moved = replace(ticket, postponed=True, ahead_at_slot=False,
                        priority="priority" if last.priority == "priority" else "normal",
                        queue_since=last.queue_key(now)[1] + timedelta(microseconds=1))
        return [e.TicketPostponed(at=now, ticket=moved, places=len(passed))]

    def _new_ticket(self, state: HallState, service: str, priority: str, by: str, now: datetime,
                    slot: datetime | None = None, token_hash: str | None = None) -> Ticket:
        """The next number of ``service``, if the hall issues now (the checks of ``issue``)."""
        svc = self._service(state, service)
        if state.outage and self.setup.outage_issuing == "refuse":
            raise RequestError("outage", "tickets are not issued during the declared outage")
        if not state.is_open:
            raise RequestError("hall_closed", "the hall is closed: no tickets are issued now")
        if svc.suspended:
            raise RequestError("service_suspended", f"service {service!r} is suspended (暂停取号: no new tickets)")
        value = self._next_value(svc, svc.next_number)
        if value is None:
            raise RequestError("numbers_exhausted", f"no numbers left today for {service!r}")
        number = format_number(self.setup.services[service].prefix, value)
        while ticket_id(state.day, number) in state.tickets:    # an id is never issued twice, whatever happened
            value = self._next_value(svc, value + 1)
            if value is None:
                raise RequestError("numbers_exhausted", f"no numbers left today for {service!r}")
            number = format_number(self.setup.services[service].prefix, value)
        return Ticket(id=ticket_id(state.day, number), number=number, service=service,
                      priority=priority, issued_at=latest_issue(state, now), day=state.day, source=by,  # type: ignore[arg-type]
                      outage=state.outage, order=state.arrivals, appointment=slot is not None, slot=slot,
                      token_hash=token_hash, route=self._route(service), **self._appointment_place(state, slot))

    def _appointment_place(self, state: HallState, slot: datetime | None) -> dict[str, Any]:
        """Where an on-time appointment queues: ahead of walk-ins once its slot began (the default),
        or interleaved: among them, as if it had taken a ticket when its slot began."""
        if slot is None or self.setup.rules_in(state).appointment_place == "ahead":
            return {}
        return {"ahead_at_slot": False, "queue_since": slot}

    def _route(self, service: str) -> tuple[str, ...]:
        """A journey's services from ``service`` on (empty: the service names no route)."""
        then = self.setup.services[service].route
        return (service, *then) if then else ()

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
                         waiting_ahead=0, est_wait_s=0, est_known=True)
        return [e.TicketVoided(at=now, ticket=voided, counter=counter)]

    def _lease(self, state: HallState, cmd: c.LeaseNumbers, now: datetime) -> list[e.Event]:
        svc = self._service(state, cmd.service)
        self._kiosk_may_issue(state, cmd.by, cmd.service)
        end = svc.lease_floor - 1
        start = max(end - cmd.size + 1, svc.next_number + ONLINE_RESERVE)
        if start > end:         # no block left in the three-digit numbers: one from the top of four
            end = svc.overflow_floor - 1
            start = max(end - cmd.size + 1, max(svc.next_number, TOP_NUMBER + 1) + ONLINE_RESERVE)
        if start > end:
            raise RequestError("numbers_exhausted", f"no block of numbers left to lease for {cmd.service!r}")
        return [e.NumbersLeased(at=now, kiosk=cmd.by, service=cmd.service, start=start, end=end, day=state.day)]

    def _place_offline(self, state: HallState, cmd: c.PlaceOfflineTicket, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)
        setup = self.setup.services[cmd.service]
        # ASCII digits only: "B９９０", "B٩٩٠", "B𝟗𝟗𝟎" and "B²³¹" are not numbers a kiosk prints
        parts = NUMBER.fullmatch(cmd.number)
        if parts is None or parts.group(1) != setup.prefix:
            raise RequestError("bad_request", f"number {cmd.number!r} is not a {cmd.service!r} number")
        day = self.setup.business_day(cmd.issued_at)
        value = int(parts.group(2))
        lease = next((l for l in state.leases if l.kiosk == cmd.by and l.service == cmd.service
                      and l.day == day and l.start <= value <= l.end), None)
        if lease is None:
            raise RequestError("not_allowed", f"{cmd.number} on {day} is not in a block leased to {cmd.by}")
        existing = state.tickets.get(ticket_id(day, cmd.number))
        if existing is not None:
            if existing.source == cmd.by and existing.offline:
                return []          # placed before (a kiosk never reuses a leased number): returned again
            raise RequestError("not_allowed", f"{cmd.number} was already used on {day}")
        # its queue place comes from its issue time: kept within the lease's life, so a kiosk's wrong
        # (or forged) clock cannot put it ahead of people who came before the lease existed
        issued_at = min(cmd.issued_at.astimezone(self.setup.tz), now)
        if lease.at is not None:
            issued_at = max(issued_at, lease.at)
        checked = self._offline_check_in(state, cmd, issued_at, now)
        slot = state.appointments[cmd.code].slot if checked and checked.on_time and cmd.code else None
        ticket = Ticket(id=ticket_id(day, cmd.number), number=cmd.number, service=cmd.service,
                        priority=cmd.priority, issued_at=issued_at, day=day,
                        source=cmd.by, offline=True, outage=state.outage, order=state.arrivals,
                        token_hash=cmd.token_hash, appointment=slot is not None, slot=slot,
                        route=self._route(cmd.service), **self._appointment_place(state, slot))
        return [*([checked] if checked else []), e.TicketIssued(at=now, ticket=ticket)]

    def _offline_check_in(self, state: HallState, cmd: c.PlaceOfflineTicket, issued_at: datetime,
                          now: datetime) -> e.AppointmentCheckedIn | None:
        """A code checked in at a kiosk while offline: the appointment is used now. Whatever the
        code says, the ticket is placed (someone holds it): one already used, unknown or for
        another service or day makes it a walk-in."""
        appointment = state.appointments.get((cmd.code or "").strip())
        if appointment is None or appointment.status != "booked" or appointment.service != cmd.service \
                or appointment.day != self.setup.business_day(issued_at):
            return None
        on_time = issued_at <= appointment.slot + timedelta(seconds=self.setup.appointment_late_s)
        return e.AppointmentCheckedIn(at=now, code=appointment.code,
                                      ticket=ticket_id(appointment.day, cmd.number), on_time=on_time)

    def _next_for(self, state: HallState, counter: str, now: datetime) -> Ticket | None:
        desk = self.setup.serving(state, counter)
        rank = {sid: i for i, sid in enumerate(desk.services)}
        # a ticket joined from a phone is called once its customer is here ([hall] remote_unconfirmed)
        candidates = [t for t in state.tickets.values() if t.status == "waiting" and t.service in rank
                      and (t.arrived or self.setup.remote_unconfirmed == "skip")]
        if not candidates:
            return None
        key = self._call_key(state, candidates, now)
        if desk.call_order == "service_order":
            def by_service(t: Ticket) -> tuple[Any, ...]:
                k = key(t)
                return (k[0], rank[t.service], k[1:])
            return min(candidates, key=by_service)
        if desk.call_order == "weighted":
            first = min(candidates, key=key)
            if key(first)[0] < 0:
                return first                      # a walk-in past the ageing bound goes ahead of any share
            # the service furthest behind its share of this counter's calls today (ties: the counter's order)
            calls = state.counters[counter].calls
            waiting = {t.service for t in candidates}
            service = min(waiting, key=lambda s: ((calls.get(s, 0) + 1) / desk.weights.get(s, 1), rank[s]))
            return min((t for t in candidates if t.service == service), key=key)
        return min(candidates, key=key)

    def _next_here(self, state: HallState, counter: str, now: datetime) -> tuple[list[e.Event], HallState, Ticket | None]:
        """The next ticket ``counter`` calls, after passing over (``[hall] remote_unconfirmed = "skip"``)
        the phones' tickets whose customers have not confirmed arriving: each a no-show when its turn
        comes, put back within ``no_show_reinstate_s`` as any no-show. (The skipped, the state after, the next.)"""
        skipped: list[e.Event] = []
        nxt = self._next_for(state, counter, now)
        while nxt is not None and not nxt.arrived:
            missed = e.TicketNoShow(at=now, ticket=replace(nxt, status="no_show", finished_at=now, reason="not_arrived"),
                                    counter=counter)
            skipped.append(missed)
            state = evolve(state, missed)
            nxt = self._next_for(state, counter, now)
        return skipped, state, nxt

    def _call_key(self, state: HallState, candidates: list[Ticket], now: datetime) -> Callable[[Ticket], tuple[Any, ...]]:
        """The calling order among ``candidates`` at ``now``: ``Ticket.queue_key`` under the hall's
        calling rules. Ageing: a walk-in who has waited ``ageing_s`` goes ahead of everyone (the
        longest waiting first). Priority share: once ``priority_per_normal`` priority tickets of a
        service were called in a row, its priority tickets go after its walk-ins until one is called."""
        rules = self.setup.rules_in(state)
        ageing, share = rules.ageing_s, rules.priority_per_normal
        if not ageing and not share:
            return lambda t: t.queue_key(now)
        aged_from = now - timedelta(seconds=ageing)
        walk_ins = {t.service for t in candidates if t.walk_in}

        def key(t: Ticket) -> tuple[Any, ...]:
            if ageing and t.walk_in and t.waiting_since <= aged_from:
                return (-1, t.waiting_since, t.order)
            if share and t.priority == "priority" and t.service in walk_ins \
                    and state.services[t.service].priority_run >= share:
                return (3, t.queued_by, t.order)
            return t.queue_key(now)
        return key

    def _served(self, state: HallState, counter: str, ticket: Ticket, now: datetime) -> list[e.Event]:
        """``ticket`` finished at ``counter``: served; a journey's ticket not at its last step then
        waits for the next service of its route, keeping its number (``TicketRouted``)."""
        started = ticket.called_at or now
        served = replace(ticket, status="served", finished_at=now)
        events: list[e.Event] = [e.TicketServed(at=now, ticket=served, counter=counter,
                                                service_s=max(0.0, (now - started).total_seconds()))]
        if ticket.route and not ticket.last_step:
            step = ticket.step + 1
            # by default the next step keeps the place its issue time gives (as a transfer does)
            since = now if self.setup.rules_in(state).journey_order == "step" else None
            routed = replace(ticket, status="waiting", service=ticket.route[step], step=step, step_at=now,
                             queue_since=since, counter=None, called_at=None, clerk=None, recalls=0,
                             transferred_from=None, rating=None)
            events.append(e.TicketRouted(at=now, ticket=routed, counter=counter, from_service=ticket.service))
        return events

    def _call_next(self, state: HallState, cmd: c.CallNext, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        if cs.suspended:
            raise RequestError("counter_suspended", f"counter {cmd.counter} is suspended (暂停服务)")
        # the one being served is finished first: a journey's ticket then waits for its next step,
        # and may be the next this counter calls (the customer is at its desk already)
        finished = self._served(state, cmd.counter, state.tickets[cs.ticket], now) if cs.ticket else []
        skipped, after, nxt = self._next_here(fold(state, finished), cmd.counter, now)
        if nxt is None:
            if skipped:
                return finished + skipped
            raise RequestError("no_ticket", "no ticket is waiting for this counter")
        return finished + skipped + self._call(after, cmd.counter, nxt, now, out_of_order=False)

    def _call(self, state: HallState, counter: str, ticket: Ticket, now: datetime,
              out_of_order: bool, auto: bool = False) -> list[e.Event]:
        """``ticket`` called to ``counter``; the one being served there, if any, becomes served."""
        cs = state.counters[counter]
        events: list[e.Event] = []
        if cs.ticket is not None:
            events += self._served(state, counter, state.tickets[cs.ticket], now)
        called = replace(ticket, status="called", counter=counter, called_at=now, clerk=cs.clerk,
                         waiting_ahead=0, est_wait_s=0, est_known=True)
        events.append(e.TicketCalled(at=now, ticket=called, counter=counter, out_of_order=out_of_order, auto=auto))
        return events

    def _call_ticket(self, state: HallState, cmd: c.CallTicket, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        if cs.suspended:
            raise RequestError("counter_suspended", f"counter {cmd.counter} is suspended (暂停服务)")
        ticket = find_waiting(state, cmd.number.strip())
        if ticket is None:
            raise RequestError("unknown_ticket", f"no ticket {cmd.number!r} is waiting today")
        if ticket.service not in self.setup.serving(state, cmd.counter).services:
            raise RequestError("not_allowed", f"counter {cmd.counter} does not serve {ticket.service!r} "
                                              f"({ticket.number})")
        return self._call(state, cmd.counter, ticket, now, out_of_order=True)

    def _recall(self, state: HallState, cmd: c.Recall, now: datetime) -> list[e.Event]:
        ticket = self._current(state, cmd.counter)
        return [e.TicketRecalled(at=now, ticket=replace(ticket, recalls=ticket.recalls + 1), counter=cmd.counter)]

    def _finish(self, state: HallState, cmd: c.Finish, now: datetime) -> list[e.Event]:
        ticket = self._current(state, cmd.counter)
        events = self._served(state, cmd.counter, ticket, now)
        if cmd.rating is not None:
            rated = events[-1].ticket  # type: ignore[attr-defined]
            events.append(e.TicketRated(at=now, ticket=replace(rated, rating=cmd.rating),
                                        counter=cmd.counter, rating=cmd.rating, step=ticket.step))
        return events

    def _rate(self, state: HallState, cmd: c.Rate, now: datetime) -> list[e.Event]:
        cs = self._counter(state, cmd.counter)
        if cs.last_served is None or cs.last_served not in state.tickets:
            raise RequestError("not_serving", f"counter {cmd.counter} has served no ticket to rate")
        ticket = state.tickets[cs.last_served]
        # a journey's ticket is rated at each step's counter once
        if cs.last_rated or (ticket.rating is not None and not ticket.route):
            raise RequestError("already_rated", f"ticket {ticket.number} is already rated")
        if cs.last_served_at and now - cs.last_served_at > timedelta(seconds=self.setup.rating_window_s):
            raise RequestError("too_late", f"ticket {ticket.number} was finished too long ago to rate")
        return [e.TicketRated(at=now, ticket=replace(ticket, rating=cmd.rating), counter=cmd.counter,
                              rating=cmd.rating, step=cs.last_served_step)]

    def _no_show(self, state: HallState, cmd: c.NoShow, now: datetime) -> list[e.Event]:
        ticket = self._current(state, cmd.counter)
        return [e.TicketNoShow(at=now, ticket=replace(ticket, status="no_show", finished_at=now),
                               counter=cmd.counter)]

    def _transfer(self, state: HallState, cmd: c.Transfer, now: datetime) -> list[e.Event]:
        self._service(state, cmd.service)
        ticket = self._current(state, cmd.counter)
        moved = replace(ticket, status="waiting", service=cmd.service, counter=None,
                        transferred_from=ticket.service, route=transferred_route(ticket, cmd.service))
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
        return [e.TicketReinstated(at=now, ticket=self._estimate(self.setup, state, back, now))]

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
        self._slot_free(state, cmd.service, slot, now)
        return [e.AppointmentBooked(at=now, appointment=Appointment(code=code, service=cmd.service, slot=slot, day=day))]

    def _slot_free(self, state: HallState, service: str, slot: datetime, now: datetime) -> None:
        """A service booked by customers takes bookings only at its slots, while places are left."""
        if service not in self.setup.booking:
            return
        free = dict(booking_slots(self.setup, state, service, slot.astimezone(self.setup.tz).date(), now))
        if slot not in free:
            raise RequestError("not_a_slot", f"{slot.isoformat()} is not a slot of {service!r} that can be booked")
        if free[slot] <= 0:
            raise RequestError("slot_full", f"the slot {slot.isoformat()} of {service!r} is fully booked")

    def _booked(self, state: HallState, code: str) -> Appointment:
        appointment = state.appointments.get(code.strip())
        if appointment is None:
            raise RequestError("unknown_appointment", "no appointment has this code")
        if appointment.status != "booked":
            raise RequestError("already_checked_in", "this appointment is already checked in")
        return appointment

    def _cancel_booking(self, state: HallState, cmd: c.CancelBooking, now: datetime) -> list[e.Event]:
        return [e.AppointmentCancelled(at=now, code=self._booked(state, cmd.code).code)]

    def _move_booking(self, state: HallState, cmd: c.MoveBooking, now: datetime) -> list[e.Event]:
        appointment = self._booked(state, cmd.code)
        slot = cmd.slot.astimezone(self.setup.tz)
        if slot == appointment.slot:
            return []
        day = self.setup.business_day(slot)
        if day < state.day:
            raise RequestError("not_allowed", f"the slot {slot.isoformat()} is on a day already past")
        # its own place does not count against the new slot's: it leaves the old one
        self._slot_free(evolve(state, e.AppointmentCancelled(at=now, code=appointment.code)), appointment.service,
                        slot, now)
        return [e.AppointmentMoved(at=now, appointment=replace(appointment, slot=slot, day=day))]

    def _check_in(self, state: HallState, cmd: c.CheckIn, now: datetime) -> list[e.Event]:
        remote = self._remote_by_code(state, cmd.code.strip())
        if remote is not None:
            # a ticket joined from a phone, confirmed at the kiosk (which prints it: the same number)
            return self._arrived(remote, cmd.by, now, by_code=True)
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
        return [checked, e.TicketIssued(at=now, ticket=self._estimate(self.setup, evolve(state, checked), ticket, now))]

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

    # -- calling rules --
    def _set_rules(self, state: HallState, cmd: c.SetRules, now: datetime) -> list[e.Event]:
        before = self.setup.rules_in(state)
        try:
            rules = msgspec.convert({**msgspec.to_builtins(before), **cmd.rules}, CallingRules)
        except msgspec.ValidationError as err:
            raise RequestError("bad_request", f"calling rules: {err}") from None
        return [] if rules == before else [e.RulesChanged(at=now, rules=rules, before=before, by=cmd.by)]

    def _adopt_file_rules(self, state: HallState, cmd: c.AdoptFileRules, now: datetime) -> list[e.Event]:
        recorded = state.file_rules or CallingRules()
        rules = self.setup.file_rules
        if rules == recorded:
            return []
        return [e.RulesChanged(at=now, rules=rules, before=state.rules or recorded, by=cmd.by, file=True)]

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
        # business days only move forward: a clock that went back (a Pi without RTC booting with a
        # stale time, then NTP) is not a new day; the controller logs it as a fault
        if day > state.day:
            # unfinished tickets of the previous day stay (and are still served); numbers restart
            carried = [t.id for t in state.tickets.values() if t.status in OPEN_STATUSES]
            events.append(e.DayStarted(at=now, day=day, carried=carried))
        scheduled = self.setup.in_hours(now)
        if scheduled != state.schedule_open:
            events.append(e.HallOpened(at=now, by="schedule") if scheduled else e.HallClosed(at=now, by="schedule"))
        for event in events:
            state = evolve(state, event)
        if not cmd.alerts:
            return events
        calls = self._auto_calls(state, now)
        return events + calls + alert_changes(self.setup, fold(state, calls), now)

    def _auto_calls(self, state: HallState, now: datetime) -> list[e.Event]:
        """``[hall] auto_call_s``: a counter free that long (since its last customer left or it came
        back from a pause) calls the next ticket by itself, once that ticket has waited as long too
        (the clerk had the time to call by hand). Never a counter's first call of the day (a desk
        nobody sat at must not call people to it), a paused counter, or one whose terminal is away."""
        auto_call_s = self.setup.rules_in(state).auto_call_s
        if not auto_call_s:
            return []
        bound = timedelta(seconds=auto_call_s)
        events: list[e.Event] = []
        for counter_id in self.setup.counters:
            cs = state.counters[counter_id]
            device = state.devices.get(f"counter.{counter_id}")
            if cs.suspended or cs.ticket is not None or cs.free_since is None or now - cs.free_since < bound \
                    or (device is not None and device.online is False):
                continue
            skipped, after, nxt = self._next_here(state, counter_id, now)
            if nxt is None or now - nxt.waiting_since < bound:
                continue
            called = skipped + self._call(after, counter_id, nxt, now, out_of_order=False, auto=True)
            state = fold(state, called)
            events += called
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
