"""What the hall screen shows, as plain data: no pygame, no pixels.

:class:`HallView` takes the retained ``R/state``, the ``R/event`` stream, the controller's
presence and the link's ups and downs, and answers :meth:`HallView.view` with a
:class:`ViewModel` the renderer draws. It also decides what is spoken: every call and recall
event once (deduplicated by ``(epoch, seq)``, since QoS 1 may repeat a message), in arrival
order, and only when it is fresh (``speak_max_age_s``); older calls are shown, not spoken.

It reads the contract's documents as :mod:`hall.wire` decodes them, and whether the controller
is there from the device shell's :class:`~hall.shell.Availability` (shared, one rule).

The whole picture always comes from the state (a restarted screen is right at once). Events only
animate and announce. When events are lost (a gap in ``seq``, or a reconnect: sessions are
clean, so nothing is queued for an absent screen) the next state repairs it: calls in its
``recent_calls`` that no event brought are put on the panel (and spoken if still fresh).
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

from hall.config import Config, DisplayConfig
from hall.shell import Availability
from hall.wire import CounterDoc, CounterRefDoc, EventDoc, RecentCallDoc, ServiceDoc, StateDoc

from .i18n import both, date_text, t

log = logging.getLogger(__name__)

CALL_EVENTS = ("ticket_called", "ticket_recalled")
_MEMORY = 4096   # how many event keys and call identities are remembered for deduplication


# --- the view model ------------------------------------------------------------------------
@dataclass(frozen=True)
class PanelView:
    number: str
    counter_name: str
    counter_name_en: str
    service_name: str
    recall: bool
    flashing: bool
    queued: int            # further calls waiting for the panel


@dataclass(frozen=True)
class RecentView:
    number: str
    counter_name: str


@dataclass(frozen=True)
class CounterTile:
    id: str
    name: str
    name_en: str
    number: str            # ticket being served or called, "" if none
    status: str            # idle | serving | suspended | offline
    label_zh: str
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
    zh: str
    en: str
    detail: str = ""       # the operator's message in an outage


@dataclass(frozen=True)
class ViewModel:
    screen: str            # connecting | open | closed
    hall_name: str
    hall_name_en: str
    date_zh: str
    date_en: str
    clock: str
    panel: PanelView | None
    recent: tuple[RecentView, ...]
    counters: tuple[CounterTile, ...]
    services: tuple[ServiceTile, ...]
    notices: tuple[str, ...]
    banners: tuple[Banner, ...]
    hours_zh: str
    hours_en: str
    mode: str

    def static_key(self) -> int:
        """Changes when anything but the clock, the flashing and the ticker's position changes."""
        panel = None if self.panel is None else (self.panel.number, self.panel.counter_name,
                                                 self.panel.service_name, self.panel.recall, self.panel.queued)
        return hash((self.screen, self.hall_name, self.hall_name_en, self.date_zh, panel, self.recent,
                     self.counters, self.services, self.notices, self.banners, self.hours_zh, self.mode))

    def banner(self, kind: str) -> Banner | None:
        return next((b for b in self.banners if b.kind == kind), None)


# --- calls on their way to the panel and the speaker -----------------------------------------
@dataclass
class CallItem:
    key: tuple[Any, ...]               # (epoch, seq) of its event, or ("state", number, counter, at)
    number: str
    service: str
    counter_id: str
    counter_name: str
    counter_name_en: str
    counter_number: int | None
    recall: bool
    speak: bool
    shown_at: float | None = None
    spoken: bool = False               # the speaker has finished it


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

    def __contains__(self, item: Any) -> bool:
        return item in self.items


