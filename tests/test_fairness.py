"""A flooding kiosk cannot crowd out a counter nor use up the day's numbers.
Real Mosquitto and controller; the flood is a plain client with a kiosk's password."""
from __future__ import annotations

import json

from hypothesis import given, strategies as st

from hallq.controller.fairness import FairInbox, LaneCopies, RateLimits, kiosk_limits
from hallq.runtime.mqttlink import Inbound, LinkUp
from hallq.contract.topics import Topics

R = "hallq/v1/h1"


def test_batches_take_each_sender_in_turn_and_keep_its_order():
    topics = Topics("h1")
    fair = FairInbox(topics)
    for i in range(100):
        fair.add(Inbound(topics.request("kiosk.k1"), f"k{i}".encode(), False))
    fair.add(Inbound(topics.request("counter.c1"), b"c0", False))
    fair.add(LinkUp())
    batch = fair.take(16)
    assert isinstance(batch[0], LinkUp)                          # link and presence news first
    payloads = [b.payload for b in batch[1:]]
    assert b"c0" in payloads and payloads.index(b"c0") <= 8      # the counter does not wait behind 100
    kiosk = [p for p in payloads if p.startswith(b"k")]
    assert kiosk == sorted(kiosk, key=lambda p: int(p[1:]))      # one sender's order kept
    assert fair.size == 102 - 16


def test_a_kiosk_is_limited_to_a_burst_then_its_rate():
    rates = RateLimits(kiosk_limits(4.0, 40))
    allowed = sum(rates.allow("kiosk.k1", "issue", 0.0) for _ in range(100))
    assert allowed == 40
    assert sum(rates.allow("kiosk.k1", "issue", 1.0) for _ in range(10)) == 4   # a second later: 4 more
    assert all(rates.allow("counter.c1", "call_next", 0.0) for _ in range(100))  # counters are not limited
    assert RateLimits(kiosk_limits(0, 40)).allow("kiosk.k1", "issue", 0.0)


def test_a_flood_from_one_kiosk_does_not_use_the_day_up(broker, controller, admin):
    """1,500 issues as fast as one client can publish: a burst of 10 numbers then one every 2 s (a
    printer's pace), not 999;
    the refusals mostly unanswered (2 a second at most), so the replies cannot swamp the hall; the
    counter is answered; an honest resend after the flood is answered once."""
    flood = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    counter = broker.client("counter.c1", subscribe=[f"{R}/dev/counter.c1/res"])
    mark = admin.mark()
    try:
        for i in range(1500):
            flood.c.publish(f"{R}/dev/kiosk.k1/req", json.dumps(
                {"op": "issue", "request_id": f"flood-{i}", "service": "pay"}).encode(), qos=1)
        called = counter.request("call_next")
        assert called["ok"] and called["ticket"]["number"] == "A001"
        after, tries, refused = None, 0, None
        for _ in range(30):                       # as a kiosk does: the same id again until answered
            try:
                after = flood.request("issue", request_id=f"after-flood-{tries}", timeout=1, service="pay")
            except TimeoutError:
                continue                          # unanswered: not stored, the same id is judged again
            if after["ok"]:
                break
            assert after["error"]["code"] == "rate_limited"
            refused, tries = f"after-flood-{tries}", tries + 1   # answered: that id's one answer; a new press
        assert after is not None and after["ok"], after
        if refused is not None:                   # a copy of an answered refusal is not applied later
            again = flood.request("issue", request_id=refused, service="pay")
            assert not again["ok"] and again["error"]["code"] == "rate_limited", again
        with flood.cond:
            results = [json.loads(p) for t, p, _ in flood.messages if t.endswith("/res")]
        limited = [r for r in results if not r.get("ok") and r["error"]["code"] == "rate_limited"]
        issued = [e for e in admin.events(mark) if e["type"] == "ticket_issued"]
        assert 10 <= len(issued) < 60, len(issued)               # a burst, then one every 2 s: not 999 numbers
        assert len(limited) < 100 and len(results) < 300, (len(limited), len(results))
    finally:
        flood.close()
        counter.close()


