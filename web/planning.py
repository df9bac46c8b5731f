"""The console's planning page (排班与重演) for supervisors and managers: the counters each quarter hour
of the next week needs (the staffing forecast of ``hallq report --forecast``) and a recorded day
played again with a counter closed or opened for some hours (``hallq replay``), with a chart of the
waits by hour. Read from the web's own copy of the hall's events; a plain form (GET), no script.
"""
from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from babel.dates import format_date

from hallq.core.setup import Setup
from hallq.http.pages import Lang
from hallq.records.replay import Change, load_events
from hallq.records.staffing import ForecastRow, forecast_from_records, recorded_days
from hallq.records.whatif import Comparison, compare, row_label
from hallq.runtime.config import Config
from hallq.runtime.i18n import N_, counter_name, gettext, minutes, normalise, percent, service_name

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# the page's own words (kept out of f-strings: the catalog's extractor reads calls, not f-string parts)
WORDS = {
    "no_days": N_("No finished business day is recorded yet: the forecast needs the hall’s records."),
    "from": N_("From"),
    "day": N_("Day"),
    "counter": N_("Counter"),
    "change": N_("Change"),
    "closed": N_("closed"),
    "opened": N_("opened"),
    "to": N_("To"),
    "replay": N_("Replay"),
    "reports": N_("Reports"),
    "title": N_("Staffing and what-if"),
    "forecast": N_("Counters needed next week"),
    "whatif": N_("What if: a recorded day played again"),
}


def words_in(lang: Lang) -> dict[str, str]:
    """The page's words in ``lang`` (escape them where they go into HTML)."""
    return {key: gettext(text, lang) for key, text in WORDS.items()}


@dataclass(frozen=True)
class WhatIf:
    """The form's question: a recorded day, and optionally one counter closed (or opened) for a span."""
    day: str
    counter: str = ""
    opened: bool = False
    start: str = ""
    end: str = ""

    @property
    def change(self) -> Change | None:
        if not self.counter:
            return None
        return Change(self.counter, self.opened, time.fromisoformat(self.start), time.fromisoformat(self.end))


def read_question(query: dict[str, str], config: Config, days: list[str]) -> tuple[WhatIf | None, str]:
    """The form's fields, checked: (the question or None, what was wrong in words, or '')."""
    day = query.get("day") or (days[0] if days else "")
    if not day:
        return None, ""
    if not DAY.match(day) or day not in days:
        return None, gettext(N_("No records of {day}"), "zh_CN", day=day)
    counter = query.get("counter", "")
    if not counter:
        return WhatIf(day), ""
    if config.counter_by_id(counter) is None:
        return None, gettext(N_("No counter {counter} in this hall"), "zh_CN", counter=counter)
    start, end = query.get("from", ""), query.get("to", "")
    if not HHMM.match(start) or not HHMM.match(end) or start >= end:
        return None, gettext(N_("From and to: times such as 13:30 and 15:00, the first before the second"), "zh_CN")
    return WhatIf(day, counter, query.get("action") == "open", start, end), ""


def run(config: Config, setup: Setup, records: Path, today: date, question: WhatIf | None
        ) -> tuple[list[ForecastRow], int, Comparison | None]:
    """The forecast from the records and the replay asked (blocking: called off the event loop)."""
    rows, days_read = forecast_from_records(setup, records, today, config.hall.service_level_wait_s,
                                            config.hall.service_level_share) if records.exists() else ([], 0)
    comparison = None
    if question is not None:
        change = question.change
        comparison = compare(setup, config.zone, question.day, load_events(records, question.day),
                             [change] if change else [])
    return rows, days_read, comparison


def days_with_records(records: Path, today: date) -> list[str]:
    """Recorded business days, newest first, today's (still going) included."""
    return recorded_days(records, (today + timedelta(days=1)).isoformat(), 62) if records.exists() else []


