"""What the controller publishes: the contract's documents (state, ticket, service, counter)
made from the core's state and the hall's config. Outside the core: names and numbers come
from the config, which the pure core never imports. Also the controller's bootstrap of the core
(:func:`setup_from_config`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from hallq.core.model import HallState, Ticket
from hallq.core.rules import Setup, latest_issue, newcomer_waits, open_counters, waiting_tickets, with_estimate
from hallq.runtime.config import Config


def ticket_document(setup: Setup, state: HallState, ticket: Ticket, now: datetime) -> dict[str, Any]:
    """A ticket as the contract shows it, its people ahead and wait as of now."""
    return msgspec.to_builtins(with_estimate(setup, state, ticket, now))


def latest_instant(state: HallState) -> datetime:
    """The last moment the state records (a document built without a clock: tests, tools)."""
    moments = [m for t in state.tickets.values() for m in (t.issued_at, t.called_at) if m is not None]
    return max(moments) if moments else datetime.now().astimezone()


def service_document(config: Config, setup: Setup, state: HallState, service_id: str,
                     now: datetime | None = None, newcomer: dict[str, int | None] | None = None) -> dict[str, Any]:
    """A service as the state shows it; ``newcomer``: every service's wait for a walk-in now, when
    the caller has it (the state document asks once for all services)."""
    now = now or latest_instant(state)
    newcomer = newcomer if newcomer is not None else newcomer_waits(setup, state, now, latest_issue(state, now))
    svc_cfg = config.service_by_id(service_id)
    svc = state.services[service_id]
    waiting = waiting_tickets(state, service_id)
    assert svc_cfg is not None
    return {
        "id": service_id, "name": svc_cfg.name, "name_en": svc_cfg.name_en, "prefix": svc_cfg.prefix,
        "suspended": svc.suspended, "waiting": len(waiting),
        "waiting_priority": sum(1 for t in waiting if t.priority == "priority"),
        # what a customer taking a ticket now would be told (the call rules played forward)
        "est_wait_s": newcomer.get(service_id) or 0,
        # hallq's extension: False when nobody is calling the service (then no minutes are promised)
        "est_known": newcomer.get(service_id) is not None,
        "open_counters": open_counters(setup, state, service_id),
        "avg_service_s": round(svc.avg_service_s),
    }


def counter_document(config: Config, state: HallState, counter_id: str, setup: Setup | None = None) -> dict[str, Any]:
    """A counter as the state shows it; ``services``: what it serves now (a logged-in clerk's skills
    when ``setup`` is given and the hall file names them), in its calling order."""
    cfg = config.counter_by_id(counter_id)
    cs = state.counters[counter_id]
    assert cfg is not None
    device = state.devices.get(f"counter.{counter_id}")
    ticket = state.tickets.get(cs.ticket) if cs.ticket else None
    if device is not None and device.online is False:
        status = "offline"
    elif cs.suspended:
        status = "suspended"
    elif ticket is not None:
        status = "serving"
    else:
        status = "idle"
    return {
        "id": counter_id, "name": cfg.name, "number": config.counter_number(counter_id),
        "services": list(setup.serving(state, counter_id).services if setup is not None else cfg.services),
        "status": status, "suspended": cs.suspended,
        "suspend_reason": cs.suspend_reason or None,
        "ticket": ({"number": ticket.number, "service": ticket.service, "id": ticket.id,
                    "called_at": ticket.called_at, "recalls": ticket.recalls,
                    **_journey_step(ticket)} if ticket else None),
        "clerk": cs.clerk,
    }


def rules_document(setup: Setup, state: HallState) -> dict[str, Any]:
    """The calling rules in force, and whose: the hall file's, or an operator's for the rest of the day."""
    return {**msgspec.to_builtins(setup.rules_in(state)), "by": "operator" if state.rules is not None else "file"}


def _journey_step(ticket: Ticket) -> dict[str, int]:
    """Which step (its index in the route) of how many a journey's ticket is at; nothing for a
    one-service ticket."""
    return {"step": ticket.step, "steps": len(ticket.route)} if ticket.route else {}


def state_document(config: Config, setup: Setup, state: HallState, epoch: int, seq: int,
               recent: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    recent = config.hall.recent_calls if recent is None else recent
    now = now or latest_instant(state)
    waits = newcomer_waits(setup, state, now, latest_issue(state, now))
    counter_names = {k.id: k.name for k in config.counter}
    devices: dict[str, Any] = {}
    for device_id, device in sorted(state.devices.items()):
        devices[device_id] = {**device.status, "online": bool(device.online), "boot": device.boot}
    return {
        "hall": config.hall.id, "hall_name": config.hall.name, "hall_name_en": config.hall.name_en,
        "epoch": epoch, "seq": seq, "mode": state.mode, "day": state.day,
        "message": state.outage_message if state.outage else None,
        "hours": config.hall.hours, "tz": config.hall.timezone,
        "services": [service_document(config, setup, state, s.id, now, waits) for s in config.service],
        "counters": [counter_document(config, state, k.id, setup) for k in config.counter],
        "recent_calls": [{"number": r.number, "counter": r.counter, "at": r.at, "service": r.service,
                          "counter_name": counter_names.get(r.counter, r.counter), "step": r.step, "steps": r.steps}
                         for r in state.recent_calls[:recent]],
        "announcements": list(state.announcements),
        "rules": rules_document(setup, state),
        "devices": devices,
        "alerts": [{"id": a.id, "kind": a.kind, "severity": a.severity, "since": a.since.isoformat(), "text": a.text}
                   for a in sorted(state.alerts.values(), key=lambda a: (a.since, a.id))],
    }
