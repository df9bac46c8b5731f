"""The scenario runner: simulated customers and clerks driving a real hall through ``R/sim`` only.

Simulated time: the scenario's day is compressed by ``speed`` (simulated seconds per real second):
``sim = open + (monotonic - t0) x speed``. In ``hallq demo`` every process runs on the same
simulated clock (``HALLQ_SIM_CLOCK``, :mod:`hallq.runtime.clock`), so what they record (waits, service
times, estimates) is on the day's clock too; ``t0`` is the real instant that clock shows the opening.

Customers queue at a kiosk (one press at a time, as people do) and take the ticket the kiosk
prints: the engine sees the new ``<number>.bin`` in the kiosk's ``--printer-out`` folder. Clerks
reconcile what they want (on duty, logged in, serving their customer for the drawn service time)
with the hall state the controller publishes, and press their counter's keys through ``R/sim``;
a press that did not take (controller or broker away) is pressed again, as a clerk would.
"""
from __future__ import annotations

import heapq
import itertools
import random
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from .people import Clerk, ClerkPlan, Customer, Lane, Stats
from .rig import Rig, Watcher
from .scenario import Arrival, DayPlan, Happening, Scenario, clock

PRINTABLE = ("ok", "paper_low")
KIOSK_TIMEOUT_S = 8.0        # real seconds a customer waits at a kiosk for a ticket before giving up
KIOSK_GAP_S = 0.35           # real seconds between two presses at one kiosk (its own debounce is 0.3 s)
PRESS_RETRY_S = 2.0          # real seconds before a clerk presses a key again that did not take
NEXT_RETRY_S = 0.5
STEP_S = 0.02


