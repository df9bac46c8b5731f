"""Head office counts a journey (one number through several services) as each hall's report does:
each step a visit to its service, counter and clerk, with that step's wait and rating — whatever
order the hall's events reach it in, however often. Random days of the journey hall, then a fixed
day on SQLite and PostgreSQL, and a store an older hallq made (no visits yet) brought up to date."""
from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from centralkit import Postgres
from hallq.contract import event_bytes, read_event
from hallq.controller.store import Store
from hallq.core import commands as c
from hallq.core import events as e
from hallq.core.events import encode_event
from hallq.records.figures import day_report
from hallq.records.store import CentralStore, event_row
from hallq.tools.report import make_report
from hallq.testing import play_commands
from test_journeys import CONFIG, SETUP, START, commands

HALL = "h1"
SERVICE_FIGURES = ("issued", "served", "no_show", "voided", "wait_median_s", "wait_p90_s", "service_mean_s",
                   "rating_1", "rating_2", "rating_3")


def play(script: list[tuple[c.Command, int]]) -> list[e.Event]:
    """A day of the journey hall (refused commands change nothing and are left out)."""
    return play_commands(SETUP, script, START)[1]


def hall_report(log: list[e.Event], folder: Path):
    store = Store(folder / "controller.db")
    for seq, event in enumerate(log, 1):
        store.append_event(seq, 1, e.event_type(event), event.at.isoformat(), event.at.date().isoformat(),
                           encode_event(event))
    store.close()
    return make_report(CONFIG, folder, START.date().isoformat())


def wire_rows(log: list[e.Event]) -> list[tuple]:
    rows = []
    for seq, event in enumerate(log, 1):
        payload = event_bytes(1, seq, encode_event(event))
        rows.append(event_row(HALL, read_event(payload), payload))
    return rows


