"""Faults beyond SIGKILL for bench/chaos.py: stalls, a flooding kiosk, clock jumps and a
full disk, each injected between kills while the day's traffic goes on. The invariants checked
afterwards are the same as for kills (bench/chaos_checks.py).

- **stall**: one process (controller, Mosquitto, a kiosk, a counter, the display) SIGSTOPped for 1-8 s,
  then SIGCONT: a frozen SD card, a swapping Pi. Requests the controller reads after their sender
  gave up must not be applied (``not_after``), kiosks fall back to their leases.
- **flood**: kiosk k2 "goes haywire": its process is SIGKILLed and a plain client with its
  credentials sends ``issue`` requests with fresh ids (and statuses) as fast as it can for 3-6 s.
  A probe (``admin.ctl``, read-only ``events`` requests every 0.1 s) measures what the flood costs
  another device's request: the worst delay is reported beside the probe's delay just before.
  Tickets the flood got (bounded by the kiosk rate limit) are counted apart, not as ghosts.
- **clock**: the controller is SIGKILLed and boots with its clock hours back across midnight
  (Debian's libfaketime, its clock read from a file), runs so for 2-6 s, then the clock is corrected
  forward while it runs (NTP), then it is restarted normally. libfaketime 0.9.10 breaks Python
  3.11's ``time.sleep`` (wolfcw/libfaketime#426), which paho uses between reconnects, so the broker
  is up whenever the controller runs under it.
- **disk**: the controller's data folder is a tmpfs (512 MB); it is filled to the last byte for
  2-6 s, then freed: the controller must pause, say why, and resume (hallq/controller/storage_faults.py).

A kind that this machine cannot do (no libfaketime, no mount) is skipped and named in the result.
"""
from __future__ import annotations

import os
import signal
import statistics
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hallq.runtime.config import device_password
from hallq.testing import HallClient, eventually
from hallq.testing.faults import faketime_env, fill_disk, mount_tmpfs, seconds_back_across_midnight, unmount

if TYPE_CHECKING:
    from chaos import Chaos

KINDS = ("stall", "flood", "clock", "disk")
STALL_WEIGHTS = {"controller": 3, "broker": 2, "kiosk": 2, "counter": 2, "display": 1}
FLOOD_MAX_MESSAGES = 20_000
FLOOD_PREFIX = "flood-"      # the flooding client's request ids (its tickets are told apart by them)


