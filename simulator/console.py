"""``hallq sim``: an interactive console for maintainers (docs/demo.md, "The sim console").

It starts the hall of ``--config`` as real processes (a broker, the controller, stub kiosks and
counters, the display) in ``--data`` (default ./hallq-sim), then lets you press any kiosk or
counter button, set a kiosk's printer condition, kill or restart a process, and watch the state
and the events. Buttons and printers are driven only through ``R/sim/<device>``; processes only
by signals. Type ``help`` for the commands; they also work from a pipe (one per line), so the
console doubles as a script runner.
"""
from __future__ import annotations

import argparse
import cmd
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from hallq import contract as wire
from hallq.runtime.config import load_config
from hallq.testing import eventually

from .demo import has_screen, prepare_out
from .rig import Rig, Watcher

KIOSK_WAIT_S = 6.0
COUNTER_WAIT_S = 3.0
COUNTER_KEYS = ("next", "recall", "finish", "no_show", "suspend", "resume", "rate_1", "rate_2", "rate_3", "transfer")
PRINTER_CONDITIONS = ("ok", "paper_low", "paper_out", "cover_open", "offline")

LINK_NOTICE_S = 5.0          # at most this long for the console's link to notice a stopped broker


def describe_event(ev: dict[str, Any]) -> str:
    ticket = ev.get("ticket") or {}
    parts = [f"#{ev.get('seq')}", str(ev.get("type"))]
    if ticket:
        parts.append(str(ticket.get("number")))
    for key in ("counter", "device", "service", "clerk", "text", "message"):
        if ev.get(key):
            parts.append(f"{key}={ev[key]}")
    if ev.get("type") == "device_status":
        parts.append(str(ev.get("status")))
    return " ".join(parts)


def describe_state(state: dict[str, Any] | None, watcher: Watcher, rig: Rig) -> str:
    if state is None:
        return "no state from the controller yet"
    lines = [f"hall {state.get('hall')} mode={state.get('mode')} epoch={state.get('epoch')} seq={state.get('seq')}"
             + (f" message={state.get('message')!r}" if state.get("message") else "")]
    for s in state.get("services", []):
        lines.append(f"  service {s['id']} ({s['prefix']}): waiting {s['waiting']}, est {s.get('est_wait_s')} s"
                     + (" SUSPENDED" if s.get("suspended") else ""))
    for c in state.get("counters", []):
        ticket = (c.get("ticket") or {}).get("number") or "-"
        lines.append(f"  counter {c['id']}: {c['status']} ticket={ticket} clerk={c.get('clerk') or '-'}")
    for k in rig.config.kiosk:
        st = watcher.status.get(f"kiosk.{k.id}") or {}
        lines.append(f"  kiosk {k.id}: printer={st.get('printer', '?')} mode={st.get('mode', '?')} "
                     f"unsynced={st.get('unsynced', '?')} reason={st.get('reason')}")
    calls = ", ".join(f"{r['number']}->{r['counter']}" for r in state.get("recent_calls", [])[:8])
    lines.append(f"  recent calls: {calls or '-'}")
    if state.get("announcements"):
        lines.append(f"  announcements: {state['announcements']}")
    return "\n".join(lines)


