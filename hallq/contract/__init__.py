"""The contract on the wire, in one place: requests and replies (``requests``), the typed documents
every reader decodes (``documents``) and the events in their envelope (``events``: the controller's
own structs). Topics are in :mod:`hallq.contract.topics`."""
from .documents import (AlertDoc, AppointmentDoc, BadDocument, BookedDoc, CounterDoc, ErrorDoc, HallResultDoc,
                        LeaseDoc, PresenceDoc, RecentCallDoc, RejectedDoc, ReplyDoc, ServiceDoc, StateDoc, TicketDoc,
                        convert, read)
from .events import MAX_EVENT_BYTES, EventEnvelope, WireEvent, event_bytes, read_envelope, read_event
from .requests import (MAX_PAYLOAD, AnnounceArgs, BookArgs, CallArgs, CheckInArgs, CounterArgs, EventsArgs, Envelope,
                       FinishArgs, IssueArgs, LeaseArgs, LoginArgs, NoArgs, OfflineTicket, OutageArgs, RateArgs,
                       ReinstateArgs, ServiceArgs, SuspendArgs, SyncArgs, TransferArgs, UnannounceArgs, VoidArgs,
                       check_payload, decode_args, decode_envelope, dumps, error_reply, loads_object, ok_reply,
                       request_id_of)

__all__ = [
    "AlertDoc", "AppointmentDoc", "BadDocument", "BookedDoc", "CounterDoc", "ErrorDoc", "HallResultDoc", "LeaseDoc",
    "PresenceDoc", "RecentCallDoc", "RejectedDoc", "ReplyDoc", "ServiceDoc", "StateDoc", "TicketDoc",
    "convert", "read", "MAX_EVENT_BYTES", "EventEnvelope", "WireEvent", "event_bytes", "read_envelope", "read_event",
    "MAX_PAYLOAD", "AnnounceArgs", "BookArgs", "CallArgs", "CheckInArgs", "CounterArgs", "EventsArgs", "Envelope",
    "FinishArgs", "IssueArgs", "LeaseArgs", "LoginArgs", "NoArgs", "OfflineTicket", "OutageArgs", "RateArgs",
    "ReinstateArgs", "ServiceArgs", "SuspendArgs", "SyncArgs", "TransferArgs", "UnannounceArgs", "VoidArgs",
    "check_payload", "decode_args", "decode_envelope", "dumps", "error_reply", "loads_object", "ok_reply",
    "request_id_of",
]
