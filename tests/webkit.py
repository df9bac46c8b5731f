"""A hall with its web service for tests: Mosquitto (generated config), the controller and
``hallq web`` as real processes, a console user, and a real Chromium (Debian's) for pages."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By

from hallq.testing import Broker, HallClient, Process, free_port, start_controller, write_hall_config
from hallq.testing import wait_until as wait_for

PASSWORD = "correct horse battery"


@dataclass
class WebHall:
    broker: Broker
    admin: HallClient
    hall: Path
    base: str
    tmp: Path
    web: Process

    def client(self, device: str) -> HallClient:
        root = "hallq/v1/h1"
        return self.broker.client(device, subscribe=[f"{root}/dev/{device}/res", f"{root}/state"])

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10)

    def login(self, name: str = "alice", password: str = PASSWORD) -> tuple[httpx.Client, str]:
        """A logged-in HTTP client and its CSRF token."""
        import re
        client = self.http()
        r = client.post("/login", data={"name": name, "password": password})
        assert r.status_code == 303, r.text
        page = client.get("/console").text
        return client, re.search(r'name="csrf" content="([^"]+)"', page).group(1)


def add_user(hall: Path, data: Path, name: str, role: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "web", "user", "add", name, "--role", role,
                           "--config", str(hall), "--data", str(data)], input=password + "\n", text=True,
                          capture_output=True, timeout=60, cwd=hall.parent)


def start_web_hall(tmp: Path, counters: int | None = None, hall_overrides: dict[str, str] | None = None,
                   edits: dict[str, str] | None = None, web_extra: str = "") -> WebHall:
    """``counters``: a hall of that many counters (c1..cN) instead of the example's four; ``edits``:
    texts of the example's file replaced (:func:`~hallq.testing.write_hall_config`)."""
    broker = Broker(tmp)
    port = free_port()
    hall = write_hall_config(tmp / "hall.toml", broker.port, broker.broker_dir / "credentials.toml",
                             extra=f'[web]\npublic_url = "http://127.0.0.1:{port}"\nlisten = "127.0.0.1:{port}"\n{web_extra}',
                             counters=counters, hall_overrides=hall_overrides, edits=edits)
    broker.configure(hall)
    broker.start()
    admin = broker.client("admin.ctl")
    ctl = start_controller(hall, tmp, admin)
    broker.controller = ctl           # type: ignore[attr-defined]
    assert add_user(hall, tmp / "web", "alice", "supervisor", PASSWORD).returncode == 0
    web = Process(["web", "--config", str(hall), "--data", str(tmp / "web")], tmp, "web").start()
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(ready, timeout=20, what="hallq web serving")
    except TimeoutError:
        raise RuntimeError("hallq web did not come up:\n" + web.output()) from None
    return WebHall(broker, admin, hall, base, tmp, web)


def stop_web_hall(h: WebHall) -> None:
    h.web.stop()
    h.broker.controller.stop()       # type: ignore[attr-defined]
    h.admin.close()
    h.broker.cleanup()
    assert "Traceback" not in h.web.output(), h.web.output()


def chromium() -> object:
    """Debian's chromium through its chromedriver (no download); skips when they are missing."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=zh-CN",
                "--window-size=1280,900", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    return webdriver.Chrome(options=options, service=Service(driver))


def console_report_table(text: str, title: str = "按业务") -> dict[str, dict[str, str]]:
    """One table of the console's report CSV (blocks: a title line, headings, rows, a blank line),
    as {name: {heading: value}}; empty if the table is not there."""
    import csv
    import io
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    starts = [i for i, line in enumerate(lines) if line == [title]]
    if not starts:
        return {}
    header, rows = lines[starts[0] + 1], {}
    for line in lines[starts[0] + 2:]:
        if not line:
            break
        row = dict(zip(header, line))
        rows[row[header[0]]] = row
    return rows


def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    """Wait for a page's condition. A page is redrawn (a board at every change, a form's answer replacing the
    page), so an element found a moment ago may be gone or stale when read: that is "not yet", not a failure."""
    def settled():
        try:
            return predicate()
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    return wait_for(settled, timeout, what)


def page_text(browser) -> str:
    """The page's text as a reader sees it, or "" while a form's answer is replacing the page (an element
    found a moment before would then be stale)."""
    try:
        return browser.execute_script("return document.body ? document.body.innerText : ''") or ""
    except WebDriverException:
        return ""


def click(browser, selector: str) -> None:
    """A click on the board's button (drawn anew at every change: found again if it just was)."""
    def clicked() -> bool:
        try:
            browser.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    wait_until(clicked, what=selector)
