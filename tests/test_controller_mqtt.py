"""The controller against a real Mosquitto, driven only through the contract's topics."""
from __future__ import annotations

import json
import sqlite3

import pytest

from hallq.testing import Broker, TestClient, start_controller

R = "hallq/v1/h1"


def kiosk_client(broker: Broker, kiosk: str = "kiosk.k1") -> TestClient:
    return broker.client(kiosk, subscribe=[f"{R}/dev/{kiosk}/res", f"{R}/state", f"{R}/event"])


def counter_client(broker: Broker, counter: str = "counter.c1") -> TestClient:
    return broker.client(counter, subscribe=[f"{R}/dev/{counter}/res", f"{R}/state"])


def test_issue_call_finish_round_trip(broker, controller, admin):
    kiosk, counter = kiosk_client(broker), counter_client(broker)
    first = kiosk.request("issue", service="pay")
    second = kiosk.request("issue", service="pay", priority="priority")
    assert first["ok"] and second["ok"], (first, second)
    assert first["ticket"]["number"] == "A001" and second["ticket"]["number"] == "A002"
    assert first["ticket"]["status"] == "waiting" and first["ticket"]["waiting_ahead"] == 0
    assert second["ticket"]["est_wait_s"] >= 0
    called = counter.request("call_next")
    # priority first, though issued later
    assert called["ok"] and called["ticket"]["number"] == "A002" and called["ticket"]["counter"] == "c1"
    mark = admin.mark()
    called2 = counter.request("call_next")
    assert called2["ticket"]["number"] == "A001"
    done = counter.request("finish", rating=1)
    assert done["ok"] and done["ticket"]["status"] == "served" and done["ticket"]["rating"] == 1
    nothing = counter.request("call_next")
    assert nothing == {"request_id": nothing["request_id"], "ok": False,
                       "error": {"code": "no_ticket", "message": nothing["error"]["message"]}}
    state = admin.state(lambda s: s["counters"][0]["status"] == "idle" and s["services"][0]["waiting"] == 0,
                        start=mark)
    assert state["hall"] == "h1" and state["mode"] == "open"
    assert [c["number"] for c in state["recent_calls"][:2]] == ["A001", "A002"]
    # events: contiguous seq, the right types, call events carry ticket and counter
    events = admin.events()
    seqs = [ev["seq"] for ev in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    types = [ev["type"] for ev in events]
    for needed in ("ticket_issued", "ticket_called", "ticket_served"):
        assert needed in types
    call = next(ev for ev in events if ev["type"] == "ticket_called")
    assert call["counter"] == "c1" and call["ticket"]["number"] == "A002" and call["epoch"] >= 1
    kiosk.close(), counter.close()


def test_duplicate_request_id_gets_same_reply_and_changes_nothing(broker, controller, admin):
    kiosk = kiosk_client(broker)
    a = kiosk.request("issue", request_id="dup-1", service="biz")
    b = kiosk.request("issue", request_id="dup-1", service="biz")
    assert a == b and a["ticket"]["number"] == "B001"
    c = kiosk.request("issue", service="biz")
    assert c["ticket"]["number"] == "B002"
    kiosk.close()


@pytest.mark.parametrize("payload,code,field", [
    (b"not json", "bad_request", None),
    (b"[1,2]", "bad_request", None),
    (json.dumps({"op": "issue", "request_id": "x1", "service": 5}).encode(), "bad_request", "service"),
    (json.dumps({"op": "issue", "request_id": "x2"}).encode(), "bad_request", "service"),
    (json.dumps({"op": "issue", "request_id": "x3", "service": "pay", "priority": "vip"}).encode(), "bad_request", "priority"),
    (json.dumps({"op": "teleport", "request_id": "x4"}).encode(), "unknown_op", None),
    (json.dumps({"op": "call_next", "request_id": "x5"}).encode(), "not_allowed", None),
    (json.dumps({"op": "issue", "request_id": "x6", "service": "nope"}).encode(), "unknown_service", None),
    (json.dumps({"op": "issue", "request_id": "y" * 65, "service": "pay"}).encode(), "bad_request", "request_id"),
])
def test_malformed_payloads_answered_and_change_nothing(broker, controller, admin, payload, code, field):
    kiosk = kiosk_client(broker)
    start = kiosk.mark()
    kiosk.publish(f"{R}/dev/kiosk.k1/req", payload)
    reply = kiosk.wait_for(lambda t, d: t.endswith("/res"), start=start)
    assert reply["ok"] is False and reply["error"]["code"] == code, reply
    if field:
        assert field in reply["error"]["message"]
    # still alive and nothing was issued
    ok = kiosk.request("issue", service="pay")
    assert ok["ticket"]["number"] == "A001"
    kiosk.close()


def test_sigkill_and_restart_loses_nothing(broker, hall_config, admin, tmp_path):
    ctl = start_controller(hall_config, tmp_path, admin)
    kiosk = kiosk_client(broker)
    numbers = [kiosk.request("issue", service="pay")["ticket"]["number"] for _ in range(5)]
    counter = counter_client(broker)
    assert counter.request("call_next")["ticket"]["number"] == "A001"
    before = admin.state(lambda s: s["services"][0]["waiting"] == 4 and s["counters"][0]["ticket"] is not None)
    ctl.kill()
    admin.wait_for(lambda t, d: t == f"{R}/presence/controller" and d == {"online": False, "epoch": before["epoch"]})
    ctl2 = start_controller(hall_config, tmp_path, admin)
    try:
        after = admin.state(lambda s: s["epoch"] == before["epoch"] + 1, start=0)
        assert after["seq"] == before["seq"]
        assert after["services"][0]["waiting"] == 4
        assert after["counters"][0]["ticket"]["number"] == "A001"
        # a resent request from before the crash gets its old reply; numbers go on
        nxt = kiosk.request("issue", service="pay")
        assert nxt["ticket"]["number"] == "A006" and numbers == ["A001", "A002", "A003", "A004", "A005"]
        ev = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_issued" and d["ticket"]["number"] == "A006")
        assert ev["seq"] == before["seq"] + 1 and ev["epoch"] == before["epoch"] + 1
    finally:
        ctl2.stop()
        kiosk.close(), counter.close()


def test_repeated_request_after_restart_gets_stored_reply(broker, hall_config, admin, tmp_path):
    ctl = start_controller(hall_config, tmp_path, admin)
    kiosk = kiosk_client(broker)
    first = kiosk.request("issue", request_id="persist-1", service="pay")
    ctl.kill()
    ctl = start_controller(hall_config, tmp_path, admin)
    try:
        again = kiosk.request("issue", request_id="persist-1", service="pay")
        assert again == first
        assert kiosk.request("issue", service="pay")["ticket"]["number"] == "A002"
    finally:
        ctl.stop()
        kiosk.close()


def test_counter_presence_offline_shows_offline(broker, controller, admin):
    counter = broker.client("counter.c2", subscribe=[])
    counter.publish(f"{R}/presence/counter.c2", {"online": True, "boot": 3}, retain=True)
    admin.state(lambda s: s["devices"].get("counter.c2", {}).get("online") is True)
    counter.publish(f"{R}/presence/counter.c2", {"online": False, "boot": 3}, retain=True)
    state = admin.state(lambda s: next(c for c in s["counters"] if c["id"] == "c2")["status"] == "offline")
    assert state["devices"]["counter.c2"]["online"] is False
    counter.close()


def test_device_status_shown_in_state(broker, controller, admin):
    kiosk = kiosk_client(broker)
    kiosk.publish(f"{R}/dev/kiosk.k1/status", {"printer": "paper_out"}, retain=True)
    state = admin.state(lambda s: s["devices"].get("kiosk.k1", {}).get("printer") == "paper_out")
    assert state["devices"]["kiosk.k1"]["printer"] == "paper_out"
    kiosk.close()


def test_admin_ops_and_service_suspension(broker, controller, admin):
    kiosk, counter = kiosk_client(broker), counter_client(broker)
    assert kiosk.request("issue", service="biz")["ok"]
    r = admin.request("suspend_service", service="biz")
    assert r["ok"] and r["service"]["suspended"] is True
    refused = kiosk.request("issue", service="biz")
    assert refused["error"]["code"] == "service_suspended"
    # those already issued are still served
    assert counter.request("call_next")["ticket"]["number"] == "B001"
    assert admin.request("resume_service", service="biz")["service"]["suspended"] is False
    r = admin.request("outage", active=True, message="系统故障，请在休息区等候")
    assert r["hall"]["mode"] == "outage"
    st = admin.state(lambda s: s["mode"] == "outage")
    assert st["message"] == "系统故障，请在休息区等候"
    assert admin.request("outage", active=False)["hall"]["mode"] == "open"
    assert admin.request("announce", text="今日缴费窗口延时服务")["hall"]["announcements"] == ["今日缴费窗口延时服务"]
    assert admin.request("close")["hall"]["mode"] == "closed"
    assert kiosk.request("issue", service="pay")["error"]["code"] == "hall_closed"
    # counters keep serving after closing
    assert counter.request("finish")["ok"]
    assert admin.request("open")["hall"]["mode"] == "open"
    assert kiosk.request("issue", service="pay")["ok"]
    # kiosks may not do operators' work
    assert kiosk.request("close")["error"]["code"] == "not_allowed"
    kiosk.close(), counter.close()


def test_counter_suspend_resume_transfer_no_show_recall(broker, controller, admin):
    kiosk, counter = kiosk_client(broker), counter_client(broker)
    c3 = counter_client(broker, "counter.c3")
    kiosk.request("issue", service="pay")
    kiosk.request("issue", service="pay")
    r = counter.request("call_next")
    assert r["ticket"]["number"] == "A001"
    assert counter.request("recall")["ticket"]["recalls"] == 1
    t = counter.request("transfer", service="biz")
    assert t["ticket"]["service"] == "biz" and t["ticket"]["status"] == "waiting"
    # the transferred ticket keeps its issue time: c3 (biz first) gets it before nothing else
    assert c3.request("call_next")["ticket"]["number"] == "A001"
    assert counter.request("call_next")["ticket"]["number"] == "A002"
    ns = counter.request("no_show")
    assert ns["ticket"]["status"] == "no_show"
    back = counter.request("reinstate", number="A002")
    assert back["ok"] and back["ticket"]["status"] == "waiting"
    s = counter.request("suspend", reason="午休")
    assert s["counter"]["status"] == "suspended"
    assert counter.request("call_next")["error"]["code"] == "counter_suspended"
    assert counter.request("resume")["counter"]["status"] == "idle"
    assert counter.request("call_next")["ticket"]["number"] == "A002"
    assert counter.request("login", clerk="王芳")["counter"]["clerk"] == "王芳"
    kiosk.close(), counter.close(), c3.close()


def test_lease_sync_and_void_by_issue_request(broker, controller, admin):
    kiosk = kiosk_client(broker)
    lease = kiosk.request("lease", service="pay", size=5)
    assert lease["ok"] and lease["lease"]["first"] == "A995" and lease["lease"]["last"] == "A999"
    online = kiosk.request("issue", service="pay")
    assert online["ticket"]["number"] == "A001"
    issued_at = online["ticket"]["issued_at"]
    sync = kiosk.request("sync", tickets=[
        {"number": "A995", "service": "pay", "issued_at": issued_at},
        {"number": "A500", "service": "pay", "issued_at": issued_at},
    ])
    assert [t["number"] for t in sync["tickets"]] == ["A995"] and sync["tickets"][0]["offline"] is True
    assert sync["rejected"][0]["number"] == "A500"
    again = kiosk.request("sync", tickets=[{"number": "A995", "service": "pay", "issued_at": issued_at}])
    assert [t["id"] for t in again["tickets"]] == [t["id"] for t in sync["tickets"]]
    state = admin.state(lambda s: s["services"][0]["waiting"] == 2)
    assert state["services"][0]["waiting"] == 2
    # a kiosk gave up on request "lost-1" before the controller saw it: cancelled, never issued
    v = kiosk.request("void", issue_request_id="lost-1", reason="gave up")
    assert v["ok"] and v["ticket"] is None
    late = kiosk.request("issue", request_id="lost-1", service="pay")
    assert late["ok"] is False and late["error"]["code"] == "cancelled"
    # one it did see is voided
    seen = kiosk.request("issue", request_id="seen-1", service="pay")
    v2 = kiosk.request("void", issue_request_id="seen-1", reason="gave up")
    assert v2["ticket"]["id"] == seen["ticket"]["id"] and v2["ticket"]["status"] == "voided"
    kiosk.close()


def test_records_are_in_sqlite(broker, controller, admin, tmp_path):
    kiosk = kiosk_client(broker)
    kiosk.request("issue", service="pay")
    db = sqlite3.connect(tmp_path / "controller-data" / "controller.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    types = [r[0] for r in db.execute("SELECT type FROM events ORDER BY seq")]
    assert "ticket_issued" in types
    assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1
    kiosk.close()


def test_kill_during_a_burst_every_request_applied_exactly_once(broker, hall_config, admin, tmp_path):
    """SIGKILL mid-burst; devices resend with the same ids; nothing lost, nothing doubled."""
    # one client plays a kiosk far faster than a kiosk may ask (hallq/controller/fairness.py): no rate limit here
    hall_config.write_text(hall_config.read_text("utf-8").replace("[hall]\n", "[hall]\nkiosk_rate_per_s = 0\n", 1),
                           "utf-8")
    ctl = start_controller(hall_config, tmp_path, admin)
    kiosk = kiosk_client(broker)
    res = f"{R}/dev/kiosk.k1/res"
    ids = [f"burst-{i}" for i in range(200)]
    start = kiosk.mark()
    for rid in ids:
        kiosk.c.publish(f"{R}/dev/kiosk.k1/req", json.dumps({"op": "issue", "request_id": rid, "service": "pay"}).encode(), qos=1)
    # let some be answered, then cut the power of the controller
    kiosk.wait_for(lambda t, d: t == res and d["request_id"] == "burst-30", start=start)
    ctl.kill()
    with kiosk.cond:
        before = {d["request_id"]: d for d in (json.loads(p) for t, p, _ in kiosk.messages[start:] if t == res)}
    assert before, "some replies came before the kill"
    ctl = start_controller(hall_config, tmp_path, admin)
    try:
        after = {rid: kiosk.request("issue", request_id=rid, service="pay") for rid in ids}
        # replies given before the crash are given again, unchanged
        for rid, reply in before.items():
            assert after[rid] == reply
        numbers = [after[rid]["ticket"]["number"] for rid in ids]
        assert sorted(numbers) == [f"A{i:03d}" for i in range(1, 201)]
        state = admin.state(lambda s: s["services"][0]["waiting"] == 200)
        assert state["services"][0]["waiting"] == 200
    finally:
        ctl.stop()
        kiosk.close()
