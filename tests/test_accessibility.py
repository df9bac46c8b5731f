"""axe-core (npm, pinned in package-lock.json) run in Chromium on the pages people use: a
customer's phone page (waiting, called, during an outage), the console (desktop and a phone's
width, with a confirmation open), the day report, the login page and the browser hall screen.
No serious or critical violation is allowed; every violation found is written to
``bench/results/accessibility.json`` (the table in bench/RESULTS.md comes from it)."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By

from hallq.testing import REPO
from hallq.contract.tokens import token_hash
from webkit import PASSWORD, chromium, click, page_text, start_web_hall, stop_web_hall, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.processes]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
RESULTS = REPO / "bench" / "results" / "accessibility.json"
R = "hallq/v1/h1"


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs it (npm ci, package-lock.json)")
    return AXE.read_text("utf-8")


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    h = start_web_hall(tmp_path_factory.mktemp("a11y"), hall_overrides={"kiosk_rate_per_s": "0"})
    yield h
    stop_web_hall(h)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def viewport(browser, width: int, height: int, mobile: bool = False) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def audit(browser, axe_source: str, name: str) -> list[dict]:
    """axe-core's WCAG 2.x A/AA rules on the page as it is now; the violations (all kept for the record)."""
    browser.execute_script(axe_source)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
        "'best-practice']}}).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
        "nodes: v.nodes.length, where: v.nodes.slice(0, 3).map(n => n.target.join(' ')), "
        "why: v.nodes.slice(0, 3).map(n => n.failureSummary + ' | ' + n.html.slice(0, 120))}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: 0, where: []}]));")
    record = json.loads(RESULTS.read_text("utf-8")) if RESULTS.exists() else {}
    record[name] = {"checked": datetime.now(ZoneInfo("UTC")).isoformat(timespec="seconds"), "violations": result}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True), "utf-8")
    write_table(record)
    return result


def write_table(record: dict) -> None:
    """bench/results/accessibility.md: one row per page (bench/run_all.py puts it in bench/RESULTS.md)."""
    rows = ["### accessibility (axe-core in Chromium, WCAG 2.1 A/AA and best practice)", "",
            "| metric | value | aim |", "|---|---|---|"]
    for name, r in sorted(record.items()):
        bad = serious(r["violations"])
        rest = [v for v in r["violations"] if v not in bad]
        rows.append(f"| {name}: serious or critical / other violations | {len(bad)} / {len(rest)}"
                    + (f" ({', '.join(v['id'] for v in r['violations'])})" if r["violations"] else "") + " | 0 / — |")
    RESULTS.with_suffix(".md").write_text("\n".join(rows) + "\n", "utf-8")


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def test_the_phone_page_in_each_situation(hall, browser, axe_source):
    kiosk, counter = hall.client("kiosk.k1"), hall.client("counter.c1")
    try:
        token = "an-accessible-phone-page-1"        # the kiosk prints it in the QR; its hash goes to the controller
        mine = kiosk.request("issue", service="pay", token_hash=token_hash(token))["ticket"]
        viewport(browser, 390, 760, mobile=True)
        browser.get(f"{hall.base}/t/{token}")
        wait_until(lambda: mine["number"] in page_text(browser), what="the ticket's page")
        assert serious(audit(browser, axe_source, "phone page, waiting")) == []
        assert counter.request("login", clerk="wang")["ok"]
        assert counter.request("call_next")["ticket"]["number"] == mine["number"]
        wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "[aria-live]").text.strip(), what="the call announced")
        assert serious(audit(browser, axe_source, "phone page, called")) == []
        assert hall.admin.request("outage", active=True, message="系统维护，请耐心等候")["ok"]
        wait_until(lambda: "系统维护" in page_text(browser), what="the outage shown")
        assert serious(audit(browser, axe_source, "phone page, outage")) == []
        assert hall.admin.request("outage", active=False)["ok"]
    finally:
        kiosk.close(), counter.close()


def test_the_console_report_and_login(hall, browser, axe_source):
    viewport(browser, 1400, 1000)
    browser.get(hall.base + "/login")
    assert serious(audit(browser, axe_source, "login")) == []
    browser.find_element(By.NAME, "name").send_keys("alice")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#services tr[data-id]"), what="the board")
    assert serious(audit(browser, axe_source, "console, desktop")) == []
    # a confirmation open (the hall's issuing stopped): the dialog is checked too
    click(browser, "#services tr[data-id] button")
    wait_until(lambda: browser.find_element(By.ID, "ask").get_attribute("open") is not None, what="the question")
    assert serious(audit(browser, axe_source, "console, confirmation open")) == []
    browser.find_element(By.ID, "ask-cancel").click()
    viewport(browser, 390, 844, mobile=True)
    browser.get(hall.base + "/console")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#services tr[data-id]"), what="the board")
    assert serious(audit(browser, axe_source, "console, phone width")) == []
    viewport(browser, 1100, 900)
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    browser.get(f"{hall.base}/reports?date={day}")
    wait_until(lambda: browser.find_elements(By.TAG_NAME, "h1"), what="the report")
    assert serious(audit(browser, axe_source, "day report")) == []
    browser.get(f"{hall.base}/planning?day={day}&counter=c2&action=close&from=09:00&to=12:00")
    wait_until(lambda: browser.find_elements(By.ID, "whatif-changed"), what="the planning page with a replay")
    assert serious(audit(browser, axe_source, "planning (forecast and replay)")) == []


def test_the_browser_hall_screen(hall, browser, axe_source):
    viewport(browser, 1920, 1080)
    browser.get(hall.base + "/screen/d1")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#screen .tile"), what="the screen drawn")
    assert serious(audit(browser, axe_source, "hall screen")) == []


def test_the_record_is_complete():
    """Every page above was checked in this run (the table in bench/RESULTS.md is made from it)."""
    record = json.loads(RESULTS.read_text("utf-8"))
    assert {"phone page, waiting", "phone page, called", "phone page, outage", "login", "console, desktop",
            "console, confirmation open", "console, phone width", "day report", "planning (forecast and replay)",
            "hall screen"} <= set(record)
    assert not [name for name, r in record.items() if serious(r["violations"])]

