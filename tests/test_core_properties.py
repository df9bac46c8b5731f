"""The pure core under random command sequences (hypothesis): the hall's invariants hold."""
from __future__ import annotations

import math

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hallq.runtime.config import load_config
from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.events import decode_event, encode_event
from hallq.core.model import HallState
from hallq.core.forecast import forecast
from hallq.core.rules import QueueRules, fold, waiting_tickets
from hallq.core.forecast import newcomer_waits
from hallq.core.queries import latest_issue, waiting_ahead
from hallq.runtime.setup import setup_from_config
from hallq.controller.publish import state_document
from hallq.errors import RequestError
from hallq.testing import EXAMPLE_HALL

CONFIG = load_config(EXAMPLE_HALL)
SETUP = setup_from_config(CONFIG)
RULES = QueueRules(SETUP)
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
SERVICES = st.sampled_from(["pay", "biz", "nope"])
COUNTERS = st.sampled_from(["c1", "c2", "c3", "c4"])
KIOSKS = st.sampled_from(["kiosk.k1", "kiosk.k2"])

commands = st.one_of(
    st.builds(c.IssueTicket, service=SERVICES, priority=st.sampled_from(["normal", "priority"]), by=KIOSKS),
    st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.CallNext, counter=COUNTERS),
    st.builds(c.Recall, counter=COUNTERS),
    st.builds(c.Finish, counter=COUNTERS, rating=st.none() | st.integers(1, 3)),
    st.builds(c.Rate, counter=COUNTERS, rating=st.integers(1, 3)),
    st.builds(c.NoShow, counter=COUNTERS),
    st.builds(c.Transfer, counter=COUNTERS, service=SERVICES),
    st.builds(c.SuspendCounter, counter=COUNTERS, reason=st.sampled_from(["", "午休"])),
    st.builds(c.ResumeCounter, counter=COUNTERS),
    st.builds(c.Reinstate, number=st.sampled_from(["A001", "A002", "B001"])),
    st.builds(c.SuspendService, service=SERVICES),
    st.builds(c.ResumeService, service=SERVICES),
    st.builds(c.SetOutage, active=st.booleans(), message=st.none() | st.just("系统故障")),
    st.builds(c.OpenHall), st.builds(c.CloseHall),
    st.builds(c.LeaseNumbers, service=SERVICES, size=st.integers(1, 40), by=KIOSKS),
    st.builds(c.DevicePresence, device=st.sampled_from(["counter.c1", "counter.c2"]), online=st.booleans()),
    st.builds(c.Tick),
    # contract v1.1: call by number, appointments booked and checked in
    st.builds(c.CallTicket, counter=COUNTERS, number=st.sampled_from(["A001", "A002", "B001", "B002", "Z9"])),
    st.builds(c.BookAppointment, code=st.sampled_from(["111", "222", "333"]), service=SERVICES,
              slot=st.integers(-120, 600).map(lambda m: START + timedelta(minutes=m))),
    st.builds(c.CheckIn, code=st.sampled_from(["111", "222", "333", "999"]), by=KIOSKS),
)


def check_invariants(state: HallState) -> None:
    tickets = list(state.tickets.values())
    # unique numbers per service and day (a number carries its service's prefix, also after a transfer)
    assert len({(t.day, t.number) for t in tickets}) == len(tickets)
    # every ticket in exactly one status, consistent with the counters
    at_counters = [cs.ticket for cs in state.counters.values() if cs.ticket is not None]
    assert len(at_counters) == len(set(at_counters)), "a ticket at two counters"
    for t in tickets:
        assert t.status in ("waiting", "called", "served", "no_show", "voided")
        if t.status == "called":
            assert t.counter is not None and state.counters[t.counter].ticket == t.id
        else:
            assert t.id not in at_counters
    for cs in state.counters.values():
        if cs.ticket is not None:
            assert state.tickets[cs.ticket].status == "called"
    # waiting counts equal the tickets waiting
    view = state_document(CONFIG, SETUP, state, 1, 0)
    for service in view["services"]:
        assert service["waiting"] == len(waiting_tickets(state, service["id"]))
    # online numbers never enter a leased block
    for lease in state.leases:
        svc = state.services[lease.service]
        assert svc.next_number <= lease.start
    # an appointment is checked in at most once, and then has its ticket (of its service)
    issued_for = [a.ticket for a in state.appointments.values() if a.status == "checked_in"]
    assert len(issued_for) == len(set(issued_for))
    for a in state.appointments.values():
        if a.status == "checked_in":
            # of its service, unless a clerk transferred it since
            ticket = state.tickets.get(a.ticket)
            assert ticket is not None and (ticket.service == a.service or ticket.transferred_from is not None)
            assert state.tickets[a.ticket].appointment == bool(a.on_time)
        else:
            assert a.ticket is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(commands, st.integers(0, 900)), min_size=1, max_size=60))