def test_a_refusal_answered_is_the_requests_one_answer_even_when_a_copy_comes_later(broker, controller, admin):
    """A kiosk resends a request it has no answer to; a copy may reach the controller after the first
    one's rate_limited refusal was answered. That copy must not issue a ticket: the kiosk took the
    refusal (a "try again" slip) and will never print it, and the hall would call a ticket nobody has."""
    kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    mark = admin.mark()
    try:
        for i in range(10):                                   # the burst
            assert kiosk.request("issue", request_id=f"burst-{i}", service="pay")["ok"]
        refused = kiosk.request("issue", request_id="refused", service="pay")
        assert refused["error"]["code"] == "rate_limited"
        fresh = None
        for i in range(40):                                  # until the bucket has a ticket again
            again = kiosk.request("issue", request_id="refused", timeout=2, service="pay")   # a late copy of it
            assert not again["ok"] and again["error"]["code"] == "rate_limited", f"the copy got {again}"
            try:
                fresh = kiosk.request("issue", request_id=f"fresh-{i}", timeout=1, service="pay")
            except TimeoutError:                              # a refusal not answered (twice a second at most)
                continue
            if fresh["ok"]:
                break
        assert fresh is not None and fresh["ok"], fresh
        admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_issued"
                       and d["ticket"]["number"] == fresh["ticket"]["number"], start=mark)
        issued = [e["ticket"]["number"] for e in admin.events(mark) if e["type"] == "ticket_issued"]
        assert len(issued) == 11 and issued[-1] == fresh["ticket"]["number"], issued
    finally:
        kiosk.close()


def test_a_sender_beyond_its_share_of_waiting_is_dropped_and_counted():
    from hallq.controller.fairness import MAX_WAITING

    fair = FairInbox(Topics("h1"))
    for i in range(MAX_WAITING + 50):
        fair.add(Inbound(f"{R}/dev/kiosk.k1/req", b"%d" % i, False))
    fair.add(Inbound(f"{R}/dev/counter.c1/req", b"next", False))
    assert fair.size == MAX_WAITING + 1 and fair.dropped == {"kiosk.k1": 50}
    first = fair.take(128)
    assert any(m.payload == b"next" for m in first)               # the counter's comes in the first batch
    assert [m.payload for m in first if m.payload != b"next"][:2] == [b"0", b"1"]   # the oldest kept


def test_refusals_of_a_flood_are_answered_twice_a_second_at_most():
    rates = RateLimits(kiosk_limits(4, 40))
    answered = sum(rates.answer_refusal("kiosk.k1", t / 100) for t in range(300))   # 3 s, 100 a second
    assert answered == 6
    assert rates.answer_refusal("kiosk.k2", 0.0)                                  # per device


def test_a_flapping_device_status_is_recorded_at_most_every_two_seconds(broker, controller, admin):
    """500 status changes in a moment are not 500 stored events; the
    newest is the one the hall ends up with."""
    kiosk = broker.client("kiosk.k1", subscribe=[])
    mark = admin.mark()
    try:
        for i in range(500):
            kiosk.c.publish(f"{R}/dev/kiosk.k1/status",
                            json.dumps({"printer": "ok" if i % 2 else "paper_low", "n": i}).encode(), qos=1, retain=True)
        state = admin.state(lambda s: (s.get("devices", {}).get("kiosk.k1") or {}).get("n") == 499,
                            start=mark, timeout=15)
        assert state["devices"]["kiosk.k1"]["printer"] == "ok"
        stored = [e for e in admin.events(mark) if e["type"] == "device_status" and e.get("device") == "kiosk.k1"]
        assert 1 <= len(stored) <= 6, len(stored)
    finally:
        kiosk.close()