class SimConsole(cmd.Cmd):
    intro = "hallq sim: type help for the commands, quit to stop the hall"
    prompt = "hallq> "

    def __init__(self, rig: Rig, watcher: Watcher, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.rig, self.watcher = rig, watcher
        self.follow = False
        self.lock = threading.Lock()
        if stdin is not None and not stdin.isatty():
            self.use_rawinput = False
            self.prompt = ""
        watcher.on_event = self._on_event

    def say(self, text: str) -> None:
        with self.lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def _on_event(self, ev: dict[str, Any]) -> None:
        if self.follow:
            self.say(f"  event {describe_event(ev)}")

    def emptyline(self) -> bool:
        return False

    def default(self, line: str) -> bool:
        self.say(f"unknown command {line.split()[0]!r}; type help")
        return False

    # --- names --------------------------------------------------------------------------------
    def device(self, name: str, kind: str) -> str | None:
        ident = name.partition(".")[2] if "." in name else name
        known = {"kiosk": [k.id for k in self.rig.config.kiosk], "counter": [c.id for c in self.rig.config.counter]}[kind]
        if ident not in known:
            self.say(f"no {kind} {name!r} (known: {', '.join(known)})")
            return None
        return f"{kind}.{ident}"

    def component(self, name: str) -> str | None:
        names = list(self.rig.components)
        if name in names:
            return name
        matches = [n for n in names if n.endswith("." + name)]
        if len(matches) == 1:
            return matches[0]
        self.say(f"no process {name!r} (known: {', '.join(names)}, broker)")
        return None

    # --- commands -----------------------------------------------------------------------------
    def do_press(self, arg: str) -> bool:
        """press KIOSK SERVICE [priority] | press COUNTER KEY [SERVICE]
        e.g. press k1 pay, press k2 biz priority, press c1 next, press c1 transfer biz, press c1 rate_1"""
        words = shlex.split(arg)
        if len(words) < 2:
            self.say("usage: press KIOSK SERVICE [priority] | press COUNTER KEY [SERVICE]")
            return False
        target, key = words[0], words[1]
        counters = {c.id for c in self.rig.config.counter}
        kiosks = {k.id: k for k in self.rig.config.kiosk}
        if "." not in target and target not in counters and target not in kiosks:
            self.say(f"no kiosk or counter {target!r} (kiosks: {', '.join(kiosks)}; counters: {', '.join(sorted(counters))})")
            return False
        if target.startswith("counter.") or target in counters:
            device = self.device(target, "counter")
            if device is None:
                return False
            if key not in COUNTER_KEYS and key not in {s.id for s in self.rig.config.service}:
                self.say(f"counter keys: {', '.join(COUNTER_KEYS)} (or a service id after transfer)")
                return False
            payload: dict[str, Any] = {"press": key}
            if key == "transfer" and len(words) > 2:
                payload["service"] = words[2]
            self.press_counter(device, payload)
        else:
            device = self.device(target, "kiosk")
            if device is None:
                return False
            buttons = kiosks[device.partition(".")[2]].services
            if key not in buttons:
                self.say(f"{device} has buttons for {', '.join(buttons)} (add priority for the priority button)")
                return False
            payload = {"press": key}
            if "priority" in words[2:]:
                payload["priority"] = True
            self.press_kiosk(device, payload)
        return False

    def help_press(self) -> None:
        """Every button of this hall, by device."""
        lines = ["press KIOSK SERVICE [priority] | press KIOSK check_in CODE | press COUNTER KEY [SERVICE]"]
        for k in self.rig.config.kiosk:
            lines.append(f"  kiosk {k.id}: {' '.join(k.services)} (add priority), check_in CODE")
        services = " ".join(s.id for s in self.rig.config.service)
        for c in self.rig.config.counter:
            lines.append(f"  counter {c.id}: {' '.join(COUNTER_KEYS)}; transfer then one of: {services}")
        lines.append("With the broker down a press still reaches the stub (through its local socket): rehearse "
                     "offline issuing with `stop broker` then `press k1 pay`.")
        self.say("\n".join(lines))

    def send(self, device: str, payload: dict[str, Any]) -> bool:
        """R/sim through the broker; with the broker down, the stub's local socket."""
        if self.watcher.sim(device, payload):
            return True
        if self.rig.sim_local(device, payload):
            self.say(f"  (broker down: pressed through {device}'s local socket)")
            return True
        self.say(f"{device} is not reachable (broker down and no local socket): nothing pressed")
        return False

    def press_kiosk(self, device: str, payload: dict[str, Any]) -> None:
        kiosk = device.partition(".")[2]
        folder = self.rig.ticket_dir(kiosk)
        before = set(folder.glob("*.bin")) if folder.is_dir() else set()
        if not self.send(device, payload):
            return
        eventually(lambda: folder.is_dir() and set(folder.glob("*.bin")) - before, KIOSK_WAIT_S)
        new = sorted(p.stem for p in (set(folder.glob("*.bin")) if folder.is_dir() else set()) - before)
        status = self.watcher.status.get(device) or {}
        if new:
            self.say(f"{device} printed {', '.join(new)} (picture: {folder / (new[0] + '.png')})")
        else:
            self.say(f"{device} printed nothing (printer={status.get('printer')}, reason={status.get('reason')})")

    def press_counter(self, device: str, payload: dict[str, Any]) -> None:
        counter = device.partition(".")[2]
        start = len(self.watcher.events)
        before = (self.watcher.status.get(device) or {}).get("refused")
        if not self.send(device, payload):
            return

        def refused() -> Any:
            now = (self.watcher.status.get(device) or {}).get("refused")
            return now if now and now != before else None
        found = eventually(lambda: any(ev.get("counter") == counter for ev in self.watcher.events[start:])
                           or refused(), COUNTER_WAIT_S)
        events = [ev for ev in self.watcher.events[start:] if ev.get("counter") == counter]
        if events:
            for ev in events:
                self.say(f"  {describe_event(ev)}")
        elif found and refused():
            self.say(f"{device}: refused: {refused()}")
        else:
            self.say(f"{device}: no change (the counter's log: {self.rig.components[device].log})")

    def do_printer(self, arg: str) -> bool:
        """printer KIOSK CONDITION: ok, paper_low, paper_out, cover_open or offline"""
        words = shlex.split(arg)
        if len(words) != 2 or words[1] not in PRINTER_CONDITIONS:
            self.say(f"usage: printer KIOSK {{{'|'.join(PRINTER_CONDITIONS)}}}")
            return False
        device = self.device(words[0], "kiosk")
        if device is None:
            return False
        if self.send(device, {"printer": words[1]}):
            eventually(lambda: (self.watcher.status.get(device) or {}).get("printer") == words[1], 3.0)
            self.say(f"{device} printer: {(self.watcher.status.get(device) or {}).get('printer')}")
        return False

    def do_login(self, arg: str) -> bool:
        """login COUNTER CLERK: the clerk logs in at that counter"""
        words = shlex.split(arg)
        if len(words) != 2:
            self.say("usage: login COUNTER CLERK")
            return False
        device = self.device(words[0], "counter")
        if device:
            self.press_counter(device, {"login": words[1]})
        return False

    def do_kill(self, arg: str) -> bool:
        """kill PROCESS: SIGKILL (a power cut); PROCESS is controller, k1, kiosk.k1, c2, d1, ... or broker"""
        if arg.strip() == "broker":
            self.rig.broker.stop()
            # until our own link has noticed, a press would still be "sent" through the broker
            deadline = time.monotonic() + LINK_NOTICE_S
            while self.watcher.connected.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.say("broker stopped")
            return False
        name = self.component(arg.strip())
        if name:
            self.rig.components[name].kill()
            self.say(f"{name} killed")
        return False

    def do_stop(self, arg: str) -> bool:
        """stop PROCESS: SIGTERM (a clean shutdown)"""
        if arg.strip() == "broker":
            return self.do_kill("broker")
        name = self.component(arg.strip())
        if name:
            code = self.rig.components[name].stop()
            self.say(f"{name} stopped (exit {code})")
        return False

    def do_start(self, arg: str) -> bool:
        """start PROCESS: start it again (after kill or stop)"""
        if arg.strip() == "broker":
            if self.rig.broker.alive:
                self.say("broker already running")
            else:
                self.rig.broker.start()
                self.say("broker started")
            return False
        name = self.component(arg.strip())
        if name is None:
            return False
        comp = self.rig.components[name]
        if comp.alive:
            self.say(f"{name} is already running")
            return False
        before = self.watcher.presence.get(name)
        comp.start()
        # a new presence message: the controller's epoch or the device's boot number has grown
        online = eventually(lambda: comp.alive and (self.watcher.presence.get(name) or {}).get("online") is True
                            and self.watcher.presence.get(name) != before, 20.0)
        self.say(f"{name} started" + ("" if online else " (not online yet)"))
        return False

    def do_restart(self, arg: str) -> bool:
        """restart PROCESS: SIGTERM then start"""
        self.do_stop(arg)
        return self.do_start(arg)

    def do_ps(self, arg: str) -> bool:
        """ps: the hall's processes"""
        self.say(f"  broker ({self.rig.broker.kind}, port {self.rig.broker.port}): "
                 f"{'running' if self.rig.broker.alive else 'down'}")
        for name, comp in self.rig.components.items():
            presence = self.watcher.presence.get(name) or {}
            self.say(f"  {name}: {'running' if comp.alive else 'down'} pid={comp.proc.pid if comp.proc else '-'} "
                     f"starts={comp.starts} online={presence.get('online')}")
        return False

    def do_state(self, arg: str) -> bool:
        """state: the hall state the controller last published"""
        self.say(describe_state(self.watcher.snapshot_state(), self.watcher, self.rig))
        return False

    def do_events(self, arg: str) -> bool:
        """events [N]: the last N events (default 10)"""
        n = int(arg) if arg.strip().isdigit() else 10
        for ev in self.watcher.events[-n:]:
            self.say(f"  {describe_event(ev)}")
        return False

    def do_follow(self, arg: str) -> bool:
        """follow on|off: print every event as it happens"""
        self.follow = arg.strip() != "off"
        self.say(f"following events: {'on' if self.follow else 'off'}")
        return False

    def do_op(self, arg: str) -> bool:
        """op OPERATION [key=value ...]: an operator request as admin.sim, e.g. op outage active=true message=维护,
        op announce text=欢迎, op suspend_service service=biz"""
        words = shlex.split(arg)
        if not words:
            self.say("usage: op OPERATION [key=value ...]")
            return False
        args: dict[str, Any] = {}
        for word in words[1:]:
            key, _, value = word.partition("=")
            args[key] = {"true": True, "false": False}.get(value, value)
        reply = self.watcher.request(words[0], timeout=5.0, **args)
        self.say(f"  reply: {wire.dumps(reply).decode()}" if reply is not None
                 else "  no reply within 5 s (controller down?)")
        return False

    def do_sleep(self, arg: str) -> bool:
        """sleep SECONDS: wait (for scripts)"""
        try:
            time.sleep(min(60.0, float(arg)))
        except ValueError:
            self.say("usage: sleep SECONDS")
        return False

    def do_quit(self, arg: str) -> bool:
        """quit: stop the hall and leave"""
        return True

    do_exit = do_quit

    def do_EOF(self, arg: str) -> bool:
        return True


def main(args: argparse.Namespace) -> int:
    config_path = Path(args.config)
    load_config(config_path)              # a broken hall file: exit 2 with the key named
    out = prepare_out(Path(args.data or "hallq-sim"))
    rig = Rig(out, config_path, headless=not has_screen())
    watcher = Watcher(rig.config)
    print(f"hallq sim: starting the hall {rig.config.hall.id} in {out} (broker: {rig.broker.kind} on port {rig.broker.port})",
          flush=True)
    try:
        rig.start()
        watcher.start()
        devices = [d for d in rig.config.device_ids() if not d.startswith("admin.")]
        if not eventually(lambda: watcher.controller_online() and all(
                (watcher.presence.get(d) or {}).get("online") for d in devices), 60.0):
            print(f"hallq sim: not every process came online; see {out / 'logs'}", file=sys.stderr, flush=True)
        console = SimConsole(rig, watcher, stdin=sys.stdin, stdout=sys.stdout)
        try:
            console.cmdloop()
        except KeyboardInterrupt:
            pass
    finally:
        watcher.close()
        rig.stop()
        print("hallq sim: hall stopped", flush=True)
    return 0
