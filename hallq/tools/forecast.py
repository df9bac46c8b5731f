"""``hallq report --forecast``: the counters each quarter hour of the next week needs (hallq/records/staffing.py),
from the hall's recorded days, in Chinese first."""
from __future__ import annotations

import sys
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from babel.dates import format_date

from hallq.records.day import open_read_only
from hallq.records.replay import load_days
from hallq.records.staffing import ForecastRow, forecast, profile
from hallq.runtime.config import Config
from hallq.runtime.i18n import DEFAULT, N_, gettext, minutes, normalise, percent, service_name
from hallq.runtime.setup import setup_from_config

WEEKS_READ = 8          # the recorded days the profile is made of: the last eight weeks


def recorded_days(db_path: Path, before: str, limit: int = WEEKS_READ * 7) -> list[str]:
    """The business days with events before ``before`` (today's is not over yet), newest first."""
    db = open_read_only(db_path)
    try:
        rows = db.execute("SELECT DISTINCT day FROM events WHERE day < ? ORDER BY day DESC LIMIT ?",
                          (before, limit)).fetchall()
    finally:
        db.close()
    return [day for (day,) in rows if day]


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
    today = datetime.now(config.zone).date()
    days = recorded_days(db_path, today.isoformat())
    if not days:
        print(f"hallq report: {db_path} holds no finished business day to forecast from", file=sys.stderr)
        return 1
    setup = setup_from_config(config)
    recorded = profile(setup, load_days(db_path, days))
    rows = forecast(setup, recorded, today + timedelta(days=1), 7, config.hall.service_level_wait_s,
                    config.hall.service_level_share)
    sys.stdout.write(text(config, rows, len(days), lang))
    return 0
