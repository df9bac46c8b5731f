"""``hallq ctl``: operator commands, each an admin request with a clear success or error line.

``status`` reads the retained state and prints services, counters and devices as tables.
Exit status: 0 done, 1 refused or no answer, 2 bad usage or configuration.
"""
from __future__ import annotations

import argparse
import json
import queue
import sys
import time
from typing import Any

from .config import Config, load_config
from .mqttlink import Inbound, LinkUp, MqttLink
from .requests import new_request_id
from .topics import Topics
from .wire import dumps

USAGE = ("status | suspend-service SERVICE | resume-service SERVICE | outage on MESSAGE | outage off | "
         "announce TEXT | unannounce [TEXT] | open | close | reinstate NUMBER | void TICKET_ID [REASON]")


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
    raise UsageError(f"unknown action {action!r}; one of: {USAGE}")


def _fmt_wait(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def render_status(state: dict[str, Any], controller_online: bool | None) -> str:
    lines = [f"hall {state.get('hall')} {state.get('hall_name', '')}  mode: {state.get('mode')}  "
             f"day: {state.get('day')}  epoch {state.get('epoch')} seq {state.get('seq')}  "
             f"controller: {'online' if controller_online else 'OFFLINE' if controller_online is False else '?'}"]
    if state.get("message"):
        lines.append(f"outage message: {state['message']}")
    lines += ["", f"{'service':<10}{'prefix':<8}{'waiting':>8}{'est. wait':>11}  status"]
    for s in state.get("services", []):
        lines.append(f"{s['id']:<10}{s['prefix']:<8}{s['waiting']:>8}{_fmt_wait(s['est_wait_s']):>11}  "
                     f"{'SUSPENDED' if s['suspended'] else 'open'}")
    lines += ["", f"{'counter':<10}{'status':<11}{'ticket':<8}{'clerk':<12}services"]
    for c in state.get("counters", []):
        ticket = (c.get("ticket") or {}).get("number") or "-"
        status = c["status"] + (f" ({c['suspend_reason']})" if c.get("suspend_reason") else "")
        lines.append(f"{c['id']:<10}{status:<11}{ticket:<8}{(c.get('clerk') or '-'):<12}{','.join(c.get('services', []))}")
    lines += ["", f"{'device':<16}{'online':<8}details"]
    for device_id, d in sorted(state.get("devices", {}).items()):
        details = ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("online", "boot"))
        lines.append(f"{device_id:<16}{'yes' if d.get('online') else 'NO':<8}{details}")
    if state.get("announcements"):
        lines += ["", "notices: " + " | ".join(state["announcements"])]
    return "\n".join(lines)


class Session:
    """A short-lived admin client: connect, do one thing, leave."""

    def __init__(self, config: Config, admin_id: str) -> None:
        self.topics = Topics(config.hall.id)
        self.device = f"admin.{admin_id}"
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.link = MqttLink(config, self.device, self.inbox,
                             [self.topics.reply(self.device), self.topics.state, self.topics.controller_presence])
        self.state: dict[str, Any] | None = None
        self.controller_online: bool | None = None

    def __enter__(self) -> Session:
        self.link.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.link.stop()

    def _take(self, deadline: float) -> Any:
        item = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(item, Inbound):
            if item.topic == self.topics.state and item.payload:
                self.state = json.loads(item.payload)
            elif item.topic == self.topics.controller_presence and item.payload:
                self.controller_online = bool(json.loads(item.payload).get("online"))
        return item

    def wait_connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.link.connected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no connection to the broker {self.link.config.broker.host}:{self.link.config.broker.port}")
            try:
                self._take(deadline)
            except queue.Empty:
                pass

    def wait_state(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while self.state is None and time.monotonic() < deadline:
            try:
                self._take(deadline)
            except queue.Empty:
                break
        if self.state is None:
            raise TimeoutError("no hall state on the broker: is the controller running?")
        # retained presence comes right after the state; wait a moment for it
        presence_deadline = min(deadline, time.monotonic() + 1.0)
        while self.controller_online is None and time.monotonic() < presence_deadline:
            try:
                self._take(presence_deadline)
            except queue.Empty:
                break
        return self.state

    def request(self, op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        rid = new_request_id()
        body = dumps({"op": op, "request_id": rid, **args})
        deadline = time.monotonic() + timeout
        last_sent = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - last_sent >= 1.0:   # resend with the same id: applied once
                self.link.publish(self.topics.request(self.device), body)
                last_sent = time.monotonic()
            try:
                item = self._take(min(deadline, last_sent + 1.0))
            except queue.Empty:
                continue
            if isinstance(item, Inbound) and item.topic == self.topics.reply(self.device):
                reply = json.loads(item.payload)
                if reply.get("request_id") == rid:
                    return reply
            if isinstance(item, LinkUp):
                last_sent = 0.0
        raise TimeoutError(f"no answer from the controller within {timeout:g} s")


def describe(op: str, reply: dict[str, Any]) -> str:
    if "hall" in reply:
        hall = reply["hall"]
        extra = f" — {hall['message']}" if hall.get("message") else ""
        notices = f"; notices: {len(hall.get('announcements', []))}" if op in ("announce", "unannounce") else ""
        return f"ok: hall is {hall['mode']}{extra}{notices}"
    if "service" in reply:
        s = reply["service"]
        return f"ok: service {s['id']} is {'suspended' if s['suspended'] else 'open'} ({s['waiting']} waiting)"
    if reply.get("ticket"):
        t = reply["ticket"]
        return f"ok: ticket {t['number']} is {t['status']}"
    return "ok"


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.broker)
    try:
        op_args = None if args.action == "status" else request_for(args.action, args.words)
    except UsageError as err:
        print(f"hallq ctl: {err}", file=sys.stderr)
        return 2
    try:
        with Session(config, args.admin_id) as session:
            session.wait_connected(args.timeout)
            if op_args is None:
                state = session.wait_state(args.timeout)
                print(render_status(state, session.controller_online))
                return 0
            op, fields = op_args
            reply = session.request(op, fields, args.timeout)
    except TimeoutError as err:
        print(f"hallq ctl {args.action}: {err}", file=sys.stderr)
        return 1
    if reply.get("ok"):
        print(describe(op, reply))
        return 0
    error = reply.get("error", {})
    print(f"refused: {error.get('code')}: {error.get('message')}", file=sys.stderr)
    return 1
