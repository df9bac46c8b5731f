"""The console's reports (日报表 / 月报表): the hall's own records kept by the web service (the same
archive and SQL as head office: every event stored exactly once, gaps fetched with ``events``).

Per 业务 (service), 窗口 (counter) and 柜员 (clerk): tickets issued, served, no-shows, voided; waits
(issue to first call) median and 90th percentile and the mean service time, in minutes; the
service level (the share called within ``[hall] service_level_wait_s``); ratings; calls out of
order. For the hall: appointments booked and checked in on time, outages (how many, minutes).
Names as configured, never ids; headings in the console's language. As a page (printable on A4),
a chart, CSV for Excel (UTF-8 with BOM, Chinese headers) and an .xlsx workbook (openpyxl); a copy of
each day that ended is kept in ``--data``/reports for managers.
"""
from __future__ import annotations

import calendar
import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallq.records.figures import day_report
from hallq.records.store import CentralStore
from hallq.runtime.config import Config
from hallq.runtime.i18n import N_, counter_name, gettext, minutes_value, service_name

log = logging.getLogger(__name__)

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = re.compile(r"^\d{4}-\d{2}$")
# the columns of every table: (key, heading); a table shows those it has
COLUMNS = [("name", N_("Name")), ("issued", N_("Issued")), ("served", N_("Served")), ("no_show", N_("No-shows")),
           ("voided", N_("Voided")), ("wait_median_min", N_("Wait, median (min)")),
           ("wait_p90_min", N_("Wait, 9 in 10 within (min)")), ("service_mean_min", N_("Service time, mean (min)")),
           ("service_level", N_("Called within {minutes} min")), ("rating_1", N_("Satisfied")),
           ("rating_2", N_("Neutral")), ("rating_3", N_("Dissatisfied")), ("out_of_order", N_("Called out of turn"))]
SCOPES = [("service", N_("By service")), ("counter", N_("By counter")), ("clerk", N_("By clerk"))]


@dataclass
class HallReport:
    """One period's figures of the hall: a day (``YYYY-MM-DD``) or a month (``YYYY-MM``)."""
    period: str
    first: str
    last: str
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    hall: dict[str, Any] = field(default_factory=dict)

    @property
    def monthly(self) -> bool:
        return self.first != self.last

    def empty(self) -> bool:
        return not any(self.tables.values())


def period_bounds(period: str) -> tuple[str, str] | None:
    """(first day, last day) of ``YYYY-MM-DD`` or ``YYYY-MM``; None if it is neither."""
    if DAY.match(period):
        return period, period
    if MONTH.match(period):
        year, month = int(period[:4]), int(period[5:])
        if not 1 <= month <= 12:
            return None
        return f"{period}-01", f"{period}-{calendar.monthrange(year, month)[1]:02d}"
    return None


class Reports:
    def __init__(self, store: CentralStore, hall: str, folder: Path, config: Config | None = None) -> None:
        self.store, self.hall, self.folder, self.config = store, hall, folder, config
        self.folder.mkdir(parents=True, exist_ok=True)

    # --- figures ---------------------------------------------------------------------------------
    def rows(self, day: str) -> list[dict[str, Any]]:
        """Per service, head office's columns (ids): what the nightly copies and the tests compare."""
        return [r for r in day_report(self.store, day) if r["hall"] == self.hall]

    def report(self, period: str, lang: str = "zh_CN") -> HallReport:
        bounds = period_bounds(period)
        if bounds is None:
            raise ValueError(period)
        first, last = bounds
        config = self.config
        target = config.hall.service_level_wait_s if config else 900
        report = HallReport(period, first, last)
        ooo = {(kind, key): n for kind, key, n in self._out_of_order(first, last)}
        services = []
        for r in day_report(self.store, first, target, last):
            if r["hall"] != self.hall:
                continue
            services.append({
                "key": r["service"], "name": service_name(config, r["service"], lang) if config else r["service"],
                "issued": r["issued"], "served": r["served"], "no_show": r["no_show"], "voided": r["voided"],
                "wait_median_min": minutes_value(r["wait_median_s"]), "wait_p90_min": minutes_value(r["wait_p90_s"]),
                "service_mean_min": minutes_value(r["service_mean_s"]),
                "service_level": None if r["service_level_share"] is None else round(r["service_level_share"] * 100),
                "rating_1": r["rating_1"], "rating_2": r["rating_2"], "rating_3": r["rating_3"],
                "out_of_order": ooo.get(("service", r["service"]), 0)})
        order = {s.id: i for i, s in enumerate(config.service)} if config else {}
        report.tables["service"] = sorted(services, key=lambda r: order.get(r["key"], 99))
        for by in ("counter", "clerk"):
            people = []
            for hall, who, served, no_show, mean, r1, r2, r3 in self.store.day_people(first, by, last):
                if hall != self.hall:
                    continue
                name = counter_name(config, who, lang) if (config and by == "counter") else str(who)
                people.append({"key": who, "name": name, "served": served, "no_show": no_show,
                               "service_mean_min": minutes_value(mean), "rating_1": r1, "rating_2": r2,
                               "rating_3": r3, "out_of_order": ooo.get((by, who), 0) if by == "counter" else None})
            if by == "counter" and config:
                people.sort(key=lambda r: (config.counter_number(r["key"]) or 0, r["key"]))
            report.tables[by] = people
        extras = self.store.day_hall_extras(first, last).get(self.hall, {})
        report.hall = {"appointments_booked": extras.get("appointments_booked", 0),
                       "appointments_on_time": extras.get("appointments_on_time", 0),
                       "outages": extras.get("outages", 0), "outage_minutes": extras.get("outage_minutes", 0),
                       "out_of_order": extras.get("out_of_order", 0)}
        return report

    def _out_of_order(self, first: str, last: str) -> list[tuple[str, str, int]]:
        """Calls by number ahead of their turn, per service and per counter."""
        out = []
        for service, counter, n in self.store.query(
                "SELECT service, counter, COUNT(*) FROM events WHERE hall = ? AND day BETWEEN ? AND ? AND "
                "type = 'ticket_called' AND body LIKE ? GROUP BY service, counter",
                (self.hall, first, last, '%"out_of_order":true%')):
            out += [("service", service, int(n)), ("counter", counter, int(n))]
        merged: dict[tuple[str, str], int] = {}
        for kind, key, n in out:
            merged[(kind, key)] = merged.get((kind, key), 0) + n
        return [(k, key, n) for (k, key), n in merged.items()]

    def days(self) -> list[str]:
        return [r[0] for r in self.store.query("SELECT DISTINCT day FROM tickets WHERE hall = ? ORDER BY day DESC",
                                               (self.hall,))]

    def months(self) -> list[str]:
        return sorted({d[:7] for d in self.days()}, reverse=True)

    # --- files -------------------------------------------------------------------------------------
    def csv_text(self, period: str, lang: str = "zh_CN") -> str:
        return report_csv(self.report(period, lang), self.config, lang)

    def xlsx_bytes(self, period: str, lang: str = "zh_CN") -> bytes:
        return report_xlsx(self.report(period, lang), self.config, lang)

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


