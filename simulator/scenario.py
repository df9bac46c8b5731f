"""Scenarios: a simulated hall day as TOML, and the plan of the day drawn from it.

A scenario says when the hall opens and closes (simulated clock), how many customers arrive per
service in each hour, how long each service takes (a distribution), who staffs which counter
and when they take lunch, and what goes wrong when (paper out, a declared outage, a controller
crash, a broker restart). :func:`plan_day` turns it into a sorted list of timed happenings with a
seeded random generator: the same scenario and seed give the same day.
"""
from __future__ import annotations

import math
import random
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

from hallq.errors import ConfigError
from hallq.runtime.config import Config, _key_from_msgspec

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class DayConfig(Strict):
    name: str = "a hall day"
    open: str = "09:00"
    close: str = "17:00"
    seed: int = 1
    speed: float = 300.0           # default simulated seconds per real second, headless
    window_speed: float = 60.0     # default when the display has a window to watch
    priority_share: float = 0.05   # customers who press the priority button first
    no_show_share: float = 0.05    # customers who are gone when called
    rating_share: float = 0.7      # customers who press a rating key after service
    ratings: list[float] = msgspec.field(default_factory=lambda: [0.85, 0.1, 0.05])  # chances of 满意 / 一般 / 不满意
    recall_after_s: float = 60.0   # a clerk recalls a customer who does not come after this
    no_show_after_s: float = 120.0  # ... and marks the no-show after this
    wrap_up_s: float = 20.0        # a clerk's pause between finishing and calling the next
    snapshot_every_s: float = 1800.0  # a display snapshot is kept this often (simulated)
    drain: bool = True             # after closing, counters serve everyone still waiting
    drain_max_s: float = 7200.0    # ... for at most this long (simulated)


class Arrivals(Strict):
    service: str
    per_hour: list[float]          # customers per hour, from opening, one value per hour


class Appointments(Strict):
    """Booked slots (预约): the hall imports them at opening; the customers check in at a kiosk."""
    service: str
    per_hour: list[float]          # slots booked per hour, from opening, spread evenly in the hour
    early_s: list[float] = msgspec.field(default_factory=lambda: [60.0, 900.0])  # they come this long before
    late_share: float = 0.1        # ... or after the slot began, up to late_max_s
    late_max_s: float = 1800.0     # (later than the hall's appointment_late_s: a walk-in ticket)
    no_show_share: float = 0.1     # booked and never came


class ServiceTime(Strict):
    service: str
    distribution: Literal["lognormal", "exponential", "uniform", "fixed"] = "lognormal"
    mean_s: float = 300.0
    sd_s: float = 120.0            # lognormal: standard deviation; uniform: half the width
    min_s: float = 30.0


class Staff(Strict):
    counter: str
    clerk: str
    start: str = "09:00"
    end: str = "17:00"
    lunch: list[str] = []          # ["12:00", "12:45"]: the counter is suspended meanwhile


class Happening(Strict):
    at: str
    action: Literal["printer", "outage", "crash", "broker_restart", "suspend_service", "resume_service",
                    "announce"]
    kiosk: str = ""                # printer
    condition: str = "ok"          # printer: ok | paper_low | paper_out | cover_open | offline
    minutes: float = 10.0          # outage: how long it is declared
    message: str = "系统维护，请稍候 System maintenance"
    component: str = "controller"  # crash: which process is killed (SIGKILL)
    down_s: float = 600.0          # crash / broker_restart: how long it stays down (simulated)
    service: str = ""              # suspend_service / resume_service
    text: str = ""                 # announce


class Scenario(Strict):
    day: DayConfig = msgspec.field(default_factory=DayConfig)
    arrivals: list[Arrivals] = []
    appointments: list[Appointments] = []
    service_time: list[ServiceTime] = []
    staff: list[Staff] = []
    happening: list[Happening] = []
    path: str = ""

    @property
    def open_s(self) -> float:
        return hhmm_s(self.day.open)

    @property
    def close_s(self) -> float:
        return hhmm_s(self.day.close)


def hhmm_s(value: str) -> float:
    h, m = value.split(":")
    return int(h) * 3600 + int(m) * 60


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def default_scenario_path() -> Path:
    return Path(str(resources.files("hallq.simulator").joinpath("default_scenario.toml")))


def default_hall_path() -> Path:
    return Path(str(resources.files("hallq.simulator").joinpath("default_hall.toml")))


