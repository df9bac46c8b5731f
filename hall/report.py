"""``hallq report``: the day's figures from the controller's records (what a hall manager reads at night).

Reads the controller's SQLite (``<data>/controller.db``) read-only, so it may run while the
controller does. The events of one business day are the source: each ticket's last recorded form
plus the moment it was first called. Per service, counter and clerk: tickets issued, served,
no-show, voided; waiting time (issue to first call) median, p90 and max; service time (call to
finish); ratings; the share of called tickets whose wait was within ``[hall] service_level_wait_s``
against the target ``[hall] service_level_share``. Charts of arrivals and waits by hour (matplotlib,
PNG embedded in the HTML as base64), one tidy CSV table, a plain-text table on stdout.

Percentiles use the nearest-rank method (p90 of 10 waits is the 9th smallest): a manager can check
it by hand. Waits count from issue to the first call, the moment the customer was asked to come.
"""
from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import sqlite3
import statistics
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .config import Config, load_config
from .errors import ConfigError
from .records import (DayRecords, EstimateError, TimeFrame, estimate_error, load_day,
                      nearest_rank)

RATING_WORDS = {1: "satisfied 满意", 2: "neutral 一般", 3: "unsatisfied 不满意"}


# --- figures -----------------------------------------------------------------------------------
@dataclass
class Figures:
    scope: str                  # service | counter | clerk | hall
    key: str
    name: str
    issued: int = 0
    served: int = 0
    no_show: int = 0
    voided: int = 0
    waiting: int = 0            # still waiting or called when the report was made
    waits: list[float] = field(default_factory=list)
    service_times: list[float] = field(default_factory=list)
    ratings: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    within_target: int = 0
    out_of_order: int = 0       # tickets called by number ahead of their turn

    def row(self, target_share: float) -> dict[str, Any]:
        called = len(self.waits)
        share = self.within_target / called if called else None
        rated = sum(self.ratings.values())
        return {
            "scope": self.scope, "key": self.key, "name": self.name,
            # tickets are issued for a service; a counter or clerk only serves them
            "issued": self.issued if self.scope in ("hall", "service") else None, "served": self.served, "no_show": self.no_show, "voided": self.voided,
            "open": self.waiting,
            "wait_median_s": _round(statistics.median(self.waits) if self.waits else None),
            "wait_p90_s": _round(nearest_rank(self.waits, 0.9)),
            "wait_max_s": _round(max(self.waits) if self.waits else None),
            "service_median_s": _round(statistics.median(self.service_times) if self.service_times else None),
            "service_mean_s": _round(statistics.fmean(self.service_times) if self.service_times else None),
            "rated": rated,
            "rating_1": self.ratings[1], "rating_2": self.ratings[2], "rating_3": self.ratings[3],
            "satisfied_share": _round(self.ratings[1] / rated, 3) if rated else None,
            "within_target_share": _round(share, 3) if share is not None else None,
            "target_met": (share >= target_share) if share is not None else None,
            "out_of_order": self.out_of_order,
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


COLUMNS = ["scope", "key", "name", "issued", "served", "no_show", "voided", "open", "wait_median_s",
           "wait_p90_s", "wait_max_s", "service_median_s", "service_mean_s", "rated", "rating_1",
           "rating_2", "rating_3", "satisfied_share", "within_target_share", "target_met", "out_of_order"]


@dataclass
class Report:
    hall_id: str
    hall_name: str
    day: str
    target_wait_s: int
    target_share: float
    frame: TimeFrame
    rows: list[dict[str, Any]]
    hours: list[int]                                   # shown hours with arrivals or calls
    arrivals_by_hour: dict[str, dict[int, int]]        # service -> hour -> tickets issued
    waits_by_hour: dict[int, list[float]]              # hour of issue -> waits (s)
    outages: list[tuple[datetime, datetime | None]]
    events: int
    zone: Any = None
    estimates: EstimateError | None = None             # how far the waits told at issue were off
    appointments: dict[str, Any] = field(default_factory=dict)   # booked, checked in, on time, no-shows, waits

    def clock(self, moment: datetime | None) -> str:
        if moment is None:
            return "still on"
        return self.frame.at(moment).astimezone(self.zone).strftime("%H:%M")

    def outage_spans(self) -> str:
        return ", ".join(f"{self.clock(a)}–{self.clock(b)}" for a, b in self.outages)

    def rows_of(self, scope: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["scope"] == scope]

    @property
    def hall(self) -> dict[str, Any]:
        return self.rows_of("hall")[0]


def build_report(config: Config, records: DayRecords, frame: TimeFrame = TimeFrame()) -> Report:
    target_s = config.hall.service_level_wait_s
    hall = Figures("hall", config.hall.id, config.hall.name)
    services = {s.id: Figures("service", s.id, s.name) for s in config.service}
    counters = {c.id: Figures("counter", c.id, c.name) for c in config.counter}
    clerks: dict[str, Figures] = {}
    arrivals: dict[str, dict[int, int]] = {s.id: {} for s in config.service}
    waits_by_hour: dict[int, list[float]] = {}

    def bucket(table: dict[str, Figures], key: str, scope: str) -> Figures:
        if key not in table:
            table[key] = Figures(scope, key, key)
        return table[key]

    for rec in sorted(records.tickets.values(), key=lambda r: (r.ticket.issued_at, r.ticket.number)):
        t = rec.ticket
        issued_hour = frame.at(t.issued_at).astimezone(config.zone).hour
        svc_issued = bucket(services, rec.issued_service, "service")
        svc_final = bucket(services, t.service, "service")
        svc_issued.issued += 1
        hall.issued += 1
        arrivals.setdefault(rec.issued_service, {})
        arrivals[rec.issued_service][issued_hour] = arrivals[rec.issued_service].get(issued_hour, 0) + 1
        counter_key = t.counter or rec.first_counter
        scopes: list[Figures] = [hall, svc_final]
        if counter_key and t.status in ("served", "no_show"):
            scopes.append(bucket(counters, counter_key, "counter"))
            if t.clerk:
                scopes.append(bucket(clerks, t.clerk, "clerk"))
        for fig in scopes:
            if t.status == "served":
                fig.served += 1
            elif t.status == "no_show":
                fig.no_show += 1
            elif t.status == "voided" and fig.scope in ("hall", "service"):
                fig.voided += 1
            elif t.status in ("waiting", "called") and fig.scope in ("hall", "service"):
                fig.waiting += 1
            wait = rec.wait_s
            if wait is not None and t.status in ("served", "no_show"):
                shown_wait = frame.seconds(wait)
                fig.waits.append(shown_wait)
                if shown_wait <= target_s:
                    fig.within_target += 1
            if t.status == "served" and rec.service_s is not None:
                fig.service_times.append(frame.seconds(rec.service_s))
            if t.rating in fig.ratings:
                fig.ratings[t.rating] += 1
            if rec.out_of_order:
                fig.out_of_order += 1
        if rec.wait_s is not None and t.status in ("served", "no_show"):
            waits_by_hour.setdefault(issued_hour, []).append(frame.seconds(rec.wait_s))

    figures = [hall, *services.values(), *counters.values(), *sorted(clerks.values(), key=lambda f: f.key)]
    rows = [f.row(config.hall.service_level_share) for f in figures]
    hours = sorted({h for by in arrivals.values() for h in by} | set(waits_by_hour))
    return Report(config.hall.id, config.hall.name, records.day, target_s, config.hall.service_level_share,
                  frame, rows, hours, arrivals, waits_by_hour, records.outages, records.events, config.zone,
                  estimate_error(records, frame), appointment_figures(records, frame))


def appointment_figures(records: DayRecords, frame: TimeFrame) -> dict[str, Any]:
    """Booked slots: how many came, on time, never came, and how long those who came waited."""
    if not records.booked:
        return {}
    waits = [frame.seconds(r.wait_s) for r in records.tickets.values()
             if r.ticket.appointment and r.wait_s is not None]
    on_time = sum(1 for v in records.checked_in.values() if v)
    return {"booked": len(records.booked), "checked_in": len(records.checked_in), "on_time": on_time,
            "late": len(records.checked_in) - on_time, "never_came": len(set(records.booked) - set(records.checked_in)),
            "wait_median_s": _round(statistics.median(waits)) if waits else None,
            "wait_max_s": _round(max(waits)) if waits else None}


# --- output --------------------------------------------------------------------------------------
def _width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "-"
    value = int(round(value))
    return f"{value // 60}:{value % 60:02d}"


def _fmt_share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


TEXT_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("issued", "issued", str), ("served", "served", str), ("no_show", "no-show", str),
    ("voided", "voided", str), ("open", "open", str),
    ("wait_median_s", "wait med", _fmt_s), ("wait_p90_s", "wait p90", _fmt_s), ("wait_max_s", "wait max", _fmt_s),
    ("service_median_s", "svc med", _fmt_s), ("rated", "rated", str),
    ("satisfied_share", "satisfied", _fmt_share), ("within_target_share", "in target", _fmt_share),
    ("out_of_order", "by number", str),
]


