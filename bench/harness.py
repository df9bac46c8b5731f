"""Shared pieces of the bench scripts: a real Mosquitto (hallq.testing, the tests' kit too), timing, tables."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hallq.testing import Broker, Process, TestClient, start_controller, wait_until  # noqa: E402

# what the bench scripts take from here besides the functions below
__reexported__ = (Broker, Process, TestClient, start_controller, wait_until)

RESULTS = REPO / "bench" / "results"
# python-escpos leaves a temp folder per import unless told where to keep its capabilities cache
os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(REPO / ".venv" / "escpos-cache"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"median_ms": round(statistics.median(ms), 2), "p99_ms": round(percentile(ms, 99), 2),
            "n": len(ms)}


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def broker_floor(broker: Broker, n: int = 500) -> list[float]:
    """Publish -> receive round trip of one client through the broker (QoS 1): the floor."""
    client = TestClient(broker.port, "bench-floor", broker.credentials["controller"], username="controller",
                        subscribe=["hallq/v1/h1/bench/#"])
    samples = []
    for i in range(n):
        start = client.mark()
        t0 = time.perf_counter()
        client.c.publish("hallq/v1/h1/bench/ping", str(i).encode(), qos=1)
        client.wait_for(lambda t, d, i=i: t.endswith("/ping") and d == i, start=start)
        samples.append(time.perf_counter() - t0)
    client.close()
    return samples


def write_result(name: str, rows: list[tuple[str, str, str]], data: dict[str, Any]) -> str:
    """Print a markdown table (metric | value | aim) and keep the figures for bench/RESULTS.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [f"### {name}", "", "| metric | value | aim |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {a} |" for m, v, a in rows]
    table = "\n".join(lines) + "\n"
    (RESULTS / f"{name}.md").write_text(table, "utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False), "utf-8")
    print(table)
    return table


def workdir(prefix: str) -> Path:
    """A scratch folder for one bench run, removed when the script ends ($HALLQ_BENCH_KEEP=1 keeps it)."""
    folder = Path(tempfile.mkdtemp(prefix=f"hallq-bench-{prefix}-"))
    if not os.environ.get("HALLQ_BENCH_KEEP"):
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


# a bench plays kiosks far faster than people press (hallq/controller/fairness.py): no rate limit, no day share
LIMITS_OFF = {"kiosk_rate_per_s": "0", "kiosk_day_share": "1.0"}


def start_broker(name: str, hall_overrides: dict[str, str] | None = None) -> Broker:
    """A running Mosquitto with the project's generated config, in a fresh scratch folder
    (``broker.workdir``); the caller calls ``broker.cleanup()``."""
    broker = Broker(workdir(name))
    broker.configure(hall_overrides=hall_overrides)
    broker.start()
    return broker


def run_screen_against(shell: Any, stop_flag: Any, play: Any, publisher: Any) -> float:
    """Run a screen's shell until ``play`` (a thread playing the controller) sets ``stop_flag``;
    then close the publisher. The real seconds it ran."""
    import threading  # noqa: PLC0415
    player = threading.Thread(target=play, daemon=True)
    player.start()
    started = time.monotonic()
    shell.run(stop_flag)
    elapsed = time.monotonic() - started
    publisher.loop_stop()
    publisher.disconnect()
    return elapsed

