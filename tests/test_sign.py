"""The counter's LED sign: both protocols' bytes, answers, garbage, unplug and redraw."""
from __future__ import annotations

import queue
import time

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from hallq.runtime.config import SignConfig
from hallq.errors import DeviceFault
from hallq.hardware.signs import (LedboxProtocol, LineProtocol, Sign, SignHealth, SignLink, SignView, columns, fit,
                                  ledbox_frame, ledbox_parse)
from hallq.testing.sign_emulator import SignEmulator

# 暂停服务 in GB2312 (also GB18030): D4DD CDA3 B7FE CEF1
ZANTING_FUWU = bytes.fromhex("d4ddcda3b7fecef1")


# --- text ---------------------------------------------------------------------------------
def test_columns_count_cjk_as_two() -> None:
    assert columns("A012") == 4
    assert columns("请A012号") == 8


def test_fit_never_cuts_a_wide_character_in_half() -> None:
    assert fit("请A012号到1号窗口", 9) == "请A012号"
    assert fit("请A012号到1号窗口", 10) == "请A012号到"
    assert fit("暂停服务", 7) == "暂停服"


# --- line protocol ------------------------------------------------------------------------
def test_line_frame_is_gb18030_text_and_crlf() -> None:
    frame = LineProtocol(SignConfig()).frame(SignView("暂停服务", "suspended"))
    assert frame == ZANTING_FUWU + b"\r\n"


def test_line_frame_strips_control_characters_and_fits_width() -> None:
    frame = LineProtocol(SignConfig(width=8)).frame(SignView("A0\r\n12 请到\x1b窗口"))
    assert frame == b"A012 " + "请".encode("gb18030") + b"\r\n"


def test_line_utf8_when_configured() -> None:
    frame = LineProtocol(SignConfig(encoding="utf-8")).frame(SignView("欢迎光临"))
    assert frame == "欢迎光临".encode() + b"\r\n"


def test_line_sign_over_loop_reads_its_echo_back() -> None:
    sign = Sign(SignConfig(port="loop://"))
    sent = sign.draw(SignView("请A001号", "serving"))
    assert sent == "请A001号".encode("gb18030") + b"\r\n"
    assert sign.port is not None and sign.port.in_waiting == 0    # the echo was read and checked


def test_line_sign_without_ack_leaves_the_bytes_on_the_line() -> None:
    sign = Sign(SignConfig(port="loop://", ack=False))
    sign.draw(SignView("A001"))
    assert sign.port is not None
    assert sign.port.read(sign.port.in_waiting) == b"A001\r\n"


# --- ledbox protocol ----------------------------------------------------------------------
def test_ledbox_frame_bytes() -> None:
    frame = LedboxProtocol(SignConfig(protocol="ledbox", address=1)).frame(SignView("暂停服务", "suspended"))
    body = bytes([0x01, 0x31, 0x00, 0x0A, 0x00, 0x03]) + ZANTING_FUWU
    assert frame == bytes([0xAA]) + body + bytes([sum(body) & 0xFF, 0x55])
    assert frame.hex(" ") == "aa 01 31 00 0a 00 03 d4 dd cd a3 b7 fe ce f1 d4 55"


def test_ledbox_scrolls_text_wider_than_the_panel_and_uses_the_address() -> None:
    config = SignConfig(protocol="ledbox", address=7, width=8)
    frame = LedboxProtocol(config).frame(SignView("请A012号到1号窗口", "serving"))
    assert frame[1] == 7
    assert frame[5] == 1          # mode: scroll
    assert frame[6] == 1          # colour: red for a call
    assert frame[7:-2] == "请A012号到1号窗口".encode("gb18030")


def test_ledbox_over_loop_without_ack_puts_exactly_the_frame_on_the_line() -> None:
    sign = Sign(SignConfig(port="loop://", protocol="ledbox", ack=False))
    sent = sign.draw(SignView("A001", "serving"))
    assert sign.port is not None
    assert sign.port.read(sign.port.in_waiting) == sent == ledbox_frame(1, 0x31, b"\x00\x01A001")


