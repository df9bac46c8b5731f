"""``hallq ctl``: operator commands, each an admin request with a clear success or error line.

``status`` reads the retained state and prints services, counters and devices as tables.
Exit status: 0 done, 1 refused or no answer, 2 bad usage or configuration.
"""
from __future__ import annotations

import argparse
import csv
import queue
import re
import sys
import time
from datetime import datetime
from typing import Any

from hallq import contract as wire
from hallq.contract.topics import CONTROLLER_ID, Topics
from hallq.device.requests import RequestTracker
from hallq.runtime.config import Config, load_config
from hallq.runtime.mqttlink import Inbound, LinkDown, LinkUp, MqttLink

USAGE = ("status | suspend-service SERVICE | resume-service SERVICE | outage on MESSAGE | outage off | "
         "announce TEXT | unannounce [TEXT] | open | close | reinstate NUMBER | void TICKET_ID [REASON] | "
         "call NUMBER COUNTER | book SERVICE SLOT [CODE] | import-appointments FILE.csv | "
         "rules [NAME=VALUE ...]")
RULE_NAMES = ("priority_per_normal", "ageing_s", "journey_order", "auto_call_s", "appointment_place")


class UsageError(Exception):
    pass


def request_for(action: str, words: list[str]) -> tuple[str, dict[str, Any]]:
    """Map the command line to (op, args); raise UsageError."""
    text = " ".join(words).strip()
    match action:
        case "suspend-service" | "resume-service":
            if len(words) != 1:
                raise UsageError(f"{action} needs one service id")
            return action.replace("-", "_"), {"service": words[0]}
        case "outage":
            if words[:1] == ["on"]:
                message = " ".join(words[1:]).strip() or None
                return "outage", {"active": True, "message": message}
            if words == ["off"]:
                return "outage", {"active": False}
            raise UsageError("outage on MESSAGE | outage off")
        case "announce":
            if not text:
                raise UsageError("announce needs the text of the notice")
            return "announce", {"text": text}
        case "unannounce":
            return "unannounce", ({"text": text} if text else {})
        case "open" | "close":
            if words:
                raise UsageError(f"{action} takes no arguments")
            return action, {}
        case "reinstate":
            if len(words) != 1:
                raise UsageError("reinstate needs a ticket number such as A012")
            return "reinstate", {"number": words[0]}
        case "void":
            if not words:
                raise UsageError("void needs a ticket id (e.g. 20261123-A012) and optionally a reason")
            return "void", {"ticket_id": words[0], "reason": " ".join(words[1:]) or "operator"}
        case "call":
            if len(words) != 2:
                raise UsageError("call needs a ticket number and a counter id, e.g. call A015 c3")
            return "call", {"number": words[0], "counter": words[1]}
        case "book":
            if len(words) not in (2, 3):
                raise UsageError("book needs SERVICE SLOT [CODE]; SLOT as 2026-11-26T14:30 or 14:30 (today)")
            return "book", {"service": words[0], "slot": words[1], **({"code": words[2]} if len(words) == 3 else {})}
        case "rules":
            # for the rest of the business day: e.g. rules priority_per_normal=2 ageing_s=1200
            changes: dict[str, Any] = {}
            for word in words:
                name, sep, value = word.partition("=")
                if not sep or name not in RULE_NAMES:
                    raise UsageError(f"rules takes NAME=VALUE with NAME one of {', '.join(RULE_NAMES)}, not {word!r}")
                changes[name] = int(value) if value.isdigit() else value
            return "set_rules", changes
    raise UsageError(f"unknown action {action!r}; one of: {USAGE}")


def _fmt_wait(seconds: int, known: bool = True) -> str:
    if not known:
        return "not known"      # nobody is calling the service: no figure is honest
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(value: object) -> str:
    """Text from devices, clerks and operators as a terminal may show it: no control characters
    (an escape sequence in a device's status must not rewrite the operator's screen)."""
    return _CONTROL.sub("?", "-" if value is None else str(value))


def _faults(detail: dict[str, object]) -> list[str]:
    found = []
    if detail.get("printer") not in (None, "ok"):
        found.append(f"printer {clean(detail['printer'])}")
    for part in ("sign", "keys"):
        if detail.get(part) == "fault":
            found.append(f"{part} fault")
    return found


