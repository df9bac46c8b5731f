"""``hallq report --forecast``: the counters each quarter hour of the next week needs (hallq/records/staffing.py),
from the hall's recorded days, in Chinese first."""
from __future__ import annotations

import sys
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

from babel.dates import format_date

from hallq.records.staffing import ForecastRow, forecast_from_records
from hallq.runtime.config import Config
from hallq.runtime.i18n import DEFAULT, N_, gettext, minutes, normalise, percent, service_name
from hallq.runtime.setup import setup_from_config

def text(config: Config, rows: list[ForecastRow], days_read: int, lang: str = DEFAULT) -> str:
    _ = lambda message, **values: gettext(message, lang, **values)
    hall = config.hall
    out = [_(N_("Counters needed, next 7 days, from {n} recorded days: {share} called within {wait} "
                "(Erlang C per service; pauses and shared counters not included)"),
             n=days_read, share=percent(hall.service_level_share), wait=minutes(hall.service_level_wait_s, lang))]
    by_day: dict[date, dict[object, list[ForecastRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_day[row.day][row.start].append(row)
    for day, quarters in by_day.items():
        out.append("")
        out.append(format_date(day, "full" if normalise(lang) == DEFAULT else "EEEE d MMM yyyy",
                               locale=normalise(lang)))
        peak = max(sum(r.counters for r in group) for group in quarters.values())
        for start, group in sorted(quarters.items()):
            parts = [_(N_("{service} {arrivals} expected, {counters} counters"), service=service_name(config, r.service, lang),
                       arrivals=round(r.arrivals), counters=r.counters) for r in group]
            total = sum(r.counters for r in group)
            out.append(f"{start:%H:%M} | " + " | ".join(parts) + " | " + _(N_("in all {counters}"), counters=total)
                       + (" ◀" if total == peak else ""))
    return "\n".join(out) + "\n"


def forecast_main(config: Config, data_dir: Path, lang: str = DEFAULT) -> int:
    db_path = data_dir / "controller.db"
    if not db_path.exists():
        print(f"hallq report: no controller records at {db_path}", file=sys.stderr)
        return 1
    rows, days_read = forecast_from_records(setup_from_config(config), db_path, datetime.now(config.zone).date(),
                                            config.hall.service_level_wait_s, config.hall.service_level_share)
    if not days_read:
        print(f"hallq report: {db_path} holds no finished business day to forecast from", file=sys.stderr)
        return 1
    sys.stdout.write(text(config, rows, days_read, lang))
    return 0
