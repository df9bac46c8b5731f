"""The counter's own view of itself, and what its lamps and LED sign show (pure, no I/O).

Fed by the controller's retained ``R/state`` (our entry in ``counters``; the shell drops older
states) and the replies to our own requests (applied at once, before the next state arrives).
Whether the controller can be asked is the shell's :class:`~hallq.device.shell.Availability`, shared here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hallq.contract import CounterDoc, ReplyDoc, StateDoc, TicketDoc
from hallq.device.shell import Availability
from hallq.hardware.signs import SignView
from hallq.runtime.config import CounterConfig, HallTexts

Lamp = Literal["serving", "idle", "suspended", "offline"]
LAMPS: tuple[Lamp, ...] = ("serving", "idle", "suspended", "offline")

FEEDBACK_S = 2.0     # how long a lamp blinks to answer a refused or dropped press


@dataclass(frozen=True)
class LampView:
    lit: Lamp
    blink: bool = False


@dataclass
class CounterView:
    config: CounterConfig
    availability: Availability = field(default_factory=Availability)
    status: str = "idle"                       # idle | serving | suspended (from the controller)
    ticket: TicketDoc | None = None            # the ticket being served
    clerk: str | None = None
    suspend_reason: str | None = None
    known: bool = False                        # a state or reply about this counter was seen
    last_served: str | None = None             # number of the ticket finished last (rating pad)
    rating_spent: bool = False                 # that ticket was rated (or cannot be): pad is quiet
    feedback: tuple[Lamp, float] | None = None  # (lamp to blink, until monotonic time)
    texts: HallTexts = field(default_factory=HallTexts)   # the hall's wording ([hall.texts])

    # --- inputs -----------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.availability.available

    def apply_state(self, state: StateDoc) -> bool:
        """Take our entry from a hall state; False if the state has none."""
        entry = state.counter(self.config.id)
        if entry is None:
            return False
        self._apply_counter(entry, entry.ticket)
        return True

    def _apply_counter(self, entry: CounterDoc, ticket: TicketDoc | None) -> None:
        self.known = True
        self.ticket = ticket
        if entry.status == "suspended":
            self.status = "suspended"
        else:
            # "offline" in the state is the controller's view of our presence; it lags behind us
            self.status = "serving" if self.ticket else "idle"
        self.clerk = entry.clerk
        self.suspend_reason = entry.suspend_reason

    def apply_reply(self, op: str, reply: ReplyDoc, now: float) -> None:
        """A reply to one of our requests: what it did to this counter, at once."""
        if not reply.ok:
            code = reply.code
            if op == "rate" and code in ("already_rated", "not_serving", "too_late"):
                self.rating_spent = True      # asking again cannot succeed
            lamp: Lamp = "suspended" if code == "counter_suspended" else "idle" if not self.ticket else "serving"
            self.feedback = (lamp, now + FEEDBACK_S)
            return
        self.feedback = None
        ticket = reply.ticket
        if op in ("call_next", "call", "recall") and ticket is not None:
            if op != "recall" and self.ticket and self.ticket.number != ticket.number:
                self.last_served = self.ticket.number   # the one being served became served
                self.rating_spent = False
            self.ticket = ticket
            if self.status != "suspended":
                self.status = "serving"
        elif op == "finish" and ticket is not None:
            self.last_served = ticket.number
            self.rating_spent = False
            self.ticket = None
            self.status = "suspended" if self.status == "suspended" else "idle"
        elif op in ("no_show", "transfer"):
            self.ticket = None
            self.status = "suspended" if self.status == "suspended" else "idle"
        elif op == "rate":
            self.rating_spent = True     # one rating per ticket
        counter = reply.counter
        if counter is not None and counter.id == self.config.id:
            self._apply_counter(counter, counter.ticket)

    def gave_up(self, now: float) -> None:
        """A request went unanswered: offline until the controller is heard from again, so a
        frozen controller (a stalled SD card) never gets a second "next" to apply on waking."""
        self.feedback = ("offline", now + FEEDBACK_S)
        self.availability.gave_up(now)

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
            return SignView(sign.offline_text or self.texts.controller_away, "offline")
        # suspended while serving (contract v1.1): the customer at the window still sees the
        # number until the clerk is done with it; then "暂停服务"
        if self.status == "suspended" and not self.ticket:
            return SignView(sign.suspended_text or self.texts.suspended, "suspended")
        if self.ticket:
            number = self.ticket.number
            try:
                text = sign.serving_text.format(number=number, counter=self.config.name,
                                                service=self.ticket.service)
            except (KeyError, IndexError, ValueError):
                text = number       # a bad template in the config still shows the number
            return SignView(text, "serving")
        return SignView(sign.idle_text, "idle")
