"""How fast does ``hallq replay`` play a hall's history? A month of a 4,000-visitor hall.

Each day is first recorded through the controller's own rules (``hallq.core.rules``): 4,000
customers over eight hours for three services (a morning and an afternoon peak), 24 counters that
each serve two or three of them, service times drawn from a lognormal around 3 minutes, clerks who
take 5-30 s to call when idle and pause for lunch in turns. Then the day is read back
(``read_day``) and replayed as staffed, and once more with four counters closed for an hour and a
half. Measured: events replayed per second, seconds per day, and the month (30 days) in total;
the replay's honesty (recorded waits reproduced) on every day.

    .venv/bin/python bench/replay.py [--days 30] [--visitors 4000]
"""
from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from harness import write_result

from hallq.core import commands as c  # noqa: E402
from hallq.core.rules import QueueRules  # noqa: E402
from hallq.core.setup import CounterSetup, ServiceSetup, Setup  # noqa: E402
from hallq.errors import RequestError  # noqa: E402
from hallq.records.replay import Change, fidelity, play, read_day, staffing  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
SERVICES = ("pay", "biz", "new")
COUNTERS = 24


def big_hall() -> Setup:
    services = {s: ServiceSetup(id=s, prefix=p, est_service_s=180) for s, p in zip(SERVICES, "ABC")}
    counters = {f"c{k}": CounterSetup(id=f"c{k}", services=(SERVICES[k % 3], SERVICES[(k + 1) % 3]) +
                                      ((SERVICES[(k + 2) % 3],) if k % 4 == 0 else ()), call_order="oldest_first")
                for k in range(1, COUNTERS + 1)}
    return Setup(tz=TZ, hours=None, services=services, counters=counters, kiosks={"k1": SERVICES},
                 kiosk_day_share=1.0)


def record_day(setup: Setup, day: datetime, visitors: int, rng: random.Random) -> list:
    """One day through the rules: customers arrive, idle clerks call after a moment, busy ones
    press "next" when done, lunch breaks in turns."""
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), day)[0]
    events: list = []
    heap: list = []
    order = itertools.count()
    seconds = 8 * 3600

    def push(at: float, what: tuple) -> None:
        heapq.heappush(heap, (at, next(order), what))

    for _ in range(visitors):      # two peaks: 10:00 and 14:30
        peak = 3600 if rng.random() < 0.55 else 5.5 * 3600
        push(min(seconds - 60, max(0.0, rng.gauss(peak, 5400))), ("arrive", rng.choice(SERVICES)))
    for k in setup.counters:
        push(rng.uniform(0, 120), ("try", k))
        lunch = 3 * 3600 + (int(k[1:]) % 3) * 1800
        push(lunch, ("pause", k))
        push(lunch + 1800, ("back", k))
    busy: set[str] = set()
    paused: set[str] = set()
    idle: set[str] = set()

    def apply(command: c.Command, at: float) -> list:
        nonlocal state
        try:
            state, new = rules.handle(state, command, day + timedelta(seconds=at))
        except RequestError:
            return []
        events.extend(new)
        return new

    while heap:
        at, _, (kind, what) = heapq.heappop(heap)
        if kind == "arrive":
            apply(c.IssueTicket(service=what, by="kiosk.k1"), at)
            for k in list(idle):
                if what in setup.counters[k].services:
                    idle.discard(k)
                    push(at + rng.uniform(5, 30), ("try", k))
        elif kind == "try" and what not in busy and what not in paused:
            if apply(c.CallNext(counter=what), at):
                busy.add(what)
                push(at + rng.lognormvariate(math.log(150), 0.5), ("done", what))
            else:
                idle.add(what)
        elif kind == "done":
            busy.discard(what)
            if what in paused:
                apply(c.Finish(counter=what), at)
            elif apply(c.CallNext(counter=what), at):       # "next": finish and call at once
                busy.add(what)
                push(at + rng.lognormvariate(math.log(150), 0.5), ("done", what))
            else:
                idle.add(what)
        elif kind == "pause":
            paused.add(what)
            idle.discard(what)
            apply(c.SuspendCounter(counter=what), at)
        elif kind == "back":
            paused.discard(what)
            apply(c.ResumeCounter(counter=what), at)
            push(at, ("try", what))
    return events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--visitors", type=int, default=4000)
    opts = parser.parse_args()
    setup = big_hall()
    rng = random.Random(20261204)
    first = datetime(2026, 11, 2, 9, 0, tzinfo=TZ)
    recorded_s = replay_s = changed_s = 0.0
    events_total = tickets = exact = 0
    worst_share = 0.0
    afternoon: dict[str, list[float]] = {"staffed": [], "closed": []}   # waits of those arriving 13:00-16:00
    for i in range(opts.days):
        day = first + timedelta(days=i)
        started = time.perf_counter()
        events = record_day(setup, day, opts.visitors, rng)
        recorded_s += time.perf_counter() - started
        started = time.perf_counter()
        recorded = read_day(setup, day.date().isoformat(), events)
        played = play(setup, recorded, staffing(recorded, setup, []))
        replay_s += time.perf_counter() - started
        started = time.perf_counter()
        closed = [Change(f"c{k}", False, clock(13, 30), clock(15, 0)) for k in (1, 2, 3, 4)]
        fewer = play(setup, recorded, staffing(recorded, setup, closed))
        changed_s += time.perf_counter() - started
        honesty = fidelity(recorded, played)
        events_total += len(events)
        tickets += len(recorded.arrivals)
        exact += sum(1 for a in recorded.arrivals if a.wait_s is not None and played.waits.get(a.ticket) == a.wait_s)
        worst_share = max(worst_share, honesty.median_wait_error)
        for a in recorded.arrivals:
            if clock(13, 0) <= a.at.time() < clock(16, 0):
                for name, run in (("staffed", played), ("closed", fewer)):
                    if run.waits.get(a.ticket) is not None:
                        afternoon[name].append(run.waits[a.ticket])
        print(f"day {i + 1}: {len(events)} events, replay {replay_s / (i + 1):.2f} s/day", file=sys.stderr)
    rows = [
        ("history", f"{opts.days} days × {opts.visitors:,} visitors, 3 services, {COUNTERS} counters "
                    f"({events_total:,} events, {tickets:,} tickets)", ""),
        ("recording the days through the rules (the bench's own work)", f"{recorded_s:.1f} s", ""),
        ("replay as staffed (read + play), the whole history", f"{replay_s:.1f} s", "< 60 s"),
        ("replay as staffed: events per second", f"{events_total / replay_s:,.0f}", ""),
        ("replay with 4 counters closed 13:30-15:00, the whole history", f"{changed_s:.1f} s", "< 60 s"),
        ("what it shows: mean wait of those arriving 13:00-16:00, as staffed → with 4 counters closed",
         " → ".join(f"{statistics.fmean(afternoon[k]) / 60:.1f} min" if afternoon[k] else "—"
                    for k in ("staffed", "closed")), ""),
        ("tickets given exactly their recorded wait by the replay as staffed",
         f"{exact:,} of {tickets:,}", "all"),
        ("worst day: typical (median) wait replayed vs recorded", f"{worst_share * 100:.1f}%", "< 5%"),
    ]
    write_result("replay", rows, {"days": opts.days, "visitors": opts.visitors, "replay_s": replay_s,
                                  "changed_s": changed_s, "events": events_total, "tickets": tickets, "exact": exact})
    return 0


if __name__ == "__main__":
    sys.exit(main())
