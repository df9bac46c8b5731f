"""The controller's one table of ops: who may send each, its arguments, the core command it
becomes, and what its reply carries. Adding an op is one row here (and its rule in the core).

Two ops are not a single command: ``sync`` places many offline tickets, and ``void`` by
``issue_request_id`` looks up an earlier reply; they name a ``special`` handler on the controller.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from hallq import contract as wire
from hallq.core import commands as c
from hallq.errors import RequestError

# what the reply carries, computed by the controller after the command is applied
RESULT_TICKET = "ticket"        # the ticket the events name (or the counter's own)
RESULT_ISSUED = "issued"        # the ticket as issued, its estimate made at that moment
RESULT_COUNTER = "counter"
RESULT_SERVICE = "service"
RESULT_HALL = "hall"
RESULT_LEASE = "lease"
RESULT_APPOINTMENT = "appointment"

CommandFor = Callable[[str, str, Any], c.Command]   # (device id, its bare id, args) -> command


@dataclass(frozen=True)
class Op:
    kinds: frozenset[str]
    args: type[msgspec.Struct]
    command: CommandFor | None
    result: str
    special: str | None = None      # a controller method instead of one command
    read_only: bool = False         # changes nothing: answered at once, its reply not stored

    @property
    def decoder(self) -> msgspec.json.Decoder:
        return _decoders[self.args]


def _op(kinds: str, args: type[msgspec.Struct], command: CommandFor | None, result: str,
        special: str | None = None, read_only: bool = False) -> Op:
    return Op(frozenset(kinds.split()), args, command, result, special, read_only)


OPS: dict[str, Op] = {
    # kiosks
    "issue": _op("kiosk", wire.IssueArgs,
                 lambda d, i, a: c.IssueTicket(by=d, service=a.service, priority=a.priority, token_hash=a.token_hash),
                 RESULT_ISSUED),
    "void": _op("kiosk admin", wire.VoidArgs, lambda d, i, a: c.VoidTicket(by=d, ticket_id=a.ticket_id, reason=a.reason),
                RESULT_TICKET, special="void"),
    "lease": _op("kiosk", wire.LeaseArgs, lambda d, i, a: c.LeaseNumbers(by=d, service=a.service, size=a.size),
                 RESULT_LEASE),
    "sync": _op("kiosk", wire.SyncArgs, None, RESULT_TICKET, special="sync"),
    # the day's booked slots (code hashes), for checking in while the controller is away
    "appointments": _op("kiosk", wire.NoArgs, None, "", special="appointments", read_only=True),
    "check_in": _op("kiosk", wire.CheckInArgs, lambda d, i, a: c.CheckIn(by=d, code=a.code, token_hash=a.token_hash),
                    RESULT_ISSUED),
    # counters
    "call_next": _op("counter", wire.NoArgs, lambda d, i, a: c.CallNext(by=d, counter=i), RESULT_TICKET),
    # counters call a ticket to themselves; an operator names the counter
    "call": _op("counter admin", wire.CallArgs,
                lambda d, i, a: c.CallTicket(by=d, counter=_counter_of(d, i, a), number=a.number), RESULT_TICKET),
    "recall": _op("counter", wire.NoArgs, lambda d, i, a: c.Recall(by=d, counter=i), RESULT_TICKET),
    "finish": _op("counter", wire.FinishArgs, lambda d, i, a: c.Finish(by=d, counter=i, rating=a.rating),
                  RESULT_TICKET),
    "rate": _op("counter", wire.RateArgs, lambda d, i, a: c.Rate(by=d, counter=i, rating=a.rating), RESULT_TICKET),
    "no_show": _op("counter", wire.NoArgs, lambda d, i, a: c.NoShow(by=d, counter=i), RESULT_TICKET),
    "transfer": _op("counter", wire.TransferArgs, lambda d, i, a: c.Transfer(by=d, counter=i, service=a.service),
                    RESULT_TICKET),
    # a clerk suspends their own counter; a supervisor (admin) names it
    "suspend": _op("counter admin", wire.SuspendArgs,
                   lambda d, i, a: c.SuspendCounter(by=d, counter=_counter_of(d, i, a), reason=a.reason), RESULT_COUNTER),
    "resume": _op("counter admin", wire.CounterArgs,
                  lambda d, i, a: c.ResumeCounter(by=d, counter=_counter_of(d, i, a)), RESULT_COUNTER),
    "login": _op("counter", wire.LoginArgs, lambda d, i, a: c.Login(by=d, counter=i, clerk=a.clerk), RESULT_COUNTER),
    "logout": _op("counter", wire.NoArgs, lambda d, i, a: c.Logout(by=d, counter=i), RESULT_COUNTER),
    "reinstate": _op("counter admin", wire.ReinstateArgs,
                     lambda d, i, a: c.Reinstate(by=d, ticket_id=a.ticket_id, number=a.number), RESULT_TICKET),
    # operators
    "suspend_service": _op("admin", wire.ServiceArgs, lambda d, i, a: c.SuspendService(by=d, service=a.service),
                           RESULT_SERVICE),
    "resume_service": _op("admin", wire.ServiceArgs, lambda d, i, a: c.ResumeService(by=d, service=a.service),
                          RESULT_SERVICE),
    "outage": _op("admin", wire.OutageArgs, lambda d, i, a: c.SetOutage(by=d, active=a.active, message=a.message),
                  RESULT_HALL),
    "announce": _op("admin", wire.AnnounceArgs, lambda d, i, a: c.Announce(by=d, text=a.text), RESULT_HALL),
    "unannounce": _op("admin", wire.UnannounceArgs, lambda d, i, a: c.Unannounce(by=d, text=a.text), RESULT_HALL),
    "open": _op("admin", wire.NoArgs, lambda d, i, a: c.OpenHall(by=d), RESULT_HALL),
    # the hall's records, for services that keep a copy (hallq web, head office): read only
    "snapshot": _op("admin", wire.NoArgs, None, "", special="snapshot", read_only=True),
    "events": _op("admin", wire.EventsArgs, None, "", special="events", read_only=True),
    "book": _op("admin", wire.BookArgs,
                lambda d, i, a: c.BookAppointment(by=d, code=a.code or "", service=a.service, slot=a.slot),
                RESULT_APPOINTMENT, special="book"),
    "close": _op("admin", wire.NoArgs, lambda d, i, a: c.CloseHall(by=d), RESULT_HALL),
}

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
