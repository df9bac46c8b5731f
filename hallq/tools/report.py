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

from hallq.errors import ConfigError
from hallq.records.day import DayRecords, EstimateError, TimeFrame, estimate_error, load_day, nearest_rank
from hallq.core.model import CallingRules
from hallq.runtime.config import Config, load_config
from hallq.runtime.setup import setup_from_config
from hallq.runtime.i18n import DEFAULT, N_, counter_name, day_text, gettext, minutes, normalise, service_name


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
            "issued": self.issued if self.scope in ("hall", "service") else None, "served": self.served, "no_show": self.no_show,
            "voided": self.voided if self.scope in ("hall", "service") else None,
            "open": self.waiting if self.scope in ("hall", "service") else None,
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
    journeys: dict[str, Any] = field(default_factory=dict)       # began, went through, each step's waits
    # the calling rules in force: (from when, or None for the day's start; the rules; who set them)
    rules: list[tuple[datetime | None, CallingRules, str]] = field(default_factory=list)

    def clock(self, moment: datetime) -> str:
        return self.frame.at(moment).astimezone(self.zone).strftime("%H:%M")

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

    def visit_scopes(service: str, counter: str | None, clerk: str | None, status: str) -> list[Figures]:
        scopes = [bucket(services, service, "service")]
        if counter and status in ("served", "no_show"):
            scopes.append(bucket(counters, counter, "counter"))
            if clerk:
                scopes.append(bucket(clerks, clerk, "clerk"))
        return scopes

    def count(fig: Figures, status: str, wait: float | None, service_s: float | None, rating: int | None,
              out_of_order: bool) -> None:
        if status == "served":
            fig.served += 1
        elif status == "no_show":
            fig.no_show += 1
        elif status == "voided" and fig.scope in ("hall", "service"):
            fig.voided += 1
        elif status in ("waiting", "called") and fig.scope in ("hall", "service"):
            fig.waiting += 1
        if wait is not None and status in ("served", "no_show"):
            shown_wait = frame.seconds(wait)
            fig.waits.append(shown_wait)
            if shown_wait <= target_s:
                fig.within_target += 1
        if status == "served" and service_s is not None:
            fig.service_times.append(frame.seconds(service_s))
        if rating in fig.ratings:
            fig.ratings[rating] += 1
        if out_of_order:
            fig.out_of_order += 1

    for rec in sorted(records.tickets.values(), key=lambda r: (r.ticket.issued_at, r.ticket.number)):
        t = rec.ticket
        issued_hour = frame.at(t.issued_at).astimezone(config.zone).hour
        bucket(services, rec.issued_service, "service").issued += 1
        hall.issued += 1
        arrivals.setdefault(rec.issued_service, {})
        arrivals[rec.issued_service][issued_hour] = arrivals[rec.issued_service].get(issued_hour, 0) + 1
        if rec.steps:
            # a journey: the hall counts the customer once (the wait to the first call); each step is a
            # visit to its service, counter and clerk, with that step's wait, time at the counter and rating
            count(hall, t.status, rec.wait_s, None, None, rec.out_of_order)
            for visit in rec.steps:
                status = "served" if visit.served else t.status     # the step it is at has the ticket's status
                for fig in visit_scopes(visit.service, visit.counter, visit.clerk, status):
                    count(fig, status, visit.wait_s, visit.service_s, visit.rating, False)
                if visit.served and visit.service_s is not None:
                    hall.service_times.append(frame.seconds(visit.service_s))
                if visit.rating in hall.ratings:
                    hall.ratings[visit.rating] += 1
        else:
            for fig in [hall, *visit_scopes(t.service, t.counter or rec.first_counter, t.clerk, t.status)]:
                count(fig, t.status, rec.wait_s, rec.service_s, t.rating, rec.out_of_order)
        if rec.wait_s is not None and t.status in ("served", "no_show"):
            waits_by_hour.setdefault(issued_hour, []).append(frame.seconds(rec.wait_s))

    figures = [hall, *services.values(), *counters.values(), *sorted(clerks.values(), key=lambda f: f.key)]
    rows = [f.row(config.hall.service_level_share) for f in figures]
    hours = sorted({h for by in arrivals.values() for h in by} | set(waits_by_hour))
    return Report(config.hall.id, config.hall.name, records.day, target_s, config.hall.service_level_share,
                  frame, rows, hours, arrivals, waits_by_hour, records.outages, records.events, config.zone,
                  estimate_error(records, frame), appointment_figures(records, frame), journey_figures(records, frame),
                  rules_in_force(config, records))


