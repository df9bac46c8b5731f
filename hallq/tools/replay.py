"""``hallq replay``: what a recorded day would have been with another staffing or configuration.

    hallq replay --config hall.toml --data DIR --date 2026-03-02 [--close c3@13:30-15:00]
                 [--open c5@10:00-12:00] [--as other-hall.toml] [--csv out.csv] [--lang en]

It first replays the day as it was staffed and says how closely that reproduces the recorded
waits (its honesty), then the day as changed: waits (median, 90th percentile), the share called
within the hall's target, per service and per hour of issue, recorded beside replayed. The
records are read only (the controller may run). See :mod:`hallq.records.replay`.
"""
from __future__ import annotations

import argparse
import csv
import io
import sqlite3
import sys
from pathlib import Path

from hallq.errors import ConfigError
from hallq.records import whatif
from hallq.records.replay import Change, load_events
from hallq.records.whatif import Comparison, row_label
from hallq.runtime.config import Config, load_config
from hallq.runtime.i18n import DEFAULT, N_, counter_name, gettext, minutes, service_name
from hallq.runtime.setup import setup_from_config

from .report import business_day_named

OPENED, CLOSED = N_("{counter} open {start}-{end}"), N_("{counter} closed {start}-{end}")


def compare(config: Config, data_dir: Path, day: str, changes: list[Change],
            replayed_config: Config | None = None) -> Comparison:
    setup = setup_from_config(config)
    other = setup_from_config(replayed_config) if replayed_config is not None else None
    return whatif.compare(setup, config.zone, day, load_events(Path(data_dir) / "controller.db", day), changes, other,
                          str(replayed_config.path or "") if replayed_config is not None else "")


def text(comparison: Comparison, config: Config, lang: str = DEFAULT) -> str:
    _ = lambda message, **values: gettext(message, lang, **values)
    out = [_("Replay of {day}", day=comparison.day)]
    h = comparison.honesty
    out.append(_("Honesty: the day replayed as it was staffed gives {n} tickets their recorded wait within "
                 "{error} s for a typical ticket ({share}% of the typical wait); the typical wait itself is off "
                 "by {median}%", n=h.tickets, error=round(h.median_abs_error_s),
                 share=round(h.share_of_median_wait * 100), median=round(h.median_wait_error * 100)))
    changed = [_(OPENED if c.open else CLOSED, counter=counter_name(config, c.counter, lang),
                 start=f"{c.start:%H:%M}", end=f"{c.end:%H:%M}") for c in comparison.changes]
    if comparison.configuration:
        changed.insert(0, _(N_("the configuration of {path}"), path=comparison.configuration))
    if changed:
        out.append(_("Changed: {changes}", changes=_(N_("; ")).join(changed)))
    else:
        out.append(_("Changed: nothing (the day as it was)"))
    out.append("")
    header = (_("Row"), _("Tickets"), _("Median wait, recorded → replayed"), _("90% within, recorded → replayed"),
              _("Within target, recorded → replayed"))
    out.append(" | ".join(header))
    for row in comparison.rows:
        r, p = row.recorded, row.replayed
        out.append(" | ".join((row_label(row, config, lang), str(r.tickets),
                               f"{minutes(r.median_s, lang)} → {minutes(p.median_s, lang)}",
                               f"{minutes(r.p90_s, lang)} → {minutes(p.p90_s, lang)}",
                               f"{round(r.within_target * 100)}% → {round(p.within_target * 100)}%")))
    if comparison.unserved or comparison.gave_up:
        out.append(_("In the replay {unserved} were still waiting when the counters stopped and {gave_up} gave up",
                     unserved=comparison.unserved, gave_up=comparison.gave_up))
    return "\n".join(out) + "\n"


def csv_text(comparison: Comparison, config: Config, lang: str = DEFAULT) -> str:
    """For Excel: UTF-8 with a BOM, CRLF, headings in the report's language, seconds as numbers."""
    _ = lambda message: gettext(message, lang)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_(N_("Row")), _(N_("Tickets")), _(N_("Recorded median wait (s)")),
                     _(N_("Replayed median wait (s)")), _(N_("Recorded 90% wait (s)")), _(N_("Replayed 90% wait (s)")),
                     _(N_("Recorded within target")), _(N_("Replayed within target")), "code"])
    for row in comparison.rows:
        r, p = row.recorded, row.replayed
        writer.writerow([row_label(row, config, lang), r.tickets, r.median_s, p.median_s, r.p90_s, p.p90_s,
                         r.within_target, p.within_target, row.key or "all"])
    return "\ufeff" + buffer.getvalue()


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.broker)
    replayed_config = load_config(args.as_config) if args.as_config else None
    counters = [k.id for k in (replayed_config or config).counter]
    try:
        changes = [Change.parse(t, False, counters) for t in args.close or []] + \
                  [Change.parse(t, True, counters) for t in args.open or []]
    except ValueError as err:
        raise ConfigError("--close/--open", "counter", str(err)) from None
    data_dir = Path(args.data) if args.data else Path("hallq-data") / config.hall.id
    day = business_day_named(args.date, config)
    try:
        comparison = compare(config, data_dir, day, changes, replayed_config)
    except (FileNotFoundError, sqlite3.Error) as err:
        print(f"hallq replay: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(text(comparison, config, args.lang))
    if args.csv:
        path = Path(args.csv.replace("{date}", day))
        path.write_text(csv_text(comparison, config, args.lang), "utf-8", newline="")
        print(gettext(N_("wrote {path}"), args.lang, path=path))
    return 0
