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
each ticket is reached is its estimate. A counter where nobody is calling (idle while people
waited for ``idle_alert_s``: :mod:`hallq.core.idle`) is not counted on. A ticket no counter in the
play reaches has no estimate (None): no number of minutes is promised while nobody calls its
service ("暂无法估计"), rather than a guess from counters nobody is at.

With ``[hall] priority_per_normal`` or ``ageing_s`` in force, the play follows them too (a priority
ticket waits once its service's share ran out while walk-ins wait; a walk-in goes first once aged).
A counter with ``call_order = "weighted"`` is played as ``call_next`` takes: the service furthest
behind its weight's share of that counter's calls today (counted on through the play), then that
service's first; a booked slot begun still goes first.

One pass costs O(waiting × services) with a heap of counters; the result is kept for the last
state and instant asked, since every ticket shown from one state shares it.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .idle import idle_counters
from .model import HallState, Ticket
from .setup import CounterSetup, Setup

MIN_RESIDUAL_SHARE = 0.2       # a customer past the expected time still takes a fifth of it
LAST = "\uffff"                 # sorts after every ticket id: a newcomer queued at the very end


@dataclass
class Forecast:
    # None: nobody calling its service now reaches it (the wait cannot be estimated)
    waits: dict[str, int | None] = field(default_factory=dict)          # ticket id -> seconds until called
    newcomer: dict[str, int | None] = field(default_factory=dict)       # service -> wait of a ticket issued now


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


def _start(setup: Setup, state: HallState, now: datetime) -> list[tuple[float, str]]:
    """The heap of open counters someone calls at, each at the time it calls next."""
    heap: list[tuple[float, str]] = []
    idle = idle_counters(setup, state, now)
    for counter in setup.counters.values():
        returns_in = _returns_in(state, counter.id, now)
        if returns_in is None or counter.id in idle:
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
    return heap


def _by_weight(counter: CounterSetup, calls: dict[str, int], waiting: list[str]) -> str:
    """A weighted counter's next service among ``waiting``: the one furthest behind its share of the
    counter's calls (ties: the counter's order), as ``QueueRules._next_for``."""
    rank = {s: i for i, s in enumerate(counter.services)}
    return min(waiting, key=lambda s: ((calls.get(s, 0) + 1) / counter.weights.get(s, 1), rank[s]))


def _choose(counter: CounterSetup, at: float, queues: dict[str, list[tuple[tuple, str, str]]],
            heads: dict[str, int], booked: dict[str, list[float]]) -> tuple[tuple, str, bool] | None:
    """What ``call_next`` at this counter would take at ``at`` (no share, ageing or weights: the
    walk-in play's): (its order, the service, a booked slot?), or None: nothing it serves is waiting."""
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
    return best


def _play(setup: Setup, state: HallState, now: datetime, queues: dict[str, list[tuple[tuple, str, str]]],
          watch: str | None = None) -> dict[str, float]:
    """Seconds until each queued id is called; ``watch``: stop once that id is reached."""
    rules = setup.rules_in(state)
    return _Play(setup, state, now, queues, rules.priority_per_normal, rules.ageing_s).run(watch)


def _calls(state: HallState, desks: dict[str, CounterSetup]) -> dict[str, dict[str, int]]:
    """Each weighted counter's calls per service today, to be counted on through a play."""
    return {k: dict(state.counters[k].calls) for k, desk in desks.items()
            if desk.call_order == "weighted" and k in state.counters}


class _Play:
    """The play of the queues as ``call_next`` takes from them, under the hall's calling rules
    (``priority_per_normal``, ``ageing_s``: ``QueueRules._call_key``): each service's queue split in
    two, its priority tickets and the rest, so that a priority ticket can wait while walk-ins go (the
    share) and the longest waiting walk-in can go first once aged (the rest's head: the oldest of them
    when no booked appointment is due ahead of it). Without those rules the first of each service is
    its queue's first, as :meth:`Ticket.queue_key` orders it. Each call costs O(services of the counter)."""

    def __init__(self, setup: Setup, state: HallState, now: datetime,
                 queues: dict[str, list[tuple[tuple, str, str]]], share: int, ageing_s: int) -> None:
        self.setup, self.state, self.now, self.share, self.ageing_s = setup, state, now, share, ageing_s
        self.priority: dict[str, list[tuple[tuple, str, str]]] = {}
        self.rest: dict[str, list[tuple[tuple, str, str]]] = {}
        for service, queue in queues.items():
            self.priority[service] = [q for q in queue if q[0][0] == 0]
            self.rest[service] = [q for q in queue if q[0][0] != 0]
        self.heads = {s: [0, 0] for s in queues}
        tickets = state.tickets
        # what the rules look at, when they are in force: a walk-in's moment it began waiting (ageing; a
        # newcomer, not in the state, began now) and how many walk-ins each service has left (the share)
        self.since: dict[str, float] = {}
        self.walk_in: dict[str, bool] = {}
        self.walk_ins_left: dict[str, int] = {}
        if share or ageing_s:
            self.since = {q[1]: (tickets[q[1]].waiting_since - now).total_seconds() if q[1] in tickets else 0.0
                          for queue in queues.values() for q in queue}
            self.walk_in = {q[1]: tickets[q[1]].walk_in if q[1] in tickets else q[0][0] == 2
                            for queue in queues.values() for q in queue}
            self.walk_ins_left = {s: sum(1 for q in self.rest[s] if self.walk_in[q[1]]) for s in queues}
        self.run_of = {s: svc.priority_run for s, svc in state.services.items()}

    def _candidate(self, service: str, at: float) -> tuple[tuple, tuple[tuple, str, str], int] | None:
        """(its calling order, the entry, 0: from the priority list / 1: from the rest) for ``service``."""
        prio, rest = self.priority.get(service, []), self.rest.get(service, [])
        hp, hr = self.heads.get(service, [0, 0])
        p = prio[hp] if hp < len(prio) else None
        r = rest[hr] if hr < len(rest) else None
        if r is not None and self.ageing_s and self.walk_in[r[1]] and self.since[r[1]] <= at - self.ageing_s:
            return (-1, self.since[r[1]], r[0][2]), r, 1
        if p is not None and not (self.share and self.run_of.get(service, 0) >= self.share
                                  and self.walk_ins_left.get(service, 0) > 0):
            return p[0], p, 0
        if r is not None:
            return r[0], r, 1
        return ((3, *p[0][1:]), p, 0) if p is not None else None

    def run(self, watch: str | None) -> dict[str, float]:
        heap = _start(self.setup, self.state, self.now)
        desks = self.setup.desks(self.state)
        booked = _booked(self.state, self.now)
        calls = _calls(self.state, desks)
        reached: dict[str, float] = {}
        while heap:
            at, counter_id = heapq.heappop(heap)
            counter = desks[counter_id]
            best: tuple | None = None
            weighted = counter_id in calls
            found_in: dict[str, tuple] = {}       # a weighted counter's candidates, per service
            for rank, service in enumerate(counter.services):
                slots = booked.get(service)
                if slots and slots[0] <= at:
                    order: tuple = (1, rank) if counter.call_order == "service_order" else (1,)
                    if best is None or order < best[0]:
                        best = (order, service, None, 0)
                    continue
                found = self._candidate(service, at)
                if found is None:
                    continue
                key, entry, which = found
                if weighted:
                    found_in[service] = (key, service, entry, which)
                order = (key[0], rank, key[1:]) if counter.call_order == "service_order" else key
                if best is None or order < best[0]:
                    best = (order, service, entry, which)
            if best is None:
                continue                              # nothing left this counter serves: it stays idle
            if weighted and best[2] is not None and best[0][0] >= 0:
                # weighted, nobody aged past the bound: the service furthest behind its share
                best = found_in[_by_weight(counter, calls[counter_id], list(found_in))]
            _, service, entry, which = best
            if weighted:
                calls[counter_id][service] = calls[counter_id].get(service, 0) + 1
            heapq.heappush(heap, (at + per_ticket_s(self.state, service) + self.state.gap_s, counter_id))
            if entry is None:                         # a booked customer whose slot has begun
                booked[service].pop(0)
                self.run_of[service] = 0
                continue
            self.heads[service][which] += 1
            if which == 0:
                self.run_of[service] = self.run_of.get(service, 0) + 1
            else:
                self.run_of[service] = 0
                if self.walk_in.get(entry[1]):
                    self.walk_ins_left[service] -= 1
            reached[entry[1]] = at
            if entry[1] == watch:
                break
        return reached


@dataclass
class _Divergence:
    """The play just after a counter popped at ``at`` and would take a newcomer of a service (its
    queue ran out there, and nothing it prefers waits): where a walk-in issued now is called."""
    at: float
    counter: str
    index: int
    heap: list[tuple[float, str]]
    heads: dict[str, int]
    booked: dict[str, list[float]]


NEWCOMER_KEY_RANK = 2                     # a walk-in: (2, issued_at, order); after every older one


class Newcomers:
    """The waits of walk-ins issued one after another at one instant (a kiosk's burst in one batch),
    each in O(counters) instead of a play of the whole queue.

    The play of the waiting queues is kept with, per service, the point where a walk-in issued
    now would be called: the first counter that, when it frees, finds that service's queue run out
    and nothing it prefers waiting. Issuing such a walk-in changes the play only from that point:
    the play goes back there, the counter takes the new ticket, and goes on from there when asked.
    It follows the state it was made for through :func:`note_evolved`; any other change (a call,
    a void, a counter's pause, another instant) starts it anew.
    """

    def __init__(self, setup: Setup, state: HallState, now: datetime, issued_at: datetime) -> None:
        self.setup, self.state, self.now = setup, state, now
        self.issued_at = issued_at            # every walk-in of a batch is issued at this time
        self.queues = _queues(state, now)
        self.heap = _start(setup, state, now)
        self.desks = setup.desks(state)
        self.start = list(self.heap)          # the counters as the play began (see ``follows``)
        # the first slot still to come of a waiting appointment's ticket: its place changes then
        self.next_slot = min((t.slot for t in state.tickets.values() if t.status == "waiting" and t.booked
                              and t.slot > now), default=None)  # type: ignore[operator]
        self.heads = {service: 0 for service in setup.services}
        for service in setup.services:
            self.queues.setdefault(service, [])
        self.booked = _booked(state, now)
        self.points: dict[str, _Divergence] = {}
        self.index = 0
        self.pending: str | None = None       # the ticket whose wait was just given (issued next)

    def follows(self, setup: Setup, state: HallState, now: datetime, issued_at: datetime) -> bool:
        """Can this play serve ``state`` at ``now`` (a later batch)? Exactly when nothing the play
        starts from moved: the same state, the counters free at the same moments from now (idle
        ones, after the turnaround), no booked slot still to come, no waiting appointment's slot
        passed meanwhile. Then every wait is the same, and the play goes on as it was."""
        if self.state is not state or self.setup is not setup:
            return False
        if now != self.now:
            if self.booked or (self.next_slot is not None and now >= self.next_slot) or \
                    _start(setup, state, now) != self.start:
                return False
            self.now = now
        self.issued_at = issued_at
        return True

    def _step(self) -> None:
        at, counter_id = heapq.heappop(self.heap)
        counter = self.desks[counter_id]
        best = _choose(counter, at, self.queues, self.heads, self.booked)
        for rank, service in enumerate(counter.services):
            if service in self.points or self.heads[service] < len(self.queues[service]):
                continue
            # its queue ran out: a walk-in issued now would be taken here unless what the counter
            # takes comes first by its order (an older ticket; a better-ranked service's)
            mine = (NEWCOMER_KEY_RANK, rank, self.issued_at, math.inf) if counter.call_order == "service_order" \
                else (NEWCOMER_KEY_RANK, self.issued_at, math.inf)
            if best is None or mine < best[0]:
                self.points[service] = _Divergence(at, counter_id, self.index, list(self.heap), dict(self.heads),
                                                   {k: list(v) for k, v in self.booked.items()})
        self.index += 1
        if best is None:
            return
        service = best[1]
        if best[2]:
            self.booked[service].pop(0)
        else:
            self.heads[service] += 1
        heapq.heappush(self.heap, (at + per_ticket_s(self.state, service) + self.state.gap_s, counter_id))

    def wait(self, service: str) -> float | None:
        """Seconds until a walk-in of ``service`` issued now is called (None: no open counter serves it)."""
        while service not in self.points and self.heap:
            self._step()
        point = self.points.get(service)
        return point.at if point is not None else None

    def issued(self, ticket: Ticket) -> None:
        """``ticket`` (the walk-in whose wait was just given) joined its queue: the play from its
        divergence point on is played again when asked."""
        point = self.points[ticket.service]
        self.queues[ticket.service].append((ticket.queue_key(self.now), ticket.id, ticket.service))
        kept = {s: p for s, p in self.points.items() if p.index < point.index}
        # at that very pop, a walk-in of a service the counter ranks higher would still be taken
        # before the one just issued (service order; oldest first it never is: it came later)
        counter = self.desks[point.counter]
        if counter.call_order == "service_order":
            mine = counter.services.index(ticket.service)
            for rank, service in enumerate(counter.services[:mine]):
                if service not in kept and point.heads[service] >= len(self.queues[service]):
                    kept[service] = point
        self.points = kept
        self.heap, self.heads = list(point.heap), dict(point.heads)
        self.booked = {k: list(v) for k, v in point.booked.items()}
        self.heads[ticket.service] += 1
        heapq.heappush(self.heap, (point.at + per_ticket_s(self.state, ticket.service) + self.state.gap_s,
                                   point.counter))
        self.index = point.index + 1


_newcomers: Newcomers | None = None


def _is_walk_in(state: HallState, ticket: Ticket, now: datetime) -> bool:
    """A walk-in issued now (its queue place: its issue time, after every ticket issued before)."""
    return (ticket.priority == "normal" and not ticket.appointment and not ticket.offline
            and ticket.issued_at >= now and ticket.order >= state.arrivals and ticket.id not in state.tickets)


# what changes neither the counters, nor the waiting tickets, nor the times the play uses
_BESIDE_THE_PLAY = frozenset({"AlertRaised", "AlertCleared", "Announcement", "AnnouncementRemoved",
                              "DeviceStatusChanged", "NumbersLeased", "HallOpened", "HallClosed", "OutageStarted",
                              "OutageEnded", "ServiceSuspended", "ServiceResumed", "NumberingContinued"})


def note_evolved(before: HallState, after: HallState, event: Any) -> None:
    """The rules folded ``event`` into ``before``: the walk-in play follows a ticket it gave the
    wait of, and events beside the play; anything else makes it start anew when next asked."""
    global _newcomers
    memo = _newcomers
    if memo is None or memo.state is not before:
        return
    ticket = getattr(event, "ticket", None)
    kind = type(event).__name__
    if kind == "TicketIssued" and ticket is not None and ticket.id == memo.pending:
        memo.issued(ticket)
        memo.state, memo.pending = after, None
    elif kind in _BESIDE_THE_PLAY:
        memo.state = after
    else:
        _newcomers = None


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
            result.waits[ticket_id] = _seconds(at)
    for service in state.services:
        # a newcomer: queued last in its service (a walk-in issued now), everyone else as they are
        queue = list(queues.get(service, []))
        queue.append(((2, now, math.inf), LAST, service))
        at = _play(setup, state, now, {**queues, service: queue}, watch=LAST).get(LAST)
        result.newcomer[service] = _seconds(at)
    _last = (state, now, result)
    return result


def _seconds(at: float | None) -> int | None:
    return int(math.ceil(at)) if at is not None else None


def walk_in(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> tuple[int, int | None] | None:
    """(people ahead, wait or None if not known) of a walk-in being issued now (:class:`Newcomers`), or None if ``ticket``
    is not one (a priority ticket, an appointment, one placed from a lease)."""
    global _newcomers
    if not _is_walk_in(state, ticket, now) or _rules_set(setup, state):
        return None
    memo = _newcomers
    if memo is None or not memo.follows(setup, state, now, ticket.issued_at):
        memo = _newcomers = Newcomers(setup, state, now, ticket.issued_at)
    queue = memo.queues[ticket.service]
    if queue and not queue[-1][0] < ticket.queue_key(now):
        return None                # an appointment's ticket queued by a slot still to come is after it
    at = memo.wait(ticket.service)
    # followed once issued; a ticket nobody in the play reaches starts the play anew instead
    memo.pending = ticket.id if at is not None else None
    ahead = len(memo.queues[ticket.service])
    return ahead, _seconds(at)


def _rules_set(setup: Setup, state: HallState) -> bool:
    """A priority share or ageing is in force, or a counter calls by weights: the walk-in play (which
    assumes priority first, no ageing, each counter taking the first by its order) gives way to a
    whole play per ask (:class:`_Play`)."""
    rules = setup.rules_in(state)
    return bool(rules.priority_per_normal or rules.ageing_s) or \
        any(desk.call_order == "weighted" for desk in setup.desks(state).values())


def newcomer_waits(setup: Setup, state: HallState, now: datetime, issued_at: datetime) -> dict[str, int | None]:
    """What a walk-in taking a ticket now (issued at ``issued_at``) would be told, per service: the
    walk-in play (:class:`Newcomers`), kept from the batch's last issue when there was one;
    :func:`forecast`'s where a ticket queued by a slot still to come would be behind it."""
    global _newcomers
    if _rules_set(setup, state):
        return dict(forecast(setup, state, now).newcomer)
    memo = _newcomers
    if memo is None or not memo.follows(setup, state, now, issued_at):
        memo = _newcomers = Newcomers(setup, state, now, issued_at)
    out: dict[str, int | None] = {}
    last = (NEWCOMER_KEY_RANK, issued_at, math.inf)
    for service in setup.services:
        queue = memo.queues[service]
        if queue and not queue[-1][0] < last:
            out[service] = forecast(setup, state, now).newcomer.get(service)
            continue
        out[service] = _seconds(memo.wait(service))
    return out


def wait_of(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> int | None:
    """The wait of ``ticket``: one of the state's, or one about to join it (being issued);
    None: nobody calling its service now would reach it."""
    if ticket.id in state.tickets and state.tickets[ticket.id].status == "waiting":
        return forecast(setup, state, now).waits.get(ticket.id)
    fast = walk_in(setup, state, ticket, now)
    if fast is not None:
        return fast[1]
    return play_wait(setup, state, ticket, now)


def play_wait(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> int | None:
    """The wait of a ticket about to join the state, by a play of the whole queue (what
    :class:`Newcomers` gives a walk-in without one)."""
    queues = _queues(state, now)
    queue = queues.setdefault(ticket.service, [])
    queue.append((ticket.queue_key(now), ticket.id, ticket.service))
    queue.sort()
    return _seconds(_play(setup, state, now, queues, watch=ticket.id).get(ticket.id))
