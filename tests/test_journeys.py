"""Journeys: one number through several services (受理 -> 缴费 -> 领证). Finishing a step queues the
ticket for the next service of its route, keeping its number and (by default) the place its issue
time gives; random days keep the hall's invariants and the journey's own."""
from __future__ import annotations

import dataclasses
import tomllib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from hallq.controller.publish import state_document
from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.events import decode_event, encode_event
from hallq.core.rules import QueueRules, evolve, fold, transferred_route
from hallq.errors import RequestError
from hallq.records.replay import play, read_day, staffing
from hallq.runtime.config import ConfigError, parse_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import day_steps, play_commands

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)

JOURNEY_HALL = """
[hall]
id = "h1"
name = "城东不动产登记中心"
hours = [["09:00", "17:00"]]

[[service]]
id = "accept"
name = "受理"
prefix = "S"
est_service_s = 300
route = ["pay", "collect"]

[[service]]
id = "pay"
name = "缴费"
prefix = "A"
est_service_s = 120

[[service]]
id = "collect"
name = "领证"
prefix = "L"
est_service_s = 60

[[counter]]
id = "c1"
name = "1号窗口"
services = ["accept"]

[[counter]]
id = "c2"
name = "2号窗口"
services = ["accept", "pay"]

[[counter]]
id = "c3"
name = "3号窗口"
services = ["pay", "collect"]
call_order = "service_order"

[[kiosk]]
id = "k1"
services = ["accept", "pay", "collect"]
"""


def hall(extra: str = ""):
    config = parse_config(tomllib.loads(JOURNEY_HALL.replace("[hall]\n", "[hall]\n" + extra, 1)), "journey.toml")
    return config, setup_from_config(config)


CONFIG, SETUP = hall()
COUNTERS = st.sampled_from(["c1", "c2", "c3"])
SERVICES = st.sampled_from(["accept", "pay", "collect"])
commands = st.one_of(
    st.builds(c.IssueTicket, service=st.sampled_from(["accept", "accept", "pay", "collect"]),
              priority=st.sampled_from(["normal", "normal", "priority"]), by=st.just("kiosk.k1")),
    st.builds(c.CallNext, counter=COUNTERS), st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.Finish, counter=COUNTERS, rating=st.none() | st.integers(1, 3)),
    st.builds(c.Finish, counter=COUNTERS), st.builds(c.Finish, counter=COUNTERS),
    st.builds(c.Rate, counter=COUNTERS, rating=st.integers(1, 3)),
    st.builds(c.Recall, counter=COUNTERS),
    st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.Transfer, counter=COUNTERS, service=SERVICES),
    st.builds(c.Reinstate, number=st.sampled_from(["S001", "S002", "A001"])),
    st.builds(c.CallTicket, counter=COUNTERS, number=st.sampled_from(["S001", "S002", "S003", "A001", "L001"])),
    st.builds(c.SuspendCounter, counter=COUNTERS), st.builds(c.ResumeCounter, counter=COUNTERS),
    st.builds(c.VoidTicket, ticket_id=st.sampled_from(["20261123-S001", "20261123-S002"])),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(commands, st.sampled_from([0, 5, 60, 300])), min_size=1, max_size=70),
       order=st.sampled_from(["issued", "step"]))
