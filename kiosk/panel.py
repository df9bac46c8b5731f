"""The kiosk's buttons and lamps on GPIO (gpiozero; the pin factory is passed in).

gpiozero's callbacks only stamp the time and enqueue a :class:`ButtonPressed`; the owner thread
judges it (hardware/debounce.py). Lamps show the modes the kiosk model decides.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from hallq.errors import ConfigError
from hallq.runtime.config import KioskConfig

log = logging.getLogger(__name__)

# default BCM pins when [kiosk.buttons] names none (documented in docs/kiosk.md)
DEFAULT_BUTTON_PINS = [5, 6, 13, 19, 26, 20, 21]
DEFAULT_LAMP_PINS = [17, 27, 22, 23, 24, 25, 18]
DEFAULT_PRIORITY_PIN = 12
DEFAULT_PRIORITY_LAMP_PIN = 16
PRIORITY = "priority"


@dataclass(frozen=True)
class ButtonPressed:
    button: str
    at: float


def resolve_pins(kiosk: KioskConfig, path: str, index: int) -> tuple[dict[str, int], dict[str, int], int, int | None]:
    """Button and lamp pins per service, the priority button and lamp; ConfigError if wrong."""
    b = kiosk.buttons
    key = f"kiosk[{index}].buttons"
    for table, pins in (("service_pins", b.service_pins), ("lamp_pins", b.lamp_pins)):
        for service in pins:
            if service not in kiosk.services:
                raise ConfigError(path, f"{key}.{table}.{service}", f"a service of this kiosk ({', '.join(kiosk.services)})")
    buttons, lamps = {}, {}
    free_buttons = [p for p in DEFAULT_BUTTON_PINS if p not in b.service_pins.values()]
    free_lamps = [p for p in DEFAULT_LAMP_PINS if p not in b.lamp_pins.values()]
    for service in kiosk.services:
        if service in b.service_pins:
            buttons[service] = b.service_pins[service]
        elif free_buttons:
            buttons[service] = free_buttons.pop(0)
        else:
            raise ConfigError(path, f"{key}.service_pins.{service}", "a BCM pin for this service's button")
        if service in b.lamp_pins:
            lamps[service] = b.lamp_pins[service]
        elif free_lamps:
            lamps[service] = free_lamps.pop(0)
    priority_pin = b.priority_pin if b.priority_pin is not None else DEFAULT_PRIORITY_PIN
    priority_lamp = b.priority_lamp_pin if b.priority_lamp_pin is not None else DEFAULT_PRIORITY_LAMP_PIN
    used: dict[int, str] = {}
    for name, pin in [*((f"service_pins.{s}", p) for s, p in buttons.items()),
                      *((f"lamp_pins.{s}", p) for s, p in lamps.items()),
                      ("priority_pin", priority_pin), ("priority_lamp_pin", priority_lamp)]:
        if pin is None:
            continue
        if not 0 <= pin <= 27:
            raise ConfigError(path, f"{key}.{name}", "a BCM GPIO number from 0 to 27")
        if pin in used:
            raise ConfigError(path, f"{key}.{name}", f"a pin of its own; BCM {pin} is also {used[pin]}")
        used[pin] = name
    return buttons, lamps, priority_pin, priority_lamp


class KioskPanel:
    """Service buttons, the priority button and their lamps."""

    def __init__(self, kiosk: KioskConfig, path: str, index: int, pin_factory: Any, inbox: Any) -> None:
        button_pins, lamp_pins, priority_pin, priority_lamp_pin = resolve_pins(kiosk, path, index)
        self.inbox = inbox
        self.active_high = kiosk.buttons.active_high
        self.buttons: dict[str, Any] = {}
        self.lamps: dict[str, Any] = {}
        self.modes: dict[str, str] = {}
        self.fault: str | None = None       # no GPIO (not a Pi, pin busy): a status, never a crash
        if pin_factory is None:
            self.fault = "no GPIO pin factory (gpiozero found no pin library)"
            return
        try:
            self._make(pin_factory, button_pins, lamp_pins, priority_pin, priority_lamp_pin)
        except Exception as err:
            self.close()
            self.buttons, self.lamps, self.fault = {}, {}, f"GPIO: {err}"

    def _make(self, pin_factory: Any, button_pins: dict[str, int], lamp_pins: dict[str, int], priority_pin: int,
              priority_lamp_pin: int | None) -> None:
        from gpiozero import LED, Button
        for name, pin in [*button_pins.items(), (PRIORITY, priority_pin)]:
            button = Button(pin, pull_up=not self.active_high, bounce_time=None, pin_factory=pin_factory)
            button.when_pressed = self._pressed_callback(name)
            self.buttons[name] = button
        self.lamps = {name: LED(pin, pin_factory=pin_factory) for name, pin in lamp_pins.items()}
        if priority_lamp_pin is not None:
            self.lamps[PRIORITY] = LED(priority_lamp_pin, pin_factory=pin_factory)

    def _pressed_callback(self, name: str):
        def pressed() -> None:         # gpiozero's thread: enqueue only
            self.inbox.put(ButtonPressed(name, time.monotonic()))
        return pressed

    def show(self, modes: dict[str, str]) -> None:
        """``on``, ``off``, ``slow`` (1 s blink) or ``fast`` (0.2 s blink) per lamp; unchanged ones are left."""
        for name, mode in modes.items():
            if name not in self.lamps or self.modes.get(name) == mode:
                continue
            self.modes[name] = mode
            lamp = self.lamps[name]
            try:
                if mode == "on":
                    lamp.on()
                elif mode == "off":
                    lamp.off()
                elif mode == "slow":
                    lamp.blink(on_time=1.0, off_time=1.0)
                else:
                    lamp.blink(on_time=0.2, off_time=0.2)
            except Exception as err:  # a GPIO error is logged, never fatal
                log.error("lamp %s: %s", name, err)

    def drive(self, name: str) -> None:
        """Press and release the mock pin: the same path as a person's finger."""
        pin = self.buttons[name].pin
        if self.active_high:
            pin.drive_high()
            pin.drive_low()
        else:
            pin.drive_low()
            pin.drive_high()

    def close(self) -> None:
        for device in [*self.lamps.values(), *self.buttons.values()]:
            try:
                if device in self.lamps.values():
                    device.off()
                device.close()
            except Exception:
                pass