def test_ledbox_over_loop_with_ack_hears_only_its_echo_and_faults() -> None:
    sign = Sign(SignConfig(port="loop://", protocol="ledbox", answer_timeout_s=0.05))
    with pytest.raises(DeviceFault) as info:
        sign.draw(SignView("A001"))
    assert info.value.condition == "no_answer"
    assert "echo" in info.value.detail


def test_ledbox_parse_finds_frames_between_garbage() -> None:
    good = ledbox_frame(3, 0xB1, b"\x00")
    broken = bytearray(ledbox_frame(3, 0xB1, b"\x00"))
    broken[-2] ^= 0xFF            # bad checksum
    frames, junk = ledbox_parse(b"\x00zz" + bytes(broken) + good + b"\xaa\x03")
    assert [f.raw for f in frames] == [good]
    assert junk.startswith(b"\x00zz\xaa") and junk.endswith(b"\xaa\x03")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_ledbox_parse_never_fails_on_any_bytes(data: bytes) -> None:
    frames, junk = ledbox_parse(data)
    assert sum(len(f.raw) for f in frames) + len(junk) == len(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60).map(lambda b: b.replace(b"\xaa", b"")),
       st.binary(max_size=60).map(lambda b: b.replace(b"\xaa", b"")),
       st.integers(0, 255), st.binary(max_size=40))
def test_ledbox_parse_finds_a_frame_in_any_noise(before: bytes, after: bytes, address: int, data: bytes) -> None:
    frame = ledbox_frame(address, 0x31, data)
    frames, junk = ledbox_parse(before + frame + after)
    assert [f.raw for f in frames] == [frame]
    assert frames[0].data == data and frames[0].address == address
    assert junk == before + after


# --- a sign on a real serial line (pty) ---------------------------------------------------
@pytest.fixture
def line_sign(tmp_path):
    emulator = SignEmulator(tmp_path / "ttySIGN", protocol="line")
    yield emulator
    emulator.close()


@pytest.fixture
def ledbox_sign(tmp_path):
    emulator = SignEmulator(tmp_path / "ttySIGN", protocol="ledbox", address=2)
    yield emulator
    emulator.close()


def test_line_sign_on_a_serial_line(line_sign: SignEmulator) -> None:
    sign = Sign(SignConfig(port=str(line_sign.link), baud=19200))
    sign.draw(SignView("请B007号", "serving"))
    assert line_sign.frames == ["请B007号".encode("gb18030") + b"\r\n"]
    sign.close()


def test_line_sign_answering_garbage_is_a_fault(line_sign: SignEmulator) -> None:
    line_sign.mode = "garbage"
    sign = Sign(SignConfig(port=str(line_sign.link)))
    with pytest.raises(DeviceFault) as info:
        sign.draw(SignView("A001"))
    assert info.value.condition == "garbage"
    sign.close()


def test_silent_line_sign_is_a_fault(line_sign: SignEmulator) -> None:
    line_sign.mode = "silent"
    sign = Sign(SignConfig(port=str(line_sign.link), answer_timeout_s=0.1))
    with pytest.raises(DeviceFault) as info:
        sign.draw(SignView("A001"))
    assert info.value.condition == "no_answer"
    sign.close()


@pytest.mark.parametrize("mode", ["ok", "echo_ack"])
def test_ledbox_sign_acknowledges(ledbox_sign: SignEmulator, mode: str) -> None:
    ledbox_sign.mode = mode
    sign = Sign(SignConfig(port=str(ledbox_sign.link), protocol="ledbox", address=2))
    sent = sign.draw(SignView("A001", "serving"))
    assert ledbox_sign.frames == [sent]
    assert sent == ledbox_frame(2, 0x31, b"\x00\x01A001")
    sign.close()


