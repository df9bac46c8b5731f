"""The supervisor's live board, as one JSON document: services, counters, the waiting numbers,
devices and alerts, in the console's language with names (never ids) and the hall's clock.
Built from the controller's retained state (authoritative for counters, services and devices) and
the web's copy of its records (the waiting list, the longest wait).

Alerts are the controller's own (raised and cleared in its records, hallq/core/alerts.py), plus
the LED sign and key faults the devices report, which the controller does not judge; each is
told by its kind and subject (``kind:subject``) with the subject's name, sorted by severity then
name, grouped by kind on the page.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from hallq.device.shell import Availability
from hallq.runtime.config import Config
from hallq.runtime.i18n import N_, clock, counter_name, device_name, gettext, service_name

from .role import WebRole

SEVERITY = {"critical": 0, "warning": 1, "info": 2}
STATUS = {"idle": N_("Idle"), "serving": N_("Serving"), "suspended": N_("Suspended (暂停服务)"), "offline": N_("Offline")}
MODE = {"open": N_("Issuing tickets"), "closed": N_("Not issuing"), "outage": N_("Outage")}
KINDS = {"unserved": N_("No counter serves it"), "long_wait": N_("Long waits"), "idle_counter": N_("Idle counters"),
         "printer": N_("Printers"), "offline": N_("Devices offline"), "kiosk_quota": N_("Ticket machines over their share"),
         "sign": N_("Counter signs"), "keys": N_("Counter keys"), "controller": N_("Controller"), "records": N_("Records")}


def alert_text(kind: str, subject: str, config: Config, lang: str, fallback: str = "", extra: str = "") -> str:
    """What an alert says, by its kind and subject, with names."""
    if kind == "unserved":
        return gettext("{service}: people wait and no open counter serves it", lang,
                       service=service_name(config, subject, lang))
    if kind == "long_wait":
        return gettext("{service}: someone has waited over {minutes} min", lang,
                       service=service_name(config, subject, lang), minutes=config.hall.service_level_wait_s // 60)
    if kind == "idle_counter":
        return gettext("{counter} is idle while its services have people waiting", lang,
                       counter=counter_name(config, subject, lang))
    if kind == "printer":
        condition = gettext(PRINTER.get(extra, extra), lang) if extra else ""
        return gettext("{device}: printer {condition}", lang, device=device_name(config, subject, lang),
                       condition=condition)
    if kind == "offline":
        return gettext("{device} is offline", lang, device=device_name(config, subject, lang))
    if kind == "kiosk_quota":
        kiosk, _, service = subject.partition(":")
        return gettext("{device} issued its share of {service} today: check it (a stuck button?)", lang,
                       device=device_name(config, kiosk, lang), service=service_name(config, service, lang))
    if kind in ("sign", "keys"):
        what = gettext(N_("LED sign") if kind == "sign" else N_("keys"), lang)
        return gettext("{device}: {what} fault", lang, device=device_name(config, subject, lang), what=what)
    return fallback or subject


PRINTER = {"paper_low": N_("paper low"), "paper_out": N_("out of paper"), "cover_open": N_("cover open"),
           "offline": N_("not answering"), "error": N_("fault")}


def _alerts(config: Config, role: WebRole, lang: str) -> list[dict[str, str]]:
    state = role.state
    if state is None:
        return []
    alerts = []
    for a in state.alerts:
        kind, _, subject = a.id.partition(":")
        printer = ""
        if kind == "printer":
            printer = str((state.devices.get(subject) or {}).get("printer") or "")
        alerts.append({"severity": a.severity, "kind": kind, "id": a.id,
                       "text": alert_text(kind, subject, config, lang, a.text, printer),
                       "since": clock(a.since, config.zone, lang)})
    for device_id, device in sorted(state.devices.items()):
        for part in ("sign", "keys"):
            if device.get(part) == "fault":
                alerts.append({"severity": "warning", "kind": part, "id": f"{part}:{device_id}",
                               "text": alert_text(part, device_id, config, lang), "since": ""})
    return alerts


def board(config: Config, role: WebRole, availability: Availability, now: datetime,
          lang: str = "zh_CN") -> dict[str, Any]:
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
        "waiting": [{"service": s, "name": service_name(config, s, lang), "numbers": numbers}
                    for s, numbers in mirror.waiting_numbers(now).items()],
        "alerts": _alerts(config, role, lang), "clock": clock(now, config.zone, lang),
    }
    if role.records_blocked is not None:  # the copy of the records stopped: what pages show is old
        seq, why = role.records_blocked
        out["alerts"].append({"severity": "critical", "kind": "records", "id": "records:blocked", "since": "",
                              "text": gettext("The hall's records stop before event {seq}: {why}", lang,
                                              seq=seq, why=why)})
    if availability.controller_fault:      # alive but taking no work: the reason first
        out["alerts"].append({"severity": "critical", "kind": "controller", "id": "controller:storage", "since": "",
                              "text": gettext("Controller: {fault}", lang, fault=availability.controller_fault)})
    out["alerts"].sort(key=lambda a: (SEVERITY.get(a["severity"], 3), a["kind"], a["text"]))
    for alert in out["alerts"]:
        alert["kind_text"] = gettext(KINDS.get(alert["kind"], alert["kind"]), lang)
    if state is None:
        return out
    mode = state.mode
    out["hall"] = {"id": state.hall, "name": state.hall_name or config.hall.name, "mode": mode,
                   "mode_text": gettext(MODE.get(mode, mode), lang), "message": state.message, "day": state.day,
                   "notices": list(state.announcements), "seq": state.seq}
    out["services"] = [{"id": s.id, "name": service_name(config, s.id, lang), "prefix": s.prefix,
                        "waiting": s.waiting, "est_wait_s": s.est_wait_s, "est_known": s.est_known,
                        "suspended": s.suspended,
                        "state_text": gettext(N_("Suspended (暂停取号)") if s.suspended else N_("Open"), lang),
                        "open_counters": s.open_counters, "longest_wait_s": longest.get(s.id, 0)}
                       for s in state.services]
    out["counters"] = [{"id": c.id, "name": counter_name(config, c.id, lang), "status": c.status,
                        "status_text": gettext(STATUS.get(c.status, c.status), lang), "clerk": c.clerk,
                        "ticket": c.ticket.number if c.ticket else None,
                        "since": clock(c.ticket.called_at, config.zone, lang) if c.ticket else "",
                        "reason": c.suspend_reason, "services": [service_name(config, s, lang) for s in c.services]}
                       for c in _by_number(config, state.counters)]
    out["devices"] = [{"id": d, "name": device_name(config, d, lang), "online": bool(v.get("online")),
                       "detail": {k: v[k] for k in sorted(v) if k not in ("online", "boot") and
                                  isinstance(v[k], (str, int, float, bool))}}
                      for d, v in sorted(state.devices.items(), key=lambda item: _device_order(config, item[0]))]
    return out


def _by_number(config: Config, counters: list[Any]) -> list[Any]:
    """Counters as the hall numbers them (c2 before c10), not as text sorts their ids."""
    return sorted(counters, key=lambda c: (config.counter_number(c.id) is None, config.counter_number(c.id) or 0, c.id))


def _device_order(config: Config, device_id: str) -> tuple[int, int, str]:
    kind, _, ident = device_id.partition(".")
    order = {"kiosk": 0, "counter": 1, "display": 2, "admin": 3}.get(kind, 4)
    number = config.counter_number(ident) if kind == "counter" else None
    return order, number or 0, ident
