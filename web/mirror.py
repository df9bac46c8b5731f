"""The controller's records, kept by the web service: the core's state from a ``snapshot``, then
every event folded in, in order, with the core's own ``evolve``.

So the people ahead of a ticket and its estimated wait on a phone are the controller's own numbers
(the same functions on the same state), not a second guess. Events are applied exactly once, by
``seq``: a repeat is ignored, a gap is reported so the caller fetches the missing ones (``events``)
or a new snapshot.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from hallq.contract.tokens import token_hash
from hallq.core import events as e
from hallq.core.model import HallState, Ticket
from hallq.core.rules import Setup, evolve, open_counters, route_estimate, wait_of

APPLIED, REPEATED, GAP = "applied", "repeated", "gap"


class HallMirror:
    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.state: HallState | None = None
        self.seq = 0
        self.epoch = 0
        self._by_hash: dict[str, str] = {}
        # the calling order per service, computed once per change (and minute: appointments move)
        self._order: tuple[int, int, dict[str, list[Ticket]], dict[str, int]] | None = None

    @property
    def ready(self) -> bool:
        return self.state is not None

    def load(self, epoch: int, seq: int, state_json: bytes) -> None:
        """Start over from the controller's whole state as of ``seq``."""
        state = msgspec.json.decode(state_json, type=HallState)
        self.state, self.seq, self.epoch = self.setup.reconcile(state), seq, epoch
        self._by_hash = {t.token_hash: t.id for t in self.state.tickets.values() if t.token_hash}
        self._order = None

    def apply(self, seq: int, event: e.Event) -> str:
        """Fold one event (read by ``hallq.contract.read_event``); APPLIED, REPEATED or GAP."""
        if self.state is None or seq > self.seq + 1:
            return GAP
        if seq <= self.seq:
            return REPEATED
        self.state = evolve(self.state, event)
        self.seq = seq
        ticket = getattr(event, "ticket", None)
        if isinstance(ticket, Ticket) and ticket.token_hash:
            self._by_hash[ticket.token_hash] = ticket.id
        if isinstance(event, e.DayStarted):
            self._by_hash = {h: tid for h, tid in self._by_hash.items() if tid in self.state.tickets}
        self._order = None
        return APPLIED

    # --- what the pages ask ---------------------------------------------------------------------
    def ticket_by_token(self, token: str) -> Ticket | None:
        """The ticket whose QR code carries ``token``: today's tickets only (a token is valid for
        its ticket's business day)."""
        if self.state is None:
            return None
        ticket_id = self._by_hash.get(token_hash(token))
        ticket = self.state.tickets.get(ticket_id) if ticket_id else None
        return ticket if ticket is not None and ticket.day == self.state.day else None

    def _calling_order(self, now: datetime) -> tuple[dict[str, list[Ticket]], dict[str, int]]:
        """Per service, the waiting tickets in the order they will be called, and each one's place:
        one pass per change, whatever a thousand phone pages and the console ask."""
        assert self.state is not None
        minute = int(now.timestamp() // 60)       # appointments' order changes with time
        if self._order is None or self._order[:2] != (self.seq, minute):
            queues: dict[str, list[Ticket]] = {}
            for t in self.state.tickets.values():
                if t.status == "waiting":
                    queues.setdefault(t.service, []).append(t)
            for service in queues:
                queues[service].sort(key=lambda t: t.queue_key(now))
            ahead = {t.id: i for waiting in queues.values() for i, t in enumerate(waiting)}
            self._order = (self.seq, minute, queues, ahead)
        return self._order[2], self._order[3]

    def ahead_of(self, ticket: Ticket, now: datetime) -> int:
        """People ahead of a waiting ticket."""
        return self._calling_order(now)[1].get(ticket.id, 0)

    def ticket_view(self, ticket: Ticket, now: datetime) -> dict[str, Any]:
        """A ticket as its own phone page shows it: nothing about any other ticket but counts."""
        assert self.state is not None
        current = self.state.tickets.get(ticket.id, ticket)
        waiting = current.status == "waiting"
        ahead = self.ahead_of(current, now) if waiting else 0
        # to the whole second: the forecast is kept for one state and one instant, so the thousand
        # pages a call wakes share one play of the hall instead of each paying for its own
        est = wait_of(self.setup, self.state, current, now.replace(microsecond=0)) if waiting else 0
        # None: nobody calling its service would reach it; the page promises no minutes
        state = self.state
        service = state.services.get(current.service)
        return {"number": current.number, "service": current.service, "status": current.status,
                "ahead": ahead, "est_wait_s": est or 0, "est_known": est is not None,
                # the hall's situation: a phone must not promise what the hall is not doing
                "mode": state.mode, "message": state.outage_message if state.outage else None,
                "service_suspended": bool(service and service.suspended),
                "open_counters": open_counters(self.setup, state, current.service),
                "reinstated": waiting and current.called_at is not None,
                "counter": current.counter, "priority": current.priority == "priority",
                "appointment": current.appointment, "issued_at": current.issued_at.isoformat(),
                "recalls": current.recalls,
                # a journey: its services, the step it is at, and the rest of the visit as estimated
                "route": list(current.route), "step": current.step,
                # joined from a phone: whether its customer confirmed arriving, and the code for a kiosk
                "remote": current.remote, "arrived": current.arrived, "arrival_code": current.arrival_code,
                "est_route_s": route_estimate(self.setup, state, current, est) if waiting and est is not None else 0}

    def waiting_numbers(self, now: datetime) -> dict[str, list[str]]:
        """Per service, the numbers waiting in the order they will be called (the console's list)."""
        if self.state is None:
            return {}
        queues = self._calling_order(now)[0]
        return {service: [t.number for t in queues[service]] for service in self.setup.services if service in queues}
