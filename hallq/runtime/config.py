"""The hall's TOML configuration, typed and validated (contract.md, "Configuration").

Every command loads the file through :func:`load_config`. A missing or wrong key raises
:class:`~hallq.errors.ConfigError` naming the file, the key and what was expected; the CLI turns
that into exit status 2. Unknown keys are refused too: a typo in a hall's file must not be
silently ignored.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from hallq.errors import ConfigError

ID_PATTERN = re.compile(r"^[a-z0-9_-]{1,32}$")
PREFIX_PATTERN = re.compile(r"^[A-Z]{1,2}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Config tables refuse keys they do not know."""


class TlsConfig(Strict):
    ca: str                       # CA certificate that signed the broker's certificate
    cert: str | None = None       # client certificate, when the broker asks for one
    key: str | None = None
    insecure: bool = False        # skip host name check (test rigs only)
    # the broker's side, read only by `hallq broker-config` (broker_config/README.md); relative
    # paths are taken from the hall TOML's folder. Default: server.crt / server.key in --out.
    server_cert: str | None = None
    server_key: str | None = None
    require_client_cert: bool = False   # Mosquitto also asks each client for a certificate signed by `ca`


class BrokerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None   # default: the device id (contract)
    password: str | None = None
    credentials: str | None = None  # TOML file {device id = password}, written by broker-config
    tls: TlsConfig | None = None
    keepalive: int = 10           # seconds; a dead device shows offline within 1.5x this
    # Mosquitto takes each client's id from its user name (use_username_as_clientid): a stolen
    # kiosk password cannot connect as "controller" and push the controller off. Test rigs whose
    # observers borrow the controller's account while it runs turn it off; a hall keeps it on.
    bind_client_ids: bool = True


class HallTexts(Strict, frozen=True):
    """One wording per situation, used alike by the hall screens, tickets and counter signs
    (docs/display.md). The operator's outage message, when given, is shown as the message."""
    outage: str = "系统维护中，请稍候"
    outage_en: str = "System maintenance, please wait"
    controller_away: str = "系统连接中，请稍候"
    controller_away_en: str = "Queue system reconnecting, please wait"
    closed: str = "暂停营业"
    closed_en: str = "Closed"
    suspended: str = "暂停服务"
    suspended_en: str = "Suspended"
    service_suspended: str = "暂停取号"           # suspending stops issuing; issued tickets are still called
    service_suspended_en: str = "No new tickets now"


class HallConfig(Strict):
    id: str
    name: str
    name_en: str = ""
    timezone: str = "Asia/Shanghai"
    hours: list[list[str]] | None = None
    # what a declared outage does to issuing: keep issuing (tickets marked) or refuse
    outage_issuing: Literal["continue", "refuse"] = "continue"
    no_show_reinstate_s: int = 1800   # a late customer may be put back within this window
    rating_window_s: int = 120        # the rating pad rates the last ticket within this window
    appointment_early_s: Annotated[int, msgspec.Meta(ge=0)] = 3600  # check-in opens this long before a slot
    appointment_late_s: Annotated[int, msgspec.Meta(ge=0)] = 900    # after slot + this, a check-in is a walk-in
    recent_calls: int = 8             # how many calls the state keeps for screens
    service_level_wait_s: int = 900   # report: share served within this wait
    service_level_share: float = 0.8  # report: the target share
    # calling rules (hallq/core/rules.py, docs/controller.md "Calling rules"): 0 keeps the default for each
    # at most this many priority tickets of a service called in a row while a walk-in of it waits (0: always first)
    priority_per_normal: Annotated[int, msgspec.Meta(ge=0, le=50)] = 0
    # a walk-in who has waited this long goes ahead of priority tickets and due appointments (0: never)
    ageing_s: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 0
    # a journey's next step queues by the ticket's issue time ("issued": it keeps its place in the hall,
    # as a transfer does) or by the time it finished the step before ("step": behind those already waiting)
    journey_order: Literal["issued", "step"] = "issued"
    # a counter free this long (since its last customer or its return from a pause) calls the next ticket
    # by itself once that ticket has waited as long; 0: only the clerk calls. Not a counter's first call
    # of the day (a desk nobody sat at must not call), nor a paused one, nor one whose terminal is away.
    auto_call_s: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 0
    # an appointment checked in on time: "ahead" of walk-ins once its slot began (and queued by the slot
    # before), or "interleaved": among walk-ins as if it had taken a ticket at its slot's start
    appointment_place: Literal["ahead", "interleaved"] = "ahead"
    # joining from a phone ([[service]] remote_daily_cap): tickets a day per phone and per address, and a
    # remote ticket whose customer has not confirmed arriving when its turn comes: "wait" (kept in its
    # place, not called until confirmed) or "skip" (passed over as a no-show, to be put back as any no-show)
    remote_per_device: Annotated[int, msgspec.Meta(ge=1, le=50)] = 2
    remote_per_address: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 20
    remote_unconfirmed: Literal["wait", "skip"] = "wait"
    texts: HallTexts = HallTexts()
    # a kiosk's issue/check-in requests beyond this rate (after a burst) are refused `rate_limited`:
    # a printer prints a ticket in about 2 s and a person presses every few seconds; a queue at
    # opening time presses faster for a moment (the burst); 0 turns the limit off (benchmarks)
    kiosk_rate_per_s: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    kiosk_burst: Annotated[int, msgspec.Meta(ge=1)] = 10
    # the share of a service's 999 numbers one kiosk may issue a day, or twice what the busiest
    # other kiosk of the service issued if more (`kiosk_quota` beyond, and an alert); the hall's
    # only kiosk for a service, or 1, has no limit
    kiosk_day_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    # what the controller's database keeps (hallq/controller/retention.py): events this many days, and the oldest
    # days beyond the last 31 go first once the records take more than keep_records_mb
    keep_events_days: Annotated[int, msgspec.Meta(ge=31)] = 400
    keep_records_mb: Annotated[int, msgspec.Meta(ge=50)] = 2000