@pytest.mark.parametrize("mode, condition", [("garbage", "garbage"), ("refuse", "refused"), ("silent", "no_answer")])
def test_ledbox_sign_faults(ledbox_sign: SignEmulator, mode: str, condition: str) -> None:
    ledbox_sign.mode = mode
    sign = Sign(SignConfig(port=str(ledbox_sign.link), protocol="ledbox", address=2, answer_timeout_s=0.1))
    with pytest.raises(DeviceFault) as info:
        sign.draw(SignView("A001"))
    assert info.value.condition == condition
    sign.close()


def test_ledbox_ack_from_another_address_is_not_ours(tmp_path) -> None:
    emulator = SignEmulator(tmp_path / "tty", protocol="ledbox", address=2)
    try:
        sign = Sign(SignConfig(port=str(emulator.link), protocol="ledbox", address=3, answer_timeout_s=0.1))
        with pytest.raises(DeviceFault):
            sign.draw(SignView("A001"))   # the emulator only answers address 2
        sign.close()
    finally:
        emulator.close()


def test_missing_port_is_a_fault_not_a_crash(tmp_path) -> None:
    sign = Sign(SignConfig(port=str(tmp_path / "no-such-tty")))
    with pytest.raises(DeviceFault) as info:
        sign.draw(SignView("A001"))
    assert info.value.condition == "unplugged"


def _next_health(reports: queue.Queue[SignHealth], ok: bool) -> SignHealth:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        health = reports.get(timeout=max(0.01, deadline - time.monotonic()))
        if health.ok == ok:
            return health
    raise AssertionError(f"no health report with ok={ok}")


def test_sign_link_reports_unplug_and_redraws_when_the_sign_returns(line_sign: SignEmulator) -> None:
    reports: queue.Queue[SignHealth] = queue.Queue()
    link = SignLink(Sign(SignConfig(port=str(line_sign.link), retry_s=0.1, answer_timeout_s=0.2)), reports.put)
    link.start()
    try:
        link.show(SignView("请A001号", "serving"))
        assert _next_health(reports, True).shown == "请A001号"
        line_sign.unplug()
        link.show(SignView("请A002号", "serving"))
        fault = _next_health(reports, False)
        assert fault.detail and ("unplugged" in fault.detail or "no_answer" in fault.detail)
        line_sign.frames.clear()
        line_sign.replug()
        health = _next_health(reports, True)
        assert health.shown == "请A002号"
        assert line_sign.frames[-1] == "请A002号".encode("gb18030") + b"\r\n"
    finally:
        link.stop()


def test_sign_link_survives_garbage_and_recovers(line_sign: SignEmulator) -> None:
    reports: queue.Queue[SignHealth] = queue.Queue()
    link = SignLink(Sign(SignConfig(port=str(line_sign.link), retry_s=0.1)), reports.put)
    line_sign.mode = "garbage"
    link.start()
    try:
        link.show(SignView("欢迎光临"))
        assert "garbage" in (_next_health(reports, False).detail or "")
        line_sign.mode = "ok"
        assert _next_health(reports, True).shown == "欢迎光临"
    finally:
        link.stop()


def test_sign_link_shows_only_the_latest_view() -> None:
    reports: queue.Queue[SignHealth] = queue.Queue()
    link = SignLink(Sign(SignConfig(port="loop://")), reports.put)
    for n in range(1, 30):
        link.show(SignView(f"A{n:03d}", "serving"))
    link.start()
    try:
        deadline = time.monotonic() + 5
        health = _next_health(reports, True)
        while health.shown != "A029" and time.monotonic() < deadline:
            health = _next_health(reports, True)
        assert health.shown == "A029"
        assert link.draws <= 2
    finally:
        link.stop()


def test_serial_exception_type_is_what_pyserial_raises_for_a_missing_port(tmp_path) -> None:
    # guards the assumption Sign.draw relies on: a missing port raises SerialException (an OSError)
    with pytest.raises(serial.SerialException):
        serial.serial_for_url(str(tmp_path / "none"))
