"""``R/event`` and the pages of the ``events`` op: the controller's own event structs in an envelope.

An event on the wire is the core's event (``hallq.core.events``, tagged by ``type``) with the
envelope's ``epoch`` and ``seq`` beside its fields. There is one definition: the controller writes
it with :func:`event_bytes`, and every reader (devices, the web's records, head office) reads it
with :func:`read_event` into the same structs the controller folds its state with. A reader that
cannot read an event (a type it does not know, a field out of bounds, a seq no database can hold)
gets :class:`BadDocument` naming why, and must not skip it: the events after it only make sense
with it (the web and head office stop at that hall and say so).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec

from hallq.core import events as e

from .documents import BadDocument, Seq

MAX_EVENT_BYTES = 64 * 1024      # a real event is a few hundred bytes; a bigger one is not an event


class EventEnvelope(msgspec.Struct):
    """What the wire adds to a core event: which controller run wrote it and its place in the log."""
    epoch: Annotated[int, msgspec.Meta(ge=0, le=2**31)]
    seq: Seq
    type: Annotated[str, msgspec.Meta(max_length=64)]


@dataclass(frozen=True)
class WireEvent:
    """One event as every reader gets it: the envelope and the controller's own struct."""
    epoch: int
    seq: int
    event: e.Event

    @property
    def type(self) -> str:
        return e.event_type(self.event)


_envelope = msgspec.json.Decoder(EventEnvelope)


def event_bytes(epoch: int, seq: int, body: bytes) -> bytes:
    """The wire form of an encoded core event (``encode_event``): its object with the envelope's
    fields first. Written by the controller for ``R/event`` and for every page of ``events``."""
    return b'{"epoch":%d,"seq":%d,' % (epoch, seq) + body[1:]


def read_envelope(payload: bytes) -> EventEnvelope:
    """The envelope alone (a reader that must know the seq of an event it cannot read)."""
    if len(payload) > MAX_EVENT_BYTES:
        raise BadDocument(f"an event of {len(payload)} bytes (at most {MAX_EVENT_BYTES})")
    try:
        payload.decode("utf-8")
        return _envelope.decode(payload)
    except msgspec.DecodeError as err:
        raise BadDocument(str(err).replace("$.", "").replace("`$`", "the event")) from None
    except RecursionError:
        raise BadDocument("nested too deeply") from None
    except UnicodeDecodeError as err:
        raise BadDocument(f"not UTF-8: {err.reason} at byte {err.start}") from None


def read_event(payload: bytes) -> WireEvent:
    """One event, whole, or :class:`BadDocument` saying what is wrong with it."""
    envelope = read_envelope(payload)
    try:
        event = e.decode_event(payload)
    except msgspec.DecodeError as err:
        text = str(err)
        if "Invalid value" in text and "`$.type`" in text:
            text = f"an event type this reader does not know: {envelope.type!r} (a newer controller?)"
        raise BadDocument(f"seq {envelope.seq}: {text.replace('$.', '')}") from None
    except RecursionError:
        raise BadDocument(f"seq {envelope.seq}: nested too deeply") from None
    return WireEvent(envelope.epoch, envelope.seq, event)
