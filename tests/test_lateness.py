"""Which requests arrive after their sender stopped waiting (hallq/controller/lateness.py), whatever its clock says."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hallq.controller.lateness import LateRequests

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def request(late: LateRequests, at: float, device_clock_ahead: float, patience: float = 4.0,
            stalled: float = 0.0) -> float | None:
    """A request sent at controller time ``at`` on a device whose clock is ahead by the given seconds,
    read ``stalled`` seconds later than the network alone would make it."""
    sent = T0 + timedelta(seconds=at + device_clock_ahead)
    now = T0 + timedelta(seconds=at + 0.01 + stalled)
    return late.late_by("counter.c1", sent, sent + timedelta(seconds=patience), now)


def test_a_device_clock_minutes_off_is_never_judged_late():
    late = LateRequests()
    for i in range(5):
        assert request(late, i * 10, device_clock_ahead=-300) is None     # five minutes behind
        assert request(late, i * 10 + 5, device_clock_ahead=-300) is None


def test_requests_read_after_a_stall_are_late_the_next_ones_are_not():
    late = LateRequests()
    assert request(late, 0, 120) is None                    # the baseline: in time
    # the controller froze for 20 s: three requests queued meanwhile come out together
    assert request(late, 10, 120, stalled=15) is not None
    assert request(late, 12, 120, stalled=13) is not None
    assert request(late, 24.9, 120, stalled=0.1) is None    # the one after the stall is in time


def test_a_clock_that_steps_is_followed_not_refused_for_ten_minutes():
    late = LateRequests()
    assert request(late, 0, 0) is None
    # NTP moves the device's clock 30 s back: its next request looks 30 s late ...
    assert request(late, 60, -30) is not None
    # ... and the next, a minute later, still does: a clock step, not a stall: followed from now on
    assert request(late, 120, -30) is None
    assert request(late, 180, -30) is None