def test_random_sequences_keep_invariants_and_replay_exactly(steps):
    state, now = RULES.handle(SETUP.initial_state(), c.Tick(), START)[0], START
    log = []
    for command, advance in steps:
        now += timedelta(seconds=advance)
        state, events = RULES.handle(state, c.Tick(), now)
        log += events
        before = msgspec.json.encode(state)
        try:
            state, events = RULES.handle(state, command, now)
        except RequestError as err:
            assert err.code and err.message
            assert msgspec.json.encode(state) == before, "a refused command changed the state"
            continue
        log += events
        check_invariants(state)
    # the stored events (through JSON) rebuild the same state
    initial = RULES.handle(SETUP.initial_state(), c.Tick(), START)
    replayed = fold(initial[0], [decode_event(encode_event(ev)) for ev in log])
    assert msgspec.json.encode(replayed) == msgspec.json.encode(state)


def run(state, *cmds, now=START):
    events = []
    for cmd in cmds:
        state, evs = RULES.handle(state, cmd, now)
        events += evs
    return state, events


def fresh(now=START):
    return RULES.handle(SETUP.initial_state(), c.Tick(), now)[0]


def test_priority_first_then_issue_time_and_transfer_keeps_issue_time():
    s = fresh()
    s, _ = run(s, c.IssueTicket(service="biz"), now=START)
    s, _ = run(s, c.IssueTicket(service="pay"), now=START + timedelta(minutes=1))
    s, _ = run(s, c.IssueTicket(service="pay", priority="priority"), now=START + timedelta(minutes=2))
    s, ev = run(s, c.CallNext(counter="c1"), now=START + timedelta(minutes=3))
    assert ev[-1].ticket.number == "A002"          # priority first
    s, ev = run(s, c.CallNext(counter="c2"), now=START + timedelta(minutes=3))
    assert ev[-1].ticket.number == "A001"          # c2 serves pay only
    s, ev = run(s, c.Transfer(counter="c2", service="biz"), now=START + timedelta(minutes=4))
    s, ev = run(s, c.CallNext(counter="c4"), now=START + timedelta(minutes=5))
    assert ev[-1].ticket.number == "B001"          # B001 issued before A001
    s, ev = run(s, c.CallNext(counter="c4"), now=START + timedelta(minutes=6))
    assert ev[-1].ticket.number == "A001" and ev[0].ticket.status == "served"


def test_service_order_counter_prefers_its_first_service():
    s = fresh()
    s, _ = run(s, c.IssueTicket(service="pay"), c.IssueTicket(service="biz"))
    s, ev = run(s, c.CallNext(counter="c3"))      # c3: ["biz", "pay"], service_order
    assert ev[-1].ticket.number == "B001"


def test_numbers_restart_each_business_day_and_unfinished_are_carried():
    s = fresh()
    s, _ = run(s, c.IssueTicket(service="pay"), c.IssueTicket(service="pay"))
    tomorrow = START + timedelta(days=1)
    s, ev = RULES.handle(s, c.Tick(), tomorrow)
    assert ev[0].day == "2026-11-24"
    s, ev = run(s, c.IssueTicket(service="pay"), now=tomorrow)
    assert ev[0].ticket.number == "A001" and ev[0].ticket.day == "2026-11-24"
    assert len(waiting_tickets(s, "pay")) == 3


