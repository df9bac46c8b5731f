"""The console's planning page (排班与重演): next week's counters from the hall's records, and a
recorded day played again with a counter closed, in a real Chromium against a running hall; the
forecast table from recorded weeks in the web's own records."""
from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from hallq.controller.store import Store
from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.events import encode_event
from hallq.core.rules import QueueRules
from hallq.runtime.config import load_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL
from hallq.web import planning
from webkit import PASSWORD, start_web_hall, stop_web_hall, wait_until

TZ = ZoneInfo("Asia/Shanghai")
SHOTS = Path(__file__).parent.parent / "build" / "screens"


def record_mondays(path: Path, mondays: list[date]) -> None:
    """Busy Monday mornings through the core's rules (30-50 payments a quarter 09:00-11:00), into a
    database shaped as the controller's (and the web's copy): day, seq, body."""
    config = load_config(EXAMPLE_HALL)
    setup = dataclasses.replace(setup_from_config(config), hours=None)
    rules = QueueRules(setup, estimates=False)
    rng = random.Random(7)
    store, seq = Store(path), 0
    for monday in mondays:
        now = datetime.combine(monday, time(9), TZ)
        state = rules.handle(setup.initial_state(), c.Tick(), now)[0]
        while now < datetime.combine(monday, time(11), TZ):
            now += timedelta(seconds=rng.expovariate((40 if now.hour == 9 else 25) / 900))
            state, events = rules.handle(state, c.IssueTicket(service="pay", by="kiosk.k1"), now)
            for event in events:
                seq += 1
                store.append_event(seq, 1, e.event_type(event), event.at.isoformat(), monday.isoformat(),
                                   encode_event(event))
    store.close()


def test_the_forecast_table_shows_next_weeks_counters_from_the_recorded_weeks(tmp_path):
    config = load_config(EXAMPLE_HALL)
    setup = setup_from_config(config)
    records = tmp_path / "records.db"
    record_mondays(records, [date(2026, 11, 2) + timedelta(weeks=w) for w in range(4)])
    today = date(2026, 11, 30)                      # a Monday: the forecast covers the next 7 days
    rows, days_read, _ = planning.run(config, setup, records, today, None)
    assert days_read == 4 and {r.day for r in rows} == {date(2026, 12, 7)}   # only Mondays were recorded
    html = planning.forecast_table(config, rows, days_read, "zh_CN")
    assert "12月7日 周一" in html and "<th scope=\"row\">09:00</th>" in html and "按4个已记录营业日" in html
    # the busiest quarter of the day is marked, and it is in the busier hour
    peak = [r for r in rows if r.counters == max(x.counters for x in rows)]
    assert all(r.start.hour == 9 for r in peak) and 'class="peak"' in html
    # the days offered for a replay: the recorded ones, newest first
    assert planning.days_with_records(records, today)[:2] == ["2026-11-23", "2026-11-16"]


@pytest.fixture
def hall(tmp_path):
    h = start_web_hall(tmp_path)
    yield h
    stop_web_hall(h)



def test_a_supervisor_replays_today_with_a_counter_closed_in_the_browser(hall, browser):
    kiosk, pay_desk = hall.client("kiosk.k1"), hall.client("counter.c2")
    try:
        for _ in range(4):
            assert kiosk.request("issue", service="pay")["ok"]
        for _ in range(3):
            assert pay_desk.request("call_next")["ok"]
        today = hall.admin.state(lambda s: bool(s.get("day")))["day"]
    finally:
        kiosk.close(), pay_desk.close()
    browser.get(hall.base + "/login")
    browser.find_element("name", "name").send_keys("alice")
    browser.find_element("name", "password").send_keys(PASSWORD)
    browser.find_element("css selector", "form button").click()
    wait_until(lambda: browser.current_url.endswith("/console"), what="logged in")
    wait_until(lambda: browser.find_elements(By.LINK_TEXT, "排班与重演"), what="the console")[0].click()
    wait_until(lambda: "/planning" in browser.current_url and browser.find_elements("id", "forecast-empty"),
               what="the planning page")
    # no finished day yet: the forecast says what it needs; today's calls are in the web's copy already
    assert "还没有已结束的营业日记录" in browser.find_element("id", "forecast-empty").text

    def today_offered() -> bool:
        browser.refresh()
        return today in [o.get_attribute("value") for o in Select(browser.find_element("name", "day")).options]
    wait_until(today_offered, what="today among the days to replay")
    Select(browser.find_element("name", "counter")).select_by_visible_text("2号窗口")
    Select(browser.find_element("name", "action")).select_by_visible_text("关闭")
    for name, value in (("from", "00:00"), ("to", "23:59")):
        field = browser.find_element("name", name)
        browser.execute_script("arguments[0].value = arguments[1]", field, value)
    browser.find_element("css selector", "#whatif button[type=submit]").click()
    # the answer replaces the page: wait for the answer's own text (an element of the page before is stale)
    changed = wait_until(lambda: next((e.text for e in browser.find_elements("id", "whatif-changed")
                                       if "2号窗口 00:00-23:59 关闭" in e.text), None), what="the replay's result")
    assert today in changed
    figures = browser.find_element("id", "whatif-figures").text
    assert "全天" in figures and "缴费" in figures
    # only 2号窗口 called in the record: closed all day, nobody is called in the replay, and the page says so
    assert "仍有4人等候" in browser.find_element("id", "whatif-left").text
    assert browser.find_element("id", "whatif-chart").get_attribute("aria-label") == "按取号时段：九成等候不超过（分钟）"
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "planning.png"))
    # a span that ends before it begins is refused, saying what was wrong
    with httpx.Client(base_url=hall.base, cookies={k["name"]: k["value"] for k in browser.get_cookies()}) as http:
        bad = http.get("/planning", params={"day": today, "counter": "c2", "action": "close", "from": "15:00", "to": "13:30"})
        assert bad.status_code == 400 and "起始须早于结束" in bad.text
        assert http.get("/planning", params={"day": "2020-01-01"}).status_code == 400
    assert httpx.get(hall.base + "/planning", follow_redirects=False).status_code == 303     # login first
