"""The kiosk against a real Mosquitto and the real controller, driven through R/sim like a person.

The kiosk runs in-process (its own owner thread, the stub printer and gpiozero's MockFactory) so
the tests can read the printed bytes; one test runs ``hallq kiosk --stub`` as a real process.
"""
from __future__ import annotations

import os
import pty
import threading
import time
import tty
from pathlib import Path
from typing import Any, Callable

import pytest

from hallq.runtime.config import KioskButtons, load_config
from hallq.runtime.loop import StopFlag
from hallq.device.shell import DeviceShell
from hallq.hardware.pins import make_pin_factory
from hallq.hardware.printers import make_printer
from hallq.kiosk.app import KioskRole
from hallq.kiosk.panel import ButtonPressed
from hallq.kiosk.journal import Journal
from hallq.printer.transport import StubPrinter
from hallq.testing import Process, TestClient, start_controller, wait_until

R = "hallq/v1/h1"
SIM = f"{R}/sim/kiosk.k1"
STATUS = f"{R}/dev/kiosk.k1/status"
# a customer's next press: past the kiosk's bounce time (presses within it are one press)
NEXT_PRESS_S = KioskButtons().bounce_s + 0.05
WAIT = 15.0


def until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    return wait_until(predicate, timeout, what)


class RunningKiosk:
    """A Kiosk with its owner loop in a thread."""

    def __init__(self, config_path: Path, data_dir: Path, out_dir: Path | None = None, printer=None,
                 stub: bool = True) -> None:
        config = load_config(config_path)
        self.printer = printer or StubPrinter(str(out_dir) if out_dir else None)
        self.kiosk = KioskRole(config, "k1", self.printer, make_pin_factory(True), str(data_dir))
        self.shell = DeviceShell(config, "kiosk.k1", self.kiosk, stub=stub, data_dir=str(data_dir))
        self.stop_flag = StopFlag()
        self.thread = threading.Thread(target=self.shell.run, args=(self.stop_flag,), daemon=True)
        self.thread.start()
        self.stopped = False

    def wait_ready(self, admin: TestClient) -> None:
        """Connected and subscribed (its presence, sent after SUBSCRIBE, reached the broker), and it
        has heard the controller's retained presence: a press now is issued online."""
        admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and d == {"online": True, "boot": self.shell.boot})
        until(lambda: self.shell.available, what="the kiosk hears the controller")

    def tickets(self) -> list[str]:
        return [label for label in list(self.kiosk.printed) if not label.startswith("slip")]

    def wait_leases(self, minimum: int = 10) -> None:
        until(lambda: all(self.kiosk.journal.remaining(s, self.kiosk.today()) >= minimum
                          for s in self.kiosk.kiosk.services), what="leases")

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.stop_flag.set()
        self.thread.join(5)


@pytest.fixture
def run_kiosk(hall_config, tmp_path):
    made: list[RunningKiosk] = []

    def make(**kw) -> RunningKiosk:
        kw.setdefault("out_dir", tmp_path / "tickets")
        running = RunningKiosk(hall_config, tmp_path / "kiosk-data", **kw)
        made.append(running)
        return running

    yield make
    for running in made:
        running.stop()


def issued_numbers(admin: TestClient) -> list[str]:
    return [ev["ticket"]["number"] for ev in admin.events() if ev["type"] == "ticket_issued"]


