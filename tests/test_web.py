"""hallq web against a real hall (Mosquitto, controller, `hallq web` as processes): what answers
without a login, sessions, CSRF, login throttling, tokens; the phone page opened from the QR
code of a printed ticket, the console and the browser screen in a real Chromium."""
from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from hallq.testing import Process, wait_until
from webkit import PASSWORD, add_user, chromium, click, console_report_table, start_web_hall, stop_web_hall

pytestmark = pytest.mark.processes

R = "hallq/v1/h1"


@pytest.fixture
def hall(tmp_path):
    h = start_web_hall(tmp_path)
    yield h
    stop_web_hall(h)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def test_nothing_but_phone_pages_screens_and_static_files_answers_without_a_login(hall):
    web = hall.http()
    assert web.get("/console").status_code == 303 and web.get("/console").headers["location"] == "/login"
    for path in ("/api/board", "/api/board/stream"):
        assert web.get(path).status_code == 401, path
    assert web.post("/api/action", json={"op": "open", "args": {}}).status_code == 401
    assert web.get("/screen/d1").status_code == 200
    assert web.get("/screen/nope").status_code == 404
    assert web.get("/static/phone.js").status_code == 200
    unknown = web.get("/t/" + secrets.token_urlsafe(12))
    assert unknown.status_code == 404 and "正在查找您的号票" in unknown.text   # a friendly page, not a bare error
    for response in (unknown, web.get("/login"), web.get("/screen/d1")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"


def test_session_csrf_and_a_console_action_reach_the_controller(hall):
    client, csrf = hall.login()
    assert client.cookies.get("hallq_session")
    refused = client.post("/api/action", json={"op": "suspend_service", "args": {"service": "biz"}})
    assert refused.status_code == 403                                    # no CSRF token
    wrong = client.post("/api/action", json={"op": "suspend_service", "args": {"service": "biz"}},
                        headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403
    mark = hall.admin.mark()
    done = client.post("/api/action", json={"op": "suspend_service", "args": {"service": "biz"}},
                       headers={"X-CSRF-Token": csrf})
    assert done.json() == {"ok": True, "code": "", "message": ""}
    hall.admin.state(lambda s: next(x for x in s["services"] if x["id"] == "biz")["suspended"], start=mark)
    bad = client.post("/api/action", json={"op": "unknown_thing", "args": {}}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400
    refused_by_controller = client.post("/api/action", json={"op": "suspend_service", "args": {"service": "nope"}},
                                        headers={"X-CSRF-Token": csrf}).json()
    assert refused_by_controller["ok"] is False and refused_by_controller["code"] == "unknown_service"
    # logging out ends the session everywhere
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/api/board").status_code == 401


def test_logins_are_throttled_and_passwords_checked(hall):
    web = hall.http()
    for _ in range(5):
        assert web.post("/login", data={"name": "alice", "password": "wrong"}).status_code == 401
    throttled = web.post("/login", data={"name": "alice", "password": PASSWORD})
    assert throttled.status_code == 429                                  # even the right password, for now
    assert add_user(hall.hall, hall.tmp / "web", "bob", "admin", PASSWORD).returncode == 2      # no such role
    short = add_user(hall.hall, hall.tmp / "web", "bob", "manager", "short")
    assert short.returncode == 2 and "at least 8" in short.stderr


def test_tokens_cannot_be_enumerated_and_never_travel(hall, tmp_path):
    out = tmp_path / "printed"
    kiosk = Process(["kiosk", "--config", str(hall.hall), "--id", "k1", "--stub", "--printer-out", str(out),
                     "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start()
    try:
        hall.admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"))
        mark = hall.admin.mark()
        hall.admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
        # the picture is whole once the bytes, written after it, are there
        png = wait_until(lambda: list(out.glob("A*.bin")), what="a printed ticket", timeout=15)[0].with_suffix(".png")
        url = decode_qr(png)
        token = url.rsplit("/t/", 1)[1]
        assert url == f"{hall.base}/t/{token}" and len(token) >= 16
        web = hall.http()
        assert wait_until(lambda: web.get(f"/t/{token}").status_code == 200, what="the page")
        near = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert web.get(f"/t/{near}").status_code == 404
        assert all(web.get("/t/" + secrets.token_urlsafe(12)).status_code == 404 for _ in range(50))
        issued = hall.admin.wait_for(lambda t, d: t == f"{R}/event" and d["type"] == "ticket_issued", start=mark)
        assert issued["ticket"]["token_hash"] and token not in str(hall.admin.messages)   # only the hash travels
    finally:
        kiosk.stop()


def decode_qr(png: Path) -> str:
    done = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_phone_page_from_the_printed_qr_follows_the_call(hall, browser, tmp_path):
    out = tmp_path / "printed"
    kiosk = Process(["kiosk", "--config", str(hall.hall), "--id", "k1", "--stub", "--printer-out", str(out),
                     "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start()
    counter = hall.client("counter.c1")
    try:
        hall.admin.wait_for(lambda t, d: t == f"{R}/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"))
        for _ in range(2):
            hall.admin.publish(f"{R}/sim/kiosk.k1", {"press": "pay"})
            time.sleep(0.5)
        png = wait_until(lambda: sorted(out.glob("A002.bin")), what="A002 printed", timeout=15)[0].with_suffix(".png")
        browser.get(decode_qr(png))
        text = lambda: browser.find_element("id", "headline").text + " " + browser.find_element("id", "detail").text
        assert browser.find_element("id", "number").text == "A002"
        wait_until(lambda: "前面还有1人" in text(), what=f"one ahead (page says {text()!r})")
        assert counter.request("call_next")["ticket"]["number"] == "A001"
        wait_until(lambda: "前面还有0人" in text() and "快到您了" in text(), what=f"next (page says {text()!r})")
        assert counter.request("call_next")["ticket"]["number"] == "A002"
        wait_until(lambda: "请到1号窗口" in text(), what=f"called (page says {text()!r})")
        assert "status-called" in browser.find_element("tag name", "body").get_attribute("class")
        size = sum(len(browser.execute_script(f"return (await fetch('{p}')).text()") or "")
                   for p in ("/static/phone.js", "/static/phone.css")) + len(browser.page_source)
        assert size < 50_000
    finally:
        counter.close()
        kiosk.stop()


def test_a_page_opened_before_its_ticket_reached_the_web_looks_again_and_finds_it(hall, browser):
    """Scanned the moment it printed, the ticket's event may trail the kiosk's reply: the page says it is
    looking, looks again, and shows the ticket; a ticket still unknown then is said to be unknown."""
    from hallq.contract.tokens import token_hash
    token = "scanned-the-moment-it-printed-1"
    web = hall.http()
    first = web.get(f"/t/{token}")
    assert first.status_code == 404 and first.headers["refresh"] == f"3; url=/t/{token}?again=1"
    assert "正在查找您的号票" in first.text
    again = web.get(f"/t/{token}?again=1")
    assert again.status_code == 404 and "refresh" not in again.headers and "号票无效" in again.text
    browser.get(f"{hall.base}/t/{token}")
    assert "正在查找您的号票" in browser.find_element("tag name", "body").text
    kiosk = hall.client("kiosk.k1")
    try:
        number = kiosk.request("issue", service="pay", token_hash=token_hash(token))["ticket"]["number"]
    finally:
        kiosk.close()
    shown = wait_until(lambda: browser.find_elements("id", "number"), what="the ticket found on the second look")
    assert shown[0].text == number


def test_console_in_a_browser_shows_calls_and_acts(hall, browser):
    browser.get(hall.base + "/console")
    assert browser.current_url.endswith("/login")
    browser.find_element("name", "name").send_keys("alice")
    browser.find_element("name", "password").send_keys(PASSWORD)
    browser.find_element("css selector", "form button").click()
    wait_until(lambda: browser.current_url.endswith("/console"), what="logged in")
    kiosk, counter = hall.client("kiosk.k1"), hall.client("counter.c2")
    try:
        kiosk.request("issue", service="pay")
        wait_until(lambda: "A001" in browser.find_element("id", "waiting").text, what="the waiting list")
        counter.request("call_next")
        wait_until(lambda: "A001" in browser.find_element("id", "counters").text, what="the counter's ticket")
        assert "A001" not in browser.find_element("id", "waiting").text
        mark = hall.admin.mark()
        click(browser, '#services tr[data-id="pay"] button[data-op="suspend_service"]')
        browser.find_element("id", "ask-ok").click()                 # it asks first: it stops issuing
        wait_until(lambda: "已完成" in browser.find_element("id", "result").text, what="the action's result")
        hall.admin.state(lambda s: s["services"][0]["suspended"], start=mark)          # pay: the first service
        wait_until(lambda: "暂停取号" in browser.find_element("id", "services").text, what="the board shows it")
    finally:
        kiosk.close(), counter.close()


def test_browser_screen_shows_a_call(hall, browser):
    browser.get(hall.base + "/screen/d1")
    # the screen is drawn anew at each update: its texts are read in one go, in the page
    def texts(selector: str) -> str:
        return browser.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent).join(' ')", selector)

    def card_texts() -> str:
        return texts("#screen .t[data-kind^=call_]")
    wait_until(lambda: "城东供电营业厅" in texts("#screen h1"), what="the screen's header")
    kiosk, counter = hall.client("kiosk.k1"), hall.client("counter.c3")
    try:
        kiosk.request("issue", service="biz")
        counter.request("call_next")
        wait_until(lambda: "B001" in card_texts(), what="the call on its card")
        assert "请到3号窗口" in card_texts()
        # the call is spoken from a clip the web rendered (espeak-ng or a voice pack): a real WAV. A silent
        # speaker gathers calls for a moment before it speaks, so the clip may come a little after the card
        def spoken() -> list[dict]:
            with hall.http().stream("GET", "/screen/d1/stream") as stream:
                doc = next(json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: "))
            return [s for s in doc["speech"] if s["number"] == "B001"]
        said = wait_until(spoken, what="the call among the screen's clips", poll_s=0.1)
        assert said[-1]["counter"] == "3号窗口"
        wav = hall.http().get(said[-1]["url"]).content
        assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 20_000     # chime and words
    finally:
        kiosk.close(), counter.close()


def test_console_reports_equal_the_halls_own_report(hall, tmp_path):
    import csv
    import io
    import sys
    from datetime import datetime
    from zoneinfo import ZoneInfo
    kiosk, c1, c2 = hall.client("kiosk.k1"), hall.client("counter.c1"), hall.client("counter.c2")
    try:
        for service in ("pay", "biz", "pay", "pay", "biz"):
            assert kiosk.request("issue", service=service)["ok"]
        c1.request("call_next"), c1.request("finish"), c2.request("call_next"), c2.request("no_show")
        c1.request("call_next"), c1.request("transfer", service="pay")
    finally:
        kiosk.close(), c1.close(), c2.close()
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    done = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", str(hall.hall), "--data",
                           str(hall.tmp / "controller-data"), "--date", day, "--csv", str(tmp_path / "hall.csv")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # the hall's own report and the console's: the same Chinese headings, names and minutes
    titles = ("取号", "办结", "过号", "作废", "等候中位数（分钟）", "九成等候不超过（分钟）")
    with open(tmp_path / "hall.csv", encoding="utf-8-sig") as fh:
        wanted = {r["名称"]: {t: r[t] for t in titles} for r in csv.DictReader(fh) if r["范围"] == "业务"
                  and r["取号"] != "0"}
    assert set(wanted) == {"缴费", "业务办理"}
    web = hall.http()
    assert web.get("/reports").status_code == 303 and web.get("/reports.csv").status_code == 401
    client, _ = hall.login()

    def figures():
        text = client.get(f"/reports.csv?date={day}").content.decode("utf-8")
        assert text.startswith("\ufeff")                       # Excel opens Chinese names with a BOM
        got = {name: {t: row.get(t, "") for t in titles} for name, row in console_report_table(text).items()}
        return got if got == wanted else None
    wait_until(figures, timeout=20, what=f"the console's figures equal the hall's {wanted}", poll_s=0.3)
    page = client.get(f"/reports?date={day}")
    assert page.status_code == 200 and 'id="service-figures"' in page.text and "<svg" in page.text
    assert "日报表" in page.text and ">缴费<" in page.text and "pay" not in page.text.split("<main")[1]
    assert "每日存档" not in page.text                           # a supervisor; the copies are for managers
    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(client.get(f"/reports.xlsx?date={day}").content))
    assert book.sheetnames[:3] == ["按业务", "按窗口", "按柜员"] and book["按业务"]["A1"].value == "名称"
    month = client.get(f"/reports?month={day[:7]}")
    assert month.status_code == 200 and "月报表" in month.text
    assert client.get("/reports/nightly/h1-2026-01-01.csv").status_code == 403
    assert client.get("/reports?date=yesterday").status_code == 400


def test_nightly_copy_is_a_csv_for_excel(tmp_path):
    import json as _json
    from hallq.records.store import CentralStore, event_row
    from hallq.contract import read_event
    from hallq.web.reports import Reports
    store = CentralStore(f"sqlite:///{tmp_path / 'records.db'}")
    at = "2026-11-25T10:00:00+08:00"
    ticket = {"id": "20261125-A001", "number": "A001", "service": "pay", "status": "waiting", "day": "2026-11-25",
              "issued_at": at}
    payload = _json.dumps({"epoch": 1, "seq": 1, "type": "ticket_issued", "at": at, "ticket": ticket}).encode()
    store.add_events([event_row("h1", read_event(payload), payload)])
    from hallq.runtime.config import load_config
    from hallq.testing import EXAMPLE_HALL
    reports = Reports(store, "h1", tmp_path / "reports", load_config(EXAMPLE_HALL))
    path = reports.nightly("2026-11-25")
    text = path.read_bytes().decode("utf-8")
    # UTF-8 with a BOM (Excel), the hall's name and the day, Chinese headings, names not ids
    assert text.startswith("\ufeff城东供电营业厅 日报表 2026-11-25\r\n")
    assert "名称,取号,办结,过号,作废" in text and "\r\n缴费,1,0,0,0" in text and "pay" not in text
    assert reports.nightly_files() == ["h1-2026-11-25.csv"]
    store.close()


def test_a_controller_that_cannot_write_is_a_critical_alert_on_the_board(hall):
    """The controller's presence carries why it takes no work (disk full: hallq/controller/storage_faults.py);
    the console says so first, and stops saying it when the controller is back."""
    from hallq.testing import HallClient

    client, _ = hall.login()
    voice = HallClient(hall.broker.port, "fault-test", hall.broker.credentials["controller"], subscribe=[],
                       username="controller")
    fault = "cannot write /var/lib/hallq/controller/controller.db: the disk is full (0.0 MB free)"

    def board_alerts() -> list[dict]:
        return client.get("/api/board").json()["alerts"]

    try:
        voice.publish(f"{R}/presence/controller", {"online": False, "epoch": 99, "fault": fault}, retain=True)
        alerts = wait_until(lambda: [a for a in board_alerts() if a["id"] == "controller:storage"], timeout=20,
                            what="the storage alert")
        assert alerts[0]["severity"] == "critical" and "disk is full" in alerts[0]["text"]
        assert board_alerts()[0]["id"] == "controller:storage"               # first
        voice.publish(f"{R}/presence/controller", {"online": True, "epoch": 99}, retain=True)
        wait_until(lambda: not [a for a in board_alerts() if a["id"] == "controller:storage"], timeout=20,
                   what="the alert gone")
    finally:
        voice.close()
