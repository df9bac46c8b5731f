"""What bench/chaos.py checks after a run: the result table, the print watch, and the invariants
from the durable records alone (numbers unique, one counter per ticket, requests exactly once) and
from the display's own snapshot."""
from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallq.core import events as e
from hallq.core.rules import fold
from hallq.runtime.setup import setup_from_config


@dataclass
class ChaosResult:
    kills: Counter[str] = field(default_factory=Counter)
    power_cuts: int = 0
    presses: int = 0
    tickets: int = 0
    printed: int = 0
    offline_tickets: int = 0
    called: int = 0
    served: int = 0
    events: int = 0
    requests: int = 0
    reprints: list[str] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)          # explained by a kiosk SIGKILL (see check_records)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    out: str = ""
    # faults beyond SIGKILL (bench/chaos_faults.py)
    faults: Counter[str] = field(default_factory=Counter)
    stalls: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    flood_requests: int = 0
    flood_answers: dict[str, int] = field(default_factory=dict)
    flood_tickets: list[str] = field(default_factory=list)
    flood_worst_delay_s: float | None = None
    refused_starts: int = 0                  # the controller started on a full disk: exit 1, one line
    probe_median_s: float | None = None

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    def table(self) -> list[tuple[str, str]]:
        kills = ", ".join(f"{k} {n}" for k, n in sorted(self.kills.items()))
        return [
            ("SIGKILLs (by component)", f"{self.total_kills} ({kills})"),
            ("power cuts (all processes at once)", str(self.power_cuts)),
            ("run time", f"{self.seconds:.0f} s"),
            ("button presses sent", str(self.presses)),
            ("tickets recorded (of which from a lease while offline)", f"{self.tickets} ({self.offline_tickets})"),
            ("tickets printed (.bin)", str(self.printed)),
            ("calls / served", f"{self.called} / {self.served}"),
            ("events (seq 1..N, no gap)", str(self.events)),
            ("requests answered (stored replies)", str(self.requests)),
            ("issued, then the kiosk SIGKILLed before it printed (ghosts; kiosk gap)", str(len(self.ghosts))),
            *self.fault_rows(),
            ("invariant violations", str(len(self.violations))),
        ]

    def fault_rows(self) -> list[tuple[str, str]]:
        if not self.faults and not self.skipped:
            return []
        stalls = ", ".join(f"{k} {n}" for k, n in sorted(self.stalls.items()))
        answers = ", ".join(f"{k} {n}" for k, n in sorted(self.flood_answers.items()))
        rows = [("stalls, SIGSTOP 1-8 s (by component)", f"{self.faults['stall']} ({stalls})"),
                ("clock jumps back across midnight, then forward (controller, libfaketime)", str(self.faults["clock"])),
                ("disk full, 2-6 s (controller's tmpfs); starts refused meanwhile (exit 1, restarted)",
                 f"{self.faults['disk']}; {self.refused_starts}"),
                ("floods by a haywire kiosk, 3-6 s", str(self.faults["flood"])),
                ("flood requests sent (answers)", f"{self.flood_requests} ({answers})"),
                ("tickets the flooding kiosk got (a burst of 40, then 4 a second)", str(len(self.flood_tickets)))]
        if self.flood_worst_delay_s is not None:
            rows.append(("another device's request during a flood: worst delay (probe before floods, median)",
                         f"{self.flood_worst_delay_s * 1000:.0f} ms ({(self.probe_median_s or 0) * 1000:.1f} ms)"))
        rows += [("skipped", s) for s in self.skipped]
        return rows


class PrintWatch(threading.Thread):
    """Notices a ticket file written twice (a reprint would overwrite ``<number>.bin``)."""

    def __init__(self, folders: list[Path]) -> None:
        super().__init__(daemon=True, name="print-watch")
        self.folders = folders
        self.seen: dict[Path, int] = {}
        self.rewritten: list[str] = []
        self.stop_flag = threading.Event()

    def scan(self) -> None:
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if not entry.name.endswith(".bin") or entry.name.startswith("slip-"):
                    continue
                path = Path(entry.path)
                try:
                    mtime = entry.stat().st_mtime_ns
                except FileNotFoundError:
                    continue
                old = self.seen.setdefault(path, mtime)
                if old != mtime:
                    # a file still being written can change once; a second ticket means a second print
                    self.seen[path] = mtime
                    self.rewritten.append(f"{folder.name}/{entry.name}")

    def run(self) -> None:
        while not self.stop_flag.wait(0.2):
            self.scan()


