"""``hallq central report --date D [--csv F]``: that day's figures per hall and service, from the
central store, by the same rules as each hall's own ``hallq report`` (a ticket counts as issued for
the service it was issued for, and as served, no-show or voided in the service it ended in; a
journey's ticket, one number through several services, counts each step in the step's service;
waits from issue (a step: from the step before finishing) to the first call, for served and no-show
tickets; nearest-rank percentiles)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from .store import CentralStore

COLUMNS = ["hall", "service", "issued", "served", "no_show", "voided", "wait_median_s", "wait_p90_s",
           "service_level_share", "service_mean_s", "rating_1", "rating_2", "rating_3"]


def day_report(store: CentralStore, day: str, target_s: int = 900, last: str | None = None) -> list[dict[str, Any]]:
    """Per hall and service, the day's figures (or those of the days from ``day`` to ``last``)."""
    figures = {(f.hall, f.service): f for f in store.day_figures(day, last)}
    rows = {key: {"hall": f.hall, "service": f.service, "issued": f.issued, "served": f.served,
                  "no_show": f.no_show, "voided": f.voided} for key, f in figures.items()}
    waits = {(r[0], r[1]): r[2:] for r in store.day_wait_figures(day, target_s, last)}
    for key, row in rows.items():
        n, median, p90, within = waits.get(key, (0, None, None, None))
        row["wait_median_s"] = round(max(0.0, float(median)), 1) if n else None
        row["wait_p90_s"] = round(max(0.0, float(p90)), 1) if n else None
        row["service_level_share"] = round(float(within), 3) if n else None
        f = figures[key]
        row["service_mean_s"] = round(f.service_s_sum / f.service_s_n, 1) if f.service_s_n else None
        row["rating_1"], row["rating_2"], row["rating_3"] = f.rating_1, f.rating_2, f.rating_3
    return [rows[k] for k in sorted(rows)]


def csv_text(rows: list[dict[str, Any]], day: str | None = None) -> str:
    """The figures as CSV for Excel: UTF-8 with a BOM (else Excel garbles Chinese names), CRLF lines,
    empty cells for no value; with ``day``, a first column saying which day (the nightly copies)."""
    out = io.StringIO()
    out.write("\ufeff")
    fields = ["day", *COLUMNS] if day else COLUMNS
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**({"day": day} if day else {}), **{k: ("" if row.get(k) is None else row[k]) for k in COLUMNS}})
    return out.getvalue()


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.write_text(csv_text(rows), "utf-8")


def people_table(store: CentralStore, day: str) -> str:
    """Per counter and per clerk: served, no-shows, mean service time, ratings."""
    lines: list[str] = []
    for by in ("counter", "clerk"):
        rows = store.day_people(day, by)
        if not rows:
            continue
        lines += ["", f"{'hall':<12}{by:<14}{'served':>8}{'no_show':>8}{'service':>9}{'rated 1/2/3':>14}"]
        for hall, who, served, no_show, mean, r1, r2, r3 in rows:
            service = "-" if mean is None else f"{int(mean) // 60}:{int(mean) % 60:02d}"
            lines.append(f"{hall:<12}{str(who)[:13]:<14}{served:>8}{no_show:>8}{service:>9}{f'{r1}/{r2}/{r3}':>14}")
    extras = store.day_hall_extras(day)
    if extras:
        lines += ["", f"{'hall':<12}{'appointments booked / on time':>32}{'outages (minutes)':>20}"]
        for hall, e in sorted(extras.items()):
            lines.append(f"{hall:<12}{e.get('appointments_booked', 0):>26} / {e.get('appointments_on_time', 0):<3}"
                         f"{e.get('outages', 0):>14} ({e.get('outage_minutes', 0)})")
    return "\n".join(lines)


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
