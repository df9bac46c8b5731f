"""``hallq replay``: a recorded day played again through the controller's rules.

Days are recorded by the pure core (hypothesis drives clerks and customers at random) or by the
real controller; a replay of the day as it was staffed must give every ticket its recorded wait,
and a replay with a counter closed must keep the hall's invariants and cost what it costs.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hallq.controller.main import open_controller
from hallq.core import commands as c
from hallq.core.rules import QueueRules
from hallq.records.replay import Change, fidelity, play, read_day, staffing
from hallq.runtime.config import load_config
from hallq.runtime.mqttlink import Inbound
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL, REPO, RecordingLink, play_commands, write_hall_config

CONFIG = load_config(EXAMPLE_HALL)
SETUP = setup_from_config(CONFIG)
RULES = QueueRules(SETUP)
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
DAY = START.date().isoformat()
COUNTERS = st.sampled_from(["c1", "c2", "c3", "c4"])

# what clerks and customers do that the replay models (calls by number, reinstated no-shows and
# terminals going offline are what a record cannot replay: the module says so)
actions = st.one_of(
    st.builds(c.IssueTicket, service=st.sampled_from(["pay", "biz"]), priority=st.sampled_from(["normal", "priority"])),
    st.builds(c.IssueTicket, service=st.sampled_from(["pay", "biz"])),
    st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.Finish, counter=COUNTERS),
    st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.Transfer, counter=COUNTERS, service=st.sampled_from(["pay", "biz"])),
    st.builds(c.SuspendCounter, counter=COUNTERS),
    st.builds(c.ResumeCounter, counter=COUNTERS),
)


def record(steps) -> list:
    return play_commands(SETUP, steps, START)[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(actions, st.sampled_from([0, 1, 5, 30, 90, 240, 600])), min_size=1, max_size=80))
def test_a_day_replayed_as_it_was_staffed_gives_every_ticket_its_recorded_wait(steps):
    day = read_day(SETUP, DAY, record(steps))
    played = play(SETUP, day, staffing(day, SETUP, []))
    recorded = {a.number: a.wait_s for a in day.arrivals if a.wait_s is not None}
    replayed = {a.number: played.waits.get(a.ticket) for a in day.arrivals if a.wait_s is not None}
    assert replayed == recorded
    assert fidelity(day, played).median_abs_error_s == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(actions, st.sampled_from([0, 5, 30, 90, 240, 600])), min_size=1, max_size=60),
       closed=COUNTERS, start=st.integers(9 * 60, 11 * 60), length=st.integers(10, 180))
def test_a_replay_with_a_counter_closed_calls_each_ticket_once_and_never_there_meanwhile(steps, closed, start, length):
    day = read_day(SETUP, DAY, record(steps))
    first, last = time(start // 60, start % 60), time((start + length) // 60, (start + length) % 60)
    change = Change(closed, False, first, last)
    played = play(SETUP, day, staffing(day, SETUP, [change]))
    firsts = [ticket for _, _, ticket in played.calls if ticket]
    issued = {a.ticket for a in day.arrivals}
    assert set(played.waits) <= issued
    # a ticket is called again only after a transfer or a no-show's visit (never twice at once)
    assert len(set(firsts)) == len(played.waits)
    window = (START.replace(hour=first.hour, minute=first.minute), START.replace(hour=last.hour, minute=last.minute))
    assert not [at for at, counter, _ in played.calls if counter == closed and window[0] <= at < window[1]]


def test_closing_a_counter_costs_the_waits_it_would():
    """c2 alone serves pay (c1 and c3 paused; c4 serves biz). Customers at 9:00, 9:02, 9:04 and 9:06
    are served 5 minutes each as soon as c2 is free; it works on until 9:55. Closed 9:09-9:20, it
    finishes its customer and calls nobody until 9:20: the waits are what that costs."""
    state = RULES.handle(SETUP.initial_state(), c.Tick(), START)[0]
    events: list = []
    plan = [(0, c.SuspendCounter(counter="c1")), (0, c.SuspendCounter(counter="c3")),
            (0, c.IssueTicket(service="pay")), (0, c.CallNext(counter="c2")), (120, c.IssueTicket(service="pay")),
            (240, c.IssueTicket(service="pay")), (300, c.CallNext(counter="c2")), (360, c.IssueTicket(service="pay")),
            (600, c.CallNext(counter="c2")), (900, c.CallNext(counter="c2")), (1200, c.Finish(counter="c2")),
            (3000, c.IssueTicket(service="pay")), (3000, c.CallNext(counter="c2")), (3300, c.Finish(counter="c2"))]
    for offset, cmd in plan:
        state, new = RULES.handle(state, cmd, START + timedelta(seconds=offset))
        events += new
    day = read_day(SETUP, DAY, events)
    as_was = play(SETUP, day, staffing(day, SETUP, []))
    assert {a.number: as_was.waits[a.ticket] for a in day.arrivals} == \
        {"A001": 0, "A002": 180, "A003": 360, "A004": 540, "A005": 0}
    later = play(SETUP, day, staffing(day, SETUP, [Change("c2", False, time(9, 9), time(9, 20))]))
    # A003 called when c2 opens again (9:20), A004 when A003's 5 minutes are over
    assert {a.number: later.waits[a.ticket] for a in day.arrivals} == \
        {"A001": 0, "A002": 180, "A003": 1200 - 240, "A004": 1500 - 360, "A005": 0}


def test_bad_changes_are_refused_with_what_is_wrong():
    counters = ["c1", "c2"]
    assert Change.parse("c2@13:30-15:00", False, counters) == Change("c2", False, time(13, 30), time(15, 0))
    for text, words in (("c9@13:30-15:00", "no counter 'c9'"), ("c2@15:00-13:30", "end after the start"),
                        ("c2 13:30-15:00", "COUNTER@HH:MM-HH:MM"), ("c2@13:30", "COUNTER@HH:MM-HH:MM")):
        with pytest.raises(ValueError, match=words):
            Change.parse(text, False, counters)


@pytest.fixture
def recorded_hall(tmp_path):
    """A short day recorded by the real controller (in process, with a clock the test sets)."""
    hall = write_hall_config(tmp_path / "hall.toml", 9, None)
    config = load_config(hall)
    clock = [datetime(2026, 3, 2, 9, 0, tzinfo=TZ)]
    ctl = open_controller(config, tmp_path / "data", link_factory=RecordingLink, clock=lambda: clock[0])
    ids = iter(range(1, 1000))

    def at(hhmm: str, device: str, op: str, **args) -> dict:
        h, m = (int(x) for x in hhmm.split(":"))
        clock[0] = datetime(2026, 3, 2, h, m, tzinfo=TZ)
        payload = json.dumps({"op": op, "request_id": f"r{next(ids)}", **args}).encode()
        (_, reply), = ctl.apply_batch([Inbound(ctl.topics.request(device), payload, False)]).replies
        return json.loads(reply)

    for minute in range(0, 40, 4):
        assert at(f"09:{minute:02d}", "kiosk.k1", "issue", service="pay")["ok"]
    for minute in range(1, 50, 6):
        at(f"09:{minute:02d}", "counter.c2", "call_next")
        at(f"09:{minute + 1:02d}", "counter.c1", "call_next")
    ctl.store.close()
    return hall, tmp_path / "data"


def test_hallq_replay_on_the_controllers_records(recorded_hall, tmp_path):
    hall, data = recorded_hall
    run = subprocess.run([sys.executable, "-m", "hallq", "replay", "--config", str(hall), "--data", str(data),
                          "--date", "2026-03-02", "--close", "c2@09:00-10:00", "--csv", str(tmp_path / "r.csv")],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "重演" in run.stdout and "典型误差0秒" in run.stdout
    assert "2号窗口 09:00-10:00 关闭" in run.stdout
    text = (tmp_path / "r.csv").read_bytes().decode("utf-8")
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    whole = next(r for r in rows if r[-1] == "all")
    assert float(whole[3]) > float(whole[2])      # one counter fewer: the replayed median wait is longer
    # a calling rule tried on the day before it is switched on: the other hall file is named
    other = tmp_path / "rules.toml"
    other.write_text(hall.read_text("utf-8").replace("[hall]\n", "[hall]\npriority_per_normal = 1\n", 1), "utf-8")
    tried = subprocess.run([sys.executable, "-m", "hallq", "replay", "--config", str(hall), "--data", str(data),
                            "--date", "2026-03-02", "--as", str(other), "--close", "c2@09:00-10:00"],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert tried.returncode == 0, tried.stderr
    assert f"改变：按 {other} 的配置；2号窗口 09:00-10:00 关闭" in tried.stdout
    bad = subprocess.run([sys.executable, "-m", "hallq", "replay", "--config", str(hall), "--data", str(data),
                          "--date", "2026-03-02", "--close", "c9@09:00-10:00"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no counter 'c9'" in bad.stderr and not bad.stdout
    missing = subprocess.run([sys.executable, "-m", "hallq", "replay", "--config", str(hall), "--data",
                              str(tmp_path / "nowhere"), "--date", "2026-03-02"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no controller records" in missing.stderr
