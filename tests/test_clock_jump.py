"""A controller whose clock jumps back across midnight and forward again: a Pi
without an RTC booting with a stale time, then NTP correcting it. The real controller process under
Debian's libfaketime (its clock read from a file we rewrite), real Mosquitto, a plain kiosk client.

Business days only move forward: no second ``day_started``, no number issued twice, numbering
goes on, also across a restart while the clock is behind.

The broker stays up throughout: see hallq.testing.faults.faketime_env on libfaketime and Python 3.11.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from hallq.runtime.config import load_config
from hallq.testing import start_controller
from hallq.testing.faults import faketime_env, seconds_back_across_midnight

R = "hallq/v1/h1"


def test_a_clock_back_across_midnight_then_forward_never_starts_a_day_twice(broker, hall_config, admin, device,
                                                                            tmp_path):
    clock_file = tmp_path / "faketime"
    clock_file.write_text("+0\n")
    env = faketime_env(clock_file)
    if env is None:
        pytest.skip("Debian's faketime is not installed (make test installs it: .ci/system-deps)")
    zone = load_config(hall_config).zone
    local = datetime.now(zone)
    back_s = seconds_back_across_midnight(zone, 3.0)
    kiosk = device("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])

    def issue() -> dict:
        reply = kiosk.request("issue", service="pay")
        assert reply["ok"], reply
        return reply["ticket"]

    controller = start_controller(hall_config, tmp_path, admin, env=env)
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
        controller = start_controller(hall_config, tmp_path, admin, env=env)
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
