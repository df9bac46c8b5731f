"""``hallq kiosk``: the kiosk's bootstrap (its printer and pin factory chosen once, in hardware/)
and its ``main``; what a kiosk does is :mod:`kiosk.app`."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from hallq.contract.tokens import new_token, ticket_url
from hallq.device.shell import run_device
from hallq.errors import ConfigError
from hallq.printer.layout import qr_module_dots
from hallq.runtime.clock import sim_clock_or_real
from hallq.runtime.config import Config, KioskConfig

from .app import KioskRole

log = logging.getLogger("hallq.kiosk.app")


def default_data_dir(config: Config, kiosk_id: str) -> str:
    return str(Path("hallq-data") / config.hall.id / f"kiosk.{kiosk_id}")


def check_qr_fits(config: Config, kiosk_cfg: KioskConfig) -> None:
    """The phone page's address must fit this kiosk's paper as a QR code with its quiet zone: refused
    at start, naming the key, rather than a ticket that cannot be printed."""
    if config.web is None or not config.web.public_url:
        return
    sample = ticket_url(config.web.public_url, new_token())
    try:
        qr_module_dots(sample, kiosk_cfg.printer.width_mm)
    except ValueError as err:
        raise ConfigError(config.path or "<config>", "web.public_url",
                          f"a shorter address: {err} (kiosk {kiosk_cfg.id})") from None


def build(config: Config, kiosk_cfg: KioskConfig, args: argparse.Namespace) -> KioskRole:
    """The kiosk's bootstrap: its printer and pin factory chosen once, in hardware/."""
    from hallq.hardware.pins import make_pin_factory
    from hallq.hardware.printers import make_printer
    data_dir = args.data = args.data or default_data_dir(config, args.id)
    os.makedirs(data_dir, exist_ok=True)
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", os.path.join(data_dir, "escpos-cache"))
    printer_out = getattr(args, "printer_out", None)
    if printer_out and not args.stub:
        log.warning("--printer-out is for --stub kiosks; ignored")
        printer_out = None
    check_qr_fits(config, kiosk_cfg)
    printer = make_printer(kiosk_cfg.printer, args.stub, printer_out, config.path,
                           f"kiosk[{config.kiosk.index(kiosk_cfg)}].printer")
    log.info("kiosk %s: %s printer, %s", kiosk_cfg.id, printer.description, "stub GPIO" if args.stub else "GPIO")
    try:
        factory = make_pin_factory(args.stub)
    except Exception as err:  # no GPIO library (not a Pi): run on (printer, MQTT) and say so on status
        log.error("no GPIO pin factory: %s: buttons and lamps are off", err)
        factory = None
    return KioskRole(config, args.id, printer, factory, data_dir, clock=sim_clock_or_real(log))


def main(args: argparse.Namespace) -> int:
    return run_device(args, "kiosk", build)
