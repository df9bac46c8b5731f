"""``hallq central forecast``: next week's counters for every hall bridged to head office, from each
hall's last 8 weeks of events in the central store (no hall files needed: the services and the time
zone come from the events), and across halls: how many counters the whole estate needs at its busiest
quarter hour each day, and its counter-hours."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, time, timedelta

from babel.dates import format_date

from hallq.records.staffing import WEEKS_READ, ForecastRow, forecast, profile, setup_from_events
from hallq.records.store import CentralStore
from hallq.runtime.i18n import DEFAULT, N_, gettext, minutes, normalise, percent


@dataclass(frozen=True)
class HallForecast:
    hall: str
    days_read: int
    rows: tuple[ForecastRow, ...]

    def per_quarter(self) -> dict[tuple[date, time], int]:
        totals: dict[tuple[date, time], int] = defaultdict(int)
        for row in self.rows:
            totals[(row.day, row.start)] += row.counters
        return totals


def forecast_halls(store: CentralStore, today: date, target_s: float, share: float) -> list[HallForecast]:
    """Each hall's forecast for the 7 days after ``today`` (a hall with no finished day recorded: none)."""
    out = []
    for hall in store.halls():
        days = store.recorded_days(hall, today.isoformat(), WEEKS_READ * 7)
        events = store.events_of(hall, days)
        setup = setup_from_events(events)
        if setup is None:
            out.append(HallForecast(hall, 0, ()))
            continue
        rows = forecast(setup, profile(setup, events), today + timedelta(days=1), 7, target_s, share)
        out.append(HallForecast(hall, len(days), tuple(rows)))
    return out


def estate_peaks(halls: list[HallForecast]) -> dict[date, tuple[int, time | None, float]]:
    """Per day: the counters the estate needs at its busiest quarter (every hall's at that quarter),
    that quarter, and the day's counter-hours."""
    totals: dict[tuple[date, time], int] = defaultdict(int)
    for hall in halls:
        for key, counters in hall.per_quarter().items():
            totals[key] += counters
    out: dict[date, tuple[int, time | None, float]] = {}
    for (day, start), counters in totals.items():
        peak, at, hours = out.get(day, (0, None, 0.0))
        out[day] = (max(peak, counters), start if counters > peak else at, hours + counters / 4)
    return dict(sorted(out.items()))


def text(halls: list[HallForecast], target_s: float, share: float, lang: str = DEFAULT) -> str:
    _ = lambda message, **values: gettext(message, lang, **values)  # noqa: E731
    loc = normalise(lang)
    day_name = lambda d: format_date(d, "M月d日 EEE" if loc == "zh_CN" else "EEE d MMM", locale=loc)  # noqa: E731
    out = [_(N_("Counters needed next week, every hall: {share} called within {wait} (Erlang C per service, "
                "from each hall's last 8 weeks)"), share=percent(share), wait=minutes(target_s, lang))]
    for hall in halls:
        out.append("")
        if not hall.days_read:
            out.append(_(N_("{hall}: no finished business day recorded yet"), hall=hall.hall))
            continue
        out.append(_(N_("{hall} (from {n} recorded days)"), hall=hall.hall, n=hall.days_read))
        peaks = estate_peaks([hall])
        for day, (peak, at, hours) in peaks.items():
            out.append("  " + _(N_("{day}: at most {counters} counters ({time}), {hours} counter-hours"),
                                day=day_name(day), counters=peak, time=f"{at:%H:%M}" if at else "-",
                                hours=f"{hours:.1f}"))
    estate = estate_peaks(halls)
    if estate:
        out += ["", _(N_("All halls"))]
        for day, (peak, at, hours) in estate.items():
            out.append("  " + _(N_("{day}: at most {counters} counters ({time}), {hours} counter-hours"),
                                day=day_name(day), counters=peak, time=f"{at:%H:%M}" if at else "-",
                                hours=f"{hours:.1f}"))
    return "\n".join(out) + "\n"


def csv_text(halls: list[HallForecast]) -> str:
    """For a spreadsheet: one row per hall, day, quarter and service (UTF-8 with BOM, CRLF)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["hall", "day", "quarter", "service", "arrivals", "counters"])
    for hall in halls:
        for row in hall.rows:
            writer.writerow([hall.hall, row.day.isoformat(), f"{row.start:%H:%M}", row.service,
                             f"{row.arrivals:.1f}", row.counters])
    return "\ufeff" + buffer.getvalue()