def test_hours_close_issuing_but_counters_keep_serving():
    from hallq.runtime.config import parse_config
    import tomllib
    data = tomllib.loads(EXAMPLE_HALL.read_text())
    data["hall"]["hours"] = [["09:00", "12:00"], ["13:00", "17:00"]]
    cfg = parse_config(data)
    rules, setup = QueueRules(setup_from_config(cfg)), setup_from_config(cfg)
    s, _ = rules.handle(setup.initial_state(), c.Tick(), START)
    assert s.mode == "open"
    s, _ = rules.handle(s, c.IssueTicket(service="pay"), START)
    noon = START.replace(hour=12, minute=0, second=1)
    s, ev = rules.handle(s, c.Tick(), noon)
    assert s.mode == "closed" and ev[0].by == "schedule"
    with pytest.raises(RequestError) as err:
        rules.handle(s, c.IssueTicket(service="pay"), noon)
    assert err.value.code == "hall_closed"
    s, ev = rules.handle(s, c.CallNext(counter="c1"), noon)
    assert ev[-1].ticket.number == "A001"
    # the operator opens early; the schedule takes over again at the next boundary
    s, _ = rules.handle(s, c.OpenHall(), noon)
    assert s.mode == "open"
    s, _ = rules.handle(s, c.Tick(), START.replace(hour=13, minute=0, second=1))
    assert s.mode == "open" and s.override is None
    s, _ = rules.handle(s, c.Tick(), START.replace(hour=17, minute=0, second=1))
    assert s.mode == "closed"


def newcomer(s, service: str, now=START) -> int:
    doc = state_document(CONFIG, SETUP, s, 1, 0, now=now)
    return next(x for x in doc["services"] if x["id"] == service)["est_wait_s"]


def test_estimated_wait_plays_the_calls_forward_on_the_open_counters():
    s = fresh()
    s, _ = run(s, *[c.IssueTicket(service="biz") for _ in range(5)])
    # biz (420 s) is served by c1, c3 and c4, all free: three called at once, two when the first
    # three are done; a newcomer is the sixth: called at 420 s
    assert newcomer(s, "biz") == 420
    s, _ = run(s, c.SuspendCounter(counter="c3"), c.SuspendCounter(counter="c4"))
    # one counter left: the sixth is called after five services there, or when a paused counter
    # returns after the hall's typical pause (30 min until measured), whichever comes first
    assert newcomer(s, "biz") == min(5 * 420, int(s.pause_s)) == 1800
    # a pause measured at 10 minutes: the paused counters are expected back sooner
    later = START + timedelta(seconds=600)
    s, _ = run(s, c.ResumeCounter(counter="c3"), c.SuspendCounter(counter="c3"), now=later)
    assert s.pause_s < 1800
    # c1 has been idle for 10 minutes while five waited: nobody is calling there, so only the paused
    # counters' return is counted on (c4 back at 840 s, c3 at 1,440 s; the newcomer is the sixth) ...
    assert newcomer(s, "biz", later) == 2100
    # ... and once c1 calls again, it is
    busy, _ = run(s, c.CallNext(counter="c1"), now=later)
    assert newcomer(busy, "biz", later) < 1800
    # a measured service time of 60 s pulls the average (420 s) down
    s, _ = run(s, c.CallNext(counter="c1"), now=START)
    s, _ = run(s, c.Finish(counter="c1"), now=START + timedelta(seconds=60))
    assert s.services["biz"].avg_service_s < 420


def test_a_counter_busy_for_a_while_frees_sooner_and_shared_counters_split_their_time():
    s = fresh()
    # c1 serves pay and biz; it called a pay customer 100 s ago (pay: 150 s measured)
    s, _ = run(s, c.SuspendCounter(counter="c2"), c.SuspendCounter(counter="c3"), c.SuspendCounter(counter="c4"),
               c.IssueTicket(service="pay"), c.CallNext(counter="c1"), now=START - timedelta(seconds=100))
    pay = s.services["pay"]
    expected = pay.occupancy_s or pay.avg_service_s
    assert newcomer(s, "biz") == math.ceil(expected - 100)
    # an older pay ticket waiting at the shared counter goes first: the biz newcomer waits for it too
    s, _ = run(s, c.IssueTicket(service="pay"), now=START - timedelta(seconds=50))
    assert newcomer(s, "biz") == math.ceil(expected - 100 + expected)


