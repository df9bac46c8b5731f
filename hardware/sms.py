"""The modem's thread: sends the SMS outbox (hallq/controller/notify.py queues it) through a GSM modem,
each message exactly once and in order, and hands each received message to ``on_reply`` (the
controller's inbox). Composed into the controller by its command (hallq/tools/controller_command.py):
the controller knows it only as something it starts and stops.

Exactly once across restarts: a message is written to the SIM's storage first and its slot recorded
(state ``stored``) before it is sent from there; a message found ``stored`` at the next start (the
controller died in between) is looked up on the SIM: ``STO SENT`` is recorded as sent, ``STO UNSENT``
is sent, a slot that is gone is written again. A failed step is tried again after 2, 4, 8 ... s (at
most ``retry_max_s``); the head of the queue waits for it (the order is kept). A full SIM: its read and
sent messages are deleted, and the step tried again. A modem that cannot be opened or answers nothing
is a status in the log, tried again, never a crash. This thread has its own connection to the
controller's database and touches only the ``sms_outbox`` table.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from hallq.runtime.config import SmsConfig

from .gsm import STORAGE_FULL, GsmError, GsmModem, StatusReport

log = logging.getLogger(__name__)


class SmsWorker:
    def __init__(self, sms: SmsConfig, db_path: Path, on_reply: Callable[[str, str], None],
                 modem_factory: Callable[[], GsmModem] | None = None) -> None:
        self.sms, self.db_path, self.on_reply = sms, db_path, on_reply
        self.modem_factory = modem_factory or (lambda: GsmModem(sms.port, sms.baud))
        self.modem: GsmModem | None = None
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.backoff = 0.0
        self.status = "starting"
        self.thread = threading.Thread(target=self._run, name="sms", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def poke(self) -> None:
        """Something was queued: the outbox is looked at now, not at the next poll."""
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=10)
        if self.modem is not None:
            self.modem.close()

    # --- the loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        db = sqlite3.connect(self.db_path, isolation_level=None)
        db.execute("PRAGMA busy_timeout=5000")
        last_poll = 0.0
        try:
            while not self.stopping.is_set():
                try:
                    if self.modem is None:
                        self.modem = self.modem_factory()
                        self.modem.setup()
                        self._status("ok")
                    sent = self._send_next(db)
                    if time.monotonic() - last_poll >= self.sms.poll_s:
                        last_poll = time.monotonic()
                        for received in self.modem.unread():
                            if isinstance(received, StatusReport):
                                self._delivery(db, received)
                            else:
                                self.on_reply(received.sender, received.text)
                            self.modem.delete(received.index)
                    if sent:
                        continue
                except GsmError as err:
                    self._status(f"fault: {err.detail or err}")
                    if self.modem is not None and not err.code:
                        self.modem.close()          # no answer: open it again next time
                        self.modem = None
                self.wake.wait(min(0.2, self.sms.poll_s))
                self.wake.clear()
        finally:
            db.close()

    def _status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            (log.info if status == "ok" else log.error)("SMS modem: %s", status)

    def _send_next(self, db: sqlite3.Connection) -> bool:
        """The head of the outbox one step further; True when a message went."""
        row = db.execute("SELECT id, phone, text, state, slot, attempts, next_try FROM sms_outbox "
                         "WHERE state IN ('queued', 'stored') ORDER BY id LIMIT 1").fetchone()
        if row is None or row[6] > time.time():
            return False
        msg_id, phone, text, state, slot, attempts, _ = row
        assert self.modem is not None
        try:
            if state == "stored":
                status = self.modem.stored_status(slot)
                if status == "STO SENT":              # it went before the controller stopped
                    self._sent(db, msg_id, None, slot)
                    return True
                if status != "STO UNSENT":            # the slot is gone: written again below
                    db.execute("UPDATE sms_outbox SET state = 'queued', slot = NULL WHERE id = ?", (msg_id,))
                    state = "queued"
            if state == "queued":
                slot = self.modem.store(phone, text)
                db.execute("UPDATE sms_outbox SET state = 'stored', slot = ? WHERE id = ?", (slot, msg_id))
            reference = self.modem.send_stored(slot)
            self._sent(db, msg_id, reference, slot)
            return True
        except GsmError as err:
            if err.code == STORAGE_FULL:
                self.modem.delete_read()             # room on the SIM: its read and sent messages go
            wait = min(self.sms.retry_max_s, 2.0 ** min(attempts + 1, 12))
            db.execute("UPDATE sms_outbox SET attempts = attempts + 1, next_try = ?, error = ? WHERE id = ?",
                       (time.time() + wait, str(err.detail or err)[:200], msg_id))
            log.warning("SMS %d not sent (%s): again in %.0f s", msg_id, err.detail or err, wait)
            if not err.code:
                raise
            return False

    @staticmethod
    def _delivery(db: sqlite3.Connection, report: StatusReport) -> None:
        """The network's report on a sent message, recorded on the last one sent with its reference
        (references go round at 256: the latest is the one it is about). A message that went just
        before the controller stopped has no reference recorded (it was found sent on the SIM at the
        next start): its report is matched by the number it went to, on the latest such message
        still without a report."""
        found = db.execute("UPDATE sms_outbox SET delivery = ? WHERE id = (SELECT MAX(id) FROM sms_outbox "
                           "WHERE reference = ? AND state = 'sent')", (report.outcome, report.reference))
        if found.rowcount or not report.recipient:
            return
        for msg_id, phone in db.execute("SELECT id, phone FROM sms_outbox WHERE state = 'sent' AND reference IS NULL "
                                        "AND delivery IS NULL ORDER BY id DESC").fetchall():
            if same_number(phone, report.recipient):
                db.execute("UPDATE sms_outbox SET delivery = ?, reference = ? WHERE id = ?",
                           (report.outcome, report.reference, msg_id))
                return
        log.warning("SMS delivery report %d matches no message sent (%s)", report.reference, report.outcome)

    def _sent(self, db: sqlite3.Connection, msg_id: int, reference: int | None, slot: int | None) -> None:
        db.execute("UPDATE sms_outbox SET state = 'sent', reference = ?, sent_at = ?, error = NULL WHERE id = ?",
                   (reference, datetime.now().astimezone().isoformat(), msg_id))
        if slot is not None:
            try:
                assert self.modem is not None
                self.modem.delete(slot)
            except GsmError as err:
                log.warning("SMS %d sent; its copy on the SIM stays (%s)", msg_id, err.detail or err)
        self.wake.set()


def same_number(a: str, b: str) -> bool:
    """Whether two renderings of a phone number are one number (a report may give it as +86...)."""
    def national(number: str) -> str:
        digits = "".join(ch for ch in number if ch.isdigit())
        return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    return national(a) == national(b) != ""
