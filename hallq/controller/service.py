"""``hallq controller``: the hall's queue authority.

One owner thread takes requests, presence and status messages from the inbox in batches, applies
them through the pure rules inside one SQLite transaction (group commit), and only after the
commit publishes the replies, the events and the new state. A crash at any moment leaves either
nothing or everything of a batch on disk; devices resend unanswered requests with the same id.

Its parts are passed in (:func:`hallq.controller.main.open_controller` is the bootstrap): the store,
the link (any object shaped like :class:`~hallq.runtime.mqttlink.MqttLink`; tests pass
:class:`~hallq.testing.RecordingLink`) and the clock. Which ops exist, who may send them and what
they do is one table, :mod:`hallq.contract.ops`.
"""
from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec

from hallq import contract as wire
from hallq.contract import ops
from hallq.contract.topics import CONTROLLER_ID, CONTROLLER_LANE_ID, Topics, device_kind
from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.model import HallState
from hallq.core.rules import QueueRules, fold
from hallq.errors import RequestError
from hallq.runtime.config import Config, SmsConfig, appointment_key, device_password
from hallq.runtime.loop import StopFlag
from hallq.runtime.mqttlink import Inbound, LinkDown, LinkUp, MqttLink
from hallq.runtime.setup import setup_from_config
from hallq.runtime.storage import StorageFault, storage_fault

from .continuity import write_marker
from .devices import DeviceReports
from .fairness import FairInbox, LaneCopies, RateLimits, kiosk_limits
from .lateness import LateRequests
from .ledger import Ledger
from .notify import Notifier, SmsReply
from .outbox import Outbox
from .publish import state_document
from .results import Answers
from .retention import RecordKeeping
from .storage_faults import StorageFaults
from .store import Store

class Startable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def poke(self) -> None: ...     # something was queued for it (durably): look now


# (its config, the controller's database, where a received message goes) -> the modem's worker
SmsWorkerFactory = Callable[[SmsConfig, Path, Callable[[str, str], None]], Startable]

log = logging.getLogger("hallq.controller")

BATCH_MAX = 128              # messages applied in one transaction
DRAIN_MAX = 2_048            # messages taken off the inbox per turn to be shared out fairly (a flood
                             # keeps the inbox full: the turn must end for a batch to be applied)
TICK_S = 1.0                 # how often hours and the business day are checked
SNAPSHOT_EVERY = 500         # events between snapshots

_state_decoder = msgspec.json.Decoder(HallState)


class Closable(Protocol):
    def close(self) -> None: ...


