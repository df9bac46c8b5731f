"""When will each waiting ticket be called? The call rules played forward. Pure.

The old estimate was "people ahead × service time ÷ open counters". It is wrong where halls are:
counters that serve several services share their time between them; a customer is called when a
counter *frees*, and a counter that called its ticket a while ago frees sooner than one that
just did; a counter on a break comes back; priority tickets and appointments whose slot has
begun go first, also those booked for a slot that begins while you wait.

:func:`forecast` plays the hall forward from ``now`` with the controller's own rules: every open
counter (not suspended, its terminal not offline) frees when its current customer's expected time
is up (what the service's tickets have measured at a counter, served or no-show, minus what has
passed, never less than a fifth of it), then, after the clerks' measured turnaround, calls the
next ticket exactly as ``call_next`` would (:meth:`Ticket.queue_key`, the counter's
``call_order``). A paused counter (暂停服务) returns after the hall's measured typical pause; a
booked slot not yet checked in takes a counter once it has begun, ahead of walk-ins. The time
each ticket is reached is its estimate. A service no open counter
serves falls back to people ahead × time ÷ the counters configured for it (they will open).

One pass costs O(waiting × services) with a heap of counters; the result is kept for the last
state and instant asked, since every ticket shown from one state shares it.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import datetime

from .model import HallState, Ticket
from .setup import Setup

MIN_RESIDUAL_SHARE = 0.2       # a customer past the expected time still takes a fifth of it
LAST = "\uffff"                 # sorts after every ticket id: a newcomer queued at the very end


@dataclass
class Forecast:
    waits: dict[str, int] = field(default_factory=dict)          # ticket id -> seconds until called
    newcomer: dict[str, int] = field(default_factory=dict)       # service -> wait of a ticket issued now


def per_ticket_s(state: HallState, service: str) -> float:
    svc = state.services[service]
    return svc.occupancy_s or svc.avg_service_s


def _returns_in(state: HallState, counter: str, now: datetime) -> float | None:
    """Seconds until the counter calls again as far as its state says: 0 when open; a paused
    counter after a typical pause (measured: lunch breaks end); None: its terminal is offline."""
    cs = state.counters.get(counter)
    device = state.devices.get(f"counter.{counter}")
    if cs is None or (device is not None and device.online is False):
        return None
    if not cs.suspended:
        return 0.0
    began = cs.suspended_at or now
    # a pause longer than usual is likely to end soon, but not this instant
    return max(state.pause_s - (now - began).total_seconds(), MIN_RESIDUAL_SHARE * state.pause_s)


def _play(setup: Setup, state: HallState, now: datetime, queues: dict[str, list[tuple[tuple, str, str]]],
          watch: str | None = None) -> dict[str, float]:
    """Seconds until each queued id is called; ``watch``: stop once that id is reached."""
    heap: list[tuple[float, str]] = []
    for counter in setup.counters.values():
        returns_in = _returns_in(state, counter.id, now)
        if returns_in is None:
            continue
        cs = state.counters[counter.id]
        ticket = state.tickets.get(cs.ticket) if cs.ticket else None
        # an idle clerk still takes a moment to call the next (the measured turnaround)
        free_in = returns_in + state.gap_s
        if ticket is not None and ticket.called_at is not None:
            expected = per_ticket_s(state, ticket.service)
            passed = (now - ticket.called_at).total_seconds()
            free_in = max(free_in, max(expected - passed, MIN_RESIDUAL_SHARE * expected) + state.gap_s)
        heapq.heappush(heap, (free_in, counter.id))
    heads = {service: 0 for service in queues}
    booked = _booked(state, now)                  # slots still to come: they go ahead once begun
    reached: dict[str, float] = {}
    while heap:
        at, counter_id = heapq.heappop(heap)
        counter = setup.counters[counter_id]
        best: tuple | None = None
        for rank, service in enumerate(counter.services):
            slots = booked.get(service)
            if slots and slots[0] <= at:          # a booked customer whose slot has begun
                order: tuple = (1, rank) if counter.call_order == "service_order" else (1,)
                if best is None or order < best[0]:
                    best = (order, service, True)
                continue
            queue = queues.get(service)
            if not queue or heads[service] >= len(queue):
                continue
            key = queue[heads[service]][0]
            order = (key[0], rank, key[1:]) if counter.call_order == "service_order" else key
            if best is None or order < best[0]:
                best = (order, service, False)
        if best is None:
            continue                              # nothing left this counter serves: it stays idle
        service = best[1]
        if best[2]:
            booked[service].pop(0)
            heapq.heappush(heap, (at + per_ticket_s(state, service) + state.gap_s, counter_id))
            continue
        _, ticket_id, _ = queues[service][heads[service]]
        heads[service] += 1
        reached[ticket_id] = at
        if ticket_id == watch:
            break
        heapq.heappush(heap, (at + per_ticket_s(state, service) + state.gap_s, counter_id))
    return reached


def _booked(state: HallState, now: datetime) -> dict[str, list[float]]:
    """Seconds from now to each booked slot of today not yet checked in (in order, per service)."""
    slots: dict[str, list[float]] = {}
    for a in state.appointments.values():
        if a.status == "booked" and a.day == state.day and a.slot > now:
            slots.setdefault(a.service, []).append((a.slot - now).total_seconds())
    for values in slots.values():
        values.sort()
    return slots


def _queues(state: HallState, now: datetime) -> dict[str, list[tuple[tuple, str, str]]]:
    queues: dict[str, list[tuple[tuple, str, str]]] = {}
    for t in state.tickets.values():
        if t.status == "waiting":
            queues.setdefault(t.service, []).append((t.queue_key(now), t.id, t.service))
    for queue in queues.values():
        queue.sort()
    return queues


def configured_counters(setup: Setup, service: str) -> int:
    """Counters configured to serve ``service`` (at least one, so estimates never divide by 0)."""
    return max(1, sum(1 for k in setup.counters.values() if service in k.services))


def wait_for(ahead: int, service_s: float, counters: int) -> int:
    """The one estimate rule: people ahead times the service time, shared by the counters.
    The kiosk uses it too when it issues from its lease (with the configured service time)."""
    return int(math.ceil(ahead * service_s / max(1, counters)))


def _fallback(setup: Setup, state: HallState, service: str, ahead: int) -> int:
    """A service no open counter serves: its configured counters will open."""
    return wait_for(ahead, per_ticket_s(state, service), configured_counters(setup, service))


_last: tuple[HallState, datetime, Forecast] | None = None


def forecast(setup: Setup, state: HallState, now: datetime) -> Forecast:
    """Every waiting ticket's wait and a newcomer's, per service, as of ``now``."""
    global _last
    if _last is not None and _last[0] is state and _last[1] == now:
        return _last[2]
    queues = _queues(state, now)
    reached = _play(setup, state, now, queues)
    result = Forecast()
    for service, queue in queues.items():
        for i, (_, ticket_id, _) in enumerate(queue):
            at = reached.get(ticket_id)
            result.waits[ticket_id] = int(math.ceil(at)) if at is not None else _fallback(setup, state, service, i)
    for service in state.services:
        # a newcomer: queued last in its service (a walk-in issued now), everyone else as they are
        queue = list(queues.get(service, []))
        queue.append(((2, now, math.inf), LAST, service))
        at = _play(setup, state, now, {**queues, service: queue}, watch=LAST).get(LAST)
        result.newcomer[service] = int(math.ceil(at)) if at is not None else \
            _fallback(setup, state, service, len(queue) - 1)
    _last = (state, now, result)
    return result


def wait_of(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> int:
    """The wait of ``ticket``: one of the state's, or one about to join it (being issued)."""
    if ticket.id in state.tickets and state.tickets[ticket.id].status == "waiting":
        return forecast(setup, state, now).waits.get(ticket.id, 0)
    queues = _queues(state, now)
    queue = queues.setdefault(ticket.service, [])
    queue.append((ticket.queue_key(now), ticket.id, ticket.service))
    queue.sort()
    at = _play(setup, state, now, queues, watch=ticket.id).get(ticket.id)
    if at is None:
        return _fallback(setup, state, ticket.service, queue.index(next(q for q in queue if q[1] == ticket.id)))
    return int(math.ceil(at))
