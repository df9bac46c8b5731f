"""Our own debounce: gpiozero's MockFactory ignores ``bounce_time``, and a real contact chatters.

A press counts only after the button has been quiet (no edge at all) for ``bounce_s``: contact
chatter and an impatient double press both give one press. Pure: times come in, no clock here.
"""
from __future__ import annotations


class Debouncer:
    def __init__(self, bounce_s: float) -> None:
        self.bounce_s = bounce_s
        self._last_edge: dict[str, float] = {}

    def accept(self, button: str, at: float, quiet_s: float | None = None) -> bool:
        """Record an edge of ``button`` at time ``at``; True if it is a new press.

        ``quiet_s`` overrides ``bounce_s`` for this edge (the kiosk shortens it to the contact
        chatter time once the previous ticket is out: pressing again then means another ticket).
        """
        last = self._last_edge.get(button)
        if last is not None and at < last:
            return False            # out of order (queued late): never a new press
        self._last_edge[button] = at
        window = self.bounce_s if quiet_s is None else min(quiet_s, self.bounce_s)
        return last is None or at - last >= window
