"""The LED sign above a counter, on a serial line (pyserial; ``loop://`` in tests and stubs).

Two protocols sit behind one small interface (:class:`SignProtocol`):

``line``
    hallq's plain line protocol, for any serial text display or a small microcontroller driving a
    panel: one line of text per frame, encoded in GB18030 (or GB2312 / UTF-8), ended by CR LF.
    With ``ack = true`` the sign echoes the line back as its acknowledgement; the echo must match
    byte for byte. ``loop://`` echoes by nature, so stubs and tests run the real code.

``ledbox``
    a framed RS-485 protocol of the kind generic queue-system window signs (窗口屏) speak, with an
    address so several signs share one bus::

        AA | addr | cmd | len_hi len_lo | data ... | sum | 55

    ``sum`` is the low byte of the sum of every byte from ``addr`` through the last data byte.
    ``cmd`` 0x31 shows text; its data is ``mode`` (0 static, 1 scroll left), ``colour``
    (1 red, 2 green, 3 yellow) and the text in GB2312/GB18030. The sign answers
    ``AA | addr | cmd|0x80 | 00 01 | status | sum | 55`` (status 0 = shown). A 2-wire RS-485
    adapter often hears its own frame first; identical frames are skipped as that echo.

A sign that is unplugged, silent or answering garbage raises :class:`~hallq.errors.DeviceFault`;
:class:`SignLink` turns that into a health report (the counter puts it on its ``status`` topic),
keeps retrying, and redraws the current text when the sign answers again. It also resends the
text every ``refresh_s``, which both checks the sign and restores a sign that lost power.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import serial

from hallq.errors import DeviceFault
from hallq.runtime.config import SignConfig

log = logging.getLogger(__name__)

SignKind = Literal["serving", "idle", "suspended", "offline", "blank"]


@dataclass(frozen=True)
class SignView:
    """What the sign should show: the text and what kind of message it is (sets the colour)."""
    text: str
    kind: SignKind = "idle"


def columns(text: str) -> int:
    """Display columns: a CJK (wide) character takes two, like on a 16-dot-per-half LED panel."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def clean_text(text: str) -> str:
    """Drop control characters (CR/LF would end a line-protocol frame early)."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")


def fit(text: str, width: int) -> str:
    """Cut ``text`` to at most ``width`` columns, never half a wide character."""
    out, used = [], 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out)


def encode_text(text: str, encoding: str) -> bytes:
    # GB2312 lacks some characters (names!); they become "?" rather than a failed redraw
    return text.encode(encoding, errors="replace")


class SignProtocol(Protocol):
    name: str

    def frame(self, view: SignView) -> bytes:
        """The bytes that make the sign show ``view``."""

    def read_answer(self, port: serial.SerialBase, sent: bytes) -> None:
        """Wait for the sign's answer to ``sent``; raise DeviceFault if it is missing or wrong."""


def _read_for(port: serial.SerialBase, deadline: float, done: Callable[[bytes], bool]) -> bytes:
    """Read until ``done(buffer)`` or the deadline; bounded by time and by size."""
    buf = bytearray()
    while time.monotonic() < deadline and len(buf) < 4096:
        port.timeout = max(0.001, min(0.05, deadline - time.monotonic()))
        chunk = port.read(max(1, port.in_waiting))
        if chunk:
            buf += chunk
            if done(bytes(buf)):
                break
    return bytes(buf)


class LineProtocol:
    name = "line"

    def __init__(self, config: SignConfig) -> None:
        self.config = config

    def frame(self, view: SignView) -> bytes:
        text = fit(clean_text(view.text), self.config.width)
        return encode_text(text, self.config.encoding) + b"\r\n"

    def read_answer(self, port: serial.SerialBase, sent: bytes) -> None:
        if not self.config.ack:
            return
        deadline = time.monotonic() + self.config.answer_timeout_s
        answer = _read_for(port, deadline, lambda b: b.endswith(b"\n") or len(b) >= len(sent))
        if not answer:
            raise DeviceFault("sign", "no_answer", f"no echo within {self.config.answer_timeout_s:g} s")
        if answer != sent:
            raise DeviceFault("sign", "garbage", f"echo {answer[:32].hex(' ')} does not match the line sent")


LEDBOX_START, LEDBOX_END = 0xAA, 0x55
LEDBOX_SHOW = 0x31
LEDBOX_COLOURS = {"serving": 1, "idle": 2, "suspended": 3, "offline": 3, "blank": 1}
LEDBOX_MAX_DATA = 1024


