"""``hallq broker``: an embedded MQTT broker (amqtt) for trials without Mosquitto.

Loopback only by default. amqtt speaks MQTT 3.1.1, which is all hallq needs; it is not the
production broker (no ACL from our files, no tuned persistence): use Mosquitto in a real hall.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from typing import Any

from hallq.runtime.config import load_config, parse_host_port
from hallq.runtime.loop import setup_logging

log = logging.getLogger("hallq.broker")


def broker_settings(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 500}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def serve(host: str, port: int, stop: asyncio.Event) -> None:
    from amqtt.broker import Broker

    broker = Broker(broker_settings(host, port))
    await broker.start()
    log.info("embedded broker listening on %s:%d (trials only; use Mosquitto in a hall)", host, port)
    await stop.wait()
    await broker.shutdown()


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    config = load_config(args.config, args.broker)
    host, port = parse_host_port(args.listen) if args.listen else ("127.0.0.1", config.broker.port)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(host, port, stop)

    # amqtt reports a taken port with a logged traceback of its own: say it in one line first
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        print(f"hallq broker: cannot listen on {host}:{port}: {err.strerror or err}", file=sys.stderr)
        return 1
    asyncio.run(run())
    return 0