def test_press_prints_the_controllers_number(controller, admin, run_kiosk, tmp_path):
    k = run_kiosk()
    k.wait_ready(admin)
    admin.publish(SIM, {"press": "pay"})
    until(lambda: k.tickets(), what="a ticket")
    assert k.tickets() == ["A001"]
    assert issued_numbers(admin) == ["A001"]
    data = (tmp_path / "tickets" / "A001.bin").read_bytes()
    assert data.startswith(b"\x1b@\x1c&")                    # FS &: Chinese mode
    assert "城东供电营业厅".encode("gb18030") in data and "缴费".encode("gb18030") in data
    assert b"A001" in data and data.endswith(b"\x1dVB\x00")  # then the cut
    assert (tmp_path / "tickets" / "A001.png").stat().st_size > 1000
    # a bounce / double press: the second press comes while the first ticket is on its way
    mark = admin.mark()
    admin.publish(SIM, {"press": "biz"})
    admin.publish(SIM, {"press": "biz"})
    until(lambda: len(k.tickets()) == 2, what="second ticket")
    admin.state(lambda s: next(x for x in s["services"] if x["id"] == "biz")["waiting"] == 1, start=mark)
    time.sleep(1.0)                                          # would a second one still come?
    assert k.tickets() == ["A001", "B001"]
    assert issued_numbers(admin) == ["A001", "B001"]
    # priority button then a service button
    mark = admin.mark()
    admin.publish(SIM, {"press": "pay", "priority": True})
    until(lambda: len(k.tickets()) == 3, what="priority ticket")
    # the reply (which the kiosk prints from) goes out before the event: the event is waited for
    event = admin.wait_for(lambda t, d: t.endswith("/event") and d.get("type") == "ticket_issued", start=mark)
    assert event["ticket"]["number"] == "A002" and event["ticket"]["priority"] == "priority"
    assert "优先".encode("gb18030") in (tmp_path / "tickets" / "A002.bin").read_bytes()


def test_paper_out_issues_nothing_and_says_why(controller, admin, run_kiosk, broker):
    k = run_kiosk()
    k.wait_ready(admin)
    admin.publish(SIM, {"printer": "paper_out"})
    admin.wait_for(lambda t, d: t == STATUS and d.get("printer") == "paper_out")
    mark = admin.mark()
    admin.publish(SIM, {"press": "pay"})
    until(lambda: k.kiosk.model.reason == "printer paper_out", what="press handled")
    time.sleep(0.5)
    assert k.tickets() == [] and issued_numbers(admin) == []
    assert all(ev["type"] != "ticket_issued" for ev in admin.events(mark))
    # retained: a client arriving later learns why, and the lamps blink
    mark = admin.mark()
    admin.c.subscribe(STATUS, 1)                             # subscribing again resends the retained one
    status = admin.wait_for(lambda t, d: t == STATUS, start=mark)
    assert admin.messages[-1][2] or any(r for t, _, r in admin.messages[mark:] if t == STATUS)
    assert status["printer"] == "paper_out" and status["lamps"]["pay"] == "fast"
    # the controller's state carries it too
    admin.state(lambda s: s["devices"].get("kiosk.k1", {}).get("printer") == "paper_out")
    admin.publish(SIM, {"printer": "ok"})
    admin.wait_for(lambda t, d: t == STATUS and d.get("printer") == "ok")
    time.sleep(NEXT_PRESS_S)
    admin.publish(SIM, {"press": "pay"})
    until(lambda: k.tickets() == ["A001"], what="ticket after paper refilled")


def test_print_failure_after_issue_voids_the_ticket(controller, admin, run_kiosk):
    k = run_kiosk()
    k.wait_ready(admin)
    admin.publish(SIM, {"printer_fail_next": "paper_out"})
    admin.publish(SIM, {"press": "pay"})
    voided = admin.wait_for(lambda t, d: t == f"{R}/event" and d.get("type") == "ticket_voided")
    assert voided["ticket"]["number"] == "A001" and voided["ticket"]["status"] == "voided"
    assert k.tickets() == []
    admin.wait_for(lambda t, d: t == STATUS and d.get("printer") == "paper_out")
    state = admin.state_after("ticket_voided")
    assert next(x for x in state["services"] if x["id"] == "pay")["waiting"] == 0
    until(lambda: k.kiosk.journal.pending_voids() == [], what="void answered")


