"""The controller's speed, side by side in one run: this tree and earlier revisions under the same probe.

The probe (as the attack on the new surfaces measured it): one kiosk client, 200 issues in flight,
the per-kiosk limits off (a client playing many kiosks), three bursts of 400; and 300 sequential
issues for the latency, beside the broker's own round trip (the floor). Each revision's controller
runs from a checkout of that revision (``git worktree``, removed afterwards) with this venv's
libraries, on the same Mosquitto config; the revisions take turns, twice, so a busy moment of
the machine does not fall on one of them only.

    .venv/bin/python bench/controller_versions.py [--revisions cff566b c648f35] [--rounds 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import broker_floor, start_broker, summary_ms, write_result

from hallq.testing import Process

REPO = Path(__file__).resolve().parent.parent
R = "hallq/v1/h1"
# what each generation of the hall's TOML knows: later keys are refused by earlier controllers
LIMITS_OFF = {"current": {"kiosk_rate_per_s": "0", "kiosk_day_share": "1.0"},
              "c648f35": {"kiosk_rate_per_s": "0"}, "cff566b": {}}
LABELS = {"cff566b": "before the flood defences (cff566b)", "c648f35": "after them, last landed (c648f35)",
          "current": "this tree"}


def checkout(revision: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(into), revision],
                   check=True, capture_output=True, timeout=120)
    return into


def probe(revision: str, tree: Path | None, bursts: int, n: int) -> dict[str, float]:
    from controller import sequential, throughput
    broker = start_broker(f"versions-{revision}", hall_overrides=LIMITS_OFF.get(revision, LIMITS_OFF["current"]))
    admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/controller"])
    env = {"PYTHONPATH": str(tree)} if tree is not None else None
    workdir = broker.workdir / "run"
    workdir.mkdir(parents=True, exist_ok=True)
    start = admin.mark()
    ctl = Process(["controller", "--config", str(broker.config_path), "--data", str(workdir / "data")], workdir,
                  "controller", env=env, module="hall.cli" if tree is not None else "hallq").start()
    try:
        admin.wait_for(lambda t, d: t.endswith("/presence/controller") and isinstance(d, dict) and d.get("online"),
                       timeout=60, start=start)
        floor = broker_floor(broker)
        kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
        issue = sequential(kiosk, "issue", n, service="biz")
        rates = [throughput(kiosk, 400, window=200, service=s) for s in ("pay", "pay", "biz")[:bursts]]
        kiosk.close()
    finally:
        ctl.stop()
        admin.close()
        broker.cleanup()
    latency, base = summary_ms(issue), summary_ms(floor)
    return {"rate": statistics.median(rates), "worst": min(rates), "issue_median": latency["median_ms"],
            "issue_p99": latency["p99_ms"], "floor_median": base["median_ms"], "floor_p99": base["p99_ms"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", nargs="*", default=["cff566b", "c648f35"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n", type=int, default=300, help="sequential issues for the latency")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hallq-versions-"))
    trees: dict[str, Path | None] = {"current": None}
    try:
        for revision in args.revisions:
            trees[revision] = checkout(revision, base / revision)
        found: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for round_ in range(args.rounds):
            for name, tree in trees.items():
                result = probe(name, tree, 3, args.n)
                found[name].append(result)
                print(f"round {round_ + 1} {name}: {result['rate']:.0f} issues/s, issue p99 "
                      f"{result['issue_p99']:.2f} ms (floor {result['floor_p99']:.2f} ms)", flush=True)
    finally:
        for revision in args.revisions:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base / revision)],
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
    rows = []
    for name, results in found.items():
        rates = sorted(r["rate"] for r in results)
        p99 = sorted(r["issue_p99"] for r in results)
        floor = sorted(r["floor_p99"] for r in results)
        label = LABELS.get(name, name)
        rows.append((f"{label}: durable issues/s, 200 in flight (range of {len(results)} rounds)",
                     f"{rates[0]:.0f}–{rates[-1]:.0f}", "≥ 2,000" if name == "current" else "—"))
        rows.append((f"{label}: issue p99 / broker p99 (ranges)", f"{p99[0]:.2f}–{p99[-1]:.2f} / "
                     f"{floor[0]:.2f}–{floor[-1]:.2f} ms", "≤ 5× broker" if name == "current" else "—"))
    write_result("controller_versions", rows, {name: results for name, results in found.items()})
    for metric, value, _ in rows:
        print(f"{metric}: {value}")
    return 0


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    sys.exit(main())
