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

The same list carries the day's tickets joined from phones whose customers are not here yet (code
hash, number, service). Offline, such a customer's arrival code prints their ticket — the number
they already hold, no new one — and the arrival is noted in the journal; once the controller
answers again the kiosk tells it (the ``check_in`` op with the code, as online), oldest first, until
each is acknowledged. Their place in the queue was kept by the controller all along.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from hallq.contract import ReplyDoc
from hallq.contract.tokens import code_hash
from hallq.core.rules import Setup
from hallq.device.shell import DeviceShell
from hallq.runtime.storage import storage_fault

from .journal import Journal

log = logging.getLogger(__name__)

REFRESH_S = 60.0      # people join from phones all day: a code learned a minute late at most
RETELL_S = 5.0        # an arrival the controller did not take is told again this much later


@dataclass(frozen=True)
class OfflineCheckIn:
    service: str
    slot: datetime | None          # on time: the slot printed and queued by; too late: None (a walk-in)
    code: str
    code_hash: str


@dataclass(frozen=True)
class RemoteArrival:
    """A ticket joined from a phone, its customer here while the controller is away (noted in the
    journal by the kiosk, then printed)."""
    number: str
    service: str
    code: str
    code_hash: str


class AppointmentBook:
    def __init__(self, key: bytes, setup: Setup, journal: Journal, shell: DeviceShell,
                 today: Callable[[], str]) -> None:
        self.key, self.setup, self.journal, self.shell, self.today = key, setup, journal, shell, today
        self.inflight: str | None = None
        self.next_at = 0.0
        self.kept = 0                  # bookings of today in the list (status: ``bookings``)
        self.remote_kept = 0           # remote tickets on their way (status: ``remote``)
        self.telling: str | None = None   # the request telling the controller of an arrival noted offline
        self._unsent: int | None = None   # arrivals noted offline not yet acknowledged (None: read the journal)
        self._told: set[str] = set()      # code hashes of arrivals the controller acknowledged in this run
        self.tell_after = 0.0
        self.last_tick = 0.0                # the shell's clock at the last ``keep``

    def keep(self, now: float) -> None:
        """Refresh the list every minute while the controller answers; tell it the arrivals noted offline."""
        self.last_tick = now
        if not self.shell.available:
            return
        self._tell_arrival(now)
        if self.inflight is not None or now < self.next_at:
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
        waiting = [(r.code_hash, r.number, r.service) for r in reply.remote if r.day == day]
        try:
            self.journal.keep_appointments(day, booked)
            self.journal.keep_remote(day, waiting)
        except sqlite3.Error as err:
            # the journal cannot be written (disk full, read-only): the list kept before stays; asked again later
            log.error("the day's bookings and remote tickets cannot be kept: %s", storage_fault(err) or err)
            return
        self.kept, self.remote_kept = len(booked), len(waiting)
        log.info("%d bookings and %d remote tickets of %s kept for checking in offline", len(booked), len(waiting), day)

    @property
    def unsent(self) -> int:
        """Arrivals noted offline the controller has not acknowledged (status: ``arrivals_unsent``)."""
        if self._unsent is None:
            self._untold()
        return self._unsent or 0

    def _untold(self) -> list[tuple[str, str, str]]:
        """The arrivals noted offline not yet told, oldest first (read from the journal, and counted)."""
        untold = [a for a in self.journal.arrivals_unsent() if a[1] not in self._told]
        self._unsent = len(untold)
        return untold

    def noted(self) -> None:
        """An arrival was noted in the journal: to be told."""
        self._unsent = None

    def _tell_arrival(self, now: float) -> None:
        """One arrival noted offline at a time, oldest first (the controller confirms it as online);
        after a refusal or no answer, again a few seconds later."""
        if self.telling is not None or now < self.tell_after or self._unsent == 0:
            return
        untold = self._untold()
        if not untold:
            return
        day, hashed, code = untold[0]

        def done() -> None:
            self._told.add(hashed)           # not told twice in this run, even if the note cannot be written
            self._unsent = None
            try:
                self.journal.arrival_sent(day, hashed)
            except sqlite3.Error as err:
                log.error("an arrival told to the controller cannot be noted as told: %s", storage_fault(err) or err)

        def told(reply: ReplyDoc) -> None:
            self.telling = None
            if reply.ok:
                log.info("arrival noted offline told to the controller")
                done()
            elif reply.code == "unknown_ticket":
                # no longer waiting (cancelled by its customer, voided at the desk): nothing to confirm
                log.warning("an arrival noted offline was for a ticket no longer waiting: %s", reply.message)
                done()
            else:
                log.warning("arrival noted offline not taken yet: %s %s", reply.code, reply.message)
                self.tell_after = self.last_tick + RETELL_S

        def gave_up() -> None:
            self.telling = None
            self.tell_after = self.last_tick + RETELL_S
        self.telling = self.shell.request("check_in", told, give_up_after=10.0, on_give_up=gave_up, code=code)

    def check_in_offline(self, code: str, now: datetime) -> OfflineCheckIn | RemoteArrival | str:
        """The check-in, a remote ticket's arrival (noted here), or the refusal's code (its slip says why)."""
        hashed = code_hash(self.key, code)
        day = now.date().isoformat()
        found = self.journal.appointment(day, hashed)
        if found is None:
            remote = self.journal.remote_ticket(day, hashed)
            if remote is None:
                return "check_in_offline"      # unknown here: maybe booked or joined after our last refresh
            number, service, noted = remote
            if noted:
                return "already_checked_in"
            return RemoteArrival(number, service, code.strip(), hashed)
        service, slot_text, used = found
        if used:
            return "already_checked_in"
        slot = datetime.fromisoformat(slot_text)
        if now < slot - timedelta(seconds=self.setup.appointment_early_s):
            return "too_early"
        on_time = now <= slot + timedelta(seconds=self.setup.appointment_late_s)
        return OfflineCheckIn(service, slot if on_time else None, code.strip(), hashed)
