"""Draws a :class:`~display.model.ViewModel` with pygame: landscape (1920×1080, 1280×720) or portrait.

Speed: every text surface is rendered once and cached (:class:`TextCache`); everything that does
not move (all but the clock, the flashing call panel and the notice ticker) is drawn onto a
"static" layer only when the view model's :meth:`~display.model.ViewModel.static_key` changes.
A frame is then one blit of that layer plus a handful of cached blits.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pygame
import pygame.freetype

from hall.errors import ConfigError

from .model import Banner, CounterTile, ServiceTile, ViewModel

log = logging.getLogger(__name__)

Colour = tuple[int, int, int]

DEFAULT_THEME: dict[str, str] = {
    "background": "#0b2545",
    "header": "#061a33",
    "panel": "#13315c",
    "panel_flash": "#d1495b",
    "text": "#ffffff",
    "muted": "#8da9c4",
    "accent": "#ffd166",      # ticket numbers
    "ok": "#06d6a0",
    "warn": "#f4a261",        # 暂停服务 / 暂停办理
    "alert": "#e63946",
    "outage": "#9d0208",
    "reconnecting": "#b5651d",
    "resumed": "#2a9d8f",
    "ticker": "#061a33",
    "line": "#1f4e89",
}

# (path, face index): Noto CJK .ttc face 0 is Japanese; face 2 is Simplified Chinese
FONT_CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc", 0),
]
BOLD_CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 2),
]


def parse_colour(value: str) -> Colour:
    text = value.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(value)
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def make_theme(overrides: dict[str, str], where: str = "display.theme", path: str = "<config>") -> dict[str, Colour]:
    """Default colours with the hall's overrides; a bad key or colour is a ConfigError."""
    theme: dict[str, Colour] = {}
    for key, value in {**DEFAULT_THEME, **overrides}.items():
        if key not in DEFAULT_THEME:
            raise ConfigError(path, f"{where}.{key}", f"one of {', '.join(DEFAULT_THEME)}")
        try:
            theme[key] = parse_colour(value)
        except ValueError:
            raise ConfigError(path, f"{where}.{key}", f'a colour "#rrggbb", not {value!r}') from None
    return theme


def find_font(configured: str | None) -> tuple[str | None, int]:
    """The configured font, else Noto CJK SC, else WenQuanYi; (None, 0) = pygame's own (no CJK)."""
    if configured:
        if not Path(configured).is_file():
            raise ConfigError("<config>", "display.font", f"a font file that exists, not {configured!r}")
        return configured, 2 if "NotoSansCJK" in configured and configured.endswith(".ttc") else 0
    for path, index in FONT_CANDIDATES:
        if os.path.isfile(path):
            return path, index
    log.warning("no CJK font found (install fonts-noto-cjk or fonts-wqy-zenhei): Chinese will not show")
    return None, 0


def _load_font(path: str | None, index: int) -> pygame.freetype.Font:
    if path is None:
        return pygame.freetype.Font(None, 24)
    return pygame.freetype.Font(path, 24, font_index=index)


class TextCache:
    """Rendered text surfaces by (text, size, colour, bold, max width); least recently used dropped."""

    def __init__(self, regular: pygame.freetype.Font, bold: pygame.freetype.Font, limit: int = 2048) -> None:
        self.regular = regular
        self.bold = bold
        self.limit = limit
        self.cache: OrderedDict[tuple[object, ...], pygame.Surface] = OrderedDict()
        self.misses = 0

    def get(self, text: str, size: float, colour: Colour, bold: bool = False, max_w: int | None = None) -> pygame.Surface:
        size = max(6, int(size))
        key = (text, size, colour, bold, max_w)
        surface = self.cache.get(key)
        if surface is not None:
            self.cache.move_to_end(key)
            return surface
        self.misses += 1
        font = self.bold if bold else self.regular
        surface, _ = font.render(text or " ", fgcolor=colour, size=size)
        if max_w is not None and surface.get_width() > max_w > 0:
            smaller = max(6, int(size * max_w / surface.get_width()))
            surface, _ = font.render(text or " ", fgcolor=colour, size=smaller)
        surface = surface.convert_alpha() if pygame.display.get_surface() is not None else surface
        self.cache[key] = surface
        if len(self.cache) > self.limit:
            self.cache.popitem(last=False)
        return surface


