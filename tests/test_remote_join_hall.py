"""Joining from a phone in a running hall (Mosquitto, controller, `hallq web`; Chromium at phone width):
the join page gives a number in the kiosks' numbering, the phone page says how to confirm arriving,
the kiosk's ticket is called first while the phone's customer is not here, the QR code at the door
confirms, and then it is called; the limits per phone are said in words."""
from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from webkit import start_web_hall, stop_web_hall, wait_until

pytestmark = pytest.mark.processes
R = "hallq/v1/h1"
DOOR = "front-door-2026"
SHOTS = Path(__file__).parent.parent / "build" / "screens"


@pytest.fixture
def hall(tmp_path):
    h = start_web_hall(tmp_path, edits={'prefix = "A"\n': 'prefix = "A"\nremote_daily_cap = 3\n'},
                       web_extra=f'door_code = "{DOOR}"\n')
    yield h
    stop_web_hall(h)



def test_a_phone_joins_is_kept_in_order_confirms_at_the_door_and_is_called(hall, phone):
    phone.get(hall.base + "/join")
    phone.find_element(By.LINK_TEXT, "缴费").click()
    wait_until(lambda: "现有0人等候" in phone.find_element("id", "queue").text, what="the queue on the join page")
    assert "今天还可手机取号3个" in phone.page_source
    phone.find_element(By.CSS_SELECTOR, "form button").click()
    wait_until(lambda: "/t/" in phone.current_url and phone.find_elements("id", "arrival"), what="the ticket's page")
    assert phone.find_element("id", "number").text == "A001"
    arrival = phone.find_element("id", "arrival").text
    code = re.search(r"到达码(\d{6})", arrival).group(1)
    assert "扫描门口二维码" in arrival
    # not "listen for your number" to someone still on the way
    assert phone.find_element("id", "headline").text == "快到您了：请尽快到厅并确认到达"
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.save_screenshot(str(SHOTS / "phone-joined.png"))
    kiosk, desk = hall.client("kiosk.k1"), hall.client("counter.c2")
    try:
        assert kiosk.request("issue", service="pay")["ticket"]["number"] == "A002"
        # A001's customer is not here yet: the kiosk's A002 is called, A001 keeps its place
        assert desk.request("call_next")["ticket"]["number"] == "A002"
        assert desk.request("finish")["ok"]
        assert desk.request("call_next")["error"]["code"] == "no_ticket"
        # a wrong door code confirms nothing
        phone.get(hall.base + "/arrive?door=not-the-door")
        assert "请扫描入口处的二维码" in phone.find_element("id", "door").text
        # the QR code at the door
        phone.get(f"{hall.base}/arrive?door={DOOR}")
        wait_until(lambda: "已确认到厅" in phone.find_element("id", "arrival").text, what="arrival confirmed")
        assert desk.request("call_next")["ticket"]["number"] == "A001"
        wait_until(lambda: "请到2号窗口" in phone.find_element("id", "headline").text, what="the call on the phone")
        # the same phone joins again; a ticket confirmed at the kiosk by its code
        phone.get(hall.base + "/join/pay")
        phone.find_element(By.CSS_SELECTOR, "form button").click()
        wait_until(lambda: "/t/" in phone.current_url and phone.find_elements("id", "arrival"),
                   what="the second ticket's page")
        second = re.search(r"到达码(\d{6})", phone.find_element("id", "arrival").text).group(1)
        assert second != code
        confirmed = kiosk.request("check_in", code=second)
        assert confirmed["ok"] and confirmed["ticket"]["number"] == "A003" and confirmed["ticket"]["arrived"]
        # confirmed at the kiosk: called in its turn, and its page says where to go
        assert desk.request("call_next")["ticket"]["number"] == "A003"
        wait_until(lambda: "请到2号窗口" in phone.find_element("id", "headline").text, what="A003's call on the phone")
        # a third time from this phone: the limit per phone (2 a day), in words
        phone.get(hall.base + "/join/pay")
        phone.find_element(By.CSS_SELECTOR, "form button").click()
        refused = wait_until(lambda: "".join(e.text for e in phone.find_elements("id", "refused")), what="the refusal")
        assert "这部手机（或这个网络）今天的取号次数已达上限" in refused
    finally:
        kiosk.close(), desk.close()
    # a post without the page's nonce (another site's form) takes no number
    bad = httpx.post(hall.base + "/join/pay", data={"nonce": "x"}, follow_redirects=False)
    assert bad.status_code == 403
    assert httpx.get(hall.base + "/join/biz").status_code == 404      # biz: not offered from phones
    # the controller away: the page says so, offers no button, promises nothing
    hall.broker.controller.stop()
    away = wait_until(lambda: (r := httpx.get(hall.base + "/join/pay")).status_code == 503 and r,
                      what="the join page without the controller", timeout=30)
    assert "暂时无法手机取号" in away.text and "<form" not in away.text
