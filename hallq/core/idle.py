"""Counters where nobody is calling: open (not paused, terminal not offline), idle, and for
``[hall] idle_alert_s`` neither finished a customer nor been without someone waiting for one of
its services. The supervisors' ``idle_counter`` alert and the estimates read the same rule: a
counter nobody calls at is not counted on to call the next customer. Pure."""
from __future__ import annotations

from datetime import datetime, timedelta

from .model import HallState
from .setup import Setup


def idle_counters(setup: Setup, state: HallState, now: datetime) -> set[str]:
    """The ids of the open counters idle for ``idle_alert_s`` while their services have had
    someone waiting that long (since the later of its last finish and the oldest waiting ticket)."""
    bound = timedelta(seconds=setup.idle_alert_s)
    candidates = []
    for counter in setup.counters.values():
        cs = state.counters.get(counter.id)
        device = state.devices.get(f"counter.{counter.id}")
        if cs is None or cs.suspended or cs.ticket is not None or (device is not None and device.online is False):
            continue
        if cs.last_served_at is not None and now - cs.last_served_at < bound:
            continue
        candidates.append(setup.serving(state, counter.id))
    if not candidates:
        return set()
    wanted = {service for counter in candidates for service in counter.services}
    cutoff = now - bound
    stale: set[str] = set()
    for t in state.tickets.values():
        if t.status == "waiting" and t.service in wanted and t.waiting_since <= cutoff:
            stale.add(t.service)
            wanted.discard(t.service)
            if not wanted:
                break
    return {counter.id for counter in candidates if any(service in stale for service in counter.services)}