def test_counters_screens_and_operators_come_by_their_own_connection(hall_config, tmp_path):
    """The controller's second connection (controller.lane): a counter's "next" is never read after a
    flooding kiosk's backlog, because it is not in that connection at all. A counter's request comes
    by both connections: each send is applied once, whichever copy comes first, and one that came
    only the bulk way (sent while the lane was still subscribing, or down) is applied (nothing is lost)."""
    from hallq.runtime.config import load_config
    from hallq.controller.main import open_controller
    from hallq.runtime.mqttlink import LinkDown
    from hallq.testing import RecordingLink

    ctl = open_controller(load_config(hall_config), tmp_path / "data", link_factory=RecordingLink)
    assert ctl.lane is not None and ctl.lane.client_id == "controller.lane"
    assert f"{R}/dev/counter.c1/req" in ctl.lane.subscriptions and f"{R}/presence/+" in ctl.lane.subscriptions
    assert not [s for s in ctl.lane.subscriptions if "kiosk" in s or s.endswith("/dev/+/req")]
    assert f"{R}/presence/+" not in ctl.link.subscriptions and f"{R}/dev/+/req" in ctl.link.subscriptions
    ctl.apply_batch([LinkUp(), LinkUp("lane")], tick=True)

    def call(rid: str, lane: str, payload: bytes | None = None) -> list[bytes]:
        ctl.link.published.clear()
        payload = payload if payload is not None else json.dumps({"op": "suspend", "request_id": rid}).encode()
        ctl.apply_batch([Inbound(f"{R}/dev/counter.c1/req", payload, False, lane)])
        return [p for t, p, _ in ctl.link.published if t == f"{R}/dev/counter.c1/res"]

    assert len(call("both-ways", "lane")) == 1
    assert call("both-ways", "") == []                 # the bulk copy of a send the lane brought
    assert len(call("bulk-first", "")) == 1            # whichever copy comes first is the one applied
    assert call("bulk-first", "lane") == []
    assert len(call("", "", b"")) == 1 and call("", "lane", b"") == []    # no id to go by: answered once
    # sent while the lane was subscribing: the lane is up by the time its one copy is read
    assert len(call("before-the-lane-subscribed", "")) == 1
    # a resend of an id whose answer was lost: answered again (the stored answer), once
    assert len(call("both-ways", "lane")) == 1 and call("both-ways", "") == []
    ctl.apply_batch([LinkDown("gone", "lane")])
    assert len(call("bulk-while-lane-down", "")) == 1  # the lane is down: the bulk copy is the one
    # a status is retained: the lane gets the latest at its subscription, so its bulk copy is not needed
    ctl.apply_batch([LinkUp("lane")])
    mark = ctl.seq
    ctl.apply_batch([Inbound(f"{R}/dev/counter.c1/status", b'{"keys": "ok"}', True, "")], tick=True)
    assert ctl.seq == mark
    ctl.apply_batch([Inbound(f"{R}/dev/counter.c1/status", b'{"keys": "ok"}', True, "lane")], tick=True)
    assert ctl.seq > mark
    ctl.shutdown()
    # several halls' controllers on one broker (bench/scale.py) each open their lane under their own id
    other = open_controller(load_config(hall_config), tmp_path / "data-h2", link_factory=RecordingLink,
                            client_id="controller-h2")
    assert (other.link.client_id, other.lane.client_id) == ("controller-h2", "controller-h2.lane")
    other.shutdown()


