"""The one table of ops: who may send each, its arguments, the core command it becomes, and what
its reply carries. Adding an op is one row here (and its rule in the core). It is part of the
contract: the controller answers by it and the web's console checks its buttons against it.

Some ops are not a single command: ``sync`` places many offline tickets, ``void`` by
``issue_request_id`` looks up an earlier reply; they name a :class:`Special` handler.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from hallq.core import commands as c
from hallq.errors import RequestError

from . import requests as wire


class Answer(StrEnum):
    """What the reply carries, computed by the controller after the command is applied."""
    NOTHING = ""
    TICKET = "ticket"        # the ticket the events name (or the counter's own)
    ISSUED = "issued"        # the ticket as issued, its estimate made at that moment
    COUNTER = "counter"
    SERVICE = "service"
    HALL = "hall"
    LEASE = "lease"
    APPOINTMENT = "appointment"
    RULES = "rules"          # the calling rules in force


class Special(StrEnum):
    """An op the controller handles itself rather than as one command."""
    SYNC = "sync"
    VOID = "void"
    BOOK = "book"
    APPOINTMENTS = "appointments"
    SNAPSHOT = "snapshot"
    EVENTS = "events"


CommandFor = Callable[[str, str, Any], c.Command]   # (device id, its bare id, args) -> command


@dataclass(frozen=True)
class Op:
    kinds: frozenset[str]
    args: type[msgspec.Struct]
    command: CommandFor | None
    result: Answer
    special: Special | None = None  # handled by the controller itself, not one command
    read_only: bool = False         # changes nothing: answered at once, its reply not stored

    @property
    def decoder(self) -> msgspec.json.Decoder:
        return _decoders[self.args]


def _op(kinds: str, args: type[msgspec.Struct], command: CommandFor | None, result: Answer,
        special: Special | None = None, read_only: bool = False) -> Op:
    return Op(frozenset(kinds.split()), args, command, result, special, read_only)


OPS: dict[str, Op] = {
    # kiosks
    "issue": _op("kiosk", wire.IssueArgs,
                 lambda d, i, a: c.IssueTicket(by=d, service=a.service, priority=a.priority, token_hash=a.token_hash),
                 Answer.ISSUED),
    "void": _op("kiosk admin", wire.VoidArgs, lambda d, i, a: c.VoidTicket(by=d, ticket_id=a.ticket_id, reason=a.reason),
                Answer.TICKET, special=Special.VOID),
    "lease": _op("kiosk", wire.LeaseArgs, lambda d, i, a: c.LeaseNumbers(by=d, service=a.service, size=a.size),
                 Answer.LEASE),
    "sync": _op("kiosk", wire.SyncArgs, None, Answer.TICKET, special=Special.SYNC),
    # the day's booked slots (code hashes), for checking in while the controller is away
    "appointments": _op("kiosk", wire.NoArgs, None, Answer.NOTHING, special=Special.APPOINTMENTS, read_only=True),
    "check_in": _op("kiosk", wire.CheckInArgs, lambda d, i, a: c.CheckIn(by=d, code=a.code, token_hash=a.token_hash),
                    Answer.ISSUED),
    # counters
    "call_next": _op("counter", wire.NoArgs, lambda d, i, a: c.CallNext(by=d, counter=i), Answer.TICKET),
    # counters call a ticket to themselves; an operator names the counter
    "call": _op("counter admin", wire.CallArgs,
                lambda d, i, a: c.CallTicket(by=d, counter=_counter_of(d, i, a), number=a.number), Answer.TICKET),
    "recall": _op("counter", wire.NoArgs, lambda d, i, a: c.Recall(by=d, counter=i), Answer.TICKET),
    "finish": _op("counter", wire.FinishArgs, lambda d, i, a: c.Finish(by=d, counter=i, rating=a.rating),
                  Answer.TICKET),
    "rate": _op("counter", wire.RateArgs, lambda d, i, a: c.Rate(by=d, counter=i, rating=a.rating), Answer.TICKET),
    "no_show": _op("counter", wire.NoArgs, lambda d, i, a: c.NoShow(by=d, counter=i), Answer.TICKET),
    "transfer": _op("counter", wire.TransferArgs, lambda d, i, a: c.Transfer(by=d, counter=i, service=a.service),
                    Answer.TICKET),
    # a clerk suspends their own counter; a supervisor (admin) names it
    "suspend": _op("counter admin", wire.SuspendArgs,
                   lambda d, i, a: c.SuspendCounter(by=d, counter=_counter_of(d, i, a), reason=a.reason), Answer.COUNTER),
    "resume": _op("counter admin", wire.CounterArgs,
                  lambda d, i, a: c.ResumeCounter(by=d, counter=_counter_of(d, i, a)), Answer.COUNTER),
    "login": _op("counter", wire.LoginArgs, lambda d, i, a: c.Login(by=d, counter=i, clerk=a.clerk), Answer.COUNTER),
    "logout": _op("counter", wire.NoArgs, lambda d, i, a: c.Logout(by=d, counter=i), Answer.COUNTER),
    "reinstate": _op("counter admin", wire.ReinstateArgs,
                     lambda d, i, a: c.Reinstate(by=d, ticket_id=a.ticket_id, number=a.number), Answer.TICKET),
    # operators
    "suspend_service": _op("admin", wire.ServiceArgs, lambda d, i, a: c.SuspendService(by=d, service=a.service),
                           Answer.SERVICE),
    "resume_service": _op("admin", wire.ServiceArgs, lambda d, i, a: c.ResumeService(by=d, service=a.service),
                          Answer.SERVICE),
    "outage": _op("admin", wire.OutageArgs, lambda d, i, a: c.SetOutage(by=d, active=a.active, message=a.message),
                  Answer.HALL),
    "announce": _op("admin", wire.AnnounceArgs, lambda d, i, a: c.Announce(by=d, text=a.text), Answer.HALL),
    "unannounce": _op("admin", wire.UnannounceArgs, lambda d, i, a: c.Unannounce(by=d, text=a.text), Answer.HALL),
    "open": _op("admin", wire.NoArgs, lambda d, i, a: c.OpenHall(by=d), Answer.HALL),
    # the hall's records, for services that keep a copy (hallq web, head office): read only
    "snapshot": _op("admin", wire.NoArgs, None, Answer.NOTHING, special=Special.SNAPSHOT, read_only=True),
    "events": _op("admin", wire.EventsArgs, None, Answer.NOTHING, special=Special.EVENTS, read_only=True),
    "book": _op("admin", wire.BookArgs,
                lambda d, i, a: c.BookAppointment(by=d, code=a.code or "", service=a.service, slot=a.slot),
                Answer.APPOINTMENT, special=Special.BOOK),
    "close": _op("admin", wire.NoArgs, lambda d, i, a: c.CloseHall(by=d), Answer.HALL),
    # a customer's booking, through the web's booking page (with its code): cancelled or moved
    "cancel_booking": _op("admin", wire.BookingArgs, lambda d, i, a: c.CancelBooking(by=d, code=a.code), Answer.NOTHING),
    "move_booking": _op("admin", wire.BookingArgs, lambda d, i, a: c.MoveBooking(by=d, code=a.code, slot=_slot(a)),
                        Answer.APPOINTMENT),
    # joining from a phone, through the hall's web (which knows the phone and the door's QR code)
    "join": _op("admin", wire.JoinArgs,
                lambda d, i, a: c.JoinRemotely(by=d, service=a.service, device=a.device, address=a.address,
                                               code=a.code, token_hash=a.token_hash), Answer.ISSUED),
    "arrived": _op("admin", wire.ArrivedArgs,
                   lambda d, i, a: c.ConfirmArrival(by=d, code=a.code, token_hash=a.token_hash), Answer.TICKET),
    # calling rules for the rest of the business day (docs/controller.md)
    "set_rules": _op("admin", wire.SetRulesArgs, lambda d, i, a: c.SetRules(by=d, rules=a.given()), Answer.RULES),
}

def _slot(args: Any) -> Any:
    if args.slot is None:
        raise RequestError("bad_request", "move_booking needs slot, the new slot's start (ISO-8601)")
    return args.slot


def _counter_of(device: str, ident: str, args: Any) -> str:
    """The counter an op is for: a counter's own, or the one an operator names (RequestError if none)."""
    if device.startswith("counter."):
        return ident
    if not getattr(args, "counter", None):
        raise RequestError("bad_request", "an operator's counter op needs counter, e.g. \"counter\": \"c3\"")
    return str(args.counter)


_decoders = {op.args: msgspec.json.Decoder(op.args) for op in OPS.values()}


def decode_request(payload: bytes, device_kind: str) -> tuple[wire.Envelope, Op, Any]:
    """Decode and check a request; RequestError(bad_request | unknown_op | not_allowed)."""
    envelope = wire.decode_envelope(payload)
    op = OPS.get(envelope.op)
    if op is None:
        raise RequestError("unknown_op", f"unknown op {envelope.op!r}")
    if device_kind not in op.kinds:
        raise RequestError("not_allowed", f"op {envelope.op!r} is not for a {device_kind or 'unknown'} device")
    return envelope, op, wire.decode_args(payload, op.decoder)
