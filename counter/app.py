"""``hallq counter``: a counter terminal — the clerk's keys, the counter's LED sign, the rating pad.

A role over the device shell (hallq/device/shell.py): the shell owns presence, status, availability,
routing and the request tracker; this module adds the keys, the sign and the clerk's rules.
gpiozero, paho and the sign thread only enqueue. Every press becomes at most one request: a fresh
request id, resent with the same id every second, and dropped after ``give_up_s`` (default 4 s).
A dropped request is never sent later (see hallq/device/requests.py). The clerk sees the offline lamp
blink and presses again when the lamp says the hall is back.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gpiozero.pins import Factory

from hallq.contract import ReplyDoc, StateDoc
from hallq.device.shell import DeviceRole, DeviceShell
from hallq.errors import ConfigError
from hallq.hardware.debounce import Debouncer
from hallq.hardware.signs import Sign, SignHealth, SignLink
from hallq.runtime.clock import Clock
from hallq.runtime.config import Config, CounterConfig

from .keys import CLERK_KEYS, RATE_KEYS, KeyEdge, KeyPad, duplicate_pins
from .view import CounterView

log = logging.getLogger(__name__)

STUB_SIGN_URL = "loop://"
UNPLUGGED_URL = "/dev/hallq-sign-unplugged"   # the stub's "unplugged" sign: a port that does not exist
CALL_ENTRY_S = 10.0            # the keyed call's next key must come within this
CLERK_OPS = {"call_next", "call", "recall", "finish", "no_show", "transfer", "suspend", "resume"}
SESSION_OPS = {"login", "logout"}
SIM_BACKLOG = 20       # sim presses waiting behind a request in flight


@dataclass(frozen=True)
class SignReport:
    health: SignHealth


class CounterRole(DeviceRole):
    kind = "counter"
    tick_s = 0.05

    def __init__(self, config: Config, counter: CounterConfig, pin_factory: Factory | None, *,
                 sign_url: str | None = None, inbox_put: Any = None, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.counter = counter
        self.pin_factory = pin_factory
        self.view = CounterView(counter, texts=config.hall.texts)
        self.debouncer = Debouncer(counter.keys.bounce_s, counter.keys.repeat_s)
        self.services = [s.id for s in config.service]
        self.transfer_armed_until = 0.0
        self.wanted_clerk: str | None = counter.clerk
        self.last_refusal = ""
        self.refusals = 0
        self.keyed_call: tuple[str, str, float] | None = None   # (service, digits so far, until)
        self.sign_health: SignHealth | None = None
        self.keys_fault: str | None = None
        self.keypad: KeyPad | None = None
        self.calls = 0
        self.sim_backlog: deque[dict[str, Any]] = deque()
        self.sign = Sign(counter.sign, url=sign_url)
        self.sign_url = self.sign.url

    def attach(self, shell: DeviceShell) -> None:
        super().attach(shell)
        self.view.availability = shell.availability
        self.requests = shell.requests
        try:
            self.keypad = KeyPad(self.counter.keys, self.pin_factory, shell.inbox)
        except Exception as err:  # a GPIO error (pin busy, no permission) is a fault, not a crash
            log.error("counter keys unavailable: %s", err)
            self.keys_fault = str(err)
        self.sign_link = SignLink(self.sign, lambda health: shell.inbox.put(SignReport(health)))

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.sign_link.start()

    def close(self) -> None:
        self.sign_link.stop()
        if self.keypad is not None:
            self.keypad.close()

    # --- the owner's inputs -----------------------------------------------------------------
    def on_input(self, item: Any) -> None:
        now = time.monotonic()
        if isinstance(item, KeyEdge):
            if self.debouncer.accept(item.key, item.at, repeats=item.key.startswith("digit_")):
                self.press(item.key, item.service, now)
            else:
                log.debug("key %s: bounce or double press ignored", item.key)
        elif isinstance(item, SignReport):
            self.sign_health = item.health
            if not item.health.ok:
                log.warning("sign fault: %s", item.health.detail)
            else:
                log.info("sign shows %r", item.health.shown)

    def on_state(self, state: StateDoc) -> None:
        if self.view.apply_state(state):
            self._keep_clerk_logged_in()

    def on_availability(self, available: bool) -> None:
        if available:
            self._keep_clerk_logged_in()

    def on_sim(self, payload: dict[str, Any]) -> None:
        self._sim(payload, time.monotonic())

    def _sim(self, payload: dict[str, Any], now: float) -> None:
        """R/sim/counter.C: {"press": key[, "service": s]}, {"login": clerk}, {"logout": true},
        {"sign": "unplugged"|"ok"}.

        Sim presses are deliberate (a script, not a finger): no bounce filter, and one arriving
        while a request is in flight waits for that answer instead of being ignored, so "finish"
        then "rate_2" sent back to back both count. The wait is bounded: when the request in flight
        is given up, the waiting presses are dropped too (nothing is kept for later).
        """
        sign = payload.get("sign")
        if sign in ("unplugged", "ok"):
            self.sign_link.replug(UNPLUGGED_URL if sign == "unplugged" else self.sign_url)
            return
        if self.requests.pending or self.sim_backlog:
            if len(self.sim_backlog) >= SIM_BACKLOG:
                log.warning("sim: %d presses already waiting; %s dropped", SIM_BACKLOG, payload)
                return
            self.sim_backlog.append(payload)
            return
        self._sim_now(payload, now)

    def _drain_sim(self, now: float) -> None:
        while self.sim_backlog and not self.requests.pending:
            self._sim_now(self.sim_backlog.popleft(), now)

    def _sim_now(self, payload: dict[str, Any], now: float) -> None:
        press = payload.get("press")
        if isinstance(press, str):
            service = payload.get("service")
            if press == "transfer" and isinstance(service, str):
                self._request("transfer", now, service=service)
            elif press == "call":
                number = payload.get("number")
                if isinstance(number, str) and number:
                    self._request("call", now, number=number)
                else:
                    log.warning("sim: call needs a ticket number, e.g. {\"press\": \"call\", \"number\": \"A015\"}")
            elif press == "resume":
                self._request("resume", now)
            elif press == "suspend":
                self._request("suspend", now)
            elif press in CLERK_KEYS or press in RATE_KEYS or press == "call_key" or press.startswith("digit_"):
                self.press("call" if press == "call_key" else press, None, now)
            elif press in self.services:
                self.press("transfer_to", press, now)
            else:
                log.warning("sim: unknown key %r", press)
            return
        login = payload.get("login")
        if isinstance(login, str) and login:
            self.wanted_clerk = login
            self._request("login", now, clerk=login)
            return
        if payload.get("logout") is True:
            self.wanted_clerk = None
            self._request("logout", now)
            return
        log.warning("sim: nothing to do with %s", payload)

    # --- keys -------------------------------------------------------------------------------
    def _keyed_call(self, key: str, service: str | None, now: float) -> bool:
        """The numeric keypad's sequence: call, optionally a service key (its prefix; default the
        counter's first service), then three digits: that ticket is called out of order. True when
        the key belonged to the sequence."""
        entry = self.keyed_call
        if entry is not None and now > entry[2]:
            log.info("call by number: no digits for %g s, abandoned", CALL_ENTRY_S)
            entry = self.keyed_call = None
        if key == "call":
            if entry is not None:
                self.keyed_call = None
                log.info("call by number cancelled")
            else:
                self.keyed_call = (self.counter.services[0], "", now + CALL_ENTRY_S)
                log.info("call by number: a service key (optional), then three digits")
            return True
        if entry is None:
            return False
        if key == "transfer_to" and service is not None:
            self.keyed_call = (service, entry[1], now + CALL_ENTRY_S)
            return True
        if key.startswith("digit_"):
            digits = entry[1] + key[-1]
            if len(digits) < 3:
                self.keyed_call = (entry[0], digits, now + CALL_ENTRY_S)
                return True
            self.keyed_call = None
            prefix = next((s.prefix for s in self.config.service if s.id == entry[0]), "")
            self._request("call", now, number=f"{prefix}{digits}")
            return True
        self.keyed_call = None          # any other key ends the entry, and does what it does
        return False

    def press(self, key: str, service: str | None, now: float) -> None:
        if self._keyed_call(key, service, now):
            return
        armed = now < self.transfer_armed_until
        self.transfer_armed_until = 0.0
        if armed:
            if key == "transfer_to" and service is not None:
                self._request("transfer", now, service=service)
                return
            if key == "transfer":
                log.info("transfer cancelled")
                return
            if key == "recall":
                self._next_clerk(now)
                return
            if key == "no_show":
                self.wanted_clerk = None
                self._request("logout", now)
                return
        if key == "transfer":
            self.transfer_armed_until = now + self.counter.transfer_window_s
            log.info("transfer: press the target service's key within %g s", self.counter.transfer_window_s)
        elif key == "transfer_to":
            log.info("transfer target %s pressed without the transfer key first: ignored", service)
        elif key == "next":
            self._request("call_next", now)
        elif key in ("recall", "finish", "no_show"):
            self._request(key, now)
        elif key == "suspend":
            self._request("resume" if self.view.status == "suspended" else "suspend", now)
        elif key in RATE_KEYS:
            self._rate(int(key[-1]), now)

    def _next_clerk(self, now: float) -> None:
        clerks = self.counter.clerks
        if not clerks:
            log.warning("login by keys: no [[counter]] clerks configured")
            return
        current = self.view.clerk
        index = (clerks.index(current) + 1) % len(clerks) if current in clerks else 0
        self.wanted_clerk = clerks[index]
        self._request("login", now, clerk=clerks[index])

    def _rate(self, rating: int, now: float) -> None:
        # after a restart the counter does not know what it served last: the controller decides
        if self.view.rating_spent:
            log.info("rating %d ignored: the last ticket was rated already", rating)
            return
        self._request("rate", now, rating=rating)

    def _request(self, op: str, now: float, **args: Any) -> None:
        if not self.view.online:
            log.warning("%s refused: controller offline; press again when the offline lamp is out", op)
            self.view.refused_offline(now)
            self._refused(op, "offline", "the controller is not reachable; press again when the offline lamp is out")
            return
        slot = CLERK_OPS if op in CLERK_OPS else SESSION_OPS if op in SESSION_OPS else {op}
        if self.requests.busy_with(slot):
            log.info("%s ignored: a request is already in flight", op)
            return
        if op == "call_next":
            self.calls += 1
        # extension: when the counter stops waiting (UTC). The counter never sends it after that;
        # a controller that checks it can refuse a copy it only reads later (it was frozen).
        sent_at = self.clock.wall()
        not_after = sent_at + timedelta(seconds=self.counter.give_up_s * self.clock.speed)
        self.shell.request(
            op,
            lambda reply: self._on_reply(op, reply),
            give_up_after=self.counter.give_up_s,
            on_give_up=lambda: self._on_give_up(op),
            sent_at=sent_at.isoformat(timespec="milliseconds"),
            not_after=not_after.isoformat(timespec="milliseconds"),
            **args,
        )

    def _on_reply(self, op: str, reply: ReplyDoc) -> None:
        now = time.monotonic()
        if not reply.ok:
            log.info("%s refused: %s %s", op, reply.code, reply.message)
            self._refused(op, reply.code, reply.message)
        self.view.apply_reply(op, reply, now)
        self._drain_sim(now)

    def _refused(self, op: str, code: str, message: str) -> None:
        """Said on the status (``refused``), so a supervisor or `hallq sim` sees why a key did nothing."""
        self.refusals += 1
        self.last_refusal = f"{op}: {code} ({message})" if message else f"{op}: {code}"

    def _on_give_up(self, op: str) -> None:
        self._refused(op, "no_answer", f"not answered within {self.counter.give_up_s:g} s: dropped, never sent later")
        log.warning("%s not answered within %g s: dropped, never sent later; press again",
                    op, self.counter.give_up_s)
        self.view.gave_up(time.monotonic())
        if self.sim_backlog:
            log.warning("sim: %d waiting presses dropped with it", len(self.sim_backlog))
            self.sim_backlog.clear()

    def _keep_clerk_logged_in(self) -> None:
        if (self.wanted_clerk is not None and self.view.online and self.view.clerk != self.wanted_clerk
                and not self.requests.busy_with(SESSION_OPS)):
            self._request("login", time.monotonic(), clerk=self.wanted_clerk)

    # --- outputs ----------------------------------------------------------------------------
    def refresh(self, now: float) -> None:
        if self.keypad is not None:
            self.keypad.show(self.view.lamp(now))
        self.sign_link.show(self.view.sign())

    def status(self) -> dict[str, Any]:
        health = self.sign_health
        status: dict[str, Any] = {
            "sign": "unknown" if health is None else "ok" if health.ok else "fault",
            "detail": None if health is None else health.detail,
            "keys": "fault" if self.keys_fault else "ok",
        }
        if self.last_refusal:            # numbered: the same refusal twice is news twice
            status["refused"] = f"#{self.refusals} {self.last_refusal}"
        if self.keys_fault:
            status["keys_detail"] = self.keys_fault
        return status


def check_counter_config(config: Config, counter: CounterConfig) -> None:
    """What the shared config check cannot know about a counter's hardware; ConfigError names the key."""
    index = config.counter.index(counter)
    key = f"counter[{index}]"

    def fail(name: str, expected: str) -> None:
        raise ConfigError(config.path, f"{key}.{name}", expected)

    clash = duplicate_pins(counter.keys)
    if clash:
        fail("keys", f"each pin used once; {clash} used twice")
    for service, pin in counter.keys.transfer_to.items():
        if config.service_by_id(service) is None:
            fail(f"keys.transfer_to.{service}", "a service id from [[service]]")
        if not 0 <= pin <= 27:
            fail(f"keys.transfer_to.{service}", f"a BCM pin 0-27, not {pin}")
    sign = counter.sign
    if not 1 <= sign.address <= 254:
        fail("sign.address", "a bus address from 1 to 254")
    if sign.baud <= 0:
        fail("sign.baud", "a positive baud rate such as 9600")
    if sign.width < 2:
        fail("sign.width", "at least 2 columns")
    for name in ("answer_timeout_s", "retry_s", "refresh_s"):
        if getattr(sign, name) <= 0:
            fail(f"sign.{name}", "a positive number of seconds")
    if counter.keys.digits and len(counter.keys.digits) != 10:
        fail("keys.digits", "ten BCM pins, for the keys 0 to 9 in order (or none)")
    if counter.keys.digits and counter.keys.call is None:
        fail("keys.call", "a BCM pin for the call key, when the keypad has digits")
    for name, pin in [("keys.call", counter.keys.call), *((f"keys.digits[{i}]", p) for i, p in enumerate(counter.keys.digits))]:
        if pin is not None and not 0 <= pin <= 27:
            fail(name, f"a BCM pin 0-27, not {pin}")
    if counter.give_up_s <= 0 or counter.transfer_window_s <= 0:
        fail("give_up_s" if counter.give_up_s <= 0 else "transfer_window_s", "a positive number of seconds")
    if any(not clerk.strip() or len(clerk) > 64 for clerk in counter.clerks):
        fail("clerks", "names of 1 to 64 characters")
