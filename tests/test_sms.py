"""SMS through a GSM modem (an emulator on a pseudo-terminal speaking the AT subset) from a real
controller: "your turn is near" and "please go to counter 2" to those who left a number, each message
exactly once and in the order queued, across a controller killed mid-way and a modem that answers
ERROR; a reply "1" moves the ticket back; a phone number never appears in an event or the log."""
from __future__ import annotations

import sqlite3

import pytest

from hallq.hardware.gsm import GsmError, GsmModem, StatusReport
from hallq.testing import start_controller, wait_until, write_hall_config
from hallq.testing.modem import ModemEmulator

pytestmark = pytest.mark.processes
R = "hallq/v1/h1"
PHONES = ["13800138001", "13800138002", "13800138003"]


@pytest.fixture
def modem():
    emulator = ModemEmulator(capacity=6).start()
    yield emulator
    emulator.stop()


def test_the_driver_speaks_the_at_subset_and_a_fault_is_a_fault(modem):
    gsm = GsmModem(modem.path, timeout_s=3)
    gsm.setup()
    slot = gsm.store("13800138000", "请A012号到3号窗口办理")
    assert gsm.stored_status(slot) == "STO UNSENT"
    gsm.send_stored(slot)
    assert gsm.stored_status(slot) == "STO SENT" and modem.sent_texts() == [("13800138000", "请A012号到3号窗口办理")]
    modem.fail("AT+CMSS", "ERROR")
    with pytest.raises(GsmError):
        gsm.send_stored(gsm.store("13800138000", "x"))
    for i in range(6):                      # (the status report and the unsent copy hold two slots)
        modem.deliver("13800138000", str(i))
    with pytest.raises(GsmError) as full:                          # a full SIM says so
        gsm.store("13800138000", "y")
    assert full.value.code == "322" and full.value.condition == "storage_full"
    seen = gsm.unread()
    # the network's status reports of the two sends (delivered, then the refused one's never came), then the texts
    assert [(r.reference, r.outcome, r.recipient) for r in seen if isinstance(r, StatusReport)] == \
        [(1, "delivered", "13800138000")]
    assert [m.text for m in seen if not isinstance(m, StatusReport)][:2] == ["0", "1"]
    gsm.delete_read()
    assert gsm.store("13800138000", "y") >= 1
    gsm.close()


def test_a_report_on_a_message_sent_just_before_a_power_cut_is_recorded(tmp_path):
    """Cut between the modem's send and the outbox's note of it, a message is found sent on the SIM
    at the next start, without its reference: the network's report on it is matched by its number
    (as the report may give it, +86...), not lost; a report on a number never sent to changes nothing."""
    from hallq.controller.store import Store
    from hallq.hardware.sms import SmsWorker

    store = Store(tmp_path / "controller.db")
    db = store.db
    for key, phone, reference in (("a", "13800138001", 7), ("b", "13800138002", None), ("c", "13800138003", None)):
        db.execute("INSERT INTO sms_outbox (key, ticket, day, phone, text, state, reference, queued_at) "
                   "VALUES (?, 't', '2026-12-05', ?, 'x', 'sent', ?, 'now')", (key, phone, reference))
    SmsWorker._delivery(db, StatusReport(1, 7, 0, "13800138001"))              # by its reference
    SmsWorker._delivery(db, StatusReport(2, 9, 0, "+8613800138002"))           # sent as the power went
    SmsWorker._delivery(db, StatusReport(3, 11, 0, "13900000000"))             # no such message
    assert dict(db.execute("SELECT key, delivery FROM sms_outbox")) == {"a": "delivered", "b": "delivered", "c": None}
    assert db.execute("SELECT reference FROM sms_outbox WHERE key = 'b'").fetchone() == (9,)
    store.close()


