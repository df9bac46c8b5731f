"""How soon does the SMS "please go to counter 2" leave after the call? Through a real Mosquitto and
the real controller with an ``[sms]`` modem: the GSM modem emulator on a pseudo-terminal
(hallq/testing/modem.py) answers at once, so what is measured is hallq's part: the call's batch (the
message queued in its transaction) and the modem's thread writing it to the SIM and sending it
(``AT+CMGW`` then ``AT+CMSS``). A real modem adds its own seconds on the network.

    .venv/bin/python bench/sms.py [--n 200]
"""
from __future__ import annotations

import argparse
import time

from harness import LIMITS_OFF, start_broker, start_controller, summary_ms, wait_until, write_result

from hallq.testing import write_hall_config  # noqa: E402
from hallq.testing.modem import ModemEmulator  # noqa: E402

R = "hallq/v1/h1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="calls measured")
    args = parser.parse_args()
    modem = ModemEmulator(capacity=50).start()
    broker = start_broker("sms", hall_overrides=LIMITS_OFF)
    base = broker.workdir
    hall = write_hall_config(base / "hall-sms.toml", broker.port, broker.broker_dir / "credentials.toml",
                             edits={'prefix = "A"\n': f'prefix = "A"\nremote_daily_cap = {args.n + 10}\n'},
                             hall_overrides={**LIMITS_OFF, "remote_per_device": "50", "remote_per_address": "10000"},
                             extra=f'[sms]\nport = "{modem.path}"\nnear = 0\npoll_s = 5.0\n')
    admin = broker.client("admin.ctl")
    ctl = start_controller(hall, base, admin)
    samples: list[float] = []
    try:
        desk = broker.client("counter.c2", subscribe=[f"{R}/dev/counter.c2/res"])
        for i in range(args.n):
            assert admin.request("join", service="pay", device=f"{i % 40:032x}", address=f"{i:032x}",
                                 code=f"{100000 + i}", phone=f"138{i:08d}")["ok"]
            assert admin.request("arrived", code=f"{100000 + i}")["ok"]
        wait_until(lambda: len(modem.sent_texts()) >= 1, 30, "the first 'near' message")
        for i in range(args.n):
            wait_until(lambda: len(modem.sent) >= i + 1, 30, "the queue sent")     # the modem idle before the call
            t0 = time.monotonic()
            number = desk.request("call_next")["ticket"]["number"]
            wait_until(lambda: any(f"请{number}号" in t for _, t, _ in modem.sent[-3:]), 10, f"{number}'s SMS",
                       poll_s=0.0005)
            at = next(when for _, t, when in reversed(modem.sent) if f"请{number}号" in t)
            samples.append(at - t0)
    finally:
        ctl.stop()
        broker.cleanup()
        modem.stop()
    lat = summary_ms(samples)
    write_result("sms", [("call → the modem's AT+CMSS for \"请A012号到2号窗口办理\", median / p99",
                          f"{lat['median_ms']} / {lat['p99_ms']} ms (n={lat['n']})", "p99 < 1 s")],
                 {"call_to_cmss": lat})


if __name__ == "__main__":
    main()
