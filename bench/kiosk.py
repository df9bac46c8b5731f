"""Kiosk speed and memory through a real Mosquitto and the real controller.

Prints: press -> print bytes latency (median, p99) of an online ticket, measured in-process on the
stub printer (a press published on R/sim, the issue round trip, layout and ESC/POS rendering);
the same for a ticket issued from the lease while the controller is away; press -> ticket files
(``.bin`` and ``.png``) of a ``hallq kiosk --stub --printer-out`` process; that process's peak RSS.
"""
from __future__ import annotations

import argparse
import threading
import time

from harness import Process, peak_rss_mb, start_broker, start_controller, summary_ms, wait_until, write_result

from hallq.runtime.config import load_config
from hallq.runtime.loop import StopFlag
from hallq.device.shell import DeviceShell
from hallq.hardware.pins import make_pin_factory
from hallq.kiosk.app import KioskRole
from hallq.printer.transport import StubPrinter

R = "hallq/v1/h1"
SIM = f"{R}/sim/kiosk.k1"
BOUNCE_S = 0.31          # the same button again only after the default debounce (0.3 s)


def wait(predicate, timeout: float = 10.0, step: float = 0.0005) -> None:
    # fine polling: the wait itself is part of the latency measured
    wait_until(predicate, timeout, "ticket", poll_s=step)


def presses(admin, n: int, printed_count, services=("pay", "biz")) -> list[float]:
    """Press alternate buttons n times; each time wait for the print; latency per press."""
    samples, last_press = [], {s: 0.0 for s in services}
    for i in range(n):
        service = services[i % len(services)]
        gap = BOUNCE_S - (time.perf_counter() - last_press[service])
        if gap > 0:
            time.sleep(gap)
        before = printed_count()
        t0 = time.perf_counter()
        last_press[service] = t0
        admin.publish(SIM, {"press": service})
        wait(lambda: printed_count() > before)
        samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="presses per measurement")
    parser.add_argument("--offline-n", type=int, default=30, help="presses while the controller is away")
    args = parser.parse_args()

    # presses as fast as the debounce allows, faster than a kiosk may ask for long: no rate limit here
    broker = start_broker("kiosk", hall_overrides={"kiosk_rate_per_s": "0", "kiosk_day_share": "1.0"})
    base = broker.workdir
    admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/#", f"{R}/event"])
    ctl = start_controller(broker.config_path, base, admin, base / "ctl-data")
    try:
        # 1. in-process kiosk: press -> bytes on the stub printer
        config = load_config(broker.config_path)
        printer = StubPrinter(None, keep=10)
        count = [0]
        original = printer.print_job

        def counting(job, label, layout=None):
            original(job, label, layout)
            count[0] += 1
        printer.print_job = counting  # type: ignore[method-assign]
        kiosk = KioskRole(config, "k1", printer, make_pin_factory(True), str(base / "k1-data"))
        shell = DeviceShell(config, "kiosk.k1", kiosk, stub=True, data_dir=str(base / "k1-data"))
        stop = StopFlag()
        thread = threading.Thread(target=shell.run, args=(stop,), daemon=True)
        thread.start()
        wait(lambda: all(kiosk.journal.remaining(s, kiosk.today()) >= kiosk.kiosk.lease_size for s in kiosk.kiosk.services),
             timeout=15, step=0.01)
        online = presses(admin, args.n, lambda: count[0])
        # 2. the controller stops (presence offline): tickets come from the lease
        mark = admin.mark()
        ctl.stop()
        admin.wait_for(lambda t, d: t.endswith("/presence/controller") and d.get("online") is False, start=mark)
        wait(lambda: not shell.reachable, step=0.01)
        offline = presses(admin, args.offline_n, lambda: count[0])
        stop.set()
        thread.join(5)
        ctl = start_controller(broker.config_path, base, admin, base / "ctl-data")

        # 3. the real command with --printer-out: press -> files, and its memory
        out = base / "printed"
        proc = Process(["kiosk", "--config", str(broker.config_path), "--id", "k2", "--stub",
                        "--printer-out", str(out), "--data", str(base / "k2-data")], base, "kiosk-k2").start()
        admin.wait_for(lambda t, d: t.endswith("/presence/kiosk.k2") and d.get("online") is True, timeout=15)
        global SIM
        SIM = f"{R}/sim/kiosk.k2"
        files = presses(admin, args.n, lambda: len(list(out.glob("*.bin"))) if out.exists() else 0)
        rss = peak_rss_mb(proc.proc.pid)
        proc.stop()
        # 4. the same without --printer-out (what a kiosk with a real printer carries: no PNG)
        proc = Process(["kiosk", "--config", str(broker.config_path), "--id", "k2", "--stub",
                        "--data", str(base / "k2-data")], base, "kiosk-k2b").start()
        mark = admin.mark()
        admin.wait_for(lambda t, d: t.endswith("/presence/kiosk.k2") and d.get("online") is True, timeout=15,
                       start=mark)

        def issued_by_k2() -> int:
            return sum(1 for ev in admin.events(mark) if ev.get("type") == "ticket_issued")
        presses(admin, min(args.n, 100), issued_by_k2)
        rss_plain = peak_rss_mb(proc.proc.pid)
        proc.stop()
    finally:
        ctl.stop()
        broker.cleanup()
    o, f, x = summary_ms(online), summary_ms(offline), summary_ms(files)
    rows = [
        ("press → print bytes, online (issue round trip), median / p99", f"{o['median_ms']} / {o['p99_ms']} ms", "p99 < 100 ms"),
        ("press → print bytes, controller away (from the lease), median / p99",
         f"{f['median_ms']} / {f['p99_ms']} ms", "p99 < 100 ms"),
        ("press → `.bin` + `.png` files (`--printer-out`), median / p99", f"{x['median_ms']} / {x['p99_ms']} ms", "—"),
        ("kiosk process peak RSS, `--stub --printer-out` (renders PNGs)", f"{rss} MB", "< 50 MB"),
        ("kiosk process peak RSS, printing bytes only (as with a real printer)", f"{rss_plain} MB", "< 50 MB"),
    ]
    write_result("kiosk", rows, {"online": o, "offline": f, "files": x, "kiosk_rss_mb": rss, "kiosk_rss_plain_mb": rss_plain})


if __name__ == "__main__":
    main()
