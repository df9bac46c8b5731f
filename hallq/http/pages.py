"""The page every hallq web page is drawn in (the hall's console and head office's dashboard
alike): no inline script (the CSP forbids it), data in a JSON block, the login form, and the bar
chart both put on their reports. Texts from the hall are escaped here."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from hallq.runtime.i18n import gettext

Lang = str   # "zh_CN" | "en"
# the style sheets and scripts both services serve under /static (they live beside the web role)
STATIC = Path(__file__).parent.parent / "web" / "static"


def page(title: str, body: str, *, lang: Lang = "zh_CN", scripts: tuple[str, ...] = (), css: str = "web.css",
         data: dict[str, Any] | None = None, meta: dict[str, str] | None = None) -> str:
    """A whole page. ``data`` goes in a JSON block the scripts read (never executed)."""
    heads = "".join(f'<meta name="{html.escape(k)}" content="{html.escape(v)}">' for k, v in (meta or {}).items())
    blob = ""
    if data is not None:
        text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")   # no </script> inside
        blob = f'<script type="application/json" id="data">{text}</script>'
    tags = "".join(f'<script src="/static/{html.escape(s)}" defer></script>' for s in scripts)
    return (f'<!doctype html><html lang="{"en" if lang.startswith("en") else "zh-CN"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{heads}'
            f"<title>{html.escape(title)}</title>"
            f'<link rel="stylesheet" href="/static/{css}">{tags}</head><body>{body}{blob}</body></html>')


def login_page(place: str, what: str, message: str = "", name: str = "") -> str:
    """The login form of the hall's console and of head office's dashboard: ``place`` (the hall's
    name, or head office), ``what`` the console; ``message`` why the last try failed."""
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = (f'<main class="login"><h1>{html.escape(place)}</h1><h2>{html.escape(what)}</h2>{note}'
            '<form method="post" action="/login">'
            f'<label>用户名 User <input name="name" autocomplete="username" required value="{html.escape(name)}"></label>'
            '<label>密码 Password <input name="password" type="password" autocomplete="current-password" required></label>'
            '<button type="submit">登录 Log in</button></form></main>')
    return page("hallq 登录 Login", body)


def chart_svg(rows: list[dict[str, Any]], lang: str = "zh_CN") -> str:
    """Issued and served per service as bars, labelled with the services' names (SVG attributes
    only: the CSP allows no inline style). Room is kept above the tallest bar for its label."""
    if not rows:
        return ""
    top = max(max(r.get("issued") or 0, r.get("served") or 0) for r in rows) or 1
    bar_w, gap, height, headroom = 34, 36, 160, 22
    width = len(rows) * (2 * bar_w + gap) + gap
    issued, served = gettext("Issued", lang), gettext("Served", lang)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height + headroom + 44}" width="{width}" '
             f'height="{height + headroom + 44}" role="img" aria-label="{html.escape(issued)} / {html.escape(served)}">']
    for i, r in enumerate(rows):
        x = gap + i * (2 * bar_w + gap)
        for j, (key, label, colour) in enumerate((("issued", issued, "#1d4ed8"), ("served", served, "#15803d"))):
            value = r.get(key) or 0
            h = round(height * value / top)
            y = headroom + height - h
            parts.append(f'<rect x="{x + j * bar_w}" y="{y}" width="{bar_w - 4}" height="{h}" fill="{colour}">'
                         f'<title>{html.escape(r["name"])} {html.escape(label)}: {value}</title></rect>')
            parts.append(f'<text x="{x + j * bar_w + (bar_w - 4) / 2}" y="{y - 5}" font-size="12" '
                         f'text-anchor="middle">{value}</text>')
        parts.append(f'<text x="{x + bar_w}" y="{headroom + height + 18}" font-size="13" text-anchor="middle">'
                     f'{html.escape(r["name"])}</text>')
    parts.append(f'<text x="{gap}" y="{headroom + height + 38}" font-size="12" fill="#1d4ed8">■ {html.escape(issued)}</text>'
                 f'<text x="{gap + 110}" y="{headroom + height + 38}" font-size="12" fill="#15803d">■ '
                 f'{html.escape(served)}</text></svg>')
    return "".join(parts)
