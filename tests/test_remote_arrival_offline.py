"""A customer who joined from a phone arrives while the controller is away: the kiosk knows the
day's remote tickets (the ``appointments`` op's list), prints their ticket with the number they
hold (no new one) and notes the arrival; once the controller is back it is told, and the ticket is
called as any confirmed one. Real Mosquitto, controller and stub kiosk processes."""
from __future__ import annotations

from hallq.testing import Process, start_controller, wait_until, write_hall_config

R = "hallq/v1/h1"


def test_a_remote_customer_confirms_arriving_at_a_kiosk_while_the_controller_is_away(broker, admin, tmp_path):
    hall = write_hall_config(tmp_path / "hall.toml", broker.port, broker.broker_dir / "credentials.toml",
                             edits={'prefix = "A"\n': 'prefix = "A"\nremote_daily_cap = 10\n'})
    data = tmp_path / "controller-data"
    controller = start_controller(hall, tmp_path, admin, data=data)
    joined = [admin.request("join", service="pay", device=f"{i:032x}", address=f"{i:032x}", code=f"55{i}5")
              for i in range(2)]
    assert all(j["ok"] for j in joined), joined
    mine, other = (j["ticket"]["number"] for j in joined)
    out = tmp_path / "printed"
    kiosk = Process(["kiosk", "--config", str(hall), "--id", "k1", "--stub", "--printer-out", str(out),
                     "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start()
    status = f"{R}/dev/kiosk.k1/status"
    desk = broker.client("counter.c1")
    try:
        admin.wait_for(lambda t, d: t == status and isinstance(d, dict) and d.get("remote") == 2, timeout=20)
        mark = admin.mark()
        controller.stop()
        admin.wait_for(lambda t, d: t == status and isinstance(d, dict) and d.get("mode") != "online", timeout=20,
                       start=mark)
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "check_in", "code": "5505"})
        printed = wait_until(lambda: list(out.glob(f"{mine}*.bin")), what="the remote ticket printed", timeout=15)[0]
        data_bytes = printed.read_bytes()
        assert "已确认到达，排队位次不变".encode("gb18030") in data_bytes
        assert "离线取号".encode("gb18030") not in data_bytes       # not a new number from the lease
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "check_in", "code": "5505"})   # noted already: a slip
        slip = wait_until(lambda: list(out.glob("slip-*.bin")), what="the slip", timeout=15)[0]
        assert "已经签到".encode("gb18030") in slip.read_bytes()
        assert len(list(out.glob("A*.bin"))) == 1
        mark = admin.mark()
        controller = start_controller(hall, tmp_path, admin, data=data)
        admin.wait_for(lambda t, d: t == status and isinstance(d, dict) and d.get("arrivals_unsent") == 0
                       and d.get("mode") == "online", timeout=30, start=mark)
        arrived = admin.wait_for(lambda t, d: t == f"{R}/event" and d.get("type") == "ticket_arrived", start=mark)
        assert arrived["ticket"]["number"] == mine and arrived["by"] == "kiosk.k1"
        # the one who came is called; the other, still on the way, is not (remote_unconfirmed = "wait")
        called = desk.request("call_next")
        assert called["ok"] and called["ticket"]["number"] == mine, called
        assert not desk.request("call_next")["ok"]
        tickets = admin.request("snapshot")["state"]["tickets"]
        assert sum(1 for t in tickets.values() if t["number"] == mine) == 1           # one ticket, never two
        assert not next(t for t in tickets.values() if t["number"] == other)["arrived"]
    finally:
        desk.close()
        kiosk.stop()
        controller.stop()
    assert "Traceback" not in kiosk.output()
