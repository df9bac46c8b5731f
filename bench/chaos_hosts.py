"""Chaos between machines: the worked hall of docs/deploy.md on simulated hosts, installed as the
guide says, through a day of customers while the network breaks between the machines.

Faults (hallq/testing/hosts.py): a kiosk's cable pulled (``cable``), the server cut off from every
device (``server_cut``), a link flapping every 1-3 s (``flap``), a machine's traffic to the server
dropped in one direction only (``half_open``: nftables, the TCP connection half-open) and the
server's power cut (``reboot``: every process on it killed, then started from its units, Mosquitto
first). Customers press the kiosks' buttons and clerks their keys the whole time, through each
device's local sim socket (a person at the device needs no network).

Afterwards, as ``make chaos``: from the controller's database and the kiosks' printed tickets,
nothing lost, nothing doubled, every printed ticket called or accounted for; and the longest a
kiosk was cut off, with what it issued meanwhile.

    .venv/bin/python bench/chaos_hosts.py [--cable-s 120] [--rounds 2] [--seed N]   (root; make chaos)
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))     # after the packages: bench/display.py is no package

from chaos_checks import ChaosResult, check_events  # noqa: E402
from hallq.runtime.config import load_config  # noqa: E402
from hallq.core import events as e  # noqa: E402
from hallq.records.day import open_read_only  # noqa: E402
from hallq.testing import eventually  # noqa: E402
from hallq.testing.deploy import DeployedHall, wait_quietly  # noqa: E402
from hallq.testing.hosts import Host, in_netns  # noqa: E402
from hallq.simulator.audit import audit_day, wait_for_kiosks_in_flight  # noqa: E402
from hallq.simulator.rig import Watcher  # noqa: E402

FAULTS = ("cable", "half_open", "flap", "server_cut", "reboot")
SETTLE_S = 90.0


@dataclass
class CutOff:
    """A kiosk off the network: from when to when, and what it issued meanwhile (from its lease)."""
    kiosk: str
    fault: str
    start: float
    end: float = 0.0
    issued: int = 0

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class HostsResult(ChaosResult):
    network_faults: dict[str, int] = field(default_factory=dict)
    cut_offs: list[CutOff] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    install_s: float = 0.0

    @property
    def longest(self) -> CutOff | None:
        return max(self.cut_offs, key=lambda c: c.seconds, default=None)

    def host_rows(self) -> list[tuple[str, str]]:
        faults = ", ".join(f"{k} {n}" for k, n in self.network_faults.items())
        longest = self.longest
        rows = [("machines (installed by docs/deploy.md's commands)", f"6 ({self.install_s:.0f} s to install)"),
                ("network faults between machines", f"{sum(self.network_faults.values())} ({faults})"),
                ("button presses (kiosks and counters, at the devices)", str(self.presses)),
                ("tickets recorded (of which from a lease while cut off)", f"{self.tickets} ({self.offline_tickets})"),
                ("tickets printed", str(self.printed)),
                ("calls / served", f"{self.called} / {self.served}"),
                ("events (seq 1..N, no gap)", str(self.events))]
        if longest is not None:
            rows.append(("longest a kiosk was cut off (fault): tickets it issued meanwhile",
                         f"{longest.seconds:.0f} s ({longest.fault}, {longest.kiosk}): {longest.issued}"))
        rows.append(("invariant violations", str(len(self.violations))))
        return rows


class HostChaos:
    def __init__(self, hall: DeployedHall, seed: int, tickets_per_s: float = 1.0) -> None:
        self.hall = hall
        self.rng = random.Random(seed)
        self.rate = tickets_per_s
        self.config = None  # read once the guide's hall.toml is written (start)
        self.result = HostsResult(out=str(hall.workdir))
        self.kiosks: list[str] = []
        self.counters: list[str] = []
        self.stop_traffic = threading.Event()
        self.watcher: Watcher | None = None
        self.lock = threading.Lock()

    # --- the hall -----------------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.monotonic()
        self.hall.install()
        self.result.install_s = time.monotonic() - t0
        self.config = load_config(self.hall.hall_toml)
        self.kiosks = [f"kiosk.{k.id}" for k in self.config.kiosk]
        self.counters = [f"counter.{c.id}" for c in self.config.counter]
        self.watcher = self.hall.client_in(self.config, lambda cfg: Watcher(cfg, identity="admin.ctl"))
        self.hall.wait_for_services()
        if not eventually(self.everyone_up, 90):
            raise RuntimeError("the deployed hall did not come up:\n" + self.hall.journal())

    def everyone_up(self) -> bool:
        w = self.watcher
        assert w is not None
        devices = [d for d in self.config.device_ids() if not d.startswith("admin.")]
        return w.controller_online() and all((w.presence.get(d) or {}).get("online") for d in devices)

    # --- traffic ------------------------------------------------------------------------------
    def traffic(self) -> None:
        rng = random.Random(self.rng.random())
        services = [s.id for s in self.config.service]
        while not self.stop_traffic.is_set():
            time.sleep(rng.expovariate(self.rate / 0.6))
            if rng.random() < 0.6:
                sent = self.hall.press(rng.choice(self.kiosks), {"press": rng.choice(services)})
            else:
                key = rng.choices(["next", "finish", "no_show", "recall"], weights=[8, 2, 1, 1])[0]
                sent = self.hall.press(rng.choice(self.counters), {"press": key})
            if sent:
                with self.lock:
                    self.result.presses += 1

    # --- faults -------------------------------------------------------------------------------
    def kiosk_hosts(self) -> list[tuple[str, Host]]:
        return [(k, self.hall.devices[k]) for k in self.kiosks]

    def fault(self, kind: str, seconds: float) -> None:
        self.result.network_faults[kind] = self.result.network_faults.get(kind, 0) + 1
        server = self.hall.server
        if kind == "cable":
            kiosk, host = self.rng.choice(self.kiosk_hosts())
            cut = CutOff(kiosk, kind, time.time())
            host.cable(False)
            wait_quietly(seconds, self.hall)
            host.cable(True)
            cut.end = time.time()
            self.result.cut_offs.append(cut)
        elif kind == "half_open":
            kiosk, host = self.rng.choice(self.kiosk_hosts())
            cut = CutOff(kiosk, kind, time.time())
            host.drop_outgoing(server.address, True)
            wait_quietly(seconds, self.hall)
            host.drop_outgoing(server.address, False)
            cut.end = time.time()
            self.result.cut_offs.append(cut)
        elif kind == "flap":
            host = self.hall.devices[self.rng.choice(self.counters + self.kiosks)]
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                host.cable(False)
                wait_quietly(self.rng.uniform(1.0, 3.0), self.hall)
                host.cable(True)
                wait_quietly(self.rng.uniform(1.0, 3.0), self.hall)
        elif kind == "server_cut":
            cuts = [CutOff(k, kind, time.time()) for k in self.kiosks]
            server.cable(False)
            wait_quietly(seconds, self.hall)
            server.cable(True)
            for cut in cuts:
                cut.end = time.time()
            self.result.cut_offs += cuts
        elif kind == "reboot":
            server.power_cut()
            wait_quietly(self.rng.uniform(1.0, 3.0), self.hall)
            server.boot()
            wait_quietly(seconds, self.hall)
        else:
            raise ValueError(kind)

    def recover(self, what: str = "a fault") -> None:
        """The hall back to normal: every device connected to the broker (as the broker's own
        sockets say: retained presence from before the fault could be stale), the controller
        online, every kiosk's offline tickets synced (their journals on their own disks)."""
        w = self.watcher
        assert w is not None
        if not eventually(lambda: (self.hall.supervise() or True) and self.hall.all_connected_and_synced()
                          and w.controller_online(), SETTLE_S):
            self.result.violations.append(
                f"not back within {SETTLE_S:.0f} s after {what}: connections {self.hall.mqtt_connections()} "
                f"(expected {self.hall.expected_connections()}), unsynced "
                f"{ {k: self.hall.unsynced(k) for k in self.kiosks} }")

    # --- the run ------------------------------------------------------------------------------
    def run(self, plan: list[tuple[str, float]]) -> HostsResult:
        self.start()
        return self.run_plan(plan)

    def run_plan(self, plan: list[tuple[str, float]]) -> HostsResult:
        """Traffic, each fault in turn (the hall back to normal between them), settle, check."""
        t0 = time.monotonic()
        driver = threading.Thread(target=self.traffic, daemon=True)
        driver.start()
        try:
            wait_quietly(3.0, self.hall)                 # a little ordinary day first
            for kind, seconds in plan:
                self.fault(kind, seconds)
                self.recover(kind)
                wait_quietly(2.0, self.hall)
        finally:
            self.stop_traffic.set()
            driver.join(timeout=10)
        self.settle()
        # what the kiosks had in flight when the traffic stopped, printed or voided first
        wait_for_kiosks_in_flight(self.hall.controller_db(), {k.partition(".")[2]: self.hall.ticket_dir(k)
                                                              for k in self.kiosks})
        self.check()
        self.result.restarts = self.hall.supervise()
        self.result.seconds = time.monotonic() - t0 + self.result.install_s
        return self.result

    def settle(self) -> None:
        """After the last customer: everything back and synced (as between faults)."""
        self.recover("the day")

    def check(self) -> None:
        db_path = self.hall.controller_db()
        db = open_read_only(db_path)
        try:
            rows = db.execute("SELECT seq, body FROM events ORDER BY seq").fetchall()
            replies = db.execute("SELECT device, request_id, op, reply FROM requests").fetchall()
        except sqlite3.Error as err:
            self.result.violations.append(f"controller records unreadable: {err}")
            return
        finally:
            db.close()
        result = self.result
        result.events, result.requests = len(rows), len(replies)
        seqs = [seq for seq, _ in rows]
        if seqs != list(range(1, len(seqs) + 1)):
            result.violations.append("event seq not 1..N")
        events = [e.decode_event(body) for _, body in rows]
        check_events(self.config, events, replies, result)
        issued = [ev.ticket for ev in events if isinstance(ev, e.TicketIssued)]
        for cut in result.cut_offs:
            cut.issued = sum(1 for t in issued if t.offline and t.source == cut.kiosk
                             and cut.start <= _epoch(t.issued_at) <= cut.end + 1)
        for day in sorted({t.day for t in issued}):
            audit = audit_day(db_path, day, {k.partition(".")[2]: self.hall.ticket_dir(k) for k in self.kiosks}, [])
            result.printed += len(audit.printed)
            if audit.lost_printed:
                result.violations.append(f"{day}: printed but unknown to the controller: {audit.lost_printed[:10]}")
            if audit.doubled:
                result.violations.append(f"{day}: printed or issued twice: {audit.doubled[:10]}")
            if audit.ghosts:
                result.violations.append(f"{day}: issued, never printed nor voided: {audit.ghosts[:10]}")


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def short_plan(rng: random.Random, cable_s: float = 15.0) -> list[tuple[str, float]]:
    """One of each fault, short: the version `make test` runs."""
    return [("cable", cable_s), ("half_open", 20.0), ("flap", 10.0), ("server_cut", 8.0), ("reboot", 3.0)]


