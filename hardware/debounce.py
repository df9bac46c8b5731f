"""One debounce rule for every button and key (kiosk buttons, counter keys, the rating pad).

gpiozero's MockFactory ignores ``bounce_time``, and a real contact chatters, so edges are judged
here, by the owner thread, with times passed in (pure: no clock here):

- an edge within ``bounce_s`` of the previous edge of that key is contact bounce, and extends the
  lock-out (a press counts only once the contact has been quiet that long);
- a press within ``repeat_s`` of the last accepted press of that key is an impatient double press;
- an edge older than the last one seen (queued late) is never a new press.
The first edge is taken at once: no added delay.
"""
from __future__ import annotations


class Debouncer:
    def __init__(self, bounce_s: float, repeat_s: float = 0.0) -> None:
        self.bounce_s = bounce_s
        self.repeat_s = repeat_s
        self._last_edge: dict[str, float] = {}
        self._last_accepted: dict[str, float] = {}

    def accept(self, key: str, at: float, quiet_s: float | None = None, repeats: bool = False) -> bool:
        """Record an edge of ``key`` at time ``at``; True if it is a new press.

        ``quiet_s`` shortens ``bounce_s`` for this edge (the kiosk shortens it to the contact
        chatter time once the previous ticket is out: pressing again then means another ticket).
        ``repeats``: the key may be pressed again at once (a keypad's digits: "003").
        """
        last_edge = self._last_edge.get(key)
        if last_edge is not None and at < last_edge:
            return False
        self._last_edge[key] = at
        window = self.bounce_s if quiet_s is None else min(quiet_s, self.bounce_s)
        if last_edge is not None and at - last_edge < window:
            return False
        last_accepted = self._last_accepted.get(key)
        if not repeats and last_accepted is not None and at - last_accepted < self.repeat_s:
            return False
        self._last_accepted[key] = at
        return True
