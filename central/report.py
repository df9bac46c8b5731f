"""``hallq central report --date D [--csv F]``: that day's figures per hall and service, from the
central store, by the same rules as each hall's own ``hallq report`` (a ticket counts as issued for
the service it was issued for, and as served, no-show or voided in the service it ended in; waits
from issue to the first call, for served and no-show tickets; nearest-rank percentiles)."""
from __future__ import annotations

import csv
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from hall.report import nearest_rank

from .store import CentralStore

COLUMNS = ["hall", "service", "issued", "served", "no_show", "voided", "wait_median_s", "wait_p90_s"]


def day_report(store: CentralStore, day: str) -> list[dict[str, Any]]:
    rows = {(f.hall, f.service): {"hall": f.hall, "service": f.service, "issued": f.issued, "served": f.served,
                                  "no_show": f.no_show, "voided": f.voided} for f in store.day_figures(day)}
    waits: dict[tuple[str, str], list[float]] = {}
    for hall, _issued_for, service, status, issued_at, first_called, _clerk, _rating in store.day_tickets(day):
        if status in ("served", "no_show") and first_called and issued_at:
            wait = (datetime.fromisoformat(first_called) - datetime.fromisoformat(issued_at)).total_seconds()
            waits.setdefault((hall, service), []).append(max(0.0, wait))
    for key, row in rows.items():
        values = waits.get(key, [])
        p90 = nearest_rank(values, 0.9)
        row["wait_median_s"] = round(statistics.median(values), 1) if values else None
        row["wait_p90_s"] = None if p90 is None else round(p90, 1)
    return [rows[k] for k in sorted(rows)]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """UTF-8 with a BOM, so that Excel opens Chinese names correctly."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})


def text_table(rows: list[dict[str, Any]], day: str) -> str:
    lines = [f"head office figures for {day}", "",
             f"{'hall':<12}{'service':<12}{'issued':>8}{'served':>8}{'no_show':>8}{'voided':>8}{'wait p50':>10}{'p90':>8}"]
    for r in rows:
        p50 = "-" if r["wait_median_s"] is None else f"{int(r['wait_median_s']) // 60}:{int(r['wait_median_s']) % 60:02d}"
        p90 = "-" if r["wait_p90_s"] is None else f"{int(r['wait_p90_s']) // 60}:{int(r['wait_p90_s']) % 60:02d}"
        lines.append(f"{r['hall']:<12}{r['service']:<12}{r['issued']:>8}{r['served']:>8}{r['no_show']:>8}"
                     f"{r['voided']:>8}{p50:>10}{p90:>8}")
    if not rows:
        lines.append("(no tickets recorded for that day)")
    return "\n".join(lines)
