"""What one batch of the controller's work publishes, once the batch is durable on disk: the
replies to the requests it answered, the events it recorded, and whether the hall's state changed
(the retained state and the device documents are then published again)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outbox:
    replies: list[tuple[str, bytes]] = field(default_factory=list)
    events: list[bytes] = field(default_factory=list)
    state_changed: bool = False
