"""The owner loop every hallq process runs: one thread applies everything in order.

Callbacks of paho and gpiozero put items on ``inbox``; :func:`run_owner_loop` takes them one by
one, calls ``handle`` for each, and calls ``tick`` at least every ``tick_s`` seconds for timers
(retries, animations, hours). SIGINT and SIGTERM end the loop cleanly.
"""
from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self, *_: Any) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def install_signal_handlers(stop: StopFlag) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, stop.set)
        signal.signal(signal.SIGTERM, stop.set)


def run_owner_loop(
    inbox: queue.Queue[Any],
    handle: Callable[[Any], None],
    tick: Callable[[float], None],
    stop: StopFlag,
    tick_s: float = 0.1,
) -> None:
    next_tick = time.monotonic()
    while not stop.is_set():
        timeout = max(0.0, next_tick - time.monotonic())
        try:
            item = inbox.get(timeout=min(timeout, 0.5))
        except queue.Empty:
            item = None
        if item is not None:
            try:
                handle(item)
            except Exception:  # a fault becomes a log line, never a dead hall
                log.exception("failed to handle %r", item)
        now = time.monotonic()
        if now >= next_tick:
            try:
                tick(now)
            except Exception:
                log.exception("tick failed")
            next_tick = now + tick_s


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("transitions", "amqtt", "hbmqtt", "websockets", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