class FloodClient(HallClient):
    """A kiosk's credentials in the wrong hands: counts the answers it gets."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.codes: dict[str, int] = {}
        super().__init__(*args, **kw)

    def on_message(self, topic: str, payload: bytes) -> None:
        code = "ok" if b'"ok":true' in payload else (payload.split(b'"code":"', 1)[-1].split(b'"', 1)[0].decode()
                                                     if b'"code":"' in payload else "?")
        self.codes[code] = self.codes.get(code, 0) + 1


class Faults:
    def __init__(self, chaos: Chaos, kinds: tuple[str, ...] = KINDS) -> None:
        self.chaos = chaos
        self.rng = chaos.rng
        self.kinds = list(kinds)
        self.mount: Path | None = None
        self.clock_file = chaos.out / "faketime"
        self.faketime = faketime_env(self.clock_file)          # None: not installed
        self.disk_full_until = 0.0          # monotonic end of the last disk-full spell
        self.baseline: list[float] = []
        self.flooded: list[float] = []

    # --- set-up ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Before the hall starts: what each kind needs, or it is skipped with the reason."""
        result = self.chaos.result
        if "clock" in self.kinds and self.faketime is None:
            self.kinds.remove("clock")
            result.skipped.append("clock jumps: Debian's faketime is not installed")
        if "disk" in self.kinds:
            folder = self.chaos.out / "data" / "controller"
            why_not = mount_tmpfs(folder, "512m")
            if why_not is None:
                self.mount = folder
            else:
                self.kinds.remove("disk")
                result.skipped.append(f"disk full: no tmpfs mount here ({why_not[:80]})")

    def cleanup(self) -> None:
        if self.mount is not None:
            unmount(self.mount)
            self.mount = None

    def plan(self, kills: int, per_kind: int) -> dict[int, list[str]]:
        """At which kill count each fault comes: every kind ``per_kind`` times, spread over the run."""
        plan: dict[int, list[str]] = {}
        for i, kind in enumerate(self.kinds):
            for j in range(per_kind):
                at = round(kills * (j + (i + 1) / (len(self.kinds) + 1)) / per_kind)
                plan.setdefault(min(at, max(kills - 1, 0)), []).append(kind)
        return plan

    def inject(self, kind: str) -> None:
        {"stall": self.stall, "flood": self.flood, "clock": self.clock_jump, "disk": self.disk_full}[kind]()
        self.chaos.result.faults[kind] += 1

    def _all_up(self) -> None:
        chaos = self.chaos
        while chaos.down:
            chaos.restart_due(time.monotonic())
            time.sleep(0.05)
        eventually(chaos.watcher.controller_online, 30)

    # --- the faults -------------------------------------------------------------------------------
    def stall(self) -> None:
        chaos = self.chaos
        kind = self.rng.choices(list(STALL_WEIGHTS), weights=list(STALL_WEIGHTS.values()))[0]
        name = self.rng.choice({"controller": ["controller"], "broker": ["broker"], "kiosk": chaos.kiosks,
                                "counter": chaos.counters, "display": chaos.displays}[kind])
        proc = chaos.rig.broker.proc if name == "broker" else chaos.rig.components[name].proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(self.rng.uniform(1.0, 8.0))
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        chaos.result.stalls[kind] += 1

    def flood(self) -> None:
        chaos = self.chaos
        self._all_up()
        config = chaos.config
        victim = chaos.kiosks[-1]
        probe = HallClient(config.broker.port, "admin.ctl", device_password(config, "admin.ctl"),
                           subscribe=[f"hallq/v1/{config.hall.id}/dev/admin.ctl/res"], hall_id=config.hall.id,
                           host=config.broker.host)
        delays: list[tuple[float, float]] = []
        stop = threading.Event()

        def probing() -> None:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    probe.request("events", after_seq=10**9, limit=1, timeout=60)
                except TimeoutError:
                    pass
                delays.append((start, time.monotonic() - start))
                stop.wait(0.1)

        prober = threading.Thread(target=probing, daemon=True, name="flood-probe")
        prober.start()
        time.sleep(1.5)
        chaos.kill(victim)                                     # the kiosk goes haywire
        flooder = FloodClient(config.broker.port, victim, device_password(config, victim),
                              subscribe=[f"hallq/v1/{config.hall.id}/dev/{victim}/res"], hall_id=config.hall.id,
                              host=config.broker.host, record=False)
        began, wall = time.monotonic(), time.time()
        until = began + self.rng.uniform(3.0, 6.0)
        sent = 0
        root = f"hallq/v1/{config.hall.id}/dev/{victim}"
        while time.monotonic() < until and sent < FLOOD_MAX_MESSAGES:
            sent += 1
            flooder.publish(f"{root}/req", {"op": "issue", "request_id": f"{FLOOD_PREFIX}{wall:.0f}-{sent}",
                                            "service": chaos.config.service[sent % len(chaos.config.service)].id},
                            wait=False)
            if sent % 20 == 0:
                flooder.publish(f"{root}/status", {"printer": "ok", "mode": "online", "flood": sent},
                                retain=True, wait=False)
        ended = time.monotonic()
        time.sleep(3.0)                                        # its last requests drain
        stop.set()
        prober.join(timeout=70)
        flooder.close()
        probe.close()
        chaos.start(victim)
        self.baseline += [d for at, d in delays if at < began]
        self.flooded += [d for at, d in delays if began <= at <= ended + 3.0]
        result = chaos.result
        result.flood_requests += sent
        for code, n in flooder.codes.items():
            result.flood_answers[code] = result.flood_answers.get(code, 0) + n

    def clock_jump(self) -> None:
        chaos = self.chaos
        self._all_up()
        assert self.faketime is not None
        comp = chaos.rig.components["controller"]
        hours = self.rng.uniform(1.0, 30.0)
        self.clock_file.write_text(f"-{seconds_back_across_midnight(chaos.config.zone, hours)}\n")
        plain_env = comp.env
        comp.env = {**plain_env, **self.faketime}
        try:
            chaos.kill("controller")                           # the Pi reboots with a stale clock
            comp.start()
            eventually(chaos.watcher.controller_online, 30)
            time.sleep(self.rng.uniform(2.0, 6.0))
            self.clock_file.write_text("+0\n")                 # NTP corrects it, while it runs
            time.sleep(self.rng.uniform(1.0, 3.0))
            comp.stop()
        finally:
            comp.env = plain_env
        comp.start()

    def disk_full(self) -> None:
        assert self.mount is not None
        filler = fill_disk(self.mount)
        try:
            time.sleep(self.rng.uniform(2.0, 6.0))
        finally:
            filler.unlink()
            self.disk_full_until = time.monotonic()

    def refused_start_on_full_disk(self, comp: Any) -> bool:
        """A controller (re)started while the disk was full exits 1 with one line: as designed (under
        systemd it is started again 2 s later), not a crash."""
        if time.monotonic() - self.disk_full_until > 60:
            return False
        try:
            tail = comp.log.read_bytes()[-600:].decode("utf-8", "replace")
        except OSError:
            return False
        return "cannot start: the disk is full" in tail and "Traceback" not in tail

    # --- figures ------------------------------------------------------------------------------------
    def figures(self) -> None:
        result = self.chaos.result
        if self.flooded:
            result.flood_worst_delay_s = max(self.flooded)
        if self.baseline:
            result.probe_median_s = statistics.median(self.baseline)