class ServiceConfig(Strict):
    id: str
    name: str
    prefix: str
    name_en: str = ""
    est_service_s: int = 300      # service time assumed until measured ones exist
    # a journey (one number through several services, e.g. 受理 -> 缴费 -> 领证): the services a ticket
    # of this one goes on to, in order, each time a counter finishes a step (docs/controller.md "Journeys")
    route: list[str] = []
    # tickets a day a phone may take through the hall's join page (0: joining from a phone not offered)
    remote_daily_cap: Annotated[int, msgspec.Meta(ge=0, le=9999)] = 0
    # customers book it on the web's booking page: slots of this many minutes within the hours (0: only
    # operators book it), this many bookings per slot for each counter serving it, up to this many days ahead
    booking_slot_min: Annotated[int, msgspec.Meta(ge=0, le=240)] = 0
    booking_per_counter: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1
    booking_days: Annotated[int, msgspec.Meta(ge=0, le=90)] = 14


class SignConfig(Strict):
    """The LED sign above a counter, on a serial line."""
    port: str = "loop://"         # e.g. /dev/ttyUSB0; loop:// in tests and stubs
    baud: int = 9600
    protocol: Literal["line", "ledbox"] = "line"
    address: int = 1              # controller address on an RS-485 bus (ledbox protocol)
    width: int = 16               # characters the sign shows at once
    idle_text: str = "欢迎光临"
    # added for the counter terminal (docs/counter.md)
    encoding: Literal["gb18030", "gb2312", "utf-8"] = "gb18030"
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    ack: bool = True              # the sign answers each frame (line: echo; ledbox: ACK frame)
    answer_timeout_s: float = 0.3
    refresh_s: float = 30.0       # resend the text this often: checks the sign, restores a power-cycled one
    retry_s: float = 2.0          # a faulty sign is tried again this often (and redrawn when it answers)
    serving_text: str = "请{number}号"   # {number}, {counter} and {service} are filled in
    suspended_text: str | None = None   # default: [hall.texts] suspended
    offline_text: str | None = None     # the controller away; default: [hall.texts] controller_away


