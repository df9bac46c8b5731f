"""Render a :class:`~printer.layout.Layout` to ESC/POS bytes.

Chinese profiles (``[kiosk.printer] chinese``):

- ``fs_and`` (default): ``FS &`` switches the printer into its Chinese character mode, text goes
  out as GB18030 (two-byte GBK range), ``FS .`` leaves the mode at the end. The usual setting for
  the Chinese-market printers (Xprinter, GPrinter, Epson TM-T82 Chinese models ...).
- ``gb18030_only``: the printer is already in Chinese mode at power-on (some ship that way and
  print garbage after ``FS &``); text is GB18030 with no mode switch.
- ``gb2312``: like ``fs_and``, for printers whose Chinese font holds GB2312 only (6,763 characters:
  many older and cheaper models). A line with a character outside it (堃, 喆 and other characters
  of names and places, GBK-only symbols) would print wrong, so that line alone is drawn by
  :mod:`printer.png_render`, exactly as the preview shows it, and sent as a raster image.
- ``raster``: for printers without a Chinese font: the whole ticket is drawn by
  :mod:`printer.png_render` and sent as a raster image (``GS v 0``).

python-escpos's ``text()`` would send CJK without ``FS &`` and has no GB code page, so the bytes
are built here and handed to python-escpos transports raw.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

from .layout import CELL_W, MAX_SCALE, Feed, Layout, Qr, Rule, Text, printed, quiet_lines, text_columns, wrap

ESC, GS, FS, DLE, EOT, LF = b"\x1b", b"\x1d", b"\x1c", b"\x10", b"\x04", b"\n"
INIT = ESC + b"@"
CHINESE_ON = FS + b"&"
CHINESE_OFF = FS + b"."
CUT = GS + b"V" + bytes([66, 0])        # feed to the cutter, then partial cut
ALIGN = {"left": 0, "center": 1, "right": 2}

ChineseProfile = Literal["fs_and", "gb18030_only", "gb2312", "raster"]


@lru_cache(maxsize=1)
def gb2312_characters() -> frozenset[str]:
    """What a GB2312 printer font holds: every code GB2312 defines in its rows A1A1-F7FE, read as
    the printer reads the bytes it is sent (GB18030, whose two-byte codes contain GB2312's). Python's
    ``gb2312`` codec reads two of those codes its own way (A1A4 as U+30FB, A1AA as U+2015); the
    printer prints them as ``·`` (U+00B7) and ``—`` (U+2014), and has no glyph for U+2015, which
    GB18030 sends as A8 44, outside GB2312."""
    held = set()
    for first in range(0xA1, 0xF8):
        for second in range(0xA1, 0xFF):
            code = bytes((first, second))
            try:
                code.decode("gb2312")             # a code GB2312 defines (rows 10-15 and 88-94 are empty)
            except UnicodeDecodeError:
                continue
            held.add(code.decode("gb18030"))
    return frozenset(held)


def in_gb2312(text: str) -> bool:
    """Would a GB2312-only printer font print every character of ``text`` (as the layout measured it)?"""
    held = gb2312_characters()
    return all(ch < "\x80" or ch in held for ch in (printed(c) for c in text if c >= " " and c != "\x7f"))


def line_raster(line: str, scale: int, align: str, bold: bool, dots: int) -> bytes:
    """One text line drawn as the preview draws it, as ``GS v 0`` raster bytes."""
    from PIL import Image

    from .layout import CELL_H
    from .png_render import draw_line
    image = Image.new("L", (dots, CELL_H * scale), 255)
    draw_line(image, line, scale, align, bold, 0, dots, 0)
    return raster_bytes(image)


def encode_text(text: str) -> bytes:
    """GB18030 for the printer: ASCII as is, the rest as two bytes; what the printer has no glyph
    for becomes ``?`` (:func:`printer.layout.printed`, the same rule the widths are measured by)."""
    out = bytearray()
    for ch in text:
        if ch < " " or ch == "\x7f":
            continue                        # control bytes in data could change printer modes
        out += printed(ch).encode("gb18030")
    return bytes(out)


def size_byte(scale: int) -> bytes:
    scale = max(1, min(MAX_SCALE, scale))
    return GS + b"!" + bytes([((scale - 1) << 4) | (scale - 1)])


def qr_bytes(data: str, module_dots: int) -> bytes:
    """Native QR (``GS ( k``): model 2, error correction M, store, print."""
    payload = data.encode("utf-8")
    store_len = len(payload) + 3

    def fn(body: bytes) -> bytes:
        return GS + b"(k" + bytes([len(body) & 0xFF, len(body) >> 8]) + body

    return (fn(b"\x31\x41\x32\x00")                         # model 2
            + fn(b"\x31\x43" + bytes([max(1, min(16, module_dots))]))
            + fn(b"\x31\x45\x31")                           # error correction M
            + GS + b"(k" + bytes([store_len & 0xFF, store_len >> 8]) + b"\x31\x50\x30" + payload
            + fn(b"\x31\x51\x30"))                          # print the stored symbol


def render_escpos(layout: Layout, chinese: ChineseProfile = "fs_and") -> bytes:
    if chinese == "raster":
        from .png_render import render_image
        return INIT + raster_bytes(render_image(layout, margin=0, draw_cut=False)) + (CUT if layout.cut else b"")
    out = bytearray(INIT)
    if chinese in ("fs_and", "gb2312"):
        out += CHINESE_ON
    for block in layout.blocks:
        if isinstance(block, Text):
            scale = max(1, min(MAX_SCALE, block.scale))
            out += ESC + b"a" + bytes([ALIGN[block.align]])
            out += ESC + b"E" + bytes([1 if block.bold else 0])
            out += size_byte(scale)
            for line in wrap(block.text, layout.columns // scale):
                if chinese == "gb2312" and not in_gb2312(line):
                    # the picture of the line, then the same 6 dots of spacing a text line gets
                    out += line_raster(line, scale, block.align, block.bold, layout.dots) + ESC + b"J\x06"
                    continue
                out += encode_text(line) + LF
            out += size_byte(1) + ESC + b"E\x00"
        elif isinstance(block, Rule):
            out += ESC + b"a\x00" + encode_text(block.char * (layout.columns // max(1, text_columns(block.char)))) + LF
        elif isinstance(block, Qr):
            # a quiet zone of at least 4 modules above the code (below it, the feed that follows)
            out += ESC + b"d" + bytes([quiet_lines(block.module_dots)])
            out += ESC + b"a\x01" + qr_bytes(block.data, block.module_dots) + LF + ESC + b"a\x00"
        elif isinstance(block, Feed):
            out += ESC + b"d" + bytes([max(0, min(255, block.lines))])
    if chinese in ("fs_and", "gb2312"):
        out += CHINESE_OFF
    if layout.cut:
        out += CUT
    return bytes(out)


def raster_bytes(image) -> bytes:  # image: PIL.Image.Image
    """``GS v 0`` raster bands (at most 255 rows each: many printers' buffer limit)."""
    mono = image.convert("1")
    width, height = mono.size
    width_bytes = (width + 7) // 8
    # PIL "1" packs 8 pixels per byte, 1 = white; the printer wants 1 = black
    packed = bytes(b ^ 0xFF for b in mono.tobytes())
    row = width_bytes
    out = bytearray()
    for top in range(0, height, 255):
        rows = min(255, height - top)
        out += GS + b"v0\x00" + bytes([width_bytes & 0xFF, width_bytes >> 8, rows & 0xFF, rows >> 8])
        out += packed[top * row:(top + rows) * row]
    return bytes(out)


def dots_per_column(scale: int) -> int:
    return CELL_W * scale
