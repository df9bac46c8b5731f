"""The supervisor's live board, as one JSON document: services, counters, the waiting numbers,
devices and alerts. Built from the controller's retained state (authoritative for counters,
services and devices) and the web's copy of its records (the waiting list, the longest wait).

Alerts are derived here from what the state shows, until the controller raises its own: a device
offline, a printer not ready, a sign or keys fault, people waiting for a service no open counter
serves, and a longest wait beyond the hall's service-level target.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from hall.config import Config
from hall.shell import Availability

from .role import WebRole

PRINTER_OK = ("ok", "paper_low")


def _alerts(config: Config, role: WebRole, longest: dict[str, int]) -> list[dict[str, str]]:
    state = role.state
    if state is None:
        return []
    alerts: list[dict[str, str]] = []
    for device_id, device in sorted(state.devices.items()):
        if device.get("online") is False:
            alerts.append({"severity": "warning", "id": f"offline:{device_id}", "text": f"{device_id} 离线 offline"})
        printer = device.get("printer")
        if isinstance(printer, str) and printer not in ("ok",):
            severity = "info" if printer == "paper_low" else "critical"
            alerts.append({"severity": severity, "id": f"printer:{device_id}", "text": f"{device_id} 打印机 printer: {printer}"})
        for part in ("sign", "keys"):
            if device.get(part) == "fault":
                alerts.append({"severity": "warning", "id": f"{part}:{device_id}", "text": f"{device_id} {part} fault"})
    for service in state.services:
        if service.waiting and not service.open_counters:
            alerts.append({"severity": "critical", "id": f"unserved:{service.id}",
                           "text": f"{service.name}: {service.waiting} 人等候，无窗口办理 waiting, no open counter"})
        wait = longest.get(service.id, 0)
        if wait > config.hall.service_level_wait_s:
            alerts.append({"severity": "warning", "id": f"wait:{service.id}",
                           "text": f"{service.name}: 最长等候 {wait // 60} 分钟 longest wait {wait // 60} min"})
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
        "waiting": mirror.waiting_numbers(now), "alerts": _alerts(config, role, longest),
    }
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
