"""The supervisor's live board, as one JSON document: services, counters, the waiting numbers,
devices and alerts. Built from the controller's retained state (authoritative for counters,
services and devices) and the web's copy of its records (the waiting list, the longest wait).

Alerts are the controller's own (raised and cleared in its records, hall/core/alerts.py), plus
the LED sign and key faults the devices report, which the controller does not judge.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from hall.config import Config
from hall.shell import Availability

from .role import WebRole

def _alerts(role: WebRole) -> list[dict[str, str]]:
    state = role.state
    if state is None:
        return []
    alerts = [{"severity": a.severity, "id": a.id, "text": a.text, "since": a.since} for a in state.alerts]
    for device_id, device in sorted(state.devices.items()):
        for part in ("sign", "keys"):
            if device.get(part) == "fault":
                alerts.append({"severity": "warning", "id": f"{part}:{device_id}", "text": f"{device_id}: {part} fault",
                               "since": ""})
    return alerts


def board(config: Config, role: WebRole, availability: Availability, now: datetime) -> dict[str, Any]:
    state = role.state
    mirror = role.mirror
    longest: dict[str, int] = {}
    if mirror.state is not None:
        for t in mirror.state.tickets.values():
            if t.status == "waiting":
                longest[t.service] = max(longest.get(t.service, 0), int((now - t.issued_at).total_seconds()))
    out: dict[str, Any] = {
        "controller": availability.reachable, "records": mirror.ready,
        "hall": None, "services": [], "counters": [], "devices": [],
        "waiting": mirror.waiting_numbers(now), "alerts": _alerts(role),
    }
    if role.records_blocked is not None:  # the copy of the records stopped: what pages show is old
        seq, why = role.records_blocked
        out["alerts"].insert(0, {"severity": "critical", "id": "records:blocked",
                                 "text": f"records stop before event {seq}: {why}", "since": ""})
    if availability.controller_fault:      # alive but taking no work: the reason first
        out["alerts"].insert(0, {"severity": "critical", "id": "controller:storage",
                                 "text": f"controller: {availability.controller_fault}", "since": ""})
    if state is None:
        return out
    out["hall"] = {"id": state.hall, "name": state.hall_name or config.hall.name, "mode": state.mode,
                   "message": state.message, "day": state.day, "notices": list(state.announcements),
                   "seq": state.seq}
    out["services"] = [{"id": s.id, "name": s.name, "prefix": s.prefix, "waiting": s.waiting,
                        "est_wait_s": s.est_wait_s, "suspended": s.suspended, "open_counters": s.open_counters,
                        "longest_wait_s": longest.get(s.id, 0)} for s in state.services]
    out["counters"] = [{"id": c.id, "name": c.name, "status": c.status, "clerk": c.clerk,
                        "ticket": c.ticket.number if c.ticket else None, "since": c.ticket.called_at if c.ticket else None,
                        "reason": c.suspend_reason} for c in state.counters]
    out["devices"] = [{"id": d, "online": bool(v.get("online")),
                       "detail": {k: v[k] for k in sorted(v) if k not in ("online", "boot") and
                                  isinstance(v[k], (str, int, float, bool))}}
                      for d, v in sorted(state.devices.items())]
    return out
