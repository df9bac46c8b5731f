"""Numbering that goes on after a fresh start (``hallq controller --fresh-start``). Pure."""
from __future__ import annotations

from datetime import datetime

from . import commands as c
from . import events as e
from .model import OVERFLOW_TOP, HallState
from .setup import Setup


def continue_numbering(setup: Setup, state: HallState, cmd: c.ContinueNumbering, now: datetime) -> list[e.Event]:
    """Each service's next online number above the highest the hall had used (never lower than now)."""
    out: list[e.Event] = []
    for service in setup.services.values():
        used = cmd.numbers.get(service.prefix, 0)
        svc = state.services[service.id]
        if used + 1 > svc.next_number:
            out.append(e.NumberingContinued(at=now, service=service.id, next_number=min(used + 1, OVERFLOW_TOP)))
    return out
