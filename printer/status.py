"""Our own real-time status query (``DLE EOT n``) with a short timeout.

python-escpos's ``paper_status()`` reports "paper OK" when the printer never answers and blocks
forever with ``timeout=None``; a kiosk must know, within half a second, whether a ticket can be
printed. The printer answers each ``DLE EOT n`` with one status byte whose bits 1 and 4 are set
and bits 0 and 7 clear; anything else on the line (echo, automatic status) is skipped.

Conditions, worst first: ``offline`` (no valid answer, or the printer says it is offline for no
reason we know), ``cover_open``, ``paper_out``, ``paper_low`` (still prints), ``ok``.
"""
from __future__ import annotations

import select
import socket
import time
from typing import Literal, Protocol

Condition = Literal["ok", "paper_low", "paper_out", "cover_open", "offline"]
CONDITIONS: tuple[str, ...] = ("ok", "paper_low", "paper_out", "cover_open", "offline")
PRINTABLE: frozenset[str] = frozenset({"ok", "paper_low"})

DLE_EOT = b"\x10\x04"


def is_status_byte(value: int) -> bool:
    return value & 0x93 == 0x12


def decode_status(printer: int | None, offline_cause: int | None, paper: int | None) -> Condition:
    """Map the answers to ``DLE EOT 1``, ``2`` and ``4`` (None: no answer) to a condition."""
    if printer is None:
        return "offline"
    if offline_cause is not None and offline_cause & 0x04:
        return "cover_open"
    paper_out = (paper is not None and paper & 0x60 == 0x60) or \
        (offline_cause is not None and offline_cause & 0x20)
    if paper_out:
        return "paper_out"
    if printer & 0x08:
        return "offline"          # offline for a reason the printer did not tell us (error, feed)
    if paper is not None and paper & 0x0C == 0x0C:
        return "paper_low"
    return "ok"


class ByteLink(Protocol):
    """A two-way byte channel to the printer."""

    def send(self, data: bytes) -> None: ...

    def receive(self, timeout_s: float) -> bytes:
        """Whatever arrives within ``timeout_s`` (b"" if nothing)."""
        ...

    def discard_input(self) -> None: ...


def query_status(link: ByteLink, timeout_s: float = 0.5) -> Condition:
    """Ask the printer; never blocks much longer than ``timeout_s`` per question (3 questions,
    but a printer that does not answer the first is offline at once)."""
    try:
        link.discard_input()
        first = _ask(link, 1, timeout_s)
        if first is None:
            return "offline"
        cause = _ask(link, 2, timeout_s)
        paper = _ask(link, 4, timeout_s)
    except OSError:
        return "offline"
    return decode_status(first, cause, paper)


def _ask(link: ByteLink, n: int, timeout_s: float) -> int | None:
    link.send(DLE_EOT + bytes([n]))
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        data = link.receive(left)
        for value in data:
            if is_status_byte(value):
                return value


# --- links over the transports python-escpos opens ------------------------------------------
class SerialLink:
    """Over a pyserial port (also a pty or ``loop://``)."""

    def __init__(self, port) -> None:  # port: serial.Serial
        self.port = port

    def send(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def receive(self, timeout_s: float) -> bytes:
        self.port.timeout = max(0.001, timeout_s)
        return self.port.read(1)

    def discard_input(self) -> None:
        self.port.reset_input_buffer()


class SocketLink:
    """Over the TCP socket of a network printer (port 9100)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout_s))
        if not ready:
            return b""
        data = self.sock.recv(16)
        if not data:
            raise OSError("printer closed the connection")
        return data

    def discard_input(self) -> None:
        while select.select([self.sock], [], [], 0)[0]:
            if not self.sock.recv(256):
                raise OSError("printer closed the connection")


class UsbLink:
    """Over the bulk endpoints python-escpos's Usb printer found."""

    def __init__(self, device, out_ep: int, in_ep: int) -> None:  # device: usb.core.Device
        self.device, self.out_ep, self.in_ep = device, out_ep, in_ep

    def send(self, data: bytes) -> None:
        self.device.write(self.out_ep, data, 1000)

    def receive(self, timeout_s: float) -> bytes:
        try:
            return bytes(self.device.read(self.in_ep, 16, max(1, int(timeout_s * 1000))))
        except Exception as err:  # usb.core.USBTimeoutError and friends; pyusb is optional
            if "timeout" in type(err).__name__.lower() or "timed out" in str(err).lower():
                return b""
            raise OSError(str(err)) from err

    def discard_input(self) -> None:
        for _ in range(4):
            if not self.receive(0.01):
                return
