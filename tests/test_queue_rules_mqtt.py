"""Contract v1.1 queue rules through a real Mosquitto and a real controller process: suspend at
any time, call a ticket by number, appointments booked and checked in (by plain clients, by
`hallq ctl` and by a stub kiosk that prints)."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hallq.testing import Process, wait_until

R = "hallq/v1/h1"
TZ = ZoneInfo("Asia/Shanghai")


def client(broker, device: str):
    return broker.client(device, subscribe=[f"{R}/dev/{device}/res", f"{R}/state", f"{R}/event"])


def counter_entry(state: dict, counter: str) -> dict:
    return next(c for c in state["counters"] if c["id"] == counter)


def test_suspend_while_serving_keeps_the_ticket_and_refuses_calls(broker, controller, admin):
    kiosk, counter = client(broker, "kiosk.k1"), client(broker, "counter.c2")
    try:
        for _ in range(2):
            assert kiosk.request("issue", service="pay")["ok"]
        assert counter.request("call_next")["ticket"]["number"] == "A001"
        mark = admin.mark()
        suspended = counter.request("suspend", reason="离开岗位")
        assert suspended["ok"] and suspended["counter"]["status"] == "suspended"
        assert suspended["counter"]["ticket"]["number"] == "A001"
        state = admin.state(lambda s: counter_entry(s, "c2")["status"] == "suspended", start=mark)
        assert counter_entry(state, "c2")["ticket"]["number"] == "A001"
        assert counter_entry(state, "c2")["suspend_reason"] == "离开岗位"
        assert counter.request("call_next")["error"]["code"] == "counter_suspended"
        assert counter.request("call", number="A002")["error"]["code"] == "counter_suspended"
        assert counter.request("recall")["ticket"]["recalls"] == 1
        done = counter.request("finish")
        assert done["ok"] and done["ticket"]["number"] == "A001" and done["ticket"]["status"] == "served"
        state = admin.state_after("ticket_served", start=mark)
        assert counter_entry(state, "c2")["ticket"] is None
        assert counter_entry(state, "c2")["status"] == "suspended"
        assert counter.request("resume")["counter"]["status"] == "idle"
        assert counter.request("call_next")["ticket"]["number"] == "A002"
    finally:
        kiosk.close(), counter.close()


def test_call_a_ticket_out_of_order(broker, controller, admin):
    kiosk, counter = client(broker, "kiosk.k1"), client(broker, "counter.c2")
    try:
        numbers = [kiosk.request("issue", service="pay")["ticket"]["number"] for _ in range(3)]
        assert kiosk.request("issue", service="biz")["ok"]
        assert numbers == ["A001", "A002", "A003"]
        mark = admin.mark()
        called = counter.request("call", number="A003")
        assert called["ok"] and called["ticket"]["number"] == "A003" and called["ticket"]["counter"] == "c2"
        event = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_called", start=mark)
        assert event["out_of_order"] is True and event["ticket"]["number"] == "A003" and event["counter"] == "c2"
        assert counter.request("call", number="A003")["error"]["code"] == "unknown_ticket"   # not waiting now
        assert counter.request("call", number="B001")["error"]["code"] == "not_allowed"      # c2 serves pay only
        nxt = counter.request("call_next")
        assert nxt["ticket"]["number"] == "A001"
        plain = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_called"
                               and d["ticket"]["number"] == "A001", start=mark)
        assert plain["out_of_order"] is False
    finally:
        kiosk.close(), counter.close()


def test_book_and_check_in_through_the_contract(broker, controller, admin):
    kiosk = client(broker, "kiosk.k1")
    try:
        now = datetime.now(TZ)
        booked = admin.request("book", service="biz", slot=(now - timedelta(minutes=5)).isoformat(), code="A-77")
        assert booked["ok"] and booked["appointment"]["code"] == "A-77" and booked["appointment"]["service"] == "biz"
        made = admin.request("book", service="pay", slot=(now + timedelta(minutes=20)).isoformat())
        assert made["ok"] and len(made["appointment"]["code"]) == 10, made    # the controller made the code
        assert admin.request("book", service="biz", slot=now.isoformat(), code="A-77")["error"]["code"] == "not_allowed"
        walk_in = kiosk.request("issue", service="biz")["ticket"]
        checked = kiosk.request("check_in", code="A-77")
        assert checked["ok"] and checked["ticket"]["appointment"] is True and checked["ticket"]["service"] == "biz"
        assert checked["ticket"]["waiting_ahead"] == 0            # its slot began: ahead of the walk-in
        assert kiosk.request("check_in", code="A-77")["error"]["code"] == "already_checked_in"
        assert kiosk.request("check_in", code="nope")["error"]["code"] == "unknown_appointment"
        c4 = client(broker, "counter.c4")
        try:
            assert c4.request("call_next")["ticket"]["number"] == checked["ticket"]["number"]
            assert c4.request("call_next")["ticket"]["number"] == walk_in["number"]
        finally:
            c4.close()
    finally:
        kiosk.close()


def ctl(config: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "ctl", "--config", str(config), *words],
                          capture_output=True, text=True, timeout=60)


def test_ctl_calls_books_and_imports(broker, controller, hall_config, admin, tmp_path):
    kiosk = client(broker, "kiosk.k1")
    try:
        kiosk.request("issue", service="pay"), kiosk.request("issue", service="pay")
        called = ctl(hall_config, "call", "A002", "c1")
        assert called.returncode == 0 and "ok: ticket A002 is called at c1" in called.stdout, called.stderr
        assert ctl(hall_config, "call", "A404", "c1").returncode == 1
        assert ctl(hall_config, "call", "A001").returncode == 2                      # usage: the counter
        booked = ctl(hall_config, "book", "pay", "23:59", "K1")
        assert booked.returncode == 0 and "code K1" in booked.stdout, booked.stderr
        assert ctl(hall_config, "book", "pay", "half past two").returncode == 2
        csv_file = tmp_path / "slots.csv"
        tomorrow = (datetime.now(TZ) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")
        csv_file.write_text(f"\ufeffcode,service,slot\nK2,biz,{tomorrow}\nK1,pay,{tomorrow}\n,nope,{tomorrow}\n", "utf-8")
        imported = ctl(hall_config, "import-appointments", str(csv_file))
        assert imported.returncode == 1, imported.stdout + imported.stderr          # two of three refused
        assert "booked K2 biz" in imported.stdout and "1 booked, 2 refused" in imported.stdout
        assert "not_allowed" in imported.stderr and "unknown_service" in imported.stderr
    finally:
        kiosk.close()


def test_stub_kiosk_prints_an_appointment_ticket_or_a_slip(broker, controller, hall_config, admin, tmp_path):
    out = tmp_path / "printed"
    proc = Process(["kiosk", "--config", str(hall_config), "--id", "k1", "--stub", "--printer-out", str(out),
                    "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start()
    try:
        admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"))
        slot = datetime.now(TZ).replace(second=0, microsecond=0)
        assert admin.request("book", service="pay", slot=slot.isoformat(), code="QR-1")["ok"]
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "check_in", "code": "QR-1"})
        ticket = wait_until(lambda: list(out.glob("A*.bin")), what="the appointment ticket", timeout=15)[0]
        data = ticket.read_bytes()
        assert f"预约 {slot:%H:%M}".encode("gb18030") in data
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "check_in", "code": "QR-1"})
        slip = wait_until(lambda: list(out.glob("slip-*.bin")), what="the refusal slip", timeout=15)[0]
        assert "已经签到".encode("gb18030") in slip.read_bytes()
        assert len(list(out.glob("A*.bin"))) == 1                # no second ticket for one code
    finally:
        proc.stop()
    assert "Traceback" not in proc.output()


def test_the_controller_raises_and_clears_alerts_in_its_state(broker, controller, admin):
    kiosk = client(broker, "kiosk.k1")
    try:
        mark = admin.mark()
        kiosk.publish(f"{R}/dev/kiosk.k1/status", {"printer": "paper_out"}, retain=True)
        state = admin.state(lambda s: any(a["id"] == "printer:kiosk.k1" for a in s.get("alerts", [])), start=mark)
        alert = next(a for a in state["alerts"] if a["id"] == "printer:kiosk.k1")
        assert alert["severity"] == "critical" and alert["kind"] == "printer" and alert["since"]
        raised = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "alert_raised", start=mark)
        assert raised["alert"]["id"] == "printer:kiosk.k1"
        kiosk.publish(f"{R}/dev/kiosk.k1/status", {"printer": "ok"}, retain=True)
        admin.state(lambda s: not any(a["id"] == "printer:kiosk.k1" for a in s.get("alerts", [])), start=mark)
        admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "alert_cleared"
                       and d["id"] == "printer:kiosk.k1", start=mark)
    finally:
        kiosk.close()


def test_check_in_while_the_controller_is_away_then_sync(broker, hall_config, admin, tmp_path):
    """The kiosk keeps the day's bookings; offline it checks in from the lease; the sync marks them."""
    from hallq.testing import start_controller
    controller = start_controller(hall_config, tmp_path, admin)
    slot = datetime.now(TZ).replace(second=0, microsecond=0)
    for code in ("OFF-1", "OFF-2"):
        assert admin.request("book", service="pay", slot=slot.isoformat(), code=code)["ok"]
    out = tmp_path / "printed"
    proc = Process(["kiosk", "--config", str(hall_config), "--id", "k1", "--stub", "--printer-out", str(out),
                    "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start()
    status = f"{R}/dev/kiosk.k1/status"
    try:
        admin.wait_for(lambda t, d: t == status and isinstance(d, dict) and d.get("bookings") == 2
                       and all(n > 0 for n in d.get("lease", {}).values()), timeout=20)
        mark = admin.mark()
        controller.stop()
        admin.wait_for(lambda t, d: t == status and isinstance(d, dict) and d.get("mode") != "online", timeout=20,
                       start=mark)
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "check_in", "code": "OFF-1"})
        ticket = wait_until(lambda: list(out.glob("A*.bin")), what="the offline appointment ticket", timeout=15)[0]
        data = ticket.read_bytes()
        assert f"预约 {slot:%H:%M}".encode("gb18030") in data and "离线取号".encode("gb18030") in data
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "check_in", "code": "OFF-1"})     # used: a slip
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "check_in", "code": "NOPE"})      # unknown here: to the desk
        slips = wait_until(lambda: sorted(out.glob("slip-*.bin")) if len(list(out.glob("slip-*.bin"))) == 2 else None,
                           what="two refusal slips", timeout=15)
        texts = b"".join(s.read_bytes() for s in slips)
        assert "已经签到".encode("gb18030") in texts and "暂停签到".encode("gb18030") in texts
        assert len(list(out.glob("A*.bin"))) == 1
        mark = admin.mark()
        controller = start_controller(hall_config, tmp_path, admin)
        admin.wait_for(lambda t, d: t == status and isinstance(d, dict) and d.get("unsynced") == 0
                       and d.get("mode") == "online", timeout=30, start=mark)
        # the controller took the offline check-in: the code is used, the ticket queues as the booking
        k2 = client(broker, "kiosk.k2")
        again = k2.request("check_in", code="OFF-1")
        assert not again["ok"] and again["error"]["code"] == "already_checked_in"
        assert k2.request("check_in", code="OFF-2")["ok"]                               # the other one is free
        k2.close()
        snap = admin.request("snapshot")
        tickets = snap["state"]["tickets"]
        placed = next(t for t in tickets.values() if t["number"] == ticket.stem)
        assert placed["offline"] and placed["appointment"] and placed["slot"]
    finally:
        proc.stop()
        controller.stop()
    assert "Traceback" not in proc.output()


