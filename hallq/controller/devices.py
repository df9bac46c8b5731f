"""What devices tell the controller without asking: presence and status, recorded as the hall's
events through the ledger. A device flapping its status cannot fill the disk: at most one status
per device every STATUS_EVERY_S is recorded, the newest one meanwhile held for its turn."""
from __future__ import annotations

import logging
import time
from datetime import datetime

from hallq import contract as wire
from hallq.core import commands as c
from hallq.errors import RequestError
from hallq.runtime.config import Config

from .ledger import Ledger
from .outbox import Outbox

log = logging.getLogger("hallq.controller")

STATUS_EVERY_S = 2.0         # a device's status is recorded at most this often (the newest kept)
MAX_STATUS_BYTES = 4096


class DeviceReports:
    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger
        self.status_at: dict[str, float] = {}        # when each device's status was last recorded
        self.status_held: dict[str, bytes] = {}      # its newest status, waiting for its turn

    def presence(self, device: str, payload: bytes, now: datetime, out: Outbox) -> None:
        if not self.config.knows_device(device):
            log.info("presence of unknown device %s ignored", device)
            return
        if not payload:          # retained presence cleared
            return
        try:
            presence = wire.read(payload, wire.PresenceDoc)
        except wire.BadDocument as err:
            log.warning("bad presence from %s ignored: %s", device, err)
            return
        with self.ledger.undoable(out):
            self.ledger.apply(c.DevicePresence(by=device, device=device, online=presence.online, boot=presence.boot), now, out)

    def status(self, device: str, payload: bytes, now: datetime, out: Outbox) -> None:
        if not self.config.knows_device(device) or not payload:
            return
        # at most one status of a device recorded every STATUS_EVERY_S; a newer one meanwhile waits
        # and replaces the one waiting (a device flapping its status cannot fill the disk)
        at = time.monotonic()
        if at - self.status_at.get(device, -1e9) < STATUS_EVERY_S:
            self.status_held[device] = payload
            return
        self.status_at[device] = at
        try:
            if len(payload) > MAX_STATUS_BYTES:
                raise RequestError("bad_request", f"status of {len(payload)} bytes is too large")
            status = wire.loads_object(payload)
        except RequestError as err:
            log.warning("bad status from %s ignored: %s", device, err.message)
            return
        # only flat values: the state document shows them as they are
        flat = {k: v for k, v in status.items() if isinstance(v, (str, int, float, bool)) or v is None}
        flat.pop("online", None)
        with self.ledger.undoable(out):
            self.ledger.apply(c.DeviceStatus(by=device, device=device, status=flat), now, out)

    def release_held(self, now: datetime, out: Outbox) -> None:
        """The statuses held back whose turn has come, recorded (at the once-a-second tick)."""
        for device in [d for d in self.status_held if time.monotonic() - self.status_at.get(d, -1e9) >= STATUS_EVERY_S]:
            self.status(device, self.status_held.pop(device), now, out)
