"""Calling rules as settings ([hall] priority_per_normal, ageing_s): the pure core under random days
keeps the hall's invariants and each rule's bound, and a replay shows what a rule would change."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.rules import QueueRules, fold
from hallq.controller.publish import state_document
from hallq.errors import RequestError
from hallq.records.replay import play, read_day, staffing
from hallq.runtime.config import ConfigError, load_config, parse_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL, day_steps, play_commands
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
    st.builds(c.BookAppointment, code=st.sampled_from(["111", "222"]), service=st.sampled_from(["pay", "biz"]),
              slot=st.integers(-30, 240).map(lambda m: START + timedelta(minutes=m))),
    st.builds(c.CheckIn, code=st.sampled_from(["111", "222"]), by=st.just("kiosk.k1")),
), st.sampled_from([0, 5, 60, 240, 600])), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_strategy, share=st.integers(1, 3), ageing=st.sampled_from([0, 300, 900]),
       place=st.sampled_from(["ahead", "interleaved"]))
def test_each_rule_keeps_its_bound_and_the_halls_invariants(steps, share, ageing, place):
    setup = dataclasses.replace(BASE, priority_per_normal=share, ageing_s=ageing, appointment_place=place)
    in_a_row = {"pay": 0, "biz": 0}      # priority calls of each service in a row, counted here
    for step in day_steps(setup, steps, START):
        before, state, events, now = step.before, step.after, step.events, step.now
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


def test_a_free_counter_calls_by_itself_after_auto_call_s_but_never_a_desk_nobody_worked_at():
    setup = dataclasses.replace(BASE, auto_call_s=60)
    rules = QueueRules(setup)
    at = lambda seconds: START + timedelta(seconds=seconds)  # noqa: E731
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    for seconds in (0, 1):
        state, _ = rules.handle(state, c.IssueTicket(service="pay", by="kiosk.k1"), at(seconds))
    # the day's first call is the clerk's: a counter nobody worked at yet never calls by itself
    state, events = rules.handle(state, c.Tick(), at(600))
    assert not [ev for ev in events if isinstance(ev, e.TicketCalled)]
    state, _ = rules.handle(state, c.CallNext(counter="c2"), at(600))
    state, _ = rules.handle(state, c.Finish(counter="c2"), at(700))
    state, events = rules.handle(state, c.Tick(), at(759))              # free for 59 s: the clerk's time
    assert not [ev for ev in events if isinstance(ev, e.TicketCalled)]
    state, events = rules.handle(state, c.Tick(), at(760))
    called = [ev for ev in events if isinstance(ev, e.TicketCalled)]
    assert [(ev.ticket.number, ev.counter, ev.auto) for ev in called] == [("A002", "c2", True)]
    # a paused counter does not; back from the pause, it does after the same time
    state, _ = rules.handle(state, c.IssueTicket(service="pay", by="kiosk.k1"), at(770))
    state, _ = rules.handle(state, c.SuspendCounter(counter="c2"), at(780))
    state, _ = rules.handle(state, c.Finish(counter="c2"), at(790))
    state, events = rules.handle(state, c.Tick(), at(1000))
    assert not [ev for ev in events if isinstance(ev, e.TicketCalled)]
    state, _ = rules.handle(state, c.ResumeCounter(counter="c2"), at(1000))
    state, events = rules.handle(state, c.DevicePresence(device="counter.c2", online=False), at(1030))
    state, events = rules.handle(state, c.Tick(), at(1100))             # its terminal is away: no call
    assert not [ev for ev in events if isinstance(ev, e.TicketCalled)]
    state, _ = rules.handle(state, c.DevicePresence(device="counter.c2", online=True), at(1100))
    state, events = rules.handle(state, c.Tick(), at(1101))
    assert [(ev.ticket.number, ev.auto) for ev in events if isinstance(ev, e.TicketCalled)] == [("A003", True)]
    # the batch's tick (alerts=False) leaves it to the once-a-second tick
    assert rules.handle(state, c.Tick(alerts=False), at(1200))[1] == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.one_of(
    st.builds(c.IssueTicket, service=st.sampled_from(["pay", "biz"]), priority=st.sampled_from(["normal", "priority"])),
    st.builds(c.CallNext, counter=COUNTERS), st.builds(c.Finish, counter=COUNTERS), st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.SuspendCounter, counter=COUNTERS), st.builds(c.ResumeCounter, counter=COUNTERS),
    st.builds(c.Tick), st.builds(c.Tick),
), st.sampled_from([0, 5, 30, 60, 120, 600])), min_size=1, max_size=80), bound=st.sampled_from([30, 60, 300]))
def test_auto_calls_keep_the_invariants_and_come_only_to_a_counter_free_that_long(steps, bound):
    setup = dataclasses.replace(BASE, auto_call_s=bound)
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    now, auto = START, 0
    # a morning under way: people wait and the counters have worked (their first call is the clerk's)
    opening = [(c.IssueTicket(service=s), 0) for s in ("pay", "biz", "pay", "biz", "pay", "biz")] + \
        [(command(counter=k), 10) for k in ("c1", "c2", "c3", "c4") for command in (c.CallNext, c.Finish)]
    for action, advance in opening + steps:
        now += timedelta(seconds=advance)
        before = state
        try:
            state, events = rules.handle(state, action, now)
        except RequestError:
            continue
        check_invariants(state)
        for event in events:
            if isinstance(event, e.TicketCalled) and event.auto:
                auto += 1
                cs = before.counters[event.counter]
                assert isinstance(action, c.Tick) and action.alerts
                assert not cs.suspended and cs.ticket is None and cs.free_since is not None
                assert (now - cs.free_since).total_seconds() >= bound
                waited = before.tickets[event.ticket.id]
                assert waited.status == "waiting" and (now - waited.waiting_since).total_seconds() >= bound
    note("a counter called by itself" if auto else "no call by itself")


def test_appointments_go_ahead_once_their_slot_began_or_interleave_by_their_slot():
    def order(place: str) -> list[str]:
        setup = dataclasses.replace(BASE, appointment_place=place)
        rules = QueueRules(setup)
        at = lambda minutes: START + timedelta(minutes=minutes)  # noqa: E731
        state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
        state, _ = rules.handle(state, c.BookAppointment(code="8812", service="pay", slot=at(30)), START)
        for minutes, command in ((5, c.IssueTicket(service="pay")), (6, c.IssueTicket(service="pay")),   # A001 A002
                                 (20, c.CheckIn(code="8812", by="kiosk.k1")),                           # A003, slot 09:30
                                 (25, c.IssueTicket(service="pay")), (35, c.IssueTicket(service="pay"))):  # A004 A005
            state, _ = rules.handle(state, command, at(minutes))
        called = []
        while any(t.status == "waiting" for t in state.tickets.values()):
            state, events = rules.handle(state, c.CallNext(counter="c2"), at(40))
            called += [ev.ticket.number for ev in events if isinstance(ev, e.TicketCalled)]
        return called
    assert order("ahead") == ["A003", "A001", "A002", "A004", "A005"]
    # interleaved: as if it had taken a ticket at 09:30, between A004 (09:25) and A005 (09:35)
    assert order("interleaved") == ["A001", "A002", "A004", "A003", "A005"]


C1 = 'name = "1号窗口"\nservices = ["pay", "biz"]\n'
assert C1 in EXAMPLE_HALL.read_text("utf-8")
WEIGHTED = EXAMPLE_HALL.read_text("utf-8").replace(
    C1, C1 + 'call_order = "weighted"\nweights = { pay = 3, biz = 1 }\nclerks = ["zhangmin", "lihua"]\n', 1) + '''
[[clerk]]
id = "zhangmin"
name = "张敏"
services = ["biz"]

[[clerk]]
id = "lihua"
name = "李华"
services = ["biz", "pay"]
call_order = "weighted"
weights = { biz = 2, pay = 1 }
'''


def weighted_hall(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(WEIGHTED, "utf-8")
    config = load_config(path)
    return config, setup_from_config(config)


def test_a_weighted_counter_calls_its_services_in_proportion_and_a_clerks_skills_follow_the_login(tmp_path):
    config, setup = weighted_hall(tmp_path)
    assert setup.counters["c1"].call_order == "weighted" and setup.counters["c1"].weights == {"pay": 3, "biz": 1}
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    for i in range(12):
        for service in ("pay", "biz"):
            state, _ = rules.handle(state, c.IssueTicket(service=service), START + timedelta(seconds=i))

    def calls(state, n, counter="c1"):
        out = []
        for _ in range(n):
            state, events = rules.handle(state, c.CallNext(counter=counter), START + timedelta(minutes=5))
            out += [ev.ticket.service for ev in events if isinstance(ev, e.TicketCalled)]
        return state, out
    state, order = calls(state, 8)
    assert order == ["pay", "pay", "pay", "biz"] * 2               # 3 to 1, whatever the issue times
    # 张敏 (biz only) logs in at c2, a pay-only counter: it serves her skills while she is there
    state, _ = rules.handle(state, c.Login(counter="c2", clerk="zhangmin"), START + timedelta(minutes=6))
    assert setup.serving(state, "c2").services == ("biz",)
    doc = {k["id"]: k for k in state_document(config, setup, state, 1, 1, now=START + timedelta(minutes=6))["counters"]}
    assert doc["c2"]["services"] == ["biz"]
    state, order = calls(state, 2, "c2")
    assert order == ["biz", "biz"]
    with pytest.raises(RequestError) as refused:            # a pay ticket by number: not her skill
        rules.handle(state, c.CallTicket(counter="c2", number="A012"), START + timedelta(minutes=7))
    assert refused.value.code == "not_allowed"
    # 李华's weights (biz 2 : pay 1) at c4 (biz only) and, logged out, the counter's own again
    state, _ = rules.handle(state, c.Login(counter="c4", clerk="lihua"), START + timedelta(minutes=7))
    state, order = calls(state, 3, "c4")
    assert sorted(order) == ["biz", "biz", "pay"]
    state, _ = rules.handle(state, c.Logout(counter="c2"), START + timedelta(minutes=8))
    assert setup.serving(state, "c2").services == ("pay",)


def test_weights_and_skills_in_the_hall_file_are_checked(tmp_path):
    path = tmp_path / "hall.toml"
    for bad, key in ((WEIGHTED.replace("weights = { pay = 3, biz = 1 }", "weights = { pay = 3, cash = 1 }"), "counter[0].weights.cash"),
                     (WEIGHTED.replace("weights = { pay = 3, biz = 1 }\n", ""), "counter[0].weights"),
                     (WEIGHTED.replace('services = ["biz"]\n\n[[clerk]]', 'services = ["visa"]\n\n[[clerk]]'), "clerk[0].services[0]"),
                     (WEIGHTED.replace("pay = 3", "pay = 0"), "counter[0].weights.pay"),
                     (WEIGHTED.replace('id = "lihua"', 'id = "zhangmin"'), "clerk[1].id")):
        path.write_text(bad, "utf-8")
        with pytest.raises(ConfigError) as refused:
            load_config(path)
        assert key in str(refused.value), (key, str(refused.value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.one_of(
    st.builds(c.IssueTicket, service=st.sampled_from(["pay", "biz"]), priority=st.sampled_from(["normal", "priority"])),
    st.builds(c.CallNext, counter=COUNTERS), st.builds(c.CallNext, counter=st.just("c1")),
    st.builds(c.Finish, counter=COUNTERS), st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.Login, counter=COUNTERS, clerk=st.sampled_from(["zhangmin", "lihua", "nobody"])),
    st.builds(c.Logout, counter=COUNTERS),
    st.builds(c.Transfer, counter=COUNTERS, service=st.sampled_from(["pay", "biz"])),
), st.sampled_from([0, 5, 60, 300])), min_size=1, max_size=80))
def test_weighted_counters_and_clerks_skills_keep_the_invariants_and_the_share(tmp_path_factory, steps):
    config, setup = weighted_hall(tmp_path_factory.mktemp("weighted"))
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    now = START
    for action, advance in steps:
        now += timedelta(seconds=advance)
        before = state
        try:
            state, events = rules.handle(state, action, now)
        except RequestError:
            continue
        check_invariants(state)
        current = before
        for event in events:
            previous, current = current, fold(current, [event])
            if not isinstance(event, e.TicketCalled):
                continue
            desk = setup.serving(previous, event.counter)
            # only what the counter serves now (its clerk's skills while one is there)
            assert event.ticket.service in desk.services
            if desk.call_order != "weighted":
                continue
            # the share: the service called was not ahead of its weight while another it serves waited
            calls = previous.counters[event.counter].calls
            share = lambda s: (calls.get(s, 0) + 1) / desk.weights.get(s, 1)  # noqa: E731
            waiting = {t.service for t in previous.tickets.values() if t.status == "waiting" and t.service in desk.services}
            assert all(share(event.ticket.service) <= share(other) for other in waiting), (event.ticket.service, calls, waiting)


def test_the_days_report_says_which_calling_rules_were_in_force_when(tmp_path):
    from hallq.controller.store import Store
    from hallq.core.events import encode_event
    from hallq.tools.report import make_report, text_table
    config = load_config(EXAMPLE_HALL)
    rules = QueueRules(BASE)
    state = rules.handle(BASE.initial_state(), c.Tick(), START)[0]
    log = []
    for minutes, command in ((0, c.IssueTicket(service="pay")), (5, c.CallNext(counter="c2")),
                             (270, c.SetRules(rules={"priority_per_normal": 2, "ageing_s": 1200}, by="admin.web")),
                             (280, c.SetRules(rules={"priority_per_normal": 2, "ageing_s": 1200}, by="admin.web")),
                             (300, c.Finish(counter="c2"))):
        state, events = rules.handle(state, command, START + timedelta(minutes=minutes))
        log += events
    assert [type(ev).__name__ for ev in log].count("RulesChanged") == 1      # the same rules again: no change
    assert BASE.rules_in(state).ageing_s == 1200 and state.rules is not None
    # a bad value is refused, naming it, and changes nothing
    with pytest.raises(RequestError) as refused:
        rules.handle(state, c.SetRules(rules={"ageing_s": -1}), START + timedelta(minutes=301))
    assert refused.value.code == "bad_request" and "ageing_s" in refused.value.message
    store = Store(tmp_path / "controller.db")
    for seq, event in enumerate(log, 1):
        store.append_event(seq, 1, e.event_type(event), event.at.isoformat(), state.day, encode_event(event))
    store.close()
    text = text_table(make_report(config, tmp_path, state.day), "zh_CN", config)
    assert "叫号规则：开始时：优先号先叫，再按取号先后｜13:30起：有普通号等候时优先号最多连叫2个；普通号等满20分钟优先（admin.web）" \
        in text, text
    # the next business day the hall file's rules are in force again
    tomorrow = rules.handle(state, c.Tick(), START + timedelta(days=1))[0]
    assert tomorrow.rules is None and BASE.rules_in(tomorrow).ageing_s == 0
    # a day without changes says so
    store = Store(tmp_path / "quiet" / "controller.db")
    store.append_event(1, 1, e.event_type(log[0]), log[0].at.isoformat(), state.day, encode_event(log[0]))
    store.close()
    assert "全天叫号规则：优先号先叫，再按取号先后" in text_table(make_report(config, tmp_path / "quiet", state.day), "zh_CN", config)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_strategy, change_at=st.integers(0, 79), share=st.integers(1, 3), ageing=st.sampled_from([0, 300]))
def test_a_day_with_a_rule_change_replays_with_the_rules_as_they_changed(steps, change_at, share, ageing):
    """Rules changed mid-day are played when they changed: every ticket gets its recorded wait."""
    steps = [(a, s) for a, s in steps if not isinstance(a, (c.BookAppointment, c.CheckIn))]
    steps.insert(min(change_at, len(steps)), (c.SetRules(rules={"priority_per_normal": share, "ageing_s": ageing}), 0))
    _, log = play_commands(BASE, steps, START)
    day = read_day(BASE, START.date().isoformat(), log)
    played = play(BASE, day, staffing(day, BASE, []))
    recorded = {a.number: a.wait_s for a in day.arrivals if a.wait_s is not None}
    assert {a.number: played.waits.get(a.ticket) for a in day.arrivals if a.wait_s is not None} == recorded


def test_a_priority_heavy_day_with_a_share_from_noon_replays_only_with_the_change_played():
    rules = QueueRules(BASE)
    state = rules.handle(BASE.initial_state(), c.Tick(), START)[0]
    log = []
    for minute in range(60):                     # a priority ticket and a walk-in each minute, one counter
        now = START + timedelta(minutes=minute)
        if minute == 30:
            state, new = rules.handle(state, c.SetRules(rules={"priority_per_normal": 1}, by="admin.web"), now)
            log += new
        for priority in ("priority", "normal"):
            state, new = rules.handle(state, c.IssueTicket(service="pay", priority=priority), now)
            log += new
        state, new = rules.handle(state, c.CallNext(counter="c2"), now + timedelta(seconds=30))
        log += new
    day = read_day(BASE, START.date().isoformat(), log)
    recorded = {a.number: a.wait_s for a in day.arrivals if a.wait_s is not None}
    replayed = play(BASE, day, staffing(day, BASE, []))
    assert {a.number: replayed.waits.get(a.ticket) for a in day.arrivals if a.wait_s is not None} == recorded
    # without the change played (the hall file's rules all day) the walk-ins called after it are not reached
    without = play(BASE, day, staffing(day, BASE, []), recorded_rules=False)
    assert {a.number: without.waits.get(a.ticket) for a in day.arrivals if a.wait_s is not None} != recorded


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(issues=st.lists(st.tuples(st.sampled_from(["pay", "biz"]), st.sampled_from(["normal", "priority", "priority"]),
                                 st.sampled_from([0, 0, 30, 200])), min_size=1, max_size=30),
       share=st.integers(0, 3), ageing=st.sampled_from([0, 600, 1500]),
       weights=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_estimates_under_the_calling_rules_are_kept_by_a_hall_that_takes_the_measured_times(issues, share, ageing,
                                                                                             weights):
    """Tickets issued, then every counter works exactly the service's measured time per customer and
    calls at once: each ticket is called when the estimate (given as it was issued, and the forecast
    after the last issue) said, with the priority share and the ageing in force, and 1号窗口 calling
    its two services by weights when it has them."""
    # (idle_alert_s: a counter nobody called at for that long while people waited is not counted on; here
    # all of them call once the tickets are issued)
    setup = dataclasses.replace(BASE, priority_per_normal=share, ageing_s=ageing, idle_alert_s=86400)
    if weights is not None:
        c1 = dataclasses.replace(setup.counters["c1"], call_order="weighted", weights=dict(zip(("pay", "biz"), weights)))
        setup = dataclasses.replace(setup, counters={**setup.counters, "c1": c1})
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    now = START
    for service, priority, advance in issues:
        now += timedelta(seconds=advance)
        state, _ = rules.handle(state, c.IssueTicket(service=service, priority=priority), now)
    from hallq.core.forecast import forecast, per_ticket_s
    told = forecast(setup, state, now).waits
    free = {k: now for k in sorted(setup.counters)}            # every counter calls at once, then when done
    called: dict[str, float] = {}
    while any(t.status == "waiting" for t in state.tickets.values()) and free:
        at = min(free.values())
        counter = min(k for k, t in free.items() if t == at)
        try:
            state, events = rules.handle(state, c.CallNext(counter=counter), at)
        except RequestError:
            del free[counter]                                   # nothing it serves waits any more
            continue
        ticket = next(ev.ticket for ev in events if isinstance(ev, e.TicketCalled))
        called[ticket.id] = (at - now).total_seconds()
        free[counter] = at + timedelta(seconds=per_ticket_s(state, ticket.service))
    assert {k: round(v) for k, v in called.items()} == {k: v for k, v in told.items() if k in called}
    assert set(called) == {k for k, v in told.items() if v is not None}
