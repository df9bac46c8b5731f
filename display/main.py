"""``hallq display``: the screen's bootstrap (pygame's driver, the audio player) and its ``main``;
what a screen does is :mod:`hallq.display.app`."""
from __future__ import annotations

import argparse
import logging

from hallq.device.shell import run_device
from hallq.runtime.clock import sim_clock_or_real
from hallq.runtime.config import Config, DisplayConfig

from .app import DisplayRole

log = logging.getLogger("hallq.display.app")


def build(config: Config, display: DisplayConfig, args: argparse.Namespace) -> DisplayRole:
    """The screen's bootstrap: pygame's driver (dummy when headless) and the audio player."""
    if args.snapshot and not args.headless:
        log.info("--snapshot given: frames are also written to %s", args.snapshot)
    clock = sim_clock_or_real(log)
    return DisplayRole(config, display, headless=args.headless, snapshot=args.snapshot, sound=not args.no_sound,
                       clock=clock)


def main(args: argparse.Namespace) -> int:
    return run_device(args, "display", build)
