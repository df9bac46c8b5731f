"""The words the hall screen shows, in Chinese and English, from the one set of gettext catalogs
(hallq/locale, read with Babel by :mod:`hallq.runtime.i18n`).

The screen is bilingual: Chinese first, English beneath or beside it. The words for the hall's
situations (outage, controller away, closed, a counter or service suspended) are the hall's own,
``[hall.texts]`` in its config, shared with tickets and counter signs; the rest are here, by key,
for the pygame screen and the browser's alike.
"""
from __future__ import annotations

from datetime import date

from babel.dates import format_date

from hallq.runtime.i18n import N_, gettext

MESSAGES: dict[str, str] = {
    "now_calling": N_("Now calling"),
    "recent_calls": N_("Recent calls"),
    "counters": N_("Counters"),
    "services": N_("Services"),
    "services_header": N_("Service · waiting · wait"),
    "waiting": N_("{n} waiting"),
    "persons": N_("people"),
    "est_wait": N_("about {m} min"),
    "no_wait": N_("no wait"),
    "est_unknown": N_("wait not known yet"),
    "counter_idle": N_("Idle"),
    "counter_offline": N_("Not open"),
    "connecting": N_("Connecting to the queue system…"),
    "resumed": N_("Service resumed"),
    "hours": N_("Opening hours {hours}"),
    "always_open": N_("Open all day"),
    "no_calls": N_("No calls yet"),
    "none": N_("None yet"),
    "recall": N_("Recall"),
    "go_to": N_("Please go to {counter}"),
    "call_line": N_("Number {number}, please go to {counter}"),
    "more_calls": N_("+{n} more: see the counters"),
    "journey_step": N_("Step {step} of {steps}"),
}
LOCALES = {"zh": "zh_CN", "en": "en"}


def t(lang: str, key: str, **values: object) -> str:
    """The text for ``key`` in ``lang`` (``zh`` or ``en``)."""
    return gettext(MESSAGES[key], LOCALES.get(lang, "zh_CN"), **values)


def pair(key: str, **values: object) -> tuple[str, str]:
    return t("zh", key, **values), t("en", key, **values)


def words() -> dict[str, tuple[str, str]]:
    """Every key as (Chinese, English), placeholders left in: what the browser's screen fills in."""
    return {key: pair(key) for key in MESSAGES}


def date_text(lang: str, year: int, month: int, day: int, weekday: int = 0) -> str:
    """2025年3月4日 星期二 / Tue 4 Mar 2025 (Babel's calendar data; ``weekday`` is implied by the date)."""
    when = date(year, month, day)
    if lang == "zh":
        return format_date(when, "yyyy年M月d日 EEEE", locale="zh_CN")
    return format_date(when, "EEE d MMM yyyy", locale="en")
