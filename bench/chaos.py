"""Chaos: a hall's day of traffic while its processes are SIGKILLed at random moments.

The hall is the real thing on loopback (simulator/rig.py): Mosquitto with hallq's generated
config and persistence, the controller, two stub kiosks printing to ``--printer-out``, four stub
counters and a headless display, each a ``hallq`` process. An operator client (``admin.sim``)
plays customers and clerks through ``R/sim`` only. A killer SIGKILLs one component at a time (the
controller, a kiosk, a counter, the display or Mosquitto) and restarts it after a short random
pause; a power cut SIGKILLs every process at once and cold-starts the hall.

Afterwards the invariants are checked from the controller's SQLite records, the printed
``.bin`` files and the display's own snapshot (see ``check``). ``make chaos`` runs ≥ 200 kills;
tests/chaos/test_chaos.py runs a short bounded version in ``make test``.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hallq.core import events as e  # noqa: E402
from hallq.records.day import open_read_only  # noqa: E402
from hallq.simulator.audit import audit_day, wait_for_kiosks_in_flight  # noqa: E402
from hallq.testing import eventually  # noqa: E402
from hallq.simulator.rig import Rig, Watcher  # noqa: E402
from chaos_checks import ChaosResult, PrintWatch, check_events, display_mismatch  # noqa: E402,F401
from chaos_faults import FLOOD_PREFIX, KINDS, Faults  # noqa: E402

HALL = REPO / "examples" / "hall.toml"
SETTLE_S = 60.0          # after the last kill: everything back, kiosks synced
CONVERGE_S = 20.0        # the display shows the controller's state within this
VICTIM_WEIGHTS = {"controller": 3, "broker": 2, "kiosk": 2, "counter": 2, "display": 1}


class Chaos:
    def __init__(self, out: Path, seed: int, headless: bool = True, faults: tuple[str, ...] = KINDS) -> None:
        self.out = out
        self.rng = random.Random(seed)
        self.rig = Rig(out, HALL, headless=headless, prefer_broker="mosquitto")
        self.config = self.rig.config
        self.watcher = Watcher(self.config)
        self.result = ChaosResult(out=str(out))
        self.kiosks = [f"kiosk.{k.id}" for k in self.config.kiosk]
        self.counters = [f"counter.{c.id}" for c in self.config.counter]
        self.displays = [f"display.{d.id}" for d in self.config.display]
        self.down: dict[str, float] = {}          # component -> when to restart it
        self.kill_log: list[tuple[str, float]] = []   # (component, wall clock) of every SIGKILL
        self.lock = threading.Lock()
        self.stop_traffic = threading.Event()
        self.print_watch = PrintWatch([self.rig.ticket_dir(k.id) for k in self.config.kiosk])
        self.faults = Faults(self, faults)

    # --- processes ------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        self.kill_log.append((name, time.time()))
        if name == "broker":
            proc = self.rig.broker.proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
        else:
            self.rig.components[name].kill()

    def start(self, name: str) -> None:
        if name == "broker":
            self.rig.broker.start()
        else:
            self.rig.components[name].start()

    def alive(self, name: str) -> bool:
        return self.rig.broker.alive if name == "broker" else self.rig.components[name].alive

    def pick_victim(self) -> str:
        # every kind of component once first, then by weight
        untouched = [k for k in VICTIM_WEIGHTS if not self.result.kills[k]]
        kind = self.rng.choice(untouched) if untouched else \
            self.rng.choices(list(VICTIM_WEIGHTS), weights=list(VICTIM_WEIGHTS.values()))[0]
        pool = {"controller": ["controller"], "broker": ["broker"], "kiosk": self.kiosks,
                "counter": self.counters, "display": self.displays}[kind]
        return self.rng.choice(pool)

    def restart_due(self, now: float) -> None:
        for name, due in list(self.down.items()):
            if now >= due:
                self.start(name)
                del self.down[name]
        # anything that died on its own is a finding, and is brought back so the day goes on
        for name, comp in self.rig.components.items():
            if name not in self.down and comp.proc is not None and not comp.alive:
                code = comp.proc.returncode
                if name == "controller" and code == 1 and self.faults.refused_start_on_full_disk(comp):
                    self.result.refused_starts += 1     # as designed: systemd starts it again (RestartSec)
                elif code not in (-signal.SIGKILL,):
                    self.result.violations.append(f"{name} exited by itself with status {code}")
                comp.start()

    def power_cut(self) -> None:
        names = ["broker", *self.rig.components]
        self.kill_log += [(name, time.time()) for name in names]
        for name in names:            # as near "at once" as signals go
            if name == "broker":
                proc = self.rig.broker.proc
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
            else:
                comp = self.rig.components[name]
                if comp.alive and comp.proc is not None:
                    comp.proc.send_signal(signal.SIGKILL)
        for name in names:
            if name == "broker":
                if self.rig.broker.proc is not None:
                    self.rig.broker.proc.wait(timeout=10)
            elif self.rig.components[name].proc is not None:
                self.rig.components[name].proc.wait(timeout=10)  # type: ignore[union-attr]
        self.down.clear()
        self.result.power_cuts += 1
        time.sleep(self.rng.uniform(0.2, 1.0))
        # cold start: the broker first (as systemd would order it), then everything else
        self.rig.broker.start()
        for comp in self.rig.components.values():
            comp.start()

    # --- traffic ----------------------------------------------------------------------------
    def traffic(self, tickets_per_s: float) -> None:
        """Customers at the kiosks, clerks at the counters: presses through R/sim only."""
        rng = random.Random(self.rng.random())
        services = [s.id for s in self.config.service]
        while not self.stop_traffic.is_set():
            time.sleep(rng.expovariate(tickets_per_s / 0.6))
            if rng.random() < 0.6:
                kiosk = rng.choice(self.kiosks)
                payload: dict[str, Any] = {"press": rng.choice(services)}
                if rng.random() < 0.05:
                    payload["priority"] = True
                sent = self.watcher.sim(kiosk, payload)
            else:
                counter = rng.choice(self.counters)
                key = rng.choices(["next", "finish", "no_show", "recall"], weights=[8, 2, 1, 1])[0]
                sent = self.watcher.sim(counter, {"press": key})
            if sent:
                self.result.presses += 1

    # --- the run ----------------------------------------------------------------------------
    def run(self, kills: int, power_cuts: int, tickets_per_s: float, gap_s: tuple[float, float],
            max_seconds: float, faults_per_kind: int = 0) -> ChaosResult:
        t0 = time.monotonic()
        if faults_per_kind:
            self.faults.prepare()
        plan = self.faults.plan(kills, faults_per_kind) if faults_per_kind else {}
        self.rig.start()
        self.watcher.start()
        self.print_watch.start()
        devices = [d for d in self.config.device_ids() if not d.startswith("admin.")]
        if not eventually(lambda: self.watcher.controller_online() and all(
                (self.watcher.presence.get(d) or {}).get("online") for d in devices), 60):
            raise RuntimeError(f"the hall did not come up; see {self.out / 'logs'}")
        driver = threading.Thread(target=self.traffic, args=(tickets_per_s,), daemon=True)
        driver.start()
        cut_at = {round(kills * (i + 1) / (power_cuts + 1)) for i in range(power_cuts)}
        done = 0
        deadline = t0 + max_seconds
        try:
            while done < kills and time.monotonic() < deadline:
                time.sleep(self.rng.uniform(*gap_s))
                self.restart_due(time.monotonic())
                if done in cut_at:
                    cut_at.discard(done)
                    self.power_cut()
                    continue
                if plan.get(done):
                    self.faults.inject(plan[done].pop(0))
                    continue
                victim = self.pick_victim()
                if victim in self.down or not self.alive(victim):
                    continue
                self.kill(victim)
                self.result.kills[victim.partition(".")[0]] += 1
                done += 1
                pause = self.rng.uniform(0.3, 2.0) if victim == "broker" else self.rng.uniform(0.0, 1.5)
                self.down[victim] = time.monotonic() + pause
            left = [kind for kinds in plan.values() for kind in kinds]
            if left:
                self.result.violations.append(f"time limit: faults not injected: {left}")
            if done < kills:
                self.result.violations.append(f"time limit: only {done} of {kills} kills in {max_seconds:.0f} s")
            # the day goes on a little without faults, then everyone goes home
            while self.down:
                self.restart_due(time.monotonic())
                time.sleep(0.05)
            time.sleep(3)
        finally:
            self.stop_traffic.set()
            driver.join(timeout=5)
        self.settle()
        self.check_display()
        # kiosks still running: what they had in flight printed or voided before they are stopped
        wait_for_kiosks_in_flight(self.out / "data" / "controller" / "controller.db",
                                  {k.id: self.rig.ticket_dir(k.id) for k in self.config.kiosk})
        self.print_watch.stop_flag.set()
        self.print_watch.scan()
        self.watcher.close()
        self.rig.stop()
        self.check_records()
        self.faults.figures()
        self.faults.cleanup()
        self.result.seconds = time.monotonic() - t0
        return self.result

    def settle(self) -> None:
        """Every process up, the controller online, the kiosks' offline tickets synced."""
        self.restart_due(time.monotonic())
        ok = eventually(lambda: self.watcher.controller_online() and all(
            (self.watcher.status.get(k) or {}).get("unsynced") == 0
            and (self.watcher.presence.get(k) or {}).get("online") for k in self.kiosks), SETTLE_S)
        if not ok:
            stuck = {k: (self.watcher.status.get(k) or {}).get("unsynced") for k in self.kiosks}
            self.result.violations.append(f"not settled within {SETTLE_S:.0f} s: unsynced {stuck}")

    def check_display(self) -> None:
        """The display converges to the controller's retained state (by its own snapshot JSON)."""
        for display in self.displays:
            path = self.rig.snapshot_path(display.partition(".")[2]).with_suffix(".json")
            last: str = "no snapshot"
            deadline = time.monotonic() + CONVERGE_S
            while time.monotonic() < deadline:
                state = self.watcher.snapshot_state()
                try:
                    shown = json.loads(path.read_text("utf-8"))
                except (OSError, ValueError):
                    shown = None
                if state is not None and shown is not None:
                    last = display_mismatch(state, shown)
                    if not last:
                        break
                time.sleep(0.2)
            else:
                self.result.violations.append(f"{display} did not converge in {CONVERGE_S:.0f} s: {last}")

    def check_records(self) -> None:
        db_path = self.out / "data" / "controller" / "controller.db"
        result = self.result
        db = open_read_only(db_path)
        try:
            rows = db.execute("SELECT seq, body FROM events ORDER BY seq").fetchall()
            replies = db.execute("SELECT device, request_id, op, reply FROM requests").fetchall()
            snapshot = db.execute("SELECT seq FROM snapshot").fetchone()
        finally:
            db.close()
        result.events, result.requests = len(rows), len(replies)
        seqs = [seq for seq, _ in rows]
        if seqs != list(range(1, len(seqs) + 1)):
            gaps = sorted(set(range(1, (seqs[-1] if seqs else 0) + 1)) - set(seqs))[:10]
            result.violations.append(f"event seq not 1..N: missing {gaps}")
        if snapshot and snapshot[0] > len(seqs):
            result.violations.append(f"snapshot at seq {snapshot[0]} beyond the last event {len(seqs)}")
        events = [e.decode_event(body) for _, body in rows]
        # the tickets the flooding client's requests got: known by their request ids, not by timing
        # (the controller reads a flood's backlog for seconds after the client has stopped)
        flood_tickets = {(json.loads(reply).get("ticket") or {}).get("number") for _, rid, op, reply in replies
                         if op == "issue" and rid.startswith(FLOOD_PREFIX)}
        check_events(self.config, events, replies, result)
        days = sorted({ev.ticket.day for ev in events if isinstance(ev, e.TicketIssued)})
        ticket_dirs = {k.id: self.rig.ticket_dir(k.id) for k in self.config.kiosk}
        for day in days:
            audit = audit_day(db_path, day, ticket_dirs, self.print_watch.rewritten)
            result.printed += len(audit.printed)
            if audit.lost_printed:
                result.violations.append(f"{day}: printed but unknown to the controller: {audit.lost_printed[:10]}")
            if audit.doubled:
                result.violations.append(f"{day}: printed or issued twice: {audit.doubled[:10]}")
            for number in audit.ghosts:
                ticket = audit.tickets[number]
                if number in flood_tickets:
                    result.flood_tickets.append(number)
                elif (self.kiosk_killed_around(ticket.source, ticket.issued_at.timestamp())
                      or in_flight_when_killed(events, replies, ticket.source, ticket.id)):
                    result.ghosts.append(number)
                else:
                    result.violations.append(f"{day}: {number} issued to {ticket.source}, never printed nor "
                                             f"voided, and that kiosk was not killed then"
                                             f"{self.request_story(replies, ticket.source, ticket.id)}")

    def request_story(self, replies: list[tuple[str, str, str, bytes]], kiosk: str, ticket_id: str) -> str:
        """What the kiosk's log says of the request that issued ``ticket_id`` (a violation must be
        explainable from the run's folder alone)."""
        ids = [rid for device, rid, op, reply in replies if device == kiosk and op in ("issue", "check_in")
               and ((json.loads(reply).get("ticket") or {}).get("id") == ticket_id)]
        log_path = self.out / "logs" / f"{kiosk}.log"
        try:
            lines = log_path.read_text("utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        said = [line for line in lines if any(rid in line for rid in ids)][:6]
        return f" (request {', '.join(ids) or 'unknown'}; its log: {' | '.join(said) or 'nothing'})"

    def kiosk_killed_around(self, kiosk: str, issued_at: float) -> bool:
        """A ticket issued to a kiosk that was SIGKILLed before it could print it: the kiosk notes an
        issue in flight and voids it when it starts again, but not once the reply is in (the ticket
        may be in a customer's hand), and not when a counter has called it meanwhile: a known gap,
        reported. Only such a kill explains a ghost: any other ghost is a violation."""
        return any(name == kiosk and issued_at - 0.5 <= at <= issued_at + 3.0 for name, at in self.kill_log)


def in_flight_when_killed(events: list[e.Event], replies: list[tuple[str, str, str, bytes]], kiosk: str,
                          ticket_id: str) -> bool:
    """Whether ticket ``ticket_id`` was the last one asked for by a kiosk process that a later one of
    the same kiosk replaced (so it was SIGKILLed: the harness stops kiosks only at the end); a later
    process is known by its issues, online or synced from its lease. Told by
    the request ids, whose prefix is a random tag per process (hallq/device/requests.py), in the
    order of the events, not by the controller's clock: while that clock is set back, tickets keep
    the last issue time before it, and a kill then looks far from the ticket it cut short."""
    def tag(request_id: str) -> str:
        return request_id.rpartition("-")[0]
    asked: dict[str, str] = {}
    for device, rid, op, reply in replies:
        if device != kiosk or rid.startswith(FLOOD_PREFIX):
            continue
        answer = json.loads(reply)
        if op in ("issue", "check_in"):
            asked[(answer.get("ticket") or {}).get("id")] = rid
        elif op == "sync":
            # a later process's offline tickets, placed when it synced, show it replaced the one before
            # (it may have issued nothing online: the controller away, or refusing it for a moment)
            for placed in answer.get("tickets") or []:
                asked[placed.get("id")] = rid
    if ticket_id not in asked:
        return False
    issued = [(ev.ticket.id, tag(asked[ev.ticket.id])) for ev in events      # in the order they were issued
              if isinstance(ev, e.TicketIssued) and ev.ticket.source == kiosk and ev.ticket.id in asked]
    mine = tag(asked[ticket_id])
    last_of_mine = next((tid for tid, t in reversed(issued) if t == mine), None)
    return issued[-1][1] != mine and last_of_mine == ticket_id


def run(kills: int, power_cuts: int, seed: int, out: Path | None = None, tickets_per_s: float = 4.0,
        gap_s: tuple[float, float] = (0.5, 2.0), max_seconds: float = 1800, keep: bool = False,
        faults_per_kind: int = 0, faults: tuple[str, ...] = KINDS) -> ChaosResult:
    folder = out or Path(tempfile.mkdtemp(prefix="hallq-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    chaos = Chaos(folder, seed, faults=faults)
    try:
        result = chaos.run(kills, power_cuts, tickets_per_s, gap_s, max_seconds, faults_per_kind)
    finally:
        chaos.stop_traffic.set()
        chaos.rig.stop()
        chaos.faults.cleanup()
    if not keep and not result.violations:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--power-cuts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--rate", type=float, default=4.0, help="tickets per second asked for")
    parser.add_argument("--max-seconds", type=float, default=2400)
    parser.add_argument("--faults-per-kind", type=int, default=8,
                        help="stalls, floods, clock jumps and disk-full spells, each this many times (0: kills only)")
    parser.add_argument("--out", type=Path, default=None, help="keep the run's folder here")
    args = parser.parse_args()
    print(f"chaos: {args.kills} kills, {args.power_cuts} power cuts, seed {args.seed}", flush=True)
    result = run(args.kills, args.power_cuts, args.seed, args.out, args.rate, max_seconds=args.max_seconds,
                 keep=args.out is not None, faults_per_kind=args.faults_per_kind)
    sys.path.insert(0, str(REPO / "bench"))
    from harness import write_result  # noqa: PLC0415
    rows = [(m, val, "0" if "violations" in m or "ghosts" in m else "—") for m, val in result.table()]
    write_result("chaos", rows, {"seed": args.seed, "kills": dict(result.kills), "power_cuts": result.power_cuts,
                                 "faults": dict(result.faults), "stalls": dict(result.stalls),
                                 "flood_requests": result.flood_requests, "flood_answers": result.flood_answers,
                                 "flood_tickets": len(result.flood_tickets), "skipped": result.skipped,
                                 "flood_worst_delay_s": result.flood_worst_delay_s,
                                 "tickets": result.tickets, "printed": result.printed, "events": result.events,
                                 "violations": result.violations, "ghosts": result.ghosts,
                                 "seconds": round(result.seconds)})
    for line in result.violations:
        print("VIOLATION:", line)
    if result.violations:
        print(f"run folder kept: {result.out}")
    print("chaos: all invariants held" if not result.violations else "chaos: FAILED")
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
