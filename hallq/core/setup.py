"""The static part of a hall the rules need (services, counters, kiosks, hours, windows), made
from its config by the controller's bootstrap (hallq.runtime.setup.setup_from_config): the core never
reads the config itself."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from .model import CallingRules, CounterState, HallState, ServiceState


@dataclass(frozen=True)
class ServiceSetup:
    id: str
    prefix: str
    est_service_s: float
    route: tuple[str, ...] = ()        # the services a ticket of this one goes on to, in order (a journey)


@dataclass(frozen=True)
class CounterSetup:
    """What a counter serves and in which order: its own, or a logged-in clerk's skills."""
    id: str
    services: tuple[str, ...]
    call_order: str                    # oldest | service_order | weighted
    weights: dict[str, int] = field(default_factory=dict)   # weighted: calls of each service in proportion


@dataclass(frozen=True)
class Setup:
    tz: ZoneInfo
    hours: tuple[tuple[time, time], ...] | None
    services: dict[str, ServiceSetup]
    counters: dict[str, CounterSetup]
    kiosks: dict[str, tuple[str, ...]]
    outage_issuing: str = "continue"
    no_show_reinstate_s: int = 1800
    rating_window_s: int = 120
    appointment_early_s: int = 3600
    appointment_late_s: int = 900
    service_level_wait_s: int = 900    # alert: someone has waited longer than this
    idle_alert_s: int = 120            # alert: a counter idle this long while its services have people waiting
    kiosk_day_share: float = 0.5       # of a service's 999 numbers one kiosk may issue a day (see kiosk_cap)
    priority_per_normal: int = 0       # priority calls of a service in a row while a walk-in waits (0: no bound)
    ageing_s: int = 0                  # a walk-in waiting this long goes ahead of priority and appointments (0: off)
    journey_order: str = "issued"      # a journey's next step queues by the issue time, or "step": by when it got there
    auto_call_s: int = 0               # a counter free this long calls the next by itself (0: off)
    appointment_place: str = "ahead"   # an on-time appointment: ahead once its slot began, or "interleaved" by its slot
    clerks: dict[str, CounterSetup] = field(default_factory=dict)   # clerk id -> skills (id: the clerk's)
    # joining from a phone: each service's tickets a day (absent or 0: not offered), per phone and per
    # address a day, and what happens to a remote ticket not confirmed on arrival when its turn comes
    remote_caps: dict[str, int] = field(default_factory=dict)
    remote_per_device: int = 2
    remote_per_address: int = 20
    remote_unconfirmed: str = "wait"   # wait: kept in its place, not called | skip: passed over as a no-show
    # booking by customers (the web's booking page): per service, (slot minutes, bookings per counter
    # serving it per slot, days ahead); absent: only operators book it (no slots, no capacity)
    booking: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def file_rules(self) -> CallingRules:
        """The calling rules the hall file sets."""
        return CallingRules(priority_per_normal=self.priority_per_normal, ageing_s=self.ageing_s,
                            journey_order=self.journey_order, auto_call_s=self.auto_call_s,  # type: ignore[arg-type]
                            appointment_place=self.appointment_place)  # type: ignore[arg-type]

    def rules_in(self, state: HallState) -> CallingRules:
        """The calling rules in force: an operator's for the rest of the day, else the hall file's."""
        return state.rules if state.rules is not None else self.file_rules

    def serving(self, state: HallState, counter: str) -> CounterSetup:
        """What ``counter`` serves now: the skills of the clerk logged in there, when the hall file
        gives them (``[[clerk]] services``), else the counter's own."""
        own = self.counters[counter]
        cs = state.counters.get(counter)
        skills = self.clerks.get(cs.clerk) if cs is not None and cs.clerk is not None else None
        if skills is None or not skills.services:
            return own
        return CounterSetup(counter, skills.services, skills.call_order, skills.weights)

    def desks(self, state: HallState) -> dict[str, CounterSetup]:
        """Every counter as :meth:`serving` sees it now."""
        return {k: self.serving(state, k) for k in self.counters}

    def kiosk_cap(self, kiosk: str, service: str, issued: dict[str, int]) -> int | None:
        """The tickets of ``service`` one kiosk may issue today, given what each kiosk issued
        (``HallState.kiosk_issued``): its share of the 999 three-digit numbers, or twice what the
        busiest other kiosk of the service issued, whichever is more (a busy day spread over the
        kiosks never meets it; one kiosk flooding alone does). None: no limit (the hall's only
        kiosk for the service, or a share of 1)."""
        others = [k for k, services in self.kiosks.items() if service in services and k != kiosk]
        if not others or self.kiosk_day_share >= 1.0:
            return None
        busiest = max(issued.get(f"kiosk.{k}|{service}", 0) for k in others)
        return max(int(self.kiosk_day_share * 999), 2 * busiest)

    def business_day(self, now: datetime) -> str:
        return now.astimezone(self.tz).date().isoformat()

    def in_hours(self, now: datetime) -> bool:
        if self.hours is None:
            return True
        local = now.astimezone(self.tz).time()
        return any(start <= local < end for start, end in self.hours)

    def initial_state(self) -> HallState:
        return HallState(
            services={s.id: ServiceState(id=s.id, avg_service_s=s.est_service_s) for s in self.services.values()},
            counters={k: CounterState(id=k) for k in self.counters},
        )

    def reconcile(self, state: HallState) -> HallState:
        """Adapt a stored state to an edited config: new services and counters appear."""
        missing_services = [s for s in self.services.values() if s.id not in state.services]
        missing_counters = [k for k in self.counters if k not in state.counters]
        if not missing_services and not missing_counters:
            return state
        new = state.copy()
        for s in missing_services:
            new.services[s.id] = ServiceState(id=s.id, avg_service_s=s.est_service_s)
        for k in missing_counters:
            new.counters[k] = CounterState(id=k)
        return new
