"""The one place that decides real or stub GPIO (gpiozero pin factories).

Devices never pick a factory themselves: they receive one. ``--stub`` (and every test) gets
gpiozero's own :class:`~gpiozero.pins.mock.MockFactory`; a Raspberry Pi gets gpiozero's default
(lgpio / RPi.GPIO / native, whichever is installed).
"""
from __future__ import annotations

from gpiozero import Device
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPWMPin


def make_pin_factory(stub: bool) -> Factory:
    if stub:
        # PWM pins so that blinking/pulsing lamps work on the mock too
        return MockFactory(pin_class=MockPWMPin)
    factory = Device._default_pin_factory()
    return factory
