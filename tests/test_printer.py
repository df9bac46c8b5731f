"""Ticket layout, ESC/POS bytes, PNG rendering and the DLE EOT status query."""
from __future__ import annotations

import os
import pty
import threading
import tty
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from hallq.runtime.config import PrinterConfig
from hallq.errors import ConfigError, DeviceFault
from hallq.hardware.printers import make_printer
from hallq.printer.escpos_render import CHINESE_OFF, CHINESE_ON, CUT, encode_text, render_escpos
from hallq.printer.layout import PAPER, Text, TicketView, slip_layout, text_columns, ticket_layout, wrap
from hallq.printer.png_render import render_image, render_png
from hallq.printer.status import decode_status, is_status_byte, query_status, SerialLink
from hallq.printer.transport import StubPrinter, serial_printer

TZ = ZoneInfo("Asia/Shanghai")


def view(**over) -> TicketView:
    base = dict(hall_name="城东供电营业厅", hall_name_en="Chengdong Power Service Hall", number="A012",
                service_name="缴费 Payment", service_name_en="", waiting_ahead=3, est_wait_s=540,
                issued_at=datetime(2026, 11, 23, 9, 30, 12, tzinfo=TZ),
                notice="请留意叫号，过号请到服务台 Please listen for your number")
    base.update(over)
    return TicketView(**base)


# --- layout ------------------------------------------------------------------------------
def test_wrap_counts_chinese_as_two_columns():
    lines = wrap("请留意叫号，过号请到服务台 Please listen for your number", 32)
    assert lines == ["请留意叫号，过号请到服务台", "Please listen for your number"]
    assert all(text_columns(line) <= 32 for line in lines)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 号码 Z1，")), max_size=120), st.integers(2, 48))
