"""Every action the console offers, through the console in a real Chromium: the click (and the
confirmation or the number it asks for), the admin request, the controller's answer, the board's
change; the console in Chinese with names, at a phone's width and by keyboard alone; the phone
page telling the truth about the hall."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from hallq.contract.tokens import token_hash
from webkit import PASSWORD, chromium, click, start_web_hall, stop_web_hall, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.processes]
R = "hallq/v1/h1"


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    h = start_web_hall(tmp_path_factory.mktemp("console"))
    yield h
    stop_web_hall(h)


@pytest.fixture(scope="module")
def browser(hall):
    driver = chromium()
    driver.get(hall.base + "/login")
    driver.find_element(By.NAME, "name").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button").click()
    wait_until(lambda: driver.current_url.endswith("/console"), what="logged in")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#services tr[data-id]"), what="the board")
    yield driver
    driver.quit()


def text(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def answer(browser, typed: str | None = None) -> None:
    """The console's question (a confirmation, or a number or reason to type): answered yes."""
    wait_until(lambda: browser.find_element(By.ID, "ask").get_attribute("open") is not None, what="the question")
    if typed is not None:
        browser.find_element(By.ID, "ask-input").send_keys(typed)
    browser.find_element(By.ID, "ask-ok").click()


def done(browser, before: str = "") -> None:
    wait_until(lambda: text(browser, "result").startswith("已完成") and text(browser, "result") != before,
               what=f"the action done (result: {text(browser, 'result')!r})")


def state(hall, predicate, start: int) -> dict:
    return hall.admin.state(predicate, start=start, timeout=10)


def test_the_board_is_chinese_with_names_and_the_hall_clock(hall, browser):
    kiosk = hall.client("kiosk.k1")
    try:
        number = kiosk.request("issue", service="biz")["ticket"]["number"]
    finally:
        kiosk.close()
    wait_until(lambda: number in text(browser, "waiting"), what="the waiting list")
    assert "业务办理" in text(browser, "waiting") and "biz" not in text(browser, "waiting")
    counters = text(browser, "counters")
    assert "1号窗口" in counters and "空闲" in counters and "idle" not in counters
    rows = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#counters tr[data-id]")]
    assert rows == ["c1", "c2", "c3", "c4"]
    assert "正常取号" in text(browser, "mode") and "控制器在线" in text(browser, "link")


def test_stop_and_resume_issuing_for_a_service(hall, browser):
    mark = hall.admin.mark()
    click(browser, '#services tr[data-id="pay"] button[data-op="suspend_service"]')
    answer(browser)
    done(browser)
    state(hall, lambda s: next(x for x in s["services"] if x["id"] == "pay")["suspended"], mark)
    wait_until(lambda: "暂停取号" in browser.find_element(By.CSS_SELECTOR, '#services tr[data-id="pay"]').text,
               what="the row says it")
    before = text(browser, "result")
    mark = hall.admin.mark()
    click(browser, '#services tr[data-id="pay"] button[data-op="resume_service"]')
    done(browser, before)
    state(hall, lambda s: not next(x for x in s["services"] if x["id"] == "pay")["suspended"], mark)


def test_suspend_a_named_counter_with_a_reason_then_resume_it(hall, browser):
    mark = hall.admin.mark()
    click(browser, '#counters tr[data-id="c2"] button[data-op="suspend"]')
    answer(browser, "午休")
    done(browser)
    doc = state(hall, lambda s: next(c for c in s["counters"] if c["id"] == "c2")["status"] == "suspended", mark)
    assert next(c for c in doc["counters"] if c["id"] == "c2")["suspend_reason"] == "午休"
    wait_until(lambda: "暂停服务 (午休)" in browser.find_element(By.CSS_SELECTOR, '#counters tr[data-id="c2"]').text,
               what="the row says it")
    before = text(browser, "result")
    mark = hall.admin.mark()
    click(browser, '#counters tr[data-id="c2"] button[data-op="resume"]')
    done(browser, before)
    state(hall, lambda s: next(c for c in s["counters"] if c["id"] == "c2")["status"] != "suspended", mark)


