"""Honest estimates: when nobody is calling a service, no number of minutes is promised.

A counter that stays idle for ``idle_alert_s`` while people wait for its services is one nobody is
at (the supervisors' ``idle_counter`` alert says so too). The estimate does not count on it; when no
counter anyone calls at serves a service, the ticket, the state's service, the phone page, the hall
screen, the console and ``hallq ctl status`` say "暂无法估计 / not known yet", and the day's report
counts how many tickets were told so.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hallq.contract import StateDoc, convert
from hallq.controller.main import open_controller
from hallq.controller.publish import state_document
from hallq.core import commands as c
from hallq.core.rules import QueueRules
from hallq.display.model import HallView
from hallq.printer.layout import Text, TicketView, ticket_layout
from hallq.runtime.config import load_config
from hallq.runtime.mqttlink import Inbound
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL, RecordingLink, write_hall_config
from hallq.tools.ctl import render_status
from hallq.tools.report import make_report, text_table
from hallq.web.pages import phone_texts

CONFIG = load_config(EXAMPLE_HALL)
SETUP = setup_from_config(CONFIG)
RULES = QueueRules(SETUP)
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


def run(state, *cmds, now):
    events = []
    for cmd in cmds:
        state, evs = RULES.handle(state, cmd, now)
        events += evs
    return state, events


def issue(state, service: str, now: datetime):
    state, events = run(state, c.IssueTicket(service=service), now=now)
    return state, events[-1].ticket


def services(state, now) -> dict[str, dict]:
    doc = state_document(CONFIG, SETUP, state, 1, 0, now=now)
    return {s["id"]: s for s in doc["services"]}


def test_counters_nobody_calls_at_promise_no_minutes_until_someone_calls():
    state = RULES.handle(SETUP.initial_state(), c.Tick(), START)[0]
    # nine people queue for pay within a minute; the four counters are open and idle
    for i in range(9):
        state, first = issue(state, "pay", START + timedelta(seconds=5 * i))
    assert first.est_known and services(state, START + timedelta(seconds=45))["pay"]["est_known"]
    # ten minutes on, nobody has called anyone: no counter is counted on, whatever is online
    later = START + timedelta(minutes=10)
    state, _ = run(state, c.Tick(), now=later)
    state, ticket = issue(state, "pay", later)
    assert ticket.waiting_ahead == 9
    assert not ticket.est_known and ticket.est_wait_s == 0
    pay = services(state, later)["pay"]
    assert pay["est_known"] is False and pay["est_wait_s"] == 0
    assert {a.kind for a in state.alerts.values()} >= {"idle_counter"}        # the same rule as the alert
    # a waiting ticket's own estimate (the phone page's) is not known either
    from hallq.core.queries import with_estimate
    assert not with_estimate(SETUP, state, state.tickets[ticket.id], later).est_known
    # c2 (pay only) calls: someone is at work there, the estimates come back
    state, _ = run(state, c.CallNext(counter="c2"), now=later)
    state, ticket = issue(state, "pay", later)
    assert ticket.est_known and ticket.est_wait_s > 0
    assert services(state, later)["pay"]["est_known"] is True
    # once called, a ticket carries no estimate at all (known or not)
    called = next(t for t in state.tickets.values() if t.status == "called")
    assert called.est_known and called.est_wait_s == 0


def test_a_service_no_open_counter_serves_is_not_guessed_from_the_counters_configured():
    state = RULES.handle(SETUP.initial_state(), c.Tick(), START)[0]
    for counter in ("c1", "c3", "c4"):          # every counter that serves biz goes offline
        state, _ = run(state, c.DevicePresence(device=f"counter.{counter}", online=False), now=START)
    state, ticket = issue(state, "biz", START)
    assert not ticket.est_known
    assert services(state, START)["biz"]["est_known"] is False
    state, ticket = issue(state, "pay", START)     # c2 still serves pay
    assert ticket.est_known


def printed(view: TicketView) -> list[str]:
    return [b.text for b in ticket_layout(view, 80).blocks if isinstance(b, Text)]


def test_the_ticket_prints_not_known_instead_of_minutes():
    base = dict(hall_name="城东供电营业厅", hall_name_en="", number="A010", service_name="缴费 Payment",
                service_name_en="", waiting_ahead=9, issued_at=START)
    unknown = printed(TicketView(**base, est_wait_s=0, est_known=False))
    assert "预计等候：暂无法估计  Wait: not known yet" in unknown
    assert not any("分钟" in line for line in unknown)
    assert any("预计等候约9分钟" in line for line in printed(TicketView(**base, est_wait_s=540)))


def test_phone_page_screen_and_ctl_say_not_known():
    view = {"number": "A010", "service": "pay", "status": "waiting", "ahead": 9, "est_wait_s": 0,
            "est_known": False, "mode": "open", "open_counters": 4}
    zh = phone_texts(view, "zh_CN", CONFIG, "", 3)
    assert zh["detail"] == "前面还有9人，暂无法估计等候时间"
    assert "about" not in phone_texts(view, "en", CONFIG, "", 3)["detail"]
    known = phone_texts({**view, "est_known": True, "est_wait_s": 540}, "zh_CN", CONFIG, "", 3)
    assert "9分钟" in known["detail"]

    state = RULES.handle(SETUP.initial_state(), c.Tick(), START)[0]
    for i in range(3):
        state, _ = issue(state, "pay", START)
    later = START + timedelta(minutes=10)
    doc = convert(json.loads(json.dumps(state_document(CONFIG, SETUP, state, 1, 5, now=later), default=str)),
                  StateDoc)
    screen = HallView(CONFIG, CONFIG.display[0])
    screen.apply_state(doc, 1.0, later)
    pay = next(s for s in screen.view(1.0, later).services if s.id == "pay")
    assert (pay.est_zh, pay.est_en) == ("暂无法估计", "wait not known yet")
    biz = next(s for s in screen.view(1.0, later).services if s.id == "biz")
    assert biz.est_zh == "无需等候"                  # nobody waits for biz: that is known
    assert "not known" in render_status(doc, True)


def test_the_day_report_counts_the_tickets_told_not_known(tmp_path):
    hall = write_hall_config(tmp_path / "hall.toml", 9, None)
    config = load_config(hall)
    clock_at = [datetime(2026, 3, 2, 9, 0, tzinfo=TZ)]
    ctl = open_controller(config, tmp_path / "data", link_factory=RecordingLink, clock=lambda: clock_at[0])
    ids = iter(range(1, 1000))

    def at(hhmm: str, device: str, op: str, **args) -> dict:
        h, m = (int(x) for x in hhmm.split(":"))
        clock_at[0] = datetime(2026, 3, 2, h, m, tzinfo=TZ)
        payload = json.dumps({"op": op, "request_id": f"r{next(ids)}", **args}).encode()
        (_, reply), = ctl.apply_batch([Inbound(ctl.topics.request(device), payload, False)]).replies
        return json.loads(reply)

    assert at("09:00", "kiosk.k1", "issue", service="pay")["ticket"]["est_known"] is True
    told = at("09:10", "kiosk.k1", "issue", service="pay")["ticket"]     # nobody has called for 10 min
    assert told["est_known"] is False and told["est_wait_s"] == 0
    assert at("09:11", "counter.c2", "call_next")["ok"]
    assert at("09:12", "kiosk.k1", "issue", service="pay")["ticket"]["est_known"] is True
    ctl.store.close()
    report = make_report(config, tmp_path / "data", "2026-03-02")
    assert report.estimates is not None and report.estimates.not_known == 1
    assert "1张号票告知“暂无法估计等候时间”" in text_table(report)
    assert "1 tickets were told the wait was not known yet" in text_table(report, "en")
