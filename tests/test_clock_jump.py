"""A controller whose clock jumps back across midnight and forward again (issue 11, finding 1): a Pi
without an RTC booting with a stale time, then NTP correcting it. The real controller process under
Debian's libfaketime (its clock read from a file we rewrite), real Mosquitto, a plain kiosk client.

Business days only move forward: no second ``day_started``, no number issued twice, numbering
goes on, also across a restart while the clock is behind.

libfaketime 0.9.10 breaks Python 3.11's ``time.sleep`` (wolfcw/libfaketime#426, EINVAL from
``clock_nanosleep`` with ``TIMER_ABSTIME``); the controller never sleeps while the broker is up (paho
sleeps only between reconnects), so the broker stays up here.
"""
from __future__ import annotations

import glob
from datetime import datetime
from pathlib import Path

import pytest

from hall.config import load_config
from hall.testing import Process

R = "hallq/v1/h1"


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        pytest.skip("Debian's faketime is not installed (make test installs it: .ci/system-deps)")
    return found[0]


def start(hall_config: Path, tmp_path: Path, admin, env: dict[str, str]) -> Process:
    mark = admin.mark()
    proc = Process(["controller", "--config", str(hall_config), "--data", str(tmp_path / "controller-data")],
                   tmp_path, "controller", env=env).start()
    admin.wait_for(lambda t, d: t == f"{R}/presence/controller" and isinstance(d, dict) and d.get("online"),
                   start=mark, timeout=30)
    return proc


def test_a_clock_back_across_midnight_then_forward_never_starts_a_day_twice(broker, hall_config, admin, device,
                                                                            tmp_path):
    clock_file = tmp_path / "faketime"
    clock_file.write_text("+0\n")
    env = {"LD_PRELOAD": libfaketime(), "FAKETIME_TIMESTAMP_FILE": str(clock_file), "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    zone = load_config(hall_config).zone
    local = datetime.now(zone)
    back_s = int((local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()) + 3 * 3600
    kiosk = device("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])

    def issue() -> dict:
        reply = kiosk.request("issue", service="pay")
        assert reply["ok"], reply
        return reply["ticket"]

    controller = start(hall_config, tmp_path, admin, env)
    try:
        today = [issue() for _ in range(3)]
        assert [t["number"] for t in today] == ["A001", "A002", "A003"]
        # back across midnight (21:00 yesterday, hall time): still today's numbering
        clock_file.write_text(f"-{back_s}\n")
        behind = [issue() for _ in range(2)]
        assert [t["number"] for t in behind] == ["A004", "A005"], behind
        assert all(t["issued_at"] >= today[-1]["issued_at"] for t in behind)   # never ahead of earlier ones
        # the Pi reboots while its clock is still behind
        assert controller.stop() == 0
        controller = start(hall_config, tmp_path, admin, env)
        assert issue()["number"] == "A006"
        # NTP corrects it: forward again, the same day goes on
        clock_file.write_text("+0\n")
        assert issue()["number"] == "A007"
        state = admin.state(lambda s: s["seq"] > 0)
        assert state["day"] == local.date().isoformat()
    finally:
        controller.stop()
    events = admin.events()
    started = [ev for ev in events if ev["type"] == "day_started"]
    assert len(started) == 1 and started[0]["day"] == local.date().isoformat(), started
    ids = [ev["ticket"]["id"] for ev in events if ev["type"] == "ticket_issued"]
    assert len(ids) == 7 == len(set(ids))
    log = controller.output()
    assert "the clock went back" in log and "Traceback" not in log, log[-2000:]