def render_status(state: wire.StateDoc, controller_online: bool | None, fault: str | None = None) -> str:
    who = {None: "?", True: "online", False: "OFFLINE (this is the last state it published)"}[controller_online]
    if fault:
        who = f"RUNNING BUT NOT TAKING WORK: {clean(fault)} (this is the last state it published)"
    lines = [f"hall {clean(state.hall)} {clean(state.hall_name or '')}  mode: {clean(state.mode)}  "
             f"day: {clean(state.day)}  epoch {state.epoch} seq {state.seq}  controller: {who}"]
    if state.message:
        lines.append(f"outage message: {clean(state.message)}")
    lines += ["", f"{'service':<24}{'prefix':<8}{'waiting':>8}{'est. wait':>11}  status"]
    for s in state.services:
        name = f"{s.id} {s.name}"
        lines.append(f"{clean(name)[:23]:<24}{clean(s.prefix):<8}{s.waiting:>8}{_fmt_wait(s.est_wait_s, s.est_known or not s.waiting):>11}  "
                     f"{'SUSPENDED' if s.suspended else 'open'}")
    lines += ["", f"{'counter':<16}{'status':<22}{'ticket':<8}{'clerk':<12}services"]
    for c in state.counters:
        ticket = c.ticket.number if c.ticket else "-"
        status = c.status.upper() if c.status in ("offline", "suspended") else c.status
        status += f" ({c.suspend_reason})" if c.suspend_reason else ""
        lines.append(f"{clean(f'{c.id} {c.name}')[:15]:<16}{clean(status)[:21]:<22}{clean(ticket):<8}"
                     f"{clean(c.clerk)[:11]:<12}{clean(','.join(c.services))}")
    lines += ["", f"{'device':<16}{'online':<8}details"]
    for device_id, d in sorted(state.devices.items()):
        details = ", ".join(f"{clean(k)}={clean(v)}" for k, v in d.items() if k not in ("online", "boot"))
        faults = _faults(d)
        flag = f"  FAULT: {'; '.join(faults)}" if faults else ""
        lines.append(f"{clean(device_id):<16}{'yes' if d.get('online') else 'NO':<8}{details}{flag}")
    if state.rules is not None:
        lines += ["", rules_line(state.rules)]
    if state.announcements:
        lines += ["", "notices: " + " | ".join(clean(a) for a in state.announcements)]
    if state.alerts:
        lines += ["", "alerts:"] + [f"  {clean(a.severity).upper():<9}{clean(a.text)}  (since {clean(a.since[11:19])})"
                                    for a in state.alerts]
    return "\n".join(lines)


def rules_line(rules: wire.RulesDoc) -> str:
    whose = "the hall file's" if rules.by == "file" else "an operator's, for the rest of the day"
    values = " ".join(f"{name}={clean(getattr(rules, name))}" for name in RULE_NAMES)
    return f"calling rules ({whose}): {values}"


class Session:
    """A short-lived admin client: connect, do one thing, leave. This thread owns its inbox."""

    def __init__(self, config: Config, admin_id: str) -> None:
        self.config = config
        self.topics = Topics(config.hall.id)
        self.device = f"admin.{admin_id}"
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.link = MqttLink(config, self.device, self.inbox,
                             [self.topics.controller_presence, self.topics.reply(self.device), self.topics.state])
        self.link_up = False
        self.state: wire.StateDoc | None = None
        self.controller_online: bool | None = None
        self.controller_fault: str | None = None       # alive but unable to take work (disk full ...)
        self.tracker = RequestTracker(self._publish_request, forget=self.link.forget)

    def __enter__(self) -> Session:
        self.link.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.link.stop()

    def _publish_request(self, payload: bytes) -> int | None:
        return self.link.publish(self.topics.request(self.device), payload) if self.link_up else None

    def _take(self, deadline: float) -> None:
        item = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(item, LinkUp):
            self.link_up = True
            self.tracker.resend_all()
        elif isinstance(item, LinkDown):
            self.link_up = False
        elif isinstance(item, Inbound) and item.payload:
            what, device = self.topics.parse(item.topic)
            try:
                if what == "state":
                    self.state = wire.read(item.payload, wire.StateDoc)
                elif what == "presence" and device == CONTROLLER_ID:
                    presence = wire.read(item.payload, wire.PresenceDoc)
                    self.controller_online, self.controller_fault = presence.online, presence.fault
                elif what == "res" and device == self.device:
                    self.tracker.on_reply(wire.read(item.payload, wire.ReplyDoc))
            except wire.BadDocument as err:
                print(f"hallq ctl: ignored a bad {what} message: {err}", file=sys.stderr)

    def _pump_until(self, done: Any, deadline: float) -> None:
        while not done() and time.monotonic() < deadline:
            try:
                self._take(min(deadline, time.monotonic() + 0.2))
            except queue.Empty:
                pass
            self.tracker.tick()

    def wait_connected(self, timeout: float) -> None:
        self._pump_until(lambda: self.link_up, time.monotonic() + timeout)
        if not self.link_up:
            broker = self.config.broker
            raise TimeoutError(f"no connection to the broker {broker.host}:{broker.port}")

    def wait_state(self, timeout: float) -> wire.StateDoc:
        deadline = time.monotonic() + timeout
        self._pump_until(lambda: self.state is not None, deadline)
        if self.state is None:
            raise TimeoutError("no hall state on the broker: is the controller running?")
        # retained presence comes with the state; wait a moment for it
        self._pump_until(lambda: self.controller_online is not None, min(deadline, time.monotonic() + 1.0))
        return self.state

    def request(self, op: str, args: dict[str, Any], timeout: float) -> wire.ReplyDoc:
        """One admin request, resent with the same id (applied once) until answered or timed out."""
        answers: list[wire.ReplyDoc] = []
        rid = self.tracker.send(op, answers.append, **args)
        self._pump_until(lambda: bool(answers), time.monotonic() + timeout)
        self.tracker.drop(rid)
        if not answers:
            raise TimeoutError(f"no answer from the controller within {timeout:g} s")
        return answers[0]


