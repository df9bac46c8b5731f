"""``hallq central --config C [--data DIR]`` and ``hallq central report --config C --date D [--csv F]``."""
from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path

from hallq.errors import ConfigError
from hallq.runtime.loop import setup_logging

from .config import load_central_config


def main(args: argparse.Namespace) -> int:
    config = load_central_config(args.config, args.broker)
    if args.words == ["report"]:
        return report(config, args)
    if args.words == ["forecast"]:
        return forecast_report(config, args)
    if args.words[:2] == ["user", "add"]:
        return add_user(args)
    if args.words == ["broker-config"]:
        from .broker import main as broker_main  # noqa: PLC0415
        return broker_main(config, args)
    if args.words:
        print(f"hallq central: unknown words {' '.join(args.words)!r}; try: hallq central report --date 2026-11-26",
              file=sys.stderr)
        return 2
    setup_logging(getattr(args, "verbose", False))
    from .service import serve  # noqa: PLC0415
    return serve(config, args.data, args.listen)


def add_user(args: argparse.Namespace) -> int:
    """`hallq central user add NAME --role manager`: a dashboard user (password on standard input)."""
    from hallq.http.accounts import AccountError, Accounts  # noqa: PLC0415
    from hallq.http.login import read_password  # noqa: PLC0415
    if len(args.words) != 3 or not args.role:
        print("hallq central: usage: hallq central user add NAME --role supervisor|manager", file=sys.stderr)
        return 2
    folder = Path(args.data or "hallq-data/central")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        Accounts(str(folder / "central-users.db")).add_user(args.words[2], args.role, read_password())
    except (AccountError, ValueError) as err:
        print(f"hallq central: {err}", file=sys.stderr)
        return 2
    print(f"user {args.words[2]} ({args.role}) saved")
    return 0


def forecast_report(config, args: argparse.Namespace) -> int:
    """`hallq central forecast [--csv F]`: next week's counters for every hall, and across halls."""
    from hallq.records.store import CentralStore  # noqa: PLC0415

    from .forecast import csv_text, forecast_halls, text  # noqa: PLC0415
    store = CentralStore(config.database(args.data))
    try:
        halls = forecast_halls(store, date.today(), config.central.service_level_wait_s,
                               config.central.service_level_share)
    finally:
        store.close()
    print(text(halls, config.central.service_level_wait_s, config.central.service_level_share,
               getattr(args, "lang", None) or "zh_CN"), end="")
    if args.csv:
        Path(args.csv).write_text(csv_text(halls), "utf-8")
    return 0


def report(config, args: argparse.Namespace) -> int:
    from hallq.records.figures import day_report, people_table, text_table, write_csv  # noqa: PLC0415
    from hallq.records.store import CentralStore  # noqa: PLC0415
    day = args.date or date.today().isoformat()
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", day):
        raise ConfigError("--date", "date", f"a day as YYYY-MM-DD, not {day!r}")
    store = CentralStore(config.database(args.data))
    try:
        rows = day_report(store, day, config.central.service_level_wait_s)
        people = people_table(store, day)
    finally:
        store.close()
    print(text_table(rows, day) + people)
    if args.csv:
        write_csv(rows, Path(args.csv))
    return 0
