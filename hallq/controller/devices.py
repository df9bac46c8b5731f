"""What devices tell the controller without asking: presence and status. A mixin of
:class:`hallq.controller.service.Controller`, kept apart so each file reads on its own."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hallq import contract as wire
from hallq.core import commands as c
from hallq.core import events as e
from hallq.errors import RequestError

if TYPE_CHECKING:
    from .outbox import Outbox

log = logging.getLogger("hallq.controller")

STATUS_EVERY_S = 2.0         # a device's status is recorded at most this often (the newest kept)
MAX_STATUS_BYTES = 4096


class DeviceReports:
    """Needs the controller's config, status_at, status_held, _undoable() and _apply()."""
    config: Any
    status_at: dict[str, float]
    status_held: dict[str, bytes]
    _undoable: Callable[[Outbox], AbstractContextManager[None]]
    _apply: Callable[[c.Command, datetime, Outbox], list[e.Event]]

    def _on_presence(self, device: str, payload: bytes, now: datetime, out: Outbox) -> None:
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
        with self._undoable(out):
            self._apply(c.DevicePresence(by=device, device=device, online=presence.online, boot=presence.boot), now, out)

    def _on_status(self, device: str, payload: bytes, now: datetime, out: Outbox) -> None:
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
        with self._undoable(out):
            self._apply(c.DeviceStatus(by=device, device=device, status=flat), now, out)