def test_call_a_number_to_a_counter(hall, browser):
    kiosk = hall.client("kiosk.k1")
    try:
        number = kiosk.request("issue", service="pay")["ticket"]["number"]
    finally:
        kiosk.close()
    wait_until(lambda: number in text(browser, "waiting"), what="the waiting list")
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#counters tr[data-id="c1"] button[data-op="call"]')
    answer(browser, number.lower())                     # typed as a person types it
    done(browser, before)
    state(hall, lambda s: (next(c for c in s["counters"] if c["id"] == "c1")["ticket"] or {}).get("number") == number,
          mark)
    wait_until(lambda: number in browser.find_element(By.CSS_SELECTOR, '#counters tr[data-id="c1"]').text,
               what="the counter's row shows the call")


def test_declare_and_end_an_outage(hall, browser):
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#hall-actions button[data-op="outage"]')
    answer(browser, "系统维护，请在休息区等候")
    done(browser, before)
    state(hall, lambda s: s["mode"] == "outage" and s["message"] == "系统维护，请在休息区等候", mark)
    wait_until(lambda: "故障模式: 系统维护" in text(browser, "mode"), what="the header says it")
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#hall-actions button[data-op="outage"]')   # now "end the outage": no question
    done(browser, before)
    state(hall, lambda s: s["mode"] != "outage", mark)


def test_post_and_take_down_a_notice(hall, browser):
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#hall-actions button[data-op="announce"]')
    answer(browser, "今日16:00起暂停办理过户业务")
    done(browser, before)
    state(hall, lambda s: "今日16:00起暂停办理过户业务" in s["announcements"], mark)
    wait_until(lambda: "今日16:00起暂停办理过户业务" in text(browser, "notices"), what="the notice listed")
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#notices button[data-op="unannounce"]')
    done(browser, before)
    state(hall, lambda s: not s["announcements"], mark)


def test_stop_and_start_issuing_in_the_whole_hall(hall, browser):
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#hall-actions button[data-op="close"]')
    answer(browser)
    done(browser, before)
    state(hall, lambda s: s["mode"] == "closed", mark)
    wait_until(lambda: "停止取号" in text(browser, "mode"), what="the header says it")
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#hall-actions button[data-op="open"]')
    done(browser, before)
    state(hall, lambda s: s["mode"] == "open", mark)


def test_void_a_ticket_after_confirming(hall, browser):
    kiosk = hall.client("kiosk.k2")
    try:
        number = kiosk.request("issue", service="biz")["ticket"]["number"]
    finally:
        kiosk.close()
    wait_until(lambda: number in text(browser, "waiting"), what="the waiting list")
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#ticket-actions button[data-op="void"]')
    answer(browser, number)
    wait_until(lambda: number in text(browser, "ask-text"), what="the confirmation names the ticket")
    answer(browser)
    done(browser, before)
    hall.admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_voided"
                        and d["ticket"]["number"] == number, start=mark)
    wait_until(lambda: number not in text(browser, "waiting"), what="gone from the waiting list")


def test_reinstate_a_no_show(hall, browser):
    kiosk, counter = hall.client("kiosk.k1"), hall.client("counter.c4")
    try:
        number = kiosk.request("issue", service="biz")["ticket"]["number"]
        while (called := counter.request("call_next"))["ok"] and called["ticket"]["number"] != number:
            counter.request("finish")
        assert counter.request("no_show")["ok"]
    finally:
        kiosk.close(), counter.close()
    before, mark = text(browser, "result"), hall.admin.mark()
    click(browser, '#ticket-actions button[data-op="reinstate"]')
    answer(browser, number)
    done(browser, before)
    hall.admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_reinstated"
                        and d["ticket"]["number"] == number, start=mark)
    wait_until(lambda: number in text(browser, "waiting"), what="back in the waiting list")


def test_alerts_are_grouped_and_can_be_acknowledged(hall, browser):
    kiosk = hall.client("kiosk.k2")           # a kiosk that says it goes offline: the controller's alert
    try:
        kiosk.publish(f"{R}/presence/kiosk.k2", {"online": False, "boot": 1}, retain=True)
        wait_until(lambda: "取号机k2离线" in text(browser, "alerts"), what="the alert")
        assert "设备离线" in text(browser, "alerts")                # its group
        click(browser, '#alerts button[data-op="acknowledge"]')
        wait_until(lambda: "取号机k2离线" not in text(browser, "alerts") and "已知晓" in text(browser, "alerts"),
                   what="acknowledged")
    finally:
        kiosk.publish(f"{R}/presence/kiosk.k2", {"online": True, "boot": 2}, retain=True)
        kiosk.close()


