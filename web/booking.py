"""Booking a slot (网上预约): the web's booking pages for the services customers may book
(``[[service]] booking_slot_min``). ``/book/<service>`` shows the days ahead and each slot with the
places left (hallq/core/queries.py ``booking_slots``: the hours, the counters serving the service, the
places per counter); choosing one sends the ``book`` op and shows the code the controller made, which is
what the customer types at a kiosk to check in. ``/book/manage`` finds a booking by its code (a POST:
the code is never in an address) to move or cancel it (``move_booking``, ``cancel_booking``). No
personal data is asked for.
"""
from __future__ import annotations

import html
from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import format_date

from hallq.core.model import Appointment
from hallq.core.queries import booking_slots
from hallq.core.setup import Setup
from hallq.http.pages import Lang
from hallq.runtime.config import Config
from hallq.runtime.i18n import N_, gettext, normalise, service_name

from .join import phone_page, services_list

WORDS = {
    "title": N_("Book a visit"), "pick": N_("Choose a service to book"), "none": N_("No service can be booked here."),
    "day": N_("Day"), "left": N_("{n} left"), "full": N_("full"), "no_slots": N_("No slot left on this day."),
    "booked": N_("Booked: {service}, {when}"), "code": N_("Your booking code"),
    "how": N_("At the hall, type this code at a ticket machine from an hour before your time: you get a ticket "
              "that is called at your time. Keep the code: it is also how you move or cancel the booking."),
    "manage": N_("Move or cancel a booking"), "enter": N_("Booking code"), "find": N_("Find"),
    "unknown": N_("No booking has this code (or it was checked in already)."),
    "cancel": N_("Cancel this booking"), "cancelled": N_("The booking is cancelled."),
    "move": N_("Move to"), "moved": N_("Moved: {service}, {when}"),
    "away": N_("Booking is not possible at the moment: please try again later."),
    "again": N_("Please use the buttons on this page."),
    "phone": N_("Mobile number for an SMS reminder on the day (optional; kept only until the end of that day)"),
    "yours": N_("yours"),
}
REFUSED = {
    "slot_full": N_("That slot has just been taken: please choose another."),
    "not_a_slot": N_("That is not a time that can be booked: please choose a slot on this page."),
    "unknown_appointment": WORDS["unknown"], "already_checked_in": WORDS["unknown"],
}


def offered(config: Config) -> list[str]:
    return [s.id for s in config.service if s.booking_slot_min > 0]


def words(lang: Lang) -> dict[str, str]:
    return {k: gettext(v, lang) for k, v in WORDS.items()}


def when_text(slot: datetime, config: Config, lang: Lang) -> str:
    """12月7日 星期一 10:30 / Monday 7 Dec 10:30, in the hall's time."""
    local = slot.astimezone(config.zone)
    pattern = "M月d日 EEEE" if normalise(lang) == "zh_CN" else "EEEE d MMM"
    return f"{format_date(local.date(), pattern, locale=normalise(lang))} {local:%H:%M}"


def _page(config: Config, body: str, lang: Lang) -> str:
    return phone_page(config, gettext(WORDS["title"], lang), body, lang, "book")


def list_page(config: Config, lang: Lang) -> str:
    w = words(lang)
    return _page(config, services_list(config, offered(config), "/book", w["pick"], w["none"], lang)
                 + f'<p><a href="/book/manage">{html.escape(w["manage"])}</a></p>', lang)


def days_ahead(setup: Setup, service: str, now: datetime) -> list[date]:
    today = now.astimezone(setup.tz).date()
    return [today + timedelta(days=i) for i in range(setup.booking[service][2] + 1)]


def slot_buttons(config: Config, setup: Setup, state: Any, service: str, day: date, now: datetime, nonce: str,
                 lang: Lang, action: str, code: str = "", extra: str = "", current: datetime | None = None) -> str:
    """The day's slots as buttons of one form (full ones, and ``current``, the slot a moved booking
    has, disabled); ``code``: a booking being moved."""
    w = words(lang)
    slots = booking_slots(setup, state, service, day, now)
    if not any(free for _, free in slots):
        return f'<p class="detail">{html.escape(w["no_slots"])}</p>'
    hidden = f'<input type="hidden" name="nonce" value="{html.escape(nonce)}">' + \
        (f'<input type="hidden" name="code" value="{html.escape(code)}">' if code else "")
    buttons = "".join(
        f'<button type="submit" name="slot" value="{html.escape(at.isoformat())}" class="slot"'
        f'{"" if free and at != current else " disabled"}>{at:%H:%M}<small>'
        f'{html.escape(w["yours"] if at == current else w["left"].format(n=free) if free else w["full"])}</small></button>'
        for at, free in slots)
    return f'<form method="post" action="{action}" class="slots">{hidden}{extra}{buttons}</form>'