def test_a_booked_slot_that_begins_while_you_wait_goes_ahead_of_you():
    s = fresh()
    s, _ = run(s, *[c.SuspendCounter(counter=k) for k in ("c3", "c4")], c.IssueTicket(service="biz"))
    biz_only = newcomer(s, "biz")
    s, _ = run(s, c.BookAppointment(by="admin.ctl", code="YY1", service="biz", slot=START + timedelta(seconds=60)))
    # the slot begins before the walk-in ahead is done: the booked customer is called before a newcomer
    assert newcomer(s, "biz") == biz_only + math.ceil(s.services["biz"].occupancy_s or s.services["biz"].avg_service_s)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["pay", "biz"]), st.booleans()), min_size=1, max_size=25),
       st.sets(COUNTERS, max_size=3))
def test_estimates_follow_the_calling_order_and_match_what_was_told(issues, suspended):
    s = fresh()
    s, _ = run(s, *[c.SuspendCounter(counter=k) for k in sorted(suspended)])
    told = {}
    for i, (service, priority) in enumerate(issues):
        now = START + timedelta(seconds=i)
        promised = newcomer(s, service, now) if not priority else None
        s, ev = run(s, c.IssueTicket(service=service, priority="priority" if priority else "normal"), now=now)
        ticket = ev[0].ticket
        if promised is not None:
            # the wait printed on the ticket is the one the screen showed a moment before
            assert ticket.est_wait_s == promised
        told[ticket.id] = ticket
    now = START + timedelta(seconds=len(issues))
    waits = forecast(SETUP, s, now).waits
    for service in ("pay", "biz"):
        queue = sorted((t for t in s.tickets.values() if t.service == service and t.status == "waiting"),
                       key=lambda t: t.queue_key(now))
        estimates = [waits[t.id] for t in queue]
        assert estimates == sorted(estimates)          # nobody behind is told a shorter wait


def test_rating_once_within_window_and_reinstate_window():
    s = fresh()
    s, _ = run(s, c.IssueTicket(service="pay"), c.IssueTicket(service="pay"), c.CallNext(counter="c1"), c.Finish(counter="c1"))
    s, ev = run(s, c.Rate(counter="c1", rating=2))
    assert ev[0].ticket.rating == 2
    with pytest.raises(RequestError) as err:
        run(s, c.Rate(counter="c1", rating=1))
    assert err.value.code == "already_rated"
    s, _ = run(s, c.CallNext(counter="c1"), c.NoShow(counter="c1"))
    late = START + timedelta(seconds=CONFIG.hall.no_show_reinstate_s + 1)
    with pytest.raises(RequestError) as err:
        RULES.handle(s, c.Reinstate(number="A002"), late)
    assert err.value.code == "too_late"
    s, ev = RULES.handle(s, c.Reinstate(number="A002"), START + timedelta(seconds=60))
    assert ev[0].ticket.status == "waiting"


def test_leases_come_from_the_top_and_never_meet_online_numbers():
    s = fresh()
    s, ev = run(s, c.LeaseNumbers(service="pay", size=20, by="kiosk.k1"))
    assert (ev[0].start, ev[0].end) == (980, 999)
    s, ev = run(s, c.LeaseNumbers(service="pay", size=20, by="kiosk.k2"))
    assert (ev[0].start, ev[0].end) == (960, 979)
    s, ev = run(s, c.PlaceOfflineTicket(number="A985", service="pay", issued_at=START, by="kiosk.k1"))
    assert ev[0].ticket.offline
    with pytest.raises(RequestError):
        run(s, c.PlaceOfflineTicket(number="A985", service="pay", issued_at=START, by="kiosk.k2"))
    with pytest.raises(RequestError):
        run(s, c.PlaceOfflineTicket(number="A970", service="pay", issued_at=START, by="kiosk.k1"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["pay", "biz"]), st.sampled_from(["normal", "priority"]),
                          st.integers(0, 5), st.sampled_from(["waiting", "waiting", "called", "served"]),
                          st.none() | st.integers(-3, 8)),
                min_size=1, max_size=30),
       st.integers(0, 6))
