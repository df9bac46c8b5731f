"""``hallq demo``: a whole simulated hall in one command (docs/demo.md).

Starts a broker (Mosquitto when installed, else the embedded one), the controller, the kiosks,
counters and display of the hall as real ``hallq`` processes with stub devices, plays the
scenario's day through ``R/sim`` presses only, then stops everything and prints a summary: tickets
issued, served, no-shows, waits, and lost and doubled tickets (which must be zero), and writes the
day's report, display snapshots and ticket pictures into ``--out``. Exit status 1 when a ticket
was lost or doubled or a process died on its own.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from hallq.errors import ConfigError
from hallq.records.day import TimeFrame, open_read_only
from hallq.runtime.config import load_config
from hallq.testing import eventually
from hallq.tools.report import estimate_line, make_report, text_table, write_csv, write_html

from .audit import Audit, audit_day, wait_for_kiosks_in_flight
from .engine import KIOSK_GAP_S, Engine
from .rig import Rig, Watcher
from .scenario import Scenario, clock, default_hall_path, default_scenario_path, load_scenario, plan_day

MARKER = ".hallq-demo"
SETTLE_S = 30.0       # real seconds to wait for kiosks to sync after the day


def has_screen() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def prepare_out(out: Path) -> Path:
    """A fresh output folder; one a previous demo wrote is emptied, anything else is refused."""
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ConfigError(str(out), "--out", "an empty folder, or one an earlier `hallq demo` wrote")
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by hallq demo; emptied by the next run\n", "utf-8")
    return out


def run_demo(scenario: Scenario, source_hall: Path, out: Path, speed: float, headless: bool,
             minutes: float | None = None, stream: TextIO = sys.stdout, live: bool | None = None,
             prefer_broker: str = "auto") -> dict[str, Any]:
    """Play the day; return the summary (also written to out/summary.json)."""
    plan = plan_day(scenario)
    rig = Rig(out, source_hall, headless, prefer_broker, day=(scenario.open_s, speed))
    day_hours = (scenario.close_s - scenario.open_s) / 3600
    print(f"hallq demo: {scenario.day.name}\n"
          f"  {len(plan.arrivals)} customers from {scenario.day.open} to {scenario.day.close} ({day_hours:g} h simulated) "
          f"at x{speed:g}: about {(scenario.close_s - scenario.open_s) / speed:.0f} s real\n"
          f"  broker: {rig.broker.kind} on 127.0.0.1:{rig.broker.port}; display "
          f"{'headless (PNG snapshots)' if headless else 'in a window'}; output in {out}", file=stream, flush=True)
    peak = sum(max(a.per_hour) for a in scenario.arrivals) * speed / 3600
    capacity = len(rig.config.kiosk) / KIOSK_GAP_S
    if peak > 0.8 * capacity:
        print(f"  note: at x{speed:g} up to {peak:.1f} customers arrive per real second; {len(rig.config.kiosk)} kiosks "
              f"print at most {capacity:.1f}: lines will build at the kiosks", file=stream, flush=True)
    watcher = Watcher(rig.config)
    engine: Engine | None = None
    died: list[str] = []
    try:
        rig.start()
        watcher.start()
        devices = [d for d in rig.config.device_ids() if not d.startswith("admin.")]
        ready = eventually(lambda: watcher.controller_online() and watcher.state is not None and all(
            (watcher.presence.get(d) or {}).get("online") for d in devices), 60.0)
        if not ready:
            missing = [d for d in ["controller", *devices] if not (watcher.presence.get(d) or {}).get("online")]
            raise RuntimeError(f"the hall did not come up within 60 s (not online: {', '.join(missing)}); "
                               f"see {out / 'logs'}")
        print("  all processes online; the day begins", file=stream, flush=True)
        engine = Engine(rig, watcher, scenario, plan, speed, stream, real_limit_s=minutes * 60 if minutes else None,
                        live=live)
        try:
            engine.run()
        except KeyboardInterrupt:
            print("\ninterrupted: winding the hall down", file=stream, flush=True)
        died = rig.dead()
        kiosks = [f"kiosk.{k.id}" for k in rig.config.kiosk]
        settled = eventually(lambda: watcher.controller_online() and all(
            (watcher.status.get(k) or {}).get("unsynced") == 0 for k in kiosks), SETTLE_S)
        if not settled:
            print("  warning: a kiosk still holds unsynced tickets", file=stream, flush=True)
        # what a kiosk had in flight at the last press, printed or voided before the kiosks stop
        wait_for_kiosks_in_flight(out / "data" / "controller" / "controller.db",
                                  {k.id: rig.ticket_dir(k.id) for k in rig.config.kiosk})
        time.sleep(1.5)                  # the display draws the last state
        engine.snapshot("end")
    finally:
        watcher.close()
        rig.stop()
    assert engine is not None
    return summarise(rig, engine, scenario, speed, out, died, stream)


def summarise(rig: Rig, engine: Engine, scenario: Scenario, speed: float, out: Path, died: list[str],
              stream: TextIO) -> dict[str, Any]:
    zone = rig.config.zone
    started = engine.started_at.astimezone(zone)
    if rig.clock.simulated:            # every process ran on the simulated day: its times are the day's own
        assert rig.clock.shown is not None
        started = rig.clock.shown.astimezone(zone)
    day = started.date().isoformat()
    data = out / "data" / "controller"
    ticket_dirs = {k.id: rig.ticket_dir(k.id) for k in rig.config.kiosk}
    audit: Audit = audit_day(data / "controller.db", day, ticket_dirs, engine.stats.reprints + engine.stats.unexpected)
    shown_open = datetime.combine(started.date(), datetime.min.time(), zone) + timedelta(seconds=scenario.open_s)
    frame = TimeFrame(clock_speed=speed) if rig.clock.simulated else \
        TimeFrame(origin_real=started, origin_shown=shown_open, speed=speed)
    report = make_report(rig.config, data, day, frame)
    checks = list(engine.stats.probe_results)
    days = days_recorded(data / "controller.db")
    if len(days) > 1:
        checks.append(f"the business day changed during the run (midnight in {rig.config.hall.timezone}): "
                      f"tickets of {', '.join(d for d in days if d != day)} are not in this audit")
    (out / "report.txt").write_text(text_table(report, config=rig.config), "utf-8")
    write_csv(report, out / "report.csv", config=rig.config)
    write_html(report, out / "report.html", config=rig.config)
    hall = report.hall
    summary = {
        "scenario": scenario.day.name, "speed": speed, "broker": rig.broker.kind,
        "day": day, "simulated_end": clock(engine.now()),
        "customers": engine.stats.arrived, "turned_away": engine.stats.turned_away,
        "in_kiosk_line": sum(len(lane.line) + (lane.current is not None) for lane in engine.lanes.values()),
        "issued": len(audit.tickets), "printed": len(audit.printed),
        "served": audit.count("served"), "no_show": audit.count("no_show"), "voided": audit.count("voided"),
        "still_waiting": audit.count("waiting") + audit.count("called"),
        "issued_offline": audit.offline_issued, "issued_in_outage": audit.outage_issued,
        "wait_median_s": hall["wait_median_s"], "wait_p90_s": hall["wait_p90_s"], "wait_max_s": hall["wait_max_s"],
        "within_target_share": hall["within_target_share"],
        "lost": audit.lost, "lost_numbers": audit.lost_printed + audit.ghosts,
        "doubled": audit.doubled_count, "doubled_numbers": audit.doubled,
        "checks": checks, "died": died,
        "snapshots": len(engine.snapshots), "out": str(out),
        "estimates": dataclasses.asdict(report.estimates) if report.estimates else None,
        "estimates_text": estimate_line(report.estimates, "en") if report.estimates else "",
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), "utf-8")
    print(summary_text(summary), file=stream, flush=True)
    return summary


def days_recorded(db_path: Path) -> list[str]:
    db = open_read_only(db_path)
    try:
        return [row[0] for row in db.execute("SELECT DISTINCT day FROM events WHERE day != '' ORDER BY day")]
    finally:
        db.close()


def _m(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def summary_text(s: dict[str, Any]) -> str:
    ok = s["lost"] == 0 and s["doubled"] == 0 and not s["died"]
    lines = [
        "",
        f"=== hallq demo summary: {s['scenario']} (x{s['speed']:g}, {s['broker']} broker) ===",
        f"customers arrived     {s['customers']}   (turned away without a ticket: {s['turned_away']}"
        + (f"; still in a kiosk line when the day was stopped: {s['in_kiosk_line']}" if s["in_kiosk_line"] else "") + ")",
        f"tickets issued        {s['issued']}   (printed by kiosks: {s['printed']}; from leases while offline: "
        f"{s['issued_offline']}; during the outage: {s['issued_in_outage']})",
        f"served                {s['served']}",
        f"no-shows              {s['no_show']}",
        f"voided                {s['voided']}",
        f"still waiting         {s['still_waiting']}",
        f"wait (simulated)      median {_m(s['wait_median_s'])}  p90 {_m(s['wait_p90_s'])}  max {_m(s['wait_max_s'])}"
        + (f"  within target {s['within_target_share'] * 100:.0f}%" if s["within_target_share"] is not None else ""),
        *([f"estimates             {s['estimates_text'].split('): ', 1)[-1]}"] if s.get("estimates_text") else []),
        f"LOST tickets          {s['lost']}" + (f"  {s['lost_numbers']}" if s["lost"] else ""),
        f"DOUBLED tickets       {s['doubled']}" + (f"  {s['doubled_numbers']}" if s["doubled"] else ""),
    ]
    lines += [f"check: {c}" for c in s["checks"]]
    if s["died"]:
        lines.append(f"processes that died on their own: {', '.join(s['died'])}")
    lines += [f"output: {s['out']} (report.html, report.csv, snapshots/, tickets/, logs/)",
              "RESULT: " + ("ok — nothing lost, nothing doubled" if ok else "FAILED")]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    headless = bool(args.headless) or not has_screen()
    source_hall = Path(args.config) if args.config else default_hall_path()
    config = load_config(source_hall)
    scenario = load_scenario(args.scenario or default_scenario_path(), config)
    speed = args.speed or (scenario.day.speed if headless else scenario.day.window_speed)
    if speed <= 0:
        raise ConfigError("--speed", "speed", "a positive number of simulated seconds per real second")
    if args.broker:
        print("hallq demo: --broker ignored; the demo starts its own broker", file=sys.stderr)
    out = prepare_out(Path(args.out or "hallq-demo"))
    try:
        summary = run_demo(scenario, source_hall, out, speed, headless, args.minutes)
    except RuntimeError as err:
        print(f"hallq demo: {err}", file=sys.stderr)
        return 1
    return 0 if summary["lost"] == 0 and summary["doubled"] == 0 and not summary["died"] else 1
