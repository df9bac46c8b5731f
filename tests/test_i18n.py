"""One localisation for what people read: every msgid the code uses has its Chinese; times are the
hall's 24-hour clock; names, never ids."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.extract import extract_from_dir

from hallq.runtime.config import load_config
from hallq.runtime.i18n import (LOCALE_DIR, clock, counter_name, device_name, gettext, minutes, service_name,
                                translations)
from hallq.testing import EXAMPLE_HALL, REPO

KEYWORDS = {"gettext": None, "_": None, "N_": None, "both": None, "bilingual": None, "t": None}


def test_every_text_the_code_shows_has_its_chinese():
    used = set()
    for folder in ("hall", "web", "central"):
        for _file, _line, message, _comments, _context in extract_from_dir(
                REPO / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            used.add(message if isinstance(message, str) else message[0])
    zh = translations("zh_CN")
    missing = sorted(m for m in used if m and zh.gettext(m) == m)
    assert len(used) > 100
    assert missing == [], f"no Chinese for: {missing[:20]}"
    assert (LOCALE_DIR / "en" / "LC_MESSAGES" / "hallq.po").exists()


def test_times_are_the_halls_24_hour_clock_and_durations_read_naturally():
    moment = datetime(2026, 12, 4, 13, 18, tzinfo=timezone.utc)
    assert clock(moment, ZoneInfo("Asia/Shanghai")) == "21:18"
    assert clock(moment.isoformat(), ZoneInfo("Asia/Shanghai"), "en") == "21:18"
    assert minutes(725) == "12分钟" and minutes(725, "en") == "12 min" and minutes(20) == "不到1分钟"


def test_names_not_ids():
    config = load_config(EXAMPLE_HALL)
    assert service_name(config, "pay") == "缴费" and service_name(config, "pay", "en") == "Payment"
    assert counter_name(config, "c3") == "3号窗口" and counter_name(config, "c3", "en") == "Counter 3"
    assert device_name(config, "kiosk.k1") == "取号机k1" and device_name(config, "counter.c2") == "2号窗口终端"
    assert gettext("Please go to {counter}", counter="3号窗口") == "请到3号窗口"