@given(st.lists(st.booleans(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_each_send_of_a_request_is_applied_once_whichever_way_its_copies_come(lane_had_it, rnd):
    """One request id sent (and resent) n times: each send comes the bulk way, and the lane way too
    when the lane had subscribed by then; each way keeps its order, the two interleave at random.
    The first copy to come is applied, and n copies in all: one per send, never one more."""
    bulk = [("bulk", i) for i in range(len(lane_had_it))]
    lane = [("lane", i) for i, had in enumerate(lane_had_it) if had]
    arrivals = []
    while bulk or lane:
        way = bulk if not lane or (bulk and rnd.random() < 0.5) else lane
        arrivals.append(way.pop(0))
    copies, payload = LaneCopies(), b'{"op": "call_next", "request_id": "r1"}'
    applied = [copies.first("counter.c1", payload, way == "lane") for way, _ in arrivals]
    assert applied[0] and sum(applied) == len(lane_had_it)
    if all(lane_had_it):
        assert copies.counts == {}                      # complete pairs are forgotten


def test_the_lane_may_only_read(broker):
    lane = broker.client("controller.lane", subscribe=[f"{R}/dev/+/req"])
    try:
        # acknowledged means handled by the broker: a retained state it accepted would now be kept
        lane.publish(f"{R}/state", {"hall": "forged"}, retain=True)
        counter = broker.client("counter.c1", subscribe=[])
        counter.publish(f"{R}/dev/counter.c1/req", {"op": "suspend", "request_id": "seen"})
        lane.wait_for(lambda t, d: t == f"{R}/dev/counter.c1/req" and d["request_id"] == "seen")
        counter.close()
        reader = broker.client("display.d1", subscribe=[f"{R}/state"])
        try:
            reader.wait_for(lambda t, d: t == f"{R}/state", timeout=2)
            raise AssertionError("the lane could write the hall's state")
        except TimeoutError:
            pass
        finally:
            reader.close()
    finally:
        lane.close()


def test_one_kiosk_cannot_drain_a_service_and_the_hall_never_runs_out(tmp_path):
    """One kiosk's password, pressing at a printer's pace all day: it stops at its share of the
    service (half of 999, or twice the other kiosk's count) with an alert for the supervisors, while
    the other kiosk goes on; past the three-digit numbers the hall goes on with a fourth digit."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from hallq.runtime.config import load_config
    from hallq.core import commands as c
    from hallq.core.rules import QueueRules
    from hallq.errors import RequestError
    from hallq.runtime.setup import setup_from_config
    from hallq.testing import EXAMPLE_HALL

    setup = setup_from_config(load_config(EXAMPLE_HALL))
    rules = QueueRules(setup)
    now = datetime(2026, 12, 4, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    state, _ = rules.handle(setup.initial_state(), c.Tick(), now)
    assert setup.kiosk_cap("k1", "pay", {}) == 499 and setup.kiosk_cap("k1", "pay", {"kiosk.k2|pay": 400}) == 800
    refused = None
    for i in range(600):
        now += timedelta(seconds=2)
        try:
            state, _ = rules.handle(state, c.IssueTicket(by="kiosk.k1", service="pay"), now)
        except RequestError as err:
            refused = (i, err.code)
            break
    assert refused == (499, "kiosk_quota")
    state, _ = rules.handle(state, c.Tick(), now)
    assert "kiosk_quota:kiosk.k1:pay" in state.alerts
    assert state.alerts["kiosk_quota:kiosk.k1:pay"].severity == "warning"
    # the other kiosk goes on, through the three-digit numbers and on into four
    numbers = []
    for _ in range(520):
        now += timedelta(seconds=2)
        state, events = rules.handle(state, c.IssueTicket(by="kiosk.k2", service="pay"), now)
        numbers.append(events[-1].ticket.number)
    assert numbers[0] == "A500" and "A999" in numbers and numbers[-1] == "A1019"
    assert len(set(numbers)) == len(numbers)


def test_a_link_is_up_once_its_subscriptions_are_taken_not_at_the_connection(hall_config):
    """The controller drops the bulk copy of a counter's request while its lane is up: a lane said to
    be up at the connection, before the broker had taken its subscriptions, lost what came between."""
    import queue
    from types import SimpleNamespace

    from hallq.runtime.config import load_config
    from hallq.runtime.mqttlink import LinkDown, MqttLink

    inbox: queue.Queue = queue.Queue()
    link = MqttLink(load_config(hall_config), "controller.lane", inbox, [f"{R}/dev/counter.c1/req"], lane="lane")
    paho = SimpleNamespace(subscribe=lambda topics: (0, 42))
    accepted = SimpleNamespace(is_failure=False)
    link._on_connect(paho, None, None, accepted, None)
    assert inbox.empty()                                   # connected, not subscribed yet: not up
    link._on_disconnect(paho, None, None, "gone", None)
    assert inbox.empty()                                   # never up, so never down
    link._on_connect(paho, None, None, accepted, None)
    link._on_subscribe(paho, None, 41, [], None)           # another subscription's answer
    assert inbox.empty()
    link._on_subscribe(paho, None, 42, [], None)
    up = inbox.get_nowait()
    assert isinstance(up, LinkUp) and up.lane == "lane"
    link._on_disconnect(paho, None, None, "gone", None)
    down = inbox.get_nowait()
    assert isinstance(down, LinkDown) and down.lane == "lane"
