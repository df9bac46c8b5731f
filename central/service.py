"""``hallq central``: every bridged hall's events into one store, exactly once, gaps repaired.

One owner thread (paho's callbacks only enqueue). It takes messages in batches and stores each
batch's events in one transaction (group commit). Per hall it keeps the contiguous high-water
mark: the seq up to which every event is stored. A hall's events (or its state) beyond that mark
mean a gap (the WAN was down longer than the bridge's queue, this service was down, a hall joined
mid-day): it asks that hall's controller for the missing range, a page at a time, with the
read-only ``events`` admin op (sent as ``admin.<[central] admin>`` over the bridge), until the
central copy has everything the hall has. Storage is keyed by (hall, seq), so a repeat is nothing.
"""
from __future__ import annotations

import logging
import queue
import time
from datetime import datetime, timezone
from typing import Any

import msgspec

from hallq import contract as wire
from hallq.device.requests import RequestTracker
from hallq.records.archive import HallArchive
from hallq.records.store import CentralStore
from hallq.runtime.config import ID_PATTERN
from hallq.runtime.loop import StopFlag
from hallq.runtime.mqttlink import Inbound, LinkDown, LinkUp, MqttLink

from .config import CentralConfig

log = logging.getLogger("hallq.central")

BATCH_MAX = 2000
# Each batch is one transaction and a few round trips to the database, whatever its size: under a
# stream of events, waiting this long for more makes batches of hundreds rather than of the dozen
# that happened to be queued (a hall's figures are not needed within 20 ms).
GATHER_S = 0.02


