"""The ``hallq`` console script: one sub-command per role (contract.md, "Commands").

Arguments are declared here; each role's module implements ``main(args) -> int`` and is imported
only when chosen, so a kiosk never loads pygame. A configuration error prints the file, the key
and what was expected, and exits with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from hallq.errors import ConfigError

# sub-command -> "module:function"
COMMANDS = {
    "controller": "hallq.tools.controller_command:main",
    "kiosk": "hallq.kiosk.main:main",
    "counter": "hallq.counter.main:main",
    "display": "hallq.display.main:main",
    "ctl": "hallq.tools.ctl:main",
    "broker": "hallq.tools.embedded_broker:main",
    "broker-config": "hallq.broker_config:main",
    "bundle": "hallq.tools.bundle:main",
    "demo": "hallq.simulator.demo:main",
    "sim": "hallq.simulator.console:main",
    "report": "hallq.tools.report:main",
    "replay": "hallq.tools.replay:main",
    "web": "hallq.web.main:main",
    "central": "hallq.central.main:main",
}


def _common(parser: argparse.ArgumentParser, config_required: bool = True) -> None:
    parser.add_argument("--config", required=config_required, help="the hall's TOML file")
    parser.add_argument("--broker", help="HOST:PORT, overrides [broker] and $HALLQ_BROKER")
    parser.add_argument("--data", help="folder for durable state")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hallq", description="Queueing and hall display for service halls")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("controller", help="the hall's queue authority")
    _common(p)
    p.add_argument("--fresh-start", action="store_true",
                   help="start although the hall remembers more than the database (numbering goes on above it)")

    p = sub.add_parser("kiosk", help="a ticket kiosk")
    _common(p)
    p.add_argument("--id", required=True, help="kiosk id from the config, e.g. k1")
    p.add_argument("--stub", action="store_true", help="mock GPIO and a file printer, driven over R/sim")
    p.add_argument("--printer-out", help="stub: write each ticket as <number>.bin and <number>.png here")

    p = sub.add_parser("counter", help="a counter terminal")
    _common(p)
    p.add_argument("--id", required=True, help="counter id from the config, e.g. c1")
    p.add_argument("--stub", action="store_true", help="mock GPIO and loop:// sign, driven over R/sim")

    p = sub.add_parser("display", help="the hall screen")
    _common(p)
    p.add_argument("--id", required=True, help="display id from the config, e.g. d1")
    p.add_argument("--headless", action="store_true", help="no window (SDL dummy video driver)")
    p.add_argument("--snapshot", help="headless: keep writing the current frame to this PNG")
    p.add_argument("--stub", action="store_true", help="accept R/sim messages (maintainers' rigs)")
    p.add_argument("--no-sound", action="store_true", help="show calls without chime or voice")

    p = sub.add_parser("ctl", help="operator commands")
    _common(p)
    p.add_argument("--as", dest="admin_id", default="ctl", help="admin id to act as (admin.<id>)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the controller")
    p.add_argument("action", help="status | suspend-service S | resume-service S | outage on MSG | "
                   "outage off | announce TEXT | unannounce [TEXT] | open | close | reinstate NUMBER | void TICKET | "
                   "call NUMBER COUNTER | book SERVICE SLOT [CODE] | import-appointments FILE.csv")
    p.add_argument("words", nargs="*", help="the action's arguments")

    p = sub.add_parser("broker", help="embedded MQTT broker for trials without Mosquitto")
    _common(p)
    p.add_argument("--listen", default=None, help="HOST:PORT to listen on (default: [broker], loopback)")

    p = sub.add_parser("broker-config", help="write mosquitto.conf, acl and password files")
    _common(p)
    p.add_argument("--out", required=True, help="folder to write into")
    p.add_argument("--listen", default="0.0.0.0", help="address Mosquitto listens on")
    p.add_argument("--persistence-dir", default=None, help="where Mosquitto keeps its database")
    p.add_argument("--debian", action="store_true",
                   help="hallq.conf for Debian's packaged Mosquitto (/etc/mosquitto/conf.d; its main file unchanged)")

    p = sub.add_parser("bundle", help="everything one hall needs to install offline, in one folder")
    _common(p)
    p.add_argument("--out", required=True, help="the bundle's folder (empty, or an earlier bundle)")
    p.add_argument("--offline", action="store_true",
                   help="only this machine's wheels (the Pis' need PyPI once); exit 0 without them")
    p.add_argument("--one-machine", action="store_true",
                   help="every device runs on the broker's machine (a loopback [broker] host is then allowed)")
    p.add_argument("--credentials", default=None,
                   help="the hall's passwords in clear, kept off the bundle (default: [broker] credentials, "
                        "else <config>.credentials.toml beside the hall's file)")

    p = sub.add_parser("demo", help="a whole simulated hall in one command")
    _common(p, config_required=False)
    p.add_argument("--scenario", help="scenario TOML (default: the shipped hall day)")
    p.add_argument("--speed", type=float, default=None, help="simulated seconds per real second")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many real minutes")
    p.add_argument("--headless", action="store_true", help="no window: PNG snapshots and a text view")
    p.add_argument("--out", default=None, help="output folder (snapshots, tickets, report)")

    p = sub.add_parser("sim", help="interactive simulator console for maintainers")
    _common(p)

    p = sub.add_parser("web", help="the hall's web service: console, phone pages, browser screen")
    _common(p)
    p.add_argument("--listen", help="HOST:PORT to serve on (default: [web] listen, 0.0.0.0:8080)")
    p.add_argument("--role", choices=("supervisor", "manager"), help="with `user add`: the user's role")
    p.add_argument("--no-voice", action="store_true", help="browser screens show calls without speech")
    p.add_argument("--webhook", help="with `token add`: the URL the hall's events are posted to (signed)")
    p.add_argument("--events", help="with `token add --webhook`: only these event types, comma-separated")
    p.add_argument("--after-seq", type=int, help="with `token add --webhook`: start after this event (default: the start)")
    p.add_argument("words", nargs="*", help="`user add NAME` adds a console user (password from standard input); "
                                            "`token add NAME | list | remove NAME | enable NAME`: integrations")

    p = sub.add_parser("central", help="head office: every bridged hall's events in one store")
    _common(p)
    p.add_argument("--date", help="with `report`: the business day YYYY-MM-DD (default: today)")
    p.add_argument("--csv", help="with `report` or `forecast`: also write the figures as CSV (UTF-8 with BOM) here")
    p.add_argument("--lang", default="zh_CN", choices=["zh_CN", "en"], help="with `forecast`: the language (default zh_CN)")
    p.add_argument("--listen", help="HOST:PORT of the dashboard (default: [central] listen; none: no dashboard)")
    p.add_argument("--role", choices=("supervisor", "manager"), help="with `user add`: the user's role")
    p.add_argument("--out", help="with `broker-config`: the folder for the central broker's files")
    p.add_argument("words", nargs="*", help="`report` prints a day's figures; `forecast` next week's counters of "
                                            "every hall; `user add NAME` adds a dashboard user; "
                                            "`broker-config --out DIR` writes the central broker's files")

    p = sub.add_parser("report", help="the day's report from the controller's records")
    _common(p)
    p.add_argument("--date", help="business day YYYY-MM-DD, today or yesterday (the hall's; default: today)")
    p.add_argument("--csv", help="write the tables as CSV here ({date} is replaced by the day)")
    p.add_argument("--html", help="write an HTML report with charts here ({date} is replaced by the day)")
    p.add_argument("--lang", default="zh_CN", choices=["zh_CN", "en"], help="language of the report (default zh_CN)")
    p.add_argument("--forecast", action="store_true",
                   help="instead of a day's figures: the counters each quarter hour of the next 7 days needs for "
                        "the hall's service level, from the arrivals of the recorded days (Erlang C)")

    p = sub.add_parser("replay", help="a recorded day played again with another staffing or configuration")
    _common(p)
    p.add_argument("--date", help="business day YYYY-MM-DD, today or yesterday (the hall's; default: today)")
    p.add_argument("--close", action="append", metavar="COUNTER@HH:MM-HH:MM",
                   help="a counter closed for those hours (repeatable), e.g. c3@13:30-15:00")
    p.add_argument("--open", action="append", metavar="COUNTER@HH:MM-HH:MM",
                   help="a counter working those hours (repeatable; one of the replayed configuration's)")
    p.add_argument("--as", dest="as_config", metavar="HALL.TOML",
                   help="replay with this configuration (services, counters and their call order)")
    p.add_argument("--csv", help="also write the comparison as CSV here ({date} is replaced by the day)")
    p.add_argument("--lang", default="zh_CN", choices=["zh_CN", "en"], help="language (default zh_CN)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # every file a hallq command makes (databases and their WAL, journals, credentials, reports) is
    # its user's alone: they hold tickets, session ids and appointment codes
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    module_name, _, func_name = COMMANDS[args.command].partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(args) or 0)
    except ConfigError as err:
        print(f"hallq {args.command}: configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
