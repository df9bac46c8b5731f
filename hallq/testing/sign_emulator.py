"""A sign on the far end of a real serial line (a pseudo-terminal), for tests and the bench.

The counter opens the pty's slave side by path exactly as it would open /dev/ttyUSB0; this
thread plays the sign on the master side: it records what arrives and answers as told
(``mode``): ``ok`` (echo for the line protocol, ACK frame for ledbox), ``garbage``, ``silent``,
``refuse`` (ledbox NAK), ``echo_ack`` (ledbox: RS-485 echo of the frame, then the ACK).
``unplug()`` closes the line and removes the symlink the counter was given; ``replug()`` makes a
new line behind the same symlink, as udev does for /dev/serial/by-id when a USB adapter returns.
"""
from __future__ import annotations

import os
import select
import threading
import tty
from pathlib import Path

from hallq.hardware.signs import ledbox_frame, ledbox_parse

GARBAGE = b"\x00\xff\x13garbage\xaa\x01\x55\r\n"


class SignEmulator:
    def __init__(self, link: Path, protocol: str = "line", address: int = 1, mode: str = "ok") -> None:
        self.link = link
        self.protocol = protocol
        self.address = address
        self.mode = mode
        self.received = bytearray()
        self.frames: list[bytes] = []      # complete frames/lines received, in order
        self._lock = threading.Condition()
        self._stop = False
        self._master: int | None = None
        self._thread: threading.Thread | None = None
        self.replug()

    # --- the line ---------------------------------------------------------------------------
    def replug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        slave_path = os.ttyname(slave)
        os.close(slave)      # the counter opens it by path; the master keeps the pty alive
        self._master = master
        self._stop = False
        if self.link.is_symlink() or self.link.exists():
            self.link.unlink()
        self.link.symlink_to(slave_path)
        self._thread = threading.Thread(target=self._run, args=(master,), daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(2)
        if self._master is not None:
            os.close(self._master)
            self._master = None
        if self.link.is_symlink():
            self.link.unlink()

    close = unplug

    # --- playing the sign -------------------------------------------------------------------
    def _run(self, master: int) -> None:
        pending = b""
        while not self._stop:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                data = b""
            if not data:
                continue      # nobody holds the slave open right now
            with self._lock:
                self.received += data
            pending += data
            pending = self._answer(master, pending)

    def _answer(self, master: int, pending: bytes) -> bytes:
        if self.protocol == "line":
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                line += b"\n"
                self._record(line)
                self._reply(master, {"ok": line, "garbage": GARBAGE}.get(self.mode, b""))
            return pending
        frames, junk = ledbox_parse(pending)
        if not frames:
            return pending[-2048:]
        for frame in frames:
            self._record(frame.raw)
            ack = ledbox_frame(self.address, frame.command | 0x80, b"\x00")
            answer = {
                "ok": ack,
                "echo_ack": frame.raw + ack,
                "refuse": ledbox_frame(self.address, frame.command | 0x80, b"\x05"),
                "garbage": GARBAGE,
            }.get(self.mode, b"")
            if frame.address == self.address:
                self._reply(master, answer)
        return b""

    def _record(self, frame: bytes) -> None:
        with self._lock:
            self.frames.append(frame)
            self._lock.notify_all()

    def _reply(self, master: int, data: bytes) -> None:
        if data:
            try:
                os.write(master, data)
            except OSError:
                pass

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Wait (bounded) until ``predicate(frames)`` holds."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(list(self.frames)), timeout)
