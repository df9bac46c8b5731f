"""Render a :class:`~printer.layout.Layout` to a picture (Pillow), as the printer would print it.

Characters are laid out cell by cell like the printer's fonts (12x24 dots per half-width column,
24x24 per Chinese character, times the scale), wrapped by the same rule, so the PNG is a faithful
preview of the paper: same lines, same breaks, same widths (8 dots per mm), and large text
made by multiplying the dots of the base font, as the printer does.
"""
from __future__ import annotations

import os
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from .layout import (
    CELL_H,
    CELL_W,
    LINE_DOTS,
    MAX_SCALE,
    Feed,
    Layout,
    Qr,
    Rule,
    Text,
    char_columns,
    printed,
    quiet_lines,
    text_columns,
    wrap,
)

# (path, face index): Noto CJK face 2 is Simplified Chinese (face 0 is Japanese)
FONT_CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
]


def find_font() -> tuple[str, int] | None:
    override = os.environ.get("HALLQ_CJK_FONT")
    if override and os.path.exists(override):
        return override, 0
    for path, index in FONT_CANDIDATES:
        if os.path.exists(path):
            return path, index
    return None


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    found = find_font()
    if found is None:
        return ImageFont.load_default(size)
    path, index = found
    return ImageFont.truetype(path, size, index=index)


def _qr_image(data: str, module_dots: int) -> Image.Image:
    import qrcode
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=module_dots, border=0)
    code.add_data(data)
    code.make(fit=True)
    return code.make_image(fill_color="black", back_color="white").get_image().convert("L")


def render_image(layout: Layout, margin: int = 24, draw_cut: bool = True) -> Image.Image:
    """The ticket as a greyscale image, ``layout.dots`` wide plus ``margin`` each side."""
    ops: list[tuple[str, object, int]] = []   # (kind, payload, height)
    for block in layout.blocks:
        if isinstance(block, Text):
            scale = max(1, min(MAX_SCALE, block.scale))
            for line in wrap(block.text, layout.columns // scale):
                ops.append(("text", (line, scale, block.align, block.bold), CELL_H * scale + 6))
        elif isinstance(block, Rule):
            ops.append(("rule", block.char, CELL_H + 6))
        elif isinstance(block, Qr):
            qr = _qr_image(block.data, block.module_dots)
            ops.append(("feed", None, quiet_lines(block.module_dots) * LINE_DOTS))
            ops.append(("qr", qr, qr.height + 12))
        elif isinstance(block, Feed):
            ops.append(("feed", None, (CELL_H + 6) * max(0, block.lines)))
    cut_h = 24 if (layout.cut and draw_cut) else 0
    height = margin + sum(h for _, _, h in ops) + cut_h + margin // 2
    width = layout.dots + 2 * margin
    image = Image.new("L", (width, max(height, 1)), 255)
    draw = ImageDraw.Draw(image)
    y = margin
    for kind, payload, h in ops:
        if kind == "text":
            line, scale, align, bold = payload  # type: ignore[misc]
            draw_line(image, line, scale, align, bool(bold), margin, layout.dots, y)
        elif kind == "rule":
            mid = y + CELL_H // 2
            for x in range(margin, margin + layout.dots, 12):
                draw.line([(x, mid), (x + 6, mid)], fill=0, width=2)
        elif kind == "qr":
            qr = payload  # type: ignore[assignment]
            image.paste(qr, (margin + (layout.dots - qr.width) // 2, y + 6))  # type: ignore[union-attr]
        y += h
    if cut_h:
        for x in range(0, width, 16):
            draw.line([(x, y + 12), (x + 8, y + 12)], fill=128, width=1)
    return image


def draw_line(image: Image.Image, line: str, scale: int, align: str, bold: bool,
              left: int, dots: int, top: int) -> None:
    """One text line, cell by cell as the printer lays it out (the ESC/POS raster mode prints this too)."""
    cell_w = CELL_W * scale
    used = text_columns(line) * cell_w
    if align == "center":
        x = left + (dots - used) // 2
    elif align == "right":
        x = left + dots - used
    else:
        x = left
    for ch in map(printed, line):         # the preview shows "?" where the paper will
        w = char_columns(ch) * cell_w
        if ch != " ":
            glyph = _glyph(ch, bold)
            if scale > 1:
                # the printer enlarges its base font (GS !); so does the preview, smoothed
                glyph = _scaled(ch, bold, scale)
            image.paste(0, (x, top), glyph)
        x += w


@lru_cache(maxsize=2048)
def _glyph(ch: str, bold: bool) -> Image.Image:
    """One character as a 1-bit mask in its printer cell (12x24 or 24x24 dots).

    One font face at one size for everything: each extra FreeType size of a CJK face costs
    megabytes, and a kiosk should stay small.
    """
    cols = char_columns(ch)
    cell_w = CELL_W * cols
    font = _font(22)
    stroke = 1 if bold else 0
    box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), ch, font=font, stroke_width=stroke)
    glyph_w = box[2] - box[0]
    width = max(cell_w, glyph_w)
    mask = Image.new("L", (width, CELL_H), 0)
    top, bottom = _cjk_box()
    dy = (CELL_H - (bottom - top)) // 2 - top
    ImageDraw.Draw(mask).text(((width - glyph_w) // 2 - box[0], dy), ch, font=font, fill=255,
                              stroke_width=stroke, stroke_fill=255)
    if width > cell_w:                   # a wide Latin letter (m, W) is narrowed into its cell
        mask = mask.resize((cell_w, CELL_H), Image.Resampling.LANCZOS)
    return mask


@lru_cache(maxsize=64)
def _scaled(ch: str, bold: bool, scale: int) -> Image.Image:
    glyph = _glyph(ch, bold)
    big = glyph.resize((glyph.width * scale, glyph.height * scale), Image.Resampling.BICUBIC)
    return big.point(lambda v: 255 if v >= 128 else 0)


@lru_cache(maxsize=1)
def _cjk_box() -> tuple[int, int]:
    box = _font(22).getbbox("国")
    return int(box[1]), int(box[3])


def render_png(layout: Layout, path: str) -> None:
    tmp = path + ".tmp"
    render_image(layout).save(tmp, format="PNG")
    os.replace(tmp, path)
