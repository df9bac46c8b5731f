"""Every text people read, Chinese first (zh_CN), English second: gettext catalogs read with Babel.

The catalogs are ``hallq/locale/<language>/LC_MESSAGES/hallq.po`` (msgids in English, with named
``{placeholders}``); they are read with Babel at first use (no compile step, nothing from the
internet). Dates, times and numbers use Babel's locale data in the hall's time zone, 24-hour
(a hall screen and a console in one hall say the same 21:18). ``make messages`` extracts the
msgids from the code and updates the catalogs (pybabel); a test checks that every msgid the code
uses has its Chinese.

Names, never ids: wherever a service, counter or device is named to a person, its configured
name is used (:func:`service_name`, :func:`counter_name`, :func:`device_name`).
"""
from __future__ import annotations

import io
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent.parent / "locale"
DOMAIN = "hallq"
LANGUAGES = ("zh_CN", "en")      # the hall's language first
DEFAULT = "zh_CN"


def normalise(lang: str | None) -> str:
    """``zh``, ``zh-CN``, ``zh_CN`` -> ``zh_CN``; ``en*`` -> ``en``; anything else -> the hall's."""
    text = (lang or "").replace("-", "_").lower()
    return "en" if text.startswith("en") else DEFAULT


@lru_cache(maxsize=None)
def translations(lang: str) -> Translations:
    lang = normalise(lang)
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return Translations()
    with open(path, "rb") as po:
        catalog = read_po(po, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(message: str, lang: str = DEFAULT, **values: Any) -> str:
    """``message`` in ``lang`` (the English msgid when it has no translation), placeholders filled."""
    text = translations(lang).gettext(message)
    return text.format(**values) if values else text


_ = gettext


def N_(message: str) -> str:
    """Marks a msgid for the catalogs where it is translated later (a table of labels)."""
    return message


def both(message: str, **values: Any) -> tuple[str, str]:
    """(Chinese, English): a bilingual sign, ticket or screen line."""
    return gettext(message, "zh_CN", **values), gettext(message, "en", **values)


def bilingual(message: str, **values: Any) -> str:
    """"中文 English" in one line (console labels that keep both); the Chinese alone if they are equal."""
    zh, en = both(message, **values)
    return zh if zh == en else f"{zh} {en}"


# --- dates, times, numbers -------------------------------------------------------------------
def clock(moment: datetime | str | None, zone: ZoneInfo, lang: str = DEFAULT) -> str:
    """21:18 in the hall's time zone (24-hour, whatever the browser's zone); '' for none."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return ""
    return format_time(moment, "HH:mm", tzinfo=zone, locale=_locale(lang))


def day_text(day: date | str, lang: str = DEFAULT) -> str:
    """2026年12月4日 / 4 Dec 2026."""
    value = date.fromisoformat(day) if isinstance(day, str) else day
    return format_date(value, "long" if normalise(lang) == DEFAULT else "medium", locale=_locale(lang))


def month_text(month: str, lang: str = DEFAULT) -> str:
    """2026年12月 / Dec 2026, from ``YYYY-MM``."""
    value = date.fromisoformat(month + "-01")
    return format_date(value, "yyyy年M月" if normalise(lang) == DEFAULT else "MMM yyyy", locale=_locale(lang))


def minutes(seconds: float | None, lang: str = DEFAULT) -> str:
    """A duration as people say it: 12分钟 / 12 min; under a minute: <1分钟; none: '-'."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return gettext("<1 min", lang) if seconds > 0 else gettext("0 min", lang)
    return gettext("{n} min", lang, n=format_decimal(round(seconds / 60), locale=_locale(lang)))


def minutes_value(seconds: float | None) -> float | None:
    """Minutes with one decimal (reports' columns), or None."""
    return None if seconds is None else round(seconds / 60, 1)


def number(value: float | int | None, lang: str = DEFAULT) -> str:
    return "-" if value is None else format_decimal(value, locale=_locale(lang))


def percent(share: float | None, lang: str = DEFAULT) -> str:
    return "-" if share is None else f"{round(share * 100)}%"


@lru_cache(maxsize=None)
def _locale(lang: str) -> Locale:
    return Locale.parse(normalise(lang))


# --- names, not ids -------------------------------------------------------------------------------
def _split_name(name: str, name_en: str) -> tuple[str, str]:
    """A configured name as (Chinese, English): "缴费 Payment" is both at once, as many halls write it."""
    if name_en:
        return name, name_en
    head, _, tail = name.partition(" ")
    if tail and tail.isascii() and not head.isascii():
        return head, tail
    return name, name


def service_name(config: Any, service_id: str, lang: str = DEFAULT) -> str:
    service = config.service_by_id(service_id)
    if service is None:
        return service_id
    zh, en = _split_name(service.name, service.name_en)
    return en if normalise(lang) == "en" else zh


def counter_name(config: Any, counter_id: str, lang: str = DEFAULT) -> str:
    counter = config.counter_by_id(counter_id)
    if counter is None:
        return counter_id
    if normalise(lang) == "en":
        number_ = config.counter_number(counter_id)
        return gettext("Counter {n}", "en", n=number_) if number_ is not None else counter.name
    return counter.name


def device_name(config: Any, device_id: str, lang: str = DEFAULT) -> str:
    """取号机 k1 / 1号窗口终端 / 大屏 d1 / 管理 web: what a person calls a device."""
    kind, _, ident = device_id.partition(".")
    if kind == "counter":
        return gettext("{counter} terminal", lang, counter=counter_name(config, ident, lang))
    words = {"kiosk": N_("Ticket machine {id}"), "display": N_("Hall screen {id}"), "admin": N_("Operator {id}")}
    return gettext(words[kind], lang, id=ident) if kind in words else device_id