def test_bad_sim_payloads_change_nothing(controller, admin, run_kiosk):
    k = run_kiosk()
    k.wait_ready(admin)
    for payload in (b"{", b"[]", b'{"press": 3}', b'{"press": "nope"}', b'{"printer": "melted"}', b"\xff"):
        admin.publish(SIM, payload)
    time.sleep(0.5)
    assert k.tickets() == [] and k.printer.condition == "ok" and issued_numbers(admin) == []
    assert k.thread.is_alive()
    admin.publish(SIM, {"press": "pay"})
    until(lambda: k.tickets() == ["A001"], what="a ticket after bad payloads")


def test_controller_killed_offline_tickets_then_synced_in_place(broker, hall_config, admin, run_kiosk, tmp_path):
    data = tmp_path / "controller-data"
    ctl = start_controller(hall_config, tmp_path, admin, data)
    try:
        k = run_kiosk()
        k.wait_leases(20)
        first_lease = k.kiosk.journal.remaining("pay", k.kiosk.today())
        admin.publish(SIM, {"press": "pay"})
        until(lambda: k.tickets() == ["A001"], what="online ticket")
        ctl.kill()                                      # power cut: no goodbye
        time.sleep(NEXT_PRESS_S)
        admin.publish(SIM, {"press": "pay"})            # unanswered: after offline_after_s, from the lease
        until(lambda: len(k.tickets()) == 2, timeout=WAIT, what="first offline ticket")
        time.sleep(NEXT_PRESS_S)
        admin.publish(SIM, {"press": "biz"})
        until(lambda: len(k.tickets()) == 3, what="second offline ticket")
        time.sleep(NEXT_PRESS_S)
        admin.publish(SIM, {"press": "pay", "priority": True})
        until(lambda: len(k.tickets()) == 4, what="third offline ticket")
        offline = k.tickets()[1:]
        assert offline[0] == "A980" and offline[1] == "B980" and offline[2] == "A981"
        assert k.kiosk.journal.remaining("pay", k.kiosk.today()) == first_lease - 2
        assert "离线取号".encode("gb18030") in (tmp_path / "tickets" / "A980.bin").read_bytes()
        status = admin.wait_for(lambda t, d: t == STATUS and d.get("mode") == "offline" and d.get("unsynced") == 3)
        assert status["lamps"]["pay"] == "slow"
        # the controller comes back: the journal is synced, the gave-up issue is cancelled
        mark = admin.mark()
        ctl = start_controller(hall_config, tmp_path, admin, data)
        until(lambda: k.kiosk.journal.count("synced") == 3, what="journal synced")
        until(lambda: k.kiosk.journal.pending_voids() == [], what="void of the unanswered issue")
        state = admin.state(lambda s: sum(x["waiting"] for x in s["services"]) == 4, start=mark)
        assert k.kiosk.journal.count("rejected") == 0
        # placed by issue time: calls come as A981 (priority), A001, A980 (pay), B980 for counter c1
        counter = broker.client("counter.c1", subscribe=[f"{R}/dev/counter.c1/res"])
        called = [counter.request("call_next")["ticket"]["number"] for _ in range(4)]
        counter.close()
        assert called == ["A981", "A001", "A980", "B980"]
        # nothing doubled: each number issued once, the cancelled online request issued nothing
        issued = [ev["ticket"]["number"] for ev in admin.events() if ev["type"] == "ticket_issued"]
        assert sorted(issued) == ["A001", "A980", "A981", "B980"]
        assert all(ev["ticket"]["offline"] for ev in admin.events(mark) if ev["type"] == "ticket_issued")
        # online issuing goes on below the leased blocks
        time.sleep(NEXT_PRESS_S)
        admin.publish(SIM, {"press": "pay"})
        until(lambda: len(k.tickets()) == 5, what="online again")
        assert k.tickets()[-1] == "A002"
        assert state["mode"] == "open"
    finally:
        ctl.stop()