def ledbox_checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def ledbox_frame(address: int, command: int, data: bytes) -> bytes:
    if len(data) > LEDBOX_MAX_DATA:
        raise ValueError(f"ledbox data of {len(data)} bytes exceeds {LEDBOX_MAX_DATA}")
    body = bytes([address & 0xFF, command & 0xFF, len(data) >> 8, len(data) & 0xFF]) + data
    return bytes([LEDBOX_START]) + body + bytes([ledbox_checksum(body), LEDBOX_END])


@dataclass(frozen=True)
class LedboxFrame:
    address: int
    command: int
    data: bytes
    raw: bytes


def ledbox_parse(buffer: bytes) -> tuple[list[LedboxFrame], bytes]:
    """Every well-formed frame in ``buffer`` and the bytes that were not part of one (garbage).

    Resynchronises on the next start byte after anything malformed, so line noise before or
    between frames does not hide a good answer.
    """
    frames: list[LedboxFrame] = []
    junk = bytearray()
    i = 0
    while i < len(buffer):
        if buffer[i] != LEDBOX_START:
            junk.append(buffer[i])
            i += 1
            continue
        if len(buffer) - i < 7:
            junk += buffer[i:]   # an incomplete frame at the end counts as unexplained bytes
            break
        length = (buffer[i + 3] << 8) | buffer[i + 4]
        end = i + 5 + length + 2
        if length > LEDBOX_MAX_DATA or end > len(buffer):
            junk.append(buffer[i])
            i += 1
            continue
        body = buffer[i + 1:i + 5 + length]
        if buffer[end - 2] != ledbox_checksum(body) or buffer[end - 1] != LEDBOX_END:
            junk.append(buffer[i])
            i += 1
            continue
        frames.append(LedboxFrame(body[0], body[1], bytes(body[4:]), bytes(buffer[i:end])))
        i = end
    return frames, bytes(junk)


class LedboxProtocol:
    name = "ledbox"

    def __init__(self, config: SignConfig) -> None:
        self.config = config

    def frame(self, view: SignView) -> bytes:
        text = clean_text(view.text)
        scroll = columns(text) > self.config.width
        data = bytes([1 if scroll else 0, LEDBOX_COLOURS.get(view.kind, 1)]) + encode_text(text, self.config.encoding)
        return ledbox_frame(self.config.address, LEDBOX_SHOW, data[:LEDBOX_MAX_DATA])

    def _answer_in(self, buffer: bytes, sent: bytes) -> LedboxFrame | None:
        frames, _ = ledbox_parse(buffer)
        for frame in frames:
            if frame.raw != sent and frame.address == self.config.address and frame.command == (sent[2] | 0x80):
                return frame
        return None

    def read_answer(self, port: serial.SerialBase, sent: bytes) -> None:
        if not self.config.ack:
            return
        deadline = time.monotonic() + self.config.answer_timeout_s
        buffer = _read_for(port, deadline, lambda b: self._answer_in(b, sent) is not None)
        answer = self._answer_in(buffer, sent)
        if answer is not None:
            if answer.data[:1] != b"\x00":
                raise DeviceFault("sign", "refused", f"sign answered status {answer.data[:1].hex() or 'none'}")
            return
        frames, junk = ledbox_parse(buffer)
        others = [f for f in frames if f.raw != sent]
        if junk or others:
            shown = (junk or others[0].raw)[:32].hex(" ")
            raise DeviceFault("sign", "garbage", f"no valid answer; got {shown}")
        heard_echo = " (only the echo of our own frame)" if frames else ""
        raise DeviceFault("sign", "no_answer", f"no answer within {self.config.answer_timeout_s:g} s{heard_echo}")


def make_protocol(config: SignConfig) -> SignProtocol:
    if config.protocol == "ledbox":
        return LedboxProtocol(config)
    return LineProtocol(config)


def open_port(config: SignConfig, url: str | None = None) -> serial.SerialBase:
    """Open the sign's port from its config; ``url`` overrides ``config.port`` (stubs: loop://)."""
    return serial.serial_for_url(
        url or config.port,
        baudrate=config.baud,
        bytesize=config.bytesize,
        parity=config.parity,
        stopbits=config.stopbits,
        timeout=config.answer_timeout_s,
        write_timeout=max(1.0, config.answer_timeout_s),
    )