class Controller:
    """The service over its collaborators, each given what it needs: the ledger (state and events),
    the answers to requests, the device reports, the storage faults and the record keeping."""

    def __init__(self, config: Config, store: Store, *, link_factory: Callable[..., Any] = MqttLink,
                 client_id: str = CONTROLLER_ID, clock: Callable[[], datetime] | None = None,
                 data_lock: Closable | None = None, marker_dir: Path | None = None,
                 startup: list[c.Command] | None = None, sms_worker: SmsWorkerFactory | None = None) -> None:
        self.config = config
        self.topics = Topics(config.hall.id)
        self.setup = setup_from_config(config)
        self.store = store
        self.clock = clock or (lambda: datetime.now(self.setup.tz))
        self.data_lock = data_lock            # the data folder's lock, held for the process's life
        self.marker_dir = marker_dir          # where controller.mark is kept (continuity.py)
        # applied in the first batch: a fresh start's numbering; the hall file's calling rules when they
        # changed since the last start (an event of the day: the figures say which rules were in force)
        self.startup = [*(startup or []), c.AdoptFileRules(by=CONTROLLER_ID)]
        state, seq = self._recover()
        self.ledger = Ledger(QueueRules(self.setup), store, store.next_epoch(), state, seq)
        self.notifier = Notifier(config, config.sms, store) if config.sms is not None else None
        self.answers = Answers(config, self.setup, self.ledger, store, LateRequests(), appointment_key(config),
                               self.clock)
        self.answers.notifier = self.notifier
        self.devices = DeviceReports(config, self.ledger)
        self.storage = StorageFaults(store, self.topics, self._say_presence)
        self.records = RecordKeeping(config, self.setup, self.ledger, store, self.clock)
        self.fair = FairInbox(self.topics)    # one flooding device waits behind itself (fairness.py)
        self.rates = RateLimits(kiosk_limits(config.hall.kiosk_rate_per_s, config.hall.kiosk_burst))
        self._marked = (-1, 0.0)
        self._clock_complained = -1e9
        self.inbox: queue.Queue[Any] = queue.Queue()
        # the modem's thread (hallq/hardware/sms.py, passed in by the command that starts the controller)
        self.sms = sms_worker(config.sms, store.path, lambda sender, text: self.inbox.put(SmsReply(sender, text))) \
            if config.sms is not None and sms_worker is not None else None
        # two connections when the broker knows controller.lane: counters', screens' and operators'
        # messages come by their own, never behind a flooding kiosk's in the broker or the socket
        t = self.topics
        self.priority = {d for d in config.device_ids() if device_kind(d) != "kiosk"}
        has_lane = device_password(config, CONTROLLER_LANE_ID) is not None
        self.link = link_factory(config, client_id, self.inbox,
                                 [t.all_requests, t.all_status] + ([] if has_lane else [t.all_presence]),
                                 will=(t.controller_presence, self._presence(False)))
        # a controller opened under another client id (several halls' controllers on one broker, as in
        # bench/scale.py) names its lane after it: two lanes of one id would push each other off
        lane_id = CONTROLLER_LANE_ID if client_id == CONTROLLER_ID else f"{client_id}.lane"
        self.lane = link_factory(config, lane_id, self.inbox, [t.all_presence, *(
            topic for d in sorted(self.priority) for topic in (t.request(d), t.status(d)))], lane="lane") \
            if has_lane else None
        self.lane_up = False
        self.copies = LaneCopies()
        self.records.keep(force=True)         # what is kept and for how long: retention.py
        log.info("hall %s: epoch %d, seq %d, day %s, %d tickets held",
                 config.hall.id, self.epoch, self.seq, self.state.day or "-", len(self.state.tickets))

    # the hall as of the last event (read by tests, the bench and the bootstrap)
    @property
    def state(self) -> HallState:
        return self.ledger.state

    @property
    def seq(self) -> int:
        return self.ledger.seq

    @property
    def epoch(self) -> int:
        return self.ledger.epoch

    @property
    def fault(self) -> StorageFault | None:
        """Why the storage cannot be written, while it cannot."""
        return self.storage.fault

    @property
    def lateness(self) -> LateRequests:
        return self.answers.lateness

    # --- recovery ---------------------------------------------------------------------------------
    def _recover(self) -> tuple[HallState, int]:
        snapshot = self.store.load_snapshot()
        if snapshot is None:
            state, seq = self.setup.initial_state(), 0
        else:
            seq, body = snapshot
            state = self.setup.reconcile(_state_decoder.decode(body))
        replayed = 0
        for event_seq, body in self.store.events_after(seq):
            state = fold(state, [e.decode_event(body)])
            seq, replayed = event_seq, replayed + 1
        if replayed:
            log.info("replayed %d events after the snapshot", replayed)
        return state, seq

    def now(self) -> datetime:
        return self.clock()

    def _presence(self, online: bool) -> bytes:
        fault = self.storage.fault
        return wire.dumps(wire.PresenceDoc(online=online and fault is None, epoch=self.ledger.epoch,
                                           fault=fault.message if fault is not None else None))

    def _say_presence(self) -> None:
        """The controller's retained presence on the main link: online unless the storage failed."""
        self.link.publish(self.topics.controller_presence, self._presence(True), retain=True)

    # --- the owner loop -----------------------------------------------------------------------------
    def run(self, stop: StopFlag) -> None:
        self.link.start()
        if self.sms is not None:
            self.sms.start()
        if self.lane is not None:
            self.lane.start()
        next_tick = 0.0
        try:
            while not stop.is_set():
                try:
                    wait = 0.0 if self.fair.size else max(0.0, min(0.5, next_tick - time.monotonic()))
                    self.fair.add(self.inbox.get(timeout=wait))
                    for _ in range(DRAIN_MAX):
                        self.fair.add(self.inbox.get_nowait())
                except queue.Empty:
                    pass
                batch = self.fair.take(BATCH_MAX)   # round-robin by sender (hallq/controller/fairness.py)
                self.fair.say_dropped(log, time.monotonic())
                tick = time.monotonic() >= next_tick
                if tick:
                    next_tick = time.monotonic() + TICK_S
                if batch or tick:
                    self.apply_batch(batch, tick)
        finally:
            self.shutdown()

    def _mark(self, force: bool = False) -> None:
        """controller.mark: how far the hall got (at most once a second; a lost database is then
        seen as behind it at the next start)."""
        seq, at = self._marked
        if self.marker_dir is None or seq == self.seq or (not force and time.monotonic() - at < 1.0):
            return
        try:
            write_marker(self.marker_dir, self.epoch, self.seq, self.state.day)
            self._marked = (self.seq, time.monotonic())
        except OSError as err:
            log.error("cannot write the marker in %s: %s", self.marker_dir, err)

    def shutdown(self) -> None:
        try:
            with self.store.transaction():
                self.ledger.snapshot()
        except Exception as err:
            what = storage_fault(err)
            if what is None:
                raise
            log.error("no snapshot at shutdown (%s): the next start replays the events instead", what)
        self._mark(force=True)
        if self.sms is not None:
            self.sms.stop()
        if self.lane is not None:
            self.lane.stop()
        self.link.stop(last_words=(self.topics.controller_presence, self._presence(False)))
        self.store.close()
        if self.data_lock is not None:
            self.data_lock.close()            # the folder is free for the next controller

    def apply_batch(self, batch: list[Any], tick: bool = False) -> Outbox:
        batch = self._lane_news(batch)
        if self.storage.fault is not None:
            back = self.storage.while_faulted(batch, tick)
            return self.apply_batch(back, tick=True) if back is not None else Outbox()
        out = Outbox()
        now = self.now()
        if tick and self.state.day and self.setup.business_day(now) < self.state.day:
            self._clock_behind(now)
        before = self.ledger.mark()
        try:
            link_up = self._record_batch(batch, tick, now, out)
        except Exception as err:
            what = storage_fault(err)
            if what is None:
                raise
            # nothing of this batch is on disk: nothing of it stays in memory, nothing is answered
            self.ledger.restore(before)
            if self.notifier is not None:
                self.notifier.rolled_back()
            self.storage.failed(what, batch)
            return Outbox()
        self.startup.clear()
        if self.notifier is not None:
            self.notifier.committed()
        if self.notifier is not None and self.notifier.fresh and self.sms is not None:
            self.notifier.fresh = False
            self.sms.poke()                    # the batch's messages are on disk: the modem's thread may send them
        if tick:
            self.records.keep()
        # durable now: note it beside the database, then tell the world
        self._mark()
        if link_up:
            self.link.publish(self.topics.controller_presence, self._presence(True), retain=True)
            out.state_changed = True
        for topic, payload in out.replies:
            self.link.publish(topic, payload)
        for payload in out.events:
            self.link.publish(self.topics.event, payload)
        if out.state_changed:
            self.link.publish(self.topics.state, wire.dumps(self.state_document()), retain=True)
        return out

    def _record_batch(self, batch: list[Any], tick: bool, now: datetime, out: Outbox) -> bool:
        """The batch's changes in one transaction; True when the broker link came (back) up."""
        link_up = False
        with self.store.transaction():
            if tick or batch:
                # the day and the hours at every batch; the alerts (a pass over the day's tickets)
                # on the once-a-second tick only: a burst of requests does not pay for them each time
                self.ledger.apply(c.Tick(by=CONTROLLER_ID, alerts=tick), now, out)
            for command in self.startup:       # cleared once committed
                self.ledger.apply(command, now, out)
            if tick:
                self.devices.release_held(now, out)
            for item in batch:
                if isinstance(item, LinkUp):
                    link_up = True
                elif isinstance(item, LinkDown):
                    log.warning("lost the broker: %s", item.reason)
                elif isinstance(item, SmsReply):
                    self._on_sms_reply(item, now, out)
                elif isinstance(item, Inbound):
                    try:
                        self._on_message(item, now, out)
                    except Exception as err:
                        if storage_fault(err):
                            raise           # the store, not this message: the whole batch waits
                        # a bug must not stop the hall: what this message changed is undone
                        # (see _undoable), the rest of the batch goes on
                        log.exception("message on %s failed; rolled back", item.topic)
            # what a change asks for (a call, the queue moving up) and, once a second, what time does
            # (a booking's reminder): queued with the batch, once
            if self.notifier is not None and (out.state_changed or tick):
                self.notifier.after_batch(self.ledger.state, now)
            if self.ledger.events_since_snapshot >= SNAPSHOT_EVERY:
                self.ledger.snapshot()
        return link_up

    def _on_sms_reply(self, reply: SmsReply, now: datetime, out: Outbox) -> None:
        """A customer's SMS reply: the command it asks for, and an SMS saying what became of it."""
        assert self.notifier is not None
        command = self.notifier.reply(self.ledger.state, reply)
        if command is None:
            return
        try:
            with self.ledger.undoable(out):
                events = self.ledger.apply(command, now, out)
        except RequestError as err:
            self.notifier.replied(self.ledger.state, command, err.message, now)
            return
        places = next((ev.places for ev in events if isinstance(ev, e.TicketPostponed)), 0)
        self.notifier.replied(self.ledger.state, command, None, now, places)

    def _lane_news(self, batch: list[Any]) -> list[Any]:
        """The lane's own ups and downs (whether bulk copies of its devices' messages count), taken
        out of the batch: the presence to republish on a new connection is the main link's alone."""
        rest = []
        for item in batch:
            if isinstance(item, (LinkUp, LinkDown)) and item.lane:
                self.lane_up = isinstance(item, LinkUp)
            else:
                rest.append(item)
        return rest

    def _clock_behind(self, now: datetime) -> None:
        """Logged once a minute while it lasts: the day stays, numbers go on, nothing is reissued."""
        if time.monotonic() - self._clock_complained >= 60:
            self._clock_complained = time.monotonic()
            log.error("the clock says %s, before the business day %s already recorded: the clock went back "
                      "(no RTC, NTP not yet synced?); the day is kept and no number is issued twice",
                      now.isoformat(timespec="seconds"), self.state.day)

    def state_document(self) -> dict[str, Any]:
        return state_document(self.config, self.setup, self.state, self.epoch, self.seq, now=self.now())

    # --- messages -----------------------------------------------------------------------------------
    def _on_message(self, msg: Inbound, now: datetime, out: Outbox) -> None:
        what, device = self.topics.parse(msg.topic)
        if device in self.priority and self.lane is not None:
            if what == "req":
                if not self.copies.first(device, msg.payload, bool(msg.lane)):
                    return      # the other connection brought this send of it
            elif not msg.lane and self.lane_up:
                return          # a status: retained, so the lane has it (even one sent while it subscribed)
        if what == "req" and device:
            self._on_request(device, msg.payload, now, out)
        elif what == "presence" and device and device != CONTROLLER_ID:
            self.devices.presence(device, msg.payload, now, out)
        elif what == "status" and device:
            self.devices.status(device, msg.payload, now, out)

    def _on_request(self, device: str, payload: bytes, now: datetime, out: Outbox) -> None:
        reply_topic = self.topics.reply(device)
        kind = device_kind(device)
        try:
            envelope, op, args = ops.decode_request(payload, kind)
            if not self.config.knows_device(device):
                raise RequestError("not_allowed", f"{device} is not a device of hall {self.config.hall.id}")
        except RequestError as err:
            # malformed or misdirected: answered, never stored (it changed nothing and may lack an id)
            out.replies.append((reply_topic, wire.dumps(wire.error_reply(wire.request_id_of(payload), err.code, err.message))))
            return
        if op.read_only:
            out.replies.append((reply_topic, wire.dumps(wire.ok_reply(envelope.request_id, **self.answers.read(op, args)))))
            return
        stored = self.store.reply_for(device, envelope.request_id)
        if stored is not None:
            out.replies.append((reply_topic, stored))
            return
        # the hall's clock: a demo's day at 300 times speed is paced as the day it plays
        if not self.rates.allow(device, envelope.op, now.timestamp()):
            # A flood's refusals mostly go unanswered and are not stored: a copy resent later is judged
            # again. An answered refusal is the request's one answer, stored: a copy of it still on its
            # way must not be applied after its sender took the refusal (a kiosk that printed a "try
            # again" slip would never print the ticket such a copy issued, and the hall would call it).
            if not self.rates.answer_refusal(device, time.monotonic()):
                return
            refusal = wire.dumps(wire.error_reply(
                envelope.request_id, "rate_limited", f"{envelope.op} from {device} faster than a kiosk can print: "
                                                     "refused; try again in a moment"))
            self.store.save_reply(device, envelope.request_id, envelope.op, now.isoformat(), refusal)
            out.replies.append((reply_topic, refusal))
            return
        try:
            late = self.answers.late(device, envelope, now)
            if late is not None:
                raise RequestError("expired", f"read {late:.1f} s after {device} stopped waiting for it: not applied "
                                              "(the controller was held up); press again")
            with self.ledger.undoable(out):
                result = self.answers.perform(device, op, args, now, out)
                reply = wire.dumps(wire.ok_reply(envelope.request_id, **result))
                self.store.save_reply(device, envelope.request_id, envelope.op, now.isoformat(), reply)
        except RequestError as err:
            reply = wire.dumps(wire.error_reply(envelope.request_id, err.code, err.message))
            self.store.save_reply(device, envelope.request_id, envelope.op, now.isoformat(), reply)
        except Exception as err:
            if storage_fault(err):
                raise               # not this request's fault: the batch is undone, the request unanswered
            log.exception("request %s from %s failed", envelope.op, device)
            # state untouched: events are only kept when the whole request succeeded
            out.replies.append((reply_topic, wire.dumps(wire.error_reply(envelope.request_id, "internal", str(err)))))
            return
        out.replies.append((reply_topic, reply))