def long_plan(rng: random.Random, rounds: int, cable_s: float) -> list[tuple[str, float]]:
    plan: list[tuple[str, float]] = []
    for _ in range(rounds):
        kinds = list(FAULTS)
        rng.shuffle(kinds)
        plan += [(k, {"cable": cable_s, "half_open": 30.0, "flap": 20.0, "server_cut": 20.0, "reboot": 5.0}[k])
                 for k in kinds]
    return plan


def run(plan: list[tuple[str, float]], seed: int, workdir: Path | None = None) -> HostsResult:
    folder = workdir or Path(tempfile.mkdtemp(prefix="hallq-chaos-hosts-"))
    hall = DeployedHall(folder)
    chaos = HostChaos(hall, seed)
    try:
        return chaos.run(plan)
    finally:
        if chaos.watcher is not None:
            chaos.watcher.close()
        hall.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--rounds", type=int, default=2, help="every kind of fault this many times")
    parser.add_argument("--cable-s", type=float, default=120.0, help="how long a kiosk's cable is out")
    args = parser.parse_args()
    from hallq.testing.hosts import netns_available
    why = netns_available()
    if why:
        print(f"chaos between machines skipped: {why}")
        return 0
    rng = random.Random(args.seed)
    result = run(long_plan(rng, args.rounds, args.cable_s), args.seed)
    from harness import write_result  # noqa: PLC0415
    rows = [(m, v, "0" if "violations" in m else "—") for m, v in result.host_rows()]
    longest = result.longest
    write_result("chaos_hosts", rows, {"seed": args.seed, "faults": result.network_faults, "tickets": result.tickets,
                                       "printed": result.printed, "violations": result.violations,
                                       "longest_cut_off_s": round(longest.seconds) if longest else None,
                                       "issued_meanwhile": longest.issued if longest else None,
                                       "seconds": round(result.seconds)})
    for metric, value in result.host_rows():
        print(f"{metric}: {value}")
    for line in result.violations:
        print("VIOLATION:", line)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
