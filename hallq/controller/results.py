"""The controller's answers: what each op's reply carries, and the ops with their own handling
(read-only ops, ``sync``, voiding an issue request, a booked slot's new code). Changes go through
the ledger; replies and stored replies are the service's."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from hallq import contract as wire
from hallq.contract import ops
from hallq.contract.requests import EVENTS_PAGE_BYTES
from hallq.contract.tokens import code_hash
from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.rules import Setup, format_number, ticket_id
from hallq.errors import RequestError
from hallq.runtime.config import Config

from .lateness import LateRequests
from .ledger import Ledger
from .outbox import Outbox
from .publish import counter_document, rules_document, service_document, ticket_document
from .store import Store


class Answers:
    def __init__(self, config: Config, setup: Setup, ledger: Ledger, store: Store, lateness: LateRequests,
                 appointment_key: bytes, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.setup = setup
        self.ledger = ledger
        self.store = store
        self.lateness = lateness            # requests read after their sender gave up (lateness.py)
        self.appointment_key = appointment_key
        self.clock = clock
        self.notifier: Any = None           # hallq/controller/notify.py, when the hall has an SMS modem

    def late(self, device: str, envelope: wire.Envelope, now: datetime) -> float | None:
        if envelope.sent_at is None or envelope.not_after is None:
            return None
        sent_at, not_after = envelope.sent_at, envelope.not_after
        if sent_at.tzinfo is None or not_after.tzinfo is None:
            return None
        return self.lateness.late_by(device, sent_at, not_after, now)

    def perform(self, device: str, op: ops.Op, args: Any, now: datetime, out: Outbox) -> dict[str, Any]:
        """Apply one request's command (or its special handler); return its result fields."""
        _, _, ident = device.partition(".")
        if op.special is ops.Special.SYNC:
            return self._sync(device, args, now, out)
        if op.special is ops.Special.VOID and args.ticket_id is None:
            return self._void_issue_request(device, args, now, out)
        if op.special is ops.Special.BOOK and not args.code:
            args = msgspec.structs.replace(args, code=self._new_appointment_code())
        assert op.command is not None
        command = op.command(device, ident, args)
        events = self.ledger.apply(command, now, out)
        phone = getattr(args, "phone", None)
        if phone and self.notifier is not None and events and isinstance(events[-1], e.TicketIssued):
            # the number stays in the controller's contacts table: never in the event nor the reply
            self.notifier.joined(self.ledger.state, events[-1].ticket, phone, args.lang)
        if self.notifier is not None and events and isinstance(events[-1], (e.AppointmentBooked, e.AppointmentMoved)):
            self.notifier.booked(self.ledger.state, events[-1].appointment, phone, getattr(args, "lang", "zh_CN"))
        # the counter the op was for: a clerk's own, or the one a supervisor named
        return self._result(op.result, events, args, getattr(command, "counter", None) or ident, now)

    def _result(self, kind: str, events: list[e.Event], args: Any, ident: str, now: datetime) -> dict[str, Any]:
        if kind == ops.Answer.COUNTER:
            return {"counter": counter_document(self.config, self.ledger.state, ident, self.setup)}
        if kind == ops.Answer.SERVICE:
            return {"service": service_document(self.config, self.setup, self.ledger.state, args.service, self.clock())}
        if kind == ops.Answer.HALL:
            return {"hall": {"mode": self.ledger.state.mode, "message": self.ledger.state.outage_message,
                             "announcements": list(self.ledger.state.announcements)}}
        if kind == ops.Answer.RULES:
            return {"rules": rules_document(self.setup, self.ledger.state)}
        if kind == ops.Answer.LEASE:
            leased = next(ev for ev in events if isinstance(ev, e.NumbersLeased))
            prefix = self.setup.services[leased.service].prefix
            return {"lease": {"service": leased.service, "start": leased.start, "end": leased.end,
                              "day": leased.day, "first": format_number(prefix, leased.start),
                              "last": format_number(prefix, leased.end)}}
        if kind == ops.Answer.APPOINTMENT:
            booked = next((ev.appointment for ev in events if isinstance(ev, (e.AppointmentBooked, e.AppointmentMoved))),
                          None) or self.ledger.state.appointments[args.code]
            return {"appointment": {"code": booked.code, "service": booked.service,
                                    "slot": booked.slot.isoformat(), "day": booked.day}}
        if kind == ops.Answer.ISSUED:
            # its people-ahead and wait were computed against this very state when it was issued
            return {"ticket": msgspec.to_builtins(events[-1].ticket)}
        found = self._ticket_of(events, ident)
        return {"ticket": ticket_document(self.setup, self.ledger.state, self.ledger.state.tickets[found], now) if found else None}

    def _ticket_of(self, events: list[e.Event], counter: str) -> str | None:
        for event in reversed(events):
            ticket = getattr(event, "ticket", None)
            if ticket is not None:
                return ticket.id
        cs = self.ledger.state.counters.get(counter)
        if cs is not None:   # nothing changed (e.g. rate already done): the counter's ticket
            return cs.ticket or cs.last_served
        return None

    def read(self, op: ops.Op, args: Any) -> dict[str, Any]:
        """A read-only op's result: the whole core state as of its seq, or a page of events."""
        if op.special is ops.Special.SNAPSHOT:
            return {"epoch": self.ledger.epoch, "seq": self.ledger.seq, "state": msgspec.Raw(msgspec.json.encode(self.ledger.state))}
        if op.special is ops.Special.APPOINTMENTS:
            return {"appointments": [{"code_hash": code_hash(self.appointment_key, a.code), "service": a.service,
                                      "slot": a.slot.isoformat(), "day": a.day}
                                     for a in self.ledger.state.appointments.values()
                                     if a.status == "booked" and a.day >= self.ledger.state.day],
                    # tickets joined from phones whose customers are on the way: confirmed offline too
                    "remote": [{"code_hash": code_hash(self.appointment_key, t.arrival_code), "number": t.number,
                                "service": t.service, "day": t.day}
                               for t in self.ledger.state.tickets.values()
                               if t.remote and not t.arrived and t.arrival_code and t.status == "waiting"
                               and t.day == self.ledger.state.day]}
        # a page is one MQTT message: kept well under the brokers' max_packet_size (256 KiB), whatever
        # the events weigh (the asker goes on from the last one it got)
        page = self.store.events_page(args.after_seq, args.limit, max_bytes=EVENTS_PAGE_BYTES)
        events = [msgspec.Raw(wire.event_bytes(epoch, seq, body)) for seq, epoch, body in page]
        # first_seq: older events are no longer kept here (hallq/controller/retention.py); askers stop asking for them
        return {"events": events, "last_seq": self.ledger.seq, "first_seq": self.store.first_seq()}

    def _new_appointment_code(self) -> str:
        """Ten random digits (a keypad's, not guessable: 10^10), unused in the hall."""
        while True:
            code = f"{secrets.randbelow(10**10):010d}"
            if code not in self.ledger.state.appointments:
                return code

    def _void_issue_request(self, device: str, args: wire.VoidArgs, now: datetime, out: Outbox) -> dict[str, Any]:
        if args.issue_request_id is None:
            raise RequestError("bad_request", "void needs ticket_id or issue_request_id")
        stored = self.store.reply_for(device, args.issue_request_id)
        if stored is None:
            # never seen: make sure a late copy of it issues nothing
            cancelled = wire.dumps(wire.error_reply(args.issue_request_id, "cancelled",
                                                    "this request was cancelled by the kiosk before it arrived"))
            self.store.save_reply(device, args.issue_request_id, "issue", now.isoformat(), cancelled)
            return {"ticket": None}
        previous = msgspec.json.decode(stored)
        ticket = previous.get("ticket") if previous.get("ok") else None
        if not ticket:
            return {"ticket": None}
        current = self.ledger.state.tickets.get(ticket["id"])
        if current is not None and current.status == "voided":
            return {"ticket": ticket_document(self.setup, self.ledger.state, current, now)}
        self.ledger.apply(c.VoidTicket(by=device, ticket_id=ticket["id"], reason=args.reason), now, out)
        return {"ticket": ticket_document(self.setup, self.ledger.state, self.ledger.state.tickets[ticket["id"]], now)}

    def _sync(self, device: str, args: wire.SyncArgs, now: datetime, out: Outbox) -> dict[str, Any]:
        placed: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        for item in args.tickets:
            command = c.PlaceOfflineTicket(by=device, number=item.number, service=item.service,
                                           issued_at=item.issued_at, priority=item.priority,
                                           token_hash=item.token_hash, code=item.code)
            try:
                self.ledger.apply(command, now, out)
            except RequestError as err:
                rejected.append({"number": item.number, "code": err.code, "message": err.message})
                continue
            ticket = self.ledger.state.tickets.get(ticket_id(self.setup.business_day(item.issued_at), item.number))
            if ticket is not None:
                placed.append(ticket_document(self.setup, self.ledger.state, ticket, now))
        return {"tickets": placed, "rejected": rejected}

