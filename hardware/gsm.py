"""A GSM modem on a serial line (AT commands, 3GPP TS 27.005 text mode with the UCS2 character set, so
Chinese texts travel as they are written), for the hall's SMS when the internet is down.

Only what the notifications need: a message is first written to the SIM's storage (``AT+CMGW``, an
index), then sent from there (``AT+CMSS``, the network's message reference). The storage remembers
whether a stored message was sent (``STO SENT``): after a crash between the two, reading that index
(``AT+CMGR``) tells whether it went, so a message is sent exactly once. Received messages are listed
(``AT+CMGL="REC UNREAD"``) and deleted once read. A modem fault is a :class:`GsmError` with the
modem's own words (``+CMS ERROR: 322``: the SIM's storage is full), never a traceback.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from hallq.errors import DeviceFault

CTRL_Z = b"\x1a"
FINAL = re.compile(rb"^(OK|ERROR|\+CMS ERROR: ?\d+|\+CME ERROR: ?.+)$")
STORAGE_FULL = "322"


class GsmError(DeviceFault):
    """The modem answered an error, or nothing; ``code`` is its CMS/CME code when it gave one."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__("modem", "storage_full" if code == STORAGE_FULL else "fault", message)
        self.code = code


@dataclass(frozen=True)
class Received:
    index: int
    sender: str
    text: str


@dataclass(frozen=True)
class StatusReport:
    """The network's word on a sent message (its reference): delivered (``status`` 0), still trying
    (32-63) or given up (64 and above), per 3GPP TS 23.040."""
    index: int
    reference: int
    status: int
    recipient: str = ""         # the number it went to (optional in the report)

    @property
    def outcome(self) -> str:
        return "delivered" if self.status < 32 else "pending" if self.status < 64 else "failed"


def ucs2(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def from_ucs2(hexed: str) -> str:
    try:
        return bytes.fromhex(hexed).decode("utf-16-be")
    except ValueError:
        return hexed                     # a modem that sent plain text after all


class GsmModem:
    """One modem on ``port`` (a pyserial URL or device). Not thread-safe: one owner thread uses it."""

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 10.0, serial_factory: Any = None) -> None:
        if serial_factory is None:
            import serial  # noqa: PLC0415 - only where a modem is configured
            serial_factory = serial.serial_for_url
        self.timeout_s = timeout_s
        try:
            self.port = serial_factory(port, baudrate=baud, timeout=0.2)
        except Exception as err:            # pyserial's SerialException, OSError: a fault, said in words
            raise GsmError(f"cannot open the modem at {port}: {err}") from None

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:
            pass

    # --- the exchange ----------------------------------------------------------------------------
    def command(self, line: str, body: str | None = None) -> list[str]:
        """Send one command (and, after the ``> `` prompt, ``body`` ended by Ctrl-Z); the lines of the
        answer before OK, or GsmError."""
        self.port.reset_input_buffer()
        self.port.write(line.encode("ascii") + b"\r")
        if body is not None:
            self._until_prompt()
            self.port.write(body.encode("ascii") + CTRL_Z)
        lines: list[str] = []
        deadline = time.monotonic() + self.timeout_s
        buffer = b""
        while time.monotonic() < deadline:
            chunk = self.port.read(self.port.in_waiting or 1)    # what has come, or wait for a byte
            if not chunk:
                continue
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                text = raw.strip(b"\r ")
                if not text or text == line.encode("ascii"):        # blank, or the modem's echo
                    continue
                final = FINAL.match(text)
                if final:
                    word = final.group(1).decode("ascii", "replace")
                    if word == "OK":
                        return lines
                    raise GsmError(f"{line}: {word}", word.rsplit(" ", 1)[-1] if "ERROR:" in word else "")
                lines.append(text.decode("ascii", "replace"))
        raise GsmError(f"{line}: no answer from the modem in {self.timeout_s:.0f} s")

    def _until_prompt(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        seen = b""
        while time.monotonic() < deadline:
            seen += self.port.read(1)
            if seen.endswith(b"> "):
                return
            if b"ERROR" in seen and seen.endswith(b"\n"):
                raise GsmError(f"no prompt: {seen.decode('ascii', 'replace').strip()}")
        raise GsmError("no prompt from the modem")

    # --- what the notifications need ---------------------------------------------------------------
    def setup(self) -> None:
        """Echo off, text mode, UCS2 (every text and number as UTF-16 hex); each message sent asks the
        network for a status report (first octet 49, data coding 8: UCS2), kept on the SIM to be read."""
        for line in ("AT", "ATE0", "AT+CMGF=1", 'AT+CSCS="UCS2"', "AT+CSMP=49,167,0,8", "AT+CNMI=2,1,0,2,0"):
            self.command(line)

    def store(self, number: str, text: str) -> int:
        """Write a message to the SIM's storage (not sent yet); its index."""
        answer = self.command(f'AT+CMGW="{ucs2(number)}"', ucs2(text))
        found = next((re.match(r"\+CMGW: ?(\d+)", a) for a in answer if a.startswith("+CMGW")), None)
        if found is None:
            raise GsmError(f"AT+CMGW: no index in {answer!r}")
        return int(found.group(1))

    def send_stored(self, index: int) -> int:
        """Send the stored message at ``index``; the network's message reference."""
        answer = self.command(f"AT+CMSS={index}")
        found = next((re.match(r"\+CMSS: ?(\d+)", a) for a in answer if a.startswith("+CMSS")), None)
        if found is None:
            raise GsmError(f"AT+CMSS: no reference in {answer!r}")
        return int(found.group(1))

    def stored_status(self, index: int) -> str | None:
        """``STO SENT``, ``STO UNSENT`` (or a received one's status) of the message at ``index``;
        None when there is none there."""
        try:
            answer = self.command(f"AT+CMGR={index}")
        except GsmError as err:
            if err.code in ("321", "0"):       # invalid memory index: nothing there
                return None
            raise
        head = next((a for a in answer if a.startswith("+CMGR")), None)
        found = re.match(r'\+CMGR: ?"([^"]+)"', head or "")
        return found.group(1) if found else None

    def delete(self, index: int) -> None:
        self.command(f"AT+CMGD={index}")

    def delete_read(self) -> None:
        """Delete every read and every sent message (``AT+CMGD=1,3``): room on a full SIM."""
        self.command("AT+CMGD=1,3")

    def unread(self) -> list[Received | StatusReport]:
        """Messages and status reports received and not read yet (reading them marks them read)."""
        answer = self.command('AT+CMGL="REC UNREAD"')
        out: list[Received | StatusReport] = []
        for i, line in enumerate(answer):
            report = re.match(r'\+CMGL: ?(\d+),"[^"]*",6,(\d+),(?:"([^"]*)")?.*,(\d+)$', line)
            if report:                          # <index>,<stat>,<fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>
                out.append(StatusReport(int(report.group(1)), int(report.group(2)), int(report.group(4)),
                                        from_ucs2(report.group(3) or "")))
                continue
            head = re.match(r'\+CMGL: ?(\d+),"[^"]*","([^"]*)"', line)
            if head and i + 1 < len(answer):
                out.append(Received(int(head.group(1)), from_ucs2(head.group(2)), from_ucs2(answer[i + 1].strip())))
        return out