def test_waiting_ahead_counts_exactly_the_tickets_called_before_it(rows, now_minute):
    from msgspec.structs import replace
    from hallq.core.model import Ticket
    from hallq.core.rules import waiting_ahead
    state = fresh()
    tickets = {}
    now = START + timedelta(minutes=now_minute)
    for i, (service, priority, minute, status, slot) in enumerate(rows):
        appointment = slot is not None and priority == "normal"
        t = Ticket(id=f"t{i}", number=f"A{i + 1:03d}", service=service, priority=priority, status=status,
                   issued_at=START + timedelta(minutes=minute), day="2026-11-23", order=i,
                   appointment=appointment, slot=START + timedelta(minutes=slot) if appointment else None)
        tickets[t.id] = t
    state = replace(state, tickets=tickets)
    for t in tickets.values():
        expected = sum(1 for o in tickets.values()
                       if o.status == "waiting" and o.service == t.service and o.queue_key(now) < t.queue_key(now))
        assert waiting_ahead(state, t, now) == expected


# --- contract v1.1: suspend at any time, call by number, appointments ---------------------------
def test_suspend_while_serving_keeps_the_ticket_and_refuses_new_calls():
    s, _ = run(fresh(), c.IssueTicket(service="pay"), c.IssueTicket(service="pay"), c.CallNext(counter="c2"))
    s, events = run(s, c.SuspendCounter(counter="c2", reason="离开岗位"))
    assert [type(e).__name__ for e in events] == ["CounterSuspended"]
    assert s.counters["c2"].suspended and s.tickets[s.counters["c2"].ticket].number == "A001"
    doc = state_document(CONFIG, SETUP, s, 1, 0)
    c2 = next(k for k in doc["counters"] if k["id"] == "c2")
    assert c2["status"] == "suspended" and c2["ticket"]["number"] == "A001"
    for refused in (c.CallNext(counter="c2"), c.CallTicket(counter="c2", number="A002")):
        try:
            run(s, refused)
            raise AssertionError("a suspended counter called a ticket")
        except RequestError as err:
            assert err.code == "counter_suspended"
    s, _ = run(s, c.Recall(counter="c2"))                 # recall, finish keep working
    s, _ = run(s, c.Finish(counter="c2"))
    assert s.counters["c2"].ticket is None and s.counters["c2"].suspended


def test_call_by_number_out_of_order_and_its_errors():
    s, _ = run(fresh(), *[c.IssueTicket(service="pay") for _ in range(3)], c.IssueTicket(service="biz"))
    s, events = run(s, c.CallTicket(counter="c2", number="A003"))
    called = events[-1]
    assert called.ticket.number == "A003" and called.out_of_order and called.counter == "c2"
    s, events = run(s, c.CallNext(counter="c2"))          # then the queue goes on in order
    assert [type(e).__name__ for e in events] == ["TicketServed", "TicketCalled"]
    assert events[-1].ticket.number == "A001" and not events[-1].out_of_order
    for cmd, code in ((c.CallTicket(counter="c2", number="A003"), "unknown_ticket"),   # served now
                      (c.CallTicket(counter="c2", number="A404"), "unknown_ticket"),
                      (c.CallTicket(counter="c2", number="B001"), "not_allowed")):     # c2 serves pay only
        try:
            run(s, cmd)
            raise AssertionError(f"{cmd} was not refused")
        except RequestError as err:
            assert err.code == code, (cmd, err)


