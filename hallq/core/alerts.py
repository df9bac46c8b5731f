"""Supervisor alerts, raised and cleared by the controller itself.

Pure: an alert is a function of the state and the time (``current_alerts``); at every tick the
rules compare what should be raised with what is (``alert_changes``) and record the difference as
events, so alerts are durable, replayed exactly and carried in ``R/state`` with the time each began.
Texts are stable while an alert lasts (no counts or minutes in them): a change of text is a new
``alert_raised`` event, and the log must not grow every minute.

Kinds: ``unserved`` (people wait for a service no open counter serves), ``long_wait`` (someone has
waited beyond ``[hall] service_level_wait_s``), ``idle_counter`` (an open counter idle for
``idle_alert_s`` while its services have people waiting), ``printer`` (a kiosk's printer not ready;
paper low is info), ``offline`` (a known device is offline), ``kiosk_quota`` (a kiosk has issued its share of a
service's day: a stuck button or a stolen password; the others go on).
"""
from __future__ import annotations

from datetime import datetime

from . import events as e
from .idle import idle_counters
from .model import Alert, HallState, Ticket
from .queries import open_counters
from .setup import Setup


def current_alerts(setup: Setup, state: HallState, now: datetime) -> dict[str, tuple[str, str, str]]:
    """What a supervisor should look at now: id -> (kind, severity, text). Pure: from the state and
    the time alone, so the controller raises and clears them at each tick and a replay agrees."""
    found: dict[str, tuple[str, str, str]] = {}
    waiting: dict[str, list[Ticket]] = {}
    for t in state.tickets.values():
        if t.status == "waiting":
            waiting.setdefault(t.service, []).append(t)
    for service, tickets in waiting.items():
        if open_counters(setup, state, service) == 0:
            found[f"unserved:{service}"] = ("unserved", "critical", f"people wait for {service}; no counter serves it")
        longest = (now - min(t.waiting_since for t in tickets)).total_seconds()
        if longest > setup.service_level_wait_s:
            found[f"long_wait:{service}"] = ("long_wait", "warning",
                                             f"{service}: waits beyond {setup.service_level_wait_s // 60} min")
    idle = idle_counters(setup, state, now)
    for counter_id in (k for k in setup.counters if k in idle):
        found[f"idle_counter:{counter_id}"] = ("idle_counter", "warning",
                                               f"counter {counter_id} idle while its services have people waiting")
    for key, issued in state.kiosk_issued.items():
        kiosk_device, _, service = key.partition("|")
        cap = setup.kiosk_cap(kiosk_device.partition(".")[2], service, state.kiosk_issued)
        if cap is not None and issued >= cap:
            found[f"kiosk_quota:{kiosk_device}:{service}"] = (
                "kiosk_quota", "warning", f"{kiosk_device} issued its share of {service} today ({cap}): look at it")
    for device_id, device in state.devices.items():
        if device.online is False:
            found[f"offline:{device_id}"] = ("offline", "warning", f"{device_id} is offline")
            continue
        printer = device.status.get("printer")
        if isinstance(printer, str) and printer != "ok":
            found[f"printer:{device_id}"] = ("printer", "info" if printer == "paper_low" else "critical",
                                             f"{device_id}: printer {printer}")
    return found


def alert_changes(setup: Setup, state: HallState, now: datetime) -> list[e.Event]:
    """Events raising the alerts that began and clearing those that ended."""
    wanted = current_alerts(setup, state, now)
    events: list[e.Event] = [e.AlertCleared(at=now, id=alert_id) for alert_id in state.alerts if alert_id not in wanted]
    for alert_id, (kind, severity, text) in wanted.items():
        old = state.alerts.get(alert_id)
        if old is None or old.severity != severity or old.text != text:
            events.append(e.AlertRaised(at=now, alert=Alert(id=alert_id, kind=kind, severity=severity,
                                                            since=old.since if old else now, text=text)))
    return events
