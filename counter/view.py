"""The counter's own view of itself, and what its lamps and LED sign show (pure, no I/O).

Fed by the controller's retained ``R/state`` (our entry in ``counters``), the replies to our own
requests (applied at once, before the next state arrives), the controller's presence and our
broker link. Older states (lower ``seq``) are ignored, so a late message never rolls the view back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hall.config import CounterConfig
from hardware.signs import SignView

Lamp = Literal["serving", "idle", "suspended", "offline"]
LAMPS: tuple[Lamp, ...] = ("serving", "idle", "suspended", "offline")

FEEDBACK_S = 2.0     # how long a lamp blinks to answer a refused or dropped press
UNANSWERED_HOLD_S = 30.0   # after a give-up, keys stay refused until heard from, at most this long


@dataclass(frozen=True)
class LampView:
    lit: Lamp
    blink: bool = False


@dataclass
class CounterView:
    config: CounterConfig
    link_up: bool = False
    controller_online: bool = False
    epoch: int = -1
    seq: int = -1
    status: str = "idle"                       # idle | serving | suspended (from the controller)
    ticket: dict[str, Any] | None = None       # {"number", "service", ...} being served
    clerk: str | None = None
    suspend_reason: str | None = None
    known: bool = False                        # a state or reply about this counter was seen
    last_served: str | None = None             # number of the ticket finished last (rating pad)
    rating_spent: bool = False                 # that ticket was rated (or cannot be): pad is quiet
    feedback: tuple[Lamp, float] | None = None  # (lamp to blink, until monotonic time)
    unanswered_since: float | None = None      # a request was given up then; not heard from since
    extra: dict[str, Any] = field(default_factory=dict)

    # --- inputs -----------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.link_up and self.controller_online and self.unanswered_since is None

    def heard_from_controller(self) -> None:
        """Any reply (also a late one) or a newer state: the controller is answering again."""
        self.unanswered_since = None

    def expire_unanswered(self, now: float) -> None:
        # a request lost on the way must not lock the keys for ever
        if self.unanswered_since is not None and now - self.unanswered_since >= UNANSWERED_HOLD_S:
            self.unanswered_since = None

    def apply_presence(self, payload: dict[str, Any]) -> None:
        online = payload.get("online")
        if (online is True) != self.controller_online:
            self.unanswered_since = None      # it went away or came back: a fresh start
        self.controller_online = online is True
        epoch = payload.get("epoch")
        if isinstance(epoch, int) and epoch > self.epoch and online is True:
            # a restarted controller numbers its states on from its durable seq; accept them
            self.epoch = epoch

    def apply_state(self, state: dict[str, Any]) -> bool:
        """Take our entry from a hall state; False if the state is older than what we have."""
        seq, epoch = state.get("seq"), state.get("epoch")
        if not isinstance(seq, int) or not isinstance(epoch, int):
            return False
        if seq < self.seq and epoch <= self.epoch:
            return False
        entry = next((c for c in state.get("counters") or [] if isinstance(c, dict)
                      and c.get("id") == self.config.id), None)
        if entry is None:
            return False
        if seq > self.seq:
            self.heard_from_controller()
        self.seq, self.epoch = seq, max(epoch, self.epoch)
        self._apply_counter(entry)
        return True

    def _apply_counter(self, entry: dict[str, Any]) -> None:
        self.known = True
        status = entry.get("status")
        ticket = entry.get("ticket")
        self.ticket = ticket if isinstance(ticket, dict) and ticket.get("number") else None
        if status == "suspended":
            self.status = "suspended"
        else:
            # "offline" in the state is the controller's view of our presence; it lags behind us
            self.status = "serving" if self.ticket else "idle"
        clerk = entry.get("clerk")
        self.clerk = clerk if isinstance(clerk, str) else None
        reason = entry.get("suspend_reason")
        self.suspend_reason = reason if isinstance(reason, str) else None

    def apply_reply(self, op: str, reply: dict[str, Any], now: float) -> None:
        """A reply to one of our requests: what it did to this counter, at once."""
        if not reply.get("ok"):
            code = (reply.get("error") or {}).get("code", "")
            if op == "rate" and code in ("already_rated", "not_serving", "too_late"):
                self.rating_spent = True      # asking again cannot succeed
            lamp: Lamp = "suspended" if code == "counter_suspended" else "idle" if not self.ticket else "serving"
            self.feedback = (lamp, now + FEEDBACK_S)
            return
        self.feedback = None
        ticket = reply.get("ticket")
        counter = reply.get("counter")
        if op in ("call_next", "recall") and isinstance(ticket, dict):
            if op == "call_next" and self.ticket and self.ticket.get("number") != ticket.get("number"):
                self.last_served = self.ticket.get("number")  # the one being served became served
                self.rating_spent = False
            self.ticket = ticket
            if self.status != "suspended":
                self.status = "serving"
        elif op == "finish" and isinstance(ticket, dict):
            self.last_served = ticket.get("number")
            self.rating_spent = False
            self.ticket = None
            self.status = "suspended" if self.status == "suspended" else "idle"
        elif op in ("no_show", "transfer"):
            self.ticket = None
            self.status = "suspended" if self.status == "suspended" else "idle"
        elif op == "rate":
            self.rating_spent = True     # one rating per ticket
        if isinstance(counter, dict) and counter.get("id", self.config.id) == self.config.id:
            self._apply_counter({**counter, "ticket": counter.get("ticket", self.ticket)})

    def gave_up(self, now: float) -> None:
        """A request went unanswered: offline until the controller is heard from again, so a
        frozen controller (a stalled SD card) never gets a second "next" to apply on waking."""
        self.feedback = ("offline", now + FEEDBACK_S)
        self.unanswered_since = now

    def refused_offline(self, now: float) -> None:
        self.feedback = ("offline", now + FEEDBACK_S)

    # --- outputs ----------------------------------------------------------------------------
    def lamp(self, now: float) -> LampView:
        if self.feedback is not None and now < self.feedback[1]:
            return LampView(self.feedback[0], blink=True)
        if not self.online or not self.known:
            return LampView("offline")
        if self.status == "suspended":
            return LampView("suspended")
        if self.ticket:
            return LampView("serving")
        return LampView("idle")

    def sign(self) -> SignView:
        sign = self.config.sign
        if not self.online or not self.known:
            return SignView(sign.offline_text, "offline")
        if self.status == "suspended":
            return SignView(sign.suspended_text, "suspended")
        if self.ticket:
            number = str(self.ticket.get("number", ""))
            try:
                text = sign.serving_text.format(number=number, counter=self.config.name,
                                                service=self.ticket.get("service", ""))
            except (KeyError, IndexError, ValueError):
                text = number       # a bad template in the config still shows the number
            return SignView(text, "serving")
        return SignView(sign.idle_text, "idle")