def test_restart_mid_print_neither_loses_nor_doubles(broker, hall_config, admin, controller, tmp_path):
    data = tmp_path / "kiosk-data"
    k = RunningKiosk(hall_config, data, tmp_path / "t1")
    try:
        k.wait_leases(20)
    finally:
        k.stop()
    # as if the kiosk died after journaling a ticket, before the printer confirmed it
    # (its own connection: the kiosk's belongs to the kiosk's owner thread)
    day = k.kiosk.today()
    journal = Journal(str(data / "journal.sqlite"))
    ticket = journal.take_number("biz", day, "normal", k.kiosk.now().isoformat())
    assert ticket is not None
    for _ in range(2):                                  # two restarts: synced once
        again = RunningKiosk(hall_config, data, tmp_path / "t3")
        until(lambda: journal.ticket(day, ticket.number).state == "synced", what="synced")
        time.sleep(0.3)
        again.stop()
    journal.close()
    numbers = [ev["ticket"]["number"] for ev in admin.events() if ev["type"] == "ticket_issued"]
    assert numbers == [ticket.number]
    admin.state(lambda s: next(x for x in s["services"] if x["id"] == "biz")["waiting"] == 1)


class PtyPrinter(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.received = bytearray()
        self.stopping = threading.Event()

    def run(self) -> None:
        import select
        while not self.stopping.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            self.received += chunk
            for i in range(len(chunk) - 2):
                if chunk[i:i + 2] == b"\x10\x04":
                    os.write(self.master, b"\x12")          # all well


def test_serial_printer_over_pty_end_to_end(broker, hall_config, admin, controller, tmp_path):
    fake = PtyPrinter()
    fake.start()
    config = load_config(hall_config)
    cfg = config.kiosk[0].printer
    cfg.transport, cfg.device, cfg.width_mm = "serial", fake.path, 58
    printer = make_printer(cfg, stub=False)
    k = RunningKiosk(hall_config, tmp_path / "kiosk-data", printer=printer, stub=False)
    try:
        k.wait_ready(admin)
        pin = k.kiosk.panel.buttons["biz"].pin
        pin.drive_low()
        pin.drive_high()
        until(lambda: k.tickets() == ["B001"], what="printed over serial")
        until(lambda: "B001".encode() in fake.received and b"\x1dVB\x00" in fake.received, what="bytes at the printer")
        assert b"\x1c&" in fake.received and "业务办理".encode("gb18030") in fake.received
    finally:
        k.stop()
        fake.stopping.set()
        fake.join(2)
        os.close(fake.master)
        os.close(fake.slave)


def test_hallq_kiosk_stub_process(broker, hall_config, admin, controller, tmp_path):
    out = tmp_path / "printed"
    proc = Process(["kiosk", "--config", str(hall_config), "--id", "k1", "--stub", "--printer-out", str(out),
                    "--data", str(tmp_path / "kd")], tmp_path, "kiosk").start()
    try:
        admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online") is True)
        admin.publish(SIM, {"press": "biz"})
        until(lambda: (out / "B001.bin").exists(), what="B001.bin")
        assert (out / "B001.png").exists()
        assert "业务办理".encode("gb18030") in (out / "B001.bin").read_bytes()
        mark = admin.mark()
        assert proc.stop() == 0
        admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and d.get("online") is False, start=mark)
    finally:
        proc.stop()
    assert "Traceback" not in proc.output()


def test_suspended_service_lamp_off_and_slip(controller, admin, run_kiosk, tmp_path):
    k = run_kiosk()
    k.wait_ready(admin)
    reply = admin.request("suspend_service", service="biz")
    assert reply["ok"], reply
    admin.wait_for(lambda t, d: t == STATUS and d["lamps"]["biz"] == "off" and d["lamps"]["pay"] == "on")
    admin.publish(SIM, {"press": "biz"})
    until(lambda: k.kiosk.printed, what="a slip")
    assert k.tickets() == [] and issued_numbers(admin) == []
    [slip] = [p for p in (tmp_path / "tickets").iterdir() if p.suffix == ".bin"]
    assert slip.name.startswith("slip-") and "暂停取号".encode("gb18030") in slip.read_bytes()
    assert k.kiosk.model.reason == "service_suspended"