def ingest_scrambled(store: CentralStore, rows: list[tuple], rng: random.Random, batches: int) -> None:
    """The hall's events in any order, some twice, in several batches (a bridge's queue, a gap asked
    for again, a restart)."""
    scrambled = rows + rng.sample(rows, k=len(rows) // 3)
    rng.shuffle(scrambled)
    size = max(1, len(scrambled) // batches)
    for start in range(0, len(scrambled), size):
        store.add_events(scrambled[start:start + size])


def assert_head_office_counts_as_the_hall(store: CentralStore, report) -> None:
    day = START.date().isoformat()
    central = {r["service"]: r for r in day_report(store, day) if r["hall"] == HALL}
    for row in report.rows_of("service"):
        mine = {k: row[k] for k in SERVICE_FIGURES}
        if row["key"] not in central:
            assert not any(mine[k] for k in ("issued", "served", "no_show", "voided")), \
                f"head office lacks {row['key']}: {mine}"
            continue
        theirs = {k: central[row["key"]][k] for k in SERVICE_FIGURES}
        assert theirs == mine, f"service {row['key']}: head office {theirs}, the hall {mine}"
    people = {who: (served, no_show, None if mean is None else round(float(mean), 1), r1, r2, r3)
              for _, who, served, no_show, mean, r1, r2, r3 in store.day_people(day, "counter")}
    for row in report.rows_of("counter"):
        mine = (row["served"], row["no_show"], row["service_mean_s"], row["rating_1"], row["rating_2"], row["rating_3"])
        if not (row["served"] or row["no_show"]):
            assert row["key"] not in people
            continue
        assert people[row["key"]] == mine, f"counter {row['key']}: head office {people[row['key']]}, the hall {mine}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(commands, st.sampled_from([0, 5, 60, 300])), min_size=1, max_size=60),
       seed=st.integers(0, 2**32 - 1), batches=st.integers(1, 4))
def test_head_office_counts_each_step_of_random_days_as_the_hall_does(steps, seed, batches):
    opening = [(c.IssueTicket(service="accept", by="kiosk.k1"), 0), (c.CallNext(counter="c1"), 60),
               (c.Finish(counter="c1", rating=3), 300)]
    log = play(opening + steps)
    with tempfile.TemporaryDirectory() as tmp:
        report = hall_report(log, Path(tmp))
        store = CentralStore(f"sqlite:///{tmp}/central.db")
        try:
            ingest_scrambled(store, wire_rows(log), random.Random(seed), batches)
            assert_head_office_counts_as_the_hall(store, report)
        finally:
            store.close()


# S001 goes 受理 -> 缴费, is sent ahead to 领证 from 缴费 (a transfer to its route's next service) and
# served there, which ends its visit (领证 is not waited for again); it is rated at 受理 by the pad after
# it went on; S002 is rated at 受理 and 缴费, then a no-show at its third step, 领证; A001 is a
# one-service ticket
FIXED_DAY = [
    (c.IssueTicket(service="accept", by="kiosk.k1"), 0), (c.IssueTicket(service="accept", by="kiosk.k1"), 30),
    (c.IssueTicket(service="pay", by="kiosk.k1"), 30),
    (c.CallNext(counter="c1"), 60), (c.Finish(counter="c1"), 300), (c.Rate(counter="c1", rating=1), 5),
    (c.CallNext(counter="c1"), 20), (c.Finish(counter="c1", rating=2), 240),
    (c.CallNext(counter="c3"), 60), (c.Transfer(counter="c3", service="collect"), 30),
    (c.CallNext(counter="c2"), 10), (c.Finish(counter="c2", rating=3), 90),
    (c.CallNext(counter="c3"), 60), (c.Finish(counter="c3"), 60), (c.Rate(counter="c3", rating=2), 5),
    (c.CallNext(counter="c3"), 30), (c.Finish(counter="c3", rating=1), 60),
    (c.CallNext(counter="c3"), 30), (c.NoShow(counter="c3"), 120),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def central_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/central.db"
        return
    pg = Postgres()
    yield pg.url
    pg.stop()


@pytest.mark.processes
def test_a_day_of_journeys_is_counted_per_step_on_both_databases(tmp_path, central_url):
    log = play(FIXED_DAY)
    # the day did what the script says (else the figures below would prove little)
    rated = [(ev.ticket.number, ev.step, ev.rating) for ev in log if isinstance(ev, e.TicketRated)]
    assert rated == [("S001", 0, 1), ("S002", 0, 2), ("S002", 1, 3), ("A001", 0, 2), ("S001", 1, 1)]
    assert [(ev.ticket.number, ev.ticket.step, ev.ticket.service) for ev in log if isinstance(ev, e.TicketNoShow)] == [
        ("S002", 2, "collect")]
    sent_ahead = next(ev.ticket for ev in log if isinstance(ev, e.TicketServed) and ev.ticket.number == "S001"
                      and ev.ticket.step == 1)
    assert (sent_ahead.service, sent_ahead.route, sent_ahead.status) == ("collect", ("accept", "collect"), "served")
    report = hall_report(log, tmp_path)
    store = CentralStore(central_url)
    try:
        ingest_scrambled(store, wire_rows(log), random.Random(7), 3)
        assert_head_office_counts_as_the_hall(store, report)
        central = {r["service"]: r for r in day_report(store, START.date().isoformat())}
        figures = {k: tuple(central[k][f] for f in ("issued", "served", "no_show", "rating_1", "rating_2", "rating_3"))
                   for k in central}
        # each step counted, and rated, where it was served (the ticket's last service has only its own)
        assert figures == {"accept": (2, 2, 0, 1, 1, 0), "pay": (1, 2, 0, 0, 1, 1), "collect": (0, 1, 1, 1, 0, 0)}
    finally:
        store.close()


def test_a_store_made_before_visits_is_brought_up_to_date_once(tmp_path):
    log = play(FIXED_DAY)
    report = hall_report(log, tmp_path)
    path = tmp_path / "central.db"
    store = CentralStore(f"sqlite:///{path}")
    store.add_events(wire_rows(log))
    store.close()
    # as an older hallq left it: no visits table, no step columns
    db = sqlite3.connect(path)
    db.execute("DROP TABLE visits")
    db.execute("ALTER TABLE events DROP COLUMN step")
    db.execute("ALTER TABLE events DROP COLUMN queued_at")
    db.commit()
    db.close()
    store = CentralStore(f"sqlite:///{path}")
    try:
        assert_head_office_counts_as_the_hall(store, report)
        # and what arrives afterwards is folded as usual, never twice
        store.add_events(wire_rows(log))
        assert_head_office_counts_as_the_hall(store, report)
        assert store.query("SELECT COUNT(*) FROM events WHERE ticket IS NOT NULL AND step IS NULL") == [(0,)]
    finally:
        store.close()
