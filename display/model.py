"""What the hall screen shows, and which calls it announces, as plain data: no pygame, no pixels.

:class:`HallView` takes the retained ``R/state``, the ``R/event`` stream and whether the controller
is there (the device shell's :class:`~hallq.device.shell.Availability`), and answers :meth:`HallView.view`
with a :class:`ViewModel` the renderer draws.

**The state is the truth, at once.** The "now calling" area lists every call that is live right
now: each counter's ticket in the latest state, newest call first. Several counters calling
together are all shown together; a call leaves the area as soon as a state says its ticket was
served, marked no-show, transferred or called again elsewhere. Nothing waits for the voice.

**Events only make news sooner.** A ``ticket_called`` / ``ticket_recalled`` event (deduplicated by
``(epoch, seq)``: QoS 1 may repeat one) starts the call's flash and its announcement a moment
before the state that follows it. A call first seen in a state (events lost while the screen was
away: sessions are clean) is announced from the state, if still fresh. A (re)started screen shows
the calls it finds and announces none of them.

A call is identified by (counter, ticket number, recalls): a recall is a new announcement, and
flashes again. Announcements go to the voice queue (``display/voice.py``), which decides what is
said and when; :meth:`HallView.is_live` tells it whether a call still stands.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hallq.contract import CounterDoc, ServiceDoc, StateDoc, TicketDoc, WireEvent
from hallq.core import events as e
from hallq.device.shell import Availability
from hallq.hardware.speech import SpokenCall
from hallq.runtime.config import Config, DisplayConfig
from hallq.runtime.i18n import service_name

from .i18n import date_text, pair, t
from .voice import Announcement

log = logging.getLogger(__name__)

CALL_EVENTS = (e.TicketCalled, e.TicketRecalled)
_MEMORY = 4096   # event keys remembered for deduplication
CallKey = tuple[str, str, int]      # (counter id, ticket number, recalls)


# --- the view model ------------------------------------------------------------------------
@dataclass(frozen=True)
class CallView:
    number: str
    counter_id: str
    counter_name: str
    counter_name_en: str
    service_name: str
    recall: bool
    flashing: bool
    step: str = ""               # a journey's call: "第2步/共3步 缴费" (empty: a one-service ticket)


@dataclass(frozen=True)
class RecentView:
    number: str
    counter_name: str


@dataclass(frozen=True)
class CounterTile:
    id: str
    name: str
    name_en: str
    number: str            # the ticket at the counter, "" if none
    status: str            # idle | serving | suspended | offline
    label_zh: str          # 空闲 / 暂停服务 / 暂未开放 ("" while serving)
    label_en: str


@dataclass(frozen=True)
class ServiceTile:
    id: str
    name: str
    name_en: str
    prefix: str
    waiting: int
    est_zh: str
    est_en: str
    suspended: bool
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class Banner:
    kind: str              # outage | reconnecting | resumed
    zh: str                # the message (in an outage: the operator's, else the hall's wording)
    en: str = ""


@dataclass(frozen=True)
class ViewModel:
    screen: str            # connecting | open | closed
    hall_name: str
    hall_name_en: str
    date_zh: str
    date_en: str
    clock: str
    calls: tuple[CallView, ...]        # live now, newest first
    recent: tuple[RecentView, ...]     # earlier calls, no longer live
    counters: tuple[CounterTile, ...]
    services: tuple[ServiceTile, ...]
    notices: tuple[str, ...]
    banners: tuple[Banner, ...]
    hours_zh: str
    hours_en: str
    mode: str
    title_zh: str = ""     # the centre text when connecting or closed
    title_en: str = ""

    def static_key(self) -> int:
        """Changes when anything but the clock, the flashing and the ticker's position changes."""
        calls = tuple((c.number, c.counter_id, c.counter_name, c.service_name, c.recall) for c in self.calls)
        return hash((self.screen, self.hall_name, self.hall_name_en, self.date_zh, calls, self.recent,
                     self.counters, self.services, self.notices, self.banners, self.hours_zh, self.mode,
                     self.title_zh))

    def banner(self, kind: str) -> Banner | None:
        return next((b for b in self.banners if b.kind == kind), None)


