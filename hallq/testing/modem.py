"""A GSM modem emulator on a pseudo-terminal, for tests and the benchmarks: the AT subset
hallq/hardware/gsm.py speaks (27.005 text mode, UCS2), with a SIM storage of ``capacity`` slots that
remembers sent and unsent messages, incoming messages a test delivers, and faults a test asks for
(the next commands of a kind answer ``ERROR`` or a ``+CMS ERROR``; a full SIM answers 322).

    modem = ModemEmulator(capacity=10).start()      # modem.path: the serial device to configure
    modem.fail("AT+CMSS", "ERROR", times=2)
    modem.deliver("13800138000", "1")
    modem.sent                                       # [(number, text, monotonic time)], in order
"""
from __future__ import annotations

import os
import pty
import re
import select
import threading
import time
import tty
from dataclasses import dataclass, field


def _from_ucs2(hexed: str) -> str:
    try:
        return bytes.fromhex(hexed).decode("utf-16-be")
    except ValueError:
        return hexed


def _ucs2(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


@dataclass
class Stored:
    status: str                     # STO UNSENT | STO SENT | REC UNREAD | REC READ
    number: str
    text: str
    report: tuple[int, int] | None = None   # a status report: (reference, status)


@dataclass
class ModemEmulator:
    capacity: int = 20
    storage: dict[int, Stored] = field(default_factory=dict)
    sent: list[tuple[str, str, float]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.lock = threading.Lock()
        self.failures: dict[str, list[str]] = {}
        self.reference = 0
        self.echo = True
        self.reports = False            # AT+CSMP=49,...: a status report after each message sent
        self.report_status = 0          # what the network says: 0 delivered, 70 failed (a test may set it)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="modem-emulator", daemon=True)

    def start(self) -> ModemEmulator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(timeout=5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    # --- what a test does ------------------------------------------------------------------------
    def fail(self, prefix: str, answer: str = "ERROR", times: int = 1) -> None:
        """The next ``times`` commands starting with ``prefix`` answer ``answer`` instead."""
        with self.lock:
            self.failures.setdefault(prefix, []).extend([answer] * times)

    def deliver(self, sender: str, text: str) -> None:
        """A message arrives from ``sender`` (kept on the SIM as unread; nothing if the SIM is full)."""
        with self.lock:
            index = self._free_index()
            if index is not None:
                self.storage[index] = Stored("REC UNREAD", sender, text)

    def sent_texts(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(n, t) for n, t, _ in self.sent]

    # --- the line ----------------------------------------------------------------------------------
    def _free_index(self) -> int | None:
        return next((i for i in range(1, self.capacity + 1) if i not in self.storage), None)

    def _write(self, text: str) -> None:
        os.write(self.master, text.encode("ascii"))

    def _run(self) -> None:
        buffer = b""
        while not self.stopping:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                buffer += os.read(self.master, 4096)
            except OSError:
                return
            while b"\r" in buffer:
                raw, buffer = buffer.split(b"\r", 1)
                line = raw.strip(b"\n ").decode("ascii", "replace")
                if not line:
                    continue
                if self.echo:
                    self._write(line + "\r\n")
                if line.upper().startswith("AT+CMGW="):
                    buffer = self._cmgw(line, buffer)
                else:
                    self._answer(line)

    def _fault(self, line: str) -> str | None:
        with self.lock:
            for prefix, answers in self.failures.items():
                if line.upper().startswith(prefix.upper()) and answers:
                    return answers.pop(0)
        return None

    def _cmgw(self, line: str, buffer: bytes) -> bytes:
        """``AT+CMGW="<number>"``, the prompt, then the text up to Ctrl-Z."""
        self._write("\r\n> ")
        deadline = time.monotonic() + 5
        while b"\x1a" not in buffer and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                buffer += os.read(self.master, 4096)
        body, _, rest = buffer.partition(b"\x1a")
        self.commands.append("AT+CMGW")
        fault = self._fault(line)
        if fault:
            self._write(f"\r\n{fault}\r\n")
            return rest
        number = re.match(r'AT\+CMGW="([^"]*)"', line, re.I)
        with self.lock:
            index = self._free_index()
            if index is None:
                self._write("\r\n+CMS ERROR: 322\r\n")          # memory full
                return rest
            self.storage[index] = Stored("STO UNSENT", _from_ucs2(number.group(1) if number else ""),
                                         _from_ucs2(body.decode("ascii", "replace").strip()))
        self._write(f"\r\n+CMGW: {index}\r\n\r\nOK\r\n")
        return rest

    def _answer(self, line: str) -> None:
        upper = line.upper()
        self.commands.append(upper.split("=")[0])
        fault = self._fault(line)
        if fault:
            self._write(f"\r\n{fault}\r\n")
            return
        if upper == "ATE0":
            self.echo = False
        elif upper in ("AT", "AT+CMGF=1", 'AT+CSCS="UCS2"') or upper.startswith("AT+CNMI="):
            pass
        elif upper.startswith("AT+CSMP="):
            self.reports = upper.split("=")[1].split(",")[0] == "49"
        elif upper.startswith("AT+CMSS="):
            index = int(upper.split("=")[1])
            with self.lock:
                stored = self.storage.get(index)
                if stored is None or not stored.status.startswith("STO"):
                    self._write("\r\n+CMS ERROR: 321\r\n")
                    return
                stored.status = "STO SENT"
                self.reference = (self.reference + 1) % 256
                self.sent.append((stored.number, stored.text, time.monotonic()))
                if self.reports:                  # the network's report arrives, kept on the SIM
                    slot = self._free_index()
                    if slot is not None:
                        self.storage[slot] = Stored("REC UNREAD", stored.number, "", (self.reference, self.report_status))
            self._write(f"\r\n+CMSS: {self.reference}\r\n\r\nOK\r\n")
            return
        elif upper.startswith("AT+CMGR="):
            index = int(upper.split("=")[1])
            with self.lock:
                stored = self.storage.get(index)
            if stored is None:
                self._write("\r\n+CMS ERROR: 321\r\n")
                return
            self._write(f'\r\n+CMGR: "{stored.status}","{_ucs2(stored.number)}"\r\n{_ucs2(stored.text)}\r\n\r\nOK\r\n')
            return
        elif upper.startswith("AT+CMGD="):
            index, _, flag = upper.split("=")[1].partition(",")
            with self.lock:
                if flag in ("1", "2", "3", "4"):
                    gone = {"1": ("REC READ",), "2": ("REC READ", "STO SENT"),
                            "3": ("REC READ", "STO SENT", "STO UNSENT"), "4": None}[flag]
                    for i in [i for i, s in self.storage.items() if gone is None or s.status in gone]:
                        del self.storage[i]
                else:
                    self.storage.pop(int(index), None)
        elif upper == 'AT+CMGL="REC UNREAD"':
            with self.lock:
                unread = sorted((i, s) for i, s in self.storage.items() if s.status == "REC UNREAD")
                for _, s in unread:
                    s.status = "REC READ"
            for i, s in unread:
                if s.report is not None:
                    self._write(f'\r\n+CMGL: {i},"REC UNREAD",6,{s.report[0]},"{_ucs2(s.number)}",129,'
                                f'"26/12/05,10:00:00+32","26/12/05,10:00:05+32",{s.report[1]}')
                else:
                    self._write(f'\r\n+CMGL: {i},"REC UNREAD","{_ucs2(s.number)}",,""\r\n{_ucs2(s.text)}')
        else:
            self._write("\r\nERROR\r\n")
            return
        self._write("\r\nOK\r\n")
