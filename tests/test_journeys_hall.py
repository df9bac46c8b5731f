"""A journey in a running hall (Mosquitto, controller, kiosk, `hallq web` as processes; Chromium):
业务办理 then 缴费 on one number. The printed ticket names the route, the phone page opened from its
QR says which step, the screen's call card says it too, and the events carry the routing."""
from __future__ import annotations

from pathlib import Path

import pytest

from hallq.testing import Process, wait_until
from test_web import decode_qr
from webkit import start_web_hall, stop_web_hall

pytestmark = pytest.mark.processes
R = "hallq/v1/h1"
SHOTS = Path(__file__).parent.parent / "build" / "screens"


@pytest.fixture
def hall(tmp_path):
    # 业务办理 (B) goes on to 缴费 (A) on the same number
    h = start_web_hall(tmp_path, edits={'prefix = "B"\n': 'prefix = "B"\nroute = ["pay"]\n'})
    yield h
    stop_web_hall(h)



def test_one_number_through_two_services_on_ticket_phone_and_screen(hall, browser, tmp_path):
    out = tmp_path / "printed"
    kiosk = Process(["kiosk", "--config", str(hall.hall), "--id", "k1", "--stub", "--printer-out", str(out),
                     "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start()
    biz_desk, pay_desk = hall.client("counter.c4"), hall.client("counter.c2")
    try:
        hall.admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"))
        hall.admin.publish(f"{R}/sim/kiosk.k1", {"press": "biz"})
        # the stub printer writes the picture, then the bytes: the bytes there, both are whole
        png = wait_until(lambda: sorted(out.glob("B001.bin")), what="B001 printed", timeout=15)[0].with_suffix(".png")
        # the route, in the printer's GB18030 (its Chinese mode): the services by their names in the hall file
        printed = (out / "B001.bin").read_bytes().decode("gb18030", "replace")
        assert "办理流程：业务办理" in printed and "→ 缴费" in printed
        assert "全程约" in printed
        # a customer who came for 缴费 only, after B001
        pay_only = hall.client("kiosk.k2").request("issue", service="pay")["ticket"]
        assert pay_only["number"] == "A001"

        browser.set_window_size(390, 844)                      # a phone
        browser.get(decode_qr(png))
        journey = lambda: browser.find_element("id", "journey").text  # noqa: E731
        text = lambda: browser.find_element("id", "headline").text + " " + browser.find_element("id", "detail").text  # noqa: E731
        wait_until(lambda: journey() == "第1步/共2步：业务办理 → 缴费", what=f"the route (page says {journey()!r})")
        assert "全程约" in text()

        mark = hall.admin.mark()
        assert biz_desk.request("call_next")["ticket"]["number"] == "B001"
        biz_desk.request("finish")
        routed = hall.admin.wait_for(lambda t, d: t == f"{R}/event" and d.get("type") == "ticket_routed", start=mark)
        assert (routed["ticket"]["number"], routed["ticket"]["service"], routed["from_service"]) == ("B001", "pay", "biz")
        wait_until(lambda: journey().startswith("第2步/共2步"), what=f"the second step (page says {journey()!r})")
        # it keeps the place its issue time gives: ahead of A001, who came after it
        assert "前面还有0人" in text(), text()
        browser.save_screenshot(str(SHOTS.mkdir(parents=True, exist_ok=True) or SHOTS / "phone-journey.png"))

        assert pay_desk.request("call_next")["ticket"]["number"] == "B001"
        wait_until(lambda: "请到2号窗口" in text(), what=f"called to 缴费 (page says {text()!r})")

        browser.set_window_size(1280, 900)
        browser.get(hall.base + "/screen/d1")
        cards = lambda: browser.execute_script(  # noqa: E731
            "return [...document.querySelectorAll('#screen .t[data-kind^=call_]')].map(e => e.textContent).join(' ')")
        wait_until(lambda: "第2步/共2步 缴费" in cards(), what=f"the step on the call's card ({cards()!r})")
        assert "B001" in cards() and "请到2号窗口" in cards()
        browser.save_screenshot(str(SHOTS / "screen-journey.png"))
        mark = hall.admin.mark()
        pay_desk.request("finish")
        state = hall.admin.state_after("ticket_served", start=mark)
        assert not state["counters"][1]["ticket"]
        assert next(s for s in state["services"] if s["id"] == "pay")["waiting"] == 1      # A001 still waits
    finally:
        biz_desk.close(), pay_desk.close()
        kiosk.stop()