# --- HTML -------------------------------------------------------------------------------------------
def forecast_table(config: Config, rows: list[ForecastRow], days_read: int, lang: Lang) -> str:
    W = words_in(lang)  # noqa: N806 - the page's words
    _ = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    hall = config.hall
    if not days_read:
        return f'<p id="forecast-empty">{html.escape(W["no_days"])}</p>'
    intro = _(N_("Counters needed, next 7 days, from {n} recorded days: {share} called within {wait} "
                 "(Erlang C per service; pauses and shared counters not included)"),
              n=days_read, share=percent(hall.service_level_share), wait=minutes(hall.service_level_wait_s, lang))
    cells: dict[time, dict[date, list[ForecastRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        cells[row.start][row.day].append(row)
    days = sorted({row.day for row in rows})
    peak = {d: max((sum(r.counters for r in cells[q][d]) for q in cells), default=0) for d in days}
    head = "".join(f'<th scope="col">{html.escape(format_date(d, "M月d日 EEE" if normalise(lang) == "zh_CN" else "EEE d MMM", locale=normalise(lang)))}</th>'
                   for d in days)
    body = []
    for quarter in sorted(cells):
        tds = []
        for d in days:
            group = cells[quarter][d]
            total = sum(r.counters for r in group)
            detail = "，".join(_(N_("{service} {arrivals} expected, {counters} counters"),
                                 service=service_name(config, r.service, lang), arrivals=round(r.arrivals),
                                 counters=r.counters) for r in group)
            cls = ' class="peak"' if total and total == peak[d] else ""
            tds.append(f'<td{cls} title="{html.escape(detail)}">{total or ""}</td>')
        body.append(f'<tr><th scope="row">{quarter:%H:%M}</th>{"".join(tds)}</tr>')
    return (f'<p>{html.escape(intro)}</p><div class="scroll"><table id="forecast">'
            f'<tr><th scope="col">{html.escape(W["from"])}</th>{head}</tr>{"".join(body)}</table></div>')


def question_form(config: Config, days: list[str], question: WhatIf | None, lang: Lang) -> str:
    W = words_in(lang)  # noqa: N806 - the page's words
    _ = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    q = question or WhatIf(days[0] if days else "")

    def options(items: list[tuple[str, str]], chosen: str) -> str:
        return "".join(f'<option value="{html.escape(v)}"{" selected" if v == chosen else ""}>{html.escape(t)}</option>'
                       for v, t in items)
    counters = [("", _(N_("none (the day as staffed)")))] + [(k.id, counter_name(config, k.id, lang)) for k in config.counter]
    return ('<form id="whatif" method="get" action="/planning" class="whatif">'
            f'<label>{html.escape(W["day"])} <select name="day">{options([(d, d) for d in days], q.day)}</select></label>'
            f'<label>{html.escape(W["counter"])} <select name="counter">{options(counters, q.counter)}</select></label>'
            f'<label>{html.escape(W["change"])} <select name="action">'
            f'{options([("close", W["closed"]), ("open", W["opened"])], "open" if q.opened else "close")}</select></label>'
            f'<label>{html.escape(W["from"])} <input name="from" type="time" value="{html.escape(q.start or "13:30")}"></label>'
            f'<label>{html.escape(W["to"])} <input name="to" type="time" value="{html.escape(q.end or "15:00")}"></label>'
            f'<button type="submit" class="primary">{html.escape(W["replay"])}</button></form>')


def comparison_view(config: Config, comparison: Comparison, lang: Lang) -> str:
    _ = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    h = comparison.honesty
    honesty = _(N_("Honesty: the day replayed as it was staffed gives {n} tickets their recorded wait within "
                   "{error} s for a typical ticket ({share}% of the typical wait); the typical wait itself is off "
                   "by {median}%"), n=h.tickets, error=round(h.median_abs_error_s),
                share=round(h.share_of_median_wait * 100), median=round(h.median_wait_error * 100))
    changed = [_(N_("{counter} open {start}-{end}") if c.open else N_("{counter} closed {start}-{end}"),
                 counter=counter_name(config, c.counter, lang), start=f"{c.start:%H:%M}", end=f"{c.end:%H:%M}")
               for c in comparison.changes]
    what = _(N_("Changed: {changes}"), changes="；".join(changed)) if changed else \
        _(N_("Changed: nothing (the day as it was)"))
    heads = (_(N_("Row")), _(N_("Tickets")), _(N_("Median wait, recorded → replayed")),
             _(N_("90% within, recorded → replayed")), _(N_("Within target, recorded → replayed")))
    body = []

    def wait(figures: Any, value: float) -> str:
        return minutes(value, lang) if figures.tickets else "-"      # nobody called: no wait to speak of

    def share(figures: Any) -> str:
        return f"{round(figures.within_target * 100)}%" if figures.tickets else "-"
    for row in comparison.rows:
        r, p = row.recorded, row.replayed
        body.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            row_label(row, config, lang), r.tickets, f"{wait(r, r.median_s)} → {wait(p, p.median_s)}",
            f"{wait(r, r.p90_s)} → {wait(p, p.p90_s)}", f"{share(r)} → {share(p)}")) + "</tr>")
    table = ('<div class="scroll"><table id="whatif-figures"><tr>' + "".join(f'<th scope="col">{html.escape(x)}</th>' for x in heads)
             + "</tr>" + "".join(body) + "</table></div>")
    left = ""
    if comparison.unserved or comparison.gave_up:
        left = _(N_("In the replay {unserved} were still waiting when the counters stopped and {gave_up} gave up"),
                 unserved=comparison.unserved, gave_up=comparison.gave_up)
    return (f'<p id="whatif-changed"><strong>{html.escape(comparison.day)}</strong> {html.escape(what)}</p>'
            f'<p class="note">{html.escape(honesty)}</p>{waits_chart(comparison, lang)}{table}'
            + (f'<p id="whatif-left" class="error">{html.escape(left)}</p>' if left else ""))


