"""The screen's font: found, checked for every glyph the hall's texts need, and text surfaces cached.

A font without Chinese glyphs draws empty boxes where a hall's name should be; that is checked at
start (:func:`check_glyphs`) and refused with a message naming the font and the characters it lacks.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import pygame
import pygame.freetype

from hallq.errors import ConfigError
from hallq.runtime.config import Config

from .i18n import words

log = logging.getLogger(__name__)

Colour = tuple[int, int, int]

# (path, face index): Noto CJK .ttc face 0 is Japanese; face 2 is Simplified Chinese
FONT_CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc", 0),
]


def find_font(configured: str | None, where: str = "display.font", path: str = "<config>") -> tuple[str, int]:
    """The configured font, else Noto CJK SC, else WenQuanYi; a ConfigError when there is none."""
    if configured:
        if not Path(configured).is_file():
            raise ConfigError(path, where, f"a font file that exists, not {configured!r}")
        return configured, 2 if "NotoSansCJK" in configured and configured.endswith(".ttc") else 0
    for candidate, index in FONT_CANDIDATES:
        if os.path.isfile(candidate):
            return candidate, index
    raise ConfigError(path, where, "a CJK font file: none of Noto Sans CJK (fonts-noto-cjk) or WenQuanYi Zen Hei "
                                   "(fonts-wqy-zenhei) is installed, and a screen without one shows empty boxes")


def load_font(path: str, index: int) -> pygame.freetype.Font:
    return pygame.freetype.Font(path, 24, font_index=index)


def hall_texts(config: Config) -> Iterable[str]:
    """Every text the screen may draw that comes from the hall or from us."""
    hall = config.hall
    yield from (hall.name, hall.name_en)
    yield from (getattr(hall.texts, f) for f in hall.texts.__struct_fields__)
    for service in config.service:
        yield from (service.name, service.name_en)
    for counter in config.counter:
        yield counter.name
    for pair in words().values():
        yield from pair
    yield "年月日星期一二三四五六日号窗口◆→+0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ:"


def missing_glyphs(font: pygame.freetype.Font, texts: Iterable[str]) -> str:
    """The characters of ``texts`` the font has no glyph for (spaces and controls aside)."""
    wanted = sorted({ch for text in texts for ch in text if ch.isprintable() and not ch.isspace()})
    metrics = font.get_metrics("".join(wanted), size=24) if wanted else []
    return "".join(ch for ch, m in zip(wanted, metrics) if m is None)


def check_glyphs(font: pygame.freetype.Font, font_path: str, config: Config, where: str) -> None:
    missing = missing_glyphs(font, hall_texts(config))
    if missing:
        raise ConfigError(config.path or "<config>", where,
                          f"a font with every character the hall shows; {font_path} lacks {missing[:40]!r} "
                          "(install fonts-noto-cjk or fonts-wqy-zenhei, or set it to a CJK font)")


class TextCache:
    """Rendered text surfaces by (text, size, colour, bold, max width); least recently used dropped.

    ``max_w``: text wider than that is drawn smaller to fit; the size actually used is kept too,
    so a layout can be checked against minimum text heights.
    """

    def __init__(self, regular: pygame.freetype.Font, bold: pygame.freetype.Font, limit: int = 2048,
                 budget_bytes: int = 16 << 20) -> None:
        self.regular = regular
        self.bold = bold
        self.limit = limit
        self.budget_bytes = budget_bytes     # a screen's memory stays bounded whatever the notices say
        self.bytes = 0
        self.cache: OrderedDict[tuple[object, ...], tuple[pygame.Surface, int]] = OrderedDict()
        self.misses = 0

    def advance(self, text: str, size: float) -> int:
        """How far the pen moves drawing ``text`` (spaces included), without drawing it."""
        metrics = self.regular.get_metrics(text, size=max(6, int(size)))
        return round(sum(m[4] for m in metrics if m is not None))

    def get(self, text: str, size: float, colour: Colour, bold: bool = False,
            max_w: int | None = None) -> tuple[pygame.Surface, int]:
        size = max(6, int(size))
        key = (text, size, colour, bold, max_w)
        found = self.cache.get(key)
        if found is not None:
            self.cache.move_to_end(key)
            return found
        self.misses += 1
        font = self.bold if bold else self.regular
        surface, _ = font.render(text or " ", fgcolor=colour, size=size)
        used = size
        if max_w is not None and surface.get_width() > max_w > 0:
            used = max(6, int(size * max_w / surface.get_width()))
            surface, _ = font.render(text or " ", fgcolor=colour, size=used)
        surface = surface.convert_alpha() if pygame.display.get_surface() is not None else surface
        self.cache[key] = (surface, used)
        self.bytes += _bytes(surface)
        while len(self.cache) > 1 and (len(self.cache) > self.limit or self.bytes > self.budget_bytes):
            _, (old, _) = self.cache.popitem(last=False)
            self.bytes -= _bytes(old)
        return surface, used


def _bytes(surface: pygame.Surface) -> int:
    return surface.get_width() * surface.get_height() * 4
