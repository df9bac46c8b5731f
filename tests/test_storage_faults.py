"""Disk full, read-only storage: the controller takes no new work, says why,
the hall goes on offline, and everything reconciles once the storage is back. Nothing lost, nothing
doubled, no crash loop.

The real one runs the controller on a small tmpfs filled to the last byte and then remounted
read-only (needs root and mount, as CI has); the in-process one fills SQLite itself
(``max_page_count``: SQLite's own "database or disk is full"), so it runs anywhere.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hallq.contract import ReplyDoc, convert
from hallq.controller.main import open_controller
from hallq.runtime.config import load_config
from hallq.testing import EXAMPLE_HALL as EXAMPLE
from hallq.testing import Process, RecordingLink, request_message, run_controller, start_controller, wait_until
from hallq.testing.faults import fill_disk, mount_tmpfs, unmount

R = "hallq/v1/h1"
STATUS = f"{R}/dev/kiosk.k1/status"
BETWEEN_CUSTOMERS_S = 0.5     # a kiosk takes presses within its bounce time (0.3 s) as one


# --- a real hall on a small filesystem ------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small-disk"
    why_not = mount_tmpfs(mount, "6m")
    if why_not is not None:
        pytest.skip(f"cannot mount a small tmpfs here ({why_not}); the in-process test below still runs")
    try:
        yield mount
    finally:
        unmount(mount)


def start_kiosk(hall_config: Path, tmp_path: Path, out: Path, data: Path, admin) -> Process:
    """A stub kiosk process printing to ``out``, once it holds its leases."""
    kiosk = Process(["kiosk", "--config", str(hall_config), "--id", "k1", "--stub", "--printer-out", str(out),
                     "--data", str(data)], tmp_path, "kiosk").start()
    admin.wait_for(lambda t, d: t == STATUS and isinstance(d, dict) and d.get("lease", {}).get("pay"), timeout=30)
    return kiosk


def printed(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.bin") if not p.name.startswith("slip-"))


def test_a_full_then_read_only_disk_pauses_the_controller_and_the_hall_goes_on(broker, hall_config, admin,
                                                                                small_disk, tmp_path):
    data = small_disk / "controller-data"
    controller = start_controller(hall_config, tmp_path, admin, data=data)
    out = tmp_path / "printed"
    kiosk = start_kiosk(hall_config, tmp_path, out, tmp_path / "kd", admin)
    try:
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
        wait_until(lambda: printed(out) == ["A001"], what="A001 online")

        filler = fill_disk(small_disk)
        mark = admin.mark()
        # customers keep coming; once the controller cannot record (a full disk may still take a
        # few small writes first) the kiosk issues from its lease
        for presses in range(1, 40):
            time.sleep(BETWEEN_CUSTOMERS_S)
            before = len(printed(out))
            admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
            wait_until(lambda: len(printed(out)) > before, timeout=30, what="a ticket while the disk is full")
            if any(n.startswith("A98") or n.startswith("A99") for n in printed(out)):
                break
        away = admin.wait_for(lambda t, d: t == f"{R}/presence/controller" and d.get("online") is False,
                              start=mark, timeout=30)
        assert "disk is full" in away["fault"] and str(data) in away["fault"], away
        assert controller.alive
        time.sleep(BETWEEN_CUSTOMERS_S)
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
        wait_until(lambda: len(printed(out)) == presses + 2, timeout=30, what="a second ticket from the lease")
        offline = [n for n in printed(out) if int(n[1:]) >= 980]
        assert len(offline) == 2, printed(out)
        ctl = subprocess.run([sys.executable, "-m", "hallq", "ctl", "--config", str(hall_config), "status"],
                             capture_output=True, text=True, timeout=60)
        assert ctl.returncode == 1 and "disk is full" in ctl.stdout and "not taking work" in ctl.stderr, ctl

        # space comes back: the controller takes work again by itself, the kiosk's tickets are placed once
        mark = admin.mark()
        filler.unlink()
        admin.wait_for(lambda t, d: t == f"{R}/presence/controller" and d.get("online") is True
                       and not d.get("fault"), start=mark, timeout=30)
        admin.wait_for(lambda t, d: t == STATUS and d.get("unsynced") == 0, start=mark, timeout=30)
        state = admin.state(lambda s: [x for x in s["services"] if x["id"] == "pay"][0]["waiting"] == presses + 2,
                            timeout=30)
        issued = [e for e in admin.events() if e["type"] == "ticket_issued"]
        numbers = [e["ticket"]["number"] for e in issued]
        assert sorted(numbers) == sorted(printed(out)) and len(set(numbers)) == len(numbers), (numbers, printed(out))
        assert state["seq"] == max(e["seq"] for e in admin.events())

        # the storage turns read-only (a failing SD card the kernel remounted): a controller started
        # on it says so in one line and exits 1 (systemd tries again every 2 s); the hall goes on offline
        assert controller.stop() == 0
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        run = run_controller(hall_config, data)
        assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
        assert "cannot start" in run.stderr and "read-only" in run.stderr, run.stderr
        time.sleep(BETWEEN_CUSTOMERS_S)
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
        wait_until(lambda: len(printed(out)) == presses + 3, timeout=30, what="a ticket while the storage is read-only")
        mark = admin.mark()
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
        controller = start_controller(hall_config, tmp_path, admin, data=data)
        admin.wait_for(lambda t, d: t == STATUS and d.get("unsynced") == 0, start=mark, timeout=30)
        numbers = [e["ticket"]["number"] for e in admin.events() if e["type"] == "ticket_issued"]
        assert sorted(numbers) == sorted(printed(out)) and len(numbers) == presses + 3 == len(set(numbers))
    finally:
        kiosk.stop()
        controller.stop()
    log = controller.output()
    assert "Traceback" not in log and "storage writable again" in log, log[-3000:]


def test_a_full_disk_at_start_is_one_line_and_exit_1_so_systemd_tries_again(hall_config, small_disk):
    data = small_disk / "controller-data"
    data.mkdir()
    fill_disk(small_disk)
    run = run_controller(hall_config, data)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "cannot start" in run.stderr and ("disk is full" in run.stderr or "cannot be opened" in run.stderr), run.stderr


def test_a_kiosk_whose_disk_is_full_prints_a_slip_and_says_why_then_issues_again(broker, hall_config, admin,
                                                                                   controller, small_disk, tmp_path):
    """A ticket is journaled before it is printed: with no room for the journal, no ticket; a slip,
    a status, no traceback; space back, tickets again."""
    out = tmp_path / "printed"
    kiosk = start_kiosk(hall_config, tmp_path, out, small_disk / "kd", admin)
    try:
        filler = fill_disk(small_disk)
        # a full disk often still takes a small write (free pages in the file, a WAL reused from its
        # start): customers keep pressing until the journal truly cannot grow
        for _ in range(60):
            mark = admin.mark()
            time.sleep(BETWEEN_CUSTOMERS_S)
            admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
            try:
                admin.wait_for(lambda t, d: t == STATUS and d.get("reason") == "storage", start=mark, timeout=3)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("the journal never filled up")
        wait_until(lambda: list(out.glob("slip-*.bin")), what="a slip")
        filler.unlink()
        time.sleep(BETWEEN_CUSTOMERS_S)
        before = printed(out)
        admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
        wait_until(lambda: len(printed(out)) == len(before) + 1, what="a ticket once there is room")
        # every ticket in a hand is in the queue once; one issued but not noted was voided, not printed
        def queue_is_what_was_printed() -> bool:
            events = admin.events()
            issued = [e["ticket"]["number"] for e in events if e["type"] == "ticket_issued"]
            voided = {e["ticket"]["number"] for e in events if e["type"] == "ticket_voided"}
            return len(issued) == len(set(issued)) and set(printed(out)) == set(issued) - voided

        wait_until(queue_is_what_was_printed, timeout=10, what="the queue to match the printed tickets")
    finally:
        kiosk.stop()
    assert "Traceback" not in kiosk.output() and "cannot write the journal" in kiosk.output()


# --- SQLite itself full: runs anywhere ----------------------------------------------------------
def issue(device: str, rid: str):
    return request_message(device, "issue", rid, service="pay")


def test_sqlite_full_undoes_the_batch_answers_nothing_then_resumes_by_itself(tmp_path, monkeypatch):
    import hallq.runtime.storage as storage
    monkeypatch.setattr(storage, "PROBE_EVERY_S", 0.0)     # probe the disk at every tick
    toml = tmp_path / "hall.toml"           # a kiosk flood is what fills it here: no rate limit
    toml.write_text(EXAMPLE.read_text("utf-8").replace("[hall]\n", "[hall]\nkiosk_rate_per_s = 0\n", 1), "utf-8")
    ctl = open_controller(load_config(toml), tmp_path / "data", link_factory=RecordingLink)
    sent: list[tuple[str, bytes]] = []
    ctl.link.publish = lambda topic, payload, retain=False, qos=1: sent.append((topic, payload)) or 0
    ctl.apply_batch([], tick=True)
    ctl.apply_batch([issue("kiosk.k1", "before")])
    state, seq = ctl.state, ctl.seq
    pages = ctl.store.db.execute("PRAGMA page_count").fetchone()[0]
    ctl.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ctl.store.db.execute(f"PRAGMA max_page_count={pages}")        # not one page more
    sent.clear()
    for i in range(200):          # until a batch no longer fits
        ctl.apply_batch([issue("kiosk.k1", f"full-{i}")])
        if ctl.fault is not None:
            break
    assert ctl.fault is not None and "full" in ctl.fault.what
    kept_state, kept_seq = ctl.state, ctl.seq
    rows = ctl.store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert rows == kept_seq                                     # memory and disk agree: nothing half-applied
    presence = [json.loads(p) for t, p in sent if t.endswith("/presence/controller")]
    assert presence[-1]["online"] is False and "full" in presence[-1]["fault"]
    answered = [json.loads(p) for t, p in sent if t.endswith("/res")]
    assert answered and all(r["ok"] for r in answered)          # each answered one is recorded ...
    issued = ctl.store.db.execute("SELECT COUNT(*) FROM events WHERE type = 'ticket_issued'").fetchone()[0]
    assert issued == len(answered) + 1                         # ... and the one that did not fit is not
    # while full: requests go unanswered and change nothing, ticks try the storage again
    sent.clear()
    for i in range(5):
        ctl.apply_batch([issue("kiosk.k1", f"during-{i}")], tick=True)
    assert ctl.fault is not None and ctl.state is kept_state and ctl.seq == kept_seq
    assert not [t for t, _ in sent if t.endswith("/res") or t.endswith("/event")]
    # room again: the next tick takes work again; a resent id is applied once
    ctl.store.db.execute("PRAGMA max_page_count=1073741823")
    ctl.apply_batch([], tick=True)
    assert ctl.fault is None
    assert json.loads([p for t, p in sent if t.endswith("/presence/controller")][-1])["online"] is True
    sent.clear()
    ctl.apply_batch([issue("kiosk.k1", "during-0"), issue("kiosk.k1", "during-0")])
    replies = [json.loads(p) for t, p in sent if t.endswith("/res")]
    assert len(replies) == 2 and replies[0] == replies[1] and replies[0]["ok"], replies
    assert ctl.seq > kept_seq and replies[0]["ticket"]["number"] == f"A{len(answered) + 2:03d}"
    assert seq < kept_seq and state is not kept_state
    ctl.shutdown()


def test_an_issue_given_up_when_the_journal_is_full_is_a_slip_not_a_traceback(small_disk, tmp_path):
    """The kiosk notes an issue's pending void before sending it; if the disk fills before the
    reply and the broker link then drops, giving up cannot note it again: a status and a slip,
    the owner loop going on."""
    from hallq.contract.topics import Topics
    from hallq.device.shell import DeviceShell
    from hallq.hardware.pins import make_pin_factory
    from hallq.kiosk.app import KioskRole
    from hallq.printer.transport import StubPrinter
    from hallq.runtime.config import parse_config
    from hallq.runtime.mqttlink import Inbound, LinkDown, LinkUp

    config = parse_config({
        "hall": {"id": "h1", "name": "城东供电营业厅", "timezone": "Asia/Shanghai"},
        "broker": {"host": "127.0.0.1", "port": 1},
        "service": [{"id": "pay", "name": "缴费 Payment", "prefix": "A"}],
        "counter": [{"id": "c1", "name": "1号窗口", "services": ["pay"]}],
        "kiosk": [{"id": "k1", "services": ["pay"]}],
        "display": [{"id": "d1"}]}, str(tmp_path / "hall.toml"))
    data = small_disk / "kiosk-data"
    role = KioskRole(config, "k1", StubPrinter(str(tmp_path / "out")), make_pin_factory(True), str(data))
    shell = DeviceShell(config, "kiosk.k1", role, stub=True, data_dir=str(data), link_factory=RecordingLink)
    try:
        role.journal.add_lease("pay", role.today(), 980, 999, "A", "t")
        shell.handle((0.0, LinkUp()))
        shell.handle((0.0, Inbound(Topics("h1").controller_presence, b'{"online": true, "epoch": 1}', True)))
        role.on_press("pay", time.monotonic())
        assert role.issuing is not None                 # sent, its void noted, no reply yet
        filler = fill_disk(small_disk)
        for n in range(10_000):                         # the journal's free pages used up too
            try:
                role.journal.add_pending_void(f"filler-{n}", "x" * 200, "t")
            except sqlite3.Error:
                break
        else:
            raise AssertionError("the journal never filled up")
        # a lease granted while the journal is full: not kept (its numbers are never issued), no exception
        pay = role.leases._lease_reply("pay")
        pay(convert({"request_id": "r", "ok": True, "lease": {"service": "pay", "start": 500, "end": 519,
                     "day": role.today(), "first": "A500", "last": "A519"}}, ReplyDoc))
        assert role.journal.remaining("pay", role.today()) == 999 - 980 + 1
        shell.handle((0.0, LinkDown("Unspecified error")))     # the owner loop would log a traceback here
        assert role.issuing is None and role.model.reason == "storage"
        assert any(name.startswith("slip-") for name in (p.name for p in (tmp_path / "out").iterdir()))
        filler.unlink()
    finally:
        role.close()
