"""The kiosk's numbers for outage mode: leased blocks kept topped up, offline tickets synced.

Owned by the kiosk role's owner thread; talks to the controller through the shell's request
tracker and keeps everything durable in the :class:`~kiosk.journal.Journal`. While the controller
is reachable but not answering, an empty ``sync`` every ``PROBE_S`` asks whether it is back.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from hallq.contract import ReplyDoc
from hallq.core.rules import Setup
from hallq.device.shell import DeviceShell
from hallq.runtime.config import KioskConfig
from hallq.runtime.storage import storage_fault

from .journal import Journal, OfflineTicket

log = logging.getLogger(__name__)

LEASE_RETRY_S = 30.0
PROBE_S = 5.0
SYNC_BATCH = 500


class LeaseKeeper:
    def __init__(self, kiosk: KioskConfig, setup: Setup, journal: Journal, shell: DeviceShell,
                 today: Callable[[], str], now_iso: Callable[[], str]) -> None:
        self.kiosk, self.setup, self.journal, self.shell = kiosk, setup, journal, shell
        self.today, self.now_iso = today, now_iso
        self.lease_inflight: dict[str, str] = {}
        self.lease_retry_at: dict[str, float] = {}
        self.sync_inflight: str | None = None
        self.probe_at = 0.0

    def controller_back(self) -> None:
        self.probe_at = 0.0
        self.lease_retry_at.clear()

    def new_day(self, day: str) -> None:
        """Yesterday's leases are void; finished records are dropped."""
        self.journal.prune(day)
        self.lease_retry_at.clear()

    def keep(self, now: float) -> None:
        self._keep_leases(now)
        self._keep_synced(now)

    def _keep_leases(self, now: float) -> None:
        day = self.today()
        for service in self.kiosk.services:
            if service in self.lease_inflight or now < self.lease_retry_at.get(service, 0.0):
                continue
            if self.journal.remaining(service, day) * 2 > self.kiosk.lease_size:
                continue
            rid = self.shell.request("lease", self._lease_reply(service), give_up_after=LEASE_RETRY_S,
                                     on_give_up=lambda s=service: self.lease_inflight.pop(s, None),
                                     service=service, size=self.kiosk.lease_size)
            self.lease_inflight[service] = rid

    def _lease_reply(self, service: str) -> Callable[[ReplyDoc], None]:
        def on_reply(reply: ReplyDoc) -> None:
            self.lease_inflight.pop(service, None)
            lease = reply.lease if reply.ok else None
            if lease is None:
                log.warning("lease for %s refused: %s", service, reply.code or "no lease in the reply")
                self.lease_retry_at[service] = time.monotonic() + LEASE_RETRY_S
                return
            prefix = self.setup.services[service].prefix if service in self.setup.services else lease.first[:-3]
            try:
                self.journal.add_lease(service, lease.day, lease.start, lease.end, prefix, self.now_iso())
            except sqlite3.Error as err:
                what = storage_fault(err)
                if what is None:
                    raise
                # not kept, never used: its numbers stay unissued, none twice; asked for again later
                log.error("lease %s%03d-%s%03d not kept: the journal cannot be written (%s)",
                          prefix, lease.start, prefix, lease.end, what)
                self.lease_retry_at[service] = time.monotonic() + LEASE_RETRY_S
                return
            if lease.day != self.today():
                log.warning("lease for %s is for %s, today is %s", service, lease.day, self.today())
                self.lease_retry_at[service] = time.monotonic() + LEASE_RETRY_S
            log.info("leased %s%03d-%s%03d for %s", prefix, lease.start, prefix, lease.end, lease.day)
        return on_reply

    def _keep_synced(self, now: float) -> None:
        if self.sync_inflight is not None:
            return
        batch = self.journal.unsynced(SYNC_BATCH)
        if not batch and (self.shell.available or now < self.probe_at):
            return
        self.probe_at = now + PROBE_S
        # an empty sync is a harmless probe: its reply says the controller answers again
        tickets = [{"number": t.number, "service": t.service, "issued_at": t.issued_at, "priority": t.priority,
                    **({"token_hash": t.token_hash} if t.token_hash else {}),
                    **({"code": t.code} if t.code else {})} for t in batch]
        self.sync_inflight = self.shell.request("sync", self._sync_reply(batch), give_up_after=PROBE_S,
                                                on_give_up=self._sync_gave_up, tickets=tickets)

    def _sync_reply(self, batch: list[OfflineTicket]) -> Callable[[ReplyDoc], None]:
        def on_reply(reply: ReplyDoc) -> None:
            self.sync_inflight = None
            if not reply.ok:
                log.error("sync refused: %s %s", reply.code, reply.message)
                return
            placed = {t.number for t in reply.tickets}
            rejected = {r.number: r for r in reply.rejected}
            for ticket in batch:
                if ticket.number in rejected:
                    r = rejected[ticket.number]
                    log.error("offline ticket %s rejected: %s %s", ticket.number, r.code, r.message)
                    self.journal.set_state(ticket.day, ticket.number, "rejected", f"{r.code}: {r.message}")
                elif ticket.number in placed:
                    self.journal.set_state(ticket.day, ticket.number, "synced")
            if batch:
                log.info("synced %d offline tickets (%d rejected)", len(placed), len(rejected))
        return on_reply

    def _sync_gave_up(self) -> None:
        self.sync_inflight = None
