"""The counter's keys and lamps on GPIO (gpiozero, pin factory passed in), and key debouncing.

gpiozero's callbacks run in its own threads; they only stamp the time and enqueue a
:class:`KeyEdge`. The owner thread decides with :class:`~hardware.debounce.Debouncer` whether an
edge is a press.
gpiozero's ``bounce_time`` is not used: MockFactory ignores it, and one rule for real and mock
pins keeps the tests honest.
"""
from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from typing import Any

from gpiozero import LED, Button
from gpiozero.pins import Factory

from hallq.runtime.config import CounterKeys

from .view import LAMPS, LampView

log = logging.getLogger(__name__)

CLERK_KEYS = ("next", "recall", "finish", "no_show", "suspend", "transfer")
RATE_KEYS = ("rate_1", "rate_2", "rate_3")


@dataclass(frozen=True)
class KeyEdge:
    """A key went down (from GPIO), stamped in the callback thread."""
    key: str
    at: float
    service: str | None = None     # for transfer target keys: the service they stand for


def key_pins(keys: CounterKeys) -> dict[str, tuple[int, str | None]]:
    """Key name -> (BCM pin, service for transfer targets). Refuses a pin used twice."""
    pins: dict[str, tuple[int, str | None]] = {name: (getattr(keys, name), None) for name in CLERK_KEYS + RATE_KEYS}
    for service, pin in keys.transfer_to.items():
        pins[f"to:{service}"] = (pin, service)
    if keys.call is not None:
        pins["call"] = (keys.call, None)
    for digit, pin in enumerate(keys.digits):
        pins[f"digit_{digit}"] = (pin, None)
    return pins


def lamp_pins(keys: CounterKeys) -> dict[str, int]:
    return {lamp: getattr(keys, f"lamp_{lamp}") for lamp in LAMPS}


def duplicate_pins(keys: CounterKeys) -> list[int]:
    used = [pin for pin, _ in key_pins(keys).values()] + list(lamp_pins(keys).values())
    return sorted({pin for pin in used if used.count(pin) > 1})


class KeyPad:
    """The clerk's keys, the rating pad, transfer target keys and the four lamps."""

    def __init__(self, keys: CounterKeys, factory: Factory | None, inbox: queue.Queue[Any]) -> None:
        self.inbox = inbox
        self.buttons: dict[str, Button] = {}
        self.lamps: dict[str, LED] = {}
        self._shown: LampView | None = None
        pull_up = not keys.active_high
        for name, (pin, service) in key_pins(keys).items():
            button = Button(pin, pull_up=pull_up, pin_factory=factory)
            button.when_pressed = self._callback(name, service)
            self.buttons[name] = button
        for lamp, pin in lamp_pins(keys).items():
            self.lamps[lamp] = LED(pin, pin_factory=factory)

    def _callback(self, name: str, service: str | None) -> Any:
        key = "transfer_to" if service is not None else name

        def pressed() -> None:
            self.inbox.put(KeyEdge(key, time.monotonic(), service))
        return pressed

    def show(self, view: LampView) -> None:
        """Light exactly one lamp (blinking for feedback); unchanged views touch nothing."""
        if view == self._shown:
            return
        self._shown = view
        for name, led in self.lamps.items():
            try:
                if name != view.lit:
                    led.off()
                elif view.blink:
                    led.blink(on_time=0.2, off_time=0.2)
                else:
                    led.on()
            except Exception as err:  # a GPIO error is logged, never fatal
                log.error("lamp %s: %s", name, err)

    def lit(self) -> list[str]:
        return [name for name, led in self.lamps.items() if led.is_lit]

    def close(self) -> None:
        for device in list(self.buttons.values()) + list(self.lamps.values()):
            try:
                device.close()
            except Exception:
                pass
