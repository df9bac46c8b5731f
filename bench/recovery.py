"""Recovery times on loopback Mosquitto, with the broker's own round trip as the floor.

- Broker restart: Mosquitto is SIGKILLed while the controller and a headless display run, then
  started again (with its persistence). Measured from the moment it listens again until the
  display's own snapshot (``<snapshot>.json``, the view model it drew) shows the controller's
  state with no "reconnecting" banner. Aim: within 3 s.
- Controller SIGKILL: a kiosk client keeps resending one `issue` request (same id, every 20 ms,
  as a device would, only faster) while the controller is killed and started again at once.
  Measured from the new process's start until the reply (serving again), and from the kill.
  Aim: restart to serving within 1 s.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import uuid
from pathlib import Path

from harness import (REPO, Broker, Process, TestClient, broker_floor, percentile, start_controller, summary_ms,
                     start_broker, write_result)

sys.path.insert(0, str(REPO / "bench"))
from chaos import display_mismatch  # noqa: E402

R = "hallq/v1/h1"


def display_correct(snapshot: Path, watcher: TestClient) -> str:
    """'' when the display shows the latest retained state and no reconnecting banner."""
    try:
        shown = json.loads(snapshot.read_text("utf-8"))
    except (OSError, ValueError):
        return "no snapshot"
    with watcher.cond:
        states = [json.loads(p) for t, p, _ in watcher.messages if t == f"{R}/state" and p]
    if not states:
        return "no state"
    if any(b.get("kind") == "reconnecting" for b in shown.get("banners", [])):
        return "reconnecting banner"
    return display_mismatch(states[-1], shown)


def broker_restart(broker: Broker, base: Path, rounds: int) -> list[float]:
    samples = []
    for i in range(rounds):
        kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
        assert kiosk.request("issue", service="pay")["ok"]
        kiosk.close()
        snapshot = base / "display.json"
        watcher = broker.client("admin.ctl", subscribe=[f"{R}/state"])
        deadline = time.monotonic() + 15
        while display_correct(snapshot, watcher) and time.monotonic() < deadline:
            time.sleep(0.05)
        watcher.close()
        broker.kill()
        time.sleep(0.5)
        broker.start()                      # returns when it listens again
        back = time.perf_counter()
        watcher = broker.client("admin.ctl", subscribe=[f"{R}/state"])
        deadline = time.monotonic() + 30
        why = "?"
        while time.monotonic() < deadline:
            why = display_correct(snapshot, watcher)
            if not why:
                break
            time.sleep(0.01)
        else:
            raise TimeoutError(f"round {i}: display not correct 30 s after the broker returned: {why}")
        samples.append(time.perf_counter() - back)
        watcher.close()
    return samples


def controller_restart(broker: Broker, base: Path, admin: TestClient, rounds: int) -> tuple[list[float], list[float]]:
    kiosk = broker.client("kiosk.k2", subscribe=[f"{R}/dev/kiosk.k2/res"])
    from_start, from_kill = [], []
    # the same hall's database as the first part: a controller on another one would (rightly) be
    # refused, its database being behind the hall's retained state (hallq/controller/continuity.py)
    ctl = start_controller(broker.config_path, base, admin, data=base / "ctl-broker")
    try:
        for _ in range(rounds):
            assert kiosk.request("issue", service="biz")["ok"]
            rid = f"rec-{uuid.uuid4().hex[:10]}"
            body = json.dumps({"op": "issue", "request_id": rid, "service": "biz"}).encode()
            mark = kiosk.mark()
            killed = time.perf_counter()
            ctl.proc.send_signal(signal.SIGKILL)
            ctl.proc.wait()
            ctl = Process(["controller", "--config", str(broker.config_path), "--data", str(base / "ctl-broker")],
                          base, "controller").start()
            started = time.perf_counter()
            deadline = time.monotonic() + 30
            while True:
                kiosk.c.publish(f"{R}/dev/kiosk.k2/req", body, qos=1)
                try:
                    kiosk.wait_for(lambda t, d: isinstance(d, dict) and d.get("request_id") == rid, timeout=0.02,
                                   start=mark)
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("controller not serving 30 s after restart:\n" + ctl.output()[-2000:])
            done = time.perf_counter()
            from_start.append(done - started)
            from_kill.append(done - killed)
    finally:
        ctl.stop()
        kiosk.close()
    return from_start, from_kill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    broker = start_broker("recovery")
    base = broker.workdir
    admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/controller"])
    try:
        floor = broker_floor(broker)
        admin.close()
        # broker restarts, with a controller and a display running
        admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/controller"])
        ctl = start_controller(broker.config_path, base, admin, data=base / "ctl-broker")
        admin.close()
        display = Process(["display", "--config", str(broker.config_path), "--id", "d1", "--headless", "--no-sound",
                           "--snapshot", str(base / "display.png"), "--data", str(base / "display-data")],
                          base, "display").start()
        try:
            broker_s = broker_restart(broker, base, args.rounds)
        finally:
            display.stop()
            ctl.stop()
        admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/controller"])
        start_s, kill_s = controller_restart(broker, base, admin, args.rounds)
    finally:
        admin.close()
        broker.cleanup()
    f, b, s, k = summary_ms(floor), summary_ms(broker_s), summary_ms(start_s), summary_ms(kill_s)
    ratio = lambda x: f"{x / f['median_ms']:.0f}×"  # noqa: E731
    rows = [
        ("broker round trip (floor), median / p99", f"{f['median_ms']} / {f['p99_ms']} ms", "—"),
        (f"broker back → display correct, median / max (n={b['n']})",
         f"{b['median_ms']:.0f} / {max(broker_s) * 1000:.0f} ms ({ratio(b['median_ms'])} floor)", "≤ 3000 ms"),
        (f"controller process start → serving, median / max (n={s['n']})",
         f"{s['median_ms']:.0f} / {max(start_s) * 1000:.0f} ms ({ratio(s['median_ms'])} floor)", "≤ 1000 ms"),
        ("controller SIGKILL → serving (restarted at once), median / max",
         f"{k['median_ms']:.0f} / {max(kill_s) * 1000:.0f} ms", "—"),
    ]
    write_result("recovery", rows, {"floor": f, "broker_restart_to_display": b, "controller_start_to_serving": s,
                                    "controller_kill_to_serving": k,
                                    "p99_start_to_serving_ms": round(percentile([x * 1000 for x in start_s], 99), 1)})


if __name__ == "__main__":
    main()
