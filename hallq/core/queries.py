"""Queries of a hall's state shared by the rules, the controller's documents and the web: numbers,
waiting lists, open counters, people ahead and each ticket's estimated wait. Pure."""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

from msgspec.structs import replace

from .forecast import per_ticket_s, wait_for, wait_of, walk_in
from .model import HallState, Ticket
from .setup import Setup


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
        if service not in setup.serving(state, counter.id).services:
            continue
        cs = state.counters.get(counter.id)
        device = state.devices.get(f"counter.{counter.id}")
        if cs is not None and not cs.suspended and (device is None or device.online is not False):
            count += 1
    return count


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
        if t.walk_in:                                            # (2, issued_at, order)
            if rank == 2 and (t.queued_by < when or (t.queued_by == when and t.order < order)):
                ahead += 1
        elif t.queue_key(now) < (rank, when, order):
            ahead += 1
    return ahead


def route_estimate(setup: Setup, state: HallState, ticket: Ticket, wait: int) -> int:
    """Seconds until a journey's last step is done, for a ticket whose wait for its current step
    is ``wait``: each step's time at a counter and the clerks' turnaround, and for each later step
    a wait from that service's queue now (people waiting × time per ticket ÷ its open counters).
    A step that keeps the issue time's place ("issued", the default) finds those people served by
    the time it gets there, as far as the time until then covers them; one queued by the time it
    gets there ("step") waits behind as many as wait there now. An estimate for planning a visit,
    not a play of the hall forward: the later queues are not known yet."""
    if not ticket.route:
        return 0
    elapsed = float(wait)
    for i, service in enumerate(ticket.route[ticket.step:]):
        if i:
            waiting = sum(1 for t in state.tickets.values() if t.status == "waiting" and t.service == service)
            backlog = wait_for(waiting, per_ticket_s(state, service), open_counters(setup, state, service))
            elapsed += backlog if setup.rules_in(state).journey_order == "step" else max(0.0, backlog - elapsed)
        elapsed += per_ticket_s(state, service) + state.gap_s
    return int(math.ceil(elapsed))


def booking_slots(setup: Setup, state: HallState, service: str, day: date, now: datetime) -> list[tuple[datetime, int]]:
    """The slots of ``service`` a customer may book on ``day`` (its booking setting, the hall's hours
    that day), each with how many places are left: per slot, the setting's bookings per counter times
    the counters that serve the service, less those booked (checked in included). Past slots are left
    out; none when the service is not booked by customers or the day is beyond the days ahead."""
    setting = setup.booking.get(service)
    if setting is None:
        return []
    minutes, per_counter, days_ahead = setting
    today = now.astimezone(setup.tz).date()
    if not today <= day <= today + timedelta(days=days_ahead):
        return []
    capacity = per_counter * sum(1 for k in setup.counters.values() if service in k.services)
    taken: dict[datetime, int] = {}
    for a in state.appointments.values():
        if a.service == service:
            taken[a.slot] = taken.get(a.slot, 0) + 1
    spans = setup.hours or ((time(0, 0), time(23, 59)),)
    out: list[tuple[datetime, int]] = []
    for start, end in spans:
        at = datetime.combine(day, start, setup.tz)
        close = datetime.combine(day, end, setup.tz)
        while at + timedelta(minutes=minutes) <= close:
            if at > now:
                out.append((at, max(0, capacity - taken.get(at, 0))))
            at += timedelta(minutes=minutes)
    return out


def latest_issue(state: HallState, now: datetime) -> datetime:
    """When a ticket issued online at ``now`` is issued: never before the last one issued online
    today (a clock that went back must not put it ahead of them). Each is issued no earlier than
    the one before, so that is the last placed: a few steps back at most, not the day's tickets."""
    latest = next((t.issued_at for t in reversed(state.tickets.values()) if t.day == state.day and not t.offline),
                  now)
    return max(now, latest)


def with_estimate(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> Ticket:
    """The ticket with its people-ahead and estimated wait as of ``state`` (0 unless waiting);
    the wait from the call rules played forward (:mod:`hallq.core.forecast`); ``est_known`` False
    when nobody calling its service now would reach it."""
    if ticket.status != "waiting":
        if ticket.waiting_ahead or ticket.est_wait_s or not ticket.est_known or ticket.est_route_s:
            return replace(ticket, waiting_ahead=0, est_wait_s=0, est_known=True, est_route_s=0)
        return ticket
    fast = walk_in(setup, state, ticket, now)       # a walk-in issued now: O(counters), not O(queue)
    if fast is not None:
        ahead, wait = fast
    else:
        ahead, wait = waiting_ahead(state, ticket, now), wait_of(setup, state, ticket, now)
    route_s = route_estimate(setup, state, ticket, wait) if ticket.route and wait is not None else 0
    return replace(ticket, waiting_ahead=ahead, est_wait_s=wait or 0, est_known=wait is not None, est_route_s=route_s)


def find_waiting(state: HallState, number: str) -> Ticket | None:
    """The waiting ticket with this number, today's first (an unfinished one carried over next)."""
    found = [t for t in state.tickets.values() if t.number == number and t.status == "waiting"]
    return min(found, key=lambda t: t.day != state.day) if found else None


def find_by_number(state: HallState, number: str) -> Ticket | None:
    today = [t for t in state.tickets.values() if t.number == number and t.day == state.day]
    if today:
        return today[0]
    return next((t for t in state.tickets.values() if t.number == number), None)