@dataclass
class Layout:
    width: int
    height: int
    portrait: bool
    u: float                       # one "design pixel" (1080 across the short side)
    header: pygame.Rect
    banners: list[pygame.Rect]
    body: pygame.Rect
    panel: pygame.Rect
    recent: pygame.Rect
    counters: pygame.Rect
    services: pygame.Rect
    ticker: pygame.Rect


def compute_layout(width: int, height: int, orientation: str, banners: tuple[Banner, ...]) -> Layout:
    portrait = height > width if orientation == "auto" else orientation == "portrait"
    u = min(width, height) / 1080
    header_h = int((120 if portrait else 104) * u)
    ticker_h = int(72 * u)
    header = pygame.Rect(0, 0, width, header_h)
    y = header_h
    banner_rects = []
    for banner in banners:
        h = int((170 if banner.kind == "outage" and banner.detail else 120 if banner.kind == "outage" else 76) * u)
        banner_rects.append(pygame.Rect(0, y, width, h))
        y += h
    ticker = pygame.Rect(0, height - ticker_h, width, ticker_h)
    m = int(20 * u)
    body = pygame.Rect(m, y + m, width - 2 * m, ticker.top - y - 2 * m)
    if portrait:
        heights = [0.34, 0.18, 0.27, 0.21]
        rects = []
        top = body.top
        for share in heights:
            h = int(body.height * share)
            rects.append(pygame.Rect(body.left, top, body.width, h - m))
            top += h
        panel, recent, counters, services = rects
    else:
        left_w = int(body.width * 0.56)
        left = pygame.Rect(body.left, body.top, left_w - m // 2, body.height)
        right = pygame.Rect(body.left + left_w + m // 2, body.top, body.width - left_w - m // 2, body.height)
        panel_h = int(left.height * 0.58)
        panel = pygame.Rect(left.left, left.top, left.width, panel_h - m // 2)
        services = pygame.Rect(left.left, left.top + panel_h + m // 2, left.width, left.height - panel_h - m // 2)
        recent_h = int(right.height * 0.42)
        recent = pygame.Rect(right.left, right.top, right.width, recent_h - m // 2)
        counters = pygame.Rect(right.left, right.top + recent_h + m // 2, right.width, right.height - recent_h - m // 2)
    return Layout(width, height, portrait, u, header, banner_rects, body, panel, recent, counters, services, ticker)


class Renderer:
    def __init__(self, surface: pygame.Surface, theme: dict[str, Colour], font_path: str | None = None,
                 font_index: int = 0, orientation: str = "auto", show_english: bool = True) -> None:
        self.surface = surface
        self.theme = theme
        self.orientation = orientation
        self.show_english = show_english
        regular = _load_font(font_path, font_index)
        bold = regular
        if font_path is not None and "NotoSansCJK-Regular" in font_path:
            bold_path = font_path.replace("Regular", "Bold")
            if os.path.isfile(bold_path):
                bold = _load_font(bold_path, font_index)
        self.text = TextCache(regular, bold)
        self.static: pygame.Surface | None = None
        self.static_key: int | None = None
        self.layout: Layout | None = None
        self.frames = 0

    # --- one frame --------------------------------------------------------------------------------
    def draw(self, vm: ViewModel, now: float) -> None:
        key = hash((vm.static_key(), self.surface.get_size()))
        if key != self.static_key or self.static is None:
            self.layout = compute_layout(*self.surface.get_size(), self.orientation, vm.banners)
            if self.static is None or self.static.get_size() != self.surface.get_size():
                # allocated once: a fresh full-screen surface costs more than drawing on it
                self.static = self.surface.copy()
            self._draw_static(self.static, vm, self.layout)
            self.static_key = key
        layout = self.layout
        assert layout is not None
        self.surface.blit(self.static, (0, 0))
        self._draw_clock(vm, layout)
        if vm.screen == "open":
            self._draw_panel(vm, layout, now)
        self._draw_ticker(vm, layout, now)
        self.frames += 1

    # --- the static layer -------------------------------------------------------------------------
    def _draw_static(self, layer: pygame.Surface, vm: ViewModel, layout: Layout) -> None:
        th, u = self.theme, layout.u
        layer.fill(th["background"])
        # header: hall name (and its English name), date; the clock is drawn per frame
        pygame.draw.rect(layer, th["header"], layout.header)
        pad = int(28 * u)
        name = self.text.get(vm.hall_name, 50 * u, th["text"], bold=True, max_w=int(layout.width * 0.6))
        if vm.hall_name_en and self.show_english:
            layer.blit(name, (pad, layout.header.top + int(8 * u)))
            en = self.text.get(vm.hall_name_en, 24 * u, th["muted"], max_w=int(layout.width * 0.6))
            layer.blit(en, (pad, layout.header.top + int(8 * u) + name.get_height() + int(4 * u)))
        else:
            layer.blit(name, name.get_rect(midleft=(pad, layout.header.centery)))
        date = self.text.get(vm.date_zh + ("   " + vm.date_en if self.show_english and not layout.portrait else ""),
                             24 * u, th["muted"])
        layer.blit(date, date.get_rect(bottomright=(layout.width - pad, layout.header.bottom - int(10 * u))))
        for banner, rect in zip(vm.banners, layout.banners):
            self._draw_banner(layer, banner, rect, u)
        pygame.draw.rect(layer, th["ticker"], layout.ticker)
        if vm.screen == "connecting":
            self._draw_centre(layer, layout, "正在连接排队系统…", "Connecting to the queue system…", th["muted"])
        elif vm.screen == "closed":
            self._draw_centre(layer, layout, "暂停营业", "Closed", th["warn"], vm.hours_zh,
                              vm.hours_en if self.show_english else "")
        else:
            self._card(layer, layout.panel)
            self._draw_recent(layer, vm, layout.recent, u)
            self._draw_counters(layer, vm.counters, layout.counters, u)
            self._draw_services(layer, vm.services, layout.services, u)

    def _card(self, layer: pygame.Surface, rect: pygame.Rect, colour: Colour | None = None) -> None:
        pygame.draw.rect(layer, colour or self.theme["panel"], rect, border_radius=int(rect.height * 0.04) or 1)

    def _title(self, layer: pygame.Surface, rect: pygame.Rect, zh: str, en: str, u: float) -> int:
        """Section title; returns the y below it."""
        th = self.theme
        pad = int(18 * u)
        title = self.text.get(zh, 30 * u, th["muted"], bold=True)
        layer.blit(title, (rect.left + pad, rect.top + pad))
        if en and self.show_english:
            sub = self.text.get(en, 22 * u, th["muted"])
            layer.blit(sub, sub.get_rect(bottomleft=(rect.left + pad + title.get_width() + int(12 * u),
                                                     rect.top + pad + title.get_height() - int(2 * u))))
        y = rect.top + pad + title.get_height() + int(8 * u)
        pygame.draw.line(layer, th["line"], (rect.left + pad, y), (rect.right - pad, y), max(1, int(2 * u)))
        return y + int(8 * u)

    def _draw_banner(self, layer: pygame.Surface, banner: Banner, rect: pygame.Rect, u: float) -> None:
        th = self.theme
        layer.fill(th.get(banner.kind, th["alert"]), rect)
        big = banner.kind == "outage"
        zh = self.text.get(banner.zh, (52 if big else 36) * u, th["text"], bold=True, max_w=rect.width - int(60 * u))
        lines = [zh]
        if self.show_english:
            lines.append(self.text.get(banner.en, (28 if big else 22) * u, th["text"], max_w=rect.width - int(60 * u)))
        if banner.detail:
            lines.append(self.text.get(banner.detail, 34 * u, th["accent"], bold=True, max_w=rect.width - int(60 * u)))
        if not big and len(lines) == 2:   # one row: "中文   English"
            total = lines[0].get_width() + int(30 * u) + lines[1].get_width()
            x = rect.centerx - total // 2
            layer.blit(lines[0], lines[0].get_rect(midleft=(x, rect.centery)))
            layer.blit(lines[1], lines[1].get_rect(midleft=(x + lines[0].get_width() + int(30 * u), rect.centery)))
            return
        height = sum(s.get_height() for s in lines) + int(4 * u) * (len(lines) - 1)
        y = rect.centery - height // 2
        for surf in lines:
            layer.blit(surf, surf.get_rect(midtop=(rect.centerx, y)))
            y += surf.get_height() + int(4 * u)

    def _draw_centre(self, layer: pygame.Surface, layout: Layout, zh: str, en: str, colour: Colour,
                     line3: str = "", line4: str = "") -> None:
        u, body = layout.u, layout.body
        surfs = [self.text.get(zh, 110 * u, colour, bold=True, max_w=body.width)]
        if self.show_english:
            surfs.append(self.text.get(en, 48 * u, self.theme["muted"], max_w=body.width))
        for line in (line3, line4):
            if line:
                surfs.append(self.text.get(line, 44 * u, self.theme["text"], max_w=body.width))
        gap = int(24 * u)
        y = body.centery - (sum(s.get_height() for s in surfs) + gap * (len(surfs) - 1)) // 2
        for surf in surfs:
            layer.blit(surf, surf.get_rect(midtop=(body.centerx, y)))
            y += surf.get_height() + gap

    def _draw_recent(self, layer: pygame.Surface, vm: ViewModel, rect: pygame.Rect, u: float) -> None:
        th = self.theme
        self._card(layer, rect)
        y = self._title(layer, rect, "最近叫号", "Recent calls", u)
        pad = int(18 * u)
        if not vm.recent:
            msg = self.text.get("暂无叫号  No calls yet", 26 * u, th["muted"])
            layer.blit(msg, (rect.left + pad, y + int(8 * u)))
            return
        columns = 3 if rect.width > 3 * rect.height else 2
        per_col = max(4, (len(vm.recent) + columns - 1) // columns)   # rows fill from the top
        row_h = max(1, (rect.bottom - y - pad) // per_col)
        col_w = (rect.width - 2 * pad) // columns
        size = min(row_h * 0.62, 44 * u)
        for i, call in enumerate(vm.recent):
            col, row = divmod(i, per_col)
            x = rect.left + pad + col * col_w
            cy = y + row * row_h + row_h // 2
            num = self.text.get(call.number, size, th["accent"], bold=True)
            layer.blit(num, num.get_rect(midleft=(x, cy)))
            where = self.text.get("→ " + call.counter_name, size * 0.85, th["text"],
                                  max_w=col_w - num.get_width() - int(24 * u))
            layer.blit(where, where.get_rect(midleft=(x + num.get_width() + int(14 * u), cy)))

    def _draw_counters(self, layer: pygame.Surface, counters: tuple[CounterTile, ...], rect: pygame.Rect,
                       u: float) -> None:
        th = self.theme
        self._card(layer, rect)
        y = self._title(layer, rect, "窗口", "Counters", u)
        if not counters:
            return
        pad = int(18 * u)
        n = len(counters)
        cols = 1 if n == 1 else 2 if n <= 4 else 3 if n <= 9 else 4
        rows = (n + cols - 1) // cols
        cell_w = (rect.width - 2 * pad) // cols
        cell_h = max(1, (rect.bottom - y - pad) // rows)
        gap = int(8 * u)
        for i, counter in enumerate(counters):
            row, col = divmod(i, cols)
            cell = pygame.Rect(rect.left + pad + col * cell_w, y + row * cell_h, cell_w - gap, cell_h - gap)
            bg = th["background"]
            pygame.draw.rect(layer, bg, cell, border_radius=int(10 * u) or 1)
            name_size = min(cell.height * 0.26, 30 * u)
            name = self.text.get(counter.name, name_size, th["text"], max_w=cell.width - int(16 * u))
            layer.blit(name, (cell.left + int(10 * u), cell.top + int(6 * u)))
            if self.show_english and cell.height > 90 * u:
                en = self.text.get(counter.name_en, name_size * 0.7, th["muted"], max_w=cell.width - int(16 * u))
                layer.blit(en, en.get_rect(topright=(cell.right - int(10 * u), cell.top + int(10 * u))))
            body_top = cell.top + name.get_height() + int(8 * u)
            centre = (cell.centerx, (body_top + cell.bottom) // 2)
            avail_h = cell.bottom - body_top
            if counter.number:
                num = self.text.get(counter.number, min(avail_h * 0.8, 64 * u), th["accent"], bold=True,
                                    max_w=cell.width - int(16 * u))
                layer.blit(num, num.get_rect(center=centre))
            else:
                colour = th["warn"] if counter.status == "suspended" else th["muted"]
                label = counter.label_zh + (f" {counter.label_en}" if self.show_english and counter.label_en else "")
                surf = self.text.get(label, min(avail_h * 0.45, 34 * u), colour, bold=counter.status == "suspended",
                                     max_w=cell.width - int(16 * u))
                layer.blit(surf, surf.get_rect(center=centre))

    def _draw_services(self, layer: pygame.Surface, services: tuple[ServiceTile, ...], rect: pygame.Rect,
                       u: float) -> None:
        th = self.theme
        self._card(layer, rect)
        y = self._title(layer, rect, "业务  等候人数  预计等候", "Services · waiting · est. wait", u)
        if not services:
            return
        pad = int(18 * u)
        row_h = max(1, min(int(96 * u), (rect.bottom - y - pad) // len(services)))
        size = min(row_h * 0.42, 36 * u)
        w = rect.width - 2 * pad
        for i, service in enumerate(services):
            top = y + i * row_h
            cy = top + row_h // 2
            x = rect.left + pad
            badge = pygame.Rect(x, cy - int(row_h * 0.38), int(row_h * 0.76), int(row_h * 0.76))
            pygame.draw.rect(layer, th["muted"] if service.suspended else th["accent"], badge,
                             border_radius=int(8 * u) or 1)
            letter = self.text.get(service.prefix or "?", badge.height * 0.7, th["background"], bold=True)
            layer.blit(letter, letter.get_rect(center=badge.center))
            name_x = badge.right + int(14 * u)
            colour = th["muted"] if service.suspended else th["text"]
            name = self.text.get(service.name, size, colour, max_w=int(w * 0.42))
            layer.blit(name, name.get_rect(midleft=(name_x, cy - (int(size * 0.35) if service.name_en else 0))))
            if service.name_en and self.show_english and service.name_en not in service.name:
                en = self.text.get(service.name_en, size * 0.6, th["muted"], max_w=int(w * 0.42))
                layer.blit(en, en.get_rect(midleft=(name_x, cy + int(size * 0.55))))
            right_x = rect.left + pad + int(w * 0.58)
            if service.suspended:
                label = service.label_zh + (f"  {service.label_en}" if self.show_english else "")
                surf = self.text.get(label, size, th["warn"], bold=True, max_w=rect.right - pad - right_x)
                layer.blit(surf, surf.get_rect(midleft=(right_x, cy)))
                continue
            waiting = self.text.get(f"{service.waiting}", size * 1.2, th["accent"], bold=True)
            layer.blit(waiting, waiting.get_rect(midright=(right_x + int(w * 0.08), cy)))
            unit = self.text.get("人" + (" waiting" if self.show_english else ""), size * 0.6, th["muted"])
            layer.blit(unit, unit.get_rect(midleft=(right_x + int(w * 0.08) + int(6 * u), cy)))
            est = service.est_zh + (f" / {service.est_en}" if self.show_english and service.est_en else "")
            est_surf = self.text.get(est, size * 0.7, th["text"], max_w=rect.right - pad - (right_x + int(w * 0.2)))
            layer.blit(est_surf, est_surf.get_rect(midright=(rect.right - pad, cy)))
            if i < len(services) - 1:
                pygame.draw.line(layer, th["line"], (x, top + row_h), (rect.right - pad, top + row_h), 1)

    # --- moving parts ---------------------------------------------------------------------------
    def _draw_clock(self, vm: ViewModel, layout: Layout) -> None:
        u = layout.u
        clock = self.text.get(vm.clock, 52 * u, self.theme["text"], bold=True)
        self.surface.blit(clock, clock.get_rect(topright=(layout.width - int(28 * u), layout.header.top + int(4 * u))))

    def _draw_panel(self, vm: ViewModel, layout: Layout, now: float) -> None:
        th, u, rect = self.theme, layout.u, layout.panel
        panel = vm.panel
        if panel is None:
            y = self._title(self.surface, rect, "正在叫号", "Now calling", u)
            msg = self.text.get("暂无叫号", 60 * u, th["muted"])
            self.surface.blit(msg, msg.get_rect(center=(rect.centerx, (y + rect.bottom) // 2)))
            return
        flash_on = panel.flashing and int(now * 2) % 2 == 0
        if flash_on:
            self._card(self.surface, rect, th["panel_flash"])
        y = self._title(self.surface, rect, "再次呼叫" if panel.recall else "正在叫号",
                        "Recall" if panel.recall else "Now calling", u)
        inner_h = rect.bottom - y
        number = self.text.get(panel.number, min(inner_h * 0.5, 240 * u), th["text"] if flash_on else th["accent"],
                               bold=True, max_w=rect.width - int(40 * u))
        ny = y + int(inner_h * 0.04)
        self.surface.blit(number, number.get_rect(midtop=(rect.centerx, ny)))
        where = self.text.get(f"请到 {panel.counter_name}", min(inner_h * 0.17, 80 * u), th["text"], bold=True,
                              max_w=rect.width - int(40 * u))
        wy = ny + number.get_height() + int(18 * u)
        self.surface.blit(where, where.get_rect(midtop=(rect.centerx, wy)))
        wy += where.get_height() + int(4 * u)
        if self.show_english:
            en = self.text.get(f"Number {panel.number}, please go to {panel.counter_name_en}",
                               min(inner_h * 0.085, 36 * u), th["text"] if flash_on else th["muted"],
                               max_w=rect.width - int(40 * u))
            self.surface.blit(en, en.get_rect(midtop=(rect.centerx, wy)))
        if panel.service_name:
            svc = self.text.get(panel.service_name, 24 * u, th["muted"], max_w=int(rect.width * 0.5))
            self.surface.blit(svc, svc.get_rect(bottomleft=(rect.left + int(18 * u), rect.bottom - int(12 * u))))
        if panel.queued:
            more = self.text.get(f"+{panel.queued}", 30 * u, th["accent"], bold=True)
            self.surface.blit(more, more.get_rect(bottomright=(rect.right - int(18 * u), rect.bottom - int(10 * u))))

    def _draw_ticker(self, vm: ViewModel, layout: Layout, now: float) -> None:
        if not vm.notices:
            return
        th, u, rect = self.theme, layout.u, layout.ticker
        text = "      ◆      ".join(vm.notices)
        surf = self.text.get(text, 34 * u, th["text"])
        y = rect.centery - surf.get_height() // 2
        if surf.get_width() <= rect.width - int(60 * u):
            self.surface.blit(surf, surf.get_rect(center=rect.center))
            return
        speed = 140 * u                              # pixels per second
        span = surf.get_width() + rect.width // 3
        x = rect.right - int(now * speed) % span
        clip = self.surface.get_clip()
        self.surface.set_clip(rect)
        self.surface.blit(surf, (x, y))
        if x + span < rect.right:
            self.surface.blit(surf, (x + span, y))
        self.surface.set_clip(clip)
