"""The contract on the wire, in one place: requests and replies (``requests``), and the typed
documents every reader decodes (``documents``). Topics are in :mod:`hall.topics`."""
from .documents import (AlertDoc, AppointmentDoc, BadDocument, BookedDoc, CounterDoc, CounterRefDoc, ErrorDoc, EventDoc, HallResultDoc,
                        LeaseDoc, PresenceDoc, RecentCallDoc, RejectedDoc, ReplyDoc, ServiceDoc,
                        StateDoc, TicketDoc, convert, read)
from .requests import (MAX_PAYLOAD, AnnounceArgs, BookArgs, CallArgs, CheckInArgs, CounterArgs, EventsArgs, Envelope, FinishArgs, IssueArgs, LeaseArgs, LoginArgs,
                       NoArgs, OfflineTicket, OutageArgs, RateArgs, ReinstateArgs, ServiceArgs,
                       SuspendArgs, SyncArgs, TransferArgs, UnannounceArgs, VoidArgs, check_payload,
                       decode_args, decode_envelope, dumps, error_reply, loads_object, ok_reply,
                       request_id_of)

__all__ = ["BookedDoc", 
    "AlertDoc", "AppointmentDoc", "BadDocument", "CounterDoc", "CounterRefDoc", "ErrorDoc", "EventDoc", "HallResultDoc", "LeaseDoc",
    "PresenceDoc", "RecentCallDoc", "RejectedDoc", "ReplyDoc", "ServiceDoc", "StateDoc", "TicketDoc",
    "convert", "read", "MAX_PAYLOAD", "AnnounceArgs", "BookArgs", "CallArgs", "CheckInArgs", "CounterArgs", "EventsArgs", "Envelope", "FinishArgs", "IssueArgs", "LeaseArgs",
    "LoginArgs", "NoArgs", "OfflineTicket", "OutageArgs", "RateArgs", "ReinstateArgs", "ServiceArgs",
    "SuspendArgs", "SyncArgs", "TransferArgs", "UnannounceArgs", "VoidArgs", "check_payload",
    "decode_args", "decode_envelope", "dumps", "error_reply", "loads_object", "ok_reply", "request_id_of",
]