@dataclass
class _Remembered:
    """A bounded set: the oldest entries are forgotten first."""
    limit: int = _MEMORY
    order: deque[Any] = field(default_factory=deque)
    items: set[Any] = field(default_factory=set)

    def add(self, item: Any) -> bool:
        if item in self.items:
            return False
        self.items.add(item)
        self.order.append(item)
        if len(self.order) > self.limit:
            self.items.discard(self.order.popleft())
        return True


class HallView:
    """Owned by the screen's owner thread. ``now``: the screen's clock in seconds (monotonic, or
    the demo's simulated one); ``wall``: an aware datetime on the same clock."""

    def __init__(self, config: Config, display: DisplayConfig, sound: bool = True) -> None:
        self.config = config
        self.display = display
        self.sound = sound
        self.texts = config.hall.texts
        self.zone = ZoneInfo(config.hall.timezone)
        self.state: StateDoc | None = None
        self.availability = Availability()   # the shell's, once attached
        self.was_reconnecting = False
        self.resumed_until = 0.0
        self.seen_events = _Remembered()
        self.first_seen: dict[CallKey, tuple[float, int]] = {}   # when (and in which order) each call was heard of
        self._heard = 0
        self.event_seq: dict[CallKey, int] = {}        # the event that brought a call (before its state)
        self.announcements: list[Announcement] = []     # for the voice queue, in order
        self.zone_counters = set(display.speak_counters)

    # --- inputs ---------------------------------------------------------------------------------
    def apply_state(self, state: StateDoc, now: float, wall: datetime) -> None:
        first = self.state is None
        self.state = state
        live: set[CallKey] = set()
        for counter in state.counters:
            if counter.ticket is None:
                continue
            key = (counter.id, counter.ticket.number, counter.ticket.recalls)
            live.add(key)
            if key in self.first_seen:
                continue
            if first:
                self._seen(key, now - 3600)               # history: shown, not flashing, not said
                continue
            self._seen(key, now)
            fresh = counter.ticket.recalls > 0 or self._fresh(counter.ticket.called_at or "", wall)
            self._announce(key, counter.ticket.service, now, fresh)
        # forget calls that are over (keep those an event brought and the state has not yet shown)
        for key in [k for k in self.first_seen if k not in live and self.event_seq.get(k, -1) <= state.seq]:
            del self.first_seen[key]
            self.event_seq.pop(key, None)

    def apply_event(self, wired: WireEvent, now: float, wall: datetime) -> bool:
        """True if the event was new (not a QoS 1 repeat)."""
        if not self.seen_events.add((wired.epoch, wired.seq)):
            return False
        event = wired.event
        if isinstance(event, CALL_EVENTS):
            key = (event.counter, event.ticket.number, event.ticket.recalls)
            if key not in self.first_seen and event.counter:
                self._seen(key, now)
                self.event_seq[key] = wired.seq
                self._announce(key, event.ticket.service, now, self._fresh(event.at.isoformat(), wall))
        return True

    def connection_changed(self, now: float) -> None:
        """The link or the controller's presence changed (the shell's availability says how)."""
        if self.reconnecting:
            self.was_reconnecting = self.state is not None or self.was_reconnecting
        elif self.was_reconnecting:
            self.was_reconnecting = False
            self.resumed_until = now + self.display.resumed_s

    def take_announcements(self) -> list[Announcement]:
        out, self.announcements = self.announcements, []
        return out

    def is_live(self, item: Announcement) -> bool:
        """Does the call still stand: its ticket still at that counter (or its state not yet here)?"""
        state = self.state
        if state is None or self.event_seq.get(item.key, -1) > state.seq:
            return True
        counter = state.counter(item.counter_id)
        return counter is not None and counter.ticket is not None and counter.ticket.number == item.number

    # --- derived --------------------------------------------------------------------------------
    def _banners(self, state: StateDoc, now: float) -> list[Banner]:
        """One banner at a time, the one that matters most: an outage the hall declared (still true
        while this screen reconnects, and no "service resumed" beside it until it is ended), then the
        screen's own link to the controller, then "service resumed" for a few seconds."""
        texts = self.texts
        if state.mode == "outage":
            message = (state.message or "").strip()
            # the operator's words are the message; the hall's wording only when there are none
            return [Banner("outage", message, "") if message else Banner("outage", texts.outage, texts.outage_en)]
        if self.reconnecting:
            return [Banner("reconnecting", texts.controller_away, texts.controller_away_en)]
        if now < self.resumed_until:
            return [Banner("resumed", *pair("resumed"))]
        return []

    @property
    def reconnecting(self) -> bool:
        return not self.availability.reachable

    def view(self, now: float, wall: datetime) -> ViewModel:
        local = wall.astimezone(self.zone)
        state = self.state
        texts = self.texts
        hall_name = (state.hall_name if state and state.hall_name else None) or self.config.hall.name
        hall_name_en = (state.hall_name_en if state and state.hall_name_en else None) or self.config.hall.name_en
        hours_zh, hours_en = self._hours_text(state)
        common = dict(
            hall_name=hall_name, hall_name_en=hall_name_en,
            date_zh=date_text("zh", local.year, local.month, local.day, local.weekday()),
            date_en=date_text("en", local.year, local.month, local.day, local.weekday()),
            clock=local.strftime("%H:%M:%S"), hours_zh=hours_zh, hours_en=hours_en,
        )
        if state is None:
            zh, en = pair("connecting")
            return ViewModel(screen="connecting", calls=(), recent=(), counters=(), services=(), notices=(),
                             banners=(), mode="", title_zh=zh, title_en=en, **common)
        banners = self._banners(state, now)
        calls = self._live_calls(state, now)
        live = {(c.number, c.counter_id) for c in calls}
        recent = [RecentView(c.number, self._counter_name(c.counter, c.counter_name))
                  for c in self._sorted_recent(state) if (c.number, c.counter) not in live]
        return ViewModel(
            screen="closed" if state.mode == "closed" else "open",
            calls=calls, recent=tuple(recent[: self.display.recent_count]),
            counters=tuple(self._counter_view(c) for c in state.counters),
            services=tuple(self._service_view(s) for s in state.services),
            notices=tuple(a for a in state.announcements if a.strip()),
            banners=tuple(banners), mode=state.mode, title_zh=texts.closed, title_en=texts.closed_en, **common,
        )

    # --- helpers --------------------------------------------------------------------------------
    def _seen(self, key: CallKey, at: float) -> None:
        self._heard += 1
        self.first_seen[key] = (at, self._heard)

    def _announce(self, key: CallKey, service: str, now: float, fresh: bool) -> None:
        counter_id, number, recalls = key
        if not (self.sound and fresh) or (self.zone_counters and counter_id not in self.zone_counters):
            return
        counter_number = self._counter_number(counter_id)
        self.announcements.append(Announcement(key, SpokenCall(
            number, counter_number, self._counter_name(counter_id),
            self._counter_name_en(counter_id, counter_number), recall=recalls > 0), now))

    def _live_calls(self, state: StateDoc, now: float) -> tuple[CallView, ...]:
        found = []
        for counter in state.counters:
            ticket = counter.ticket
            if ticket is None:
                continue
            key = (counter.id, ticket.number, ticket.recalls)
            seen, order = self.first_seen.get(key, (now - 3600, 0))
            number = self._counter_number(counter.id)
            found.append((seen, order, CallView(
                ticket.number, counter.id, self._counter_name(counter.id), self._counter_name_en(counter.id, number),
                self._service_name(ticket.service) if ticket.service else "", ticket.recalls > 0,
                now - seen < self.display.flash_s, self._step_text(ticket))))
        found.sort(key=lambda f: (f[0], f[1]), reverse=True)
        return tuple(f[2] for f in found)

    def _step_text(self, ticket: TicketDoc) -> str:
        """Where a journey's customer is: the step and its service, so nobody doubts a number
        called again at another counter is theirs."""
        journey = ticket.journey
        if journey is None:
            return ""
        step = t("zh", "journey_step", step=journey[0], steps=journey[1])
        return f"{step} {self._service_name(ticket.service)}" if ticket.service else step

    def _counter_state(self, counter_id: str) -> CounterDoc | None:
        return self.state.counter(counter_id) if self.state is not None else None

    def _counter_name(self, counter_id: str, hint: str = "") -> str:
        state = self._counter_state(counter_id)
        if state is not None and state.name:
            return state.name
        if hint:
            return hint
        conf = self.config.counter_by_id(counter_id)
        return conf.name if conf else counter_id

    def _counter_number(self, counter_id: str, hint: int | None = None) -> int | None:
        if hint is not None:
            return hint
        state = self._counter_state(counter_id)
        if state is not None and state.number is not None:
            return state.number
        return self.config.counter_number(counter_id)

    @staticmethod
    def _counter_name_en(counter_id: str, number: int | None) -> str:
        return f"Counter {number}" if number is not None else f"Counter {counter_id}"

    def _service_name(self, service_id: str) -> str:
        found = self.state.service(service_id) if self.state is not None else None
        if found is not None and found.name:
            return found.name
        conf = self.config.service_by_id(service_id)
        return conf.name if conf else service_id

    def _fresh(self, at: str, wall: datetime) -> bool:
        when = _parse_time(at, self.zone)
        if when is None:
            return True          # no time given: it is news
        return (wall - when).total_seconds() <= self.display.speak_max_age_s

    def _sorted_recent(self, state: StateDoc) -> list[Any]:
        """Newest first (the contract does not fix the order, so sort by time when we can)."""
        calls = list(state.recent_calls)
        times = [_parse_time(c.at, self.zone) for c in calls]
        if all(times):
            order = sorted(range(len(calls)), key=lambda i: times[i], reverse=True)  # type: ignore[arg-type,return-value]
            calls = [calls[i] for i in order]
        return calls

    def _counter_view(self, counter: CounterDoc) -> CounterTile:
        number = self._counter_number(counter.id)
        status = counter.status if counter.status in ("idle", "serving", "suspended", "offline") else "idle"
        texts = self.texts
        label_zh, label_en = {"idle": pair("counter_idle"), "serving": ("", ""),
                              "suspended": (texts.suspended, texts.suspended_en),
                              "offline": pair("counter_offline")}[status]
        shown = counter.ticket.number if counter.ticket is not None else ""
        return CounterTile(counter.id, counter.name or counter.id, self._counter_name_en(counter.id, number),
                           shown, status, label_zh, label_en)

    def _service_view(self, service: ServiceDoc) -> ServiceTile:
        conf = self.config.service_by_id(service.id)
        if conf is not None:     # "缴费 Payment" in the config is both names: Chinese above, English below
            name, name_en = service_name(self.config, service.id, "zh_CN"), service_name(self.config, service.id, "en")
        else:
            name, name_en = service.name or service.id, service.name_en
        if service.waiting > 0 and not service.est_known:
            est_zh, est_en = pair("est_unknown")   # nobody is calling it: no minutes promised
        elif service.waiting <= 0 or service.est_wait_s <= 0:
            est_zh, est_en = pair("no_wait")       # an idle counter calls a newcomer at once
        else:
            minutes = max(1, math.ceil(service.est_wait_s / 60))
            est_zh, est_en = t("zh", "est_wait", m=minutes), t("en", "est_wait", m=minutes)
        texts = self.texts
        label_zh, label_en = (texts.service_suspended, texts.service_suspended_en) if service.suspended else ("", "")
        return ServiceTile(service.id, name, name_en, service.prefix, service.waiting, est_zh, est_en,
                           service.suspended, label_zh, label_en)

    def _hours_text(self, state: StateDoc | None) -> tuple[str, str]:
        hours: Iterable[list[str]] | None = state.hours if state is not None and state.hours else None
        if hours is None:
            hours = self.config.hall.hours
        if not hours:
            return pair("always_open")
        spans = "  ".join(f"{a}–{b}" for a, b in (tuple(h[:2]) for h in hours if len(h) >= 2))
        return t("zh", "hours", hours=spans), t("en", "hours", hours=spans)


def _parse_time(text: str, zone: ZoneInfo) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)
