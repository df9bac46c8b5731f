"""Draws a :class:`~display.model.ViewModel` with pygame, on the geometry of :mod:`display.layout`.

Speed: text surfaces are rendered once and cached (:class:`~display.fonts.TextCache`); everything
that does not move (all but the clock, the live calls, which flash, and the notice ticker) is drawn
onto a "static" layer only when the view model's :meth:`~display.model.ViewModel.static_key`
changes. A frame is then one blit of that layer plus a handful of cached blits.

Every text drawn is recorded in :attr:`Renderer.boxes` (what it is, where, at which size), so tests
can check that no two texts overlap, that all stay inside the overscan margin and that none is
smaller than :data:`display.layout.MIN_TEXT` allows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pygame
import pygame.freetype

from .fonts import Colour, TextCache, load_font
from .i18n import pair, t
from .layout import MIN_TEXT, Layout, compute_layout, recall_band
from .model import CallView, CounterTile, RecentView, ServiceTile, ViewModel
from .theme import make_theme  # noqa: F401 - the app and tools take it from here

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Box:
    kind: str          # a key of display.layout.MIN_TEXT
    rect: pygame.Rect
    size: int          # em size drawn, after any shrinking to fit
    text: str


class Renderer:
    def __init__(self, surface: pygame.Surface, theme: dict[str, Colour], font_path: str, font_index: int = 0,
                 orientation: str = "auto", show_english: bool = True, overscan: float = 0.03) -> None:
        self.surface = surface
        self.theme = theme
        self.orientation = orientation
        self.show_english = show_english
        self.overscan = overscan
        regular = load_font(font_path, font_index)
        bold = regular
        if "NotoSansCJK-Regular" in font_path:
            bold_path = font_path.replace("Regular", "Bold")
            try:
                bold = load_font(bold_path, font_index)
            except (OSError, FileNotFoundError):
                pass
        self.text = TextCache(regular, bold)
        self.static: pygame.Surface | None = None
        self.static_key: int | None = None
        self.layout: Layout | None = None
        self.static_boxes: list[Box] = []
        self.frame_boxes: list[Box] = []
        self._boxes = self.static_boxes
        self._ticker_key: tuple[Any, ...] | None = None
        self._ticker: tuple[list[tuple[int, int, str]], int] = ([], 0)
        self.frames = 0

    @property
    def boxes(self) -> list[Box]:
        return self.static_boxes + self.frame_boxes

    # --- one frame --------------------------------------------------------------------------------
    def draw(self, vm: ViewModel, now: float) -> None:
        key = hash((vm.static_key(), self.surface.get_size()))
        if key != self.static_key or self.static is None:
            self.layout = compute_layout(
                *self.surface.get_size(), self.orientation, n_counters=len(vm.counters),
                n_services=len(vm.services), banners=tuple((b.kind, bool(b.en and self.show_english))
                                                           for b in vm.banners),
                notices=bool(vm.notices), overscan=self.overscan)
            if self.static is None or self.static.get_size() != self.surface.get_size():
                self.static = self.surface.copy()    # allocated once: a fresh surface costs more than drawing
            self.static_boxes.clear()
            self._boxes = self.static_boxes
            self._draw_static(self.static, vm, self.layout)
            self.static_key = key
        layout = self.layout
        assert layout is not None
        self.surface.blit(self.static, (0, 0))
        self.frame_boxes.clear()
        self._boxes = self.frame_boxes
        self._draw_clock(vm, layout)
        if vm.screen == "open":
            self._draw_calls(self.surface, vm, layout, now)
        self._draw_ticker(vm, layout, now)
        self.frames += 1

    def _put(self, layer: pygame.Surface, kind: str, text: str, size: float, colour: Colour, *, bold: bool = False,
             max_w: float | None = None, record: bool = True, **anchor: Any) -> pygame.Rect:
        surface, used = self.text.get(text, size, colour, bold, None if max_w is None else int(max_w))
        rect = surface.get_rect(**anchor)
        layer.blit(surface, rect)
        if record and text.strip():
            self._boxes.append(Box(kind, rect, used, text))
        return rect

    # --- the static layer -------------------------------------------------------------------------
    def _draw_static(self, layer: pygame.Surface, vm: ViewModel, layout: Layout) -> None:
        th, u = self.theme, layout.u
        layer.fill(th["background"])
        header = layout.header
        pygame.draw.rect(layer, th["header"], pygame.Rect(0, 0, layout.width, header.bottom))
        pad = round(12 * u)
        english = bool(vm.hall_name_en and self.show_english)
        name_y = header.top + pad if english else header.centery
        anchor = {"topleft": (header.left + pad, name_y)} if english else {"midleft": (header.left + pad, name_y)}
        name = self._put(layer, "any", vm.hall_name, 44 * u, th["text"], bold=True, max_w=header.w * 0.55, **anchor)
        if english:
            self._put(layer, "any", vm.hall_name_en, 22 * u, th["muted"], max_w=header.w * 0.55,
                      topleft=(name.left, name.bottom + round(4 * u)))
        date = vm.date_zh + ("   " + vm.date_en if self.show_english and not layout.portrait else "")
        self._put(layer, "any", date, 22 * u, th["muted"], max_w=header.w * 0.4,
                  bottomright=(header.right - pad, header.bottom - pad))
        for banner, rect in zip(vm.banners, layout.banners):
            self._draw_banner(layer, banner.kind, banner.zh, banner.en if self.show_english else "", rect, u)
        if layout.ticker is not None:
            pygame.draw.rect(layer, th["ticker"], pygame.Rect(0, layout.ticker.top, layout.width,
                                                              layout.height - layout.ticker.top))
        if vm.screen != "open":
            self._draw_centre(layer, layout, vm)
            return
        self._section(layer, layout.calls, *pair("now_calling"), u)
        if layout.recent is not None:
            self._draw_recent(layer, vm.recent, layout.recent, u)
        self._draw_counters(layer, vm.counters, layout, u)
        self._draw_services(layer, vm.services, layout, u)

    def _section(self, layer: pygame.Surface, rect: pygame.Rect, zh: str, en: str, u: float, extra: str = "") -> int:
        """A card with its title; returns the y below the title's rule."""
        th = self.theme
        pygame.draw.rect(layer, th["panel"], rect, border_radius=max(1, round(10 * u)))
        pad = round(12 * u)
        title = self._put(layer, "any", zh, 28 * u, th["muted"], bold=True, topleft=(rect.left + pad, rect.top + pad))
        if en and self.show_english:
            self._put(layer, "any", en, 20 * u, th["muted"], max_w=rect.w * 0.4,
                      bottomleft=(title.right + round(12 * u), title.bottom))
        if extra:
            self._put(layer, "any", extra, 24 * u, th["accent"], bold=True, midright=(rect.right - pad, title.centery))
        y = rect.top + round(44 * u)
        pygame.draw.line(layer, th["line"], (rect.left + pad, y), (rect.right - pad, y), max(1, round(2 * u)))
        return rect.top + round(50 * u)

    def _draw_banner(self, layer: pygame.Surface, kind: str, zh: str, en: str, rect: pygame.Rect, u: float) -> None:
        th = self.theme
        layer.fill(th.get(kind, th["alert"]), pygame.Rect(0, rect.top, layer.get_width(), rect.h))
        width = rect.w - round(40 * u)
        if kind == "outage":
            if en:
                zh_rect = self._put(layer, "any", zh, 52 * u, th["text"], bold=True, max_w=width,
                                    midbottom=(rect.centerx, rect.top + round(74 * u)))
                self._put(layer, "any", en, 28 * u, th["text"], max_w=width,
                          midtop=(rect.centerx, zh_rect.bottom + round(8 * u)))
            else:
                self._put(layer, "any", zh, 52 * u, th["text"], bold=True, max_w=width, center=rect.center)
            return
        zh_s, _ = self.text.get(zh, 34 * u, th["text"], True, int(width * 0.6))
        en_s, _ = self.text.get(en or " ", 24 * u, th["text"], False, int(width * 0.38))
        gap = round(30 * u) if en else 0
        x = rect.centerx - (zh_s.get_width() + gap + (en_s.get_width() if en else 0)) // 2
        left = self._put(layer, "any", zh, 34 * u, th["text"], bold=True, max_w=width * 0.6, midleft=(x, rect.centery))
        if en:
            self._put(layer, "any", en, 24 * u, th["text"], max_w=width * 0.38, midleft=(left.right + gap, rect.centery))

    def _draw_centre(self, layer: pygame.Surface, layout: Layout, vm: ViewModel) -> None:
        u, th = layout.u, self.theme
        area = pygame.Rect(layout.safe.x, layout.header.bottom, layout.safe.w,
                           (layout.ticker.top if layout.ticker else layout.safe.bottom) - layout.header.bottom)
        lines = [("any", vm.title_zh, 110 * u, th["warn"] if vm.screen == "closed" else th["muted"], True)]
        if self.show_english:
            lines.append(("any", vm.title_en, 48 * u, th["muted"], False))
        if vm.screen == "closed":
            lines.append(("any", vm.hours_zh, 44 * u, th["text"], False))
            if self.show_english:
                lines.append(("any", vm.hours_en, 36 * u, th["text"], False))
        heights = [self.text.get(text, size, colour, bold, area.w)[0].get_height() for _, text, size, colour, bold in lines]
        gap = round(24 * u)
        y = area.centery - (sum(heights) + gap * (len(lines) - 1)) // 2
        for (kind, text, size, colour, bold), h in zip(lines, heights):
            self._put(layer, kind, text, size, colour, bold=bold, max_w=area.w, midtop=(area.centerx, y))
            y += h + gap

    def _draw_recent(self, layer: pygame.Surface, recent: tuple[RecentView, ...], rect: pygame.Rect, u: float) -> None:
        th = self.theme
        y = self._section(layer, rect, *pair("recent_calls"), u)
        pad = round(12 * u)
        if not recent:
            self._put(layer, "any", "  ".join(pair("none")) if self.show_english else t("zh", "none"), 24 * u, th["muted"], midleft=(rect.left + pad, (y + rect.bottom) // 2))
            return
        for call, slot in zip(recent, self.layout.recent_slots()):
            x, cy = slot.left, slot.centery
            num = self._put(layer, "tile_number", call.number, 30 * u, th["accent"], bold=True, midleft=(x, cy))
            self._put(layer, "any", "→ " + call.counter_name, 24 * u, th["text"],
                      max_w=slot.w - num.w - 24 * u, midleft=(num.right + round(10 * u), cy))

    def _draw_counters(self, layer: pygame.Surface, counters: tuple[CounterTile, ...], layout: Layout,
                       u: float) -> None:
        th = self.theme
        self._section(layer, layout.counters, *pair("counters"), u)
        for counter, cell in zip(counters, layout.counter_cells()):
            border = th["warn"] if counter.status == "suspended" else th["background"]
            pygame.draw.rect(layer, th["background"], cell, border_radius=max(1, round(8 * u)))
            if counter.status == "suspended":
                pygame.draw.rect(layer, border, cell, max(1, round(3 * u)), border_radius=max(1, round(8 * u)))
            if layout.compact_tiles:
                self._compact_tile(layer, counter, cell, u)
            else:
                self._full_tile(layer, counter, cell, u)

    def _label(self, counter: CounterTile) -> tuple[str, Colour]:
        colour = self.theme["warn"] if counter.status == "suspended" else self.theme["muted"]
        return counter.label_zh, colour

    def _full_tile(self, layer: pygame.Surface, counter: CounterTile, cell: pygame.Rect, u: float) -> None:
        th = self.theme
        inset = round(8 * u)
        name_size = min(cell.h * 0.26, 30 * u)
        name = self._put(layer, "tile_name", counter.name, name_size, th["text"], max_w=cell.w * 0.6 - inset,
                         topleft=(cell.left + inset, cell.top + inset))
        if self.show_english and cell.w >= 250 * u:
            self._put(layer, "any", counter.name_en, 18 * u, th["muted"], max_w=cell.w * 0.4 - 2 * inset,
                      midright=(cell.right - inset, name.centery))
        body = pygame.Rect(cell.left, name.bottom, cell.w, cell.bottom - name.bottom)
        if counter.number:
            self._put(layer, "tile_number", counter.number, min(body.h * 0.7, 64 * u), th["accent"], bold=True,
                      max_w=cell.w - 2 * inset, center=body.center)
            return
        label, colour = self._label(counter)
        text = label + (f" {counter.label_en}" if self.show_english and counter.label_en and cell.w >= 260 * u else "")
        self._put(layer, "tile_name", text, min(body.h * 0.4, 30 * u), colour, bold=counter.status == "suspended",
                  max_w=cell.w - 2 * inset, center=body.center)

    def _compact_tile(self, layer: pygame.Surface, counter: CounterTile, cell: pygame.Rect, u: float) -> None:
        th = self.theme
        inset = round(8 * u)
        short = counter.name_en.removeprefix("Counter ") + "号" if counter.name_en.startswith("Counter ") \
            and counter.name_en[8:].isdigit() else counter.name
        name = self._put(layer, "tile_name", short, min(cell.h * 0.46, 28 * u), th["text"], max_w=cell.w * 0.42,
                         midleft=(cell.left + inset, cell.centery))
        room = cell.right - inset - name.right - inset
        if counter.number:
            self._put(layer, "tile_number", counter.number, min(cell.h * 0.62, 40 * u), th["accent"], bold=True,
                      max_w=room, midright=(cell.right - inset, cell.centery))
            return
        label, colour = self._label(counter)
        self._put(layer, "tile_name", label, min(cell.h * 0.44, 24 * u), colour, bold=counter.status == "suspended",
                  max_w=room, midright=(cell.right - inset, cell.centery))

    def _draw_services(self, layer: pygame.Surface, services: tuple[ServiceTile, ...], layout: Layout, u: float) -> None:
        self._section(layer, layout.services, *pair("services_header"), u)
        if not services:
            return
        for service, cell in zip(services, layout.service_cells()):
            self._service_row(layer, service, cell, u)

    def _service_row(self, layer: pygame.Surface, service: ServiceTile, cell: pygame.Rect, u: float) -> None:
        th = self.theme
        rh, cy = cell.h, cell.centery
        side = round(rh * 0.7)
        badge = pygame.Rect(cell.left, cy - side // 2, side, side)
        pygame.draw.rect(layer, th["muted"] if service.suspended else th["accent"], badge, border_radius=max(1, round(8 * u)))
        self._put(layer, "any", service.prefix or "?", side * 0.6, th["background"], bold=True, center=badge.center)
        rest = cell.right - badge.right - round(10 * u)
        narrow = cell.w < 520 * u                 # two columns of services: no room for English
        name_w = rest * (0.33 if narrow else 0.38)
        x = badge.right + round(10 * u)
        colour = th["muted"] if service.suspended else th["text"]
        english = bool(self.show_english and not narrow and service.name_en and service.name_en not in service.name
                       and rh * 0.26 >= 18 * u)
        name = self._put(layer, "service_name", service.name, rh * 0.42, colour, max_w=name_w,
                         **({"bottomleft": (x, cy + round(rh * 0.08))} if english else {"midleft": (x, cy)}))
        if english:
            self._put(layer, "any", service.name_en, rh * 0.26, th["muted"], max_w=name_w, topleft=(x, name.bottom + 2))
        right = x + name_w + round(10 * u)
        if service.suspended:
            label = service.label_zh + (f"  {service.label_en}" if self.show_english and not narrow else "")
            self._put(layer, "est_wait", label, rh * 0.4, th["warn"], bold=True, max_w=cell.right - right,
                      midleft=(right, cy))
            return
        count_w = rest * 0.24
        count = self._put(layer, "waiting", str(service.waiting), rh * 0.64, th["accent"], bold=True,
                          max_w=count_w * (0.95 if narrow else 0.65),
                          midright=(right + count_w * (0.95 if narrow else 0.65), cy))
        if not narrow:
            self._put(layer, "any", t("zh", "persons"), rh * 0.3, th["muted"], midleft=(count.right + round(4 * u), cy + round(rh * 0.08)))
        est_x = right + count_w + round(8 * u)
        width = cell.right - est_x
        if self.show_english and service.est_en and width >= 260 * u and rh >= 88 * u:
            est = self._put(layer, "est_wait", service.est_zh, rh * 0.36, th["text"], max_w=width,
                            bottomright=(cell.right, cy + round(rh * 0.04)))
            self._put(layer, "any", service.est_en, rh * 0.22, th["muted"], max_w=width, topright=(cell.right, est.bottom + 2))
        else:
            self._put(layer, "est_wait", service.est_zh, rh * 0.4, th["text"], max_w=width, midright=(cell.right, cy))

    # --- moving parts ---------------------------------------------------------------------------
    def _draw_clock(self, vm: ViewModel, layout: Layout) -> None:
        u, header = layout.u, layout.header
        self._put(self.surface, "any", vm.clock, 44 * u, self.theme["text"], bold=True,
                  topright=(header.right - round(12 * u), header.top + round(6 * u)))

    def _draw_calls(self, surface: pygame.Surface, vm: ViewModel, layout: Layout, now: float) -> None:
        th, u, rect, grid = self.theme, layout.u, layout.calls, layout.call_grid
        top = rect.top + round(50 * u)
        pad = round(12 * u)
        if not vm.calls:
            self._put(surface, "call_where", t("zh", "no_calls") + ("  " + t("en", "no_calls") if self.show_english else ""), 48 * u,
                      th["muted"], max_w=rect.w - 2 * pad, center=(rect.centerx, (top + rect.bottom) // 2))
            return
        shown = vm.calls[: grid.cells]
        unseen = len(vm.calls) - len(shown)
        if unseen:       # more live calls than cards (flashing or not): the rest are on their counters' tiles
            self._put(surface, "any", t("zh", "more_calls", n=unseen) + ("  " + t("en", "more_calls", n=unseen) if self.show_english else ""), 24 * u,
                      th["accent"], bold=True, midright=(rect.right - pad, rect.top + round(26 * u)))
        blink_on = int(now * 2) % 2 == 0
        for call, card in zip(shown, layout.call_cards(len(shown))):
            self._call_card(surface, call, card, u, call.flashing and blink_on)

    def _call_card(self, surface: pygame.Surface, call: CallView, card: pygame.Rect, u: float, lit: bool) -> None:
        th = self.theme
        pygame.draw.rect(surface, th["panel_flash"] if lit else th["background"], card, border_radius=max(1, round(10 * u)))
        inset = round(10 * u)
        english = self.show_english and card.h >= 250 * u
        # a recall's label gets a band of its own above the number, large enough to read across the hall
        band = recall_band(card.h, u) if call.recall else 0
        body_h = card.h - band
        number_h = body_h * (0.5 if english else 0.56)
        number_size = min(number_h * 0.92, 230 * u)
        # large texts keep a tenth of their size clear on each side: side by side, two cards' numbers
        # stay apart by a quarter of their height, not read as one ("B050B049")
        side = max(inset, round(0.1 * number_size))
        number = self._put(surface, "call_number", call.number, number_size,
                           th["text"] if lit else th["accent"], bold=True, max_w=card.w - 2 * side,
                           midbottom=(card.centerx, card.top + band + round(number_h)))
        if call.recall:
            self._put(surface, "recall", t("zh", "recall") + (" " + t("en", "recall") if self.show_english else ""),
                      band * 0.8, th["text"], bold=True, max_w=card.w - 2 * inset,
                      midtop=(card.centerx, card.top + round(band * 0.1)))
        where_h = card.h * (0.26 if english else 0.34)
        where_size = min(where_h * 0.8, 90 * u)
        where = self._put(surface, "call_where", t("zh", "go_to", counter=call.counter_name), where_size, th["text"],
                          bold=True, max_w=card.w - 2 * max(inset, round(0.1 * where_size)),
                          midtop=(card.centerx, number.bottom + round(8 * u)))
        below, small = where.bottom, min(card.h * 0.1, 34 * u)
        # a journey's step, where the card has room for it at a readable size (the phone page and the
        # ticket say it too; the number and the window are what must be read from across the hall)
        if call.step and small >= MIN_TEXT["call_step"] * u and below + round(6 * u) + small <= card.bottom:
            below = self._put(surface, "call_step", call.step, small, th["text"] if lit else th["accent"],
                              bold=True, max_w=card.w - 2 * inset, midtop=(card.centerx, below + round(6 * u))).bottom
        if english and below + small <= card.bottom:
            self._put(surface, "any", t("en", "call_line", number=call.number, counter=call.counter_name_en),
                      small, th["text"] if lit else th["muted"], max_w=card.w - 2 * inset,
                      midtop=(card.centerx, below + round(6 * u)))

    def _draw_ticker(self, vm: ViewModel, layout: Layout, now: float) -> None:
        """Notices scroll along the bottom. Drawn in pieces of a few words, and only the pieces in
        sight: ten notices of 500 characters cost no more memory than one line."""
        if not vm.notices or layout.ticker is None:
            return
        th, u, rect = self.theme, layout.u, layout.ticker
        size = 32 * u
        if self._ticker_key != (vm.notices, size):
            self._ticker_key = (vm.notices, size)
            self._ticker = _ticker_pieces(vm.notices, lambda text: self.text.advance(text, size))
        pieces, total = self._ticker
        if total <= rect.width:
            self._put(self.surface, "any", "      ◆      ".join(vm.notices), size, th["text"], center=rect.center)
            return
        span = total + rect.width // 3
        start = rect.right - int(now * 140 * u) % span           # 140 design pixels a second
        font = self.text.regular
        baseline = rect.centery + round(size * 0.36)
        clip = self.surface.get_clip()
        self.surface.set_clip(rect)
        font.origin = True                                        # draw at the pen position, no surfaces kept
        try:
            for lap in (0, span):
                for offset, width, text in pieces:
                    x = start + lap + offset
                    if x + width >= rect.left and x <= rect.right:
                        font.render_to(self.surface, (x, baseline), text, fgcolor=th["text"], size=round(size))
        finally:
            font.origin = False
            self.surface.set_clip(clip)
        self.frame_boxes.append(Box("any", rect.copy(), round(size), "ticker"))   # scrolls inside its strip


def _ticker_pieces(notices: tuple[str, ...], width_of: Any) -> tuple[list[tuple[int, int, str]], int]:
    """(offset, advance, text) of each piece of the notices line, and its whole width."""
    pieces: list[tuple[int, int, str]] = []
    x = 0
    text = "      ◆      ".join(notices)
    for i in range(0, len(text), 24):
        chunk = text[i: i + 24]
        width = width_of(chunk)
        pieces.append((x, width, chunk))
        x += width
    return pieces, x
