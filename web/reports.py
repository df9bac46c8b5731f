"""The console's reports: the hall's own records kept by the web service (the same archive and
figures as head office: every event stored exactly once, gaps fetched with ``events``), a day's
figures per service, a chart, CSV for Excel (UTF-8 with BOM), and a nightly copy of the day that
ended, kept in ``--data``/reports for managers to download."""
from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

from central.report import csv_text, day_report
from central.store import CentralStore

log = logging.getLogger(__name__)


class Reports:
    def __init__(self, store: CentralStore, hall: str, folder: Path) -> None:
        self.store, self.hall, self.folder = store, hall, folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def rows(self, day: str) -> list[dict[str, Any]]:
        return [r for r in day_report(self.store, day) if r["hall"] == self.hall]

    def days(self) -> list[str]:
        return [r[0] for r in self.store.query("SELECT DISTINCT day FROM tickets WHERE hall = ? ORDER BY day DESC",
                                               (self.hall,))]

    def csv_text(self, day: str) -> str:
        return csv_text(self.rows(day), day)

    def nightly(self, day: str) -> Path:
        """Keep the day's figures as a file (written when the business day ends)."""
        path = self.folder / f"{self.hall}-{day}.csv"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.csv_text(day), "utf-8")
        tmp.replace(path)
        log.info("nightly report written: %s", path)
        return path

    def nightly_files(self) -> list[str]:
        return sorted((p.name for p in self.folder.glob(f"{self.hall}-*.csv")), reverse=True)


def chart_svg(rows: list[dict[str, Any]]) -> str:
    """Issued and served per service as bars (SVG attributes only: the CSP allows no inline style)."""
    if not rows:
        return ""
    top = max(max(r["issued"], r["served"]) for r in rows) or 1
    bar_w, gap, height = 34, 30, 160
    width = len(rows) * (2 * bar_w + gap) + gap
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height + 40}" width="{width}" height="{height + 40}" '
             'role="img" aria-label="issued and served per service">']
    for i, r in enumerate(rows):
        x = gap + i * (2 * bar_w + gap)
        for j, (key, colour) in enumerate((("issued", "#2563eb"), ("served", "#16a34a"))):
            h = round(height * r[key] / top)
            parts.append(f'<rect x="{x + j * bar_w}" y="{height - h}" width="{bar_w - 4}" height="{h}" fill="{colour}">'
                         f'<title>{html.escape(r["service"])} {key}: {r[key]}</title></rect>')
            parts.append(f'<text x="{x + j * bar_w + (bar_w - 4) / 2}" y="{height - h - 4}" font-size="12" '
                         f'text-anchor="middle">{r[key]}</text>')
        parts.append(f'<text x="{x + bar_w}" y="{height + 18}" font-size="13" text-anchor="middle">'
                     f'{html.escape(r["service"])}</text>')
    parts.append(f'<text x="{gap}" y="{height + 36}" font-size="12" fill="#2563eb">■ 取号 issued</text>'
                 f'<text x="{gap + 110}" y="{height + 36}" font-size="12" fill="#16a34a">■ 办结 served</text></svg>')
    return "".join(parts)
