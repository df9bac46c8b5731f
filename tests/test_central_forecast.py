"""Head office's forecast across halls (`hallq central forecast`): next week's counters for every hall
from its events in the central store (SQLite and PostgreSQL), and the whole estate's peak."""
from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from centralkit import Postgres
from hallq.central.forecast import estate_peaks, forecast_halls
from hallq.contract.events import event_bytes, read_event
from hallq.core import commands as c
from hallq.core.events import encode_event
from hallq.core.rules import QueueRules
from hallq.records.store import CentralStore, event_row
from hallq.runtime.config import load_config
from hallq.runtime.setup import setup_from_config
from hallq.testing import EXAMPLE_HALL

TZ = ZoneInfo("Asia/Shanghai")
MONDAYS = [date(2026, 11, 2) + timedelta(weeks=w) for w in range(4)]


def store_mondays(store: CentralStore, hall: str, per_quarter: float) -> None:
    """Monday mornings through the core's rules (payments at ``per_quarter`` a quarter, 09:00-11:00),
    stored as head office stores what a hall's bridge brings."""
    setup = dataclasses.replace(setup_from_config(load_config(EXAMPLE_HALL)), hours=None)
    rules = QueueRules(setup, estimates=False)
    rng, seq = random.Random(hall), 0
    for monday in MONDAYS:
        now = datetime.combine(monday, time(9), TZ)
        state = rules.handle(setup.initial_state(), c.Tick(), now)[0]
        rows = []
        while True:
            now += timedelta(seconds=rng.expovariate(per_quarter / 900))
            if now >= datetime.combine(monday, time(11), TZ):
                break
            state, events = rules.handle(state, c.IssueTicket(service="pay", by="kiosk.k1"), now)
            for event in events:
                seq += 1
                payload = event_bytes(1, seq, encode_event(event))
                rows.append(event_row(hall, read_event(payload), payload))
        store.add_events(rows)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url, pg = f"sqlite:///{tmp_path / 'central.db'}", None
    else:
        pg = Postgres()
        url = pg.url
    db = CentralStore(url)
    yield db, url
    db.close()
    if pg is not None:
        pg.stop()


def test_every_halls_counters_and_the_estates_peak_from_the_central_store(store, tmp_path):
    db, url = store
    store_mondays(db, "h1", 20)
    store_mondays(db, "h2", 45)
    halls = {h.hall: h for h in forecast_halls(db, date(2026, 11, 30), 900, 0.8)}
    assert set(halls) == {"h1", "h2"} and halls["h1"].days_read == halls["h2"].days_read == 4
    monday = date(2026, 12, 7)
    assert {r.day for h in halls.values() for r in h.rows} == {monday}        # only Mondays were recorded
    peak = {name: estate_peaks([h])[monday][0] for name, h in halls.items()}
    assert peak["h2"] > peak["h1"] >= 1                     # the busier hall needs more
    estate_peak, at, hours = estate_peaks(list(halls.values()))[monday]
    # the estate's busiest quarter: no more than both halls' own peaks, at least the busier one's
    assert peak["h2"] <= estate_peak <= peak["h1"] + peak["h2"] and time(9) <= at < time(11) and hours > 0
    # the command, in Chinese, against the same store
    central_toml = tmp_path / "central.toml"
    central_toml.write_text(f'[central]\ndb = "{url}"\n', "utf-8")
    done = subprocess.run([sys.executable, "-m", "hallq", "central", "forecast", "--config", str(central_toml),
                           "--csv", str(tmp_path / "forecast.csv")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "全部营业厅" in done.stdout and "h2（按4个已记录营业日）" in done.stdout, done.stdout
    assert (tmp_path / "forecast.csv").read_text("utf-8-sig").startswith("hall,day,quarter,service,arrivals,counters")
