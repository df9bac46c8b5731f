"""The write side of the contract: requests devices send, replies the controller sends (msgspec).

A request is decoded in two steps: the envelope (``op``, ``request_id``) so that even a bad
request can be answered on the right id, then the op's own arguments. msgspec's messages name the
field (``Expected `str`, got `int` - at `$.service```), and those go back as ``bad_request``.
Unknown fields are ignored, as the contract says.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hallq.errors import RequestError

RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=500)]
Rating = Annotated[int, msgspec.Meta(ge=1, le=3)]
Priority = Literal["normal", "priority"]
MAX_PAYLOAD = 64 * 1024
# the brokers refuse a packet over 256 KiB (``max_packet_size`` in broker_config/ and the central
# broker's): an ``events`` reply carries at most this many bytes of events, whatever its ``limit``
EVENTS_PAGE_BYTES = 192 * 1024


class Envelope(msgspec.Struct):
    op: Annotated[str, msgspec.Meta(max_length=64)]
    request_id: RequestId
    # hallq's own (docs/protocol.md): when the device sent it and until when it waits, on its clock
    sent_at: datetime | None = None
    not_after: datetime | None = None


# --- arguments, one struct per op ---------------------------------------------------------
class NoArgs(msgspec.Struct):
    pass


# the SHA-256 (hex, first 32 digits) of the random token on a ticket's QR code: only the kiosk
# that printed it and the customer's phone know the token itself (docs/protocol.md, "Phone pages")
TokenHash = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]


class IssueArgs(msgspec.Struct):
    service: ShortText
    priority: Priority = "normal"
    token_hash: TokenHash | None = None


class VoidArgs(msgspec.Struct):
    ticket_id: ShortText | None = None
    # extension: void the ticket an earlier `issue` request produced (or cancel it, if the
    # controller never saw it): a kiosk that gave up waiting uses this so nothing is doubled.
    issue_request_id: RequestId | None = None
    reason: ShortText = ""


class LeaseArgs(msgspec.Struct):
    service: ShortText
    size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 20


class OfflineTicket(msgspec.Struct):
    number: Annotated[str, msgspec.Meta(min_length=2, max_length=8)]
    service: ShortText
    issued_at: datetime
    priority: Priority = "normal"
    token_hash: TokenHash | None = None
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None   # checked in offline


class SyncArgs(msgspec.Struct):
    tickets: Annotated[list[OfflineTicket], msgspec.Meta(max_length=500)]


class FinishArgs(msgspec.Struct):
    rating: Rating | None = None


class RateArgs(msgspec.Struct):
    rating: Rating


class TransferArgs(msgspec.Struct):
    service: ShortText


class SuspendArgs(msgspec.Struct):
    reason: ShortText = ""
    counter: ShortText | None = None     # an operator's suspend names the counter


class CounterArgs(msgspec.Struct):
    counter: ShortText | None = None     # an operator's resume names the counter


class LoginArgs(msgspec.Struct):
    clerk: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ReinstateArgs(msgspec.Struct):
    ticket_id: ShortText | None = None
    number: ShortText | None = None


class CallArgs(msgspec.Struct):
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    counter: ShortText | None = None     # an operator's call names the counter


class BookArgs(msgspec.Struct):
    service: ShortText
    slot: datetime
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")] | None = None
    # for an SMS reminder on the day, kept by the controller until the end of the slot's day, in no event
    phone: Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{6,15}$")] | None = None
    lang: Literal["zh_CN", "en"] = "zh_CN"


class BookingArgs(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")]
    slot: datetime | None = None          # move_booking: the new slot


class CheckInArgs(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    token_hash: TokenHash | None = None


class JoinArgs(msgspec.Struct):
    """A phone joins the queue through the hall's web (docs/protocol.md "Joining from a phone")."""
    service: ShortText
    device: TokenHash              # keyed hashes: the phone's cookie, its address
    address: TokenHash
    code: Annotated[str, msgspec.Meta(min_length=4, max_length=12, pattern=r"^[0-9]+$")]
    token_hash: TokenHash | None = None
    # for SMS, kept by the controller until the end of the day, never in an event (docs/protocol.md)
    phone: Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{6,15}$")] | None = None
    lang: Literal["zh_CN", "en"] = "zh_CN"


