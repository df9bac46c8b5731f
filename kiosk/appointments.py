"""The day's booked slots kept by the kiosk, so customers can check in while the controller is away.

While the controller answers, the kiosk asks it for the day's unused bookings every few minutes
(the read-only ``appointments`` op: code hashes, services, slots) and keeps them in its journal.
When a customer presents a code and the controller is away, the kiosk checks the code against
that list: a booking known and unused gets a ticket from the lease (marked with its slot when on
time, a walk-in when too late), the code marked used in the same transaction; the code travels with
the ticket in the next ``sync``, where the controller marks the appointment checked in (or, if it
was used meanwhile elsewhere, places the ticket as a walk-in: someone holds it). A code the list
does not know cannot be told from a booking made after the last refresh: the slip sends the
customer to the desk. Rules as online (docs/protocol.md): too early is refused, too late is a
walk-in, a code works once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from hallq.contract import ReplyDoc
from hallq.contract.tokens import code_hash
from hallq.core.rules import Setup
from hallq.device.shell import DeviceShell

from .journal import Journal

log = logging.getLogger(__name__)

REFRESH_S = 300.0


@dataclass(frozen=True)
class OfflineCheckIn:
    service: str
    slot: datetime | None          # on time: the slot printed and queued by; too late: None (a walk-in)
    code: str
    code_hash: str


class AppointmentBook:
    def __init__(self, key: bytes, setup: Setup, journal: Journal, shell: DeviceShell,
                 today: Callable[[], str]) -> None:
        self.key, self.setup, self.journal, self.shell, self.today = key, setup, journal, shell, today
        self.inflight: str | None = None
        self.next_at = 0.0
        self.kept = 0                  # bookings of today in the list (status: ``bookings``)

    def keep(self, now: float) -> None:
        """Refresh the list every few minutes while the controller answers."""
        if self.inflight is not None or now < self.next_at or not self.shell.available:
            return
        self.next_at = now + REFRESH_S
        self.inflight = self.shell.request("appointments", self._reply, give_up_after=10.0,
                                           on_give_up=self._gave_up)

    def _gave_up(self) -> None:
        self.inflight = None

    def _reply(self, reply: ReplyDoc) -> None:
        self.inflight = None
        if not reply.ok:
            log.warning("appointment list refused: %s", reply.code)
            return
        day = self.today()
        booked = [(b.code_hash, b.service, b.slot.isoformat()) for b in reply.appointments if b.day == day]
        self.journal.keep_appointments(day, booked)
        self.kept = len(booked)
        log.info("%d bookings of %s kept for checking in offline", len(booked), day)

    def check_in_offline(self, code: str, now: datetime) -> OfflineCheckIn | str:
        """The check-in, or the refusal's code (its slip says why)."""
        hashed = code_hash(self.key, code)
        found = self.journal.appointment(now.date().isoformat(), hashed)
        if found is None:
            return "check_in_offline"          # unknown here: maybe booked after our last refresh
        service, slot_text, used = found
        if used:
            return "already_checked_in"
        slot = datetime.fromisoformat(slot_text)
        if now < slot - timedelta(seconds=self.setup.appointment_early_s):
            return "too_early"
        on_time = now <= slot + timedelta(seconds=self.setup.appointment_late_s)
        return OfflineCheckIn(service, slot if on_time else None, code.strip(), hashed)