class Engine:
    def __init__(self, rig: Rig, watcher: Watcher, scenario: Scenario, plan: DayPlan, speed: float,
                 out: TextIO = sys.stdout, real_limit_s: float | None = None, live: bool | None = None) -> None:
        self.rig, self.watcher, self.scenario, self.plan, self.speed = rig, watcher, scenario, plan, speed
        self.out = out
        self.real_limit_s = real_limit_s
        self.live = out.isatty() if live is None else live
        self.rng = random.Random(scenario.day.seed + 1)
        config = rig.config
        self.lanes = {k.id: Lane(k.id, rig.ticket_dir(k.id), tuple(k.services)) for k in config.kiosk}
        staff = {s.counter: s for s in scenario.staff}
        self.clerks = {c.id: Clerk(c.id, list(c.services), staff.get(c.id), scenario.close_s) for c in config.counter}
        self.customers: dict[str, Customer] = {}
        self.stats = Stats()
        self.arrivals = deque(plan.arrivals)
        self.happenings = deque(plan.happenings)
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.t0 = time.monotonic()
        self.started_at = datetime.now(timezone.utc)
        self.closing = False
        self.next_snapshot = scenario.open_s
        self.next_view = 0.0
        self.next_line = scenario.open_s
        self.snapshots: list[Path] = []

    # --- clock ------------------------------------------------------------------------------
    def now(self) -> float:
        return self.scenario.open_s + (time.monotonic() - self.t0) * self.speed

    def at(self, sim_t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (sim_t, next(self._seq), action))

    def say(self, text: str) -> None:
        line = f"[{clock(self.now())}] {text}"
        self.stats.happenings.append(line)
        print(line, file=self.out, flush=True)

    # --- the day -----------------------------------------------------------------------------
    def book_appointments(self) -> None:
        """The day's booked slots, imported as a hall does before opening (admin op ``book``)."""
        zone = self.rig.config.zone
        day = (self.rig.clock.shown or datetime.now(zone)).astimezone(zone).date()
        midnight = datetime.combine(day, datetime.min.time(), zone)
        for booking in self.plan.bookings:
            slot = midnight + timedelta(seconds=booking.slot_s)
            self.operator("book", code=booking.code, service=booking.service, slot=slot.isoformat())
        if self.plan.bookings:
            self.say(f"{len(self.plan.bookings)} appointments booked for today")

    def run(self) -> None:
        clock = self.rig.clock
        self.book_appointments()
        if clock.simulated:
            # the processes' clock shows the opening at clock.real: the day starts then, not earlier
            ahead = clock.real - time.time()
            if ahead > 0:
                time.sleep(ahead)
            elif ahead < -1:
                self.say(f"the hall came up {-ahead:.1f} s after the simulated opening: catching up")
        self.started_at = datetime.now(timezone.utc)
        self.t0 = time.monotonic() - (max(0.0, time.time() - clock.real) if clock.simulated else 0.0)
        deadline = self.t0 + self.real_limit_s if self.real_limit_s else None
        drain_until = self.scenario.close_s + self.scenario.day.drain_max_s
        while True:
            now = self.now()
            if deadline and time.monotonic() >= deadline and not self.closing:
                self.say(f"stopping: --minutes reached at simulated {clock(now)}")
                self.arrivals.clear()
                self.happenings.clear()
                break
            if not self.closing and now >= self.scenario.close_s:
                self.closing = True
                self.say("closing time: no more arrivals" + (", serving those still waiting" if self.scenario.day.drain else ""))
            self.step(now)
            if self.closing:
                if not self.scenario.day.drain or now >= drain_until or self.hall_empty():
                    break
            time.sleep(STEP_S)
        self.finish_timers()

    def finish_timers(self) -> None:
        """Restart anything still down (a crash near closing) so the day ends with a whole hall."""
        pending = sorted(self.timers)
        self.timers.clear()
        for _, _, action in pending:
            action()

    def hall_empty(self) -> bool:
        if any(lane.line or lane.current for lane in self.lanes.values()) or self.timers:
            return False
        state = self.watcher.snapshot_state()
        if state is None:
            return False
        waiting = sum(s.get("waiting", 0) for s in state.get("services", []))
        serving = any(c.get("ticket") for c in state.get("counters", []))
        return waiting == 0 and not serving

    def step(self, now: float) -> None:
        while self.timers and self.timers[0][0] <= now:
            _, _, action = heapq.heappop(self.timers)
            action()
        while self.happenings and self.happenings[0][0] <= now:
            _, happening = self.happenings.popleft()
            self.happen(happening, now)
        while self.arrivals and self.arrivals[0].at <= now:
            self.arrive(self.arrivals.popleft())
        for lane in self.lanes.values():
            self.serve_lane(lane, now)
        self.resend_ops()
        state = self.watcher.snapshot_state()
        if state is not None:
            counters = {c["id"]: c for c in state.get("counters", []) if isinstance(c, dict) and "id" in c}
            waiting = {s["id"]: s.get("waiting", 0) for s in state.get("services", []) if isinstance(s, dict)}
            for clerk in self.clerks.values():
                if clerk.counter in counters:
                    self.work(clerk, counters[clerk.counter], waiting, now)
        if now >= self.next_snapshot:
            self.next_snapshot = now + self.scenario.day.snapshot_every_s
            self.snapshot(clock(now).replace(":", ""))
        self.show(now, state)

    # --- customers at kiosks ------------------------------------------------------------------
    def printer_ok(self, kiosk: str) -> bool:
        status = self.watcher.status.get(f"kiosk.{kiosk}") or {}
        return status.get("printer", "ok") in PRINTABLE

    def arrive(self, arrival: Arrival, exclude: str | None = None) -> None:
        self.stats.arrived += exclude is None
        customer = Customer(arrival)
        self.queue_at_kiosk(customer, exclude)

    def queue_at_kiosk(self, customer: Customer, exclude: str | None = None) -> None:
        lanes = [lane for lane in self.lanes.values() if customer.plan.service in lane.services]
        if not lanes:
            customer.turned_away = "no kiosk offers the service"
            self.stats.turned_away += 1
            return
        pick = lanes[min(int(customer.plan.kiosk_pick * len(lanes)), len(lanes) - 1)]
        # people read the kiosk's screen: one that says it cannot print is passed by
        usable = [lane for lane in lanes if self.printer_ok(lane.kiosk) and lane.kiosk != exclude]
        if usable and pick not in usable:
            pick = min(usable, key=lambda lane: len(lane.line))
        pick.line.append(customer)

    def serve_lane(self, lane: Lane, now: float) -> None:
        new, again = lane.scan()
        for name in again:
            self.stats.reprints.append(name[:-4])
            self.say(f"kiosk {lane.kiosk} printed {name[:-4]} again (doubled!)")
        real = time.monotonic()
        for name in new:
            number = name[:-4]
            if name.startswith("slip-"):
                lane.slips += 1
                self.stats.slips += 1
                if lane.current is not None:
                    lane.current.turned_away = "refusal slip"
                    self.stats.turned_away += 1
                    lane.current = None
                continue
            lane.printed += 1
            if lane.current is None:
                self.stats.unexpected.append(number)
                self.say(f"kiosk {lane.kiosk} printed {number} with nobody pressing (doubled?)")
                continue
            lane.current.ticket = number
            self.customers[number] = lane.current
            self.stats.tickets += 1
            lane.current = None
        for deadline, condition, printed_then in list(lane.probes):
            if real >= deadline:
                lane.probes.remove((deadline, condition, printed_then))
                result = "no ticket printed (right)" if lane.printed == printed_then else "PRINTED (wrong)"
                self.stats.probe_results.append(f"press at kiosk {lane.kiosk} with printer {condition}: {result}")
                self.say(self.stats.probe_results[-1])
        if lane.current is not None:
            if real - lane.pressed_at < KIOSK_TIMEOUT_S:
                return
            customer, lane.current = lane.current, None
            customer.attempts += 1
            if customer.attempts >= 3:
                customer.turned_away = "no ticket after three tries"
                self.stats.turned_away += 1
                self.say(f"a {customer.plan.service} customer left without a ticket")
            else:
                self.queue_at_kiosk(customer, exclude=lane.kiosk if customer.attempts == 1 else None)
        if lane.current is None and lane.line and real - lane.pressed_at >= KIOSK_GAP_S and not lane.probes:
            if not self.printer_ok(lane.kiosk) and any(self.printer_ok(k) for k in self.lanes if k != lane.kiosk):
                for customer in list(lane.line):     # they see the screen and walk over
                    lane.line.remove(customer)
                    self.queue_at_kiosk(customer, exclude=lane.kiosk)
                return
            customer = lane.line[0]
            payload: dict[str, Any] = {"press": customer.plan.service}
            if customer.plan.code:                   # booked: they check in with their code
                payload = {"press": "check_in", "code": customer.plan.code}
            elif customer.plan.priority:
                payload["priority"] = True
            if self.watcher.sim(f"kiosk.{lane.kiosk}", payload):
                lane.line.popleft()
                lane.current, lane.pressed_at = customer, real
                self.stats.presses += 1

    # --- clerks -------------------------------------------------------------------------------
    def press(self, clerk: Clerk, key: str, retry_s: float = PRESS_RETRY_S, **extra: Any) -> None:
        """Press a counter key; the same key for the same customer again only after ``retry_s``
        (the press did not take: controller or broker away, or a request still in flight)."""
        real = time.monotonic()
        slot = (key, clerk.current.number if clerk.current else None)
        if real - clerk.last_press.get(slot, -1e9) < retry_s:
            return
        payload = {"press": key, **extra} if key != "login" else {"login": extra["name"]}
        if self.watcher.sim(clerk.device, payload):
            clerk.last_press[slot] = real

    def work(self, clerk: Clerk, cs: dict[str, Any], waiting: dict[str, int], now: float) -> None:
        if cs.get("status") == "offline":
            return
        on_duty = clerk.on_duty(now, self.closing)
        if clerk.staff is not None and on_duty and cs.get("clerk") != clerk.staff.clerk:
            self.press(clerk, "login", name=clerk.staff.clerk)
        ticket = cs.get("ticket")
        number = str(ticket["number"]) if isinstance(ticket, dict) and ticket.get("number") else None
        if clerk.current is not None and clerk.current.number != number:
            self.done_with(clerk, now)
        if number is not None:
            if clerk.current is None:
                customer = self.customers.get(number)
                p = customer.plan if customer else None
                clerk.current = ClerkPlan(number, now, p.show if p else True,
                                          p.service_s if p else 300.0, p.rating if p else None)
            plan = clerk.current
            if plan.show:
                if now >= plan.called_at + plan.service_s + self.scenario.day.wrap_up_s:
                    # "next" finishes this customer and calls the next in one press, as clerks do;
                    # "finish" when nobody waits or the clerk is due for a break
                    more = any(waiting.get(s, 0) for s in clerk.services)
                    self.press(clerk, "next" if more and on_duty else "finish")
            elif now >= plan.called_at + self.scenario.day.no_show_after_s:
                self.press(clerk, "no_show")
            elif now >= plan.called_at + self.scenario.day.recall_after_s and not plan.recalled:
                plan.recalled = True
                self.press(clerk, "recall", retry_s=0)
            return
        if not on_duty:
            if not cs.get("suspended"):
                self.press(clerk, "suspend")
            return
        if cs.get("suspended"):
            self.press(clerk, "resume")
            return
        if any(waiting.get(s, 0) for s in clerk.services):
            self.press(clerk, "next", retry_s=NEXT_RETRY_S)

    def done_with(self, clerk: Clerk, now: float) -> None:
        """The counter no longer shows the clerk's customer: served (rate it) or gone."""
        done, clerk.current = clerk.current, None
        clerk.idle_since = now
        if done is not None and done.show:
            clerk.served += 1
            if done.rating is not None:
                key = f"rate_{done.rating}"
                self.at(now + 0.15 * self.speed, lambda: self.press(clerk, key, retry_s=0))

    # --- happenings -----------------------------------------------------------------------------
    def happen(self, h: Happening, now: float) -> None:
        if h.action == "printer":
            self.watcher.sim(f"kiosk.{h.kiosk}", {"printer": h.condition})
            self.say(f"kiosk {h.kiosk}: printer {h.condition}")
            if h.condition not in PRINTABLE:
                lane = self.lanes[h.kiosk]
                # one customer presses before reading the screen: no ticket may come out
                self.at(now + 0.5 * self.speed, lambda: self.probe(lane, h.condition))
        elif h.action == "outage":
            self.operator("outage", active=True, message=h.message)
            self.say(f"outage declared for {h.minutes:g} minutes: {h.message}")
            self.at(now + h.minutes * 60, lambda: (self.operator("outage", active=False), self.say("outage over")))
        elif h.action == "crash":
            comp = self.rig.components[h.component]
            comp.kill()
            self.say(f"{h.component} killed (SIGKILL); back in {h.down_s / 60:g} minutes")
            self.at(now + h.down_s, lambda: (comp.start(), self.say(f"{h.component} restarted")))
        elif h.action == "broker_restart":
            self.rig.broker.stop()
            self.say(f"broker ({self.rig.broker.kind}) stopped; back in {h.down_s / 60:g} minutes")
            self.at(now + h.down_s, lambda: (self.rig.broker.start(), self.say("broker started again")))
        elif h.action in ("suspend_service", "resume_service"):
            self.operator(h.action, service=h.service)
            self.say(f"{h.action.replace('_', ' ')} {h.service}")
        elif h.action == "announce":
            self.operator("announce", text=h.text)
            self.say(f"announcement: {h.text}")
        self.at(now + 1.0 * self.speed, lambda: self.snapshot(f"{clock(now).replace(':', '')}-{h.action}"))

    def probe(self, lane: Lane, condition: str) -> None:
        service = lane.services[0]
        if self.watcher.sim(f"kiosk.{lane.kiosk}", {"press": service}):
            self.stats.presses += 1
            lane.probes.append((time.monotonic() + 1.5, condition, lane.printed))

    def operator(self, op: str, **args: Any) -> None:
        def answered(reply: Any) -> None:
            if not reply.ok:
                self.say(f"operator {op} refused: {reply.code} {reply.message}")
        self.watcher.send(op, answered, **args)

    def resend_ops(self) -> None:
        self.watcher.pump()

    # --- output ---------------------------------------------------------------------------------
    def snapshot(self, label: str) -> None:
        for d in self.rig.config.display:
            live = self.rig.snapshot_path(d.id)
            if live.exists():
                target = live.parent / f"{d.id}-{label}.png"
                try:
                    shutil.copyfile(live, target)
                    self.snapshots.append(target)
                except OSError:
                    pass

    def show(self, now: float, state: dict[str, Any] | None) -> None:
        real = time.monotonic()
        if self.live:
            if real < self.next_view:
                return
            self.next_view = real + 0.5
            self.out.write("\x1b[H\x1b[J" + self.view_text(now, state))
            self.out.flush()
        elif now >= self.next_line:
            self.next_line = now + 1800
            print(self.status_line(now, state), file=self.out, flush=True)

    def status_line(self, now: float, state: dict[str, Any] | None) -> str:
        if state is None:
            return f"[{clock(now)}] (no hall state yet)"
        waiting = " ".join(f"{s['prefix']}:{s['waiting']}" for s in state.get("services", []))
        counters = " ".join(f"{c['id']}={(c.get('ticket') or {}).get('number') or c['status']}"
                            for c in state.get("counters", []))
        return (f"[{clock(now)}] {state.get('mode')} | waiting {waiting} | {counters} | "
                f"tickets {self.stats.tickets} served {sum(c.served for c in self.clerks.values())}")

    def view_text(self, now: float, state: dict[str, Any] | None) -> str:
        lines = [f"hallq demo — {self.scenario.day.name}",
                 f"simulated {clock(now)}  (x{self.speed:g})   real {time.monotonic() - self.t0:5.1f} s", ""]
        if state is None:
            lines.append("waiting for the controller's state ...")
        else:
            lines.append(f"hall {state.get('hall')}  mode {state.get('mode')}  epoch {state.get('epoch')}  seq {state.get('seq')}"
                         + (f"  message: {state.get('message')}" if state.get("message") else ""))
            for s in state.get("services", []):
                lines.append(f"  service {s['id']:<5} {s['prefix']}  waiting {s['waiting']:>3}  est {s.get('est_wait_s', 0) // 60:>3} min"
                             + ("  SUSPENDED" if s.get("suspended") else ""))
            for c in state.get("counters", []):
                ticket = (c.get("ticket") or {}).get("number") or ""
                lines.append(f"  {c['id']:<4} {c['status']:<9} {ticket:<5} {c.get('clerk') or ''}")
            recent = ", ".join(f"{r['number']}→{r['counter']}" for r in state.get("recent_calls", [])[:6])
            lines.append(f"  recent calls: {recent}")
        for lane in self.lanes.values():
            status = self.watcher.status.get(f"kiosk.{lane.kiosk}") or {}
            lines.append(f"  kiosk {lane.kiosk}: printer {status.get('printer', '?')}, mode {status.get('mode', '?')}, "
                         f"line {len(lane.line)}, printed {lane.printed}, unsynced {status.get('unsynced', '?')}")
        dead = self.rig.dead()
        lines.append(f"  down: {', '.join(dead)}" if dead else "  all processes running")
        lines.append(f"  arrived {self.stats.arrived}  tickets {self.stats.tickets}  "
                     f"served {sum(c.served for c in self.clerks.values())}  turned away {self.stats.turned_away}")
        lines += ["", *self.stats.happenings[-8:]]
        return "\n".join(lines) + "\n"