def test_messages_go_once_in_order_across_a_kill_and_modem_errors_and_a_reply_moves_the_ticket(
        broker, admin, tmp_path, modem):
    hall = write_hall_config(tmp_path / "hall.toml", broker.port, broker.broker_dir / "credentials.toml",
                             edits={'prefix = "A"\n': 'prefix = "A"\nremote_daily_cap = 10\n'},
                             extra=f'[sms]\nport = "{modem.path}"\nnear = 1\npoll_s = 0.3\nretry_max_s = 1.0\n')
    data = tmp_path / "controller-data"
    controller = start_controller(hall, tmp_path, admin, data=data)
    kiosk, desk = broker.client("kiosk.k1"), broker.client("counter.c2")
    try:
        modem.fail("AT+CMSS", "ERROR", times=2)                    # the modem refuses the first two sends
        for i, phone in enumerate(PHONES):
            joined = admin.request("join", service="pay", device=f"{i:032x}", address="e" * 32, code=f"10{i}0",
                                   phone=phone)
            assert joined["ok"], joined
            assert admin.request("arrived", code=f"10{i}0")["ok"]
        for _ in range(4):                                          # people behind them
            assert kiosk.request("issue", service="pay")["ok"]
        # A001 (0 ahead) and A002 (1 ahead): "near", after the modem's errors
        wait_until(lambda: len(modem.sent_texts()) >= 2, what="the first messages", timeout=20)
        assert desk.request("call_next")["ticket"]["number"] == "A001"
        wait_until(lambda: any("请A001号到2号窗口办理" in t for _, t in modem.sent_texts()), what="A001's call by SMS")
        controller.kill()                                           # a power cut mid-way
        controller = start_controller(hall, tmp_path, admin, data=data)
        assert desk.request("call_next")["ticket"]["number"] == "A002"
        # A003's customer asks for more time by SMS
        wait_until(lambda: any(n == PHONES[2] and "前面还有" in t for n, t in modem.sent_texts()), what="A003 near")
        mark = admin.mark()
        modem.deliver(PHONES[2], "1")
        moved = admin.wait_for(lambda t, d: t == f"{R}/event" and d.get("type") == "ticket_postponed", start=mark)
        assert moved["ticket"]["number"] == "A003" and moved["places"] == 3
        wait_until(lambda: any(n == PHONES[2] and "已为您延后3位" in t for n, t in modem.sent_texts()),
                   what="the reply's answer")
        assert desk.request("call_next")["ticket"]["number"] == "A004"        # A003 let three go first
        wait_until(lambda: not pending(data), what="the outbox sent", timeout=20)
        # and the network's status reports recorded: each delivered
        wait_until(lambda: delivered(data), what="every message's delivery report", timeout=20)
    finally:
        kiosk.close(), desk.close()
        controller.stop()
    sent = modem.sent_texts()
    # each once, and in the order they were queued
    assert len(sent) == len(set(sent)), sent
    db = sqlite3.connect(data / "controller.db")
    queued = [(p, t) for p, t in db.execute("SELECT phone, text FROM sms_outbox ORDER BY id")]
    assert sent == queued
    assert ("13800138001", "【城东供电营业厅】请A001号到2号窗口办理。") in sent
    # no phone number in any event, nor in the controller's log
    bodies = " ".join(b.decode() if isinstance(b, bytes) else b for (b,) in db.execute("SELECT body FROM events"))
    db.close()
    assert not any(p in bodies for p in PHONES)
    assert not any(p in controller.output() for p in PHONES)


def pending(data) -> bool:
    db = sqlite3.connect(data / "controller.db")
    try:
        return db.execute("SELECT COUNT(*) FROM sms_outbox WHERE state != 'sent'").fetchone()[0] > 0
    finally:
        db.close()


def test_a_number_left_on_the_join_page_gets_the_sms(tmp_path, modem):
    import re

    import httpx

    from webkit import start_web_hall, stop_web_hall
    hall = start_web_hall(tmp_path, edits={'prefix = "A"\n': 'prefix = "A"\nremote_daily_cap = 10\n'},
                          web_extra=f'\n[sms]\nport = "{modem.path}"\nnear = 2\npoll_s = 0.3\n')
    try:
        with httpx.Client(base_url=hall.base, headers={"Accept-Language": "zh-CN"}) as phone:
            page = phone.get("/join/pay")
            assert "手机号码（选填）" in page.text
            nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
            bad = phone.post("/join/pay", data={"nonce": nonce, "phone": "12345"})
            assert bad.status_code == 400 and "手机号码为11位数字" in bad.text
            done = phone.post("/join/pay", data={"nonce": nonce, "phone": "138 0013 8009"}, follow_redirects=False)
            assert done.status_code == 303 and done.headers["location"].startswith("/t/")
        wait_until(lambda: any(n == "13800138009" and "A001号前面还有0人" in t for n, t in modem.sent_texts()),
                   what="the SMS to the number left on the page", timeout=20)
        assert "13800138009" not in hall.web.output()
    finally:
        stop_web_hall(hall)


def test_a_booking_with_a_number_is_reminded_on_its_day(tmp_path, modem):
    import re

    import httpx

    from webkit import start_web_hall, stop_web_hall
    hall = start_web_hall(tmp_path, edits={'prefix = "A"\n': 'prefix = "A"\nbooking_slot_min = 5\n'},
                          web_extra=f'\n[sms]\nport = "{modem.path}"\npoll_s = 0.3\nremind_before_s = 3600\n')
    try:
        with httpx.Client(base_url=hall.base, headers={"Accept-Language": "zh-CN"}) as phone:
            page = phone.get("/book/pay")
            assert "当天短信提醒" in page.text
            slots = re.findall(r'name="slot" value="([^"]+)" class="slot">', page.text)
            if not slots:
                pytest.skip("the last minutes of the day: no slot left today")
            nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
            done = phone.post("/book/pay", data={"nonce": nonce, "slot": slots[0], "phone": "13800138007"})
            code = re.search(r'id="code" class="number code">(\d+)<', done.text).group(1)
        wait_until(lambda: any(n == "13800138007" and f"预约码{code}签到" in t for n, t in modem.sent_texts()),
                   what="the booking's reminder", timeout=20)
        assert "13800138007" not in hall.web.output() and "13800138007" not in hall.broker.controller.output()
    finally:
        stop_web_hall(hall)


def delivered(data) -> bool:
    db = sqlite3.connect(data / "controller.db")
    try:
        return {d for (d,) in db.execute("SELECT delivery FROM sms_outbox")} == {"delivered"}
    finally:
        db.close()
