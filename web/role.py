"""The web service's device role: an admin client of the hall (``admin.web``) that keeps the
controller's records (:class:`~web.mirror.HallMirror`) and the latest state, and wakes every open
page when something changed.

It runs on the device shell like every device; its owner thread is the asyncio loop that also
serves HTTP (web/server.py), so pages read the mirror without locks.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from hallq import contract as wire
from hallq.contract import ReplyDoc, StateDoc, WireEvent
from hallq.device.shell import DeviceRole
from hallq.records.archive import HallArchive
from hallq.records.store import CentralStore
from hallq.runtime.config import Config
from hallq.runtime.setup import setup_from_config

from .mirror import GAP, HallMirror

log = logging.getLogger(__name__)

PAGE = 500              # events asked for at once when catching up
CATCH_UP_GIVE_UP_S = 15.0


BLOCKED_RETRY_S = 300.0   # records stopped before an event that cannot be read: asked for again this often


class Hub:
    """Wakes the pages waiting for news, by channel: ``all`` (anything: the board, screens) and
    ``records`` (the controller's records changed: the phone pages, which show nothing else).
    A version grows with every change of its channel."""

    def __init__(self) -> None:
        self.versions = {"all": 0, "records": 0, "stored": 0}
        self._waiters: dict[str, set[asyncio.Event]] = {"all": set(), "records": set(), "stored": set()}

    def changed(self, records: bool = False, stored: bool = False) -> None:
        """``stored``: events were written to the web's copy of the records (the webhooks read from it)."""
        channels = ("stored",) if stored else ("all", "records") if records else ("all",)
        for channel in channels:
            self.versions[channel] += 1
            for waiter in self._waiters[channel]:
                waiter.set()

    async def wait(self, seen: int, timeout: float, channel: str = "all") -> int:
        """The channel's version once it differs from ``seen``, or after ``timeout`` (a heartbeat)."""
        if self.versions[channel] != seen:
            return self.versions[channel]
        waiter = asyncio.Event()
        self._waiters[channel].add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters[channel].discard(waiter)
        return self.versions[channel]


class WebRole(DeviceRole):
    kind = "admin"
    wants_events = True
    tick_s = 0.2

    def __init__(self, config: Config, hub: Hub, screens: Any = None, records: CentralStore | None = None,
                 on_day_ended: Any = None) -> None:
        self.config = config
        self.hub = hub
        self.screens = screens
        self.mirror = HallMirror(setup_from_config(config))
        self.state: StateDoc | None = None
        self.catching_up = False
        self.records = records              # every event of the hall, for reports (hallq/records/archive.py)
        self.archive: HallArchive | None = None
        self.unstored: list[tuple[Any, ...]] = []
        self.on_day_ended = on_day_ended
        self.day: str | None = None
        self.nightly_due: set[str] = set()
        # the controller's records stop before an event this hallq cannot read: (seq, why), said on
        # the console; never skipped (the events after it only make sense with it)
        self.records_blocked: tuple[int, str] | None = None
        self.blocked_at = 0.0

    def attach(self, shell: Any) -> None:
        super().attach(shell)
        if self.records is not None:
            self.archive = HallArchive(self.records, self.config.hall.id, shell.request)

    def tick(self, now: float) -> None:
        if self.screens is not None:
            self.screens.tick()
        if self.archive is None:
            return
        if self.unstored:                   # stored a tick's worth at once (group commit)
            rows, self.unstored = self.unstored, []
            self.archive.store_rows(rows)
            self.hub.changed(stored=True)
        # while the mirror fetches missing events (stored above as they come) the records do not
        # ask for the same range a second time
        if self.shell.available and not self.catching_up:
            self.archive.repair()
        if self.nightly_due and self.archive.complete and self.on_day_ended is not None:
            for day in sorted(self.nightly_due):     # the day that ended, once every event of it is here
                self.on_day_ended(day)
            self.nightly_due.clear()

    # --- what the shell routes here -------------------------------------------------------------
    def on_state(self, state: StateDoc) -> None:
        if self.mirror.ready and state.seq < self.mirror.seq:
            log.warning("the controller's seq went back (%d < %d): reloading its records", state.seq, self.mirror.seq)
            self.mirror.state = None
        self.state = state
        if self.archive is not None:
            self.archive.hall_has(state.seq)
        if state.day and self.day and state.day != self.day:
            self.nightly_due.add(self.day)
        self.day = state.day or self.day
        if self.screens is not None:
            self.screens.on_state(state)
        if not self.mirror.ready or state.seq > self.mirror.seq:
            self._catch_up()
        self.hub.changed()

    def on_event(self, event: WireEvent) -> None:
        if self.archive is not None:
            row = self.archive.take(self.shell.payload)
            if row is not None:
                self.unstored.append(row)
        if self.mirror.apply(event.seq, event.event) == GAP:
            self._catch_up()
        if self.screens is not None:
            self.screens.on_event(event)
        self.hub.changed(records=True)

    def on_availability(self, available: bool) -> None:
        if available:
            self._catch_up()
        if self.screens is not None:
            self.screens.connection_changed()
        self.hub.changed()

    on_link = on_availability

    def status(self) -> dict[str, Any]:
        return {"web": "ok" if self.mirror.ready else "catching_up"}

    # --- catching up: a snapshot, then pages of events ------------------------------------------------
    def _catch_up(self) -> None:
        if self.catching_up or not self.shell.available:
            return
        if self.records_blocked is not None and time.monotonic() - self.blocked_at < BLOCKED_RETRY_S:
            return
        self.catching_up = True
        if not self.mirror.ready:
            self.shell.request("snapshot", self._on_snapshot, give_up_after=CATCH_UP_GIVE_UP_S,
                               on_give_up=self._gave_up)
        else:
            self.shell.request("events", self._on_events, give_up_after=CATCH_UP_GIVE_UP_S,
                               on_give_up=self._gave_up, after_seq=self.mirror.seq, limit=PAGE)

    def _gave_up(self) -> None:
        self.catching_up = False

    def _on_snapshot(self, reply: ReplyDoc) -> None:
        self.catching_up = False
        if not reply.ok or reply.seq is None:
            log.error("snapshot refused: %s %s", reply.code, reply.message)
            return
        self.mirror.load(reply.epoch or 0, reply.seq, bytes(reply.state))
        log.info("the hall's records as of seq %d: %d tickets", reply.seq, len(self.mirror.state.tickets))  # type: ignore[union-attr]
        self._after_page(reply.seq)

    def _on_events(self, reply: ReplyDoc) -> None:
        self.catching_up = False
        if not reply.ok:
            log.error("events refused: %s %s", reply.code, reply.message)
            return
        for raw in reply.events:
            payload = bytes(raw)
            if self.archive is not None:          # the hall's events: the records keep them too
                row = self.archive.take(payload)
                if row is not None:
                    self.unstored.append(row)
            try:
                wired = wire.read_event(payload)
            except wire.BadDocument as err:
                self._blocked(payload, str(err))
                break
            if self.mirror.apply(wired.seq, wired.event) == GAP:
                self.mirror.state = None          # the controller's records have a hole: start over
                break
        else:
            if self.records_blocked is not None and self.mirror.seq >= self.records_blocked[0]:
                log.info("the hall's records go on past seq %d", self.records_blocked[0])
                self.records_blocked = None
        if self.records_blocked is None:
            self._after_page(reply.last_seq or 0)
        else:
            self.hub.changed(records=True)

    def _blocked(self, payload: bytes, reason: str) -> None:
        """An event this hallq cannot read: the records stop before it, loudly, once."""
        seq = self.mirror.seq + 1
        if self.records_blocked is None or self.records_blocked[0] != seq:
            log.error("the hall's records stop before seq %d: %s (the console says so; asked again every "
                      "%.0f minutes)", seq, reason, BLOCKED_RETRY_S / 60)
        self.records_blocked = (seq, reason)
        self.blocked_at = time.monotonic()

    def _after_page(self, last_seq: int) -> None:
        self.hub.changed(records=True)
        if not self.mirror.ready or self.mirror.seq < max(last_seq, self.state.seq if self.state else 0):
            self._catch_up()
