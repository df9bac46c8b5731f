"""A recorded hall day played again through the pure core, with the same or another staffing.

What is taken from the record, and kept whatever is changed:
- **arrivals**: every ticket's issue time, service, priority, and an appointment's slot;
- **each customer's time at a counter**: call to finish (or to the no-show, or to the transfer,
  then the next service's), as the counter measured it; a customer the replay calls but the record
  never did (they gave up) takes the service's median time;
- **giving up**: a ticket voided while it waited leaves at the same moment if it still waits;
- **the clerks' presence**: each counter works from its first call to its last finish, less its
  pauses (暂停服务); while it finished a customer and did not call the next although people it
  serves waited, its clerk was away (or the system was: a controller restart), and is away at
  those same times in the replay. Otherwise it calls after the hall's median turnaround (finish to
  next call while people waited), or its median reaction to an arrival when nobody waited.

What may change (:class:`Staffing`): a counter closed or opened for a time (``c3@13:30-15:00``),
and the configuration the core plays with (services, the counters' services and call order,
priority and appointment rules), given as another hall TOML.

The rules are the controller's own (:class:`hallq.core.rules.QueueRules`), so a replay of the
recorded configuration calls the same tickets in the same order and reproduces the recorded waits
up to what the record does not hold (out-of-order calls, reinstated no-shows, presses a clerk
delayed): :func:`fidelity` measures that on the same day, and the report says it.
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

import msgspec

from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.evolve import GAP_BOUND_S
from hallq.core.model import CallingRules
from hallq.core.rules import QueueRules
from hallq.core.setup import Setup
from hallq.errors import RequestError

from .day import nearest_rank, open_read_only

REPLAY = "replay"               # the `by` of every command the replay plays
TIE_S = timedelta(seconds=1)    # a counter that let another take a ticket did not call at that instant either


@dataclass
class Visit:
    service: str
    duration_s: float           # called to finished, no-show or transferred
    then: str                   # "served" | "no_show" | "transfer" | "unfinished" (at the end of the record)
    to: str = ""                # "transfer": the service it was sent to


@dataclass
class Arrival:
    ticket: str                 # the recorded ticket id
    number: str
    service: str
    priority: str
    at: datetime
    slot: datetime | None = None                  # a checked-in appointment's slot
    visits: list[Visit] = field(default_factory=list)
    left_at: datetime | None = None               # voided while it waited: gave up
    first_called: datetime | None = None          # as recorded
    known_at: datetime | None = None              # issued offline (from a kiosk's lease): when the hall learnt of it
    place: int = 0                                # its issue's place among the day's events
    source: str = ""                              # the kiosk that issued it offline

    @property
    def wait_s(self) -> float | None:
        return None if self.first_called is None else max(0.0, (self.first_called - self.at).total_seconds())


@dataclass
class CounterTrace:
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)    # working, pauses left out
    # idle while people waited, no call: (from, to, the record's place of what began it)
    away: list[tuple[datetime, datetime, int]] = field(default_factory=list)
    reactions: list[float] = field(default_factory=list)     # idle, nobody waited: arrival to its call
    reaction_s: float = 0.0                                  # their median (the hall's when it has none)
    # when it finished a customer, and when it called -> their places in the record (several at
    # one instant: a clerk's quick presses)
    finishes: dict[datetime, list[int]] = field(default_factory=dict)
    calls: dict[datetime, list[int]] = field(default_factory=dict)
    stops: dict[datetime, list[int]] = field(default_factory=dict)   # a pause began, or its last finish

    def back_at(self, at: datetime, when: int = sys.maxsize) -> datetime:
        """When the clerk can call at ``at`` (``when``: its place in the record at that instant, if
        it is one): then, or when the recorded absence it falls in ends."""
        for start, end, place in self.away:
            if start < at < end or (at == start and when >= place):
                return end
        return at


@dataclass
class RecordedDay:
    day: str
    arrivals: list[Arrival]
    counters: dict[str, CounterTrace]
    turnaround_s: float          # median: finish to the next call while people waited
    reaction_s: float            # median: an arrival to its call by an idle counter
    leases: list[tuple[str, str, int]] = field(default_factory=list)   # (kiosk, service, size) in order
    # the calling rules as recorded: (when, its place in the record, the rules then in force); the first
    # at the day's start
    rules: list[tuple[datetime | None, int, CallingRules]] = field(default_factory=list)


def load_events(db_path: Path, day: str) -> list[e.Event]:
    """The controller's (or head office's copy of its) events of ``day``, in order."""
    return load_days(db_path, [day])[day]


def load_days(db_path: Path, days: Iterable[str]) -> dict[str, list[e.Event]]:
    """The events of each of ``days``, in order, read in one go."""
    events: dict[str, list[e.Event]] = {day: [] for day in days}
    db = open_read_only(db_path)
    try:
        for day in events:
            rows = db.execute("SELECT body FROM events WHERE day = ? ORDER BY seq", (day,)).fetchall()
            events[day] = [e.decode_event(body) for (body,) in rows]
    finally:
        db.close()
    return events


def read_day(setup: Setup, day: str, events: Iterable[e.Event]) -> RecordedDay:
    """What a replay needs of a recorded day (see the module's docstring)."""
    reader = _DayReader(setup, day)
    for event in events:
        reader.read(event)
    return reader.result()


class _DayReader:
    """Folds a day's events into arrivals, visits and each counter's presence."""

    def __init__(self, setup: Setup, day: str) -> None:
        self.setup, self.day = setup, day
        self.arrivals: dict[str, Arrival] = {}
        self.waiting: dict[str, str] = {}                 # ticket id -> service, while it waits
        self.queued_at: dict[str, tuple[datetime, int]] = {}    # ticket id -> when (and place) it last queued
        self.called_at: dict[str, datetime] = {}          # ticket id -> its current call
        self.serving: dict[str, datetime] = {}            # counter -> when it called its current ticket
        self.serving_service: dict[str, str] = {}         # ticket id -> the service it was called for
        self.last_end: dict[str, datetime] = {}           # counter -> its last finish
        self.idle_since: dict[str, tuple[datetime, int]] = {}   # counter -> its last finish or return (and place)
        # counter -> its aways noted when another took a ticket, reaching a moment past that call:
        # cut short by its own next call (it may call at the very instant, right after the other)
        self.tie_aways: dict[str, list[int]] = {}
        self.people_waited: dict[str, bool] = {}          # counter -> someone it serves waited at that finish
        self.paused_at: dict[str, datetime] = {}
        self.pauses: dict[str, list[tuple[datetime, datetime]]] = {}
        self.traces = {k: CounterTrace() for k in setup.counters}
        self.first_call: dict[str, datetime] = {}
        self.turnarounds: list[float] = []
        self.place = 0                                    # the event being read, counted from the day's first
        self.leases: list[tuple[str, str, int]] = []
        self.rules: list[tuple[datetime | None, int, CallingRules]] = []

    def read(self, event: e.Event) -> None:
        self.place += 1
        match event:
            case e.TicketIssued(ticket=t, at=at) if t.day == self.day:
                self.arrivals[t.id] = Arrival(t.id, t.number, t.service, t.priority, t.issued_at,
                                              t.slot if t.appointment else None,
                                              known_at=at if t.offline else None, source=t.source if t.offline else "",
                                              place=self.place)
                self.waiting[t.id], self.queued_at[t.id] = t.service, (at, self.place)
            case e.TicketCalled(ticket=t, counter=k, at=at):
                self.called(t.id, t.service, k, at)
            case e.TicketServed(ticket=t, counter=k, at=at):
                self.finish(k, t.id, at, "served", t.service)
            case e.TicketNoShow(ticket=t, counter=k, at=at):
                self.finish(k, t.id, at, "no_show", t.service)
            case e.TicketTransferred(ticket=t, counter=k, at=at):
                arrival = self.arrivals.get(t.id)
                self.finish(k, t.id, at, "transfer",
                            self.serving_service.get(t.id, arrival.service if arrival else t.service), to=t.service)
                self.waiting[t.id], self.queued_at[t.id] = t.service, (at, self.place)
            case e.RulesChanged(rules=rules, before=before, at=at):
                if not self.rules:
                    self.rules.append((None, 0, before))
                self.rules.append((at, self.place, rules))
            case e.TicketRouted(ticket=t, at=at):
                # a journey's next step (its ticket_served just read): it waits again, for that service
                self.waiting[t.id], self.queued_at[t.id] = t.service, (at, self.place)
            case e.TicketVoided(ticket=t, counter=k, at=at):
                if self.waiting.pop(t.id, None) is not None and t.id in self.arrivals:
                    self.arrivals[t.id].left_at = at
                elif k is not None:
                    self.finish(k, t.id, at, "served", t.service)
            case e.CounterSuspended(counter=k, at=at):
                if k not in self.serving:                 # idle while people waited, then a pause
                    self.idle_while_waiting(k, self.setup.counters[k].services, None, at)
                self.paused_at[k] = at
                if k in self.traces:
                    self.traces[k].stops.setdefault(at, []).append(self.place)
            case e.CounterResumed(counter=k, at=at):
                began = self.paused_at.pop(k, None)
                if began is not None and began < at:
                    self.pauses.setdefault(k, []).append((began, at))
                if began == at and k in self.traces and self.traces[k].stops.get(at):
                    # paused and back at one instant: its window goes on, nothing stopped it there
                    stops = self.traces[k].stops
                    stops[at].pop()
                    if not stops[at]:
                        del stops[at]
                if k in self.idle_since and k not in self.serving:
                    self.idle_since[k] = (at, self.place)     # back from the pause: idle from now
            case e.NumbersLeased(kiosk=kiosk, service=service, start=first, end=last, day=leased_day) \
                    if leased_day == self.day:
                self.leases.append((kiosk, service, last - first + 1))

    def idle_while_waiting(self, counter: str, services: Iterable[str], ticket: str | None, at: datetime,
                           after: timedelta = timedelta(0)) -> datetime | None:
        """A counter idle until ``at`` while someone it serves (or ``ticket``) waited was not
        calling: noted as its clerk away from then to ``at`` (+ ``after``). When that began."""
        if counter not in self.idle_since or counter in self.paused_at or counter not in self.traces:
            return None
        if ticket is not None:
            entries = [self.queued_at[ticket]] if ticket in self.queued_at else []
        else:
            wanted = set(services)
            entries = [self.queued_at[x] for x, s in self.waiting.items() if s in wanted and x in self.queued_at]
        if not entries:
            return None
        began, place = max(self.idle_since[counter], min(entries))
        if began < at + after:
            self.traces[counter].away.append((began, at + after, place))
        return began

    def called(self, ticket: str, service: str, counter: str, at: datetime) -> None:
        if counter in self.traces:
            away = self.traces[counter].away
            for index in self.tie_aways.pop(counter, ()):
                start, end, place = away[index]
                away[index] = (start, min(end, at), place)
        if counter in self.traces and counter not in self.serving:
            began = self.idle_while_waiting(counter, self.setup.counters[counter].services, None, at)
            if began is not None:
                gap = (at - self.last_end[counter]).total_seconds()
                if self.people_waited.get(counter):
                    if 0 <= gap <= GAP_BOUND_S:
                        self.turnarounds.append(gap)
                elif (reaction := (at - began).total_seconds()) <= GAP_BOUND_S:
                    self.traces[counter].reactions.append(reaction)
        # the other idle counters that serve it let this one take it: they did not call from when it
        # queued (or they fell idle) to a moment past this call (for the replay, they were away)
        for other in self.idle_since:
            if other != counter and other not in self.serving and other in self.traces \
                    and service in self.setup.counters[other].services:
                noted = len(self.traces[other].away)
                self.idle_while_waiting(other, (), ticket, at, TIE_S)
                if len(self.traces[other].away) > noted:
                    self.tie_aways.setdefault(other, []).append(noted)
        self.waiting.pop(ticket, None)
        self.called_at[ticket], self.serving[counter] = at, at
        self.serving_service[ticket] = service
        arrival = self.arrivals.get(ticket)
        if arrival is not None and arrival.first_called is None:
            arrival.first_called = at
        self.first_call.setdefault(counter, at)
        if counter in self.traces:
            self.traces[counter].calls.setdefault(at, []).append(self.place)

    def finish(self, counter: str, ticket: str, at: datetime, then: str, service: str, to: str = "") -> None:
        arrival = self.arrivals.get(ticket)
        began = self.called_at.pop(ticket, None)
        if arrival is not None and began is not None:
            arrival.visits.append(Visit(service, max(0.0, (at - began).total_seconds()), then, to))
        self.last_end[counter], self.idle_since[counter] = at, (at, self.place)
        self.serving.pop(counter, None)
        if counter in self.traces:
            self.traces[counter].finishes.setdefault(at, []).append(self.place)
            services = self.setup.counters[counter].services
            self.people_waited[counter] = any(s in services for s in self.waiting.values())

    def result(self) -> RecordedDay:
        for ticket, began in self.called_at.items():     # still at a counter when the record ends
            if ticket in self.arrivals:
                self.arrivals[ticket].visits.append(Visit(self.serving_service.get(ticket, ""), 0.0, "unfinished"))
        for k, trace in self.traces.items():
            if k not in self.first_call:
                continue
            end = max(self.last_end.get(k, self.first_call[k]), self.serving.get(k, self.first_call[k]))
            if k not in self.serving and end in trace.finishes:     # it stopped right after its last finish
                trace.stops.setdefault(end, []).append(trace.finishes[end][-1])
            cuts = self.pauses.get(k, []) + ([(self.paused_at[k], end)] if k in self.paused_at else [])
            trace.windows = _subtract([(self.first_call[k], end)], sorted(cuts), trace.calls)
        every = [r for t in self.traces.values() for r in t.reactions]
        hall_reaction = statistics.median(every) if every else 0.0
        for trace in self.traces.values():
            trace.reaction_s = statistics.median(trace.reactions) if trace.reactions else hall_reaction
        return RecordedDay(self.day, sorted(self.arrivals.values(), key=lambda a: a.at), self.traces,
                           statistics.median(self.turnarounds) if self.turnarounds else 0.0, hall_reaction,
                           self.leases, self.rules)


def _subtract(windows: list[tuple[datetime, datetime]], cuts: list[tuple[datetime, datetime]],
              keep: Iterable[datetime] = ()) -> list[tuple[datetime, datetime]]:
    """``windows`` less ``cuts``; an instant in ``keep`` where a cut begins or ends stays (a counter
    that called, then paused, at one instant, or came back and called, worked for that instant)."""
    kept = set(keep)
    out = []
    for start, end in windows:
        pieces = [(start, end)]
        for cut_start, cut_end in cuts:
            next_pieces = []
            for a, b in pieces:
                # an instant (a counter that worked for one) is cut by a cut that holds it
                if not (cut_start < b and a < cut_end) and not (a == b and cut_start <= a < cut_end):
                    next_pieces.append((a, b))
                    continue
                if a < cut_start or (a == cut_start and a in kept):
                    next_pieces.append((a, cut_start))
                if cut_end < b or (cut_end == b and b in kept):
                    next_pieces.append((cut_end, b))
            pieces = next_pieces
        out += pieces
    return out


# --- what may change --------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """A counter closed (``open`` False) or opened for the hours ``start``-``end`` of the day."""
    counter: str
    open: bool
    start: time
    end: time

    @classmethod
    def parse(cls, text: str, opening: bool, counters: Iterable[str]) -> Change:
        """``c3@13:30-15:00``; a clear error naming what is wrong."""
        counter, at, hours = text.partition("@")
        first, dash, last = hours.partition("-")
        try:
            start, end = time.fromisoformat(first), time.fromisoformat(last)
        except ValueError:
            raise ValueError(f"{text!r}: give COUNTER@HH:MM-HH:MM, e.g. c3@13:30-15:00") from None
        if not at or not dash or end <= start:
            raise ValueError(f"{text!r}: give COUNTER@HH:MM-HH:MM with the end after the start")
        if counter not in set(counters):
            raise ValueError(f"{text!r}: no counter {counter!r} in the configuration replayed")
        return cls(counter, opening, start, end)


def staffing(day: RecordedDay, setup: Setup, changes: Iterable[Change]) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each counter's working windows in the replay: the record's, with ``changes`` applied."""
    windows = {k: list(day.counters[k].windows) if k in day.counters else [] for k in setup.counters}
    base = day.arrivals[0].at if day.arrivals else None
    for change in changes:
        if base is None:
            break
        span = (datetime.combine(base.date(), change.start, base.tzinfo),
                datetime.combine(base.date(), change.end, base.tzinfo))
        if change.open:
            windows[change.counter] = _merge(windows[change.counter] + [span])
        else:
            windows[change.counter] = _subtract(windows[change.counter], [span])
    return windows


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# --- the play ---------------------------------------------------------------------------------
@dataclass
class Played:
    waits: dict[str, float]                # recorded ticket id -> its wait in the replay (called ones)
    unserved: int                          # still waiting when the last counter stopped
    gave_up: int                           # left before being called
    calls: list[tuple[datetime, str, str]] = field(default_factory=list)   # (when, counter, recorded ticket id)


# what happens first at one instant: what the record has there, in the record's order (an issue, a
# counter freed, a call); then the rest: arrivals, windows opening and customers leaving counters
# (a clerk's "next" finishes and calls at once), then the calls they allow; a window closes last
# (a call at its last instant is the record's)
_FIRST = {"rules": 0, "arrive": 0, "leave": 0, "open": 1, "free": 1, "try": 2, "close": 3}
_NOT_RECORDED = sys.maxsize


class _Play:
    """The day's discrete events (arrivals, counters freeing, windows opening and closing, calls
    tried) in time order, each applied to the state by the controller's rules."""

    def __init__(self, setup: Setup, day: RecordedDay, windows: dict[str, list[tuple[datetime, datetime]]],
                 recorded_rules: bool = True) -> None:
        # the record says when tickets were issued; the replay issues them then, whatever the hours say
        # the record's calls are played as recorded, those a counter made by itself included
        self.rules = QueueRules(dataclasses.replace(setup, hours=None, auto_call_s=0), estimates=False)
        self.day, self.windows = day, windows
        self.recorded_rules = recorded_rules
        self.heap: list[tuple[datetime, int, int, int, str, object]] = []
        self.order = itertools.count()
        self.working = {k: False for k in windows}
        self.serving: dict[str, Arrival | None] = {k: None for k in windows}
        self.visit: dict[str, Visit] = {}                  # counter -> the visit it is serving
        self.trace = {k: day.counters.get(k, CounterTrace(reaction_s=day.reaction_s)) for k in windows}
        self.by_replay_id: dict[str, Arrival] = {}
        self.replay_id: dict[str, str] = {}
        self.visits_done: dict[str, int] = {}
        self.waiting_to_try: set[str] = set()
        self.median_s = {s: statistics.median(d) for s, d in _durations(day).items()}
        self.result = Played({}, 0, 0)
        self.place_now = _NOT_RECORDED        # the record's place of the heap item being handled

    def push(self, at: datetime, kind: str, what: object) -> None:
        place = _NOT_RECORDED
        if kind == "arrive":
            place = what.place if isinstance(what, Arrival) else place
        elif kind == "rules":
            place = what[0]  # type: ignore[index]
        elif kind == "free":
            place = self._next_place(self.trace[str(what)].finishes.get(at, ()))
        elif kind in ("try", "open"):
            place = self._next_place(self.trace[str(what)].calls.get(at, ()))
        elif kind == "close":
            place = self._next_place(self.trace[str(what)].stops.get(at, ()))
        heapq.heappush(self.heap, (at, place, _FIRST[kind], next(self.order), kind, what))

    def _next_place(self, places: Iterable[int]) -> int:
        """Of a counter's recorded places at one instant, the first after what is being handled
        (the first of all while the play sets itself up)."""
        later = [p for p in places if self.place_now == _NOT_RECORDED or p > self.place_now]
        return min(later) if later else _NOT_RECORDED

    def run(self) -> Played:
        day = self.day
        start = min([day.arrivals[0].at] + [w[0][0] for w in self.windows.values() if w]) - timedelta(seconds=1)
        self.state, _ = self.rules.handle(self.rules.setup.initial_state(), c.Tick(), start)
        if self.recorded_rules:                     # the calling rules as they were, changed when they were
            for at, place, rules in day.rules:
                if at is None:
                    self._rules((place, rules), start)
                else:
                    self.push(at, "rules", (place, rules))
        for kiosk, service, size in day.leases:     # the same blocks, so offline numbers are the recorded ones
            self.apply(c.LeaseNumbers(service=service, size=size, by=kiosk), start)
        for arrival in day.arrivals:
            self.push(arrival.known_at or arrival.at, "arrive", arrival)
            if arrival.left_at is not None:
                self.push(arrival.left_at, "leave", arrival)
            if arrival.slot is not None:
                self.apply(c.BookAppointment(code=arrival.ticket, service=arrival.service, slot=arrival.slot,
                                             by=REPLAY), start)
        for counter, spans in self.windows.items():
            for began, ended in spans:
                self.push(began, "open", counter)
                self.push(ended, "close", counter)
        while self.heap:
            at, self.place_now, _, _, kind, what = heapq.heappop(self.heap)
            getattr(self, f"_{kind}")(what, at)
        self.result.unserved = sum(1 for t in self.state.tickets.values() if t.status == "waiting")
        return self.result

    def apply(self, command: c.Command, at: datetime) -> list[e.Event]:
        try:
            self.state, events = self.rules.handle(self.state, command, at)
        except RequestError:
            return []
        return events

    def wake(self, service: str, at: datetime) -> None:
        """Idle counters that serve ``service`` call: when the record says this clerk did (idle
        then too), else after their clerk's usual reaction."""
        for k in self.windows:
            if self.working[k] and self.serving[k] is None and k not in self.waiting_to_try \
                    and service in self.rules.setup.counters[k].services:
                self.waiting_to_try.add(k)
                back = self.trace[k].back_at(at, self.place_now)
                self.push(back if back > at else at + timedelta(seconds=self.trace[k].reaction_s), "try", k)

    def _rules(self, change: tuple[int, CallingRules], at: datetime) -> None:
        self.apply(c.SetRules(rules=msgspec.to_builtins(change[1]), by=REPLAY), at)

    def _arrive(self, arrival: Arrival, at: datetime) -> None:
        command: c.Command
        if arrival.slot is not None:
            command = c.CheckIn(code=arrival.ticket, by=REPLAY)
        elif arrival.known_at is not None:         # in the queue by its issue time, once the hall knows it
            command = c.PlaceOfflineTicket(number=arrival.number, service=arrival.service, issued_at=arrival.at,
                                           priority=arrival.priority, by=arrival.source)  # type: ignore[arg-type]
        else:
            command = c.IssueTicket(service=arrival.service, priority=arrival.priority, by=REPLAY)  # type: ignore[arg-type]
        events = self.apply(command, at)
        if not events and arrival.known_at is not None:   # its block not leased again: issued as it comes
            events = self.apply(c.IssueTicket(service=arrival.service, priority=arrival.priority,  # type: ignore[arg-type]
                                              by=REPLAY), at)
        issued = next((ev.ticket for ev in events if isinstance(ev, e.TicketIssued)), None)
        if issued is not None:
            self.by_replay_id[issued.id], self.replay_id[arrival.ticket] = arrival, issued.id
            self.wake(issued.service, at)

    def _leave(self, arrival: Arrival, at: datetime) -> None:
        tid = self.replay_id.get(arrival.ticket)
        if tid is not None and self.state.tickets[tid].status == "waiting":
            self.apply(c.VoidTicket(ticket_id=tid, reason="gave up", by=REPLAY), at)
            self.result.gave_up += 1

    def _open(self, counter: str, at: datetime) -> None:
        self.working[counter] = True
        self._try(counter, at)

    def _close(self, counter: str, at: datetime) -> None:
        self.working[counter] = False            # its customer, if any, is finished first

    def _try(self, counter: str, at: datetime) -> None:
        self.waiting_to_try.discard(counter)
        if not self.working[counter] or self.serving[counter] is not None:
            return
        back = self.trace[counter].back_at(at, self.place_now)
        if back > at:                             # its clerk was away then (as recorded)
            self.waiting_to_try.add(counter)
            self.push(back, "try", counter)
            return
        events = self.apply(c.CallNext(counter=counter, by=REPLAY), at)
        called = next((ev.ticket for ev in events if isinstance(ev, e.TicketCalled)), None)
        if called is None:
            return                                # nothing it serves waits: woken by the next arrival
        arrival = self.by_replay_id[called.id]
        if arrival.ticket not in self.result.waits:
            self.result.waits[arrival.ticket] = max(0.0, (at - arrival.at).total_seconds())
        self.result.calls.append((at, counter, arrival.ticket))
        done = self.visits_done.get(arrival.ticket, 0)
        self.visits_done[arrival.ticket] = done + 1
        visit = arrival.visits[done] if done < len(arrival.visits) else \
            Visit(called.service, self.median_s.get(called.service, 300.0), "served")
        self.serving[counter], self.visit[counter] = arrival, visit
        if visit.then != "unfinished":            # as recorded: still with its clerk when the day's record ends
            self.push(at + timedelta(seconds=visit.duration_s), "free", counter)

    def _free(self, counter: str, at: datetime) -> None:
        visit, arrival = self.visit.pop(counter), self.serving[counter]
        assert arrival is not None
        following = arrival.visits[self.visits_done[arrival.ticket]] \
            if self.visits_done[arrival.ticket] < len(arrival.visits) else None
        if visit.then == "no_show":
            outcome: c.Command = c.NoShow(counter=counter, by=REPLAY)
        elif visit.then == "transfer" and (visit.to or following is not None):
            # sent where the record sent it (a journey's ticket then goes on from there, not to its next step)
            outcome = c.Transfer(counter=counter, service=visit.to or following.service, by=REPLAY)  # type: ignore[union-attr]
        else:
            outcome = c.Finish(counter=counter, by=REPLAY)
        events = self.apply(outcome, at)
        self.serving[counter] = None
        for ev in events:
            if isinstance(ev, (e.TicketTransferred, e.TicketRouted)):
                self.wake(ev.ticket.service, at)
        if not self.working[counter]:
            return
        trace = self.trace[counter]
        if at in trace.finishes:          # a finish the record has: the next call (if any) as recorded
            self.waiting_to_try.add(counter)
            self.push(at, "try", counter)
        elif trace.back_at(at, self.place_now) > at or self.day.turnaround_s <= 0:
            self._try(counter, at)
        else:
            self.waiting_to_try.add(counter)
            self.push(at + timedelta(seconds=self.day.turnaround_s), "try", counter)


