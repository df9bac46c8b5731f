"""Calling rules as settings ([hall] priority_per_normal, ageing_s): the pure core under random days
keeps the hall's invariants and each rule's bound, and a replay shows what a rule would change."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.rules import QueueRules
from hallq.errors import RequestError
from hallq.records.replay import play, read_day, staffing
from hallq.runtime.config import ConfigError, load_config, parse_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL
from test_core_properties import check_invariants

CONFIG = load_config(EXAMPLE_HALL)
BASE = setup_from_config(CONFIG)
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
COUNTERS = st.sampled_from(["c1", "c2", "c3", "c4"])

steps_strategy = st.lists(st.tuples(st.one_of(
    st.builds(c.IssueTicket, service=st.sampled_from(["pay", "biz"]), priority=st.sampled_from(["normal", "priority"])),
    st.builds(c.IssueTicket, service=st.sampled_from(["pay", "biz"]), priority=st.just("priority")),
    st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.Finish, counter=COUNTERS),
    st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.Transfer, counter=COUNTERS, service=st.sampled_from(["pay", "biz"])),
    st.builds(c.SuspendCounter, counter=COUNTERS),
    st.builds(c.ResumeCounter, counter=COUNTERS),
), st.sampled_from([0, 5, 60, 240, 600])), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_strategy, share=st.integers(1, 3), ageing=st.sampled_from([0, 300, 900]))
def test_each_rule_keeps_its_bound_and_the_halls_invariants(steps, share, ageing):
    setup = dataclasses.replace(BASE, priority_per_normal=share, ageing_s=ageing)
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    now, in_a_row = START, {"pay": 0, "biz": 0}      # priority calls of each service in a row, counted here
    for action, advance in steps:
        now += timedelta(seconds=advance)
        before = state
        try:
            state, events = rules.handle(state, action, now)
        except RequestError:
            continue
        check_invariants(state)
        for event in events:
            if not isinstance(event, e.TicketCalled):
                continue
            ticket, counter = event.ticket, event.counter
            # called once per time it queued (a transfer queues it again): only ever from waiting
            assert before.tickets[ticket.id].status == "waiting", f"{ticket.number} called twice"
            serves = setup.counters[counter].services
            waiting = [t for t in before.tickets.values() if t.status == "waiting" and t.service in serves]
            # ageing: someone this counter serves waited ageing_s or more: the call is one of them
            aged = [t for t in waiting if ageing and t.walk_in and (now - t.issued_at).total_seconds() >= ageing]
            if aged:
                assert ticket.id in {t.id for t in aged}, f"{ticket.number} called while {aged[0].number} had aged"
                assert ticket.issued_at == min(t.issued_at for t in aged if t.service == ticket.service)
            # priority share: never more than `share` in a row while a walk-in of the service waited
            if ticket.priority == "priority" and any(t.walk_in and t.service == ticket.service for t in waiting):
                assert in_a_row[ticket.service] < share, f"{ticket.number}: {share} priority calls in a row already"
            in_a_row[ticket.service] = in_a_row[ticket.service] + 1 if ticket.priority == "priority" else 0


def issue_and_call(setup, issues, calls_at: timedelta = timedelta(0)) -> list[str]:
    """Tickets issued one second apart, then counter c2 (pay only) calls them all: the order called."""
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    now = START
    for priority in issues:
        now += timedelta(seconds=1)
        state = rules.handle(state, c.IssueTicket(service="pay", priority=priority), now)[0]
    now += calls_at
    order = []
    while any(t.status == "waiting" for t in state.tickets.values()):
        state, events = rules.handle(state, c.CallNext(counter="c2"), now)
        order += [ev.ticket.number for ev in events if isinstance(ev, e.TicketCalled)]
    return order


def test_priority_share_two_to_one_and_ageing_in_a_hall_of_examples():
    issues = ["normal", "normal", "priority", "priority", "priority", "priority", "priority"]
    # numbers: A001 A002 normal; A003-A007 priority
    assert issue_and_call(BASE, issues) == ["A003", "A004", "A005", "A006", "A007", "A001", "A002"]
    two = dataclasses.replace(BASE, priority_per_normal=2)
    assert issue_and_call(two, issues) == ["A003", "A004", "A001", "A005", "A006", "A002", "A007"]
    aged = dataclasses.replace(BASE, ageing_s=600)
    assert issue_and_call(aged, issues, timedelta(minutes=10)) == ["A001", "A002", "A003", "A004", "A005",
                                                                   "A006", "A007"]
    assert issue_and_call(aged, issues, timedelta(minutes=5)) == issue_and_call(BASE, issues)


def test_rules_are_read_from_the_hall_file_and_bad_values_are_named(tmp_path):
    text = EXAMPLE_HALL.read_text("utf-8").replace('[hall]\n', '[hall]\npriority_per_normal = 2\nageing_s = 1200\n', 1)
    path = tmp_path / "hall.toml"
    path.write_text(text, "utf-8")
    setup = setup_from_config(load_config(path))
    assert (setup.priority_per_normal, setup.ageing_s) == (2, 1200)
    path.write_text(text.replace("ageing_s = 1200", "ageing_s = -5"), "utf-8")
    with pytest.raises(ConfigError, match="ageing_s"):
        load_config(path)
    assert parse_config  # the same parser the controller uses at start


def test_a_replay_with_a_priority_share_shows_what_it_changes():
    """The same recorded day replayed with priority_per_normal = 1: walk-ins are reached, as the rule says."""
    rules = QueueRules(BASE)
    state = rules.handle(BASE.initial_state(), c.Tick(), START)[0]
    now, events = START, []
    for minute in range(60):                     # a priority ticket and a walk-in each minute, one counter
        now = START + timedelta(minutes=minute)
        for priority in ("priority", "normal"):
            state, new = rules.handle(state, c.IssueTicket(service="pay", priority=priority), now)
            events += new
        if minute % 2 == 0 or minute > 40:
            for counter in ("c2",):
                try:
                    state, new = rules.handle(state, c.CallNext(counter=counter), now + timedelta(seconds=30))
                    events += new
                except RequestError:
                    pass
    day = read_day(BASE, START.date().isoformat(), events)
    as_was = play(BASE, day, staffing(day, BASE, []))
    shared = dataclasses.replace(BASE, priority_per_normal=1)
    other = play(shared, day, staffing(day, shared, []))

    def called(run, priority: bool) -> int:
        return sum(1 for a in day.arrivals if (a.priority == "priority") == priority and run.waits.get(a.ticket) is not None)
    # as recorded, priority always first: the counter never reached a walk-in; one to one, half its calls
    assert called(as_was, False) == 0 and called(as_was, True) >= 40
    assert called(other, False) >= called(other, True) - 1 and called(other, False) >= 10
