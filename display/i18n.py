"""The words the hall screen shows, in Chinese and English.

The screen is bilingual: Chinese first, English beneath or beside it. The words for the hall's
situations (outage, controller away, closed, a counter or service suspended) are the hall's own,
``[hall.texts]`` in its config, shared with tickets and counter signs; the rest are here.
"""
from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "recent_calls": "最近叫号",
        "counters": "窗口",
        "services": "业务",
        "waiting": "等候 {n} 人",
        "est_wait": "约{m}分钟",
        "no_wait": "无需等候",
        "counter_idle": "空闲",
        "counter_offline": "暂未开放",
        "connecting": "正在连接排队系统…",
        "resumed": "服务已恢复",
        "hours": "营业时间 {hours}",
        "always_open": "全天营业",
        "no_calls": "暂无叫号",
        "weekday": "一二三四五六日",
        "date": "{y}年{m}月{d}日 星期{w}",
    },
    "en": {
        "recent_calls": "Recent calls",
        "counters": "Counters",
        "services": "Services",
        "waiting": "{n} waiting",
        "est_wait": "about {m} min",
        "no_wait": "no wait",
        "counter_idle": "Idle",
        "counter_offline": "Not open",
        "connecting": "Connecting to the queue system…",
        "resumed": "Service resumed",
        "hours": "Opening hours {hours}",
        "always_open": "Open all day",
        "no_calls": "No calls yet",
        "weekday": "Mon Tue Wed Thu Fri Sat Sun",
        "date": "{w} {d} {mon} {y}",
    },
}

MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def t(lang: str, key: str, **values: object) -> str:
    """The text for ``key`` in ``lang`` (falls back to Chinese, then to the key itself)."""
    text = TEXTS.get(lang, {}).get(key) or TEXTS["zh"].get(key) or key
    return text.format(**values) if values else text


def both(key: str, **values: object) -> tuple[str, str]:
    return t("zh", key, **values), t("en", key, **values)


def date_text(lang: str, year: int, month: int, day: int, weekday: int) -> str:
    if lang == "zh":
        return t("zh", "date", y=year, m=month, d=day, w=TEXTS["zh"]["weekday"][weekday])
    return t("en", "date", y=year, mon=MONTHS_EN[month - 1], d=day, w=TEXTS["en"]["weekday"].split()[weekday])
