"""Scale in simulation: 10 halls on one Mosquitto, 10 controller processes, 50 kiosks, 200 counters
and 20 displays as lightweight MQTT clients (one load process per hall), for a bounded time.

Reports request→reply latency (median, p99) over every `issue` and `call_next`, each as a ratio
to the broker's own round trip measured in the same run, the message rate the broker carried, and
the controllers' and the broker's peak RSS.

One broker for many halls needs what one hall never does: every MQTT client id unique across
halls. Device ids here carry the hall (``kiosk.h3-k1``); the controller's client id is fixed to
``controller`` by the protocol, so each controller process here is the real ``Controller`` with
its link opened as ``controller-<hall>`` (same username ``controller``, whose ACL covers
``hallq/v1/#``). In production each hall has its own broker and is bridged to a central one
(broker_config/README.md); this run shows the load one broker and one machine can carry.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from harness import LIMITS_OFF, REPO, Broker, TestClient, broker_floor, peak_rss_mb, percentile, workdir, write_result

HALLS, KIOSKS, COUNTERS, DISPLAYS = 10, 5, 20, 2
PASSWORD = "scale-" + uuid.uuid4().hex[:12]


def hall_toml(n: int, port: int) -> str:
    hall = f"h{n}"
    # the load's kiosks press at random, every 2 s on average, often faster than a printer prints: the
    # kiosk rate and day share (hallq/controller/fairness.py) are off, as in the other benches
    lines = [f'[hall]\nid = "{hall}"\nname = "营业厅 {n}"\ntimezone = "Asia/Shanghai"\n'
             + "".join(f"{key} = {value}\n" for key, value in LIMITS_OFF.items()),
             f'[broker]\nhost = "127.0.0.1"\nport = {port}\nbind_client_ids = false\n'  # one broker, a controller per hall
             '[[service]]\nid = "pay"\nname = "缴费"\nprefix = "A"\n',
             '[[service]]\nid = "biz"\nname = "业务"\nprefix = "B"\n']
    for i in range(1, COUNTERS + 1):
        services = '["pay", "biz"]' if i % 2 else '["biz", "pay"]'
        lines.append(f'[[counter]]\nid = "{hall}-c{i}"\nname = "{i}号窗口"\nservices = {services}\n')
    for i in range(1, KIOSKS + 1):
        lines.append(f'[[kiosk]]\nid = "{hall}-k{i}"\nservices = ["pay", "biz"]\n')
    for i in range(1, DISPLAYS + 1):
        lines.append(f'[[display]]\nid = "{hall}-d{i}"\n')
    return "\n".join(lines)


# --- child: one controller ------------------------------------------------------------------
def run_controller(config_path: str, data: str) -> int:
    sys.path.insert(0, str(REPO))
    from hallq.runtime.config import load_config
    from hallq.controller.main import open_controller
    from hallq.runtime.loop import StopFlag, install_signal_handlers, setup_logging

    setup_logging(False)
    config = load_config(config_path)
    config.broker.username, config.broker.password = "controller", os.environ["HALLQ_SCALE_PASSWORD"]
    # one broker, many halls: each controller its own client id (the contract fixes "controller")
    controller = open_controller(config, data, client_id=f"controller-{config.hall.id}")
    stop = StopFlag()
    install_signal_handlers(stop)
    controller.run(stop)
    return 0


# --- child: one hall's devices ---------------------------------------------------------------
def run_hall(config_path: str, port: int, seconds: float, out: str) -> int:
    sys.path.insert(0, str(REPO))
    from hallq.runtime.config import load_config
    config = load_config(config_path)
    root = f"hallq/v1/{config.hall.id}"
    password = os.environ["HALLQ_SCALE_PASSWORD"]
    rng = random.Random(config.hall.id)
    latencies: dict[str, list[float]] = {"issue": [], "call_next": []}
    errors: dict[str, int] = {}
    lock = threading.Lock()
    displays = [TestClient(port, f"display.{d.id}", password, subscribe=[f"{root}/state", f"{root}/event"],
                           hall_id=config.hall.id) for d in config.display]
    devices = [(f"kiosk.{k.id}", "issue", {"service": "pay"}, 2.0) for k in config.kiosk]
    devices += [(f"counter.{c.id}", "call_next", {}, 8.0) for c in config.counter]
    # connect everyone first, say so, and start together when the parent says go: the connection
    # storm of 270 clients is not part of the measured run
    clients = {d: TestClient(port, d, password, subscribe=[f"{root}/dev/{d}/res"], hall_id=config.hall.id)
               for d, _, _, _ in devices}
    Path(out + ".ready").touch()
    go = Path(out).parent / "go"
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop_at = time.monotonic() + seconds

    def device_loop(device: str, op: str, args: dict, every_s: float) -> None:
        client = clients[device]
        local = random.Random(device)
        time.sleep(local.uniform(0, every_s))
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            a = dict(args)
            if op == "issue":
                a["service"] = local.choice(["pay", "biz"])
            try:
                reply = client.request(op, timeout=10, **a)
            except TimeoutError:
                reply = {"ok": False, "error": {"code": "timeout"}}
            took = time.perf_counter() - t0
            with lock:
                if reply.get("ok") or reply.get("error", {}).get("code") == "no_ticket":
                    latencies[op].append(took)
                else:
                    code = reply.get("error", {}).get("code", "?")
                    errors[code] = errors.get(code, 0) + 1
            time.sleep(min(max(0.0, stop_at - time.monotonic()), local.expovariate(1 / every_s)))

    threads = [threading.Thread(target=device_loop, args=d, daemon=True) for d in devices]
    rng.shuffle(threads)
    started = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(seconds + 30)
    window = time.monotonic() - started
    for client in clients.values():
        client.close()
    received = sum(len(d.messages) for d in displays)
    for d in displays:
        d.close()
    Path(out).write_text(json.dumps({"latencies": latencies, "errors": errors, "display_messages": received,
                                     "window_s": window}))
    return 0


# --- parent ------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--run-controller", nargs=2, metavar=("CONFIG", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--run-hall", nargs=3, metavar=("CONFIG", "PORT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_controller:
        return run_controller(*args.run_controller)
    if args.run_hall:
        return run_hall(args.run_hall[0], int(args.run_hall[1]), args.seconds, args.run_hall[2])

    sys.path.insert(0, str(REPO))
    from hallq.broker_config import acl_text, hash_password
    from hallq.runtime.config import load_config

    base = workdir("scale")
    broker = Broker(base)
    configs = []
    for n in range(1, HALLS + 1):
        path = base / f"hall-h{n}.toml"
        path.write_text(hall_toml(n, broker.port), "utf-8")
        configs.append(path)
    broker.configure(configs[0])
    # one password file and ACL for all halls (device ids are unique across halls here)
    users = ["controller"]
    acl = ["user controller", "topic readwrite hallq/v1/#", ""]
    for path in configs:
        config = load_config(path)
        users += config.device_ids()
        text = acl_text(config)
        acl.append(text.split("\n\n", 2)[2] if text.count("\n\n") >= 2 else text)
    (broker.broker_dir / "passwords").write_text("".join(f"{u}:{hash_password(PASSWORD)}\n" for u in users))
    (broker.broker_dir / "acl").write_text("\n".join(acl))
    broker.credentials = {u: PASSWORD for u in users}
    broker.start()
    env = {**os.environ, "HALLQ_SCALE_PASSWORD": PASSWORD, "PYTHONPATH": f"{REPO}:{REPO / 'bench'}"}
    script = str(Path(__file__).resolve())
    controllers: list[subprocess.Popen] = []
    halls: list[subprocess.Popen] = []
    try:
        watcher = TestClient(broker.port, "scale-watch", PASSWORD, username="controller",
                             subscribe=["hallq/v1/+/presence/controller"])
        for n, path in enumerate(configs, 1):
            log = open(base / f"controller-h{n}.log", "wb")
            controllers.append(subprocess.Popen([sys.executable, script, "--run-controller", str(path),
                                                 str(base / f"data-h{n}")], env=env, stdout=log, stderr=log))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with watcher.cond:
                online = {t for t, p, _ in watcher.messages if p and json.loads(p).get("online")}
            if len(online) == HALLS:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"only {len(online)} controllers came online")
        watcher.close()
        floor_before = broker_floor(broker, n=300)
        for n, path in enumerate(configs, 1):
            halls.append(subprocess.Popen([sys.executable, script, "--seconds", str(args.seconds), "--run-hall",
                                           str(path), str(broker.port), str(base / f"load-h{n}.json")], env=env))
        deadline = time.monotonic() + 120
        while sum((base / f"load-h{n}.json.ready").exists() for n in range(1, HALLS + 1)) < HALLS:
            if time.monotonic() > deadline:
                raise RuntimeError("the load processes did not connect within 120 s")
            time.sleep(0.05)
        t0 = time.perf_counter()
        (base / "go").touch()
        for proc in halls:
            proc.wait(timeout=args.seconds + 120)
        elapsed = time.perf_counter() - t0
        floor_after = broker_floor(broker, n=300)
        controller_rss = [peak_rss_mb(p.pid) for p in controllers]
        broker_rss = peak_rss_mb(broker.proc.pid)
    finally:
        for proc in halls + controllers:
            if proc.poll() is None:
                proc.terminate()
        for proc in controllers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.cleanup()
    results = [json.loads((base / f"load-h{n}.json").read_text()) for n in range(1, HALLS + 1)]
    elapsed = max(r["window_s"] for r in results)
    samples = {op: [s for r in results for s in r["latencies"][op]] for op in ("issue", "call_next")}
    every = samples["issue"] + samples["call_next"]
    errors: dict[str, int] = {}
    for r in results:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    floor = floor_before + floor_after
    f_med = statistics.median(floor) * 1000
    ms = lambda xs, p: percentile([x * 1000 for x in xs], p)  # noqa: E731
    rows = [
        ("machine", f"{os.cpu_count()} CPUs; broker, 10 controllers and 10 load processes share them", "—"),
        ("halls / kiosks / counters / displays on one broker", f"{HALLS} / {HALLS * KIOSKS} / {HALLS * COUNTERS} / "
         f"{HALLS * DISPLAYS}", "—"),
        ("broker round trip (floor, before and after), median / p99", f"{f_med:.2f} / {ms(floor, 99):.2f} ms", "—"),
        ("requests answered (issue + call_next) in the run", f"{len(every)} in {elapsed:.0f} s "
         f"({len(every) / elapsed:.0f} /s)", "—"),
        ("request→reply, median / p99 (all halls)", f"{ms(every, 50):.1f} / {ms(every, 99):.1f} ms "
         f"({ms(every, 50) / f_med:.1f}× / {ms(every, 99) / f_med:.1f}× floor median)", "—"),
        ("`issue` median / p99", f"{ms(samples['issue'], 50):.1f} / {ms(samples['issue'], 99):.1f} ms", "—"),
        ("`call_next` median / p99", f"{ms(samples['call_next'], 50):.1f} / {ms(samples['call_next'], 99):.1f} ms", "—"),
        ("errors (not ok, not no_ticket) / timeouts", f"{sum(v for k, v in errors.items() if k != 'timeout')} / "
         f"{errors.get('timeout', 0)}", "0 / 0"),
        ("messages the displays received", str(sum(r["display_messages"] for r in results)), "—"),
        ("controller peak RSS, median / max", f"{statistics.median(controller_rss)} / {max(controller_rss)} MB", "—"),
        ("Mosquitto peak RSS", f"{broker_rss} MB", "—"),
    ]
    write_result("scale", rows, {"halls": HALLS, "requests": len(every), "seconds": round(elapsed, 1),
                                 "p50_ms": round(ms(every, 50), 2), "p99_ms": round(ms(every, 99), 2),
                                 "floor_median_ms": round(f_med, 3), "errors": errors,
                                 "controller_rss_mb": controller_rss, "broker_rss_mb": broker_rss})
    return 0


if __name__ == "__main__":
    sys.exit(main())
