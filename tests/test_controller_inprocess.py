"""The controller's all-or-nothing per message, in process (its MQTT publishing recorded)."""
from __future__ import annotations

import json

from hallq.runtime.config import load_config
from hallq.controller.main import open_controller
from hallq.testing import EXAMPLE_HALL, RecordingLink, request_message

R = "hallq/v1/h1"


def make(tmp_path):
    ctl = open_controller(load_config(EXAMPLE_HALL), tmp_path, link_factory=RecordingLink)
    return ctl, Sent(ctl.link)


class Sent:
    """What the controller published, as (topic, payload) pairs, from its recording link."""

    def __init__(self, link: RecordingLink) -> None:
        self.link = link

    def __iter__(self):
        return iter([(t, p) for t, p, _ in self.link.published])

    def __len__(self) -> int:
        return len(self.link.published)

    def __getitem__(self, i):
        t, p, _ = self.link.published[i]
        return (t, p)

    def clear(self) -> None:
        self.link.published.clear()


def test_a_failure_after_the_rules_undoes_rows_and_state(tmp_path, monkeypatch):
    ctl, sent = make(tmp_path)
    ctl.apply_batch([request_message("kiosk.k1", "issue", "ok-1", service="pay")])
    state, seq = ctl.state, ctl.seq
    rows = ctl.store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def broken_save(*a, **k):
        raise RuntimeError("a bug after the rules")   # storage faults have their own test (test_storage_faults.py)

    monkeypatch.setattr(ctl.store, "save_reply", broken_save)
    sent.clear()
    out = ctl.apply_batch([request_message("kiosk.k1", "issue", "bad-1", service="pay")])
    monkeypatch.undo()
    assert ctl.state is state and ctl.seq == seq and out.events == []
    assert ctl.store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == rows
    replies = [json.loads(p) for t, p in sent if t.endswith("/res")]
    assert replies[0]["error"]["code"] == "internal"
    # the same request id, resent once the bug is gone, is applied once, with the next number
    ctl.apply_batch([request_message("kiosk.k1", "issue", "bad-1", service="pay")])
    assert ctl.state.services["pay"].next_number == 3 and ctl.seq == seq + 1


def test_one_bad_message_does_not_undo_the_rest_of_its_batch(tmp_path, monkeypatch):
    ctl, sent = make(tmp_path)
    original = ctl.answers.perform

    def fails_for_biz(device, op, args, now, out):
        result = original(device, op, args, now, out)
        if getattr(args, "service", None) == "biz":
            raise RuntimeError("a bug")
        return result

    monkeypatch.setattr(ctl.answers, "perform", fails_for_biz)
    ctl.apply_batch([request_message("kiosk.k1", "issue", "a", service="pay"),
                     request_message("kiosk.k1", "issue", "b", service="biz"),
                     request_message("kiosk.k1", "issue", "c", service="pay")])
    numbers = sorted(t.number for t in ctl.state.tickets.values())
    assert numbers == ["A001", "A002"]
    stored = [r[0] for r in ctl.store.db.execute("SELECT request_id FROM requests ORDER BY request_id")]
    assert stored == ["a", "c"]


def test_sync_takes_ascii_numbers_only_rejects_one_by_one_and_keeps_times_within_the_lease(tmp_path):
    """`sync` must not trust the kiosk's digits or its clock."""
    ctl, sent = make(tmp_path)
    ctl.apply_batch([], tick=True)
    ctl.apply_batch([request_message("kiosk.k1", "issue", "i1", service="biz")])           # a walk-in, online
    ctl.apply_batch([request_message("kiosk.k1", "lease", "l1", service="biz", size=20)])
    lease = json.loads([p for t, p in sent if t.endswith("/res") and b'"l1"' in p][-1])["lease"]
    day = lease["day"]
    early = f"{day}T00:00:01+08:00"                                                 # before anyone came
    good = f"B{lease['end']:03d}"
    sent.clear()
    ctl.apply_batch([request_message("kiosk.k1", "sync", "s1", tickets=[
        {"number": "B９９０", "service": "biz", "issued_at": early},
        {"number": "B٩٩٠", "service": "biz", "issued_at": early},
        {"number": "B𝟗𝟗𝟎", "service": "biz", "issued_at": early},
        {"number": "B²³¹", "service": "biz", "issued_at": early},
        {"number": good, "service": "biz", "issued_at": early}])])
    reply = json.loads([p for t, p in sent if t.endswith("/res")][-1])
    assert reply["ok"], reply                                     # one bad ticket never rejects the others
    assert [r["code"] for r in reply["rejected"]] == ["bad_request"] * 4
    [placed] = reply["tickets"]
    assert placed["number"] == good
    walk_in = next(t for t in ctl.state.tickets.values() if t.number == "B001")
    assert placed["issued_at"] >= walk_in.issued_at.isoformat()   # it did not jump ahead of the walk-in
    assert ctl.state.tickets[placed["id"]].issued_at >= ctl.state.leases[-1].at