def test_random_days_keep_the_number_the_order_and_every_step(steps, order):
    setup = dataclasses.replace(SETUP, journey_order=order)
    initial = state = QueueRules(setup).handle(setup.initial_state(), c.Tick(), START)[0]
    log = []
    served_at: dict[str, set[str]] = {}      # ticket -> the services it was served at so far
    # every day begins with one journey under way; then anything may happen
    opening = [(c.IssueTicket(service="accept", by="kiosk.k1"), 0), (c.CallNext(counter="c1"), 60),
               (c.Finish(counter="c1"), 300)]
    for step in day_steps(setup, opening + steps, START):
        before, state, events, now = step.before, step.after, step.events, step.now
        log += events
        current = before                 # the state just before each event
        for i, event in enumerate(events):
            ticket = getattr(event, "ticket", None)
            previous, current = current, evolve(current, event)
            if ticket is None:
                continue
            old = previous.tickets.get(ticket.id)
            if old is not None:
                # one number for the whole visit, and a journey only goes forward; its route changes
                # only when a clerk sends the customer ahead to a later step's service
                assert (ticket.number, ticket.issued_at) == (old.number, old.issued_at)
                expected = transferred_route(old, ticket.service) if isinstance(event, e.TicketTransferred) else old.route
                assert ticket.route == expected
                assert ticket.step >= old.step
            if isinstance(event, e.TicketCalled):
                assert old is not None and old.status == "waiting", f"{ticket.number} called twice"
                if not event.out_of_order:
                    # the calling order holds across steps: nothing the counter serves came before it
                    serves = setup.counters[event.counter].services
                    waiting = [t for t in previous.tickets.values() if t.status == "waiting" and t.service in serves]
                    rank = {s: j for j, s in enumerate(serves)}

                    def key(t):
                        k = t.queue_key(now)
                        return (k[0], rank[t.service], k[1:]) if setup.counters[event.counter].call_order == "service_order" else k
                    assert key(old) == min(key(t) for t in waiting)
            if isinstance(event, e.TicketServed) and ticket.route and not ticket.last_step:
                routed = events[i + 1]
                assert isinstance(routed, e.TicketRouted), "a step finished but the journey did not go on"
                nxt = routed.ticket
                assert (nxt.status, nxt.step, nxt.service) == ("waiting", ticket.step + 1, ticket.route[ticket.step + 1])
                assert nxt.queued_by == (ticket.issued_at if order == "issued" else now)
                assert nxt.waiting_since == now
            if isinstance(event, e.TicketRouted):
                assert isinstance(events[i - 1], e.TicketServed) and events[i - 1].ticket.id == ticket.id
                # never queued again for a service it was served at (sent ahead, a step is not done twice)
                assert ticket.service not in served_at.get(ticket.id, set()), (ticket.number, ticket.service)
            if isinstance(event, e.TicketServed):
                served_at.setdefault(ticket.id, set()).add(ticket.service)
        for t in state.tickets.values():
            if t.route:
                assert t.number.startswith("S") and len(set(t.route)) == len(t.route)
                assert set(t.route) <= {"accept", "pay", "collect"} and 1 <= len(t.route) <= 3
                # a journey's ticket is served for good only at its last step
                if t.status == "served":
                    assert t.last_step
            else:
                assert t.step == 0
        at_counters = [cs.ticket for cs in state.counters.values() if cs.ticket is not None]
        assert len(at_counters) == len(set(at_counters)), "a ticket at two counters"
        assert all(state.tickets[k].status == "called" for k in at_counters)
        assert sum(1 for t in state.tickets.values() if t.status == "called") == len(at_counters)
    note("a journey went on" if any(isinstance(ev, e.TicketRouted) for ev in log) else "no journey went on")
    # the stored events rebuild the same state
    replayed = fold(initial, [decode_event(encode_event(ev)) for ev in log])
    assert msgspec.json.encode(replayed) == msgspec.json.encode(state)


def day(setup, *script):
    """Run (minutes after 09:00, command) pairs; return the state and every event."""
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    log = []
    for minutes, command in script:
        state, events = rules.handle(state, command, START + timedelta(minutes=minutes))
        log += events
    return state, log


def test_a_journey_keeps_its_number_and_its_place_by_issue_time_or_by_step():
    script = [
        (0, c.IssueTicket(service="accept", by="kiosk.k1")),       # S001: 受理 -> 缴费 -> 领证
        (1, c.IssueTicket(service="pay", by="kiosk.k1")),          # A001: came for 缴费 only, after S001
        (2, c.CallNext(counter="c1")),                             # S001 at 受理
        (10, c.Finish(counter="c1")),                              # S001 now waits for 缴费
        (11, c.CallNext(counter="c3")),
    ]
    state, log = day(SETUP, *script)
    s001 = state.tickets["20261123-S001"]
    # by default it keeps the place its issue time gives: ahead of A001, who came later
    assert (s001.number, s001.service, s001.status, s001.counter, s001.step) == ("S001", "pay", "called", "c3", 1)
    routed = [ev for ev in log if isinstance(ev, e.TicketRouted)]
    assert len(routed) == 1 and routed[0].from_service == "accept" and routed[0].counter == "c1"
    # "step": it queues from the moment it got there, behind A001
    state, _ = day(dataclasses.replace(SETUP, journey_order="step"), *script)
    assert state.tickets["20261123-A001"].status == "called"
    assert state.tickets["20261123-S001"].status == "waiting"
    # the last step's finish ends the visit (c3 takes 缴费 before 领证: A001 first)
    state, log = day(SETUP, *script, (13, c.Finish(counter="c3")), (14, c.CallNext(counter="c3")),
                     (15, c.CallNext(counter="c3")), (18, c.Finish(counter="c3", rating=1)))
    assert state.tickets["20261123-A001"].status == "served"
    s001 = state.tickets["20261123-S001"]
    assert (s001.status, s001.service, s001.step) == ("served", "collect", 2)
    served = [ev.ticket.service for ev in log if isinstance(ev, e.TicketServed) and ev.ticket.id == s001.id]
    assert served == ["accept", "pay", "collect"]