class CounterKeys(Strict):
    """BCM pin numbers of the clerk's keys, lamps and the rating pad."""
    next: int = 5
    recall: int = 6
    finish: int = 13
    no_show: int = 19
    suspend: int = 26             # toggles suspend / resume
    transfer: int = 21            # then a service key (transfer_to)
    transfer_to: dict[str, int] = {}
    call: int | None = None       # a numeric keypad's call key: call, [a service key], three digits
    digits: list[int] = []        # that keypad's keys 0-9 (ten pins, in order)
    rate_1: int = 16              # 满意
    rate_2: int = 20              # 一般
    rate_3: int = 12              # 不满意
    lamp_serving: int = 17
    lamp_idle: int = 27
    lamp_suspended: int = 22
    lamp_offline: int = 23
    bounce_s: float = 0.05
    repeat_s: float = 1.0         # the same key again within this is a double press: ignored
    active_high: bool = False     # keys pull the pin low when pressed (internal pull-up) unless set


class CounterConfig(Strict):
    id: str
    name: str
    services: list[str]
    number: int | None = None     # spoken window number; default: the digits of the name
    # "oldest": the longest waiting across its services; "service_order": its first service before the
    # next; "weighted": its services in proportion to ``weights`` (3 and 1: three calls of one per one of the other)
    call_order: Literal["oldest", "service_order", "weighted"] = "oldest"
    weights: dict[str, int] = {}
    clerk: str | None = None      # logged in at start, when set
    clerks: list[str] = []        # who may log in by key sequence (transfer, recall cycles them)
    give_up_s: float = 4.0        # a key's request unanswered this long is dropped, never sent later
    transfer_window_s: float = 5.0  # after the transfer key, a target key must follow within this
    sign: SignConfig = msgspec.field(default_factory=SignConfig)
    keys: CounterKeys = msgspec.field(default_factory=CounterKeys)


class ClerkConfig(Strict):
    """A clerk's skills: while they are logged in at a counter, it serves these services (in this
    order or with these weights) instead of its own."""
    id: str
    name: str = ""
    services: list[str] = []
    call_order: Literal["oldest", "service_order", "weighted"] = "oldest"
    weights: dict[str, int] = {}


class PrinterConfig(Strict):
    """The kiosk's thermal printer and how python-escpos reaches it."""
    # no default: a kiosk that is not --stub must say how it prints ("dummy" prints nowhere, on purpose)
    transport: Literal["usb", "serial", "network", "file", "dummy"] | None = None
    width_mm: Literal[58, 80] = 80
    usb_vendor: int | None = None
    usb_product: int | None = None
    device: str | None = None     # serial port or file path
    baud: int = 9600
    host: str | None = None
    tcp_port: int = 9100
    # printer profile for Chinese text; "raster": no Chinese font, the ticket goes out as a picture
    chinese: Literal["fs_and", "gb18030_only", "gb2312", "raster"] = "fs_and"
    qr_url: str | None = None     # QR code on the ticket (e.g. queue status page), {ticket} filled
    notice: str = "请留意叫号，过号请到服务台 Please listen for your number"
    status_timeout_s: float = 0.5
    rtscts: bool = False          # serial: hardware flow control (RTS/CTS)
    cut: bool = True              # the printer has a cutter
    status_poll_s: float = 5.0    # ask the printer how it is this often while idle


class KioskButtons(Strict):
    """BCM pins: one button and one lamp per service, and the priority button."""
    service_pins: dict[str, int] = {}
    lamp_pins: dict[str, int] = {}
    priority_pin: int | None = None
    priority_lamp_pin: int | None = None
    bounce_s: float = 0.3
    priority_window_s: float = 5.0  # after the priority button, a service button within this issues priority
    active_high: bool = False     # buttons pull the pin low when pressed (internal pull-up) unless set


class KioskConfig(Strict):
    id: str
    services: list[str]
    printer: PrinterConfig = msgspec.field(default_factory=PrinterConfig)
    buttons: KioskButtons = msgspec.field(default_factory=KioskButtons)
    lease_size: int = 20          # numbers per service leased for issuing in outage
    offline_after_s: float = 3.0  # no reply within this: issue from the lease
    refused_slip: bool = True     # print a short slip explaining a refusal (closed, suspended)


