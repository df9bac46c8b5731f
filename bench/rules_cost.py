"""What the calling rules cost an issue: the estimate printed on a ticket under a priority share or
ageing is a whole play of the queue (hallq/core/forecast.py ``_Play``) instead of the walk-in
shortcut. A 24-counter hall of three services with 50, 200 and 1,000 tickets waiting (a fifth of
them priority); issues timed through ``QueueRules.handle`` with the default rules and with
``priority_per_normal = 2`` and ``ageing_s = 1200``.

    .venv/bin/python bench/rules_cost.py
"""
from __future__ import annotations

import random
import statistics
import time
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from harness import write_result

from hallq.core import commands as c  # noqa: E402
from hallq.core.rules import QueueRules  # noqa: E402
from hallq.core.setup import CounterSetup, ServiceSetup, Setup  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
SERVICES = ("pay", "biz", "new")
START = datetime(2026, 12, 7, 9, 0, tzinfo=TZ)


def hall() -> Setup:
    services = {s: ServiceSetup(s, p, 180.0) for s, p in zip(SERVICES, "ABC")}
    counters = {f"c{i}": CounterSetup(f"c{i}", tuple(SERVICES[j % 3] for j in range(i, i + 2)), "oldest")
                for i in range(1, 25)}
    return Setup(tz=TZ, hours=None, services=services, counters=counters, kiosks={"k1": SERVICES},
                 kiosk_day_share=1.0, idle_alert_s=86400)


def per_issue_ms(setup: Setup, waiting: int, timed: int = 40) -> float:
    rules = QueueRules(setup)
    rng = random.Random(waiting)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    now = START
    for _ in range(waiting):
        now += timedelta(seconds=2)
        state = rules.handle(state, c.IssueTicket(service=rng.choice(SERVICES), by="kiosk.k1",
                                                   priority="priority" if rng.random() < 0.2 else "normal"), now)[0]
    times = []
    for _ in range(timed):                          # walk-ins, each at its own moment (no batch to share)
        now += timedelta(seconds=2)
        begin = time.perf_counter()
        state = rules.handle(state, c.IssueTicket(service=rng.choice(SERVICES), by="kiosk.k1"), now)[0]
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times)


def main() -> None:
    base = hall()
    ruled = replace(base, priority_per_normal=2, ageing_s=1200)
    rows, data = [], {}
    for waiting in (50, 200, 1000):
        plain, with_rules = per_issue_ms(base, waiting), per_issue_ms(ruled, waiting)
        data[waiting] = {"default_ms": round(plain, 2), "rules_ms": round(with_rules, 2)}
        rows.append((f"issue with {waiting} waiting, median: default rules / share 2 + ageing 20 min",
                     f"{plain:.2f} / {with_rules:.2f} ms", "< 50 ms (a printer takes ~2 s)"))
    write_result("rules_cost", rows, data)


if __name__ == "__main__":
    main()