def load_scenario(path: str | Path, config: Config) -> Scenario:
    """Read and check a scenario against the hall it runs in; ConfigError names the key."""
    name = str(path)
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as err:
        raise ConfigError(name, "(file)", f"a readable scenario TOML ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(name, "(syntax)", f"valid TOML ({err})") from None
    try:
        scenario = msgspec.convert(data, Scenario, strict=True)
    except msgspec.ValidationError as err:
        key, expected = _key_from_msgspec(str(err))
        raise ConfigError(name, key, expected) from None
    scenario.path = name
    check_scenario(scenario, config)
    return scenario


def check_scenario(s: Scenario, config: Config) -> None:
    name = s.path or "<scenario>"

    def fail(key: str, expected: str) -> None:
        raise ConfigError(name, key, expected)

    for key in ("open", "close"):
        if not HHMM.match(getattr(s.day, key)):
            fail(f"day.{key}", 'a time "HH:MM"')
    if s.close_s <= s.open_s:
        fail("day.close", "a time after day.open")
    if s.day.speed <= 0 or s.day.window_speed <= 0:
        fail("day.speed", "a positive number of simulated seconds per real second")
    for key in ("priority_share", "no_show_share", "rating_share"):
        if not 0 <= getattr(s.day, key) <= 1:
            fail(f"day.{key}", "a share from 0 to 1")
    if len(s.day.ratings) != 3 or any(r < 0 for r in s.day.ratings) or sum(s.day.ratings) <= 0:
        fail("day.ratings", "three non-negative weights (satisfied, neutral, unsatisfied)")
    services = {sv.id for sv in config.service}
    hours = math.ceil((s.close_s - s.open_s) / 3600)
    for i, a in enumerate(s.arrivals):
        if a.service not in services:
            fail(f"arrivals[{i}].service", f"a service of the hall ({', '.join(sorted(services))})")
        if not a.per_hour or any(r < 0 for r in a.per_hour):
            fail(f"arrivals[{i}].per_hour", "a list of non-negative customers per hour")
        if len(a.per_hour) > hours:
            fail(f"arrivals[{i}].per_hour", f"at most {hours} values, one per opening hour")
    for i, ap in enumerate(s.appointments):
        if ap.service not in services:
            fail(f"appointments[{i}].service", f"a service of the hall ({', '.join(sorted(services))})")
        if not ap.per_hour or any(r < 0 for r in ap.per_hour) or len(ap.per_hour) > hours:
            fail(f"appointments[{i}].per_hour", f"at most {hours} non-negative slot counts, one per opening hour")
        if len(ap.early_s) != 2 or not 0 <= ap.early_s[0] <= ap.early_s[1]:
            fail(f"appointments[{i}].early_s", "[least, most] seconds early, 0 <= least <= most")
        if not (0 <= ap.late_share <= 1 and 0 <= ap.no_show_share <= 1) or ap.late_max_s < 0:
            fail(f"appointments[{i}]", "late_share and no_show_share from 0 to 1, late_max_s not negative")
    for i, t in enumerate(s.service_time):
        if t.service not in services:
            fail(f"service_time[{i}].service", f"a service of the hall ({', '.join(sorted(services))})")
        if t.mean_s <= 0 or t.sd_s < 0 or t.min_s < 0:
            fail(f"service_time[{i}]", "a positive mean_s, and sd_s, min_s not negative")
    counters = {c.id for c in config.counter}
    for i, st in enumerate(s.staff):
        if st.counter not in counters:
            fail(f"staff[{i}].counter", f"a counter of the hall ({', '.join(sorted(counters))})")
        for key in ("start", "end"):
            if not HHMM.match(getattr(st, key)):
                fail(f"staff[{i}].{key}", 'a time "HH:MM"')
        if st.lunch and (len(st.lunch) != 2 or not all(HHMM.match(x) for x in st.lunch) or st.lunch[0] >= st.lunch[1]):
            fail(f"staff[{i}].lunch", 'a pair ["HH:MM", "HH:MM"], start before end')
    kiosks = {k.id for k in config.kiosk}
    components = {"controller", *(f"kiosk.{k}" for k in kiosks), *(f"counter.{c}" for c in counters),
                  *(f"display.{d.id}" for d in config.display)}
    for i, h in enumerate(s.happening):
        if not HHMM.match(h.at):
            fail(f"happening[{i}].at", 'a time "HH:MM"')
        if h.action == "printer":
            if h.kiosk not in kiosks:
                fail(f"happening[{i}].kiosk", f"a kiosk of the hall ({', '.join(sorted(kiosks))})")
            if h.condition not in ("ok", "paper_low", "paper_out", "cover_open", "offline"):
                fail(f"happening[{i}].condition", "ok, paper_low, paper_out, cover_open or offline")
        if h.action == "crash" and h.component not in components:
            fail(f"happening[{i}].component", f"one of {', '.join(sorted(components))}")
        if h.action in ("suspend_service", "resume_service") and h.service not in services:
            fail(f"happening[{i}].service", f"a service of the hall ({', '.join(sorted(services))})")
        if h.action in ("crash", "broker_restart") and h.down_s < 0:
            fail(f"happening[{i}].down_s", "seconds (simulated), not negative")
        if h.action == "outage" and h.minutes <= 0:
            fail(f"happening[{i}].minutes", "a positive number of minutes")
        if h.action == "announce" and not h.text:
            fail(f"happening[{i}].text", "the text to announce")


# --- the plan of the day -------------------------------------------------------------------------
@dataclass(order=True)
class Arrival:
    at: float                      # simulated seconds since midnight
    service: str = field(compare=False)
    priority: bool = field(compare=False, default=False)
    show: bool = field(compare=False, default=True)        # False: gone when called (no-show)
    service_s: float = field(compare=False, default=300.0)  # how long the counter takes for them
    rating: int | None = field(compare=False, default=None)
    kiosk_pick: float = field(compare=False, default=0.0)   # which kiosk they walk to (0..1)
    code: str | None = field(compare=False, default=None)   # an appointment's code: they check in


@dataclass(frozen=True)
class Booking:
    code: str
    service: str
    slot_s: float                  # simulated seconds since midnight


@dataclass
class DayPlan:
    arrivals: list[Arrival]
    happenings: list[tuple[float, Happening]]
    bookings: list[Booking] = field(default_factory=list)


def draw_service_time(rng: random.Random, spec: ServiceTime | None) -> float:
    if spec is None:
        return max(30.0, rng.expovariate(1 / 300))
    if spec.distribution == "fixed":
        value = spec.mean_s
    elif spec.distribution == "exponential":
        value = rng.expovariate(1 / spec.mean_s)
    elif spec.distribution == "uniform":
        value = rng.uniform(spec.mean_s - spec.sd_s, spec.mean_s + spec.sd_s)
    else:  # lognormal with the given mean and standard deviation
        sigma2 = math.log(1 + (spec.sd_s / spec.mean_s) ** 2)
        value = rng.lognormvariate(math.log(spec.mean_s) - sigma2 / 2, math.sqrt(sigma2))
    return max(spec.min_s, value)


def plan_day(s: Scenario) -> DayPlan:
    """Arrivals as a Poisson process per service with the hourly rates; everything seeded."""
    rng = random.Random(s.day.seed)
    times = {t.service: t for t in s.service_time}
    arrivals: list[Arrival] = []
    for a in s.arrivals:
        for hour, rate in enumerate(a.per_hour):
            start = s.open_s + hour * 3600
            end = min(start + 3600, s.close_s)
            if rate <= 0:
                continue
            at = start + rng.expovariate(rate / 3600)
            while at < end:
                rating = None
                if rng.random() < s.day.rating_share:
                    rating = rng.choices([1, 2, 3], weights=s.day.ratings)[0]
                arrivals.append(Arrival(
                    at=at, service=a.service, priority=rng.random() < s.day.priority_share,
                    show=rng.random() >= s.day.no_show_share,
                    service_s=draw_service_time(rng, times.get(a.service)), rating=rating,
                    kiosk_pick=rng.random()))
                at += rng.expovariate(rate / 3600)
    bookings = _book(s, rng, times, arrivals)
    arrivals.sort()
    happenings = sorted(((hhmm_s(h.at), h) for h in s.happening), key=lambda p: p[0])
    return DayPlan(arrivals, happenings, bookings)


def _book(s: Scenario, rng: random.Random, times: dict[str, ServiceTime], arrivals: list[Arrival]) -> list[Booking]:
    """The day's booked slots, and the arrival of each customer who comes (early, or late)."""
    bookings: list[Booking] = []
    for ap in s.appointments:
        for hour, count in enumerate(ap.per_hour):
            n = int(round(count))
            for i in range(n):
                slot = s.open_s + hour * 3600 + (i + 0.5) * 3600 / n
                code = f"YY{int(slot) // 60:04d}{ap.service.upper()[:3]}{rng.randrange(10000):04d}"
                bookings.append(Booking(code, ap.service, slot))
                if rng.random() < ap.no_show_share:
                    continue
                late = rng.random() < ap.late_share
                at = slot + rng.uniform(0, ap.late_max_s) if late else slot - rng.uniform(*ap.early_s)
                rating = rng.choices([1, 2, 3], weights=s.day.ratings)[0] if rng.random() < s.day.rating_share else None
                arrivals.append(Arrival(at=max(s.open_s, at), service=ap.service, show=True,
                                        service_s=draw_service_time(rng, times.get(ap.service)), rating=rating,
                                        kiosk_pick=rng.random(), code=code))
    return bookings