def test_appointment_on_time_goes_ahead_of_walk_ins_once_its_slot_began():
    slot = START + timedelta(minutes=30)
    s, _ = run(fresh(), c.BookAppointment(code="8812", service="pay", slot=slot))
    s, _ = run(s, c.IssueTicket(service="pay"), c.IssueTicket(service="pay"), now=START + timedelta(minutes=5))
    s, events = run(s, c.CheckIn(code="8812", by="kiosk.k1"), now=START + timedelta(minutes=20))
    ticket = events[-1].ticket
    assert ticket.appointment and ticket.slot == slot and ticket.number == "A003"
    assert ticket.waiting_ahead == 2                    # its slot has not begun: behind the earlier walk-ins
    s, _ = run(s, c.IssueTicket(service="pay"), now=START + timedelta(minutes=25))
    s, events = run(s, c.CallNext(counter="c2"), now=START + timedelta(minutes=31))
    assert events[-1].ticket.number == "A003"           # slot begun: ahead of every walk-in
    assert s.appointments["8812"].status == "checked_in" and s.appointments["8812"].on_time


def test_appointment_codes_work_once_and_late_ones_become_walk_ins():
    slot = START + timedelta(minutes=10)
    s, _ = run(fresh(), c.BookAppointment(code="1", service="biz", slot=slot),
               c.BookAppointment(code="2", service="biz", slot=slot))
    for cmd, code in ((c.CheckIn(code="nope"), "unknown_appointment"),
                      (c.BookAppointment(code="1", service="biz", slot=slot), "not_allowed"),
                      (c.BookAppointment(code="3", service="nope", slot=slot), "unknown_service")):
        try:
            run(s, cmd)
            raise AssertionError(f"{cmd} was not refused")
        except RequestError as err:
            assert err.code == code
    try:
        run(s, c.CheckIn(code="1"), now=slot - timedelta(seconds=SETUP.appointment_early_s + 60))
        raise AssertionError("checked in hours early")
    except RequestError as err:
        assert err.code == "too_early" and "08:10" in err.message   # a 09:10 slot opens an hour before
    s, events = run(s, c.CheckIn(code="1"), now=slot)
    assert events[-1].ticket.appointment
    try:
        run(s, c.CheckIn(code="1"), now=slot)
        raise AssertionError("checked in twice")
    except RequestError as err:
        assert err.code == "already_checked_in"
    late = slot + timedelta(seconds=SETUP.appointment_late_s + 1)
    s, events = run(s, c.CheckIn(code="2"), now=late)
    assert not events[-1].ticket.appointment and events[-1].ticket.issued_at == late
    assert s.appointments["2"].on_time is False


def test_alerts_are_raised_kept_and_cleared_by_the_rules():
    s, _ = run(fresh(), c.IssueTicket(service="biz"), c.IssueTicket(service="pay"))
    # biz is served by c1, c3 and c4: with all three suspended, people wait for a service nobody serves
    s, _ = run(s, *(c.SuspendCounter(counter=k) for k in ("c1", "c3", "c4")), c.Tick())
    assert s.alerts["unserved:biz"].severity == "critical" and "unserved:pay" not in s.alerts
    since = s.alerts["unserved:biz"].since
    s, events = run(s, c.Tick(), now=START + timedelta(seconds=30))
    assert events == []                                   # stable while it lasts: no event every tick
    # c2 (pay) is open and idle while A001 waits: after idle_alert_s it is an alert
    s, _ = run(s, c.Tick(), now=START + timedelta(seconds=SETUP.idle_alert_s))
    assert "idle_counter:c2" in s.alerts
    s, _ = run(s, c.CallNext(counter="c2"), c.Tick(), now=START + timedelta(seconds=SETUP.idle_alert_s + 1))
    assert "idle_counter:c2" not in s.alerts
    # someone has waited beyond the service level
    later = START + timedelta(seconds=SETUP.service_level_wait_s + 1)
    s, _ = run(s, c.Tick(), now=later)
    assert "long_wait:biz" in s.alerts and s.alerts["unserved:biz"].since == since
    s, events = run(s, c.ResumeCounter(counter="c3"), c.Tick(), now=later)
    assert "unserved:biz" not in s.alerts and any(isinstance(ev, e.AlertCleared) for ev in events)
    # devices: a printer out of paper, a counter offline
    s, _ = run(s, c.DeviceStatus(device="kiosk.k1", status={"printer": "paper_out"}),
               c.DevicePresence(device="counter.c4", online=False), c.Tick(), now=later)
    assert s.alerts["printer:kiosk.k1"].severity == "critical" and "offline:counter.c4" in s.alerts
    s, _ = run(s, c.DeviceStatus(device="kiosk.k1", status={"printer": "ok"}), c.Tick(), now=later)
    assert "printer:kiosk.k1" not in s.alerts
    doc = state_document(CONFIG, SETUP, s, 1, 0)
    assert {a["id"] for a in doc["alerts"]} == set(s.alerts) and all(a["since"] for a in doc["alerts"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(-3 * 86400, 3 * 86400), st.sampled_from(["pay", "biz"])), min_size=1,
                max_size=40))
