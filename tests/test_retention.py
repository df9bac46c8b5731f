"""What the controller keeps, and for how long (hallq/controller/retention.py): replies
and events go by age and size; a restart still recovers; seq goes on; the web's and head office's
archive stops asking for events the hall no longer keeps. A real controller on a real SQLite store,
its clock moved through the days."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from hallq.records.archive import HallArchive
from hallq.records.store import CentralStore
from hallq import contract as wire
from hallq.runtime.config import load_config
from hallq.controller.main import open_controller
from hallq.controller.retention import Policy, keep_within
from hallq.testing import EXAMPLE_HALL, RecordingLink, request_message

R = "hallq/v1/h1"


class Day:
    """The controller's clock: 10:00 on a chosen day, moved by the test."""
    def __init__(self) -> None:
        self.now = datetime.fromisoformat("2025-01-06T10:00:00+08:00")

    def __call__(self) -> datetime:
        return self.now


def hall(tmp_path: Path, clock: Day, **hall_settings: Any):
    toml = tmp_path / "hall.toml"
    extra = "".join(f"{k} = {v}\n" for k, v in {"kiosk_rate_per_s": 0, **hall_settings}.items())
    toml.write_text(EXAMPLE_HALL.read_text("utf-8").replace("[hall]\n", "[hall]\n" + extra, 1), "utf-8")
    ctl = open_controller(load_config(toml), tmp_path / "data", link_factory=RecordingLink, clock=clock)
    ctl.apply_batch([], tick=True)
    return ctl


def request(ctl, device: str, op: str, rid: str, **args: Any) -> dict[str, Any]:
    ctl.link.published.clear()
    ctl.apply_batch([request_message(device, op, rid, **args)])
    [reply] = [json.loads(p) for t, p, _ in ctl.link.published if t == f"{R}/dev/{device}/res"]
    return reply


def stored_replies(ctl) -> set[str]:
    return {r[0] for r in ctl.store.db.execute("SELECT request_id FROM requests")}


def test_old_replies_and_events_go_by_age_and_a_restart_still_recovers(tmp_path):
    clock = Day()
    ctl = hall(tmp_path, clock)
    assert request(ctl, "kiosk.k1", "issue", "first", service="pay")["ok"]
    assert request(ctl, "kiosk.k1", "issue", "refused", service="nope")["error"]["code"] == "unknown_service"
    first_day_last_seq = ctl.seq
    clock.now += timedelta(days=2)
    assert request(ctl, "kiosk.k1", "issue", "third-day", service="pay")["ok"]
    ctl.records.keep(force=True)
    # a refusal goes after a day, an accepted reply stays its 14 days: a resend still gets it
    assert stored_replies(ctl) == {"first", "third-day"}
    assert request(ctl, "kiosk.k1", "issue", "first", service="pay")["ticket"]["number"] == "A001"
    clock.now += timedelta(days=15)
    ctl.records.keep(force=True)
    assert "first" not in stored_replies(ctl) and "third-day" not in stored_replies(ctl)

    # 400 days on: the first days' events go, the newest stays, numbering and seq go on
    clock.now += timedelta(days=400)
    ticket = request(ctl, "kiosk.k1", "issue", "a-year-on", service="pay")["ticket"]
    assert ticket["number"] == "A001"                          # a new business day
    seq_before = ctl.seq
    pruned = ctl.records.keep(force=True)
    assert pruned is not None and pruned.events > 0
    assert ctl.store.first_seq() > first_day_last_seq
    assert ctl.store.last_seq() == seq_before == ctl.seq
    days = {r[0] for r in ctl.store.db.execute("SELECT DISTINCT day FROM events")}
    assert "2025-01-06" not in days and clock.now.date().isoformat() in days
    state = msgspec.json.encode(ctl.state)
    ctl.shutdown()

    again = open_controller(ctl.config, tmp_path / "data", link_factory=RecordingLink, clock=clock)
    assert msgspec.json.encode(again.state) == state and again.seq == seq_before
    assert request(again, "kiosk.k1", "issue", "after-restart", service="pay")["ticket"]["number"] == "A002"
    assert again.seq == seq_before + 1
    again.shutdown()


def test_records_above_their_size_lose_the_oldest_days_first_but_never_the_last_month(tmp_path):
    clock = Day()
    ctl = hall(tmp_path, clock)
    for day in range(60):                         # two months of a busy little hall
        for i in range(40):
            request(ctl, "kiosk.k1", "issue", f"d{day}-{i}", service="pay")
        clock.now += timedelta(days=1)
    ctl.records.keep(force=True)
    size = ctl.store.size_mb()
    today = ctl.state.day
    pruned = keep_within(ctl.store, Policy(keep_events_days=400, keep_records_mb=0), clock.now,
                         datetime.fromisoformat(today).date(), ctl.seq)
    # nothing fits in 0 MB: every day older than 31 days went, the last 31 stayed whole
    oldest = ctl.store.oldest_day()
    assert pruned.events > 0 and ctl.store.size_mb() < size
    assert oldest == (datetime.fromisoformat(today) - timedelta(days=30)).date().isoformat(), (oldest, today)
    per_day = dict(ctl.store.db.execute("SELECT day, COUNT(*) FROM events WHERE type = 'ticket_issued' GROUP BY day"))
    assert len(per_day) == 31 and set(per_day.values()) == {40}, per_day
    ctl.shutdown()


def test_an_archive_behind_the_hall_s_retention_goes_on_after_the_gap(tmp_path):
    clock = Day()
    ctl = hall(tmp_path, clock, keep_events_days=31)
    for i in range(5):
        request(ctl, "kiosk.k1", "issue", f"old-{i}", service="pay")
    clock.now += timedelta(days=40)
    for i in range(5):
        request(ctl, "kiosk.k1", "issue", f"new-{i}", service="pay")
    ctl.records.keep(force=True)
    first = ctl.store.first_seq()
    assert first > 1

    asked: list[int] = []

    def send(op: str, on_reply, **args: Any) -> None:    # the request tracker's send, through the real controller
        asked.append(args["after_seq"])
        args.pop("give_up_after"), args.pop("on_give_up")
        on_reply(msgspec.json.decode(json.dumps(request(ctl, "admin.ctl", op, f"r{len(asked)}", **args)),
                                     type=wire.ReplyDoc))

    store = CentralStore(f"sqlite:///{tmp_path / 'records.db'}")
    archive = HallArchive(store, "h1", send, page=4)
    archive.hall_has(ctl.seq)
    for _ in range(20):
        archive.repair()
        if archive.complete:
            break
    assert archive.complete and archive.contiguous == ctl.seq
    assert asked[0] == 0 and asked.count(0) == 1             # the gone range asked for once, not for ever
    kept = [r[0] for r in store.query("SELECT seq FROM events WHERE hall = 'h1' ORDER BY seq")]
    assert kept == list(range(first, ctl.seq + 1))
    store.close()
    ctl.shutdown()
