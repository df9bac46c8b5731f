"""Where each part of the hall screen goes, for 1 to 60 counters and 1 to 10 services, at any size.

All sizes are in design pixels ``u`` (1080 across the short side), so 1920×1080, 1280×720 and a
portrait 1080×1920 TV get the same proportions. :data:`MIN_TEXT` says how small each kind of text
may get: what people read from 5 m (the called number, where to go, how many wait and for how
long) stays large at every hall size; a 60-counter hall gets compact one-line counter tiles and
its services in two columns rather than smaller numbers. ``overscan`` keeps a margin clear on
every edge (many TVs crop 2-5 % of the picture).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple


class Rect(NamedTuple):
    """An area of the screen in pixels (what pygame's ``Rect`` is, without pygame: the browser's
    screen is laid out by the web service from this same module). pygame takes it wherever it
    takes a rectangle."""
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def of(cls, x: float, y: float, w: float, h: float) -> "Rect":
        return cls(int(x), int(y), int(w), int(h))

    left = property(lambda self: self.x)
    top = property(lambda self: self.y)
    width = property(lambda self: self.w)
    height = property(lambda self: self.h)
    right = property(lambda self: self.x + self.w)
    bottom = property(lambda self: self.y + self.h)
    centerx = property(lambda self: self.x + self.w // 2)
    centery = property(lambda self: self.y + self.h // 2)
    center = property(lambda self: (self.x + self.w // 2, self.y + self.h // 2))
    topleft = property(lambda self: (self.x, self.y))

    def copy(self) -> "Rect":
        return self

    def contains(self, other: "Rect") -> bool:
        ox, oy, ow, oh = other[0], other[1], other[2], other[3]
        return self.x <= ox and self.y <= oy and ox + ow <= self.right and oy + oh <= self.bottom

    def box(self) -> list[int]:
        """[x, y, width, height] (JSON for the browser)."""
        return [self.x, self.y, self.w, self.h]

# smallest text size (em height in design pixels) by what it says; docs/display.md gives the
# millimetres on a 55" TV and why
MIN_TEXT = {
    "call_number": 72, "call_where": 44,       # the called ticket and its window
    "waiting": 44, "est_wait": 28, "service_name": 28,
    "tile_number": 28, "tile_name": 22,
    "recall": 20,                              # "再次呼叫 Recall" (45 px on a 4-counter hall's cards)
    "call_step": 20,                           # a journey's "第2步/共3步 缴费" (left out on cards too small)
    "any": 18,                                 # titles, English lines, labels
}

HEADER_H = 96
TITLE_H = 50            # a section's title and rule
GAP = 14
ROW_MIN, ROW_MAX = 70, 104          # a service's row
CARD_MIN_W, CARD_MIN_H = 330, 168   # a live call's card
FULL_TILE = (200, 118)              # a counter: name, then its ticket large
COMPACT_TILE = (168, 58)            # a counter on one line: "12号  A012"
MAX_CALL_CARDS = 8


@dataclass
class Grid:
    cols: int
    rows: int

    @property
    def cells(self) -> int:
        return self.cols * self.rows


@dataclass
class Layout:
    width: int
    height: int
    portrait: bool
    u: float
    safe: Rect
    header: Rect
    banners: list[Rect]
    calls: Rect
    call_grid: Grid
    services: Rect
    service_cols: int
    counters: Rect
    counter_grid: Grid
    compact_tiles: bool
    recent: Rect | None
    ticker: Rect | None
    n_counters: int = 1
    n_services: int = 1

    def min_text(self, kind: str) -> float:
        return MIN_TEXT[kind] * self.u

    # --- where each item goes inside its section (the pygame screen and the browser's alike) --------
    def section_body(self, rect: Rect) -> int:
        """The y where a section's content starts, below its title and rule."""
        return rect.top + round(TITLE_H * self.u)

    def counter_cells(self) -> list[Rect]:
        """Each counter's tile, in the order of the hall's counters."""
        rect, grid, u = self.counters, self.counter_grid, self.u
        y, pad, gap = self.section_body(rect), round(12 * u), round(6 * u)
        cell_w = (rect.w - 2 * pad) / grid.cols
        cell_h = min((rect.bottom - y - pad // 2) / grid.rows, 150 * u)
        cells = []
        for i in range(self.n_counters):
            row, col = divmod(i, grid.cols)
            cells.append(Rect.of(round(rect.left + pad + col * cell_w), round(y + row * cell_h),
                              round(cell_w) - gap, round(cell_h) - gap))
        return cells

    def service_cells(self) -> list[Rect]:
        """Each service's row (filled down the first column, then the next)."""
        rect, cols, u = self.services, self.service_cols, self.u
        y, pad = self.section_body(rect), round(12 * u)
        per_col = -(-self.n_services // cols)
        row_h = min((rect.bottom - y - pad // 2) / per_col, ROW_MAX * u)
        col_w = (rect.w - 2 * pad) / cols
        cells = []
        for i in range(self.n_services):
            col, row = divmod(i, per_col)
            cells.append(Rect.of(round(rect.left + pad + col * col_w), round(y + row * row_h), round(col_w) - pad,
                              round(row_h)))
        return cells

    def call_cards(self, n_calls: int) -> list[Rect]:
        """The cards for ``n_calls`` live calls (at most the grid's cells): fewer calls, larger cards."""
        rect, grid, u = self.calls, self.call_grid, self.u
        shown = min(n_calls, grid.cells)
        if shown <= 0:
            return []
        top, pad = self.section_body(rect), round(12 * u)
        cols = min(grid.cols, shown)
        rows = -(-shown // cols)
        cell_w, cell_h = (rect.w - 2 * pad) / cols, (rect.bottom - top - pad) / rows
        cards = []
        for i in range(shown):
            row, col = divmod(i, cols)
            cards.append(Rect.of(round(rect.left + pad + col * cell_w), round(top + row * cell_h),
                              round(cell_w) - pad, round(cell_h) - pad // 2))
        return cards

    def recent_slots(self) -> list[Rect]:
        """Where earlier calls go ("A012 → 3号窗口"), as many as the section holds."""
        rect = self.recent
        if rect is None:
            return []
        u = self.u
        y, pad = self.section_body(rect), round(12 * u)
        cols = max(1, int((rect.w - 2 * pad) // (260 * u)))
        rows = max(1, int((rect.bottom - y) // (52 * u)))
        col_w, row_h = (rect.w - 2 * pad) / cols, (rect.bottom - y - pad // 2) / rows
        return [Rect.of(round(rect.left + pad + col * col_w), round(y + row * row_h), round(col_w), round(row_h))
                for row in range(rows) for col in range(cols)]


def recall_band(card_h: float, u: float) -> int:
    """The band at the top of a recalled call's card for its "再次呼叫 Recall" label: a sixth of the
    card, at most 56 px at 1080p (a 45 px label, ~28 mm on a 55" screen: read at 5 m)."""
    return round(min(card_h * 0.16, 56 * u))


def banner_height(kind: str, two_lines: bool) -> int:
    if kind == "outage":
        return 132 if two_lines else 100
    return 72


def best_grid(n: int, width: float, height: float, tile: tuple[float, float]) -> tuple[Grid, float]:
    """The grid for ``n`` tiles in (width, height) whose tiles are largest relative to ``tile``;
    with the scale reached (>= 1: every tile at least the minimum)."""
    best, scale = Grid(1, max(1, n)), 0.0
    for cols in range(1, max(1, n) + 1):
        rows = math.ceil(n / cols)
        s = min(width / cols / tile[0], height / rows / tile[1])
        if s > scale + 1e-9:
            best, scale = Grid(cols, rows), s
    return best, scale


def call_grid(width: float, height: float, live_max: int, u: float) -> Grid:
    """As many call cards as fit at their minimum size (at most ``live_max`` and 8), largest first.
    ``width`` and ``height``: the section's inside (padding and title off); each card gives up the
    gaps :meth:`Layout.call_cards` leaves between cards."""
    pad = round(12 * u)
    best = Grid(1, 1)
    for cols in range(1, 5):
        for rows in range(1, 5):
            cells = cols * rows
            if cells > min(MAX_CALL_CARDS, max(1, live_max)):
                continue
            card_w, card_h = width / cols - pad, (height - pad) / rows - pad // 2
            if card_w >= CARD_MIN_W * u and card_h >= CARD_MIN_H * u and cells > best.cells:
                best = Grid(cols, rows)
    return best


def compute_layout(width: int, height: int, orientation: str = "auto", *, n_counters: int = 4,
                   n_services: int = 2, banners: tuple[tuple[str, bool], ...] = (), notices: bool = True,
                   overscan: float = 0.03) -> Layout:
    portrait = height > width if orientation == "auto" else orientation == "portrait"
    u = min(width, height) / 1080
    mx, my = round(overscan * width), round(overscan * height)
    safe = Rect.of(mx, my, width - 2 * mx, height - 2 * my)
    header = Rect.of(safe.x, safe.y, safe.w, round(HEADER_H * u))
    y = header.bottom
    banner_rects = []
    for kind, two_lines in banners:
        h = round(banner_height(kind, two_lines) * u)
        banner_rects.append(Rect.of(safe.x, y, safe.w, h))
        y += h
    ticker = Rect.of(safe.x, safe.bottom - round(64 * u), safe.w, round(64 * u)) if notices else None
    gap = round(GAP * u)
    bottom = (ticker.top if ticker else safe.bottom) - gap
    body = Rect.of(safe.x, y + gap, safe.w, max(1, bottom - y - gap))
    n_counters, n_services = max(1, n_counters), max(1, n_services)
    parts = (_portrait if portrait else _landscape)(body, u, gap, n_counters, n_services)
    return Layout(width, height, portrait, u, safe, header, banner_rects, ticker=ticker, n_counters=n_counters,
                  n_services=n_services, **parts)


def _services_height(n: int, cols: int, u: float, row: float) -> float:
    return TITLE_H * u + math.ceil(n / cols) * row * u


def _services_fit(n: int, width: float, avail_h: float, u: float, share: float | None = None) -> tuple[int, int]:
    """(columns, height) of the services block: one column when it fits, else two; its rows as
    tall as ROW_MAX allows within ``share`` of the height (the calls need the rest)."""
    cap = avail_h if share is None else share
    for cols in (1, 2, 3):
        if (width - 24 * u) / cols < 440 * u:     # badge, name, count and wait side by side
            break
        need = _services_height(n, cols, u, ROW_MIN)
        if need <= avail_h:
            return cols, round(max(need, min(cap, avail_h, _services_height(n, cols, u, ROW_MAX))))
    return 2 if width - 24 * u >= 890 * u else 1, round(avail_h)


def _counters_fit(n: int, rect: Rect, u: float) -> tuple[Grid, bool, float]:
    """(grid, compact, scale): full two-line tiles when they fit, else compact one-line ones."""
    inner_w, inner_h = rect.w - 24 * u, rect.h - TITLE_H * u - 8 * u
    grid, scale = best_grid(n, inner_w, inner_h, (FULL_TILE[0] * u, FULL_TILE[1] * u))
    if scale >= 1:
        return grid, False, scale
    grid, scale = best_grid(n, inner_w, inner_h, (COMPACT_TILE[0] * u, COMPACT_TILE[1] * u))
    return grid, True, scale


def _compact_band_height(n: int, width: float, u: float) -> tuple[int, int]:
    cols = max(1, min(n, int((width - 24 * u) // (COMPACT_TILE[0] * u))))
    rows = math.ceil(n / cols)
    return cols, round(TITLE_H * u + 8 * u + rows * COMPACT_TILE[1] * u)


def _landscape(body: Rect, u: float, gap: int, n_counters: int, n_services: int) -> dict:
    # A: two columns (calls over services | recent over counters) while the counters fit on full tiles
    left = Rect.of(body.x, body.y, round(body.w * 0.52) - gap // 2, body.h)
    right = Rect.of(left.right + gap, body.y, body.right - left.right - gap, body.h)
    calls_min = (TITLE_H + CARD_MIN_H) * u
    cols, services_h = _services_fit(n_services, left.w, left.h - calls_min - gap, u, share=left.h * 0.5)
    counters = right
    grid, compact, scale = _counters_fit(n_counters, counters, u)
    if scale >= 1 and not compact and services_h + calls_min + gap <= left.h + 1:
        recent = None
        recent_h = round((TITLE_H + 2 * 56) * u)
        below = Rect.of(right.x, right.y + recent_h + gap, right.w, right.h - recent_h - gap)
        g2, c2, s2 = _counters_fit(n_counters, below, u)
        if s2 >= 1 and c2 == compact:
            recent = Rect.of(right.x, right.y, right.w, recent_h)
            counters, grid, compact = below, g2, c2
        calls = Rect.of(left.x, left.y, left.w, left.h - services_h - gap)
        services = Rect.of(left.x, calls.bottom + gap, left.w, services_h)
        return dict(calls=calls, call_grid=call_grid(calls.w - 24 * u, calls.h - TITLE_H * u, n_counters, u),
                    services=services, service_cols=cols, counters=counters, counter_grid=grid,
                    compact_tiles=compact, recent=recent)
    # B: bands: calls | services on top, every counter on compact tiles across the bottom
    tile_cols, band_h = _compact_band_height(n_counters, body.w, u)
    counters = Rect.of(body.x, body.bottom - band_h, body.w, band_h)
    top = Rect.of(body.x, body.y, body.w, counters.top - gap - body.y)
    calls = Rect.of(top.x, top.y, round(top.w * 0.49) - gap // 2, top.h)
    services = Rect.of(calls.right + gap, top.y, top.right - calls.right - gap, top.h)
    cols, _ = _services_fit(n_services, services.w, services.h, u)
    grid = Grid(tile_cols, math.ceil(n_counters / tile_cols))
    return dict(calls=calls, call_grid=call_grid(calls.w - 24 * u, calls.h - TITLE_H * u, n_counters, u),
                services=services, service_cols=cols, counters=counters, counter_grid=grid,
                compact_tiles=True, recent=None)


def _portrait(body: Rect, u: float, gap: int, n_counters: int, n_services: int) -> dict:
    """Stacked: calls, (recent), services, counters; counters on full tiles while they take no
    more than 40 % of the height, else on compact ones."""
    full_cols = max(1, int((body.w - 24 * u) // (FULL_TILE[0] * u)))
    counters_h = round(TITLE_H * u + 8 * u + math.ceil(n_counters / full_cols) * FULL_TILE[1] * u)
    compact = counters_h > body.h * 0.4
    if compact:
        tile_cols, counters_h = _compact_band_height(n_counters, body.w, u)
    cols, services_h = _services_fit(n_services, body.w, body.h * 0.3, u)
    recent_h = round((TITLE_H + 2 * 56) * u)
    calls_h = body.h - services_h - counters_h - 2 * gap
    recent = None
    if calls_h - recent_h - gap >= (TITLE_H + 2 * CARD_MIN_H) * u:
        calls_h -= recent_h + gap
    else:
        recent_h = 0
    calls = Rect.of(body.x, body.y, body.w, calls_h)
    y = calls.bottom + gap
    if recent_h:
        recent = Rect.of(body.x, y, body.w, recent_h)
        y = recent.bottom + gap
    services = Rect.of(body.x, y, body.w, services_h)
    counters = Rect.of(body.x, services.bottom + gap, body.w, body.bottom - services.bottom - gap)
    if compact:
        grid = Grid(tile_cols, math.ceil(n_counters / tile_cols))
    else:
        grid, compact, _ = _counters_fit(n_counters, counters, u)
    return dict(calls=calls, call_grid=call_grid(calls.w - 24 * u, calls.h - TITLE_H * u, n_counters, u),
                services=services, service_cols=cols, counters=counters, counter_grid=grid,
                compact_tiles=compact, recent=recent)


def layout_doc(layout: Layout) -> dict:
    """The layout as the browser's screen draws it (JSON): every area and cell in CSS pixels, the
    cards for each possible number of live calls, and the smallest size each kind of text may take."""
    def box(rect: Rect | None) -> list[int] | None:
        return None if rect is None else rect.box()
    return {
        "width": layout.width, "height": layout.height, "u": layout.u, "portrait": layout.portrait,
        "compact_tiles": layout.compact_tiles, "n_counters": layout.n_counters, "n_services": layout.n_services,
        "safe": box(layout.safe), "header": box(layout.header),
        "banners": [box(b) for b in layout.banners], "ticker": box(layout.ticker),
        "sections": {name: box(getattr(layout, name)) for name in ("calls", "recent", "services", "counters")},
        "body_top": {name: layout.section_body(rect) for name in ("calls", "recent", "services", "counters")
                     if (rect := getattr(layout, name)) is not None},
        "counter_cells": [c.box() for c in layout.counter_cells()],
        "service_cells": [c.box() for c in layout.service_cells()],
        "call_cards": {str(n): [c.box() for c in layout.call_cards(n)] for n in range(1, layout.call_grid.cells + 1)},
        "recent_slots": [c.box() for c in layout.recent_slots()],
        "min_text": {kind: round(size * layout.u, 1) for kind, size in MIN_TEXT.items()},
    }