def test_calling_rules_change_mid_day_as_events_from_ctl_and_from_the_hall_file(broker, hall_config, admin, tmp_path):
    """`hallq ctl rules` changes the calling rules for the rest of the day (an event, in the state);
    a hall file edited between two runs is recorded at the start, and the file wins from then on."""
    from hallq.testing import start_controller
    # `hallq ctl` connects as admin.ctl: a watcher of its own (the screen's account, no screen runs here)
    admin.close()
    admin = broker.client("display.d1", subscribe=[f"{R}/state", f"{R}/event", f"{R}/presence/controller"])
    controller = start_controller(hall_config, tmp_path, admin)
    try:
        mark = admin.mark()
        done = subprocess.run([sys.executable, "-m", "hallq", "ctl", "--config", str(hall_config), "rules",
                               "priority_per_normal=2", "ageing_s=1200"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "an operator's, for the rest of the day" in done.stdout and "priority_per_normal=2" in done.stdout
        changed = admin.wait_for(lambda t, d: t == f"{R}/event" and d.get("type") == "rules_changed", start=mark)
        assert changed["rules"]["ageing_s"] == 1200 and changed["before"]["ageing_s"] == 0
        assert changed["by"] == "admin.ctl" and not changed["file"]
        state = admin.state(lambda s: s.get("rules", {}).get("by") == "operator", start=mark)
        assert state["rules"]["priority_per_normal"] == 2
        # a bad value changes nothing and says what was wrong
        refused = subprocess.run([sys.executable, "-m", "hallq", "ctl", "--config", str(hall_config), "rules",
                                  "ageing_s=99999999"], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "bad_request" in refused.stderr and "ageing_s" in refused.stderr
        assert subprocess.run([sys.executable, "-m", "hallq", "ctl", "--config", str(hall_config), "rules",
                               "speed=3"], capture_output=True, text=True, timeout=60).returncode == 2
    finally:
        controller.stop()
    # the hall file now says auto_call_s = 90: the next start records it, and it replaces the operator's rules
    hall_config.write_text(hall_config.read_text("utf-8").replace("[hall]\n", "[hall]\nauto_call_s = 90\n", 1), "utf-8")
    mark = admin.mark()
    controller = start_controller(hall_config, tmp_path, admin)
    try:
        changed = admin.wait_for(lambda t, d: t == f"{R}/event" and d.get("type") == "rules_changed", start=mark)
        assert changed["file"] and changed["rules"]["auto_call_s"] == 90 and changed["rules"]["ageing_s"] == 0
        assert changed["before"]["ageing_s"] == 1200          # what was in force until then: the operator's
        state = admin.state(lambda s: s.get("rules", {}).get("by") == "file", start=mark)
        assert state["rules"]["auto_call_s"] == 90
    finally:
        controller.stop()
    # started again with the same file: nothing to record (its first state comes after its first batch)
    mark = admin.mark()
    controller = start_controller(hall_config, tmp_path, admin)
    try:
        admin.state(lambda s: s["epoch"] > state["epoch"] and s["rules"]["auto_call_s"] == 90, start=mark)
        assert not [d for d in admin.events(mark) if d.get("type") == "rules_changed"]
    finally:
        controller.stop()
        admin.close()