def service_page(config: Config, setup: Setup, state: Any, service: str, day: date, now: datetime, nonce: str,
                 lang: Lang, message: str = "") -> str:
    w = words(lang)
    name = service_name(config, service, lang)
    parts = [f'<h2 id="service" class="service">{html.escape(name)}</h2>']
    if message:
        parts.append(f'<p id="refused" class="notice" role="alert">{html.escape(message)}</p>')
    if state is None:
        parts.append(f'<p id="away" class="notice" role="status">{html.escape(w["away"])}</p>')
        return _page(config, "".join(parts), lang)
    current = ' aria-current="page"'
    pattern = "M月d日 EEE" if normalise(lang) == "zh_CN" else "EEE d MMM"
    tabs = "".join(f'<a href="/book/{html.escape(service)}?day={d.isoformat()}"{current if d == day else ""}>'
                   f'{html.escape(format_date(d, pattern, locale=normalise(lang)))}</a>'
                   for d in days_ahead(setup, service, now))
    parts.append(f'<nav class="days" aria-label="{html.escape(w["day"])}">{tabs}</nav>')
    reminder = ""
    if config.sms is not None:            # the hall has a modem: an SMS reminder on the day, if asked
        reminder = (f'<label class="phone-field wide">{html.escape(w["phone"])}<input name="phone" type="tel" '
                    'inputmode="numeric" autocomplete="tel" maxlength="16"></label>')
    parts.append(slot_buttons(config, setup, state, service, day, now, nonce, lang, f"/book/{html.escape(service)}",
                              extra=reminder))
    parts.append(f'<p class="how"><a href="/book/manage">{html.escape(w["manage"])}</a></p>')
    return _page(config, "".join(parts), lang)


def booked_page(config: Config, appointment: dict[str, Any], lang: Lang, moved: bool = False) -> str:
    w = words(lang)
    slot = datetime.fromisoformat(appointment["slot"])
    what = (w["moved"] if moved else w["booked"]).format(service=service_name(config, appointment["service"], lang),
                                                         when=when_text(slot, config, lang))
    return _page(config, f'<p id="booked" class="headline" role="status">{html.escape(what)}</p>'
                 f'<p class="label">{html.escape(w["code"])}</p><p id="code" class="number code">'
                 f'{html.escape(appointment["code"])}</p><p class="how">{html.escape(w["how"])}</p>'
                 f'<p><a href="/book/manage">{html.escape(w["manage"])}</a></p>', lang)


def manage_form(config: Config, nonce: str, lang: Lang, message: str = "") -> str:
    w = words(lang)
    note = f'<p id="refused" class="notice" role="alert">{html.escape(message)}</p>' if message else ""
    return _page(config, f'<h2>{html.escape(w["manage"])}</h2>{note}<form method="post" action="/book/manage">'
                 f'<input type="hidden" name="nonce" value="{html.escape(nonce)}">'
                 f'<label class="phone-field">{html.escape(w["enter"])}<input name="code" inputmode="numeric" '
                 f'autocomplete="off" maxlength="32" required></label>'
                 f'<button type="submit" class="primary big">{html.escape(w["find"])}</button></form>', lang)


def manage_page(config: Config, setup: Setup, state: Any, appointment: Appointment, now: datetime, nonce: str,
                lang: Lang, day: date | None = None) -> str:
    w = words(lang)
    what = w["booked"].format(service=service_name(config, appointment.service, lang),
                              when=when_text(appointment.slot, config, lang))
    day = day or appointment.slot.astimezone(config.zone).date()
    code = html.escape(appointment.code)
    pattern = "M月d日 EEE" if normalise(lang) == "zh_CN" else "EEE d MMM"
    # the other days, as buttons posting the code again (it is never in an address)
    shown = ' aria-current="page" disabled'
    days = "".join(f'<button type="submit" name="day" value="{d.isoformat()}"{shown if d == day else ""}>'
                   f'{html.escape(format_date(d, pattern, locale=normalise(lang)))}</button>'
                   for d in days_ahead(setup, appointment.service, now))
    return _page(config, f'<p id="booked" class="headline">{html.escape(what)}</p>'
                 f'<form method="post" action="/book/cancel"><input type="hidden" name="nonce" value="{html.escape(nonce)}">'
                 f'<input type="hidden" name="code" value="{code}">'
                 f'<button type="submit" id="cancel" class="danger">{html.escape(w["cancel"])}</button></form>'
                 f'<h2>{html.escape(w["move"])}</h2>'
                 f'<form method="post" action="/book/manage" class="days"><input type="hidden" name="nonce" '
                 f'value="{html.escape(nonce)}"><input type="hidden" name="code" value="{code}">{days}</form>'
                 + slot_buttons(config, setup, state, appointment.service, day, now, nonce, lang, "/book/move",
                                appointment.code, current=appointment.slot), lang)


def cancelled_page(config: Config, lang: Lang) -> str:
    return _page(config, f'<p id="cancelled" class="headline" role="status">{html.escape(words(lang)["cancelled"])}</p>',
                 lang)


def refusal(code: str, message: str, lang: Lang) -> str:
    return gettext(REFUSED[code], lang) if code in REFUSED else f"{code}: {message}"