def play(setup: Setup, day: RecordedDay, windows: dict[str, list[tuple[datetime, datetime]]],
         recorded_rules: bool = True) -> Played:
    """The day again, event by event, through the controller's rules; with the calling rules as
    recorded (changed when they were), or ``recorded_rules`` False: ``setup``'s all day (a what-if)."""
    if not day.arrivals:
        return Played({}, 0, 0)
    return _Play(setup, day, windows, recorded_rules).run()


def _durations(day: RecordedDay) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for arrival in day.arrivals:
        for visit in arrival.visits:
            if visit.then == "served":
                out.setdefault(visit.service, []).append(visit.duration_s)
    return out


# --- figures ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WaitFigures:
    tickets: int
    median_s: float
    p90_s: float
    within_target: float        # share called within the hall's service-level wait


def wait_figures(waits: list[float], target_s: float) -> WaitFigures:
    if not waits:
        return WaitFigures(0, 0.0, 0.0, 0.0)
    return WaitFigures(len(waits), round(statistics.median(waits), 1), round(nearest_rank(waits, 0.9) or 0.0, 1),
                       round(sum(1 for w in waits if w <= target_s) / len(waits), 3))


@dataclass(frozen=True)
class Fidelity:
    """How closely the replay of the recorded staffing reproduces the recorded waits."""
    tickets: int
    median_abs_error_s: float
    share_of_median_wait: float     # median |error| / median recorded wait
    median_wait_error: float        # |replayed median − recorded median| / recorded median


def fidelity(day: RecordedDay, played: Played) -> Fidelity:
    pairs = [(a.wait_s, played.waits[a.ticket]) for a in day.arrivals
             if a.wait_s is not None and a.ticket in played.waits]
    if not pairs:
        return Fidelity(0, 0.0, 0.0, 0.0)
    recorded_median = statistics.median(r for r, _ in pairs)
    errors = [abs(r - p) for r, p in pairs]
    replayed_median = statistics.median(p for _, p in pairs)
    return Fidelity(len(pairs), round(statistics.median(errors), 1),
                    round(statistics.median(errors) / recorded_median, 3) if recorded_median else 0.0,
                    round(abs(replayed_median - recorded_median) / recorded_median, 3) if recorded_median else 0.0)
