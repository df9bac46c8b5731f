"""Queries of a hall's state shared by the rules, the controller's documents and the web: numbers,
waiting lists, open counters, people ahead and each ticket's estimated wait. Pure."""
from __future__ import annotations

from datetime import datetime

from msgspec.structs import replace

from .forecast import wait_of, walk_in
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
        if service not in counter.services:
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
            if rank == 2 and (t.issued_at < when or (t.issued_at == when and t.order < order)):
                ahead += 1
        elif t.queue_key(now) < (rank, when, order):
            ahead += 1
    return ahead


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
        if ticket.waiting_ahead or ticket.est_wait_s or not ticket.est_known:
            return replace(ticket, waiting_ahead=0, est_wait_s=0, est_known=True)
        return ticket
    fast = walk_in(setup, state, ticket, now)       # a walk-in issued now: O(counters), not O(queue)
    if fast is not None:
        ahead, wait = fast
    else:
        ahead, wait = waiting_ahead(state, ticket, now), wait_of(setup, state, ticket, now)
    return replace(ticket, waiting_ahead=ahead, est_wait_s=wait or 0, est_known=wait is not None)


def find_waiting(state: HallState, number: str) -> Ticket | None:
    """The waiting ticket with this number, today's first (an unfinished one carried over next)."""
    found = [t for t in state.tickets.values() if t.number == number and t.status == "waiting"]
    return min(found, key=lambda t: t.day != state.day) if found else None


def find_by_number(state: HallState, number: str) -> Ticket | None:
    today = [t for t in state.tickets.values() if t.number == number and t.day == state.day]
    if today:
        return today[0]
    return next((t for t in state.tickets.values() if t.number == number), None)
