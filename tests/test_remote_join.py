"""Joining from a phone (remote tickets), in the pure core: the same numbering and order as kiosk
tickets; called only once the customer confirmed arriving ("wait"), or passed over as a no-show
("skip"); a daily cap per service and limits per phone and per address."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.events import decode_event, encode_event
from hallq.core.rules import QueueRules, evolve, fold
from hallq.errors import RequestError
from hallq.runtime.config import load_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL, day_steps
from test_core_properties import check_invariants

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
BASE = dataclasses.replace(setup_from_config(load_config(EXAMPLE_HALL)), remote_caps={"pay": 5, "biz": 3},
                           remote_per_device=2, remote_per_address=4)
COUNTERS = st.sampled_from(["c1", "c2", "c3", "c4"])
CODES = st.sampled_from(["1001", "1002", "1003", "1004", "1005", "1006", "2001"])
DEVICES = st.sampled_from(["a" * 32, "b" * 32, "c" * 32])
ADDRESSES = st.sampled_from(["d" * 32, "e" * 32])

commands = st.one_of(
    st.builds(c.IssueTicket, service=st.sampled_from(["pay", "biz"]), by=st.just("kiosk.k1"),
              priority=st.sampled_from(["normal", "normal", "priority"])),
    st.builds(c.JoinRemotely, service=st.sampled_from(["pay", "biz"]), device=DEVICES, address=ADDRESSES,
              code=CODES, by=st.just("admin.web")),
    st.builds(c.JoinRemotely, service=st.sampled_from(["pay", "biz"]), device=DEVICES, address=ADDRESSES,
              code=CODES, by=st.just("admin.web")),
    st.builds(c.ConfirmArrival, code=CODES, by=st.just("admin.web")),
    st.builds(c.CheckIn, code=CODES, by=st.just("kiosk.k1")),
    st.builds(c.CallNext, counter=COUNTERS), st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.Finish, counter=COUNTERS), st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.Reinstate, number=st.sampled_from(["A001", "A002", "B001"])),
    st.builds(c.CallTicket, counter=COUNTERS, number=st.sampled_from(["A001", "A002", "A003", "B001"])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(commands, st.sampled_from([0, 5, 60, 300])), min_size=1, max_size=60),
       mode=st.sampled_from(["wait", "skip"]))
def test_remote_tickets_keep_the_invariants_the_order_the_limits_and_the_confirmation_rule(steps, mode):
    setup = dataclasses.replace(BASE, remote_unconfirmed=mode)
    initial = state = QueueRules(setup).handle(setup.initial_state(), c.Tick(), START)[0]
    log = []
    # every day begins with two phones' tickets, one of them confirmed; then anything may happen
    opening = [(join("2001", device="c" * 32, address="e" * 32), 0), (join("2002", device="c" * 32, address="e" * 32), 0),
               (c.ConfirmArrival(code="2001", by="admin.web"), 0)]
    for step in day_steps(setup, opening + steps, START):
        command, before, state, events, now = step.command, step.before, step.after, step.events, step.now
        log += events
        check_invariants(state)
        current = before
        for event in events:
            previous, current = current, evolve(current, event)
            if isinstance(event, e.TicketCalled):
                old = previous.tickets[event.ticket.id]
                assert old.status == "waiting"
                if not event.out_of_order:
                    # called only once here, and in the calling order among those who are
                    assert old.arrived, f"{old.number} called before its customer confirmed arriving"
                    serves = setup.counters[event.counter].services
                    rank = {s: i for i, s in enumerate(serves)}
                    here = [t for t in previous.tickets.values() if t.status == "waiting" and t.service in serves
                            and t.arrived]
                    key = (lambda t: (t.queue_key(now)[0], rank[t.service], t.queue_key(now)[1:])) \
                        if setup.counters[event.counter].call_order == "service_order" else (lambda t: t.queue_key(now))
                    assert key(old) == min(key(t) for t in here)
            if isinstance(event, e.TicketNoShow) and event.ticket.reason == "not_arrived":
                assert mode == "skip" and not previous.tickets[event.ticket.id].arrived
        remote = [t for t in state.tickets.values() if t.remote]
        for service, cap in setup.remote_caps.items():
            assert sum(1 for t in remote if t.service == service) <= cap
        joins = [ev for ev in log if isinstance(ev, e.RemoteJoined)]
        for key in {j.device for j in joins}:
            assert sum(1 for j in joins if j.device == key) <= setup.remote_per_device
        for key in {j.address for j in joins}:
            assert sum(1 for j in joins if j.address == key) <= setup.remote_per_address
        # one code per open ticket of the day
        codes = [t.arrival_code for t in remote if t.status in ("waiting", "called")]
        assert len(codes) == len(set(codes))
    note("a remote ticket was called" if any(isinstance(ev, e.TicketCalled) and ev.ticket.remote for ev in log)
         else "no remote ticket called")
    assert msgspec.json.encode(fold(initial, [decode_event(encode_event(ev)) for ev in log])) == \
        msgspec.json.encode(state)


def day(setup, *script):
    rules = QueueRules(setup)
    state = rules.handle(setup.initial_state(), c.Tick(), START)[0]
    log = []
    for minutes, command in script:
        state, events = rules.handle(state, command, START + timedelta(minutes=minutes))
        log += events
    return state, log


def join(code: str, device: str = "a" * 32, address: str = "d" * 32, service: str = "pay") -> c.JoinRemotely:
    return c.JoinRemotely(service=service, device=device, address=address, code=code, by="admin.web")


def test_a_remote_ticket_keeps_its_place_and_is_called_once_its_customer_is_here():
    script = [(0, join("1001")), (1, c.IssueTicket(service="pay", by="kiosk.k1")), (2, c.CallNext(counter="c2"))]
    state, log = day(BASE, *script)
    a001, a002 = state.tickets["20261123-A001"], state.tickets["20261123-A002"]
    # the same numbering as the kiosk's; not here yet: the kiosk's A002 is called first, A001 keeps its place
    assert (a001.remote, a001.arrived, a001.status, a002.status) == (True, False, "waiting", "called")
    state, log = day(BASE, *script, (3, c.CheckIn(code="1001", by="kiosk.k1")), (4, c.CallNext(counter="c2")))
    arrived = [ev for ev in log if isinstance(ev, e.TicketArrived)]
    assert len(arrived) == 1 and arrived[0].by == "kiosk.k1"
    assert state.tickets["20261123-A001"].status == "called"
    # "skip": its turn came before it arrived: a no-show, put back like any
    state, log = day(dataclasses.replace(BASE, remote_unconfirmed="skip"), *script)
    assert state.tickets["20261123-A001"].status == "no_show" and state.tickets["20261123-A001"].reason == "not_arrived"
    assert state.tickets["20261123-A002"].status == "called"


def test_the_cap_and_the_limits_are_refused_with_what_was_reached():
    state, _ = day(BASE, (0, join("1001")), (1, join("1002")))
    rules = QueueRules(BASE)
    at = START + timedelta(minutes=2)
    with pytest.raises(RequestError) as refused:                       # the phone's 2 a day
        rules.handle(state, join("1003"), at)
    assert refused.value.code == "remote_limit"
    with pytest.raises(RequestError) as refused:                       # biz: not offered from phones here
        rules.handle(state, join("1003", device="b" * 32, service="nope"), at)
    assert refused.value.code == "unknown_service"
    no_remote = dataclasses.replace(BASE, remote_caps={"pay": 5})
    with pytest.raises(RequestError) as refused:
        QueueRules(no_remote).handle(state, join("1003", device="b" * 32, service="biz"), at)
    assert refused.value.code == "not_allowed"
    with pytest.raises(RequestError) as refused:                       # a code already given today
        rules.handle(state, join("1001", device="b" * 32), at)
    assert refused.value.code == "bad_request"
    capped = dataclasses.replace(BASE, remote_caps={"pay": 2})
    with pytest.raises(RequestError) as refused:
        QueueRules(capped).handle(state, join("1003", device="b" * 32), at)
    assert refused.value.code == "remote_cap"
    # the next business day, the counts start again
    tomorrow = rules.handle(state, c.Tick(), START + timedelta(days=1))[0]
    assert tomorrow.remote_joins == {}


@settings(max_examples=200, deadline=None)
@given(issues=st.lists(st.sampled_from(["normal", "normal", "priority"]), min_size=1, max_size=12),
       which=st.integers(0, 11), places=st.integers(1, 5))
def test_more_time_moves_a_ticket_back_that_many_places_once(issues, which, places):
    rules = QueueRules(BASE)
    state = rules.handle(BASE.initial_state(), c.Tick(), START)[0]
    for i, priority in enumerate(issues):
        state, _ = rules.handle(state, c.IssueTicket(service="pay", priority=priority), START + timedelta(seconds=i))
    now = START + timedelta(minutes=1)
    order = lambda s: [t.id for t in sorted((t for t in s.tickets.values() if t.status == "waiting"),  # noqa: E731
                                            key=lambda t: t.queue_key(now))]
    before = order(state)
    ticket = before[min(which, len(before) - 1)]
    state, events = rules.handle(state, c.PostponeTicket(ticket_id=ticket, places=places), now)
    after = order(state)
    moved = events[0].places
    # it let exactly that many go first (fewer only when fewer waited behind), the others kept their order
    assert moved == min(places, len(before) - 1 - before.index(ticket))
    assert after.index(ticket) == before.index(ticket) + moved
    assert [t for t in after if t != ticket] == [t for t in before if t != ticket]
    with pytest.raises(RequestError) as again:                     # once
        rules.handle(state, c.PostponeTicket(ticket_id=ticket), now)
    assert again.value.code == "not_allowed"