class ArrivedArgs(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    token_hash: TokenHash | None = None


class EventsArgs(msgspec.Struct):
    after_seq: Annotated[int, msgspec.Meta(ge=0)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 500


class ServiceArgs(msgspec.Struct):
    service: ShortText


class OutageArgs(msgspec.Struct):
    active: bool
    message: LongText | None = None


class AnnounceArgs(msgspec.Struct):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class SetRulesArgs(msgspec.Struct):
    """Calling rules for the rest of the business day; a rule left out stays as in force."""
    priority_per_normal: Annotated[int, msgspec.Meta(ge=0, le=50)] | None = None
    ageing_s: Annotated[int, msgspec.Meta(ge=0, le=86400)] | None = None
    journey_order: Literal["issued", "step"] | None = None
    auto_call_s: Annotated[int, msgspec.Meta(ge=0, le=3600)] | None = None
    appointment_place: Literal["ahead", "interleaved"] | None = None

    def given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__struct_fields__ if getattr(self, name) is not None}


class UnannounceArgs(msgspec.Struct):
    text: LongText | None = None   # none: clear every notice


_envelope_decoder = msgspec.json.Decoder(Envelope)


def _field_message(err: msgspec.DecodeError) -> str:
    text = str(err)
    return text.replace("$.", "").replace("`$`", "the payload")


def request_id_of(payload: bytes) -> str | None:
    """Best effort: the request id of a payload that failed validation, to answer on it."""
    try:
        value = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(value, dict):
        rid = value.get("request_id")
        if isinstance(rid, str) and 0 < len(rid) <= 64:
            return rid
    return None


def _decode(decoder: msgspec.json.Decoder, payload: bytes) -> Any:
    """One decode; every way msgspec can fail becomes bad_request naming what was wrong."""
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as err:
        raise RequestError("bad_request", _field_message(err)) from None
    except RecursionError:
        # msgspec raises this (not DecodeError) for JSON nested thousands deep
        raise RequestError("bad_request", "the payload is nested too deeply") from None
    except UnicodeDecodeError as err:
        # and this for invalid UTF-8 inside a string
        raise RequestError("bad_request", f"the payload is not UTF-8: {err.reason} at byte {err.start}") from None


def check_payload(payload: bytes) -> None:
    """Size and UTF-8, before any decoding; RequestError(bad_request) naming what is wrong."""
    if len(payload) > MAX_PAYLOAD:
        raise RequestError("bad_request", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        # msgspec skips unknown fields without checking their bytes: JSON must be UTF-8 throughout
        payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError("bad_request", f"the payload is not UTF-8: {err.reason} at byte {err.start}") from None


def decode_envelope(payload: bytes) -> Envelope:
    """The request's ``op`` and ``request_id``; RequestError(bad_request) if missing or wrong."""
    check_payload(payload)
    return _decode(_envelope_decoder, payload)


def decode_args(payload: bytes, decoder: msgspec.json.Decoder) -> Any:
    """The op's own arguments, by its decoder; RequestError(bad_request) naming the field."""
    return _decode(decoder, payload)


def ok_reply(request_id: str | None, **result: Any) -> dict[str, Any]:
    return {"request_id": request_id, "ok": True, **result}


def error_reply(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"request_id": request_id, "ok": False, "error": {"code": code, "message": message}}


encoder = msgspec.json.Encoder()


def dumps(value: Any) -> bytes:
    return encoder.encode(value)


def loads_object(payload: bytes) -> dict[str, Any]:
    """A JSON object or RequestError(bad_request)."""
    try:
        value = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise RequestError("bad_request", f"not JSON: {err}") from None
    except RecursionError:
        raise RequestError("bad_request", "the payload is nested too deeply") from None
    if not isinstance(value, dict):
        raise RequestError("bad_request", "the payload must be a JSON object")
    return value