def waits_chart(comparison: Comparison, lang: Lang) -> str:
    """The 9-in-10 wait of the tickets issued each hour, as recorded and as replayed, side by side
    (SVG attributes only: the CSP allows no inline style)."""
    hours = [r for r in comparison.of("hour") if r.recorded.tickets]     # an hour nobody came: no bar, not a 0
    if not hours:
        return ""
    recorded, replayed = gettext(N_("Recorded"), lang), gettext(N_("Replayed"), lang)
    title = gettext(N_("90% within (min), by hour of issue"), lang)
    top = max(max(r.recorded.p90_s, r.replayed.p90_s) for r in hours) or 60.0
    bar_w, gap, height, headroom = 22, 18, 170, 40      # the title, then the tallest bar's label, above the bars
    width = max(len(hours) * (2 * bar_w + gap) + gap + 20, 460)     # room for the title and the legend
    parts = [f'<svg id="whatif-chart" class="chart" viewBox="0 0 {width} {height + headroom + 62}" width="{width}" '
             f'height="{height + headroom + 62}" role="img" aria-label="{html.escape(title)}">'
             f'<text x="{gap}" y="14" font-size="13">{html.escape(title)}</text>']
    for i, row in enumerate(hours):
        x = gap + i * (2 * bar_w + gap)
        for j, (figures, label, colour) in enumerate(((row.recorded, recorded, "#64748b"), (row.replayed, replayed, "#b91c1c"))):
            value = figures.p90_s / 60
            h = round(height * figures.p90_s / top)
            y = headroom + height - h
            parts.append(f'<rect x="{x + j * bar_w}" y="{y}" width="{bar_w - 3}" height="{h}" fill="{colour}">'
                         f'<title>{html.escape(row.key)} {html.escape(label)}: {value:.1f}</title></rect>')
            parts.append(f'<text x="{x + j * bar_w + (bar_w - 3) / 2}" y="{y - 4}" font-size="10" '
                         f'text-anchor="middle">{value:.0f}</text>')
        parts.append(f'<text x="{x + bar_w}" y="{headroom + height + 16}" font-size="11" text-anchor="middle">'
                     f'{html.escape(row.key)}</text>')
    legend = headroom + height + 30
    for k, (label, colour) in enumerate(((recorded, "#64748b"), (replayed, "#b91c1c"))):
        parts.append(f'<rect x="{gap + 120 * k}" y="{legend}" width="12" height="12" fill="{colour}"></rect>'
                     f'<text x="{gap + 120 * k + 17}" y="{legend + 11}" font-size="12">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def planning_body(config: Config, days: list[str], question: WhatIf | None, problem: str,
                  forecast: tuple[list[ForecastRow], int], comparison: Comparison | None, lang: Lang,
                  words: dict[str, Any]) -> str:
    W = words_in(lang)  # noqa: N806 - the page's words
    _ = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    error = f'<p class="error" role="alert" id="whatif-error">{html.escape(problem)}</p>' if problem else ""
    result = comparison_view(config, comparison, lang) if comparison is not None else ""
    return (f'<header class="bar"><strong class="hall">{html.escape(config.hall.name)}</strong>'
            f'<nav><a href="/console">{words["console"]}</a> <a href="/reports">{html.escape(W["reports"])}</a></nav>'
            '</header><main class="console report">'
            f'<h1>{html.escape(W["title"])}</h1>'
            f'<section class="wide"><h2>{html.escape(W["forecast"])}</h2>'
            f'{forecast_table(config, *forecast, lang)}</section>'
            f'<section class="wide"><h2>{html.escape(W["whatif"])}</h2>'
            f'{question_form(config, days, question, lang) if days else ""}{error}{result}</section></main>')
