"""Printers the kiosk prints on: python-escpos transports plus our status query, and a stub.

Both kinds offer the same small interface (:class:`TicketPrinter`): ``status()`` says whether a
ticket can be printed now, ``print_job()`` sends the bytes or raises
:class:`~hallq.errors.DeviceFault`. Which one a kiosk gets is decided in one place,
:mod:`hardware.printers`.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from hallq.errors import DeviceFault

from .layout import Layout
from .status import CONDITIONS, PRINTABLE, ByteLink, Condition, SerialLink, SocketLink, UsbLink, query_status

log = logging.getLogger(__name__)


def escpos_printers() -> Any:
    """Import ``escpos.printer`` with its capabilities cache in a fixed folder.

    Without ESCPOS_CAPABILITIES_PICKLE_DIR every import leaves a new temporary folder behind.
    """
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" not in os.environ:
        folder = os.path.join(tempfile.gettempdir(), "hallq-escpos")
        os.makedirs(folder, exist_ok=True)
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = folder
    else:
        os.makedirs(os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"], exist_ok=True)
    import escpos.printer
    return escpos.printer


class TicketPrinter(Protocol):
    description: str

    def status(self) -> Condition: ...

    def print_job(self, job: bytes, label: str, layout: Layout | None = None) -> None:
        """Send one ticket or slip; raise DeviceFault if it did not go out."""
        ...

    def close(self) -> None: ...


class EscposPrinter:
    """A real printer behind a python-escpos transport (USB, serial, network, file)."""

    def __init__(self, device: Any, link_of: Callable[[Any], ByteLink | None],
                 status_timeout_s: float, description: str) -> None:
        self.device = device                  # an escpos.escpos.Escpos, not yet opened
        self.link_of = link_of                # the two-way channel for DLE EOT, None if none
        self.status_timeout_s = status_timeout_s
        self.description = description

    def _reset(self) -> None:
        try:
            self.device.close()
        except Exception:  # a dead port may fail to close; it is dropped either way
            pass
        self.device._device = False           # python-escpos reopens on next use

    def status(self) -> Condition:
        try:
            handle = self.device.device       # opens the transport on first use
            if handle is None:
                self._reset()
                return "offline"
            link = self.link_of(self.device)
            if link is None:
                return "ok"
            condition = query_status(link, self.status_timeout_s)
        except Exception as err:  # DeviceNotFoundError, SerialException, OSError, USBError
            log.info("printer %s: %s", self.description, err)
            self._reset()
            return "offline"
        if condition == "offline":
            self._reset()                     # a printer that comes back is found again
        return condition

    def print_job(self, job: bytes, label: str, layout: Layout | None = None) -> None:
        try:
            handle = self.device.device
            if handle is None:
                raise OSError("printer not found")
            self.device._raw(job)
            flush = getattr(handle, "flush", None)
            if callable(flush):
                flush()
        except Exception as err:
            self._reset()
            raise DeviceFault("printer", "offline", f"{self.description}: {err}") from err

    def close(self) -> None:
        self._reset()


def _serial_class() -> type:
    printers = escpos_printers()
    import serial

    class UrlSerial(printers.Serial):  # type: ignore[misc, name-defined]
        """python-escpos Serial that also opens pyserial URLs (``loop://``, ``rfc2217://``)."""

        def open(self, raise_not_found: bool = True) -> None:
            try:
                self.device = serial.serial_for_url(
                    self.devfile, baudrate=self.baudrate, bytesize=self.bytesize, parity=self.parity,
                    stopbits=self.stopbits, timeout=self.timeout, write_timeout=self.timeout,
                    xonxoff=self.xonxoff, rtscts=getattr(self, "hallq_rtscts", False))
            except (ValueError, serial.SerialException) as err:
                self.device = None
                if raise_not_found:
                    raise OSError(f"cannot open serial printer {self.devfile}: {err}") from err

        def close(self) -> None:
            try:
                super().close()
            except Exception:  # a port that vanished (USB adapter pulled) cannot flush
                self._device = False

    return UrlSerial


def serial_printer(port: str, baud: int, status_timeout_s: float, rtscts: bool = False,
                   write_timeout_s: float = 5.0) -> EscposPrinter:
    device = _serial_class()(devfile=port, baudrate=baud, timeout=write_timeout_s, dsrdtr=False)
    device.hallq_rtscts = rtscts
    return EscposPrinter(device, lambda d: SerialLink(d.device), status_timeout_s, f"serial {port}")


def network_printer(host: str, port: int, status_timeout_s: float, timeout_s: float = 3.0) -> EscposPrinter:
    device = escpos_printers().Network(host=host, port=port, timeout=timeout_s)
    return EscposPrinter(device, lambda d: SocketLink(d.device), status_timeout_s, f"network {host}:{port}")


def usb_printer(vendor: int, product: int, status_timeout_s: float) -> EscposPrinter:
    device = escpos_printers().Usb(idVendor=vendor, idProduct=product, timeout=2000)
    return EscposPrinter(device, lambda d: UsbLink(d.device, d.out_ep, d.in_ep), status_timeout_s,
                         f"usb {vendor:04x}:{product:04x}")


def _file_class() -> type:
    printers = escpos_printers()

    class ExistingFile(printers.File):  # type: ignore[misc, name-defined]
        """python-escpos File that opens the device only if it is there: its own ``open(path, "wb")``
        made a regular file where an unplugged printer's /dev/usb/lp0 had been, and every ticket
        after that went into it while the printer showed "ok"."""

        def open(self, raise_not_found: bool = True) -> None:
            if self._device:
                self.close()
            try:
                self.device = os.fdopen(os.open(self.devfile, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY), "wb")
            except OSError as err:
                self.device = None
                if raise_not_found:
                    raise OSError(f"cannot open printer device {self.devfile}: {err.strerror}") from err

    return ExistingFile


def file_printer(path: str, status_timeout_s: float) -> EscposPrinter:
    """A character device such as /dev/usb/lp0: write-only, so no DLE EOT; a printer that is
    unplugged (the device file gone or not writable) shows offline, and its device file is never
    created by us."""
    device = _file_class()(devfile=path)

    def link_of(d: Any) -> None:
        if not os.access(path, os.W_OK):
            raise OSError(f"{path} is not writable")
        return None

    return EscposPrinter(device, link_of, status_timeout_s, f"file {path}")


class StubPrinter:
    """python-escpos's Dummy with a condition set from outside (``R/sim``, tests).

    With ``out_dir`` every job is also written as ``<label>.bin`` (the ESC/POS bytes) and
    ``<label>.png`` (the picture of the same layout).
    """

    description = "stub (escpos Dummy)"

    def __init__(self, out_dir: str | None = None, keep: int = 100) -> None:
        self.dummy = escpos_printers().Dummy()
        self.condition: Condition = "ok"
        self.fail_next: Condition | None = None   # the next print fails and leaves this condition
        self.out_dir = out_dir
        self.jobs: deque[tuple[str, bytes]] = deque(maxlen=keep)
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)

    def set_condition(self, condition: str) -> None:
        if condition not in CONDITIONS:
            raise ValueError(f"printer condition must be one of {', '.join(CONDITIONS)}, not {condition!r}")
        self.condition = condition  # type: ignore[assignment]

    def status(self) -> Condition:
        return self.condition

    def print_job(self, job: bytes, label: str, layout: Layout | None = None) -> None:
        if self.fail_next is not None:
            self.condition, self.fail_next = self.fail_next, None
            raise DeviceFault("printer", self.condition, "stub: failed while printing")
        if self.condition not in PRINTABLE:
            raise DeviceFault("printer", self.condition, "stub")
        self.dummy.clear()
        self.dummy._raw(job)
        data = self.dummy.output
        if self.out_dir:
            self._write(label, data, layout)
        self.jobs.append((label, data))

    def _write(self, label: str, data: bytes, layout: Layout | None) -> None:
        base = os.path.join(self.out_dir or ".", label)
        if layout is not None:
            from .png_render import render_png
            render_png(layout, base + ".png")
        tmp = base + ".bin.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, base + ".bin")      # the .bin appears last: a watcher sees both files

    def close(self) -> None:
        pass