class HallView:
    """Owned by the screen's owner thread. Times: ``now`` is monotonic, ``wall`` aware datetime."""

    def __init__(self, config: Config, display: DisplayConfig, sound: bool = True) -> None:
        self.config = config
        self.display = display
        self.sound = sound
        self.zone = ZoneInfo(config.hall.timezone)
        self.state: StateDoc | None = None
        self.availability = Availability()   # the shell's, once attached
        self.was_reconnecting = False
        self.resumed_until = 0.0
        self.seen_events = _Remembered()
        self.known_calls = _Remembered()
        self.last_event_seq: int | None = None
        self.repair_pending = False
        self.repair_from_seq: int | None = None
        self.panel_queue: deque[CallItem] = deque()
        self.panel: CallItem | None = None
        self.speech_out: list[CallItem] = []          # to hand to the audio worker, in order
        self.events_applied = 0

    # --- inputs ---------------------------------------------------------------------------------
    def apply_state(self, state: StateDoc, now: float, wall: datetime) -> None:
        first = self.state is None
        self.state = state
        if first:
            # a (re)started screen: everything in recent_calls is history, shown and not spoken
            for call in state.recent_calls:
                self.known_calls.add(self._identity(call.number, call.counter, call.at))
            latest = self._sorted_recent(state)[:1]
            if latest and self.panel is None:
                self.panel = self._item_from_recent(latest[0], wall, speak=False)
                self.panel.shown_at = now - 3600      # not flashing
            self.last_event_seq = state.seq if self.last_event_seq is None else self.last_event_seq
            self.repair_pending = False
            return
        if self.repair_pending and (self.repair_from_seq is None or state.seq >= self.repair_from_seq):
            self._repair_from(state, now, wall)

    def apply_event(self, event: EventDoc, now: float, wall: datetime) -> bool:
        """True if the event was new (not a QoS 1 repeat)."""
        if not self.seen_events.add((event.epoch, event.seq)):
            return False
        self.events_applied += 1
        last = self.last_event_seq
        if last is not None and event.seq > last + 1:
            log.info("events %d..%d missed; repairing from the next state", last + 1, event.seq - 1)
            self.repair_pending = True
            self.repair_from_seq = event.seq - 1
        if last is None or event.seq > last or event.seq < last - 100_000:  # the last: a reset controller
            self.last_event_seq = event.seq
        if event.type in CALL_EVENTS and event.ticket is not None:
            self._accept_call_event(event, now, wall)
        # the state published after a change may already be here: repair at once if it covers the gap
        if self.repair_pending and self.state is not None and self.repair_from_seq is not None \
                and self.state.seq >= self.repair_from_seq:
            self._repair_from(self.state, now, wall)
        return True

    def connection_changed(self, now: float) -> None:
        """The link or the controller's presence changed (the shell's availability says how)."""
        if not self.availability.link_up:
            # clean sessions: events published while we are away are lost; the next state repairs
            self.repair_pending = True
            self.repair_from_seq = None
        self._check_recovery(now)

    def speech_done(self, key: Any) -> None:
        for item in ([self.panel] if self.panel else []) + list(self.panel_queue):
            if item.key == key:
                item.spoken = True

    def take_speech(self) -> list[CallItem]:
        out, self.speech_out = self.speech_out, []
        return out

    def tick(self, now: float) -> None:
        """Move the next call onto the panel when the current one has had its time."""
        hold = self.display.call_hold_s
        while self.panel_queue:
            current = self.panel
            if current is not None and current.shown_at is not None:
                shown_for = now - current.shown_at
                waiting_for_voice = current.speak and not current.spoken and shown_for < self.display.call_max_hold_s
                if shown_for < hold or waiting_for_voice:
                    return
            self.panel = self.panel_queue.popleft()
            self.panel.shown_at = now
            return

    # --- derived --------------------------------------------------------------------------------
    @property
    def reconnecting(self) -> bool:
        return not self.availability.reachable

    def view(self, now: float, wall: datetime) -> ViewModel:
        self.tick(now)
        local = wall.astimezone(self.zone)
        state = self.state
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
            return ViewModel(screen="connecting", panel=None, recent=(), counters=(), services=(),
                             notices=(), banners=(), mode="", **common)
        banners: list[Banner] = []
        if state.mode == "outage":
            zh, en = both("outage_title")
            banners.append(Banner("outage", zh, en, state.message or ""))
        if self.reconnecting:
            banners.append(Banner("reconnecting", *both("reconnecting")))
        elif now < self.resumed_until:
            banners.append(Banner("resumed", *both("resumed")))
        return ViewModel(
            screen="closed" if state.mode == "closed" else "open",
            panel=self._panel_view(now),
            recent=tuple(RecentView(c.number, self._counter_name(c.counter, c.counter_name))
                         for c in self._sorted_recent(state)[: self.display.recent_count]),
            counters=tuple(self._counter_view(c) for c in state.counters),
            services=tuple(self._service_view(s) for s in state.services),
            notices=tuple(a for a in state.announcements if a.strip()),
            banners=tuple(banners), mode=state.mode, **common,
        )

    # --- helpers --------------------------------------------------------------------------------
    def _check_recovery(self, now: float) -> None:
        if self.reconnecting:
            self.was_reconnecting = self.state is not None or self.was_reconnecting
        elif self.was_reconnecting:
            self.was_reconnecting = False
            self.resumed_until = now + self.display.resumed_s

    def _identity(self, number: str, counter: str, at: str) -> tuple[str, str, str]:
        return (number, counter, _normal_time(at))

    def _counter_state(self, counter_id: str) -> CounterDoc | None:
        if self.state is None:
            return None
        return next((c for c in self.state.counters if c.id == counter_id), None)

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

    def _counter_name_en(self, counter_id: str, number: int | None) -> str:
        return f"Counter {number}" if number is not None else f"Counter {counter_id}"

    def _service_name(self, service_id: str) -> str:
        if self.state is not None:
            found = next((s for s in self.state.services if s.id == service_id), None)
            if found is not None and found.name:
                return found.name
        conf = self.config.service_by_id(service_id)
        return conf.name if conf else service_id

    def _fresh(self, at: str, wall: datetime) -> bool:
        when = _parse_time(at, self.zone)
        if when is None:
            return True          # no time given: it is news
        return (wall - when).total_seconds() <= self.display.speak_max_age_s

    def _enqueue(self, item: CallItem) -> None:
        self.panel_queue.append(item)
        if item.speak:
            self.speech_out.append(item)

    def _accept_call_event(self, event: EventDoc, now: float, wall: datetime) -> None:
        ticket = event.ticket
        assert ticket is not None
        if isinstance(event.counter, CounterRefDoc):
            counter_id, name_hint, number_hint = event.counter.id, event.counter.name, event.counter.number
        else:
            counter_id, name_hint, number_hint = event.counter or "", "", None
        identity = self._identity(ticket.number, counter_id, event.at)
        fresh_identity = identity not in self.known_calls
        if ticket.called_at and event.type == "ticket_called":
            fresh_identity = fresh_identity and \
                self._identity(ticket.number, counter_id, ticket.called_at) not in self.known_calls
            self.known_calls.add(self._identity(ticket.number, counter_id, ticket.called_at))
        self.known_calls.add(identity)
        if not fresh_identity and event.type == "ticket_called":
            return               # a repair already showed this call
        number = self._counter_number(counter_id, number_hint)
        self._enqueue(CallItem(
            key=(event.epoch, event.seq), number=ticket.number, service=ticket.service,
            counter_id=counter_id, counter_name=self._counter_name(counter_id, name_hint),
            counter_name_en=self._counter_name_en(counter_id, number), counter_number=number,
            recall=event.type == "ticket_recalled",
            speak=self.sound and self._fresh(event.at, wall),
        ))

    def _item_from_recent(self, call: RecentCallDoc, wall: datetime, speak: bool) -> CallItem:
        number = self._counter_number(call.counter)
        return CallItem(
            key=("state", call.number, call.counter, call.at), number=call.number, service=call.service,
            counter_id=call.counter, counter_name=self._counter_name(call.counter, call.counter_name),
            counter_name_en=self._counter_name_en(call.counter, number), counter_number=number,
            recall=False, speak=speak and self.sound and self._fresh(call.at, wall),
        )

    def _repair_from(self, state: StateDoc, now: float, wall: datetime) -> None:
        self.repair_pending = False
        self.repair_from_seq = None
        missed = [c for c in reversed(self._sorted_recent(state))
                  if self._identity(c.number, c.counter, c.at) not in self.known_calls]
        for call in missed:
            self.known_calls.add(self._identity(call.number, call.counter, call.at))
            self._enqueue(self._item_from_recent(call, wall, speak=True))
        if missed:
            log.info("repaired %d call(s) from state seq %d", len(missed), state.seq)
        if self.last_event_seq is None or state.seq > self.last_event_seq:
            self.last_event_seq = state.seq

    def _sorted_recent(self, state: StateDoc) -> list[RecentCallDoc]:
        """Newest first (the contract does not fix the order, so sort by time when we can)."""
        calls = list(state.recent_calls)
        if all(_parse_time(c.at, self.zone) for c in calls):
            calls.sort(key=lambda c: _parse_time(c.at, self.zone), reverse=True)  # type: ignore[arg-type,return-value]
        return calls

    def _panel_view(self, now: float) -> PanelView | None:
        item = self.panel
        if item is None:
            return None
        shown_at = item.shown_at if item.shown_at is not None else now
        return PanelView(
            number=item.number, counter_name=item.counter_name, counter_name_en=item.counter_name_en,
            service_name=self._service_name(item.service) if item.service else "",
            recall=item.recall, flashing=now - shown_at < self.display.flash_s,
            queued=len(self.panel_queue),
        )

    def _counter_view(self, counter: CounterDoc) -> CounterTile:
        number = self._counter_number(counter.id)
        status = counter.status if counter.status in ("idle", "serving", "suspended", "offline") else "idle"
        label_zh, label_en = ("", "") if status == "serving" else both(f"counter_{status}")
        shown = counter.ticket.number if counter.ticket is not None and status == "serving" else ""
        return CounterTile(counter.id, counter.name or counter.id, self._counter_name_en(counter.id, number),
                           shown, status, label_zh, label_en)

    def _service_view(self, service: ServiceDoc) -> ServiceTile:
        conf = self.config.service_by_id(service.id)
        name = service.name or (conf.name if conf else service.id)
        name_en = service.name_en or (conf.name_en if conf else "")
        if service.waiting <= 0 or service.est_wait_s <= 0:
            est_zh, est_en = both("no_wait") if service.waiting <= 0 else ("", "")
        else:
            minutes = max(1, math.ceil(service.est_wait_s / 60))
            est_zh, est_en = t("zh", "est_wait", m=minutes), t("en", "est_wait", m=minutes)
        label_zh, label_en = both("service_suspended") if service.suspended else ("", "")
        return ServiceTile(service.id, name, name_en, service.prefix, service.waiting, est_zh, est_en,
                           service.suspended, label_zh, label_en)

    def _hours_text(self, state: StateDoc | None) -> tuple[str, str]:
        hours: Iterable[list[str]] | None = state.hours if state is not None and state.hours else None
        if hours is None:
            hours = self.config.hall.hours
        if not hours:
            return both("always_open")
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


def _normal_time(text: str) -> str:
    """Times compared as instants to the second, whatever offset or precision they were written in."""
    when = _parse_time(text, ZoneInfo("UTC"))
    return when.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S") if when else text
