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

from pygame import Rect

# smallest text size (em height in design pixels) by what it says; docs/display.md gives the
# millimetres on a 55" TV and why
MIN_TEXT = {
    "call_number": 72, "call_where": 44,       # the called ticket and its window
    "waiting": 44, "est_wait": 28, "service_name": 28,
    "tile_number": 28, "tile_name": 22,
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

    def min_text(self, kind: str) -> float:
        return MIN_TEXT[kind] * self.u


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
    """As many call cards as fit at their minimum size (at most ``live_max`` and 8), largest first."""
    best = Grid(1, 1)
    for cols in range(1, 5):
        for rows in range(1, 5):
            cells = cols * rows
            if cells > min(MAX_CALL_CARDS, max(1, live_max)):
                continue
            if width / cols >= CARD_MIN_W * u and height / rows >= CARD_MIN_H * u and cells > best.cells:
                best = Grid(cols, rows)
    return best


def compute_layout(width: int, height: int, orientation: str = "auto", *, n_counters: int = 4,
                   n_services: int = 2, banners: tuple[tuple[str, bool], ...] = (), notices: bool = True,
                   overscan: float = 0.03) -> Layout:
    portrait = height > width if orientation == "auto" else orientation == "portrait"
    u = min(width, height) / 1080
    mx, my = round(overscan * width), round(overscan * height)
    safe = Rect(mx, my, width - 2 * mx, height - 2 * my)
    header = Rect(safe.x, safe.y, safe.w, round(HEADER_H * u))
    y = header.bottom
    banner_rects = []
    for kind, two_lines in banners:
        h = round(banner_height(kind, two_lines) * u)
        banner_rects.append(Rect(safe.x, y, safe.w, h))
        y += h
    ticker = Rect(safe.x, safe.bottom - round(64 * u), safe.w, round(64 * u)) if notices else None
    gap = round(GAP * u)
    bottom = (ticker.top if ticker else safe.bottom) - gap
    body = Rect(safe.x, y + gap, safe.w, max(1, bottom - y - gap))
    n_counters, n_services = max(1, n_counters), max(1, n_services)
    parts = (_portrait if portrait else _landscape)(body, u, gap, n_counters, n_services)
    return Layout(width, height, portrait, u, safe, header, banner_rects, ticker=ticker, **parts)


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
    left = Rect(body.x, body.y, round(body.w * 0.52) - gap // 2, body.h)
    right = Rect(left.right + gap, body.y, body.right - left.right - gap, body.h)
    calls_min = (TITLE_H + CARD_MIN_H) * u
    cols, services_h = _services_fit(n_services, left.w, left.h - calls_min - gap, u, share=left.h * 0.5)
    counters = right
    grid, compact, scale = _counters_fit(n_counters, counters, u)
    if scale >= 1 and not compact and services_h + calls_min + gap <= left.h + 1:
        recent = None
        recent_h = round((TITLE_H + 2 * 56) * u)
        below = Rect(right.x, right.y + recent_h + gap, right.w, right.h - recent_h - gap)
        g2, c2, s2 = _counters_fit(n_counters, below, u)
        if s2 >= 1 and c2 == compact:
            recent = Rect(right.x, right.y, right.w, recent_h)
            counters, grid, compact = below, g2, c2
        calls = Rect(left.x, left.y, left.w, left.h - services_h - gap)
        services = Rect(left.x, calls.bottom + gap, left.w, services_h)
        return dict(calls=calls, call_grid=call_grid(calls.w - 24 * u, calls.h - TITLE_H * u, n_counters, u),
                    services=services, service_cols=cols, counters=counters, counter_grid=grid,
                    compact_tiles=compact, recent=recent)
    # B: bands: calls | services on top, every counter on compact tiles across the bottom
    tile_cols, band_h = _compact_band_height(n_counters, body.w, u)
    counters = Rect(body.x, body.bottom - band_h, body.w, band_h)
    top = Rect(body.x, body.y, body.w, counters.top - gap - body.y)
    calls = Rect(top.x, top.y, round(top.w * 0.49) - gap // 2, top.h)
    services = Rect(calls.right + gap, top.y, top.right - calls.right - gap, top.h)
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
    calls = Rect(body.x, body.y, body.w, calls_h)
    y = calls.bottom + gap
    if recent_h:
        recent = Rect(body.x, y, body.w, recent_h)
        y = recent.bottom + gap
    services = Rect(body.x, y, body.w, services_h)
    counters = Rect(body.x, services.bottom + gap, body.w, body.bottom - services.bottom - gap)
    if compact:
        grid = Grid(tile_cols, math.ceil(n_counters / tile_cols))
    else:
        grid, compact, _ = _counters_fit(n_counters, counters, u)
    return dict(calls=calls, call_grid=call_grid(calls.w - 24 * u, calls.h - TITLE_H * u, n_counters, u),
                services=services, service_cols=cols, counters=counters, counter_grid=grid,
                compact_tiles=compact, recent=recent)
