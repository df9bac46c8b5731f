"""End to end: a clerk's key press to the call on the hall screen, through real processes.

A stub counter (`hallq counter --stub`) gets `{"press": "next"}` on `R/sim`; the controller
calls the waiting ticket; a headless display (`hallq display --headless --snapshot`) draws it.
Measured from the sim publish to: the `ticket_called` event at an MQTT client (press → event),
and the display's snapshot showing the number at that counter (press → frame on disk). The
snapshot is written after the frame is encoded as PNG, so the second figure is an upper bound on
press → frame. The broker's own round trip, measured in the same run, is the floor.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness import (LIMITS_OFF, Process, TestClient, broker_floor, start_controller, summary_ms, start_broker,
                     write_result)

R = "hallq/v1/h1"


def shows(snapshot: Path, counter: str, number: str) -> bool:
    try:
        view = json.loads(snapshot.with_suffix(".json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return any(c.get("id") == counter and c.get("number") == number for c in view.get("counters", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    broker = start_broker("e2e", hall_overrides=LIMITS_OFF)
    base = broker.workdir
    cfg = ["--config", str(broker.config_path)]
    admin = broker.client("admin.ctl", subscribe=[f"{R}/#"])
    procs: list[Process] = []
    to_event, to_frame = [], []
    try:
        floor = broker_floor(broker)
        procs.append(start_controller(broker.config_path, base, admin))
        snapshot = base / "display.png"
        procs.append(Process(["counter", *cfg, "--id", "c2", "--stub", "--data", str(base / "c2")], base,
                             "counter").start())
        procs.append(Process(["display", *cfg, "--id", "d1", "--headless", "--no-sound", "--snapshot",
                              str(snapshot), "--data", str(base / "d1")], base, "display").start())
        for device in ("counter.c2", "display.d1"):
            admin.wait_for(lambda t, d, device=device: t == f"{R}/presence/{device}" and isinstance(d, dict)
                           and d.get("online"), timeout=30)
        kiosk = TestClient(broker.port, "kiosk.k1", broker.credentials["kiosk.k1"], subscribe=[f"{R}/dev/kiosk.k1/res"])
        for _ in range(args.n):
            number = kiosk.request("issue", service="pay")["ticket"]["number"]
            time.sleep(0.3)          # the display has drawn the new waiting count; a quiet hall
            mark = admin.mark()
            t0 = time.perf_counter()
            admin.publish(f"{R}/sim/counter.c2", {"press": "next"})
            admin.wait_for(lambda t, d: t == f"{R}/event" and isinstance(d, dict) and d.get("type") == "ticket_called"
                           and d.get("ticket", {}).get("number") == number, start=mark)
            to_event.append(time.perf_counter() - t0)
            deadline = time.monotonic() + 10
            while not shows(snapshot, "c2", number):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"display never showed {number}")
                time.sleep(0.002)
            to_frame.append(time.perf_counter() - t0)
        kiosk.close()
    finally:
        for proc in reversed(procs):
            proc.stop()
        admin.close()
        broker.cleanup()
    f, ev, fr = summary_ms(floor), summary_ms(to_event), summary_ms(to_frame)
    rows = [
        ("broker round trip (floor), median / p99", f"{f['median_ms']} / {f['p99_ms']} ms", "—"),
        (f"counter key (sim) → `ticket_called` at a client, median / p99 (n={ev['n']})",
         f"{ev['median_ms']} / {ev['p99_ms']} ms", "—"),
        ("counter key (sim) → display snapshot shows the call (incl. PNG encoding), median / p99",
         f"{fr['median_ms']} / {fr['p99_ms']} ms", "—"),
    ]
    write_result("e2e", rows, {"floor": f, "press_to_event": ev, "press_to_snapshot": fr})


if __name__ == "__main__":
    main()
