"""``hallq report`` numbers on a known small day.

The day is built by the real controller code (hallq.controller.service.Controller applying requests as they
arrive from MQTT, into its own SQLite) with a clock we set, so every wait and service time is
known to the second. A second test runs the controller as a process on a real Mosquitto and the
report as a process beside it (read-only on a live database).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hallq.runtime.config import load_config
from hallq.controller.main import open_controller
from hallq.runtime.mqttlink import Inbound
from hallq.records.day import TimeFrame, nearest_rank
from hallq.tools.report import make_report, text_table

from hallq.testing import REPO, RecordingLink, start_controller, write_hall_config

TZ = ZoneInfo("Asia/Shanghai")
DAY = "2026-03-02"


class TestClock:
    """The clock the test moves, passed to the real controller."""
    __test__ = False

    def __init__(self) -> None:
        self.at = datetime(2026, 3, 2, 8, 59, tzinfo=TZ)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def known_day(tmp_path: Path):
    # port 9 (discard): the link is never started; requests go straight into apply_batch
    hall = write_hall_config(tmp_path / "hall.toml", 9, None,
                             hall_overrides={"service_level_wait_s": "780", "service_level_share": "0.8"})
    config = load_config(hall)
    clock = TestClock()
    ctl = open_controller(config, tmp_path / "data", link_factory=RecordingLink, clock=clock)
    ids = iter(range(1, 1000))

    def at(hhmm: str, device: str, op: str, **args) -> dict:
        h, m, *s = (int(x) for x in hhmm.split(":"))
        clock.at = datetime(2026, 3, 2, h, m, s[0] if s else 0, tzinfo=TZ)
        payload = json.dumps({"op": op, "request_id": f"r{next(ids)}", **args}).encode()
        out = ctl.apply_batch([Inbound(ctl.topics.request(device), payload, False)])
        (topic, reply), = out.replies
        return json.loads(reply)

    assert at("08:59", "counter.c1", "login", clerk="wang")["ok"]
    assert at("08:59", "counter.c2", "login", clerk="li")["ok"]
    assert at("09:00", "kiosk.k1", "issue", service="pay")["ticket"]["number"] == "A001"
    assert at("09:02", "kiosk.k1", "issue", service="pay")["ticket"]["number"] == "A002"
    assert at("09:05", "kiosk.k2", "issue", service="biz")["ticket"]["number"] == "B001"
    assert at("09:10", "counter.c1", "call_next")["ticket"]["number"] == "A001"      # waited 600 s
    assert at("09:14", "counter.c1", "finish", rating=1)["ticket"]["status"] == "served"  # 240 s
    assert at("09:15", "counter.c2", "call_next")["ticket"]["number"] == "A002"      # waited 780 s
    assert at("09:16", "counter.c2", "no_show")["ticket"]["status"] == "no_show"
    assert at("09:20", "counter.c1", "call_next")["ticket"]["number"] == "B001"      # waited 900 s
    assert at("09:30", "counter.c1", "finish")["ok"]                                  # 600 s
    assert at("09:30:30", "counter.c1", "rate", rating=3)["ticket"]["rating"] == 3
    assert at("10:00", "kiosk.k1", "issue", service="pay")["ticket"]["number"] == "A003"
    b002 = at("10:01", "kiosk.k2", "issue", service="biz")["ticket"]
    assert at("10:02", "kiosk.k2", "void", ticket_id=b002["id"], reason="not printed")["ticket"]["status"] == "voided"
    assert at("10:05", "counter.c2", "call_next")["ticket"]["number"] == "A003"      # waited 300 s
    assert at("10:07", "counter.c2", "call_next")["error"]["code"] == "no_ticket"     # changes nothing
    assert at("10:08", "counter.c2", "finish")["ok"]                                  # 180 s
    assert at("10:30", "kiosk.k1", "issue", service="pay")["ticket"]["number"] == "A004"  # still waiting
    ctl.store.close()
    return config, tmp_path / "data"


def row(report, scope: str, key: str) -> dict:
    return next(r for r in report.rows if r["scope"] == scope and r["key"] == key)


def test_known_day_numbers(known_day):
    config, data = known_day
    report = make_report(config, data, DAY)
    hall = report.hall
    assert (hall["issued"], hall["served"], hall["no_show"], hall["voided"], hall["open"]) == (6, 3, 1, 1, 1)
    # called customers waited 600, 780, 900, 300 s
    assert (hall["wait_median_s"], hall["wait_p90_s"], hall["wait_max_s"]) == (690.0, 900.0, 900.0)
    assert hall["within_target_share"] == 0.75 and hall["target_met"] is False   # 3 of 4 within 780 s < 80 %
    assert (hall["rated"], hall["rating_1"], hall["rating_3"], hall["satisfied_share"]) == (2, 1, 1, 0.5)

    pay = row(report, "service", "pay")
    assert (pay["issued"], pay["served"], pay["no_show"], pay["voided"], pay["open"]) == (4, 2, 1, 0, 1)
    assert (pay["wait_median_s"], pay["wait_p90_s"], pay["wait_max_s"]) == (600.0, 780.0, 780.0)
    assert pay["within_target_share"] == 1.0 and pay["target_met"] is True
    assert pay["service_median_s"] == 210.0      # 240 and 180

    biz = row(report, "service", "biz")
    assert (biz["issued"], biz["served"], biz["voided"], biz["wait_max_s"]) == (2, 1, 1, 900.0)
    assert biz["within_target_share"] == 0.0 and biz["target_met"] is False

    c1, c2 = row(report, "counter", "c1"), row(report, "counter", "c2")
    assert (c1["served"], c1["no_show"], c1["service_median_s"], c1["service_mean_s"]) == (2, 0, 420.0, 420.0)
    assert (c1["rating_1"], c1["rating_3"]) == (1, 1)
    assert (c2["served"], c2["no_show"], c2["service_median_s"]) == (1, 1, 180.0)
    assert row(report, "counter", "c3")["served"] == 0
    wang, li = row(report, "clerk", "wang"), row(report, "clerk", "li")
    assert (wang["served"], wang["no_show"]) == (2, 0) and (li["served"], li["no_show"]) == (1, 1)

    assert report.arrivals_by_hour == {"pay": {9: 2, 10: 2}, "biz": {9: 1, 10: 1}}
    assert sorted(report.waits_by_hour[9]) == [600.0, 780.0, 900.0] and report.waits_by_hour[10] == [300.0]
    text = text_table(report, "zh_CN", config)
    hall_line = [line for line in text.splitlines() if line.startswith("城东供电营业厅 ")][1]   # after the title
    assert "11.5" in hall_line and "15.0" in hall_line and hall_line.split()[-2] == "否"   # median 690 s, max 900 s
    assert "按业务" in text and "缴费" in text and "1号窗口" in text and "pay" not in text
    assert "Wait, longest (min)" in text_table(report, "en", config)


def test_other_day_is_empty(known_day):
    config, data = known_day
    report = make_report(config, data, "2026-03-03")
    assert report.hall["issued"] == 0 and report.hours == []


def test_time_frame_maps_a_compressed_day(known_day):
    config, data = known_day
    origin = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
    frame = TimeFrame(origin_real=origin, origin_shown=origin - timedelta(hours=1), speed=2.0)
    report = make_report(config, data, DAY, frame)
    assert report.hall["wait_max_s"] == 1800.0                  # 900 s x 2
    # A001 09:00 -> 08:00 shown, A002 09:02 -> 08:04, A003 10:00 -> 10:00, A004 10:30 -> 11:00
    assert report.arrivals_by_hour["pay"] == {8: 2, 10: 1, 11: 1}


def test_nearest_rank():
    assert nearest_rank([], 0.9) is None
    assert nearest_rank([5.0], 0.9) == 5.0
    assert nearest_rank(list(map(float, range(1, 11))), 0.9) == 9.0
    assert nearest_rank(list(map(float, range(1, 12))), 0.9) == 10.0


@pytest.mark.processes
def test_cli_writes_csv_html_and_table(known_day, tmp_path):
    config, data = known_day
    out_csv, out_html = tmp_path / "r.csv", tmp_path / "r.html"
    before = (data / "controller.db").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", config.path, "--data", str(data),
                           "--date", DAY, "--csv", str(out_csv), "--html", str(out_html)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "业务办理" in proc.stdout and "按柜员" in proc.stdout and "wang" in proc.stdout
    # Excel's CSV: a BOM, CRLF, Chinese headings, names, minutes; the code last (to join head office's)
    raw = out_csv.read_bytes()
    assert raw.startswith("\ufeff日期,范围,名称,时段,取号,办结,过号,作废".encode()) and b"\r\n" in raw
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    hall = next(r for r in rows if r["范围"] == "全厅")
    assert (hall["名称"], hall["取号"], hall["办结"], hall["过号"], hall["九成等候不超过（分钟）"]) == \
        ("城东供电营业厅", "6", "3", "1", "15.0")
    assert {(r["时段"], r["名称"], r["取号"], r["代码"]) for r in rows if r["范围"] == "时段"} == {
        ("09:00", "缴费", "2", "pay"), ("10:00", "缴费", "2", "pay"), ("09:00", "业务办理", "1", "biz"),
        ("10:00", "业务办理", "1", "biz")}
    page = out_html.read_text("utf-8")
    assert page.count("data:image/png;base64,iVBOR") == 2 and "class='bad'>否" in page and "日报表" in page
    assert (data / "controller.db").read_bytes() == before      # read-only


def test_cli_refuses_bad_date_and_missing_data(known_day, tmp_path):
    config, data = known_day
    bad = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", config.path, "--data", str(data),
                          "--date", "2026-13-01"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", config.path,
                              "--data", str(tmp_path / "nowhere"), "--date", DAY],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no controller records" in missing.stderr


def test_report_beside_a_running_controller(broker, hall_config, admin, tmp_path):
    """Real Mosquitto, real controller process; the report reads its live database."""
    ctl = start_controller(hall_config, tmp_path, admin)
    try:
        kiosk = broker.client("kiosk.k1")
        counter = broker.client("counter.c2")
        numbers = [kiosk.request("issue", service="pay")["ticket"]["number"] for _ in range(3)]
        assert numbers == ["A001", "A002", "A003"]
        assert counter.request("login", clerk="zhao")["ok"]
        assert counter.request("call_next")["ticket"]["number"] == "A001"
        assert counter.request("call_next")["ticket"]["number"] == "A002"   # A001 served
        assert counter.request("no_show")["ok"]
        day = datetime.now(TZ).date().isoformat()
        proc = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", str(hall_config),
                               "--data", str(tmp_path / "controller-data"), "--date", day, "--csv", str(tmp_path / "x.csv")],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        rows = {(r["范围"], r["代码"]): r for r in csv.DictReader((tmp_path / "x.csv").open(encoding="utf-8-sig"))}
        hall = rows[("全厅", "h1")]
        assert (hall["取号"], hall["办结"], hall["过号"], hall["未办完"]) == ("3", "1", "1", "1")
        assert (rows[("柜员", "zhao")]["办结"], rows[("窗口", "c2")]["过号"]) == ("1", "1")
        # the controller carries on after being read
        assert kiosk.request("issue", service="pay")["ticket"]["number"] == "A004"
        kiosk.close(), counter.close()
    finally:
        ctl.stop()


def test_calls_by_number_appointments_and_estimates_in_the_report(tmp_path):
    hall = write_hall_config(tmp_path / "hall.toml", 9, None)
    config = load_config(hall)
    clock = TestClock()
    ctl = open_controller(config, tmp_path / "data", link_factory=RecordingLink, clock=clock)
    ids = iter(range(1, 1000))

    def at(hhmm: str, device: str, op: str, **args) -> dict:
        h, m = (int(x) for x in hhmm.split(":"))
        clock.at = datetime(2026, 3, 2, h, m, tzinfo=TZ)
        payload = json.dumps({"op": op, "request_id": f"r{next(ids)}", **args}).encode()
        (_, reply), = ctl.apply_batch([Inbound(ctl.topics.request(device), payload, False)]).replies
        return json.loads(reply)

    assert at("08:59", "counter.c1", "login", clerk="wang")["ok"]
    for code, slot in (("AP1", "10:00"), ("AP2", "10:30")):
        assert at("08:50", "admin.ctl", "book", code=code, service="biz",
                  slot=f"2026-03-02T{slot}:00+08:00")["ok"]
    assert at("09:00", "kiosk.k1", "issue", service="pay")["ticket"]["number"] == "A001"
    assert at("09:01", "kiosk.k1", "issue", service="pay")["ticket"]["number"] == "A002"
    assert at("09:02", "counter.c1", "call", number="A002")["ticket"]["number"] == "A002"     # out of order
    assert at("09:05", "counter.c1", "call_next")["ticket"]["number"] == "A001"
    assert at("09:55", "kiosk.k2", "check_in", code="AP1")["ok"]                               # on time
    assert at("10:01", "counter.c1", "call_next")["ticket"]["appointment"] is True             # waited 360 s
    ctl.store.close()
    report = make_report(config, tmp_path / "data", DAY)
    assert report.hall["out_of_order"] == 1 and row(report, "clerk", "wang")["out_of_order"] == 1
    assert report.appointments == {"booked": 2, "checked_in": 1, "on_time": 1, "late": 0, "never_came": 1,
                                   "wait_median_s": 360.0, "wait_max_s": 360.0}
    text = text_table(report, "en")
    assert "Appointments: 2 booked, 1 checked in (1 on time" in text and "1 never came" in text
    assert "预约：2个，已签到1个（准时1个" in text_table(report)


def test_the_timers_yesterday_is_the_halls_and_names_the_files(known_day, tmp_path):
    """The report unit asks for ``--date yesterday`` and ``{date}`` in the file names: the hall's
    yesterday (its time zone from hall.toml, none of the unit's own)."""
    from datetime import datetime, timedelta
    config, data = known_day
    yesterday = (datetime.now(config.zone).date() - timedelta(days=1)).isoformat()
    run = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", config.path, "--data", str(data),
                          "--date", "yesterday", "--csv", str(tmp_path / "{date}.csv")],
                         cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": "UTC"})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / f"{yesterday}.csv").is_file()
