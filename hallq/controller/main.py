"""``hallq controller``'s bootstrap: its folder locked and checked against what the hall
remembers (hallq/controller/continuity.py), the store, the link and the clock passed in, then the owner loop of
:class:`hallq.controller.service.Controller`."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hallq.contract.topics import CONTROLLER_ID
from hallq.core import commands as c
from hallq.errors import ConfigError
from hallq.runtime.clock import sim_clock_or_real
from hallq.runtime.config import Config, load_config
from hallq.runtime.loop import StopFlag, install_signal_handlers, setup_logging
from hallq.runtime.storage import storage_fault

from .continuity import Seen, check, lock_data_dir, open_store, read_marker, retained_state
from .service import Controller

log = logging.getLogger("hallq.controller")

GIL_SWITCH_S = 0.001         # see main()


def default_data_dir(config: Config) -> Path:
    return Path("hallq-data") / config.hall.id


def open_controller(config: Config, data_dir: str | Path, *, fresh_start: bool = False,
                    retained: Callable[[Config], Seen | None] | None = None, **parts: Any) -> Controller:
    """The controller's bootstrap: its store in ``data_dir`` (which it locks first: one controller per
    folder), checked against what the hall remembers (hallq/controller/continuity.py: the marker beside it and,
    with ``retained``, the broker's retained state) unless ``fresh_start``; the link and clock
    (``parts``) default to the real ones."""
    folder = Path(data_dir)
    lock = lock_data_dir(folder)
    witnesses = [retained(config)] if retained is not None else []
    store = open_store(folder / "controller.db")
    if fresh_start:
        log.warning("fresh start on purpose: the database ends at seq %d; numbering goes on above what the "
                    "hall's state shows", store.last_seq())
    else:
        try:
            check(store, folder, [read_marker(folder), *witnesses])
        except ConfigError:
            store.close()
            raise
    numbers = next((w.numbers for w in witnesses if w is not None and w.numbers), None)
    startup = [c.ContinueNumbering(by=CONTROLLER_ID, numbers=numbers)] if fresh_start and numbers else []
    return Controller(config, store, data_lock=lock, marker_dir=folder, startup=startup, **parts)


def main(args: argparse.Namespace, **parts: Any) -> int:
    """``parts``: what the command composes in from higher layers (the SMS modem's worker)."""
    return _main(args, parts)


def _main(args: argparse.Namespace, composed: dict[str, Any]) -> int:
    # three threads share the GIL (two paho links, the owner): with Python's 5 ms default a counter's
    # request waited ~300 ms behind a kiosk flood being read; 1 ms: ~100 ms (docs/controller.md)
    sys.setswitchinterval(GIL_SWITCH_S)
    setup_logging(args.verbose)
    config = load_config(args.config, args.broker)
    clock = sim_clock_or_real(log)
    parts: dict[str, Any] = {"clock": lambda: clock.wall().astimezone(config.zone)} if clock.simulated else {}
    parts.update(composed)
    try:
        controller = open_controller(config, args.data or default_data_dir(config),
                                     fresh_start=getattr(args, "fresh_start", False), retained=retained_state, **parts)
    except Exception as err:
        if storage_fault(err) is None:
            raise
        # not a traceback: one line, and exit 1 so that systemd tries again (RestartSec) until it can
        log.error("cannot start: %s writing %s/controller.db (%s)", storage_fault(err),
                  args.data or default_data_dir(config), err)
        return 1
    stop = StopFlag()
    install_signal_handlers(stop)
    controller.run(stop)
    return 0