def keyboard(browser, key: str) -> None:
    """A key as a keyboard sends it: to whatever has the focus when it arrives (the board is drawn anew
    at every change and gives the focus back to the same button: an element held from before would be
    stale)."""
    ActionChains(browser).send_keys(key).perform()


def test_the_console_works_by_keyboard_alone(hall, browser):
    mark = hall.admin.mark()
    # Tab from the top of the page to the button, as a person without a mouse does
    target = '#services tr[data-id="biz"] button[data-op="suspend_service"]'
    browser.find_element(By.TAG_NAME, "body").click()
    for _ in range(80):
        keyboard(browser, Keys.TAB)
        if browser.execute_script(f"return document.activeElement === document.querySelector('{target}')"):
            break
    else:
        raise AssertionError("the button cannot be reached with Tab")
    keyboard(browser, Keys.ENTER)
    wait_until(lambda: browser.find_element(By.ID, "ask").get_attribute("open") is not None, what="the question")
    keyboard(browser, Keys.ENTER)   # the confirm button has the focus
    state(hall, lambda s: next(x for x in s["services"] if x["id"] == "biz")["suspended"], mark)
    mark = hall.admin.mark()
    resume = '#services tr[data-id="biz"] button[data-op="resume_service"]'
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, resume), what="resume offered")
    browser.execute_script(f"document.querySelector('{resume}').focus()")
    keyboard(browser, Keys.ENTER)
    state(hall, lambda s: not next(x for x in s["services"] if x["id"] == "biz")["suspended"], mark)


def test_the_console_fits_a_phone(hall, browser):
    browser.set_window_size(390, 844)
    try:
        browser.refresh()
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#counters tr[data-id]"), what="the board")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways: {width} px"
        header = browser.find_element(By.CSS_SELECTOR, ".bar .hall")
        assert header.size["height"] < 60, "the hall's name wraps a character a line"
        for section in browser.find_elements(By.CSS_SELECTOR, "main section"):
            assert section.rect["x"] >= 0 and section.rect["x"] + section.rect["width"] <= 390
    finally:
        browser.set_window_size(1280, 900)
        browser.refresh()
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#services tr[data-id]"), what="the board")


def test_the_phone_page_tells_the_halls_situation(hall, browser):
    kiosk = hall.client("kiosk.k1")
    token = "a-phone-page-token-123"
    try:
        issued = kiosk.request("issue", service="pay", token_hash=token_hash(token))["ticket"]
    finally:
        kiosk.close()
    phone = chromium()
    try:
        phone.set_window_size(390, 844)
        phone.get(f"{hall.base}/t/{token}")
        assert phone.find_element(By.ID, "number").text == issued["number"]
        live = phone.find_element(By.ID, "headline")
        assert live.get_attribute("aria-live") == "assertive"
        hall.admin.request("outage", active=True, message="系统维护，请在休息区等候")
        wait_until(lambda: "系统维护" in phone.find_element(By.ID, "notice").text, what="the outage said")
        assert "暂无法估计" in phone.find_element(By.ID, "detail").text          # no minutes promised
        hall.admin.request("outage", active=False)
        hall.admin.request("suspend_service", service="pay")
        wait_until(lambda: "暂停取号" in phone.find_element(By.ID, "notice").text, what="the suspension said")
        hall.admin.request("resume_service", service="pay")
        hall.admin.request("close")
        wait_until(lambda: "停止取号" in phone.find_element(By.ID, "notice").text, what="issuing stopped said")
        hall.admin.request("open")
        wait_until(lambda: not phone.find_element(By.ID, "notice").is_displayed(), what="nothing to say")
        counter = hall.client("counter.c2")
        try:
            while (called := counter.request("call_next"))["ok"] and called["ticket"]["number"] != issued["number"]:
                counter.request("finish")
            wait_until(lambda: "请到2号窗口" in live.text, what="the call")
            counter.request("no_show")
        finally:
            counter.close()
        wait_until(lambda: "已过号" in live.text, what="the missed call")
        assert "服务台" in phone.find_element(By.ID, "detail").text
        hall.admin.request("reinstate", number=issued["number"])
        wait_until(lambda: "已恢复排队" in live.text, what="back in the queue")
    finally:
        phone.quit()
