"""Staffing forecast: the counters each quarter hour needs to meet the hall's service level.

From the records: arrivals per 15 minutes per service and weekday (the mean over the recorded
days of that weekday, days without arrivals in a quarter counted as zero) and each service's
mean time at a counter. Then Erlang C (M/M/n: arrivals at random, exponential service times,
first come first served): the fewest counters for which the share of customers called within
the hall's target wait ([hall] service_level_wait_s) reaches its target share
([hall] service_level_share), for a quarter one standard deviation busier than the mean (random
arrivals vary by the square root of their number: sized for the mean, half the quarters miss).

What the model leaves out, so read the figures as a floor: counters shared between services
(each service is sized on its own), clerks' pauses and turnarounds (add them on top), customers
who give up, and a queue left over from the quarter before.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from hallq.core import events as e
from hallq.core.setup import ServiceSetup, Setup

from .day import open_read_only
from .replay import load_days

SLOT_S = 900                      # a quarter of an hour
MAX_COUNTERS = 500                # beyond any hall: the search stops here


def erlang_c(servers: int, load: float) -> float:
    """The chance an arrival waits, with ``load`` erlangs (arrivals per second × mean service
    seconds) offered to ``servers``; 1 when they cannot keep up. Erlang B by its recursion
    (no factorials, stable for hundreds of servers), then C from B."""
    if load <= 0:
        return 0.0
    if servers <= load:
        return 1.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking / (1 - (load / servers) * (1 - blocking))


def service_level(servers: int, load: float, service_s: float, target_s: float) -> float:
    """The share of customers called within ``target_s`` (M/M/n, first come first served)."""
    if load <= 0:
        return 1.0
    if servers <= load:
        return 0.0
    return 1 - erlang_c(servers, load) * math.exp(-(servers - load) * target_s / service_s)


def counters_needed(arrivals: float, service_s: float, target_s: float, share: float,
                    slot_s: float = SLOT_S) -> int:
    """The fewest counters for which ``share`` of ``arrivals`` in a slot are called within ``target_s``."""
    if arrivals <= 0:
        return 0
    load = arrivals / slot_s * service_s
    servers = max(1, math.floor(load) + 1)
    while service_level(servers, load, service_s, target_s) < share and servers < MAX_COUNTERS:
        servers += 1
    return servers


@dataclass(frozen=True)
class Profile:
    """What the records say: mean arrivals per (weekday 0-6, service, quarter's start) and each
    service's mean time at a counter; ``days`` recorded per weekday."""
    arrivals: Mapping[tuple[int, str, time], float]
    service_s: Mapping[str, float]
    days: Mapping[int, int]


def profile(setup: Setup, days: Mapping[str, Iterable[e.Event]]) -> Profile:
    """The arrival profile and service times of the recorded ``days`` (day -> its events)."""
    counts: dict[tuple[int, str, time], int] = defaultdict(int)
    served: dict[str, list[float]] = defaultdict(list)
    per_weekday: dict[int, int] = defaultdict(int)
    for day, events in days.items():
        weekday = date.fromisoformat(day).weekday()
        per_weekday[weekday] += 1
        for event in events:
            if isinstance(event, e.TicketIssued) and event.ticket.day == day and not event.ticket.transferred_from:
                counts[(weekday, event.ticket.service, quarter_of(event.ticket.issued_at, setup.tz))] += 1
            elif isinstance(event, e.TicketRouted) and event.ticket.day == day:
                # a journey's next step loads that service's counters as a new arrival would
                counts[(weekday, event.ticket.service, quarter_of(event.at, setup.tz))] += 1
            elif isinstance(event, e.TicketServed) and 0 < event.service_s <= 3600:
                served[event.ticket.service].append(event.service_s)
    arrivals = {key: n / per_weekday[key[0]] for key, n in counts.items()}
    service_s = {s: (sum(served[s]) / len(served[s]) if served.get(s) else svc.est_service_s)
                 for s, svc in setup.services.items()}
    return Profile(arrivals, service_s, dict(per_weekday))


@dataclass(frozen=True)
class ForecastRow:
    day: date
    start: time
    service: str
    arrivals: float               # expected in the quarter
    counters: int                 # needed for the service level


def forecast(setup: Setup, recorded: Profile, first: date, days: int, target_s: float, share: float) -> list[ForecastRow]:
    """The counters each quarter of ``days`` days from ``first`` needs, per service; weekdays the
    records do not hold (a hall closed on Sundays) have no rows."""
    rows = []
    quarters = sorted({q for (_, _, q) in recorded.arrivals})
    for offset in range(days):
        day = first + timedelta(days=offset)
        weekday = day.weekday()
        if not recorded.days.get(weekday):
            continue
        for quarter in quarters:
            for service in setup.services:
                expected = recorded.arrivals.get((weekday, service, quarter), 0.0)
                if expected <= 0:
                    continue
                # staffed for a busier quarter than the average one: arrivals at random in a quarter
                # vary by about their square root, and a quarter staffed for its mean misses half the time
                planned = expected + math.sqrt(expected)
                rows.append(ForecastRow(day, quarter, service, expected,
                                        counters_needed(planned, recorded.service_s[service], target_s, share)))
    return rows


def quarter_of(moment: datetime, tz: tzinfo) -> time:
    """The start of the quarter hour ``moment`` falls in, on the hall's clock."""
    local = moment.astimezone(tz)
    return time(local.hour, local.minute - local.minute % 15)


WEEKS_READ = 8          # the recorded days the profile is made of: the last eight weeks


def recorded_days(db_path: Path, before: str, limit: int = WEEKS_READ * 7) -> list[str]:
    """The business days with events before ``before`` (today's is not over yet), newest first."""
    db = open_read_only(db_path)
    try:
        rows = db.execute("SELECT DISTINCT day FROM events WHERE day < ? ORDER BY day DESC LIMIT ?",
                          (before, limit)).fetchall()
    finally:
        db.close()
    return [day for (day,) in rows if day]


def forecast_from_records(setup: Setup, db_path: Path, today: date, target_s: float,
                          share: float) -> tuple[list[ForecastRow], int]:
    """The next 7 days' counters from the records in ``db_path`` (a controller's database or a copy
    of its events), and how many recorded days they come from (0: none yet, no rows)."""
    days = recorded_days(db_path, today.isoformat())
    if not days:
        return [], 0
    return forecast(setup, profile(setup, load_days(db_path, days)), today + timedelta(days=1), 7, target_s, share), len(days)


def setup_from_events(days: Mapping[str, Iterable[e.Event]], est_service_s: float = 300.0) -> Setup | None:
    """What a forecast needs of a hall known only by its events (head office keeps no hall files):
    its services (those tickets were issued for, or went on to) and its time zone (the offset its
    tickets' times carry). None: no ticket in them."""
    services: set[str] = set()
    zone: tzinfo | None = None
    for events in days.values():
        for event in events:
            ticket = getattr(event, "ticket", None)
            if isinstance(event, (e.TicketIssued, e.TicketRouted)) and ticket is not None:
                services.add(ticket.service)
                zone = zone or ticket.issued_at.tzinfo
    if not services or zone is None:
        return None
    return Setup(tz=zone, hours=None, services={s: ServiceSetup(s, "", est_service_s) for s in sorted(services)},  # type: ignore[arg-type]
                 counters={}, kiosks={})
