"""The people of a simulated hall day: customers in front of a kiosk, clerks at their counters,
and the day's tallies (plain data the engine drives)."""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .scenario import Arrival, Staff, hhmm_s


@dataclass
class Customer:
    plan: Arrival
    attempts: int = 0
    ticket: str | None = None
    turned_away: str | None = None


@dataclass
class Lane:
    """One kiosk and the people in front of it."""
    kiosk: str
    folder: Path
    services: tuple[str, ...]
    line: deque[Customer] = field(default_factory=deque)
    current: Customer | None = None
    pressed_at: float = 0.0
    files: dict[str, int] = field(default_factory=dict)   # name -> mtime_ns of what it printed
    printed: int = 0
    slips: int = 0
    probes: list[tuple[float, str, int]] = field(default_factory=list)  # (deadline, condition, printed then)

    def scan(self) -> tuple[list[str], list[str]]:
        """New files since the last scan, and files written again (reprints)."""
        new, again = [], []
        if not self.folder.is_dir():
            return new, again
        for entry in os.scandir(self.folder):
            if not entry.name.endswith(".bin"):
                continue
            mtime = entry.stat().st_mtime_ns
            old = self.files.get(entry.name)
            if old is None:
                new.append(entry.name)
            elif old != mtime:
                again.append(entry.name)
            self.files[entry.name] = mtime
        return sorted(new), again


@dataclass
class ClerkPlan:
    number: str
    called_at: float
    show: bool
    service_s: float
    rating: int | None
    recalled: bool = False


class Clerk:
    def __init__(self, counter: str, services: list[str], staff: Staff | None, close_s: float) -> None:
        self.counter, self.services, self.staff, self.close_s = counter, services, staff, close_s
        self.device = f"counter.{counter}"
        self.current: ClerkPlan | None = None
        self.idle_since = 0.0
        self.last_press: dict[tuple[str, str | None], float] = {}
        self.served = 0

    def on_duty(self, now: float, closing: bool) -> bool:
        if self.staff is None:
            return False
        start, end = hhmm_s(self.staff.start), hhmm_s(self.staff.end)
        if closing:   # whoever works until closing time serves those still waiting
            return start <= self.close_s <= end
        if not start <= now < end:
            return False
        if self.staff.lunch and hhmm_s(self.staff.lunch[0]) <= now < hhmm_s(self.staff.lunch[1]):
            return False
        return True


@dataclass
class Stats:
    arrived: int = 0
    tickets: int = 0
    turned_away: int = 0
    slips: int = 0
    presses: int = 0
    reprints: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    probe_results: list[str] = field(default_factory=list)
    happenings: list[str] = field(default_factory=list)