def rules_in_force(config: Config, records: DayRecords) -> list[tuple[datetime | None, CallingRules, str]]:
    """Which calling rules were in force when: those before the day's first change (or the hall
    file's, when nothing changed), then each change with who made it ("file": the hall file at a
    controller's start)."""
    changes = records.rule_changes
    first = changes[0].before if changes else setup_from_config(config).file_rules
    return [(None, first, ""), *((c.at, c.rules, "file" if c.file else c.by) for c in changes)]


def journey_figures(records: DayRecords, frame: TimeFrame) -> dict[str, Any]:
    """Tickets that went through several services on one number: how many began and went through
    every step, and per step (its place in the route and its service) how many reached it, were
    called there and how long they waited there (from the step before finishing to the call)."""
    journeys = [r for r in records.tickets.values() if r.route]
    if not journeys:
        return {}
    steps: dict[tuple[int, str], list[Any]] = {}
    for rec in journeys:
        for i, visit in enumerate(rec.steps):
            steps.setdefault((i, visit.service), []).append(visit)
    table = []
    for (i, service), visits in sorted(steps.items()):
        waits = [frame.seconds(v.wait_s) for v in visits if v.wait_s is not None]
        table.append({"step": i + 1, "service": service, "reached": len(visits), "called": len(waits),
                      "wait_median_s": _round(statistics.median(waits)) if waits else None,
                      "wait_p90_s": _round(nearest_rank(waits, 0.9)) if waits else None})
    finished = sum(1 for r in journeys if len(r.steps) == len(r.route) and r.steps[-1].served)
    return {"began": len(journeys), "finished": finished, "steps": table}


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
# Every table of the report, whatever its form (terminal, CSV, HTML): (key, heading, how a value is
# written). Times are in minutes, as a manager reads them; shares in percent.
def _minutes(value: float | None) -> str:
    return "" if value is None else f"{value / 60:.1f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}"


def _count(value: Any) -> str:
    return "" if value is None else str(value)


COLUMN_TABLE: list[tuple[str, str, Callable[[Any], str]]] = [
    ("issued", N_("Issued"), _count), ("served", N_("Served"), _count), ("no_show", N_("No-shows"), _count),
    ("voided", N_("Voided"), _count), ("open", N_("Not yet served"), _count),
    ("wait_median_s", N_("Wait, median (min)"), _minutes), ("wait_p90_s", N_("Wait, 9 in 10 within (min)"), _minutes),
    ("wait_max_s", N_("Wait, longest (min)"), _minutes),
    ("service_median_s", N_("Service time, median (min)"), _minutes),
    ("service_mean_s", N_("Service time, mean (min)"), _minutes), ("rated", N_("Ratings"), _count),
    ("rating_1", N_("Satisfied"), _count), ("rating_2", N_("Neutral"), _count), ("rating_3", N_("Dissatisfied"), _count),
    ("satisfied_share", N_("Satisfied (%)"), _share),
    ("within_target_share", N_("Called within {minutes} min (%)"), _share),
    ("target_met", N_("Service level met"), lambda v: v),   # written by _met
    ("out_of_order", N_("Called out of turn"), _count),
]
SCOPE_TITLES = {"hall": N_("The hall"), "service": N_("By service"), "counter": N_("By counter"),
                "clerk": N_("By clerk"), "hour": N_("Tickets by hour")}
SCOPE_WORDS = {"hall": N_("Hall"), "service": N_("Service"), "counter": N_("Counter"), "clerk": N_("Clerk"),
               "hour": N_("Hour")}


def _met(value: bool | None, lang: str) -> str:
    return "" if value is None else gettext(N_("yes") if value else N_("no"), lang)