def test_wrap_never_exceeds_width_and_keeps_every_letter(text, columns):
    lines = wrap(text, columns)
    assert all(text_columns(line) <= columns for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_ticket_layout_has_number_largest_and_marks():
    layout = ticket_layout(view(priority=True, offline=True, qr_data="https://x/A012"), 58)
    texts = [b for b in layout.blocks if isinstance(b, Text)]
    number = next(b for b in texts if b.text == "A012")
    assert number.scale == max(b.scale for b in texts)
    assert number.scale * 12 * 4 <= PAPER[58][0]
    assert any("离线" in b.text for b in texts)
    assert any("优先" in b.text for b in texts)


# --- ESC/POS -----------------------------------------------------------------------------
def test_escpos_chinese_mode_and_gb18030_text():
    data = render_escpos(ticket_layout(view(), 80), "fs_and")
    assert data.startswith(b"\x1b@" + CHINESE_ON)
    assert "城东供电营业厅".encode("gb18030") in data
    assert "缴费".encode("gb18030") in data
    assert b"A012" in data
    assert data.index(CHINESE_ON) < data.index("城东".encode("gb18030"))
    assert data.endswith(CHINESE_OFF + CUT)
    assert "城东".encode("utf-8") not in data


def test_escpos_profile_without_fs_and():
    data = render_escpos(ticket_layout(view(), 58), "gb18030_only")
    assert CHINESE_ON not in data
    assert "城东供电营业厅".encode("gb18030") in data


def test_escpos_raster_profile_sends_a_picture():
    data = render_escpos(ticket_layout(view(), 58), "raster")
    assert b"\x1dv0\x00" in data
    assert "城东".encode("gb18030") not in data
    width_bytes = data[data.index(b"\x1dv0\x00") + 4]
    assert width_bytes == 384 // 8


def test_escpos_qr_and_no_cut():
    layout = ticket_layout(view(qr_data="https://q.example/h1/A012"), 58, cut=False)
    data = render_escpos(layout)
    assert b"\x1d(k" in data and b"https://q.example/h1/A012" in data
    assert CUT not in data


def test_encode_text_drops_control_bytes_and_unprintable():
    assert encode_text("A\x1b@B") == b"A@B"
    assert encode_text("号😀") == "号".encode("gb18030") + b"?"


def test_big_number_uses_gs_excl_scale():
    data = render_escpos(ticket_layout(view(number="B123"), 80))
    # 48 columns / 4 characters: scale 8 -> GS ! 0x77
    assert b"\x1d!\x77B123\n" in data


# --- PNG ---------------------------------------------------------------------------------
@pytest.mark.parametrize("width_mm", [58, 80])
def test_png_width_and_ink(tmp_path, width_mm):
    path = tmp_path / "t.png"
    render_png(ticket_layout(view(qr_data="x"), width_mm), str(path))
    image = Image.open(path)
    assert image.width == PAPER[width_mm][0] + 48
    assert image.height > 400
    dark = sum(1 for p in image.convert("L").tobytes() if p < 128)
    assert dark > 5000                       # the big number alone is thousands of dots


def test_png_big_number_region_is_dark():
    image = render_image(ticket_layout(view(), 58), margin=0, draw_cut=False).convert("L")
    # the number row spans the full width: both halves carry ink
    rows = [image.crop((0, y, image.width, y + 1)) for y in range(image.height)]
    inked = [r for r in rows if sum(1 for p in r.tobytes() if p < 128) > image.width // 3]
    assert len(inked) > 50


def test_slip_layout_renders():
    layout = slip_layout("营业厅", "暂停取号", "本业务暂停办理 Service suspended", datetime.now(TZ), 58)
    data = render_escpos(layout)
    assert "暂停取号".encode("gb18030") in data


# --- status query ------------------------------------------------------------------------
def test_status_byte_shape():
    assert is_status_byte(0x12) and is_status_byte(0x16) and not is_status_byte(0x10)


@pytest.mark.parametrize("s1,s2,s4,expected", [
    (None, None, None, "offline"),
    (0x12, 0x12, 0x12, "ok"),
    (0x12, 0x12, 0x1E, "paper_low"),
    (0x1A, 0x32, 0x72, "paper_out"),
    (0x1A, 0x16, 0x12, "cover_open"),
    (0x1A, 0x12, 0x12, "offline"),
    (0x12, None, None, "ok"),
])
def test_decode_status(s1, s2, s4, expected):
    assert decode_status(s1, s2, s4) == expected


class FakePrinter(threading.Thread):
    """A printer on the far end of a pty: collects what is printed, answers DLE EOT."""

    def __init__(self, master: int, answers: dict[int, int] | None) -> None:
        super().__init__(daemon=True)
        self.master, self.answers, self.received = master, answers, bytearray()
        self.stop = threading.Event()

    def run(self) -> None:
        import select
        pending = b""
        while not self.stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            self.received += chunk
            pending += chunk
            while b"\x10\x04" in pending:
                i = pending.index(b"\x10\x04")
                if len(pending) < i + 3:
                    break
                n = pending[i + 2]
                pending = pending[i + 3:]
                if self.answers is not None and n in self.answers:
                    os.write(self.master, bytes([0x00, self.answers[n]]))   # noise byte first


@pytest.fixture
def pty_printer():
    made = []

    def make(answers):
        master, slave = pty.openpty()
        tty.setraw(slave)
        fake = FakePrinter(master, answers)
        fake.start()
        made.append((fake, master, slave))
        return fake, os.ttyname(slave)

    yield make
    for fake, master, slave in made:
        fake.stop.set()
        fake.join(2)
        os.close(master)
        os.close(slave)


def test_serial_printer_over_pty_prints_and_reports(pty_printer):
    fake, port = pty_printer({1: 0x12, 2: 0x12, 4: 0x12})
    printer = serial_printer(port, 9600, status_timeout_s=0.5)
    assert printer.status() == "ok"
    job = render_escpos(ticket_layout(view(), 58))
    printer.print_job(job, "A012")
    for _ in range(100):
        if job in fake.received:
            break
        threading.Event().wait(0.02)
    assert job in fake.received
    printer.close()


def test_serial_printer_paper_out_and_silent(pty_printer):
    _, port = pty_printer({1: 0x1A, 2: 0x32, 4: 0x72})
    printer = serial_printer(port, 9600, 0.3)
    assert printer.status() == "paper_out"
    printer.close()
    _, silent = pty_printer(None)
    printer = serial_printer(silent, 9600, 0.2)
    assert printer.status() == "offline"
    printer.close()


def test_serial_printer_missing_port_is_offline_and_print_raises():
    printer = serial_printer("/dev/does-not-exist-hallq", 9600, 0.1)
    assert printer.status() == "offline"
    with pytest.raises(DeviceFault):
        printer.print_job(b"x", "A001")


def test_serial_loop_url_transport_carries_the_bytes():
    printer = serial_printer("loop://", 9600, 0.1)
    job = render_escpos(ticket_layout(view(), 58))
    printer.print_job(job, "A012")
    port = printer.device.device
    port.timeout = 0.5
    assert port.read(len(job)) == job
    # loop:// only echoes our own DLE EOT, never a status byte: offline
    assert printer.status() == "offline"


def test_query_status_skips_echo_on_loop():
    import serial
    port = serial.serial_for_url("loop://", timeout=0.1)
    port.write(b"\x10")          # stray byte already waiting is discarded
    assert query_status(SerialLink(port), 0.1) == "offline"


# --- stub and the factory ----------------------------------------------------------------
def test_stub_printer_writes_bin_and_png(tmp_path):
    printer = make_printer(PrinterConfig(), stub=True, out_dir=str(tmp_path))
    layout = ticket_layout(view(), 80)
    printer.print_job(render_escpos(layout), "A012", layout)
    assert (tmp_path / "A012.bin").read_bytes().startswith(b"\x1b@\x1c&")
    assert Image.open(tmp_path / "A012.png").width == 576 + 48


def test_stub_printer_conditions():
    printer = StubPrinter()
    printer.set_condition("paper_out")
    assert printer.status() == "paper_out"
    with pytest.raises(DeviceFault):
        printer.print_job(b"x", "A001")
    with pytest.raises(ValueError):
        printer.set_condition("on_fire")
    assert printer.status() == "paper_out"
    printer.set_condition("paper_low")
    printer.print_job(b"x", "A001")
    assert printer.jobs[-1] == ("A001", b"x")


def test_factory_refuses_incomplete_transport():
    with pytest.raises(ConfigError, match="device"):
        make_printer(PrinterConfig(transport="serial"), stub=False)
    with pytest.raises(ConfigError, match="host"):
        make_printer(PrinterConfig(transport="network"), stub=False)


def test_network_printer_with_status(tmp_path):
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received = bytearray()

    def serve():
        conn, _ = server.accept()
        conn.settimeout(2)
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                received.extend(data)
                for i in range(len(data) - 2):
                    if data[i:i + 2] == b"\x10\x04":
                        conn.sendall(bytes([{1: 0x12, 2: 0x12, 4: 0x1E}[data[i + 2]]]))
        except OSError:
            return
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    printer = make_printer(PrinterConfig(transport="network", host="127.0.0.1",
                                         tcp_port=server.getsockname()[1]), stub=False)
    assert printer.status() == "paper_low"
    printer.print_job(b"\x1b@hello\n", "A001")
    printer.close()
    thread.join(3)
    server.close()
    assert b"\x1b@hello\n" in received


# --- widths measured by what is sent -------------------------------------------------
AMBIGUOUS = "·—–é°×①№€"


def printed_text_lines(data: bytes) -> list[bytes]:
    """The text lines a printer in Chinese mode receives at scale 1 (commands stripped)."""
    body = data.split(CHINESE_ON, 1)[1].split(CHINESE_OFF, 1)[0]
    lines = []
    for chunk in body.split(b"\n"):
        # drop ESC/GS/FS commands that start a chunk (alignment, size, bold)
        while chunk[:1] in (b"\x1b", b"\x1d") and len(chunk) >= 3:
            chunk = chunk[3:]
        if chunk and b"\x1d(k" not in chunk and b"\x1dv0" not in chunk:
            lines.append(chunk)
    return lines


@pytest.mark.parametrize("width_mm", [58, 80])
def test_ambiguous_characters_are_measured_as_printed_and_lines_fit_the_paper(width_mm):
    assert [text_columns(ch) for ch in AMBIGUOUS] == [2] * len(AMBIGUOUS)     # each goes out as 2 bytes
    assert all(len(ch.encode("gb18030")) == 2 for ch in AMBIGUOUS)
    notice = ("请留意叫号·过号请到服务台—谢谢 Please listen for your number ① No.№3 café 20°C 3×4 " * 3)
    layout = ticket_layout(view(notice=notice, hall_name="城东·供电营业厅 Café №1", service_name="缴费—Payment"),
                           width_mm)
    columns = PAPER[width_mm][1]
    lines = printed_text_lines(render_escpos(layout, "fs_and"))
    assert lines
    for line in lines:
        # in Chinese mode a line prints exactly as wide as its bytes: 1 column each
        assert len(line) <= columns, (len(line), line.decode("gb18030", "replace"))


def test_what_the_printer_cannot_print_is_a_question_mark_on_paper_and_preview():
    assert encode_text("¥20 😀 堃") == b"?20 ? " + "堃".encode("gb18030")
    assert text_columns("¥😀") == 2 and text_columns("堃") == 2
    from hallq.printer.layout import printed
    assert printed("¥") == "?" and printed("😀") == "?" and printed("·") == "·"


def test_qr_has_a_quiet_zone_of_four_modules_above_it():
    from hallq.printer.layout import LINE_DOTS
    layout = ticket_layout(view(qr_data="http://192.168.1.10:8080/t/abcdefghijklmnop"), 80)
    data = render_escpos(layout, "fs_and")
    before_qr = data[: data.index(b"\x1d(k")]
    feed = before_qr.rindex(b"\x1bd")
    lines = before_qr[feed + 2]
    assert lines * LINE_DOTS >= 4 * 6            # 6 dots a module on 80 mm


def test_outage_ticket_says_the_halls_own_outage_wording(tmp_path):
    """One wording per situation: the ticket's outage line is [hall.texts] outage, as on the screens."""
    from pathlib import Path

    from hallq.runtime.config import load_config
    from hallq.runtime.setup import setup_from_config
    from hallq.contract import TicketDoc
    from hallq.kiosk.tickets import TicketPrinting
    example = Path(__file__).resolve().parent.parent / "examples" / "hall.toml"
    path = tmp_path / "hall.toml"
    path.write_text(example.read_text("utf-8").replace(
        "[[service]]", '[hall.texts]\noutage = "系统升级中，业务照常办理"\noutage_en = "Upgrading systems"\n\n[[service]]', 1),
        "utf-8")
    config = load_config(path)
    printing = TicketPrinting(config, config.kiosk[0], setup_from_config(config), printer=None)  # type: ignore[arg-type]
    ticket = TicketDoc(number="A012", service="pay", outage=True, waiting_ahead=2, est_wait_s=300)
    layout = ticket_layout(printing.online_view(ticket, "pay", datetime(2026, 11, 23, 9, 30, tzinfo=TZ)), 80)
    texts = [b.text for b in layout.blocks if isinstance(b, Text)]
    assert "系统升级中，业务照常办理 Upgrading systems" in texts
    assert not any("系统维护" in t for t in texts)


def _unraster(data: bytes) -> list[tuple[int, int, bytes]]:
    """(width bytes, rows, bits) of each GS v 0 band in ``data``."""
    bands, i = [], 0
    while (i := data.find(b"\x1dv0\x00", i)) >= 0:
        wb, rows = data[i + 4] | data[i + 5] << 8, data[i + 6] | data[i + 7] << 8
        bands.append((wb, rows, data[i + 8: i + 8 + wb * rows]))
        i += 8 + wb * rows
    return bands


def test_gb2312_printer_gets_lines_it_cannot_print_as_pictures():
    from hallq.printer.escpos_render import in_gb2312
    assert in_gb2312("缴费 Payment 前面3人") and not in_gb2312("王喆的服务厅") and not in_gb2312("李堃")
    ticket = ticket_layout(view(hall_name="王喆便民服务厅", notice="请李堃到服务台 Please ask at the desk"), 80)
    bytes_gb2312 = render_escpos(ticket, "gb2312")
    bytes_fs = render_escpos(ticket, "fs_and")
    zhe, kun = "喆".encode("gb18030"), "堃".encode("gb18030")
    # a GBK font prints them as text; a GB2312-only one gets those two lines as pictures
    assert zhe in bytes_fs and kun in bytes_fs and b"\x1dv0" not in bytes_fs
    assert zhe not in bytes_gb2312 and kun not in bytes_gb2312
    assert len(_unraster(bytes_gb2312)) == 2
    assert "缴费".encode("gb2312") in bytes_gb2312 and bytes_gb2312.startswith(INIT_AND_CHINESE)


INIT_AND_CHINESE = b"\x1b@" + CHINESE_ON


def test_a_line_sent_as_a_picture_is_the_preview_of_that_line():
    from hallq.printer.escpos_render import line_raster
    from hallq.printer.layout import Layout, CELL_H
    text = Text("王喆便民服务厅", scale=2, align="center", bold=True)
    band = _unraster(line_raster(text.text, 2, "center", True, PAPER[80][0]))
    preview = render_image(Layout(80, (text,), cut=False), margin=0, draw_cut=False).convert("1")
    line = preview.crop((0, 0, PAPER[80][0], CELL_H * 2))
    expected = bytes(b ^ 0xFF for b in line.tobytes())
    (wb, rows, bits), = band
    assert (wb * 8, rows) == (PAPER[80][0], CELL_H * 2)
    assert bits == expected and any(bits)             # the same dots, and there are dots


# --- at the edges: GB2312 fonts, Latin words, QR size, device files, names once ------------------
def test_gb2312_is_what_the_font_holds_not_pythons_codec():
    from hallq.printer.escpos_render import gb2312_characters, in_gb2312
    assert len(gb2312_characters()) == 6763 + 682          # GB2312's hanzi and its other characters
    # · (A1A4) and — (A1AA) are in every GB2312 font; Python's gb2312 codec refuses them
    assert in_gb2312("城东·营业厅") and in_gb2312("缴费—现场")
    assert not in_gb2312("城东―营业厅")                     # U+2015: GB18030 sends A8 44, outside GB2312
    middle_dot = render_escpos(ticket_layout(view(hall_name="城东·营业厅", notice=""), 80), "gb2312")
    assert "城东·营业厅".encode("gb18030") in middle_dot and b"\xa1\xa4" in middle_dot
    assert not _unraster(middle_dot)                         # text, 527 bytes, not a 3,600-byte picture
    bar = render_escpos(ticket_layout(view(hall_name="城东―营业厅", notice=""), 80), "gb2312")
    assert b"\xa8\x44" not in bar and len(_unraster(bar)) == 1


@pytest.mark.parametrize("text", ["Gérant du Résumé", "Señor Müller, café crème", "Crédit agricole"])
def test_wrap_keeps_accented_latin_words_whole(text):
    for columns in range(8, 20):
        lines = wrap(text, columns)
        assert all(text_columns(line) <= columns for line in lines)
        assert {w for line in lines for w in line.split()} <= set(text.split()), (columns, lines)


def test_the_qr_is_sized_to_the_paper_with_its_quiet_zone_or_refused():
    from hallq.printer.layout import QUIET_MODULES, Qr, qr_module_dots, qr_modules
    short = "http://192.168.1.10:8080/t/" + "x" * 22
    assert qr_module_dots(short, 80) == 6 and qr_module_dots(short, 58) == 5
    long = "https://queue.example.com/a/rather/long/path/for/the/phone/pages/t/" + "x" * 40
    for width in (58, 80):
        dots = qr_module_dots(long, width)
        assert (qr_modules(long) + 2 * QUIET_MODULES) * dots <= PAPER[width][0]
        [qr] = [b for b in ticket_layout(view(qr_data=long), width).blocks if isinstance(b, Qr)]
        assert qr.module_dots == dots
    with pytest.raises(ValueError, match="does not fit 58 mm"):
        qr_module_dots("https://example.com/" + "x" * 600, 58)


def test_a_public_url_too_long_for_the_kiosks_paper_stops_the_kiosk_naming_the_key(tmp_path):
    from hallq.kiosk.main import check_qr_fits
    from hallq.runtime.config import load_config
    from hallq.testing import EXAMPLE_HALL
    text = EXAMPLE_HALL.read_text("utf-8")
    hall = tmp_path / "hall.toml"
    hall.write_text(text + '\n[web]\npublic_url = "https://example.com/' + "p" * 1500 + '"\n', "utf-8")
    config = load_config(hall)
    with pytest.raises(ConfigError) as err:
        check_qr_fits(config, config.kiosk[0])
    assert err.value.key == "web.public_url" and "shorter address" in err.value.expected
    hall.write_text(text + '\n[web]\npublic_url = "http://192.168.1.10:8080"\n', "utf-8")
    config = load_config(hall)
    check_qr_fits(config, config.kiosk[0])


def test_the_file_transport_never_creates_the_device_file(tmp_path):
    from hallq.printer.transport import file_printer
    gone = tmp_path / "lp0"                                  # the printer unplugged: no device node
    printer = file_printer(str(gone), 0.1)
    assert printer.status() == "offline"
    with pytest.raises(DeviceFault):
        printer.print_job(b"ticket", "A001")
    assert not gone.exists()
    gone.write_bytes(b"")                                    # plugged in again (a file stands in for the node)
    printer.print_job(b"ticket", "A002")
    assert gone.read_bytes() == b"ticket"


def test_a_name_is_printed_once_and_the_qr_says_what_it_is_for():
    layout = ticket_layout(view(service_name="缴费 Payment", service_name_en="Payment",
                                hall_name="城东供电营业厅 Chengdong Hall", hall_name_en="Chengdong Hall",
                                qr_data="http://192.168.1.10:8080/t/abc"), 80)
    texts = [b.text for b in layout.blocks if isinstance(b, Text)]
    assert sum("Payment" in t for t in texts) == 1 and sum("Chengdong Hall" in t for t in texts) == 1
    kinds = [type(b).__name__ for b in layout.blocks]
    caption = layout.blocks[kinds.index("Qr") + 1]
    assert isinstance(caption, Text) and caption.text == "扫码查看排队进度 Scan to follow your turn"
    both_names = ticket_layout(view(service_name="缴费", service_name_en="Payment"), 80)
    assert [b.text for b in both_names.blocks if isinstance(b, Text)][2:4] == ["缴费", "Payment"]