def text_table(report: Report) -> str:
    lines = [f"{report.hall_name} ({report.hall_id}) — report for {report.day}",
             f"service level target: {report.target_share * 100:.0f}% of called customers within "
             f"{report.target_wait_s // 60} min"
             + (f"; times shown on the simulated clock (x{report.frame.shown_speed:g})" if report.frame.simulated else ""),
             ""]
    header = ["", *[title for _, title, _ in TEXT_COLUMNS], "target"]
    body: list[list[str]] = []
    for scope in ("hall", "service", "counter", "clerk"):
        for row in report.rows_of(scope):
            label = f"{scope} {row['key']}" if scope != "hall" else "hall"
            met = {True: "met", False: "MISSED", None: "-"}[row["target_met"]]
            body.append([label, *[fmt(row[key]) if row[key] is not None else "-" for key, _, fmt in TEXT_COLUMNS], met])
    widths = [max(_width(r[i]) for r in [header, *body]) for i in range(len(header))]
    for r in [header, *body]:
        cells = [cell + " " * (widths[i] - _width(cell)) if i == 0 else " " * (widths[i] - _width(cell)) + cell
                 for i, cell in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    if report.outages:
        lines += ["", f"declared outages: {report.outage_spans()}"]
    ap = report.appointments
    if ap:
        lines += ["", f"appointments: {ap['booked']} booked, {ap['checked_in']} checked in ({ap['on_time']} on time, "
                      f"{ap['late']} late: walk-in tickets), {ap['never_came']} never came; those on time waited "
                      f"median {_fmt_s(ap['wait_median_s'])}, max {_fmt_s(ap['wait_max_s'])}"]
    if report.estimates is not None:
        lines += ["", estimate_line(report.estimates)]
    return "\n".join(lines) + "\n"


def estimate_line(est: EstimateError) -> str:
    return (f"estimated waits (told at issue, {est.tickets} tickets after the first hour): |error| median "
            f"{_fmt_s(est.median_abs_s)}, p90 {_fmt_s(est.p90_abs_s)}; {est.share_of_wait * 100:.0f}% of the median "
            f"actual wait {_fmt_s(est.median_actual_s)}; waits were {'longer' if est.median_signed_s > 0 else 'shorter'} "
            f"than told by {_fmt_s(abs(est.median_signed_s))} (median)"
            + (f"; waits of 5 min or more ({est.long_waits}): median |error| {est.long_relative * 100:.0f}% of the wait"
               if est.long_waits else ""))


def write_csv(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["day", *COLUMNS])
        writer.writeheader()
        for row in report.rows:
            writer.writerow({"day": report.day, **{k: ("" if v is None else v) for k, v in row.items()}})
        # arrivals by hour, one row per service and hour, in the same table shape
        for service, by_hour in report.arrivals_by_hour.items():
            for hour in sorted(by_hour):
                writer.writerow({"day": report.day, "scope": "hour", "key": f"{hour:02d}:00",
                                 "name": service, "issued": by_hour[hour]})


def charts_png(report: Report) -> tuple[bytes, bytes]:
    """(arrivals by hour, waits by hour) as PNG bytes."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    hours = report.hours or [9]
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    bottom = [0] * len(hours)
    for service, by_hour in report.arrivals_by_hour.items():
        counts = [by_hour.get(h, 0) for h in hours]
        ax.bar([f"{h:02d}" for h in hours], counts, bottom=bottom, label=service)
        bottom = [b + c for b, c in zip(bottom, counts)]
    arrivals = _finish_chart(fig, ax, "Tickets issued by hour", "tickets")

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    labels = [f"{h:02d}" for h in hours]
    med = [statistics.median(report.waits_by_hour[h]) / 60 if report.waits_by_hour.get(h) else 0 for h in hours]
    p90 = [(nearest_rank(report.waits_by_hour[h], 0.9) or 0) / 60 if report.waits_by_hour.get(h) else 0 for h in hours]
    ax.plot(labels, med, marker="o", label="median")
    ax.plot(labels, p90, marker="s", label="p90")
    ax.axhline(report.target_wait_s / 60, color="red", linestyle="--", linewidth=1, label="target")
    waits = _finish_chart(fig, ax, "Waiting time by hour of issue (minutes)", "minutes")
    return arrivals, waits


def _finish_chart(fig: Any, ax: Any, title: str, ylabel: str) -> bytes:
    """Title, axes and legend as every chart of the report has them; the PNG bytes, figure closed."""
    import matplotlib.pyplot as plt

    ax.set_title(title)
    ax.set_xlabel("hour")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return png


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_html(report: Report, path: Path) -> None:
    arrivals, waits = charts_png(report)
    esc = html.escape

    def table(scope: str, title: str) -> str:
        rows = report.rows_of(scope)
        if not rows:
            return ""
        head = "".join(f"<th>{esc(t)}</th>" for _, t, _ in TEXT_COLUMNS)
        out = [f"<h2>{esc(title)}</h2><table><tr><th></th>{head}<th>target</th></tr>"]
        for row in rows:
            cells = "".join(f"<td>{esc(fmt(row[k]) if row[k] is not None else '-')}</td>" for k, _, fmt in TEXT_COLUMNS)
            met = row["target_met"]
            cls = {True: "ok", False: "bad", None: ""}[met]
            out.append(f"<tr><th>{esc(row['name'])}</th>{cells}"
                       f"<td class='{cls}'>{ {True: 'met', False: 'missed', None: '-'}[met]}</td></tr>")
        out.append("</table>")
        return "\n".join(out)

    note = (f"<p class='note'>A simulated day: the hall ran {report.frame.shown_speed:g}× faster than real time; "
            f"times and durations here are on the simulated clock.</p>" if report.frame.simulated else "")
    outages = ""
    if report.outages:
        outages = f"<p>Declared outages: {esc(report.outage_spans())}</p>"
    text = text_table(report)
    for prefix in ("appointments:", "estimated waits"):
        line = next((x for x in text.splitlines() if x.startswith(prefix)), "")
        if line:
            outages += f"<p>{esc(line[0].upper() + line[1:])}</p>"
    doc = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{esc(report.hall_name)} {esc(report.day)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
tr > th:first-child {{ text-align: left; }}
td.ok {{ color: #176b2c; }} td.bad {{ color: #b00020; font-weight: bold; }}
.note {{ background: #fff6d5; padding: 0.5em; }}
</style></head><body>
<h1>{esc(report.hall_name)} — {esc(report.day)}</h1>
{note}
<p>Service level target: {report.target_share * 100:.0f}% of called customers within
{report.target_wait_s // 60} minutes. Waits run from issue to the first call; p90 is the nearest-rank
90th percentile. Ratings: 1 satisfied, 2 neutral, 3 unsatisfied.</p>
{outages}
{table("hall", "Hall")}
{table("service", "Services")}
{table("counter", "Counters")}
{table("clerk", "Clerks")}
<h2>Arrivals by hour</h2>
<img alt="tickets issued by hour" src="data:image/png;base64,{base64.b64encode(arrivals).decode()}">
<h2>Waits by hour</h2>
<img alt="waiting time by hour" src="data:image/png;base64,{base64.b64encode(waits).decode()}">
<p class="small">{report.events} events read from the controller's records.</p>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, "utf-8")


def make_report(config: Config, data_dir: Path, day: str, frame: TimeFrame = TimeFrame()) -> Report:
    return build_report(config, load_day(Path(data_dir) / "controller.db", day), frame)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.broker)
    data_dir = Path(args.data) if args.data else Path("hallq-data") / config.hall.id
    day = business_day_named(args.date, config)
    try:
        report = make_report(config, data_dir, day)
    except (FileNotFoundError, sqlite3.Error) as err:
        print(f"hallq report: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(text_table(report))
    if args.csv:
        csv_path = Path(args.csv.replace("{date}", day))
        write_csv(report, csv_path)
        print(f"wrote {csv_path}")
    if args.html:
        html_path = Path(args.html.replace("{date}", day))
        write_html(report, html_path)
        print(f"wrote {html_path}")
    return 0


def business_day_named(value: str | None, config: Config) -> str:
    """``--date``: YYYY-MM-DD, ``today`` or ``yesterday`` (the hall's, in its time zone: a report
    run by a timer needs no time zone of its own)."""
    today = datetime.now(config.zone).date()
    if value in (None, "today"):
        return today.isoformat()
    if value == "yesterday":
        return (today - timedelta(days=1)).isoformat()
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise ConfigError("--date", "date", f"a day as YYYY-MM-DD, today or yesterday, not {value!r}") from None
