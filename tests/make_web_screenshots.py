"""Screenshots of hallq web for the README (docs/screens/web-*.png), from a real hall.

    .venv/bin/python tests/make_web_screenshots.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from webkit import PASSWORD, chromium, start_web_hall, stop_web_hall  # noqa: E402

from hall.testing import Process, wait_until  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "screens"
R = "hallq/v1/h1"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hallq-web-shots-"))
    hall = start_web_hall(tmp)
    browser = chromium()
    kiosk = Process(["kiosk", "--config", str(hall.hall), "--id", "k1", "--stub", "--printer-out", str(tmp / "out"),
                     "--data", str(tmp / "k1")], tmp, "kiosk").start()
    try:
        hall.admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"))
        for service in ["pay", "biz", "pay", "pay", "biz", "pay", "biz", "pay"]:
            hall.admin.publish(f"{R}/sim/kiosk.k1", {"press": service})
            time.sleep(0.4)
        wait_until(lambda: len(list((tmp / "out").glob("*.png"))) >= 8, what="tickets", timeout=20)
        c1, c3 = hall.client("counter.c1"), hall.client("counter.c3")
        c1.request("call_next"), c3.request("call_next")
        hall.admin.request("announce", text="今日16:00后暂停办理过户业务 Transfers pause after 16:00")
        import subprocess
        png = sorted((tmp / "out").glob("A004.png"))[0]
        url = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True).stdout.strip()
        browser.set_window_size(390, 760)
        browser.get(url)
        time.sleep(1.0)
        browser.save_screenshot(str(OUT / "web-phone.png"))
        browser.set_window_size(1920, 1080)
        browser.get(hall.base + "/screen/d1")
        time.sleep(1.0)
        c1.request("call_next")
        time.sleep(1.5)
        browser.save_screenshot(str(OUT / "web-screen.png"))
        browser.set_window_size(1400, 1000)
        browser.get(hall.base + "/login")
        browser.find_element("name", "name").send_keys("alice")
        browser.find_element("name", "password").send_keys(PASSWORD)
        browser.find_element("css selector", "form button").click()
        time.sleep(1.5)
        browser.save_screenshot(str(OUT / "web-console.png"))
        c1.close(), c3.close()
    finally:
        browser.quit()
        kiosk.stop()
        stop_web_hall(hall)
    print("written:", *sorted(p.name for p in OUT.glob("web-*.png")))


if __name__ == "__main__":
    main()
