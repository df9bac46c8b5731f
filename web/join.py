"""Joining the queue from a phone (远程取号): the hall's join pages and the door's QR code.

``/join`` lists the services a phone may join (``[[service]] remote_daily_cap``); ``/join/<service>``
shows how many wait and the wait a newcomer is told, and a button. Pressing it sends the ``join`` op:
the controller issues a ticket in the same numbering and order as the kiosks', marked remote and not
yet here (hallq/core/rules.py), or refuses (hours, a suspended service, the day's cap, the limits per
phone and per address: each said in words). The phone keeps its ticket's token in a cookie and is sent
to its live page. On arrival the customer scans the QR code at the door (``/arrive?door=<code>``,
``[web] door_code``) or types the arrival code at a kiosk; only then is the ticket called.

The limits count keyed hashes of the phone's cookie and of its address (a key kept in the web's data
folder, mode 0600): neither can be read back from the hall's records. Nothing is promised while the
controller is away: the page says so and offers no button.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import os
import re
import secrets
from pathlib import Path
from typing import Any

from hallq.http.pages import Lang, page
from hallq.runtime.config import Config
from hallq.runtime.i18n import N_, gettext, minutes, service_name

PHONE_COOKIE = "hallq_phone"       # a random id per phone: the per-phone limit counts its hash
TICKET_COOKIE = "hallq_ticket"     # the token of the ticket this phone joined with (for the door's QR code)
NONCE_COOKIE = "hallq_join"        # double-submit: the form's hidden field must equal it (no cross-site joins)

# the controller's refusals, in the customer's words
REFUSED = {
    "remote_cap": N_("Today's tickets from phones for this service are all taken: please take one at the hall's ticket machine."),
    "remote_limit": N_("This phone (or this network) has taken as many tickets today as it may."),
    "hall_closed": N_("The hall is not issuing tickets now: please come back during opening hours."),
    "service_suspended": N_("This service is not issuing tickets now: please ask at the hall."),
    "outage": N_("The hall is not issuing tickets now: please ask at the hall."),
    "not_allowed": N_("Joining from a phone is not offered for this service."),
    "numbers_exhausted": N_("Today's numbers are used up: please ask at the hall."),
}
AWAY = N_("Joining from a phone is not possible at the moment: please take a ticket at the hall's ticket machine.")

WORDS = {
    "title": N_("Join the queue"), "pick": N_("Choose a service"), "none": N_("No service can be joined from a phone."),
    "waiting": N_("{n} waiting, about {wait}"), "waiting_unknown": N_("{n} waiting; the wait cannot be estimated now"),
    "button": N_("Take a number"), "how": N_("Your number is kept in the queue in order with the hall's tickets. "
                                            "When you arrive, scan the QR code at the door, or type your arrival "
                                            "code at a ticket machine: you are called only once you are here."),
    "left": N_("{n} tickets from phones left today"),
    "door_bad": N_("This is not the code at the hall's door: please scan the QR code at the entrance."),
    "door_no_ticket": N_("This phone holds no ticket taken from a phone today."),
    "phone": N_("Mobile number for an SMS when your turn is near (optional; kept only until the end of today)"),
    "phone_bad": N_("A mobile number has 11 digits, such as 13800138000."),
}
PHONE = re.compile(r"^\+?[0-9]{6,15}$")


def keys_file(data_dir: Path) -> bytes:
    """The web's key for the hashes the limits count (made once, kept beside its records, mode 0600)."""
    path = Path(data_dir) / "join.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def keyed(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]


def new_code() -> str:
    """The arrival code: six digits a customer types at a kiosk."""
    return f"{secrets.randbelow(900000) + 100000}"


def offered(config: Config) -> list[str]:
    return [s.id for s in config.service if s.remote_daily_cap > 0]


def words(lang: Lang) -> dict[str, str]:
    return {k: gettext(v, lang) for k, v in WORDS.items()}


def phone_page(config: Config, title: str, body: str, lang: Lang, kind: str = "join") -> str:
    """A customer's page on a phone (joining, booking): the hall's name above ``body``."""
    hall = config.hall.name_en or config.hall.name if lang == "en" else config.hall.name
    return page(title, f'<main class="phone join {kind}"><h1 class="hall">{html.escape(hall)}</h1>{body}</main>',
                lang=lang, css="phone.css")


def services_list(config: Config, services: list[str], path: str, pick: str, none: str, lang: Lang) -> str:
    """The services a customer may choose, each a link to ``<path>/<service>``."""
    items = "".join(f'<li><a href="{path}/{html.escape(s)}">{html.escape(service_name(config, s, lang))}</a></li>'
                    for s in services)
    return f'<h2>{html.escape(pick)}</h2>' + (f'<ul class="services">{items}</ul>' if items else
                                               f'<p>{html.escape(none)}</p>')


def _page(config: Config, body: str, lang: Lang) -> str:
    return phone_page(config, gettext(WORDS["title"], lang), body, lang)


def list_page(config: Config, lang: Lang) -> str:
    w = words(lang)
    return _page(config, services_list(config, offered(config), "/join", w["pick"], w["none"], lang), lang)


def service_page(config: Config, service: str, lang: Lang, view: dict[str, Any] | None, nonce: str,
                 message: str = "") -> str:
    """``view``: the service as the hall shows it now (waiting, the newcomer's wait, phones' tickets
    left today) or None: the controller is away (no button, no promise)."""
    w = words(lang)
    name = service_name(config, service, lang)
    parts = [f'<h2 id="service" class="service">{html.escape(name)}</h2>']
    if message:
        parts.append(f'<p id="refused" class="notice" role="alert">{html.escape(message)}</p>')
    if view is None:
        parts.append(f'<p id="away" class="notice" role="status">{html.escape(gettext(AWAY, lang))}</p>')
        return _page(config, "".join(parts), lang)
    if view["est_known"]:
        parts.append(f'<p id="queue" class="detail">{html.escape(w["waiting"].format(n=view["waiting"], wait=minutes(view["est_wait_s"], lang)))}</p>')
    else:
        parts.append(f'<p id="queue" class="detail">{html.escape(w["waiting_unknown"].format(n=view["waiting"]))}</p>')
    parts.append(f'<p class="detail">{html.escape(w["left"].format(n=view["left"]))}</p>')
    if view["left"] > 0 and not view["closed"]:
        phone = ""
        if config.sms is not None:        # the hall has a modem: an SMS when the turn is near, if asked
            phone = (f'<label class="phone-field">{html.escape(w["phone"])}'
                     '<input name="phone" type="tel" inputmode="numeric" autocomplete="tel" maxlength="16" '
                     'pattern="\\+?[0-9]{6,15}"></label>')
        parts.append(f'<form method="post" action="/join/{html.escape(service)}">'
                     f'<input type="hidden" name="nonce" value="{html.escape(nonce)}">{phone}'
                     f'<button type="submit" class="primary big">{html.escape(w["button"])}</button></form>')
    parts.append(f'<p class="how">{html.escape(w["how"])}</p>')
    return _page(config, "".join(parts), lang)


def door_page(config: Config, lang: Lang, key: str) -> str:
    return _page(config, f'<p id="door" class="notice" role="alert">{html.escape(words(lang)[key])}</p>', lang)


def refusal(code: str, message: str, lang: Lang) -> str:
    return gettext(REFUSED[code], lang) if code in REFUSED else f"{code}: {message}"
