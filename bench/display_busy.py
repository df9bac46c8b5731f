"""The hall screen in a busy hall: 40 counters, calls at 30 a minute in bursts of 8, and its voice.

Runs the real display (``DisplayRole`` in its shell: owner loop, MQTT link, renderer, voice queue,
audio worker with espeak-ng writing each phrase to WAV through ``audio_out``) against a real
Mosquitto, with a publisher playing the controller of a 40-counter, 5-service hall. The screen
runs on a simulated clock (``hallq.runtime.clock.Clock``, as in the demo) ``--speed`` times faster than
real time, and its speaker is paced on that clock, so ten simulated minutes take a fraction of
that; every voice figure below is in the hall's (simulated) seconds.

- 2 simulated minutes of a quiet hall: one call every 20 s (the speaker is idle when each comes);
- then 8 minutes of a busy one: every 16 s a burst of 8 calls to 8 counters within 1 s (30 a
  minute), each counter's previous ticket served when it calls the next.

Call -> first sound = the call published -> its first WAV written (file time), in hall seconds.
Event -> frame and frame time are real (this machine's) milliseconds. Run twice: one speaker for
the whole hall, then the hall split in two zones (``speak_counters``), one speaker each.

    .venv/bin/python bench/display_busy.py [--speed 4] [--minutes 10]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness import percentile, run_screen_against, start_broker, write_result

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from hallq.display.app import DisplayRole  # noqa: E402
from hallq.runtime.clock import Clock  # noqa: E402
from hallq.runtime.config import load_config  # noqa: E402
from hallq.device.shell import DeviceShell  # noqa: E402

R = "hallq/v1/h1"
COUNTERS = 40
SERVICES = [("pay", "缴费", "Payment", "A"), ("biz", "业务办理", "Applications", "B"),
            ("new", "新装增容", "New connections", "C"), ("inv", "电费发票", "Invoices", "D"),
            ("pv", "光伏并网", "Solar connection", "E")]


def busy_hall(path: Path) -> None:
    """The broker's hall TOML with 40 counters and 5 services (ids the broker's ACL knows are kept)."""
    text = path.read_text("utf-8")
    head = text[: text.index("[[service]]")]
    tail = text[text.index("[[kiosk]]"):]
    services = "".join(f'[[service]]\nid = "{i}"\nname = "{n}"\nname_en = "{e}"\nprefix = "{p}"\n\n'
                       for i, n, e, p in SERVICES)
    counters = "".join(f'[[counter]]\nid = "c{k}"\nname = "{k}号窗口"\nservices = {json.dumps([s[0] for s in SERVICES])}\n\n'
                       for k in range(1, COUNTERS + 1))
    tail = tail.replace('services = ["pay", "biz"]', f'services = {json.dumps([s[0] for s in SERVICES])}')
    path.write_text(head + services + counters + tail, "utf-8")


def state(seq: int, at_counter: dict[int, tuple[str, str, str]], waiting: int) -> dict:
    return {
        "hall": "h1", "epoch": 1, "seq": seq, "mode": "open", "message": None,
        "services": [{"id": i, "name": n, "name_en": e, "prefix": p, "suspended": False,
                      "waiting": waiting + k, "est_wait_s": 60 * (waiting + k)} for k, (i, n, e, p) in enumerate(SERVICES)],
        "counters": [{"id": f"c{k}", "name": f"{k}号窗口", "number": k,
                      "status": "serving" if k in at_counter else "idle",
                      "ticket": ({"number": at_counter[k][0], "service": at_counter[k][1], "called_at": at_counter[k][2]}
                                 if k in at_counter else None)} for k in range(1, COUNTERS + 1)],
        "recent_calls": [], "announcements": ["请保管好随身物品 Please keep your belongings with you"],
    }


def run(speed: float, minutes: float, zones: bool) -> dict:
    broker = start_broker("display-busy")
    work = broker.workdir
    try:
        busy_hall(broker.config_path)
        config = load_config(broker.config_path)
        display = config.display[0]
        display.audio_out = str(work / "spoken")
        if zones:
            display.speak_counters = [f"c{k}" for k in range(1, COUNTERS // 2 + 1)]
        real0 = time.time()
        shown0 = datetime(2026, 11, 26, 13, 30, tzinfo=timezone(timedelta(hours=8)))
        clock = Clock(shown0, real0, speed)
        app = DisplayRole(config, display, headless=True, sound=True, clock=clock)
        shell = DeviceShell(config, f"display.{display.id}", app)
        pub = broker.client("controller", subscribe=[]).c
        pub.publish(f"{R}/presence/controller", json.dumps({"online": True, "epoch": 1}), qos=1, retain=True)
        published: dict[str, float] = {}          # ticket number -> real time its call was published
        zone_calls: list[str] = []
        quiet_calls: list[str] = []
        rng = random.Random(7)
        seq = 1
        at_counter: dict[int, tuple[str, str, str]] = {}
        pub.publish(f"{R}/state", json.dumps(state(seq, at_counter, 20)), qos=1, retain=True).wait_for_publish(5)

        def sim_sleep(seconds: float) -> None:
            time.sleep(seconds / speed)

        def call(number: int, counter: int) -> None:
            nonlocal seq
            seq += 1
            service = SERVICES[number % len(SERVICES)]
            ticket = f"{service[3]}{number % 1000:03d}"
            at = clock.wall().isoformat()
            at_counter[counter] = (ticket, service[0], at)
            published[ticket] = time.time()
            if not zones or counter <= COUNTERS // 2:
                zone_calls.append(ticket)
            pub.publish(f"{R}/event", json.dumps({
                "epoch": 1, "seq": seq, "type": "ticket_called", "at": at, "counter": f"c{counter}",
                "ticket": {"number": ticket, "service": service[0], "called_at": at}}), qos=1)
            pub.publish(f"{R}/state", json.dumps(state(seq, at_counter, 30 + seq % 20)), qos=1, retain=True)

        def controller_play() -> None:
            sim_sleep(30)                            # the voice warms up; a screen starts before its hall opens
            number = 0
            quiet_end = 120
            t = 0.0
            while t < quiet_end:                     # a quiet hall: one call every 20 s
                number += 1
                counter = rng.randint(1, COUNTERS // 2)   # in the first zone, so both runs hear them
                call(number, counter)
                quiet_calls.append(zone_calls[-1])
                sim_sleep(20)
                t += 20
            end = minutes * 60
            while t < end and not app.stop_flag.is_set():   # busy: bursts of 8 within 1 s, every 16 s
                for counter in rng.sample(range(1, COUNTERS + 1), 8):
                    number += 1
                    call(number, counter)
                    sim_sleep(0.12)
                sim_sleep(16 - 8 * 0.12)
                t += 16
            sim_sleep(40)                            # the voice finishes what it still says
            app.stop_flag.set()

        elapsed = run_screen_against(shell, app.stop_flag, controller_play, pub)
        first_sound: dict[str, float] = {}
        for wav in (work / "spoken").glob("*.wav"):
            label = wav.stem.split("-", 1)[1]
            if "~" not in label and label in published:
                first_sound[label] = (wav.stat().st_mtime - published[label]) * speed
        quiet = [first_sound[t] for t in quiet_calls if t in first_sound]
        stats = app.voice.stats
        import resource
        return {
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "speed": speed, "minutes": minutes, "zones": zones, "real_s": round(elapsed, 1),
            "frames": len(app.metrics.frame_s), "frame_p99_ms": percentile(app.metrics.frame_s, 99) * 1000,
            "event_to_frame_p99_ms": percentile(app.metrics.event_to_frame_s, 99) * 1000,
            "calls": len(published), "calls_for_this_speaker": len(zone_calls),
            "said": len(first_sound), "skipped_late": stats.skipped_late, "skipped_answered": stats.skipped_answered,
            "idle_first_sound_p99_s": percentile(quiet, 99) if quiet else float("nan"),
            "first_sound_median_s": statistics.median(first_sound.values()) if first_sound else float("nan"),
            "first_sound_p99_s": percentile(list(first_sound.values()), 99) if first_sound else float("nan"),
            "first_sound_max_s": max(first_sound.values(), default=float("nan")),
            "longest_backlog_calls": stats.longest_backlog, "bound_s": display.voice_max_delay_s,
        }
    finally:
        broker.cleanup()


def in_own_process(speed: float, minutes: float, zones: bool) -> dict:
    """Each run in a process of its own, so its peak memory is its own."""
    import subprocess
    proc = subprocess.run([sys.executable, __file__, "--speed", str(speed), "--minutes", str(minutes),
                           "--one", "zones" if zones else "single"], capture_output=True, text=True, timeout=1500)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=4.0, help="simulated seconds per real second")
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes")
    parser.add_argument("--one", choices=("single", "zones"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.one:
        print(json.dumps(run(opts.speed, opts.minutes, zones=opts.one == "zones")))
        return 0
    one = in_own_process(opts.speed, opts.minutes, zones=False)
    two = in_own_process(opts.speed, opts.minutes, zones=True)
    rows = [
        ("run", f"40 counters, 5 services, {opts.minutes:g} simulated min at x{opts.speed:g} "
                f"({one['real_s']:.0f} s real), 1920×1080", ""),
        ("calls (quiet 2 min, then 30/min in bursts of 8)", f"{one['calls']}", ""),
        ("frame time p99", f"{one['frame_p99_ms']:.1f} ms", "< 16 ms"),
        ("event → frame p99", f"{one['event_to_frame_p99_ms']:.1f} ms", "< 50 ms"),
        ("peak RSS of a run (screen, voice and the bench's publisher in one process)",
         f"{max(one['peak_rss_mb'], two['peak_rss_mb']):.0f} MB", "< 120 MB"),
    ]
    for label, r in (("one speaker, whole hall", one), ("two zones, each speaker 20 counters", two)):
        rows += [
            (f"{label}: call → first sound p99, idle speaker", f"{r['idle_first_sound_p99_s']:.2f} s", "< 2 s"),
            (f"{label}: call → first sound median / p99 / max",
             f"{r['first_sound_median_s']:.1f} / {r['first_sound_p99_s']:.1f} / {r['first_sound_max_s']:.1f} s",
             f"≤ {r['bound_s']:g} s (bound)"),
            (f"{label}: calls said / unsaid as older than the bound / unsaid as already answered",
             f"{r['said']} / {r['skipped_late']} / {r['skipped_answered']} of {r['calls_for_this_speaker']}", ""),
            (f"{label}: longest backlog", f"{r['longest_backlog_calls']} calls", ""),
        ]
    write_result("display_busy", rows, {"one_speaker": one, "two_zones": two})
    return 0


if __name__ == "__main__":
    sys.exit(main())