def headings(config: Config | None, lang: str) -> dict[str, str]:
    target = (config.hall.service_level_wait_s if config else 900) // 60
    return {key: gettext(title, lang, minutes=target) for key, title in COLUMNS}


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return [key for key, _ in COLUMNS if any(r.get(key) is not None for r in rows) or key == "name"]


def _cell(value: Any) -> Any:
    return "" if value is None else value


def report_csv(report: HallReport, config: Config | None, lang: str) -> str:
    """The report as CSV for Excel: UTF-8 with a BOM (else Excel garbles Chinese), CRLF lines, one block
    per table with its title, Chinese headers, minutes with one decimal, empty cells for no value."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    names = headings(config, lang)
    title = gettext(N_("Monthly report {period}") if report.monthly else N_("Daily report {period}"), lang,
                    period=report.period)
    writer.writerow([((config.hall.name + " ") if config else "") + title])
    for scope, scope_title in SCOPES:
        rows = report.tables.get(scope) or []
        if not rows:
            continue
        keys = _columns(rows)
        writer.writerow([])
        writer.writerow([gettext(scope_title, lang)])
        writer.writerow([names[k] for k in keys])
        for r in rows:
            writer.writerow([_cell(r.get(k)) for k in keys])
    writer.writerow([])
    for key, value in _hall_lines(report, lang):
        writer.writerow([key, value])
    return out.getvalue()


def _hall_lines(report: HallReport, lang: str) -> list[tuple[str, Any]]:
    h = report.hall
    return [(gettext("Appointments booked", lang), h["appointments_booked"]),
            (gettext("Appointments checked in on time", lang), h["appointments_on_time"]),
            (gettext("Outages", lang), h["outages"]), (gettext("Outage minutes", lang), h["outage_minutes"]),
            (gettext("Called out of turn", lang), h["out_of_order"])]


def report_xlsx(report: HallReport, config: Config | None, lang: str) -> bytes:
    """The report as an Excel workbook: one sheet per table and one for the hall, headers bold."""
    from openpyxl import Workbook  # noqa: PLC0415 - only when a manager asks for a workbook
    from openpyxl.styles import Font
    book = Workbook()
    book.remove(book.active)
    names = headings(config, lang)
    for scope, scope_title in SCOPES:
        rows = report.tables.get(scope) or []
        sheet = book.create_sheet(gettext(scope_title, lang)[:31])
        keys = _columns(rows)
        sheet.append([names[k] for k in keys])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r in rows:
            sheet.append([r.get(k) for k in keys])
        for i, key in enumerate(keys, start=1):
            sheet.column_dimensions[sheet.cell(1, i).column_letter].width = max(10, len(names[key]) * 2)
    sheet = book.create_sheet(gettext("The hall", lang))
    for key, value in _hall_lines(report, lang):
        sheet.append([key, value])
    sheet.column_dimensions["A"].width = 28
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