class Sign:
    """One sign on one port: open, draw, close. Raises DeviceFault; never anything else."""

    def __init__(self, config: SignConfig, url: str | None = None) -> None:
        self.config = config
        self.url = url or config.port
        self.protocol = make_protocol(config)
        self.port: serial.SerialBase | None = None
        self.last_sent: bytes = b""

    def draw(self, view: SignView) -> bytes:
        payload = self.protocol.frame(view)
        try:
            if self.port is None:
                self.port = open_port(self.config, self.url)
            stale = self.port.in_waiting
            if stale:
                # unsolicited bytes (noise, a late answer): not ours to interpret; start clean
                log.debug("sign %s: dropping %d unexpected bytes", self.url, stale)
                self.port.reset_input_buffer()
            self.port.write(payload)
            self.port.flush()
            self.last_sent = payload
            self.protocol.read_answer(self.port, payload)
        except DeviceFault:
            raise
        except (serial.SerialException, OSError, ValueError) as err:
            self.close()
            raise DeviceFault("sign", "unplugged", f"{self.url}: {err}") from None
        return payload

    def probe(self) -> None:
        """Cheap check between draws that the port is still there (a USB adapter pulled out
        takes its device node with it); raises DeviceFault("unplugged")."""
        if self.port is None:
            return
        try:
            if "://" not in self.url and not os.path.exists(self.url):
                raise serial.SerialException(f"{self.url} is gone")
            self.port.in_waiting    # an ioctl: fails on a vanished device
        except (serial.SerialException, OSError, ValueError) as err:
            self.close()
            raise DeviceFault("sign", "unplugged", f"{self.url}: {err}") from None

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except Exception:  # a port that vanished may fail to close; it is gone either way
                pass
            self.port = None


@dataclass(frozen=True)
class SignHealth:
    ok: bool
    detail: str | None       # why not ok (None when ok)
    shown: str | None        # the text the sign last confirmed
    frame: bytes = b""       # the bytes of the last frame the sign confirmed


PROBE_S = 1.0      # between draws, check this often that the port is still there


class SignLink:
    """Drives a :class:`Sign` from its own thread so a slow or dead sign never stalls the owner.

    ``show`` is latest-wins: only the newest view is drawn. ``report`` is called from the
    worker thread with a :class:`SignHealth` after every draw attempt whose outcome differs from
    the last one; it should only enqueue. Serial I/O blocks for at most ``answer_timeout_s``.
    """

    def __init__(self, sign: Sign, report: Callable[[SignHealth], None]) -> None:
        self.sign = sign
        self.config = sign.config
        self.report = report
        self._cond = threading.Condition()
        self._wanted: SignView | None = None
        self._drawn: SignView | None = None
        self._stop = False
        self._last: SignHealth | None = None
        self._new_url: str | None = None
        self._thread = threading.Thread(target=self._run, name="sign", daemon=True)
        self.draws = 0
        self.last_draw_at = 0.0     # monotonic time of the last confirmed draw (bench)

    def start(self) -> None:
        self._thread.start()

    def show(self, view: SignView) -> None:
        with self._cond:
            if view != self._wanted:
                self._wanted = view
                self._cond.notify()

    def replug(self, url: str) -> None:
        """Use another port from the next draw on (the stub's simulated unplug and replug)."""
        with self._cond:
            self._new_url = url
            self._cond.notify()

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sign.close()

    def _run(self) -> None:
        healthy = True
        next_attempt = 0.0
        next_probe = 0.0
        while True:
            with self._cond:
                while not self._stop:
                    if self._new_url is not None:
                        self.sign.close()
                        self.sign.url, self._new_url = self._new_url, None
                        self._drawn, next_attempt = None, 0.0
                    now = time.monotonic()
                    due = self._wanted is not None and (self._wanted != self._drawn or now >= next_attempt)
                    if due and (healthy or now >= next_attempt):
                        break
                    if healthy and self._drawn is not None and now >= next_probe:
                        break
                    target = min(next_attempt, next_probe) if healthy and self._drawn is not None else next_attempt
                    wait = max(0.01, target - now) if self._wanted is not None else None
                    self._cond.wait(wait)
                if self._stop:
                    return
                view = self._wanted
            assert view is not None
            now = time.monotonic()
            try:
                if healthy and self._drawn == view and now < next_attempt:
                    next_probe = now + PROBE_S
                    self.sign.probe()
                    continue
                frame = self.sign.draw(view)
            except DeviceFault as fault:
                healthy = False
                self._drawn = None     # redraw when the sign returns
                next_attempt = time.monotonic() + self.config.retry_s
                self._publish(SignHealth(False, f"{fault.condition}: {fault.detail}", None))
                continue
            except Exception as err:  # a bug in a driver must not kill the sign thread
                log.exception("sign driver failed")
                healthy = False
                self._drawn = None
                next_attempt = time.monotonic() + self.config.retry_s
                self._publish(SignHealth(False, f"internal: {err}", None))
                continue
            healthy = True
            self._drawn = view
            self.draws += 1
            self.last_draw_at = time.monotonic()
            next_attempt = self.last_draw_at + self.config.refresh_s
            next_probe = self.last_draw_at + PROBE_S
            self._publish(SignHealth(True, None, view.text, frame))

    def _publish(self, health: SignHealth) -> None:
        if health != self._last:
            self._last = health
            try:
                self.report(health)
            except Exception:
                log.exception("sign health report failed")
