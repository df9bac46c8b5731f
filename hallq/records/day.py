"""The controller's records of one business day, read back: one record per ticket, outages, and
how far the waits told at issue were from the waits that followed (read-only, while the
controller runs). :mod:`hallq.tools.report` turns them into the day's figures.
"""
from __future__ import annotations

import math
import sqlite3
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hallq.core import events as e
from hallq.core.model import Ticket


def nearest_rank(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- time frame ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeFrame:
    """How recorded times are shown. The identity for a real hall; a day recorded on a compressed
    wall clock is mapped back onto the simulated one (shown = origin_shown + (real - origin_real) x
    speed). ``clock_speed``: the day was recorded on a simulated clock already (``hallq demo`` runs
    every process on it), that many times faster than real time: times are shown as recorded."""
    origin_real: datetime | None = None
    origin_shown: datetime | None = None
    speed: float = 1.0
    clock_speed: float = 1.0

    def at(self, moment: datetime) -> datetime:
        if self.origin_real is None or self.origin_shown is None:
            return moment
        return self.origin_shown + (moment - self.origin_real) * self.speed

    def seconds(self, real_s: float) -> float:
        return real_s * self.speed

    @property
    def simulated(self) -> bool:
        return (self.origin_real is not None and self.speed != 1.0) or self.clock_speed != 1.0

    @property
    def shown_speed(self) -> float:
        return self.clock_speed if self.clock_speed != 1.0 else self.speed


# --- how good the estimates were ------------------------------------------------------------------
LONG_WAIT_S = 300.0     # the waits people plan around (a sub-minute wait is "now", whatever was told)


@dataclass(frozen=True)
class EstimateError:
    """|estimated − actual| wait of the tickets issued online once the first hour had passed and
    then called (the first hour: the controller has measured no service time yet)."""
    tickets: int
    median_abs_s: float
    p90_abs_s: float
    median_actual_s: float
    share_of_wait: float          # median |error| / median actual wait
    median_signed_s: float        # > 0: waits were longer than told
    long_waits: int = 0           # tickets that waited 5 minutes or more ...
    long_relative: float = 0.0    # ... and their median |error| / actual wait
    not_known: int = 0            # tickets told "not known yet" (nobody was calling their service), all day


def estimate_error(records: DayRecords, frame: TimeFrame = TimeFrame(), warm_up_s: float = 3600) -> EstimateError | None:
    told = [r for r in records.tickets.values() if r.estimated_s is not None and r.wait_s is not None]
    not_known = sum(1 for r in records.tickets.values() if r.estimate_unknown)
    if not told and not not_known:
        return None
    first = min(r.ticket.issued_at for r in records.tickets.values())
    pairs = [(frame.seconds(r.wait_s), float(r.estimated_s)) for r in told  # type: ignore[arg-type]
             if (r.ticket.issued_at - first).total_seconds() >= frame_real(frame, warm_up_s)]
    if not pairs:
        return EstimateError(0, 0.0, 0.0, 0.0, 0.0, 0.0, not_known=not_known) if not_known else None
    errors = [abs(actual - est) for actual, est in pairs]
    actual_median = statistics.median(a for a, _ in pairs)
    median_abs = statistics.median(errors)
    long = [abs(a - est) / a for a, est in pairs if a >= LONG_WAIT_S]
    return EstimateError(len(pairs), round(median_abs, 1), round(nearest_rank(errors, 0.9) or 0.0, 1),
                         round(actual_median, 1), round(median_abs / actual_median, 3) if actual_median else 0.0,
                         round(statistics.median(a - est for a, est in pairs), 1),
                         len(long), round(statistics.median(long), 3) if long else 0.0, not_known)


def frame_real(frame: TimeFrame, shown_s: float) -> float:
    """Shown seconds back to recorded ones (a compressed recording is ``speed`` times shorter)."""
    return shown_s / frame.speed if frame.origin_real is not None else shown_s


# --- the day's tickets ---------------------------------------------------------------------------
@dataclass
class StepVisit:
    """One step of a journey's ticket: the service, when it began waiting for it, its first call there."""
    service: str
    queued_at: datetime
    called_at: datetime | None = None
    served: bool = False
    counter: str | None = None           # where it was served (or called last)
    clerk: str | None = None
    service_s: float | None = None
    rating: int | None = None

    @property
    def wait_s(self) -> float | None:
        return None if self.called_at is None else max(0.0, (self.called_at - self.queued_at).total_seconds())


@dataclass
class TicketRecord:
    ticket: Ticket                       # the last recorded form of it
    issued_service: str                  # the service it was issued for (before any transfer)
    first_called: datetime | None = None
    first_counter: str | None = None
    service_s: float | None = None       # call to finish, as the controller measured it
    estimated_s: int | None = None       # the wait the controller told the customer at issue (online)
    estimate_unknown: bool = False       # told "not known yet" at issue: nobody was calling its service
    out_of_order: bool = False           # called by number ahead of its turn (contract v1.1 ``call``)
    steps: list[StepVisit] = field(default_factory=list)   # a journey's steps reached so far
    route: tuple[str, ...] = ()

    @property
    def wait_s(self) -> float | None:
        if self.first_called is None:
            return None
        return max(0.0, (self.first_called - self.ticket.issued_at).total_seconds())


@dataclass
class DayRecords:
    day: str
    tickets: dict[str, TicketRecord] = field(default_factory=dict)
    outages: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    events: int = 0
    booked: dict[str, str] = field(default_factory=dict)          # appointment code -> service
    checked_in: dict[str, bool] = field(default_factory=dict)     # code -> on time
    rule_changes: list[e.RulesChanged] = field(default_factory=list)   # calling rules changed during the day


def open_read_only(db_path: Path) -> sqlite3.Connection:
    if not db_path.exists():
        raise FileNotFoundError(f"no controller records at {db_path} (give --data, the controller's folder)")
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def load_day(db_path: Path, day: str) -> DayRecords:
    """Every ticket event of ``day`` folded into one record per ticket."""
    db = open_read_only(db_path)
    try:
        rows = db.execute("SELECT body FROM events WHERE day = ? ORDER BY seq", (day,)).fetchall()
    finally:
        db.close()
    records = DayRecords(day)
    outage_start: datetime | None = None
    for (body,) in rows:
        event = e.decode_event(body)
        records.events += 1
        if isinstance(event, e.OutageStarted):
            outage_start = outage_start or event.at
            continue
        if isinstance(event, e.OutageEnded):
            if outage_start is not None:
                records.outages.append((outage_start, event.at))
            outage_start = None
            continue
        if isinstance(event, e.AppointmentBooked):
            records.booked[event.appointment.code] = event.appointment.service
            continue
        if isinstance(event, e.AppointmentCancelled):
            records.booked.pop(event.code, None)
            continue
        if isinstance(event, e.AppointmentCheckedIn):
            records.checked_in[event.code] = bool(event.on_time)
            continue
        if isinstance(event, e.RulesChanged):
            records.rule_changes.append(event)
            continue
        ticket = getattr(event, "ticket", None)
        if not isinstance(ticket, Ticket):
            continue
        if ticket.day != day:            # carried over from an earlier day: that day's report has it
            continue
        rec = records.tickets.get(ticket.id)
        if rec is None:
            rec = records.tickets[ticket.id] = TicketRecord(ticket, ticket.transferred_from or ticket.service)
        rec.ticket = ticket
        if isinstance(event, e.TicketIssued) and ticket.route:
            rec.route, rec.steps = ticket.route, [StepVisit(ticket.service, ticket.issued_at)]
        elif isinstance(event, e.TicketRouted) and rec.steps:
            rec.steps.append(StepVisit(ticket.service, event.at))
        if isinstance(event, e.TicketCalled) and rec.steps:
            step = rec.steps[-1]
            step.called_at = step.called_at or event.at
            step.counter, step.clerk = event.counter, ticket.clerk
        elif isinstance(event, e.TicketServed) and rec.steps:
            step = rec.steps[-1]
            step.served, step.service_s, step.counter, step.clerk = True, event.service_s, event.counter, ticket.clerk
        elif isinstance(event, e.TicketTransferred) and rec.steps:
            rec.steps[-1].service = ticket.service       # this step goes on at the other service
            rec.route = ticket.route                     # sent ahead to a later step: that step is not visited twice
        elif isinstance(event, e.TicketRated) and rec.steps:
            # the rating pad rates what its counter served last: that step (a journey's ticket may be waiting for
            # the next); events recorded before they named the step are matched by the counter
            if event.step is not None:
                rated = rec.steps[event.step] if event.step < len(rec.steps) else None
            else:
                rated = next((s for s in reversed(rec.steps) if s.served and s.counter == event.counter), None)
            if rated is not None:
                rated.rating = event.rating
        if isinstance(event, e.TicketIssued) and not ticket.offline:
            if not ticket.est_known:
                rec.estimate_unknown = True          # no minutes were promised: nothing to be off by
            elif ticket.est_wait_s is not None:
                rec.estimated_s = ticket.est_wait_s
        if isinstance(event, e.TicketCalled) and rec.first_called is None:
            rec.first_called, rec.first_counter = event.at, event.counter
            rec.out_of_order = bool(getattr(event, "out_of_order", False))
        elif isinstance(event, e.TicketServed):
            rec.service_s = event.service_s
    if outage_start is not None:
        records.outages.append((outage_start, None))
    return records


