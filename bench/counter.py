"""Counter terminal speed and memory, through a real Mosquitto and the real controller.

Prints: key press -> sign bytes latency (median, p99): from the GPIO edge on gpiozero's
MockFactory to the sign confirming the new number over ``loop://`` (the line protocol's echo),
through the counter's owner loop, Mosquitto, the controller's durable call and back. And the peak
RSS of a ``hallq counter --stub`` process after it has served a run of calls driven over R/sim.
A real sign adds the serial time of the frame and its echo (about 1 ms per byte each way at
9600 baud: ~20 ms for "请A012号").
"""
from __future__ import annotations

import argparse
import threading
import time

from harness import LIMITS_OFF, Process, peak_rss_mb, start_controller, summary_ms, wait_until, start_broker, write_result

from gpiozero.pins.mock import MockFactory, MockPWMPin  # noqa: E402

from hallq.counter.app import CounterRole  # noqa: E402
from hallq.device.shell import DeviceShell  # noqa: E402
from hallq.runtime.config import load_config  # noqa: E402
from hallq.runtime.loop import StopFlag  # noqa: E402

R = "hallq/v1/h1"


def wait(predicate, timeout: float = 10.0, what: str = "condition"):
    # fine polling: the wait itself is part of the latency measured
    return wait_until(predicate, timeout, what, poll_s=0.0005)


def press_to_sign(config_path, data, kiosk, n: int) -> list[float]:
    numbers = [kiosk.request("issue", service="pay")["ticket"]["number"] for _ in range(n)]
    config = load_config(config_path)
    counter = config.counter_by_id("c1")
    counter.keys.bounce_s = 0.0       # a bench presses faster than any finger
    counter.keys.repeat_s = 0.0
    factory = MockFactory(pin_class=MockPWMPin)
    app = CounterRole(config, counter, factory, sign_url="loop://")
    shell = DeviceShell(config, f"counter.{counter.id}", app, stub=True, data_dir=str(data))
    stop = StopFlag()
    thread = threading.Thread(target=shell.run, args=(stop,), daemon=True)
    thread.start()
    samples: list[float] = []
    try:
        wait(lambda: app.sign_health and app.sign_health.shown == counter.sign.idle_text, what="counter online")
        pin = factory.pin(counter.keys.next)
        for number in numbers:
            text = counter.sign.serving_text.format(number=number, counter=counter.name, service="pay")
            t0 = time.monotonic()
            pin.drive_low()
            pin.drive_high()
            wait(lambda: app.sign_health and app.sign_health.ok and app.sign_health.shown == text, what=text)
            samples.append(app.sign_link.last_draw_at - t0)
    finally:
        stop.set()
        thread.join(10)
        factory.reset()
    return samples


def stub_process_rss(config_path, base, admin, kiosk, n: int) -> float:
    for _ in range(n):
        kiosk.request("issue", service="pay")
    mark = admin.mark()
    proc = Process(["counter", "--config", str(config_path), "--id", "c2", "--stub", "--data",
                    str(base / "c2-data")], base, "counter-c2").start()
    try:
        admin.wait_for(lambda t, d: t == f"{R}/dev/counter.c2/status" and d.get("sign") == "ok", start=mark)
        for _ in range(n):
            mark = admin.mark()
            admin.publish(f"{R}/sim/counter.c2", {"press": "next"})
            admin.wait_for(lambda t, d: t == f"{R}/event" and d.get("type") == "ticket_called"
                           and d.get("counter") == "c2", start=mark)
        return peak_rss_mb(proc.proc.pid)
    finally:
        proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="presses measured")
    parser.add_argument("--rss-calls", type=int, default=100, help="calls the stub process serves")
    args = parser.parse_args()

    broker = start_broker("counter", hall_overrides=LIMITS_OFF)
    base = broker.workdir
    admin = broker.client("admin.ctl")
    ctl = start_controller(broker.config_path, base, admin)
    try:
        kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
        latency = press_to_sign(broker.config_path, base / "c1-data", kiosk, args.n)
        rss = stub_process_rss(broker.config_path, base, admin, kiosk, args.rss_calls)
    finally:
        ctl.stop()
        broker.cleanup()
    lat = summary_ms(latency)
    rows = [
        ("key press → sign bytes confirmed (loop://), median / p99",
         f"{lat['median_ms']} / {lat['p99_ms']} ms (n={lat['n']})", "p99 < 100 ms"),
        (f"`hallq counter --stub` peak RSS after {args.rss_calls} calls", f"{rss} MB", "< 50 MB"),
    ]
    write_result("counter", rows, {"press_to_sign": lat, "counter_rss_mb": rss})


if __name__ == "__main__":
    main()
