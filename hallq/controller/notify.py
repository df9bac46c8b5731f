"""SMS to customers who left a phone number (the join page's optional field): "your turn is near"
once N people are ahead of them and "please go to counter 3" when called, in the language they used,
and the answers to their replies ("1": more time, moved back once; "0": cancel).

Decided by the controller's owner thread after each batch, from the state, and queued in the
controller's database in the batch's own transaction (``sms_outbox``, one row per key: a message is
queued once, whatever restarts), for the modem's thread (hallq/controller/sms.py) to send. Phone
numbers live only in the ``contacts`` table, never in an event, a log line or a report, and are
forgotten when the business day ends.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from hallq.core import commands as c
from hallq.core.model import Appointment, HallState, Ticket
from hallq.core.queries import waiting_ahead
from hallq.runtime.config import Config, SmsConfig
from hallq.runtime.i18n import N_, counter_name, gettext, service_name

from .store import Store

log = logging.getLogger(__name__)

NEAR = N_("[{hall}] {number}: {ahead} ahead of you. Please come back to the hall. Reply 1 for more time, 0 to cancel.")
CALLED = N_("[{hall}] {number}: please go to {counter} now.")
POSTPONED = N_("[{hall}] {number}: moved back {places} places, as you asked.")
CANCELLED = N_("[{hall}] {number}: cancelled, as you asked.")
REMIND = N_("[{hall}] Your booking for {service} is today at {time}. At the hall, type {code} at a ticket machine "
             "to check in.")
NOT_DONE = N_("[{hall}] {number}: this cannot be done now ({why}).")


@dataclass(frozen=True)
class SmsReply:
    """A message received by the modem (the modem's thread puts it in the controller's inbox)."""
    sender: str
    text: str


class Notifier:
    def __init__(self, config: Config, sms: SmsConfig, store: Store) -> None:
        self.config, self.sms, self.store = config, sms, store
        self.day = ""
        self.contacts: dict[str, tuple[str, str]] = {}     # ticket id -> (phone, language)
        self.queued: set[str] = set()
        self.fresh = False                                 # queued something since the modem's thread was told
        self.batch: list[str] = []                         # keys queued in the batch being written

    def _today(self, state: HallState) -> None:
        if state.day != self.day:
            self.day = state.day
            self.store.forget_phones(state.day)
            self.contacts = self.store.contacts(state.day)
            self.queued = self.store.sms_keys(state.day)

    def joined(self, state: HallState, ticket: Ticket, phone: str, lang: str) -> None:
        """A phone number left with a ticket (kept until the end of its day)."""
        self._today(state)
        self.store.add_contact(ticket.id, ticket.day, phone, lang)
        self.contacts[ticket.id] = (phone, lang)

    def booked(self, state: HallState, appointment: Appointment, phone: str | None, lang: str) -> None:
        """A booking with a number for its reminder (kept until the end of its slot's day); a moved
        booking keeps its number that long."""
        self._today(state)
        key = f"appt:{appointment.code}"
        if phone is None:                 # moved: the number it was booked with, if any
            kept = self.contacts.get(key) or self.store.contact(key)
            if kept is None:
                return
            phone, lang = kept
        self.store.add_contact(key, appointment.day, phone, lang)
        if appointment.day == self.day:
            self.contacts[key] = (phone, lang)

    def _queue(self, key: str, ticket: Ticket | Appointment, message: str, now: datetime, **values: object) -> None:
        if key in self.queued:
            return
        contact = f"appt:{ticket.code}" if isinstance(ticket, Appointment) else ticket.id
        phone, lang = self.contacts[contact]
        number = ticket.number if isinstance(ticket, Ticket) else ""
        text = gettext(message, lang, hall=self.config.hall.name if lang != "en" else
                       (self.config.hall.name_en or self.config.hall.name), number=number, **values)
        self.store.queue_sms(key, contact, self.day, phone, text, now.isoformat())
        self.queued.add(key)
        self.batch.append(key)
        self.fresh = True

    def committed(self) -> None:
        self.batch.clear()

    def rolled_back(self) -> None:
        """The batch's transaction was undone (the disk failed): its messages are queued again next time."""
        self.queued.difference_update(self.batch)
        self.batch.clear()
        self.fresh = False

    def after_batch(self, state: HallState, now: datetime) -> None:
        """What the batch changed for those who left a number: queued (in the batch's transaction)."""
        self._today(state)
        for ticket_id, (_, lang) in self.contacts.items():
            if ticket_id.startswith("appt:"):
                self._remind(state, ticket_id[5:], lang, now)
                continue
            t = state.tickets.get(ticket_id)
            if t is None:
                continue
            if t.status == "called" and t.counter:
                self._queue(f"{t.id}:called:{t.step}:{t.recalls}", t, CALLED, now,
                            counter=counter_name(self.config, t.counter, lang))
            elif t.status == "waiting":
                ahead = waiting_ahead(state, t, now)
                if ahead <= self.sms.near:
                    self._queue(f"{t.id}:near:{t.step}:{int(t.postponed)}", t, NEAR, now, ahead=ahead)

    def _remind(self, state: HallState, code: str, lang: str, now: datetime) -> None:
        """A booking of today still to check in: reminded once, ``remind_before_s`` before its slot."""
        a = state.appointments.get(code)
        if a is None or a.status != "booked" or a.day != state.day:
            return
        if (a.slot - now).total_seconds() <= self.sms.remind_before_s:
            self._queue(f"appt:{code}:remind:{a.slot.isoformat()}", a, REMIND, now,
                        service=service_name(self.config, a.service, lang),
                        time=f"{a.slot.astimezone(self.config.zone):%H:%M}", code=code)

    def reply(self, state: HallState, reply: SmsReply) -> c.Command | None:
        """The command a customer's reply asks for ("1": more time, "0": cancel), or None: not theirs
        (no open ticket of today left this number) or not understood."""
        self._today(state)
        sender = re.sub(r"[^0-9]", "", reply.sender)[-11:]
        mine = [t for tid, (phone, _) in self.contacts.items() if not tid.startswith("appt:")
                and re.sub(r"[^0-9]", "", phone)[-11:] == sender and (t := state.tickets.get(tid)) is not None
                and t.status in ("waiting", "called")]
        if not mine:
            log.info("an SMS reply from a number with no open ticket today: ignored")
            return None
        ticket = max(mine, key=lambda t: t.issued_at)
        answer = reply.text.strip()
        if answer == "1":
            return c.PostponeTicket(by="sms", ticket_id=ticket.id, places=self.sms.more_time_places)
        if answer == "0":
            return c.VoidTicket(by="sms", ticket_id=ticket.id, reason="cancelled by SMS")
        log.info("an SMS reply not understood (%d characters): ignored", len(answer))
        return None

    def replied(self, state: HallState, command: c.Command, refused: str | None, now: datetime,
                places: int = 0) -> None:
        """Tell the customer what became of their reply (queued like any message)."""
        ticket = state.tickets.get(getattr(command, "ticket_id", ""))
        if ticket is None or ticket.id not in self.contacts:
            return
        kind = "postponed" if isinstance(command, c.PostponeTicket) else "cancelled"
        key = f"{ticket.id}:reply:{kind}:{now.isoformat()}"
        if refused:
            self._queue(key, ticket, NOT_DONE, now, why=refused)
        elif kind == "postponed":
            self._queue(key, ticket, POSTPONED, now, places=places)
        else:
            self._queue(key, ticket, CANCELLED, now)