class DisplayConfig(Strict):
    id: str
    width: int = 1920
    height: int = 1080
    fullscreen: bool = True
    voice: Literal["auto", "pack", "espeak", "chime", "off"] = "auto"
    voice_pack: str | None = None  # folder of recorded clips
    english: bool = True          # also speak the call in English
    font: str | None = None       # CJK font file; default: Noto CJK SC or WenQuanYi
    theme: dict[str, str] = {}    # colour overrides, e.g. {background = "#0b2545"}
    speak_max_age_s: int = 60     # calls older than this (after an outage) are shown, not spoken
    # added for the hall screen (docs/display.md)
    orientation: Literal["auto", "landscape", "portrait"] = "auto"  # auto: from width and height
    fps: int = 30                 # frames per second of the frame loop
    show_english: bool = True     # English lines beneath the Chinese ones
    flash_s: float = 6.0          # a new call (or recall) flashes this long
    resumed_s: float = 6.0        # "service resumed" is shown this long after a reconnect
    recent_count: int = 8         # recent calls listed
    voice_speed: int = 140        # espeak-ng words per minute (halls want it slow and clear)
    voice_busy_speed: int = 200   # ... for the short form said while calls queue up (8 at once: all within 20 s)
    repeat: Annotated[int, msgspec.Meta(ge=1, le=3)] = 2   # a call is said this often when the hall is quiet
    english_max_backlog: Annotated[int, msgspec.Meta(ge=0)] = 0  # English only with at most this many calls waiting
    voice_max_delay_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0  # calls waiting longer are shown, not said
    speak_counters: list[str] = []  # this screen's zone: speak only these counters (empty: all)
    overscan: Annotated[float, msgspec.Meta(ge=0, le=0.1)] = 0.03  # margin kept clear on each edge (TV overscan)
    chime: str | None = None      # WAV file for the chime; default: the voice pack's, else built in
    audio_player: Literal["auto", "mixer", "aplay"] = "auto"
    audio_out: str | None = None  # write each spoken call as a WAV file here instead of playing it


class SmsConfig(Strict):
    """A GSM modem on the hall's server for SMS to customers who left a number (docs/controller.md "SMS")."""
    port: str                         # e.g. /dev/ttyUSB2 (a pyserial URL in tests)
    baud: int = 115200
    near: Annotated[int, msgspec.Meta(ge=0, le=50)] = 3          # "your turn is near" with this many ahead
    more_time_places: Annotated[int, msgspec.Meta(ge=1, le=50)] = 3   # a reply "1" moves it back this far, once
    remind_before_s: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 3600  # a booking's reminder, this long before its slot
    poll_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0    # how often received messages are read
    retry_max_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 300.0


class AdminConfig(Strict):
    id: str


PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10")


class WebConfig(Strict):
    """``hallq web``: the console, the customers' phone pages and the browser hall screen."""
    public_url: str | None = None     # with it, every ticket's QR code opens <public_url>/t/<token>
    listen: str = "0.0.0.0:8080"      # HOST:PORT (``--listen`` overrides)
    id: str = "web"                   # its MQTT identity is admin.<id> (it sends operators' requests)
    near: int = 3                     # the phone page says "your turn is near" with this many ahead
    # the secret in the QR code at the hall's door (<public_url>/arrive?door=<door_code>): a phone that joined
    # the queue confirms it is here by scanning it (none: only by its arrival code at a kiosk)
    door_code: Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    # webhooks (hallq web token add --webhook): a failed delivery is tried again after 1, 2, 4 ... seconds,
    # at most this far apart; a receiver that fails this long is disabled (hallq web token enable resumes it)
    webhook_retry_max_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 300.0
    webhook_give_up_s: Annotated[float, msgspec.Meta(gt=0)] = 86400.0
    session_hours: float = 12.0       # a console login lasts this long
    secure_cookies: bool | None = None  # Secure cookie flag (and HSTS); default: when public_url is https
    # the addresses of proxies in front of hallq web whose X-Forwarded-For is believed (none: the
    # peer's address is the client's, whatever a request claims)
    trusted_proxies: list[str] = []
    # the hall's own network: wrong passwords from here never make an address wait as a whole
    # (hallq/http/accounts.py), so a supervisor in the hall can always log in
    hall_networks: list[str] = msgspec.field(default_factory=lambda: list(PRIVATE_NETWORKS))
    streams_per_client: Annotated[int, msgspec.Meta(ge=1)] = 64   # open pages that follow the hall, per address
    max_streams: Annotated[int, msgspec.Meta(ge=1)] = 4000        # ... in all (also bounded by the descriptors)


