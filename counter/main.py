"""``hallq counter``: the counter's bootstrap (its pins and sign chosen once, in hardware/) and its
``main``; what a counter does is :mod:`hallq.counter.app`."""
from __future__ import annotations

import argparse
import logging

from gpiozero.pins import Factory

from hallq.device.shell import run_device
from hallq.hardware.pins import make_pin_factory
from hallq.runtime.clock import sim_clock_or_real
from hallq.runtime.config import Config, CounterConfig

from .app import STUB_SIGN_URL, CounterRole, check_counter_config

log = logging.getLogger("hallq.counter.app")


def build(config: Config, counter: CounterConfig, args: argparse.Namespace) -> CounterRole:
    """The counter's bootstrap: its hardware chosen once, here (stub: MockFactory and loop://)."""
    check_counter_config(config, counter)
    sign_url = STUB_SIGN_URL if args.stub and "://" not in counter.sign.port else None
    try:
        factory: Factory | None = make_pin_factory(args.stub)
    except Exception as err:  # no GPIO here: run on (sign, MQTT) and say so on status
        log.error("no GPIO pin factory: %s", err)
        factory = None
    log.info("counter %s (%s); sign %s on %s", counter.id, counter.name, counter.sign.protocol,
             sign_url or counter.sign.port)
    return CounterRole(config, counter, factory, sign_url=sign_url, clock=sim_clock_or_real(log))


def main(args: argparse.Namespace) -> int:
    return run_device(args, "counter", build)