def test_each_step_is_rated_once_at_its_counter():
    state, log = day(SETUP, (0, c.IssueTicket(service="accept", by="kiosk.k1")), (1, c.CallNext(counter="c1")),
                     (5, c.Finish(counter="c1")), (5.5, c.Rate(counter="c1", rating=1)),
                     (6, c.CallNext(counter="c2")), (8, c.Finish(counter="c2")), (8.5, c.Rate(counter="c2", rating=2)))
    assert [ev.rating for ev in log if isinstance(ev, e.TicketRated)] == [1, 2]
    rules = QueueRules(SETUP)
    with pytest.raises(RequestError) as refused:
        rules.handle(state, c.Rate(counter="c2", rating=3), START + timedelta(minutes=9))
    assert refused.value.code == "already_rated"


def test_screens_and_tickets_say_the_step_and_the_whole_route_is_estimated():
    state, _ = day(SETUP, (0, c.IssueTicket(service="accept", by="kiosk.k1")),
                   (0, c.IssueTicket(service="accept", by="kiosk.k1")), (1, c.CallNext(counter="c1")),
                   (6, c.Finish(counter="c1")), (6, c.CallNext(counter="c2")))
    doc = state_document(CONFIG, SETUP, state, 1, 9, now=START + timedelta(minutes=6))
    calls = {(r["number"], r["counter"]): (r["step"], r["steps"]) for r in doc["recent_calls"]}
    # S001 done at 受理 is called to 缴费 by c2 (it keeps its place ahead of S002): 第2步/共3步
    assert calls == {("S001", "c2"): (1, 3)}
    serving = {k["id"]: k["ticket"] for k in doc["counters"]}
    assert (serving["c2"]["number"], serving["c2"]["step"], serving["c2"]["steps"]) == ("S001", 1, 3)
    rules = QueueRules(SETUP)
    state, events = rules.handle(state, c.IssueTicket(service="accept", by="kiosk.k1"), START + timedelta(minutes=7))
    s003 = events[-1].ticket
    assert s003.route == ("accept", "pay", "collect") and s003.step == 0
    # the route's estimate: its wait, then each step's time at a counter (300 + 120 + 60 s as configured)
    assert s003.est_route_s >= s003.est_wait_s + 300 + 120 + 60
    assert s003.est_route_s <= s003.est_wait_s + 300 + 120 + 60 + 3 * 120 + 600


def test_a_route_must_name_the_halls_services_once_each():
    with pytest.raises(ConfigError) as bad:
        parse_config(tomllib.loads(JOURNEY_HALL.replace('route = ["pay", "collect"]', 'route = ["pay", "cashier"]')), "j.toml")
    assert "service[0].route[1]" in str(bad.value) and "cashier" in str(bad.value)
    with pytest.raises(ConfigError) as bad:
        parse_config(tomllib.loads(JOURNEY_HALL.replace('route = ["pay", "collect"]', 'route = ["pay", "accept"]')), "j.toml")
    assert "service[0].route[1]" in str(bad.value) and "twice" in str(bad.value)
    with pytest.raises(ConfigError) as bad:
        hall('journey_order = "later"\n')
    assert "journey_order" in str(bad.value)


replay_actions = st.one_of(
    st.builds(c.IssueTicket, service=st.sampled_from(["accept", "accept", "pay", "collect"]),
              priority=st.sampled_from(["normal", "normal", "priority"])),
    st.builds(c.CallNext, counter=COUNTERS), st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.Finish, counter=COUNTERS), st.builds(c.Finish, counter=COUNTERS),
    st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.Transfer, counter=COUNTERS, service=SERVICES),
    st.builds(c.SuspendCounter, counter=COUNTERS), st.builds(c.ResumeCounter, counter=COUNTERS),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(replay_actions, st.sampled_from([0, 1, 5, 30, 90, 240, 600])), min_size=1, max_size=80))