class Config(Strict):
    hall: HallConfig
    broker: BrokerConfig = msgspec.field(default_factory=BrokerConfig)
    service: list[ServiceConfig] = []
    counter: list[CounterConfig] = []
    clerk: list[ClerkConfig] = []
    kiosk: list[KioskConfig] = []
    display: list[DisplayConfig] = []
    admin: list[AdminConfig] = []
    web: WebConfig | None = None
    sms: SmsConfig | None = None
    path: str = ""                # where it was read from (set by load_config)

    # --- look-ups -------------------------------------------------------------------------
    def service_by_id(self, service_id: str) -> ServiceConfig | None:
        return next((s for s in self.service if s.id == service_id), None)

    def counter_by_id(self, counter_id: str) -> CounterConfig | None:
        return next((c for c in self.counter if c.id == counter_id), None)

    def kiosk_by_id(self, kiosk_id: str) -> KioskConfig | None:
        return next((k for k in self.kiosk if k.id == kiosk_id), None)

    def display_by_id(self, display_id: str) -> DisplayConfig | None:
        return next((d for d in self.display if d.id == display_id), None)

    def require(self, table: Literal["kiosk", "counter", "display"], ident: str) -> KioskConfig | CounterConfig | DisplayConfig:
        """The [[table]] with this id, or a ConfigError naming the ids the file has."""
        items = getattr(self, table)
        found = next((item for item in items if item.id == ident), None)
        if found is None:
            known = ", ".join(item.id for item in items) or "none"
            raise ConfigError(self.path or "<config>", "--id", f"a [[{table}]] id from the file ({known}), not {ident!r}")
        return found

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.hall.timezone)

    @property
    def opening_hours(self) -> list[tuple[time, time]] | None:
        if self.hall.hours is None:
            return None
        return [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in self.hall.hours]

    def device_ids(self) -> list[str]:
        ids = [f"kiosk.{k.id}" for k in self.kiosk]
        ids += [f"counter.{c.id}" for c in self.counter]
        ids += [f"display.{d.id}" for d in self.display]
        ids += [f"admin.{a.id}" for a in self.admin]
        if self.web is not None and f"admin.{self.web.id}" not in ids:
            ids.append(f"admin.{self.web.id}")
        return ids

    def knows_device(self, device_id: str) -> bool:
        kind, _, ident = device_id.partition(".")
        if kind == "admin":
            # operators' tools: any admin id; the broker's password file decides who may connect
            return bool(ID_PATTERN.match(ident))
        return device_id in self.device_ids()

    def counter_number(self, counter_id: str) -> int | None:
        counter = self.counter_by_id(counter_id)
        if counter is None:
            return None
        if counter.number is not None:
            return counter.number
        digits = re.findall(r"\d+", counter.name) or re.findall(r"\d+", counter.id)
        return int(digits[0]) if digits else None


def _key_from_msgspec(message: str) -> tuple[str, str]:
    """Turn msgspec's "... - at `$.service[0].prefix`" into ("service[0].prefix", "...")."""
    what, sep, where = message.rpartition(" - at ")
    if not sep:
        return "(file)", message
    key = where.strip("`").removeprefix("$").lstrip(".") or "(top level)"
    missing = re.match(r"Object missing required field `(.+)`", what)
    if missing:
        return f"{key}.{missing.group(1)}" if key != "(top level)" else missing.group(1), \
            "required key is missing"
    unknown = re.match(r"Object contains unknown field `(.+)`", what)
    if unknown:
        return f"{key}.{unknown.group(1)}" if key != "(top level)" else unknown.group(1), \
            "unknown key (a typo?)"
    return key, what


# keys older halls' files may still carry: read past with a warning instead of refusing the file
RETIRED_KEYS = {
    "display": {"call_hold_s": "every live call is shown at once", "call_max_hold_s": "every live call is shown at once"},
}


def _without_retired_keys(data: dict, path: str) -> dict:
    out = dict(data)
    for table, keys in RETIRED_KEYS.items():
        entries = out.get(table)
        if not isinstance(entries, list):
            continue
        kept = []
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and keys.keys() & entry.keys():
                for key in sorted(keys.keys() & entry.keys()):
                    logging.getLogger("hallq.config").warning(
                        "%s: %s[%d].%s is no longer used (%s): remove it", path, table, i, key, keys[key])
                entry = {k: v for k, v in entry.items() if k not in keys}
            kept.append(entry)
        out[table] = kept
    return out


