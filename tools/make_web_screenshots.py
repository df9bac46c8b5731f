"""Screenshots of hallq web for the README and docs (docs/screens/web-*.png), from a real hall of
40 counters under traffic: the console at a desktop's and a phone's width, the day report, a
customer's phone page and the browser hall screen.

    .venv/bin/python tests/make_web_screenshots.py
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))   # the web hall kit the tests use

from webkit import PASSWORD, chromium, start_web_hall, stop_web_hall  # noqa: E402

from hallq.testing import Process, wait_until  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "screens"
R = "hallq/v1/h1"


def viewport(browser, width: int, height: int, mobile: bool = False) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def shoot(browser, name: str, ready_js: str, full_page: bool = False) -> None:
    wait_until(lambda: browser.execute_script(ready_js), timeout=20, what=name)
    if full_page:        # the whole page, as a manager prints it
        height = browser.execute_script("return document.documentElement.scrollHeight")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        viewport(browser, width, height)
    browser.save_screenshot(str(OUT / name))


def press(hall, out: Path, service: str, n: int) -> None:
    """The kiosk's button, pressed again if the kiosk was still busy with the last ticket (a press
    while it issues or prints is dropped, as a real kiosk drops an impatient double press)."""
    for _ in range(10):
        hall.admin.publish(f"{R}/sim/kiosk.k1", {"press": service})
        try:
            wait_until(lambda: len(list(out.glob("*.png"))) >= n, what=f"ticket {n}", timeout=2)
            return
        except TimeoutError:
            continue
    raise TimeoutError(f"the kiosk printed no ticket {n}")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hallq-web-shots-"))
    hall = start_web_hall(tmp, counters=40, hall_overrides={"kiosk_rate_per_s": "0"})
    browser = chromium()
    kiosk = Process(["kiosk", "--config", str(hall.hall), "--id", "k1", "--stub", "--printer-out", str(tmp / "out"),
                     "--data", str(tmp / "k1")], tmp, "kiosk").start()
    clerks = []
    try:
        hall.admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"))
        presses = ["pay", "biz"] * 16         # the same button twice at once is one press (kept apart)
        for n, service in enumerate(presses, start=1):
            press(hall, tmp / "out", service, n)
        for i in range(1, 13):
            clerk = hall.client(f"counter.c{i}")
            clerk.request("login", clerk=f"clerk{i}")
            clerk.request("call_next")
            clerks.append(clerk)
        for clerk in clerks[:6]:              # served and rated: the report has figures
            clerk.request("finish", rating=1)
            clerk.request("call_next")
        clerks[6].request("no_show")
        hall.admin.request("suspend", counter="c14", reason="午休")
        hall.admin.request("announce", text="今日16:00后暂停办理过户业务 Transfers pause after 16:00")
        png = sorted((tmp / "out").glob("A012.png"))[0]
        url = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True).stdout.strip()

        viewport(browser, 390, 760, mobile=True)
        browser.get(url)
        shoot(browser, "web-phone.png", "return document.body.innerText.includes('A012')")

        viewport(browser, 1920, 1080)
        browser.get(hall.base + "/screen/d1")
        shoot(browser, "web-screen-40.png", "return document.querySelectorAll('#screen .tile').length === 40")

        viewport(browser, 1400, 1000)
        browser.get(hall.base + "/login")
        browser.find_element("name", "name").send_keys("alice")
        browser.find_element("name", "password").send_keys(PASSWORD)
        browser.find_element("css selector", "form button").click()
        board = "return document.querySelectorAll('#counters tr[data-id], #counters [data-id]').length >= 40"
        shoot(browser, "web-console.png", board)
        viewport(browser, 390, 844, mobile=True)
        browser.get(hall.base + "/console")
        shoot(browser, "web-console-phone.png", board)

        day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        viewport(browser, 1100, 900)
        browser.get(f"{hall.base}/reports?date={day}")
        shoot(browser, "web-report-day.png", "return !!document.getElementById('service-figures')", full_page=True)
    finally:
        for clerk in clerks:
            clerk.close()
        browser.quit()
        kiosk.stop()
        stop_web_hall(hall)
    print("written:", *sorted(p.name for p in OUT.glob("web-*.png")))


if __name__ == "__main__":
    main()
