"""A flooding kiosk cannot crowd out a counter nor use up the day's numbers (issue 11, finding 4).
Real Mosquitto and controller; the flood is a plain client with a kiosk's password."""
from __future__ import annotations

import json

from hall.fairness import FairInbox, RateLimits, kiosk_limits
from hall.mqttlink import Inbound, LinkUp
from hall.topics import Topics

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
    """(That the counter does not wait behind the flood is the batching's test above: over a loopback
    broker the refusals are answered too fast to tell the orders apart by timing.)"""
    flood = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    counter = broker.client("counter.c1", subscribe=[f"{R}/dev/counter.c1/res"])
    try:
        for i in range(1500):                                    # as fast as one client can publish
            flood.c.publish(f"{R}/dev/kiosk.k1/req", json.dumps(
                {"op": "issue", "request_id": f"flood-{i}", "service": "pay"}).encode(), qos=1)
        called = counter.request("call_next")
        assert called["ok"] and called["ticket"]["number"] == "A001"
        last = flood.wait_for(lambda t, d: isinstance(d, dict) and d.get("request_id") == "flood-1499", timeout=60)
        with flood.cond:
            results = [json.loads(p) for t, p, _ in flood.messages if t.endswith("/res")]
        issued = [r for r in results if r.get("ok")]
        limited = [r for r in results if not r.get("ok") and r["error"]["code"] == "rate_limited"]
        assert last is not None and len(issued) + len(limited) == len(results)
        assert 40 <= len(issued) < 200 and len(limited) > 1300   # a burst, then 4 a second: not 999 numbers
    finally:
        flood.close()
        counter.close()


def test_a_flapping_device_status_is_recorded_at_most_every_two_seconds(broker, controller, admin):
    """Issue 11, finding 5 (in part): 500 status changes in a moment are not 500 stored events; the
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