def display_mismatch(state: dict[str, Any], shown: dict[str, Any]) -> str:
    """'' when the display shows what the state says (counters, waiting counts, mode)."""
    if shown.get("screen") == "connecting":
        return "display still connecting"
    want_counters = {c["id"]: ((c.get("ticket") or {}).get("number") or "", c["status"]) for c in state["counters"]}
    got_counters = {c["id"]: (c.get("number") or "", c["status"]) for c in shown.get("counters", [])}
    if want_counters != got_counters:
        return f"counters {got_counters} != {want_counters}"
    want_waiting = {s["id"]: s["waiting"] for s in state["services"]}
    got_waiting = {s["id"]: s["waiting"] for s in shown.get("services", [])}
    if want_waiting != got_waiting:
        return f"waiting {got_waiting} != {want_waiting}"
    return ""


def check_events(config, events: list[e.Event], replies: list[tuple[str, str, str, bytes]],
                 result: ChaosResult) -> None:
    """From the durable records alone: numbers unique, one counter per ticket, requests exactly once."""
    v = result.violations
    issued: Counter[str] = Counter()
    numbers: Counter[tuple[str, str, str]] = Counter()
    called: Counter[str] = Counter()
    setup = setup_from_config(config)
    state = setup.initial_state()
    for ev in events:
        if isinstance(ev, e.TicketIssued):
            issued[ev.ticket.id] += 1
            numbers[(ev.ticket.day, ev.ticket.service, ev.ticket.number)] += 1
            result.tickets += 1
            result.offline_tickets += bool(ev.ticket.offline)
        elif isinstance(ev, e.TicketCalled):
            called[ev.ticket.id] += 1
            result.called += 1
        elif isinstance(ev, e.TicketServed):
            result.served += 1
        state = fold(state, [ev])
        # no ticket in the hands of two counters at any moment
        held = [cs.ticket for cs in state.counters.values() if cs.ticket]
        if len(held) != len(set(held)):
            v.append(f"seq {ev.at}: one ticket at two counters: {held}")
        for cid, cs in state.counters.items():
            if cs.ticket and (state.tickets[cs.ticket].counter != cid or state.tickets[cs.ticket].status != "called"):
                v.append(f"{cs.ticket} held by {cid} but recorded as {state.tickets[cs.ticket].status} "
                         f"at {state.tickets[cs.ticket].counter}")
    v += [f"ticket {t} issued {n} times" for t, n in issued.items() if n > 1]
    v += [f"number {k} used {n} times" for k, n in numbers.items() if n > 1]
    # every request in effect once: each stored ok reply matches exactly one event, and back
    issue_replies: Counter[str] = Counter()
    call_replies: Counter[str] = Counter()
    keys: Counter[tuple[str, str]] = Counter()
    for device, rid, op, body in replies:
        keys[(device, rid)] += 1
        doc = json.loads(body)
        ticket = doc.get("ticket") if doc.get("ok") else None
        if op == "issue" and ticket:
            issue_replies[ticket["id"]] += 1
        elif op == "call_next" and ticket:
            call_replies[ticket["id"]] += 1
    online_issued = Counter({ev.ticket.id: 1 for ev in events if isinstance(ev, e.TicketIssued) and not ev.ticket.offline})
    if issue_replies != online_issued:
        v.append(f"issue replies and issued tickets differ: {sorted((issue_replies - online_issued) + (online_issued - issue_replies))[:10]}")
    if call_replies != called:
        v.append(f"call_next replies and calls differ: {sorted((call_replies - called) + (called - call_replies))[:10]}")
    v += [f"request {k} stored {n} times" for k, n in keys.items() if n > 1]