def test_a_day_of_journeys_replayed_as_staffed_gives_every_ticket_its_recorded_wait(steps):
    _, log = play_commands(SETUP, steps, START)
    day = read_day(SETUP, START.date().isoformat(), log)
    played = play(SETUP, day, staffing(day, SETUP, []))
    recorded = {a.number: a.wait_s for a in day.arrivals if a.wait_s is not None}
    assert {a.number: played.waits.get(a.ticket) for a in day.arrivals if a.wait_s is not None} == recorded
    # and every step of every journey is called in the replay as often as in the record
    calls = lambda events: sorted(ev.ticket.number for ev in events if isinstance(ev, e.TicketCalled))  # noqa: E731
    assert sorted(number_of(day, ticket) for _, _, ticket in played.calls) == calls(log)


def number_of(day, ticket_id: str) -> str:
    return next(a.number for a in day.arrivals if a.ticket == ticket_id)


def test_the_days_report_counts_journeys_and_each_steps_wait(tmp_path):
    from hallq.controller.store import Store
    from hallq.tools.report import make_report, text_table
    state, log = day(SETUP,
                     (0, c.IssueTicket(service="accept", by="kiosk.k1")),     # S001: every step
                     (1, c.IssueTicket(service="accept", by="kiosk.k1")),     # S002: 受理 only, so far
                     (2, c.CallNext(counter="c1")), (12, c.Finish(counter="c1")),     # S001 waited 2 min at 受理
                     (15, c.CallNext(counter="c3")), (17, c.Finish(counter="c3")),    # 3 min at 缴费
                     (18, c.CallNext(counter="c3")), (19, c.Finish(counter="c3")),    # 1 min at 领证
                     (20, c.CallNext(counter="c1")))                                  # S002 waited 19 min
    store = Store(tmp_path / "controller.db")
    for seq, event in enumerate(log, 1):
        store.append_event(seq, 1, e.event_type(event), event.at.isoformat(), state.day, encode_event(event))
    store.close()
    report = make_report(CONFIG, tmp_path, state.day)
    jr = report.journeys
    assert (jr["began"], jr["finished"]) == (2, 1)
    assert [(s["step"], s["service"], s["reached"], s["called"], s["wait_median_s"]) for s in jr["steps"]] == [
        (1, "accept", 2, 2, 630.0), (2, "pay", 1, 1, 180.0), (3, "collect", 1, 1, 60.0)]
    # each step is a visit to its service and counter; the hall counts each customer once
    served = {r["key"]: r["served"] for r in report.rows_of("service")}
    assert served == {"accept": 1, "pay": 1, "collect": 1}
    assert {r["key"]: r["served"] for r in report.rows_of("counter")} == {"c1": 1, "c2": 0, "c3": 2}
    assert (report.hall["issued"], report.hall["served"]) == (2, 1)
    text = text_table(report, "zh_CN", CONFIG)
    assert "一号多办：2人开始，1人办完全部步骤" in text
    assert "第2步 缴费：1人到达，1人已叫号，等候中位数3分钟" in text


def test_a_customer_sent_ahead_to_a_later_step_is_not_queued_for_it_again():
    """受理 sends the customer straight to 缴费 (a transfer to the route's next service instead of
    finishing): paid at 缴费, the ticket goes on to 领证, not back into the 缴费 queue. Sent ahead two
    steps, the step in between still follows."""
    state, log = day(SETUP,
                     (0, c.IssueTicket(service="accept", by="kiosk.k1")),
                     (1, c.CallNext(counter="c1")), (2, c.Transfer(counter="c1", service="pay")),
                     (3, c.CallNext(counter="c3")), (5, c.Finish(counter="c3")))
    # the first step was done at 缴费: two steps now, the customer at the second
    ticket = state.tickets["20261123-S001"]
    assert (ticket.status, ticket.service, ticket.step, ticket.route) == ("waiting", "collect", 1, ("pay", "collect"))
    assert [ev.ticket.service for ev in log if isinstance(ev, e.TicketRouted)] == ["collect"]
    state, log = day(SETUP,
                     (0, c.IssueTicket(service="accept", by="kiosk.k1")),
                     (1, c.CallNext(counter="c1")), (2, c.Transfer(counter="c1", service="collect")),
                     (3, c.CallNext(counter="c3")), (5, c.Finish(counter="c3")),
                     (6, c.CallNext(counter="c3")), (8, c.Finish(counter="c3")))
    assert [ev.ticket.service for ev in log if isinstance(ev, e.TicketRouted)] == ["pay"]
    ticket = state.tickets["20261123-S001"]
    assert (ticket.status, ticket.route, ticket.step) == ("served", ("collect", "pay"), 1)
