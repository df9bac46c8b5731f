"""Hall screen speed: frame time at 1920×1080 under bursts of calls, event-to-frame latency, peak RSS.

Runs the real display (``DisplayRole`` in its shell: owner loop, MQTT link, renderer, audio worker writing its
speech to WAV files) against a real Mosquitto on a free loopback port. A publisher plays the
controller: retained state, then every ``--every`` seconds a burst of three calls within 100 ms
(each an event followed by the new state), with a long scrolling notice on screen.

Frame time = view model + draw + flip of one frame. Event-to-frame = the event put on the
screen's inbox by the MQTT thread -> the end of the first frame drawn after it was applied.
Prints a markdown table.

    .venv/bin/python bench/display.py [--seconds 20] [--size 1920x1080]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


from hallq.display.app import DisplayRole  # noqa: E402
from hallq.device.shell import DeviceShell  # noqa: E402
from hallq.runtime.config import load_config  # noqa: E402
from harness import peak_rss_mb as process_peak_rss_mb, run_screen_against, start_broker  # noqa: E402

R = "hallq/v1/h1"


LONG_NOTICES: list[str] = []      # --long-notices: ten notices of 500 characters


def state(seq: int, calls: list[dict], serving: dict[str, str]) -> dict:
    return {
        "hall": "h1", "epoch": 1, "seq": seq, "mode": "open", "message": None,
        "services": [{"id": "pay", "name": "缴费", "name_en": "Payment", "prefix": "A", "suspended": False,
                      "waiting": 40 - seq % 30, "est_wait_s": 60 * (40 - seq % 30)},
                     {"id": "biz", "name": "业务办理", "name_en": "Applications", "prefix": "B", "suspended": seq % 7 == 0,
                      "waiting": seq % 9, "est_wait_s": 420 * (seq % 9)}],
        "counters": [{"id": f"c{i}", "name": f"{i}号窗口", "number": i,
                      "status": "serving" if f"c{i}" in serving else "idle",
                      "ticket": {"number": serving[f"c{i}"], "service": "pay"} if f"c{i}" in serving else None}
                     for i in range(1, 5)],
        "recent_calls": calls[:8],
        "announcements": LONG_NOTICES or ["今日16:00起暂停办理过户业务，敬请谅解 Transfers are not handled after 16:00 today",
                          "请保管好随身物品 Please keep your belongings with you",
                          "办理业务请携带身份证原件 Please bring your original ID card"],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between bursts of three calls")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--no-sound", action="store_true", help="leave the audio worker (espeak-ng) out")
    parser.add_argument("--long-notices", action="store_true", help="ten notices of 500 characters each")
    opts = parser.parse_args()
    width, height = (int(v) for v in opts.size.split("x"))
    if opts.long_notices:
        LONG_NOTICES.extend(f"第{i + 1}条通知：" + "请保管好随身物品，办理业务请携带身份证原件。" * 24 + f" Notice {i + 1}"
                            for i in range(10))

    broker = start_broker("display")          # Mosquitto with the hall's generated config
    work = broker.workdir
    try:
        config = load_config(broker.config_path)
        display = config.display[0]
        display.audio_out = str(work / "spoken")
        display.english = True
        app = DisplayRole(config, display, headless=True, sound=not opts.no_sound, size=(width, height))
        shell = DeviceShell(config, f"display.{display.id}", app)

        pub = broker.client("controller", subscribe=[]).c      # plays the controller
        pub.publish(f"{R}/presence/controller", json.dumps({"online": True, "epoch": 1}), qos=1, retain=True)
        seq = 1
        calls: list[dict] = []
        serving: dict[str, str] = {}
        pub.publish(f"{R}/state", json.dumps(state(seq, calls, serving)), qos=1, retain=True).wait_for_publish(5)
        sent = {"calls": 0}

        def controller_play() -> None:
            nonlocal seq
            number = 0
            time.sleep(1.0)
            end = time.monotonic() + opts.seconds
            while time.monotonic() < end and not app.stop_flag.is_set():
                for i in range(3):                       # three counters call within 100 ms
                    number += 1
                    seq += 1
                    counter = f"c{(number % 4) + 1}"
                    ticket = f"A{number % 1000:03d}"
                    at = datetime.now(timezone.utc).isoformat()
                    pub.publish(f"{R}/event", json.dumps({
                        "epoch": 1, "seq": seq, "type": "ticket_called", "at": at,
                        "ticket": {"number": ticket, "service": "pay", "called_at": at}, "counter": counter}), qos=1)
                    calls.insert(0, {"number": ticket, "counter": counter, "at": at, "service": "pay"})
                    serving[counter] = ticket
                    pub.publish(f"{R}/state", json.dumps(state(seq, calls, serving)), qos=1, retain=True)
                    sent["calls"] += 1
                    time.sleep(0.04)
                time.sleep(max(0.0, opts.every - 0.12))
            time.sleep(0.5)
            app.stop_flag.set()

        elapsed = run_screen_against(shell, app.stop_flag, controller_play, pub)
        frames = app.metrics.frame_s
        latency = app.metrics.event_to_frame_s
        # VmHWM, not getrusage's ru_maxrss: Linux carries the maxrss over exec, so a bench started by a
        # bigger process would report that process's size
        peak_rss_mb = process_peak_rss_mb(os.getpid())
        spoken = len(list((work / "spoken").glob("*.wav"))) if not opts.no_sound else 0
        ms = 1000.0
        print(f"### hallq display — {width}×{height}, {opts.seconds:.0f} s, bursts of 3 calls every {opts.every:g} s\n")
        print("| metric | value | aim |")
        print("|---|---|---|")
        print(f"| frames drawn | {len(frames)} ({len(frames) / elapsed:.1f} fps, target {display.fps}) | |")
        print(f"| frame time median | {statistics.median(frames) * ms:.2f} ms | |")
        print(f"| frame time p99 | {percentile(frames, 0.99) * ms:.2f} ms | < 16 ms |")
        print(f"| frame time max | {max(frames) * ms:.2f} ms | |")
        if latency:
            print(f"| event-to-frame median | {statistics.median(latency) * ms:.1f} ms | |")
            print(f"| event-to-frame p99 | {percentile(latency, 0.99) * ms:.1f} ms | < 50 ms |")
        print(f"| messages shown (events + states) | {len(latency)} | |")
        print(f"| calls sent / spoken to WAV | {sent['calls']} / {spoken} | |")
        print(f"| text surfaces rendered (cache misses) | {app.renderer.text.misses} | |")
        print(f"| peak RSS | {peak_rss_mb:.0f} MB | < 120 MB |")
        print(f"\nmachine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    finally:
        broker.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
