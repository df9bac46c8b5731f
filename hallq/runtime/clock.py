"""The clock a process runs on: the real one, or the demo's simulated day.

``hallq demo`` plays a whole business day in minutes. For what people see and hear to be true to
that day (the screen's clock, how long a call waits to be said, the controller's hours, waits and
estimates) every process of the demo runs on one simulated clock, given to each in the
environment: ``HALLQ_SIM_CLOCK=<shown ISO time>,<real UNIX time>,<speed>`` means "at that real
instant the hall's clock showed that time, and it runs ``speed`` times faster". Processes started
at different moments agree, since all count from the same real instant.

Without the variable a process runs on the real clock. A process on a simulated clock says so in
its log at start: it must never happen in a real hall by accident.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hallq.errors import ConfigError

ENV = "HALLQ_SIM_CLOCK"


@dataclass(frozen=True)
class Clock:
    """Seconds (``now``, for durations) and aware datetimes (``wall``) on one clock.

    ``shown``/``real``/``speed``: at the UNIX time ``real`` the clock showed ``shown`` and it runs
    ``speed`` times faster than the real one. The real clock is ``Clock()``.
    """
    shown: datetime | None = None
    real: float = 0.0
    speed: float = 1.0
    _mono0: float = field(default_factory=time.monotonic)

    @property
    def simulated(self) -> bool:
        return self.shown is not None

    def wall(self) -> datetime:
        if self.shown is None:
            return datetime.now(timezone.utc)
        return self.shown + timedelta(seconds=(time.time() - self.real) * self.speed)

    def now(self) -> float:
        """Monotonic seconds; on a simulated clock they pass ``speed`` times faster."""
        if self.shown is None:
            return time.monotonic()
        return self._mono0 + (time.monotonic() - self._mono0) * self.speed

    def text(self) -> str:
        """The environment value that puts another process on this clock."""
        if self.shown is None:
            return ""
        return f"{self.shown.isoformat()},{self.real:.6f},{self.speed:g}"


def parse_clock(text: str, where: str = ENV) -> Clock:
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        shown = datetime.fromisoformat(parts[0].strip())
        real, speed = float(parts[1]), float(parts[2])
    except ValueError:
        raise ConfigError("<environment>", where,
                          f"<shown ISO time with offset>,<real UNIX time>,<speed>, not {text!r}") from None
    if shown.tzinfo is None or not speed > 0:
        raise ConfigError("<environment>", where, "a shown time with its UTC offset and a positive speed")
    return Clock(shown, real, speed)


def clock_from_env() -> Clock:
    text = os.environ.get(ENV, "").strip()
    return parse_clock(text) if text else Clock()


def sim_clock_or_real(log: logging.Logger) -> Clock:
    """A process's clock at its bootstrap; a simulated one is said loudly."""
    clock = clock_from_env()
    if clock.simulated:
        log.warning("running on a simulated clock (%s=%s): for demos only", ENV, clock.text())
    return clock