def _width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def headings(report: Report, lang: str) -> dict[str, str]:
    return {key: gettext(title, lang, minutes=report.target_wait_s // 60) for key, title, _ in COLUMN_TABLE}


def cells(report: Report, row: dict[str, Any], lang: str) -> dict[str, str]:
    return {key: (_met(row[key], lang) if key == "target_met" else write(row[key]))
            for key, _, write in COLUMN_TABLE}


def row_name(report: Report, row: dict[str, Any], lang: str, config: Config | None) -> str:
    """The name people know a row by: the hall's, a service's or counter's configured name, the clerk's id."""
    if config is not None and row["scope"] == "service":
        return service_name(config, row["key"], lang)
    if config is not None and row["scope"] == "counter":
        return counter_name(config, row["key"], lang)
    return row["name"]


def _columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """The columns a table has values for (a counter issues no tickets)."""
    return [key for key, _, _ in COLUMN_TABLE if any(r.get(key) is not None for r in rows)]


def title_line(report: Report, lang: str) -> str:
    return gettext(N_("{hall} daily report {day}"), lang, hall=report.hall_name, day=day_text(report.day, lang))


def target_line(report: Report, lang: str) -> str:
    line = gettext(N_("Service level target: {share}% of customers called within {minutes} min of taking a ticket"),
                   lang, share=round(report.target_share * 100), minutes=report.target_wait_s // 60)
    if report.frame.simulated:
        line += gettext(N_("; a simulated day, times on its clock ({speed}× real time)"), lang,
                        speed=f"{report.frame.shown_speed:g}")
    return line


def text_table(report: Report, lang: str = DEFAULT, config: Config | None = None) -> str:
    names = headings(report, lang)
    lines = [title_line(report, lang), target_line(report, lang), ""]
    for scope in ("hall", "service", "counter", "clerk"):
        rows = report.rows_of(scope)
        if not rows:
            continue
        keys = _columns_of(rows)
        header = [gettext(SCOPE_TITLES[scope], lang), *[names[k] for k in keys]]
        body = [[row_name(report, r, lang, config), *[cells(report, r, lang)[k] or "-" for k in keys]] for r in rows]
        widths = [max(_width(r[i]) for r in [header, *body]) for i in range(len(header))]
        for r in [header, *body]:
            out = [cell + " " * (widths[i] - _width(cell)) if i == 0 else " " * (widths[i] - _width(cell)) + cell
                   for i, cell in enumerate(r)]
            lines.append("  ".join(out).rstrip())
        lines.append("")
    lines += [line for line in (rules_line(report, lang), outage_line(report, lang), appointment_line(report, lang),
                                journey_line(report, lang, config), estimate_line(report.estimates, lang) if report.estimates else "") if line]
    return "\n".join(lines).rstrip("\n") + "\n"


def outage_line(report: Report, lang: str = DEFAULT) -> str:
    if not report.outages:
        return ""
    spans = "，".join(f"{report.clock(a)}–{report.clock(b) if b else gettext(N_('still on'), lang)}"
                     for a, b in report.outages)
    return gettext(N_("Declared outages: {spans}"), lang, spans=spans)


def appointment_line(report: Report, lang: str = DEFAULT) -> str:
    ap = report.appointments
    if not ap:
        return ""
    return gettext(N_("Appointments: {booked} booked, {checked_in} checked in ({on_time} on time, {late} late and "
                      "given a walk-in ticket), {never_came} never came; those on time waited {median} (median), "
                      "{longest} at most"), lang, booked=ap["booked"], checked_in=ap["checked_in"],
                   on_time=ap["on_time"], late=ap["late"], never_came=ap["never_came"],
                   median=minutes(ap["wait_median_s"], lang), longest=minutes(ap["wait_max_s"], lang))


def rules_text(rules: CallingRules, lang: str = DEFAULT) -> str:
    """The rules that differ from the contract's order (priority first, then by issue time), in words."""
    _ = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    parts = []
    if rules.priority_per_normal:
        parts.append(_(N_("at most {n} priority calls in a row while a walk-in waits"), n=rules.priority_per_normal))
    if rules.ageing_s:
        parts.append(_(N_("a walk-in waiting {minutes} goes first"), minutes=minutes(rules.ageing_s, lang)))
    if rules.appointment_place == "interleaved":
        parts.append(_(N_("appointments queue by their slot among walk-ins")))
    if rules.journey_order == "step":
        parts.append(_(N_("a journey's next step queues from when it got there")))
    if rules.auto_call_s:
        parts.append(_(N_("a counter free {minutes} calls by itself"), minutes=minutes(rules.auto_call_s, lang)))
    return gettext(N_("; "), lang).join(parts) if parts else _(N_("priority first, then by issue time"))


def rules_line(report: Report, lang: str = DEFAULT) -> str:
    """Calling rules: the day's (or, when they changed, each with its time and who changed it)."""
    if len(report.rules) == 1:
        return gettext(N_("Calling rules all day: {rules}"), lang, rules=rules_text(report.rules[0][1], lang))
    spans = []
    for at, rules, who in report.rules:
        when = gettext(N_("from {time}"), lang, time=report.clock(at)) if at is not None else \
            gettext(N_("at the start"), lang)
        whose = gettext(N_("the hall file"), lang) if who == "file" else who
        text = rules_text(rules, lang)
        if who:
            text = gettext(N_("{rules} ({who})"), lang, rules=text, who=whose)
        spans.append(gettext(N_("{when}: {rules}"), lang, when=when, rules=text))
    return gettext(N_("Calling rules: {spans}"), lang, spans=gettext(N_(" | "), lang).join(spans))


def journey_line(report: Report, lang: str = DEFAULT, config: Config | None = None) -> str:
    jr = report.journeys
    if not jr:
        return ""
    sep = gettext(N_("; "), lang)
    steps = sep.join(gettext(N_("step {step} {service}: {called} of {reached} called, waited {median} (median), "
                                "9 in 10 within {p90}"), lang, step=s["step"],
                             service=service_name(config, s["service"], lang) if config is not None else s["service"],
                             called=s["called"], reached=s["reached"], median=minutes(s["wait_median_s"], lang),
                             p90=minutes(s["wait_p90_s"], lang)) for s in jr["steps"])
    return gettext(N_("Journeys: {began} began, {finished} went through every step"), lang,
                   began=jr["began"], finished=jr["finished"]) + sep + steps


def estimate_line(est: EstimateError, lang: str = DEFAULT) -> str:
    """How far the waits printed on tickets were off, in words a manager reads without statistics,
    and how often no wait could be told (nobody was calling the service)."""
    unknown = gettext(N_("{n} tickets were told the wait was not known yet (nobody was calling their service)"),
                      lang, n=est.not_known) if est.not_known else ""
    if not est.tickets:
        return unknown
    direction = N_("longer") if est.median_signed_s > 0 else N_("shorter")
    line = gettext(N_("Waits told on tickets ({tickets} tickets after the first hour): off by {typical} for a "
                      "typical ticket and by at most {p90} for 9 in 10, that is {share}% of the typical wait "
                      "({actual}); waits were typically {by} {direction} than told"), lang,
                   tickets=est.tickets, typical=minutes(est.median_abs_s, lang), p90=minutes(est.p90_abs_s, lang),
                   share=round(est.share_of_wait * 100), actual=minutes(est.median_actual_s, lang),
                   by=minutes(abs(est.median_signed_s), lang), direction=gettext(direction, lang))
    if est.long_waits:
        line += gettext(N_("; for waits of 5 min or more ({n}) typically off by {share}% of the wait"), lang,
                        n=est.long_waits, share=round(est.long_relative * 100))
    return line + ("；" if normalise(lang) == "zh_CN" else "; ") + unknown if unknown else line


def csv_text(report: Report, lang: str = DEFAULT, config: Config | None = None) -> str:
    """One tidy table for Excel: UTF-8 with a BOM (else Excel garbles Chinese), CRLF lines, Chinese
    headings, names, minutes with one decimal, empty cells for no value. The last column is the
    service's or counter's code: head office's figures are per code, so the two can be joined."""
    names = headings(report, lang)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([gettext(N_("Day"), lang), gettext(N_("Scope"), lang), gettext(N_("Name"), lang),
                     gettext(N_("Hour"), lang), *[names[k] for k, _, _ in COLUMN_TABLE], gettext(N_("Code"), lang)])
    for row in report.rows:
        values = cells(report, row, lang)
        writer.writerow([report.day, gettext(SCOPE_WORDS[row["scope"]], lang), row_name(report, row, lang, config),
                         "", *[values[k] for k, _, _ in COLUMN_TABLE], row["key"]])
    # arrivals by hour, one row per service and hour, in the same table shape
    issued = next(i for i, (k, _, _) in enumerate(COLUMN_TABLE) if k == "issued")
    for service, by_hour in report.arrivals_by_hour.items():
        for hour in sorted(by_hour):
            blank = [""] * len(COLUMN_TABLE)
            blank[issued] = str(by_hour[hour])
            name = service_name(config, service, lang) if config is not None else service
            writer.writerow([report.day, gettext(SCOPE_WORDS["hour"], lang), name, f"{hour:02d}:00", *blank, service])
    return out.getvalue()


def write_csv(report: Report, path: Path, lang: str = DEFAULT, config: Config | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_text(report, lang, config).encode("utf-8"))


def charts_png(report: Report, lang: str = DEFAULT, config: Config | None = None) -> tuple[bytes, bytes]:
    """(arrivals by hour, waits by hour) as PNG bytes, labelled in the report's language with the
    services' names; the y axis leaves room above the tallest bar for its label."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    _use_cjk_font()
    hours = report.hours or [9]
    labels = [f"{h:02d}" for h in hours]
    fig, ax = plt.subplots(figsize=(8, 3.4), dpi=100)
    bottom = [0] * len(hours)
    for service, by_hour in report.arrivals_by_hour.items():
        counts = [by_hour.get(h, 0) for h in hours]
        name = service_name(config, service, lang) if config is not None else service
        ax.bar(labels, counts, bottom=bottom, label=name)
        bottom = [b + c for b, c in zip(bottom, counts)]
    for x, total in zip(labels, bottom):
        if total:
            ax.annotate(str(total), (x, total), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    ax.set_ylim(0, max(bottom + [1]) * 1.18)
    arrivals = _finish_chart(fig, ax, gettext(N_("Tickets issued by hour"), lang), gettext(N_("tickets"), lang), lang)

    fig, ax = plt.subplots(figsize=(8, 3.4), dpi=100)
    med = [statistics.median(report.waits_by_hour[h]) / 60 if report.waits_by_hour.get(h) else 0 for h in hours]
    p90 = [(nearest_rank(report.waits_by_hour[h], 0.9) or 0) / 60 if report.waits_by_hour.get(h) else 0 for h in hours]
    ax.plot(labels, med, marker="o", label=gettext(N_("typical wait"), lang))
    ax.plot(labels, p90, marker="s", label=gettext(N_("9 in 10 within"), lang))
    ax.axhline(report.target_wait_s / 60, color="red", linestyle="--", linewidth=1, label=gettext(N_("target"), lang))
    ax.set_ylim(0, max(med + p90 + [report.target_wait_s / 60]) * 1.18)
    waits = _finish_chart(fig, ax, gettext(N_("Waiting time by hour of ticket (min)"), lang),
                          gettext(N_("minutes"), lang), lang)
    return arrivals, waits


def _use_cjk_font() -> None:
    """A font that has the Chinese glyphs (Debian's WenQuanYi or Noto CJK); matplotlib's default has none."""
    import logging

    from matplotlib import font_manager, rcParams
    # WenQuanYi's collection registers as weight 500: matplotlib then warns on every label it draws
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    for path in ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"):
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
            rcParams["font.sans-serif"] = [font_manager.FontProperties(fname=path).get_name(), "DejaVu Sans"]
            return


def _finish_chart(fig: Any, ax: Any, title: str, ylabel: str, lang: str) -> bytes:
    """Title, axes and legend as every chart of the report has them; the PNG bytes, figure closed."""
    import matplotlib.pyplot as plt

    ax.set_title(title)
    ax.set_xlabel(gettext(N_("hour"), lang))
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_html(report: Report, path: Path, lang: str = DEFAULT, config: Config | None = None) -> None:
    arrivals, waits = charts_png(report, lang, config)
    esc = html.escape
    names = headings(report, lang)

    def table(scope: str) -> str:
        rows = report.rows_of(scope)
        if not rows:
            return ""
        keys = _columns_of(rows)
        head = "".join(f"<th scope='col'>{esc(names[k])}</th>" for k in keys)
        out = [f"<h2>{esc(gettext(SCOPE_TITLES[scope], lang))}</h2><table><thead><tr><th></th>{head}</tr></thead><tbody>"]
        for row in rows:
            values = cells(report, row, lang)
            tds = "".join(f"<td class='{ {True: 'ok', False: 'bad'}.get(row[k], '') if k == 'target_met' else ''}'>"
                          f"{esc(values[k] or '-')}</td>" for k in keys)
            out.append(f"<tr><th scope='row'>{esc(row_name(report, row, lang, config))}</th>{tds}</tr>")
        out.append("</tbody></table>")
        return "\n".join(out)

    notes = "".join(f"<p>{esc(line)}</p>" for line in (rules_line(report, lang), outage_line(report, lang),
                                                       appointment_line(report, lang),
                                                       journey_line(report, lang, config),
                                                       estimate_line(report.estimates, lang) if report.estimates else "")
                    if line)
    explain = gettext(N_("Waits run from taking the ticket to the first call. \"9 in 10 within\": nine customers "
                         "in ten waited no longer. Ratings come from the counter's keypad."), lang)
    source = gettext(N_("{n} events read from the controller's records."), lang, n=report.events)
    doc = f"""<!doctype html>
<html lang="{'zh-CN' if lang == DEFAULT else 'en'}"><head><meta charset="utf-8"><title>{esc(title_line(report, lang))}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
tr > th:first-child {{ text-align: left; white-space: nowrap; }}
td.ok {{ color: #176b2c; }} td.bad {{ color: #b00020; font-weight: bold; }}
.note {{ background: #fff6d5; padding: 0.5em; }}
img {{ max-width: 100%; }}
@page {{ size: A4 landscape; margin: 12mm; }}
@media print {{ body {{ margin: 0; font-size: 10pt; }} h2, table, img {{ break-inside: avoid; }} }}
</style></head><body>
<h1>{esc(title_line(report, lang))}</h1>
<p class="note">{esc(target_line(report, lang))}</p>
<p>{esc(explain)}</p>
{notes}
{table("hall")}
{table("service")}
{table("counter")}
{table("clerk")}
<h2>{esc(gettext(N_("Tickets issued by hour"), lang))}</h2>
<img alt="{esc(gettext(N_("Tickets issued by hour"), lang))}" src="data:image/png;base64,{base64.b64encode(arrivals).decode()}">
<h2>{esc(gettext(N_("Waiting time by hour of ticket (min)"), lang))}</h2>
<img alt="{esc(gettext(N_("Waiting time by hour of ticket (min)"), lang))}" src="data:image/png;base64,{base64.b64encode(waits).decode()}">
<p class="small">{esc(source)}</p>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, "utf-8")


def make_report(config: Config, data_dir: Path, day: str, frame: TimeFrame = TimeFrame()) -> Report:
    return build_report(config, load_day(Path(data_dir) / "controller.db", day), frame)


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.broker)
    data_dir = Path(args.data) if args.data else Path("hallq-data") / config.hall.id
    if getattr(args, "forecast", False):
        from .forecast import forecast_main  # noqa: PLC0415 - only for --forecast
        return forecast_main(config, data_dir, args.lang)
    day = business_day_named(args.date, config)
    try:
        report = make_report(config, data_dir, day)
    except (FileNotFoundError, sqlite3.Error) as err:
        print(f"hallq report: {err}", file=sys.stderr)
        return 1
    lang = args.lang
    sys.stdout.write(text_table(report, lang, config))
    if args.csv:
        csv_path = Path(args.csv.replace("{date}", day))
        write_csv(report, csv_path, lang, config)
        print(gettext(N_("wrote {path}"), lang, path=csv_path))
    if args.html:
        html_path = Path(args.html.replace("{date}", day))
        write_html(report, html_path, lang, config)
        print(gettext(N_("wrote {path}"), lang, path=html_path))
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