def test_a_clock_going_back_and_forth_never_reissues_a_number_nor_starts_a_day_twice(jumps):
    """A Pi without RTC boots with a stale time, then NTP corrects it."""
    state = fresh()
    days = [state.day]
    ids: list[str] = []
    for offset, service in jumps:
        now = START + timedelta(seconds=offset)
        state, events = RULES.handle(state, c.Tick(), now)
        days += [ev.day for ev in events if isinstance(ev, e.DayStarted)]
        try:
            state, events = RULES.handle(state, c.IssueTicket(service=service), now)
        except RequestError:
            continue
        ids += [ev.ticket.id for ev in events if isinstance(ev, e.TicketIssued)]
    assert days == sorted(set(days)), "a business day started twice, or went back"
    assert len(ids) == len(set(ids)), "a ticket id was issued twice"
    by_day: dict[str, list] = {}
    for t in state.tickets.values():
        by_day.setdefault(t.day, []).append(t)
    for tickets in by_day.values():          # within a day, issue order is never reversed by the clock
        ordered = sorted(tickets, key=lambda t: t.order)
        assert all(a.issued_at <= b.issued_at for a, b in zip(ordered, ordered[1:]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(commands, st.integers(0, 900)), min_size=1, max_size=40),
       burst=st.lists(st.tuples(st.sampled_from(["pay", "biz"]), st.sampled_from(["normal", "normal", "priority"]),
                                KIOSKS, st.sampled_from([0, 0, 0, 1, 30])), min_size=1, max_size=25),
       gap=st.integers(0, 3))
def test_walk_ins_issued_in_a_burst_get_the_wait_a_whole_play_gives(steps, burst, gap):
    """The controller estimates a burst of walk-ins issued at one instant by following one play
    (hallq/core/forecast.py, Newcomers); each estimate is the one a play of the whole queue gives,
    whatever the hall's counters, pauses, calls, appointments and priority tickets are, also when
    the burst goes on over several batches."""
    from hallq.core.forecast import play_wait
    state, now = RULES.handle(SETUP.initial_state(), c.Tick(), START)[0], START
    for command, advance in steps:
        now += timedelta(seconds=advance)
        state, _ = RULES.handle(state, c.Tick(), now)
        try:
            state, _ = RULES.handle(state, command, now)
        except RequestError:
            continue
    now += timedelta(seconds=gap)
    for service, priority, kiosk, later in burst:
        if later:                       # the next batch: time moved on (its Tick as the controller runs it)
            now += timedelta(seconds=later)
            state, _ = RULES.handle(state, c.Tick(), now)
        before = state
        # what the state document tells a newcomer is what a play of the whole queue tells it
        if latest_issue(state, now) == now:
            assert newcomer_waits(SETUP, state, now, now) == forecast(SETUP, state, now).newcomer
        try:
            state, events = RULES.handle(state, c.IssueTicket(service=service, priority=priority, by=kiosk), now)
        except RequestError:
            continue
        issued = events[-1].ticket
        bare = msgspec.structs.replace(issued, waiting_ahead=0, est_wait_s=0)
        told = issued.est_wait_s if issued.est_known else None      # None: nobody calling reaches it
        assert told == play_wait(SETUP, before, bare, now), (service, priority)
        assert issued.waiting_ahead == waiting_ahead(before, bare, now)
