"""Every MQTT topic hallq speaks, in one place (contract.md, "MQTT").

Root ``R = hallq/v1/<hall id>``. Nothing else in the code base writes a topic string.
"""
from __future__ import annotations

from dataclasses import dataclass

VERSION = "v1"
DEVICE_KINDS = ("kiosk", "counter", "display", "admin")
CONTROLLER_ID = "controller"
# the controller's second connection: counters', screens' and operators' messages, so that they never
# wait in the broker or the socket behind a flooding kiosk's (docs/controller.md)
CONTROLLER_LANE_ID = "controller.lane"


@dataclass(frozen=True)
class Topics:
    hall_id: str

    @property
    def root(self) -> str:
        return f"hallq/{VERSION}/{self.hall_id}"

    # controller-written
    @property
    def state(self) -> str:
        return f"{self.root}/state"

    @property
    def event(self) -> str:
        return f"{self.root}/event"

    @property
    def controller_presence(self) -> str:
        return self.presence(CONTROLLER_ID)

    # per device
    def presence(self, device_id: str) -> str:
        return f"{self.root}/presence/{device_id}"

    def request(self, device_id: str) -> str:
        return f"{self.root}/dev/{device_id}/req"

    def reply(self, device_id: str) -> str:
        return f"{self.root}/dev/{device_id}/res"

    def status(self, device_id: str) -> str:
        return f"{self.root}/dev/{device_id}/status"

    def sim(self, device_id: str) -> str:
        return f"{self.root}/sim/{device_id}"

    # subscription filters used by the controller
    @property
    def all_requests(self) -> str:
        return f"{self.root}/dev/+/req"

    @property
    def all_presence(self) -> str:
        return f"{self.root}/presence/+"

    @property
    def all_status(self) -> str:
        return f"{self.root}/dev/+/status"

    @property
    def everything(self) -> str:
        return f"{self.root}/#"

    def parse(self, topic: str) -> tuple[str, str | None]:
        """Split a topic under the root into (what, device id).

        ``what`` is one of state, event, presence, req, res, status, sim, or "" for a topic
        that is not ours. The device id is None where the topic has none.
        """
        prefix = self.root + "/"
        if not topic.startswith(prefix):
            return "", None
        parts = topic[len(prefix):].split("/")
        if parts == ["state"] or parts == ["event"]:
            return parts[0], None
        if len(parts) == 2 and parts[0] in ("presence", "sim"):
            return parts[0], parts[1]
        if len(parts) == 3 and parts[0] == "dev" and parts[2] in ("req", "res", "status"):
            return parts[2], parts[1]
        return "", None


def device_kind(device_id: str) -> str:
    """``kiosk.k1`` -> ``kiosk``; an id without a known kind gives ""."""
    kind, dot, rest = device_id.partition(".")
    return kind if dot and rest and kind in DEVICE_KINDS else ""
