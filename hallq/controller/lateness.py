"""Requests read later than their sender was willing to wait, refused rather than applied late.

A counter's "next" that reaches the controller after the clerk's terminal gave up on it (a frozen
controller, a stalled SD card, SIGSTOP) must not call a customer: the clerk has already been told
it failed and may have pressed again, so applying it would call one ticket and skip the next.
Devices say in each request when they sent it and how long they wait (``sent_at``, ``not_after``,
their own clock). Clocks differ, so the controller never compares them directly: per device it
keeps the smallest lag seen lately (its clock's offset plus the network), and a request whose lag
exceeds that baseline by more than the device's patience is late. A device whose clock steps
(NTP correcting it) shows one consistent new lag: a second late request that did not arrive in the
same burst as the first resets the baseline instead of refusing the device for ten minutes.
"""
from __future__ import annotations

from collections import deque
from datetime import datetime

WINDOW_S = 600.0        # baselines come from the last ten minutes
KEPT = 200


class LateRequests:
    def __init__(self) -> None:
        self.lags: dict[str, deque[tuple[float, float]]] = {}
        self.last_late: dict[str, float] = {}

    def late_by(self, device: str, sent_at: datetime, not_after: datetime, now: datetime) -> float | None:
        """Seconds beyond the device's patience this request arrives, or None when it is in time."""
        lag = (now - sent_at).total_seconds()
        patience = (not_after - sent_at).total_seconds()
        at = now.timestamp()
        seen = self.lags.setdefault(device, deque())
        while seen and (seen[0][0] < at - WINDOW_S or len(seen) >= KEPT):
            seen.popleft()
        baseline = min((value for _, value in seen), default=None)
        seen.append((at, lag))
        if baseline is None or patience <= 0:
            return None
        late = lag - baseline - patience
        if late <= 0:
            return None
        previous = self.last_late.get(device)
        self.last_late[device] = at
        if previous is not None and at - previous > patience:
            # late again, long after the last late one: not a stall's burst, the device's clock moved
            seen.clear()
            seen.append((at, lag))
            return None
        return late
