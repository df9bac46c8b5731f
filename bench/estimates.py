"""How honest are the waits printed on tickets? The shipped demo day, measured.

Runs ``hallq demo`` headless (the shipped scenario: ~310 customers on 4 counters, a morning peak
that outruns the counters, lunch breaks, booked appointments, an outage, a controller crash and a
broker restart; every process on the simulated clock) and compares, for every ticket issued online
after the first hour, the wait it was told at issue with the wait that followed (issue → first call):

- **forecast**: what hallq printed (the call rules played forward, ``hallq/core/forecast.py``);
- **old rule**: people ahead × measured service time ÷ open counters, recomputed offline from the
  same recorded states, so both are judged on the same day.

    .venv/bin/python bench/estimates.py [--speed 300]
"""
from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

from harness import REPO, workdir, write_result

from hallq.runtime.config import load_config  # noqa: E402
from hallq.core import events as e  # noqa: E402
from hallq.core.evolve import evolve  # noqa: E402
from hallq.core.rules import configured_counters, open_counters  # noqa: E402
from hallq.runtime.setup import setup_from_config  # noqa: E402


def judged(out: Path) -> dict[str, dict[str, float]]:
    config = load_config(out / "hall.toml")
    setup = setup_from_config(config)
    db = sqlite3.connect(out / "data" / "controller" / "controller.db")
    state = setup.initial_state()
    told: dict[str, dict[str, int]] = {"forecast": {}, "old rule": {}}
    issued, called = {}, {}
    for (body,) in db.execute("SELECT body FROM events ORDER BY seq"):
        event = e.decode_event(body)
        if isinstance(event, e.TicketIssued) and not event.ticket.offline:
            t = event.ticket
            counters = open_counters(setup, state, t.service) or configured_counters(setup, t.service)
            told["old rule"][t.id] = math.ceil(t.waiting_ahead * state.services[t.service].avg_service_s / counters)
            if t.est_known:           # "not known yet" promised no minutes: nothing to be off by
                told["forecast"][t.id] = t.est_wait_s
            issued[t.id] = t.issued_at
        elif isinstance(event, e.TicketCalled) and event.ticket.id not in called:
            called[event.ticket.id] = event.at
        state = evolve(state, event)
    db.close()
    first = min(issued.values())
    results = {}
    for name, estimates in told.items():
        pairs = [((called[k] - issued[k]).total_seconds(), est) for k, est in estimates.items()
                 if k in called and (issued[k] - first).total_seconds() >= 3600]
        errors = sorted(abs(a - x) for a, x in pairs)
        actual = statistics.median(a for a, _ in pairs)
        long = [abs(a - x) / a for a, x in pairs if a >= 300]
        results[name] = {"tickets": len(pairs), "median_abs_s": statistics.median(errors),
                         "p90_abs_s": errors[min(len(errors) - 1, math.ceil(0.9 * len(errors)) - 1)],
                         "median_actual_s": actual, "share": statistics.median(errors) / actual,
                         "long": len(long), "long_relative": statistics.median(long) if long else float("nan")}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=300.0)
    opts = parser.parse_args()
    out = workdir("estimates") / "demo"
    proc = subprocess.run([sys.executable, "-m", "hallq", "demo", "--headless", "--speed", str(opts.speed),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=1500)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 1
    summary = [line for line in proc.stdout.splitlines() if line.startswith(("wait (simulated)", "tickets issued"))]
    results = judged(out)
    rows = [("day", f"the shipped demo scenario at x{opts.speed:g}; {'; '.join(s.split(None, 2)[-1] for s in summary)}", "")]
    for name, r in results.items():
        rows.append((f"{name}: \\|estimated − actual\\| wait, median / p90 ({r['tickets']} tickets after the first hour)",
                     f"{r['median_abs_s']:.0f} / {r['p90_abs_s']:.0f} s", ""))
        rows.append((f"{name}: median \\|error\\| as a share of the median actual wait ({r['median_actual_s']:.0f} s)",
                     f"{r['share'] * 100:.0f}%", "< 25%"))
        rows.append((f"{name}: waits of 5 min or more ({r['long']}): median \\|error\\| / wait",
                     f"{r['long_relative'] * 100:.0f}%", "< 25%"))
    write_result("estimates", rows, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
