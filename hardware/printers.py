"""The one place that decides which printer a kiosk prints on (real transport or stub).

``--stub`` (and ``transport = "dummy"``) gives python-escpos's own Dummy, optionally writing each
ticket to ``--printer-out``; otherwise the transport named in ``[kiosk.printer]``.
"""
from __future__ import annotations

import logging

from hallq.errors import ConfigError
from hallq.printer.transport import (
    StubPrinter,
    TicketPrinter,
    file_printer,
    network_printer,
    serial_printer,
    usb_printer,
)
from hallq.runtime.config import PrinterConfig

log = logging.getLogger(__name__)


def make_printer(config: PrinterConfig, stub: bool, out_dir: str | None = None,
                 config_path: str = "<config>", key: str = "kiosk.printer") -> TicketPrinter:
    if stub:
        return StubPrinter(out_dir)
    if config.transport is None:
        raise ConfigError(config_path, f"{key}.transport",
                          "the kiosk's printer: usb, serial, network or file (this kiosk is not --stub; "
                          'transport = "dummy" prints nothing and must be asked for)')
    if config.transport == "dummy":
        log.warning("printer transport is dummy: tickets are printed nowhere (%s)", key)
        return StubPrinter(out_dir)
    timeout = config.status_timeout_s
    if config.transport == "serial":
        if not config.device:
            raise ConfigError(config_path, f"{key}.device", "a serial port such as /dev/ttyUSB0 (transport = serial)")
        return serial_printer(config.device, config.baud, timeout, rtscts=config.rtscts)
    if config.transport == "network":
        if not config.host:
            raise ConfigError(config_path, f"{key}.host", "the printer's address (transport = network)")
        return network_printer(config.host, config.tcp_port, timeout)
    if config.transport == "usb":
        if config.usb_vendor is None or config.usb_product is None:
            raise ConfigError(config_path, f"{key}.usb_vendor", "usb_vendor and usb_product (transport = usb)")
        return usb_printer(config.usb_vendor, config.usb_product, timeout)
    if config.transport == "file":
        if not config.device:
            raise ConfigError(config_path, f"{key}.device", "a device file such as /dev/usb/lp0 (transport = file)")
        return file_printer(config.device, timeout)
    raise ConfigError(config_path, f"{key}.transport", "usb, serial, network, file or dummy")