class CentralService:
    def __init__(self, config: CentralConfig, store: CentralStore, link_factory: Any = MqttLink) -> None:
        self.config = config
        self.store = store
        self.admin = f"admin.{config.central.admin}"
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.link = link_factory(config, config.central.id, self.inbox, [
            "hallq/v1/+/event", "hallq/v1/+/state", "hallq/v1/+/presence/controller",
            f"hallq/v1/+/dev/{self.admin}/res"])
        self.link_up = False
        self.version = 0                    # grows with every stored batch or hall update (the dashboard)
        self.halls: dict[str, HallArchive] = {}
        self.trackers: dict[str, RequestTracker] = {}
        self.ingested = 0
        self.bad_halls: set[str] = set()
        for hall in store.halls():
            copy = self._hall(hall)
            log.info("hall %s: %d events in order, %d beyond a gap", hall, copy.contiguous, len(copy.above))

    def _hall(self, hall: str) -> HallArchive:
        copy = self.halls.get(hall)
        if copy is None:
            topic = f"hallq/v1/{hall}/dev/{self.admin}/req"
            tracker = self.trackers[hall] = RequestTracker(
                lambda payload, topic=topic: self.link.publish(topic, payload) if self.link_up else None,
                forget=self.link.forget)
            copy = self.halls[hall] = HallArchive(self.store, hall, tracker.send, self.config.central.page)
        return copy

    # --- the owner loop -------------------------------------------------------------------------
    def run(self, stop: StopFlag) -> None:
        self.link.start()
        try:
            while not stop.is_set():
                batch: list[Any] = []
                try:
                    batch.append(self.inbox.get(timeout=0.2))
                    until = time.monotonic() + GATHER_S
                    while len(batch) < BATCH_MAX:
                        batch.append(self.inbox.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    pass
                self.apply(batch)
        finally:
            self.link.stop()
            self.store.close()

    def apply(self, batch: list[Any]) -> None:
        rows: list[tuple[Any, ...]] = []
        halls: dict[str, list[Any]] = {}          # hall -> [state, seq, online, at]: the batch's latest
        for item in batch:
            if isinstance(item, LinkUp):
                self.link_up = True
                for tracker in self.trackers.values():
                    tracker.resend_all()
            elif isinstance(item, LinkDown):
                self.link_up = False
                log.warning("central broker link lost: %s", item.reason)
            elif isinstance(item, Inbound):
                try:
                    self._inbound(item, rows, halls)
                except (msgspec.DecodeError, wire.BadDocument, UnicodeDecodeError, RecursionError) as err:
                    log.warning("ignored a bad message on %s: %s", item.topic, err)
        self._store(rows, [(hall, *update) for hall, update in halls.items()])
        if batch:
            self.version += 1
        for hall, copy in list(self.halls.items()):
            self.trackers[hall].tick()
            copy.repair()

    def _store(self, rows: list[tuple[Any, ...]], halls: list[tuple[Any, ...]] | None = None) -> None:
        """One transaction for the batch; should it fail (a store's limit no check foresaw), each
        hall's rows on their own, and a row that still fails kept aside: one hall's message never
        costs another hall its events, nor the service its life."""
        if not rows and not halls:
            return
        try:
            self.store.add_events(rows, halls)
            stored = rows
        except Exception as err:  # the store refused the batch: find the row, keep the others
            log.error("a batch of %d events could not be stored (%s): storing them one by one", len(rows), err)
            stored = []
            for row in rows:
                try:
                    self.store.add_events([row])
                    stored.append(row)
                except Exception as row_err:
                    self._hall(row[0]).refuse(row[14].encode(), f"the store refused it: {row_err}")
            try:
                self.store.add_events([], halls)
            except Exception as hall_err:
                log.error("the halls' latest states could not be stored: %s", hall_err)
        self.ingested += len(stored)
        for row in stored:
            self._hall(row[0]).stored(row[1])

    def _inbound(self, msg: Inbound, rows: list[tuple[Any, ...]], halls: dict[str, list[Any]]) -> None:
        parts = msg.topic.split("/")
        if len(parts) < 4 or parts[:2] != ["hallq", "v1"] or not msg.payload:
            return
        hall, what = parts[2], parts[3:]
        if not ID_PATTERN.match(hall):
            if hall not in self.bad_halls:
                self.bad_halls.add(hall)
                log.warning("ignored messages of %r: not a hall id ([a-z0-9_-], at most 32)", hall[:40])
            return
        copy = self._hall(hall)
        now = datetime.now(timezone.utc).isoformat()
        if what == ["event"]:
            row = copy.take(msg.payload)
            if row is not None:
                rows.append(row)
        elif what == ["state"]:
            state = wire.read(msg.payload, wire.StateDoc)
            copy.hall_has(state.seq)
            update = halls.setdefault(hall, [None, None, None, now])
            update[0], update[1], update[3] = msg.payload.decode("utf-8"), state.seq, now
        elif what == ["presence", "controller"]:
            update = halls.setdefault(hall, [None, None, None, now])
            update[2], update[3] = int(wire.read(msg.payload, wire.PresenceDoc).online), now
        elif what == ["dev", self.admin, "res"]:
            self.trackers[hall].on_reply(wire.read(msg.payload, wire.ReplyDoc))

def serve(config: CentralConfig, data_dir: str | None, listen: str | None = None) -> int:
    from hallq.runtime.loop import install_signal_handlers  # noqa: PLC0415
    url = config.database(data_dir)
    store = CentralStore(url)
    service = CentralService(config, store)
    listen = listen or config.central.listen
    if listen:
        from hallq.runtime.config import parse_host_port  # noqa: PLC0415

        from .dashboard import start_dashboard  # noqa: PLC0415
        host, port = parse_host_port(listen, "--listen")
        start_dashboard(url, data_dir or "hallq-data/central", host, port, lambda: service.version,
                        config.central.service_level_wait_s)
        log.info("dashboard on http://%s:%d", host, port)
    stop = StopFlag()
    install_signal_handlers(stop)
    log.info("hallq central: %s on %s:%d, store %s", config.central.id, config.broker.host, config.broker.port,
             url.split("@")[-1] if "@" in url else url)
    started = time.monotonic()
    service.run(stop)
    log.info("stopped after %.0f s; %d events stored this run", time.monotonic() - started, service.ingested)
    return 0
