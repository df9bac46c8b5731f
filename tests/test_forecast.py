"""Staffing forecast (``hallq report --forecast``): Erlang C, the arrival profile from the records,
and the forecast counters checked against a simulated hall with a known arrival process."""
from __future__ import annotations

import dataclasses
import heapq
import math
import random
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hallq.core import commands as c
from hallq.core.rules import QueueRules
from hallq.core.setup import ServiceSetup
from hallq.records.staffing import counters_needed, erlang_c, forecast, profile, service_level
from hallq.runtime.config import load_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL, REPO

TZ = ZoneInfo("Asia/Shanghai")
BASE = setup_from_config(load_config(EXAMPLE_HALL))


def erlang_c_by_the_book(n: int, a: float) -> float:
    """The textbook sum with factorials, to check the recursion against."""
    top = a ** n / math.factorial(n) * n / (n - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(n)) + top)


def test_erlang_c_is_the_textbook_formula_and_the_search_is_the_fewest_counters():
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-4)          # the tables' 10 erlangs, 11 agents
    for n in range(1, 40):
        for a in (0.5, 3.3, 12.0, 25.0):
            if n > a:
                assert erlang_c(n, a) == pytest.approx(erlang_c_by_the_book(n, a), rel=1e-9)
    assert erlang_c(5, 5.0) == 1.0 and service_level(5, 5.0, 300, 900) == 0.0
    assert counters_needed(0, 300, 900, 0.8) == 0
    # 40 arrivals a quarter, 5 min each: 13.3 erlangs; the fewest counters that reach 80% within 3 min
    needed = counters_needed(40, 300, 180, 0.8)
    assert service_level(needed, 40 / 900 * 300, 300, 180) >= 0.8 > service_level(needed - 1, 40 / 900 * 300, 300, 180)
    assert counters_needed(60, 300, 180, 0.8) > needed


RATES = {time(9, 0): 30, time(9, 15): 40, time(9, 30): 50, time(9, 45): 50, time(10, 0): 40, time(10, 15): 30,
         time(10, 30): 20, time(10, 45): 20}                # the known process: Poisson arrivals a quarter
SERVICE_S = 300.0
TARGET_S, SHARE = 180, 0.8


def arrivals(day: date, rng: random.Random) -> list[datetime]:
    out = []
    for start, per_quarter in RATES.items():
        at = datetime.combine(day, start, TZ)
        end = at + timedelta(minutes=15)
        while True:
            at += timedelta(seconds=rng.expovariate(per_quarter / 900))
            if at >= end:
                break
            out.append(at)
    return out


def test_forecast_counters_meet_the_service_level_in_nine_quarters_of_ten():
    """20 recorded Mondays (tickets issued through the core's rules) make the profile; 20 more
    simulated Mondays (first come first served, exponential service) staffed as forecast give the
    share called within the target per quarter: it must reach the target share in >= 90% of them."""
    setup = dataclasses.replace(BASE, services={"pay": ServiceSetup("pay", "A", SERVICE_S)}, kiosks={"k1": ("pay",)},
                                counters={}, hours=None)
    rules = QueueRules(setup, estimates=False)
    rng = random.Random(20261205)
    mondays = [date(2026, 9, 7) + timedelta(weeks=w) for w in range(20)]
    recorded = {}
    for day in mondays:
        state = rules.handle(setup.initial_state(), c.Tick(), datetime.combine(day, time(8, 59), TZ))[0]
        events = []
        for at in arrivals(day, rng):
            state, new = rules.handle(state, c.IssueTicket(service="pay", by="kiosk.k1"), at)
            events += new
        recorded[day.isoformat()] = events
    known = profile(setup, recorded)
    assert known.days == {0: 20} and known.service_s["pay"] == SERVICE_S
    assert sum(known.arrivals.values()) == pytest.approx(sum(RATES.values()), rel=0.08)
    rows = forecast(setup, known, date(2026, 11, 30), 7, TARGET_S, SHARE)
    assert {r.day for r in rows} == {date(2026, 11, 30)}        # only Mondays were recorded
    staff = {r.start: r.counters for r in rows}
    assert set(staff) == set(RATES) and staff[time(9, 30)] > staff[time(10, 45)]

    met = quarters = 0
    for week in range(20):
        day = date(2026, 12, 7) + timedelta(weeks=week)
        free: list[datetime] = []                       # when each working counter is next free
        working = 0
        called: dict[time, list[float]] = {q: [] for q in RATES}
        for at in arrivals(day, rng):
            quarter = time(at.hour, at.minute - at.minute % 15)
            while working < staff[quarter]:             # counters added as the quarter asks
                heapq.heappush(free, datetime.combine(day, quarter, TZ))
                working += 1
            start = max(at, heapq.heappop(free))
            heapq.heappush(free, start + timedelta(seconds=rng.expovariate(1 / SERVICE_S)))
            called[quarter].append((start - at).total_seconds())
            # counters beyond the quarter's number leave as they come free
            while working > staff[quarter] and len(free) > 1:
                heapq.heappop(free)
                working -= 1
        for waits in called.values():
            quarters += 1
            met += sum(w <= TARGET_S for w in waits) / len(waits) >= SHARE
    assert met / quarters >= 0.9, f"{met} of {quarters} quarters met the service level"


def test_hallq_report_forecast_in_chinese(tmp_path):
    from hallq.controller.main import open_controller
    from hallq.runtime.mqttlink import Inbound
    from hallq.testing import RecordingLink, write_hall_config
    import json
    hall = write_hall_config(tmp_path / "hall.toml", 9, None)
    config = load_config(hall)
    clock = [datetime(2026, 3, 2, 9, 0, tzinfo=TZ)]
    ctl = open_controller(config, tmp_path / "data", link_factory=RecordingLink, clock=lambda: clock[0])
    n = 0
    for day in (2, 9):                                  # two Mondays
        for minute in range(0, 60, 3):
            clock[0] = datetime(2026, 3, day, 9, minute, tzinfo=TZ)
            n += 1
            payload = json.dumps({"op": "issue", "request_id": f"r{n}", "service": "pay"}).encode()
            ctl.apply_batch([Inbound(ctl.topics.request("kiosk.k1"), payload, False)])
    ctl.store.close()
    run = subprocess.run([sys.executable, "-m", "hallq", "report", "--forecast", "--config", str(hall), "--data",
                          str(tmp_path / "data")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "按2个已记录营业日" in run.stdout and "星期一" in run.stdout
    assert "09:00 | 缴费" in run.stdout and "预计5人" in run.stdout, run.stdout
    empty = subprocess.run([sys.executable, "-m", "hallq", "report", "--forecast", "--config", str(hall), "--data",
                            str(tmp_path / "nowhere")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and "no controller records" in empty.stderr