def parse_config(data: dict, path: str = "<config>") -> Config:
    """Validate an already-parsed TOML document; raise ConfigError on the first problem."""
    try:
        config = msgspec.convert(_without_retired_keys(data, path), Config, strict=True)
    except msgspec.ValidationError as err:
        key, expected = _key_from_msgspec(str(err))
        raise ConfigError(path, key, expected) from None
    _check_semantics(config, path)
    config.path = path
    return config


def _check_semantics(config: Config, path: str) -> None:
    def fail(key: str, expected: str) -> None:
        raise ConfigError(path, key, expected)

    if not ID_PATTERN.match(config.hall.id):
        fail("hall.id", "an id of 1 to 32 characters from a-z 0-9 _ -")
    try:
        ZoneInfo(config.hall.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail("hall.timezone", f"a time zone name such as Asia/Shanghai, not {config.hall.timezone!r}")
    if config.hall.hours is not None:
        previous_end = ""
        for i, span in enumerate(config.hall.hours):
            if len(span) != 2 or not all(HHMM.match(t) for t in span) or span[0] >= span[1]:
                fail(f"hall.hours[{i}]", 'a pair ["HH:MM", "HH:MM"] with the start before the end')
            if previous_end and span[0] < previous_end:
                fail(f"hall.hours[{i}]", "spans in order and not overlapping")
            previous_end = span[1]
    if config.broker.port < 1 or config.broker.port > 65535:
        fail("broker.port", "a TCP port from 1 to 65535")
    if not config.service:
        fail("service", "at least one [[service]]")
    seen_ids: set[str] = set()
    seen_prefixes: set[str] = set()
    for i, service in enumerate(config.service):
        if not ID_PATTERN.match(service.id):
            fail(f"service[{i}].id", "an id of 1 to 32 characters from a-z 0-9 _ -")
        if service.id in seen_ids:
            fail(f"service[{i}].id", f"a unique id; {service.id!r} is used twice")
        if not PREFIX_PATTERN.match(service.prefix):
            fail(f"service[{i}].prefix", "one or two capital letters A-Z")
        if service.prefix in seen_prefixes:
            fail(f"service[{i}].prefix", f"a unique prefix; {service.prefix!r} is used twice")
        if service.est_service_s <= 0:
            fail(f"service[{i}].est_service_s", "a positive number of seconds")
        seen_ids.add(service.id)
        seen_prefixes.add(service.prefix)
    for i, service in enumerate(config.service):
        for j, step in enumerate(service.route):
            if step not in seen_ids:
                fail(f"service[{i}].route[{j}]", f"a service id of this file ({', '.join(sorted(seen_ids))}), not {step!r}")
            if step == service.id or step in service.route[:j]:
                fail(f"service[{i}].route[{j}]", f"a service the journey has not passed yet; {step!r} comes twice")
        if len(service.route) > 8:
            fail(f"service[{i}].route", "at most 8 further steps")
    if config.web is not None:
        if config.web.public_url is not None and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", config.web.public_url):
            fail("web.public_url", "an http:// or https:// address such as http://192.168.1.10:8080, "
                                   "without query or fragment")
        if not ID_PATTERN.match(config.web.id):
            fail("web.id", "an id of 1 to 32 characters from a-z 0-9 _ -")
        if not re.match(r"^[^\s:]*:\d{1,5}$", config.web.listen):
            fail("web.listen", "HOST:PORT such as 0.0.0.0:8080")
        if config.web.near < 0:
            fail("web.near", "a number of people, 0 or more")
        for key in ("trusted_proxies", "hall_networks"):
            for i, value in enumerate(getattr(config.web, key)):
                try:
                    ipaddress.ip_network(value, strict=False)
                except ValueError:
                    fail(f"web.{key}[{i}]", f"an address or network such as 192.168.10.0/24, not {value!r}")
    for table, items in (("counter", config.counter), ("clerk", config.clerk)):
        seen_clerks: set[str] = set()
        for i, item in enumerate(items):
            if table == "clerk":          # (a counter's services are checked with the other tables' below)
                if item.id in seen_clerks:
                    fail(f"clerk[{i}].id", f"a unique clerk id; {item.id!r} is used twice")
                seen_clerks.add(item.id)
                for j, service in enumerate(item.services):
                    if service not in seen_ids:
                        fail(f"clerk[{i}].services[{j}]", f"a service id from [[service]], not {service!r}")
            for service, weight in item.weights.items():
                if service not in item.services:
                    fail(f"{table}[{i}].weights.{service}", f"a weight for one of its services ({', '.join(item.services)})")
                if not 1 <= weight <= 100:
                    fail(f"{table}[{i}].weights.{service}", f"a whole number from 1 to 100, not {weight}")
            if item.call_order == "weighted" and not item.weights:
                fail(f"{table}[{i}].weights", 'weights for its services with call_order = "weighted", e.g. { pay = 3, biz = 1 }')
    for table in ("counter", "kiosk", "display", "admin"):
        ids: set[str] = set()
        for i, item in enumerate(getattr(config, table)):
            if not ID_PATTERN.match(item.id):
                fail(f"{table}[{i}].id", "an id of 1 to 32 characters from a-z 0-9 _ -")
            if item.id in ids:
                fail(f"{table}[{i}].id", f"a unique id; {item.id!r} is used twice")
            ids.add(item.id)
            for j, service_id in enumerate(getattr(item, "services", [])):
                if service_id not in seen_ids:
                    fail(f"{table}[{i}].services[{j}]", f"a service id from [[service]], not {service_id!r}")
            if table in ("counter", "kiosk") and not item.services:
                fail(f"{table}[{i}].services", "at least one service id")
    counter_ids = {c.id for c in config.counter}
    for i, display in enumerate(config.display):
        for j, counter_id in enumerate(display.speak_counters):
            if counter_id not in counter_ids:
                fail(f"display[{i}].speak_counters[{j}]", f"a counter id from [[counter]], not {counter_id!r}")
    for i, kiosk in enumerate(config.kiosk):
        if not 1 <= kiosk.lease_size <= 200:
            fail(f"kiosk[{i}].lease_size", "a block size from 1 to 200 numbers")


def load_config(path: str | os.PathLike[str], broker: str | None = None) -> Config:
    """Read and validate the hall's TOML; ``broker`` ("HOST:PORT") or $HALLQ_BROKER override it."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise ConfigError(str(path), "(file)", f"a readable TOML file ({err.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "(file)", "UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), "(syntax)", f"valid TOML ({err})") from None
    config = parse_config(data, str(path))
    override = broker or os.environ.get("HALLQ_BROKER")
    if override:
        config.broker.host, config.broker.port = parse_host_port(override, str(path))
    return config


def parse_host_port(value: str, source: str = "--broker") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(source, "broker", f"HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


def resolve_path(config: Config, value: str) -> str:
    """A path from the hall's TOML: relative paths are taken from the TOML file's folder."""
    path = Path(value)
    if not path.is_absolute() and config.path:
        path = Path(config.path).parent / path
    return str(path)


APPOINTMENT_KEY = "appointment_key"    # the credentials file's line that is no device's password


def appointment_key(config: Config) -> bytes:
    """The hall's key for appointment codes (``appointment_key`` in the credentials file); without
    one (an older install), a key anyone can derive, with a warning: codes are then only as safe
    as the kiosks' disks."""
    from hallq.contract.tokens import fallback_key
    value = _credentials(config).get(APPOINTMENT_KEY)
    if isinstance(value, str) and len(value) >= 16:
        return value.encode()
    logging.getLogger("hallq.config").warning(
        "%s: no %s in the credentials file: appointment codes are hashed with a key anyone can derive "
        "(make the bundle again: it adds one)", config.path or "<config>", APPOINTMENT_KEY)
    return fallback_key(config.hall.id)


def _credentials(config: Config) -> dict[str, object]:
    if not config.broker.credentials:
        return {}
    cred_path = Path(config.broker.credentials)
    if not cred_path.is_absolute() and config.path:
        cred_path = Path(config.path).parent / cred_path
    try:
        return tomllib.loads(cred_path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(str(cred_path), "broker.credentials", f"a readable credentials TOML ({err})") from None


def device_password(config: Config, device_id: str) -> str | None:
    """The password this device presents: [broker] password, else its line in the credentials file."""
    if config.broker.password is not None:
        return config.broker.password
    value = _credentials(config).get(device_id)
    return value if isinstance(value, str) else None