def test_broker_unreachable_issues_from_lease_then_syncs(broker, controller, admin, run_kiosk):
    k = run_kiosk()
    k.wait_leases(20)
    broker.kill()
    until(lambda: not k.shell.link_up, what="link down")
    k.shell.inbox.put(ButtonPressed("pay", time.monotonic()))      # a finger on the button
    until(lambda: k.tickets() == ["A980"], what="offline ticket without waiting")
    assert k.kiosk.journal.count("unsynced") == 1
    broker.start()
    until(lambda: k.kiosk.journal.count("synced") == 1, timeout=30, what="synced after the broker is back")


def test_kiosk_killed_before_the_reply_voids_that_ticket_on_restart(broker, hall_config, admin, controller, tmp_path):
    """No ghost: an issue the controller applied but the kiosk never printed is voided at restart."""
    data = tmp_path / "kiosk-data"
    config = load_config(hall_config)
    kiosk = KioskRole(config, "k1", StubPrinter(str(tmp_path / "t1")), make_pin_factory(True), str(data))
    shell = DeviceShell(config, "kiosk.k1", kiosk, stub=True, data_dir=str(data))
    shell.start()
    # play the owner loop by hand until the kiosk knows the controller is online
    until(lambda: (shell.handle(shell.inbox.get(timeout=WAIT)), shell.available)[1], what="kiosk online")
    kiosk.issue("pay")                   # sent; its reply is left unread in the inbox
    issued = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_issued")
    # power cut: no reply handled, nothing printed, no goodbye
    shell.link.client.loop_stop()
    shell.link.client.socket().close()
    kiosk.journal.close()
    assert kiosk.printed == []
    again = RunningKiosk(hall_config, data, tmp_path / "t2")
    try:
        voided = admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_voided")
        assert voided["ticket"]["id"] == issued["ticket"]["id"]
        state = admin.state_after("ticket_voided")
        assert next(x for x in state["services"] if x["id"] == "pay")["waiting"] == 0
    finally:
        again.stop()


def test_a_malformed_reply_leaves_no_ghost_ticket(broker, hall_config, admin, run_kiosk, tmp_path):
    """A reply with a NUL in the number and an absurd wait is refused whole; the
    kiosk issues from its lease as for no answer, and voids the request it gave up on."""
    ctl = start_controller(hall_config, tmp_path, admin)
    k = run_kiosk()
    k.wait_leases(20)
    ctl.stop()
    fake = broker.client("controller", subscribe=[f"{R}/dev/kiosk.k1/req"])
    try:
        fake.publish(f"{R}/presence/controller", {"online": True, "epoch": 99}, retain=True)
        until(lambda: k.shell.availability.controller_online, what="the kiosk sees the (fake) controller")
        mark = fake.mark()
        admin.publish(SIM, {"press": "pay"})
        issue = fake.wait_for(lambda t, d: isinstance(d, dict) and d.get("op") == "issue", start=mark)
        rid = issue["request_id"]
        fake.c.publish(f"{R}/dev/kiosk.k1/res", (
            '{"request_id": "%s", "ok": true, "ticket": {"id": "x", "number": "A\\u0000001", "service": "pay",'
            ' "est_wait_s": 1e400, "waiting_ahead": 0}}' % rid).encode(), qos=1)
        until(lambda: k.tickets() == ["A980"], what="a ticket from the lease instead")
        void = fake.wait_for(lambda t, d: isinstance(d, dict) and d.get("op") == "void"
                             and d.get("issue_request_id") == rid, start=mark)
        assert void["reason"]
        assert k.thread.is_alive() and not any("\x00" in t for t in k.kiosk.printed)
    finally:
        fake.publish(f"{R}/presence/controller", {"online": False, "epoch": 99}, retain=True)
        fake.close()
