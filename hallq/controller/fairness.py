"""One device cannot crowd out the others: fair batches and request rates.

Before this, the controller applied its inbox first come, first served: 5,000 ``issue`` requests
from one kiosk kept a counter's "next" waiting 10.8 s behind them, and used up all 999 numbers of a
service in 6.9 s. Now:

- :class:`FairInbox`: what arrived is kept per sender, and each batch takes requests round-robin
  (at most ``PER_SENDER`` from one device per turn), presence and link news first; so a request
  waits behind at most one batch of each other sender's, however many one sender has queued. Each
  sender's own order is kept.
- :class:`RateLimits`: a token bucket per device and op for what a kiosk can only do as fast as a
  person presses and a printer prints (``issue``, ``check_in``, ``lease``, ``void``); beyond it the
  reply is ``rate_limited`` (stored when answered: that id's one answer; see the controller), at most
  ``REFUSALS_PER_S`` a second per device: the rest of a flood goes unanswered (an honest device
  sends one request at a time and resends it unanswered), so the replies to a flood cannot fill
  the controller's outgoing queue ahead of everyone else's.
- a sender with more than ``MAX_WAITING`` requests waiting is flooding (an honest one has a few):
  what comes beyond is dropped before any work is done, counted and logged.
- :class:`LaneCopies`: a counter's, screen's or operator's request reaches the controller by both
  of its connections, the lane and the bulk one, when both had subscribed at the time it was sent,
  and by one alone when the other had not (a lane connecting or reconnecting, or down). Each send
  is applied once, whichever copy comes first.
"""
from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from hallq.contract.topics import Topics
from hallq.runtime.mqttlink import Inbound

PER_SENDER = 8
MAX_WAITING = 256          # requests of one sender waiting to be applied; beyond: a flood, dropped
REFUSALS_PER_S = 2.0       # rate_limited answers per device and second
COPIES_KEPT = 4096         # requests whose other copy may still come


class FairInbox:
    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.queues: OrderedDict[str, deque[Any]] = OrderedDict()
        self.size = 0
        self.dropped: dict[str, int] = {}           # sender -> requests dropped as a flood, not yet logged
        self.said_at = -1e18

    def _sender(self, item: Any) -> str:
        if isinstance(item, Inbound):
            what, device = self.topics.parse(item.topic)
            if what == "req" and device:
                return device
        return ""                                   # presence, status, the link: before any request

    def add(self, item: Any) -> None:
        sender = self._sender(item)
        queue = self.queues.get(sender)
        if queue is not None and sender and len(queue) >= MAX_WAITING:
            self.dropped[sender] = self.dropped.get(sender, 0) + 1
            return
        if queue is None:
            queue = self.queues[sender] = deque()
            if sender == "":
                self.queues.move_to_end(sender, last=False)
        queue.append(item)
        self.size += 1

    def say_dropped(self, log: logging.Logger, now: float) -> None:
        """What a flood lost, in the log every 5 s at most while it lasts."""
        if self.dropped and now - self.said_at >= 5.0:
            self.said_at = now
            log.warning("flood: dropped unread %s (more than %d waiting from one device)",
                        ", ".join(f"{n} requests of {d}" for d, n in sorted(self.dropped.items())), MAX_WAITING)
            self.dropped.clear()

    def take(self, limit: int) -> list[Any]:
        batch: list[Any] = []
        while self.queues and len(batch) < limit:
            for sender in list(self.queues):
                queue = self.queues[sender]
                share = len(queue) if sender == "" else PER_SENDER
                for _ in range(min(share, len(queue), limit - len(batch))):
                    batch.append(queue.popleft())
                if not queue:
                    del self.queues[sender]
                if len(batch) >= limit:
                    break
        self.size -= len(batch)
        return batch


class LaneCopies:
    """Which copy of a lane device's request to apply: the first of each send, by either connection.

    Dropping the bulk copy whenever the lane was up lost a request sent while the lane was still
    subscribing: the bulk connection had it, the lane never would, and the lane counted as up by
    the time the bulk copy was read. Instead the copies of each payload (the two copies of one send
    are the same bytes; a malformed one may have no request id) are counted per way, and a copy is
    applied when its way has now brought more of them than the other. So a send reaching both ways
    is applied once, one reaching only the bulk way is applied too, and a device's resend of an
    unanswered request is applied again (its stored answer is sent again). A complete pair is
    forgotten; what is never paired (sent while the lane was down) is forgotten after COPIES_KEPT
    newer ones, at worst answering a later copy a second time, which devices ignore.
    """

    def __init__(self, kept: int = COPIES_KEPT) -> None:
        self.kept = kept
        self.counts: OrderedDict[tuple[str, bytes], list[int]] = OrderedDict()   # [bulk, lane]

    def first(self, device: str, payload: bytes, lane: bool) -> bool:
        key = (device, hashlib.blake2b(payload, digest_size=16).digest())
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = [0, 0]
            if len(self.counts) > self.kept:
                self.counts.popitem(last=False)
        mine, other = int(lane), int(not lane)
        counts[mine] += 1
        if counts[mine] == counts[other]:
            del self.counts[key]          # both copies of each send came
        return counts[mine] > counts[other]


@dataclass
class Bucket:
    rate: float          # tokens per second
    burst: float
    tokens: float
    at: float


def kiosk_limits(rate_per_s: float, burst: int) -> dict[str, tuple[float, float]]:
    """op -> (per second, burst): above what a person at a kiosk can do ([hall] kiosk_rate_per_s)."""
    if rate_per_s <= 0:
        return {}
    return {"issue": (rate_per_s, burst), "check_in": (rate_per_s, burst),
            "void": (rate_per_s, burst), "lease": (rate_per_s / 10, burst / 4)}


class RateLimits:
    def __init__(self, limits: dict[str, tuple[float, float]]) -> None:
        self.limits = limits
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.answered: dict[str, float] = {}      # device -> when a refusal was last answered

    def answer_refusal(self, device: str, now: float) -> bool:
        """Whether this ``rate_limited`` refusal is answered (at most REFUSALS_PER_S a second)."""
        if now - self.answered.get(device, -1e18) < 1.0 / REFUSALS_PER_S:
            return False
        self.answered[device] = now
        return True

    def allow(self, device: str, op: str, now: float) -> bool:
        limit = self.limits.get(op)
        if limit is None or not device.startswith("kiosk."):
            return True
        bucket = self.buckets.get((device, op))
        if bucket is None:
            bucket = self.buckets[(device, op)] = Bucket(limit[0], limit[1], limit[1], now)
        # a clock that went back takes nothing away
        bucket.tokens = min(bucket.burst, bucket.tokens + max(0.0, now - bucket.at) * bucket.rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
