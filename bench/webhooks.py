"""How fast do webhooks carry the hall's events to another system? Through Mosquitto, the real
controller and `hallq web`: a backlog of events (tickets issued and called), then an integration
added with a webhook to a local receiver that answers 204 at once; measured: the time until every
event has been delivered (signed, one by one, in seq order, each after the previous one's 2xx), and
so events per second; then live: a call's event from the controller's reply to the receiver.

    .venv/bin/python bench/webhooks.py [--events 1000]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import LIMITS_OFF, Process, start_broker, start_controller, summary_ms, write_result

from hallq.testing import free_port, wait_until  # noqa: E402

R = "hallq/v1/h1"


def receiver() -> tuple[ThreadingHTTPServer, list[tuple[int, float]]]:
    got: list[tuple[int, float]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            got.append((int(self.headers["X-Hallq-Seq"]), time.monotonic()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="tickets issued for the backlog")
    parser.add_argument("--live", type=int, default=100, help="calls measured live")
    args = parser.parse_args()
    broker = start_broker("webhooks", hall_overrides=LIMITS_OFF)
    base = broker.workdir
    port = free_port()
    hall = broker.config_path
    with open(hall, "a", encoding="utf-8") as fh:
        fh.write(f'\n[web]\npublic_url = "http://127.0.0.1:{port}"\nlisten = "127.0.0.1:{port}"\n')
    broker.stop()
    broker.configure(hall)
    broker.start()
    admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/#", f"{R}/state"])
    ctl = start_controller(hall, base, admin)
    web = Process(["web", "--config", str(hall), "--data", str(base / "web"), "--no-voice"], base, "web").start()
    server, got = receiver()
    kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    desk = broker.client("counter.c1", subscribe=[f"{R}/dev/counter.c1/res"])
    try:
        for _ in range(args.events):
            assert kiosk.request("issue", service="pay")["ok"]
        last = admin.state(lambda s: s["services"][0]["waiting"] >= args.events)["seq"]
        # the web's copy holds the backlog before the integration is added
        wait_until(lambda: b"ok" in subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/healthz"],
                                                   capture_output=True).stdout, 60, "hallq web")
        t0 = time.monotonic()
        made = subprocess.run([sys.executable, "-m", "hallq", "web", "token", "add", "bench", "--webhook",
                               f"http://127.0.0.1:{server.server_address[1]}/hook", "--config", str(hall),
                               "--data", str(base / "web")], capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        wait_until(lambda: got and got[-1][0] >= last, 600, "the backlog delivered", poll_s=0.01)
        drained = got[-1][1] - t0
        delivered = len(got)
        live = []
        for _ in range(args.live):
            sent = time.monotonic()
            reply = desk.request("call_next")
            seq_before = len(got)
            wait_until(lambda: len(got) > seq_before, 30, "the call's event", poll_s=0.0005)
            live.append(got[seq_before][1] - sent)
            assert reply["ok"]
    finally:
        web.stop()
        ctl.stop()
        broker.cleanup()
        server.shutdown()
    lat = summary_ms(live)
    write_result("webhooks", [
        (f"a backlog of {delivered} events delivered to a new webhook", f"{drained:.1f} s ({delivered / drained:.0f} events/s)",
         "≥ 100 events/s"),
        ("live: a call → its event at the receiver, median / p99", f"{lat['median_ms']} / {lat['p99_ms']} ms (n={lat['n']})",
         "p99 < 2 s"),
    ], {"backlog_events": delivered, "backlog_s": round(drained, 2), "live": lat})


if __name__ == "__main__":
    main()
