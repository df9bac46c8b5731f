"""`make bench`: run every bench script and write one combined table to bench/RESULTS.md.

Each script (bench/*.py but this one, the harness and the long chaos run) prints its own table
and keeps it in bench/results/<name>.md. Here they run one after the other on the same machine;
the broker's own publish→receive round trip is measured first, in this run, and every latency
in the combined table also appears as a ratio to it. A script that fails or leaves no fresh table
is marked as such: no figure from an earlier run is passed off as this run's.

``--with-chaos`` also runs bench/chaos.py (≥ 200 kills, several minutes); otherwise the table of
the last `make chaos` is included with its date.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import REPO, RESULTS, broker_floor, percentile, start_broker

BENCH = REPO / "bench"
ORDER = ["controller", "kiosk", "counter", "display", "e2e", "recovery", "scale", "chaos"]
SKIP = {"run_all", "harness", "chaos"}
TIMEOUT_S = 1200
MS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)\s*)?ms\b")


def scripts(with_chaos: bool) -> list[str]:
    names = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in SKIP or (with_chaos and p.stem == "chaos"))
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def run_script(name: str) -> tuple[int | None, str]:
    """Run bench/<name>.py, echoing its output; (exit status or None on timeout, the output)."""
    proc = subprocess.Popen([sys.executable, str(BENCH / f"{name}.py")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(TIMEOUT_S, kill)
    watchdog.start()
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        code = proc.wait()
    finally:
        watchdog.cancel()
    return (None if timed_out.is_set() else code), "".join(lines)


def measure_floor() -> list[float]:
    broker = start_broker("floor")
    try:
        return broker_floor(broker, n=1000)
    finally:
        broker.cleanup()


def rows_of(table: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in table.splitlines():
        if line.startswith("|") and not line.startswith("|---") and not line.startswith("| metric"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) == 3:
                rows.append((cells[0], cells[1], cells[2]))
    return rows


def ratio(value: str, floor_ms: float, metric: str) -> str:
    """'3.9× / 10.2×' for a value like '3.87 / 10.05 ms'; '' when it is no latency."""
    if "floor" in metric and "round trip" in metric:
        return "1× (its own floor)"
    if "frame time" in metric:
        return ""           # drawing time, not a trip through the broker
    m = MS.search(value)
    if not m:
        return ""
    parts = [float(g) / floor_ms for g in m.groups() if g is not None]
    return " / ".join(f"{p:.1f}×" for p in parts)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mosq = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, timeout=5).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        mosq = "mosquitto ?"
    return f"{platform.machine()}, {os.cpu_count()} CPUs ({model or 'unknown CPU'}), Python {platform.python_version()}, {mosq}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-chaos", action="store_true")
    parser.add_argument("--only", nargs="*", help="run only these scripts (names without .py)")
    args = parser.parse_args()
    started = time.time()
    floor = measure_floor()
    floor_ms = statistics.median(floor) * 1000
    print(f"broker floor (this run): median {floor_ms:.2f} ms, p99 {percentile(floor, 99) * 1000:.2f} ms", flush=True)
    outcome: dict[str, str] = {}
    names = args.only or scripts(args.with_chaos)
    for name in names:
        print(f"\n=== bench/{name}.py", flush=True)
        t0 = time.monotonic()
        code, output = run_script(name)
        took = time.monotonic() - t0
        md = RESULTS / f"{name}.md"
        fresh = md.exists() and md.stat().st_mtime >= started
        if code == 0 and not fresh and rows_of(output):
            # a script that only prints its table: keep what it printed in this run
            RESULTS.mkdir(parents=True, exist_ok=True)
            table = [line for line in output.splitlines() if line.startswith(("|", "### "))]
            md.write_text("\n".join(table) + "\n", "utf-8")
            fresh = True
        outcome[name] = ("ok" if code == 0 and fresh else
                         "timed out" if code is None else
                         f"failed (exit {code})" if code != 0 else "no table written") + f", {took:.0f} s"
    lines = [
        "# hallq benchmark results",
        "",
        f"Written by `make bench` (bench/run_all.py) on {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}; "
        f"{machine()}. Loopback Mosquitto with hallq's generated config (auth, ACL, persistence).",
        "",
        f"**Broker floor in this run** (one client's QoS 1 publish→receive through Mosquitto): median "
        f"{floor_ms:.2f} ms, p99 {percentile(floor, 99) * 1000:.2f} ms (n={len(floor)}). The `× floor` column "
        f"divides each latency by that median.",
        "",
        "| component | metric | value | × floor | aim |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for name in [*ORDER, *sorted(p.stem for p in RESULTS.glob("*.md") if p.stem not in ORDER)]:
        md = RESULTS / f"{name}.md"
        if name in outcome and not outcome[name].startswith("ok"):
            lines.append(f"| {name} | (not measured in this run: {outcome[name]}) | — | — | — |")
            continue
        if not md.exists():
            continue
        if name not in outcome:
            when = dt.datetime.fromtimestamp(md.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            notes.append(f"- `{name}`: not run by this `make bench`; its table is from {when}"
                         + (" (`make chaos`)" if name == "chaos" else "") + ".")
        for metric, value, aim in rows_of(md.read_text("utf-8")):
            lines.append(f"| {name} | {metric} | {value} | {ratio(value, floor_ms, metric)} | {aim} |")
    lines += ["", "Runs:", ""]
    lines += [f"- `bench/{n}.py`: {o}" for n, o in outcome.items()]
    lines += notes
    lines += ["", "Each script's own table, with its method, is in bench/results/<name>.md; the scripts' docstrings "
              "say what is measured and how.", ""]
    (BENCH / "RESULTS.md").write_text("\n".join(lines), "utf-8")
    print("\n".join(lines))
    return 0 if all(o.startswith("ok") for o in outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