def slot_time(text: str, config: Config) -> str:
    """A booked slot as ISO-8601 with the hall's offset: ``2026-11-26T14:30`` or ``14:30`` (today)."""
    try:
        if len(text) <= 5 and ":" in text:
            when = datetime.combine(datetime.now(config.zone).date(), datetime.strptime(text, "%H:%M").time())
        else:
            when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"slot {text!r}: expected 2026-11-26T14:30 or 14:30") from None
    return (when if when.tzinfo else when.replace(tzinfo=config.zone)).isoformat()


def read_appointments(words: list[str], config: Config) -> list[dict[str, str]]:
    """The day's booked slots from a CSV with the header ``code,service,slot`` (UTF-8, a BOM is fine)."""
    if len(words) != 1:
        raise UsageError("import-appointments needs one CSV file (columns code,service,slot)")
    try:
        with open(words[0], encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise UsageError(f"{words[0]}: {err.strerror}") from None
    if not rows or not {"service", "slot"} <= set(rows[0]):
        raise UsageError(f"{words[0]}: expected a header line with code,service,slot")
    books = []
    for line, row in enumerate(rows, start=2):
        try:
            slot = slot_time((row.get("slot") or "").strip(), config)
        except UsageError as err:
            raise UsageError(f"{words[0]} line {line}: {err}") from None
        code = (row.get("code") or "").strip()
        books.append({"service": (row.get("service") or "").strip(), "slot": slot, **({"code": code} if code else {})})
    return books


def import_appointments(config: Config, args: argparse.Namespace, books: list[dict[str, str]]) -> int:
    """One ``book`` request per row; each row's result on its own line; exit 1 if any was refused."""
    refused = 0
    with Session(config, args.admin_id) as session:
        try:
            session.wait_connected(args.timeout)
        except TimeoutError as err:
            print(f"hallq ctl import-appointments: {err}", file=sys.stderr)
            return 1
        for book in books:
            try:
                reply = session.request("book", book, args.timeout)
            except TimeoutError as err:
                print(f"hallq ctl import-appointments: {err}; {len(books) - refused} not booked", file=sys.stderr)
                return 1
            if reply.ok and reply.appointment is not None:
                a = reply.appointment
                print(f"booked {a.code} {a.service} {a.slot}")
            else:
                refused += 1
                print(f"refused {book.get('code', '-')} {book['service']} {book['slot']}: {reply.code}: {reply.message}",
                      file=sys.stderr)
    print(f"{len(books) - refused} booked, {refused} refused")
    return 1 if refused else 0


def describe(op: str, reply: wire.ReplyDoc) -> str:
    if reply.hall is not None:
        hall = reply.hall
        extra = f" — {hall.message}" if hall.message else ""
        notices = f"; notices: {len(hall.announcements)}" if op in ("announce", "unannounce") else ""
        return f"ok: hall is {hall.mode}{extra}{notices}"
    if reply.service is not None:
        s = reply.service
        return f"ok: service {s.id} is {'suspended' if s.suspended else 'open'} ({s.waiting} waiting)"
    if reply.rules is not None:
        return "ok: " + rules_line(reply.rules)
    if reply.appointment is not None:
        a = reply.appointment
        return f"ok: booked {a.service} at {a.slot}, code {a.code}"
    if reply.ticket is not None:
        where = f" at {reply.ticket.counter}" if reply.ticket.counter else ""
        return f"ok: ticket {reply.ticket.number} is {reply.ticket.status}{where}"
    return "ok"


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.broker)
    try:
        if args.action == "import-appointments":
            return import_appointments(config, args, read_appointments(args.words, config))
        op_args = None if args.action == "status" else request_for(args.action, args.words)
        if op_args is not None and op_args[0] == "book":
            op_args[1]["slot"] = slot_time(op_args[1]["slot"], config)
    except UsageError as err:
        print(f"hallq ctl: {err}", file=sys.stderr)
        return 2
    try:
        with Session(config, args.admin_id) as session:
            session.wait_connected(args.timeout)
            if op_args is None:
                state = session.wait_state(args.timeout)
                print(render_status(state, session.controller_online, session.controller_fault))
                if session.controller_online is not True:
                    print(f"hallq ctl status: the controller is {'not taking work' if session.controller_fault else 'offline'}",
                          file=sys.stderr)
                    return 1
                return 0
            op, fields = op_args
            reply = session.request(op, fields, args.timeout)
    except TimeoutError as err:
        print(f"hallq ctl {args.action}: {err}", file=sys.stderr)
        return 1
    if reply.ok:
        print(describe(op, reply))
        return 0
    print(f"refused: {reply.code}: {reply.message}", file=sys.stderr)
    return 1
