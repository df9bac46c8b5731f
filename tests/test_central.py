"""hallq central with real parts: two halls (Mosquitto + bridge over TLS + controller each) into a
central Mosquitto, the central service as a process, PostgreSQL (Debian's, on a free port) or the
SQLite default. The service is SIGKILLed mid-stream, the central broker dies for a while (both
bridges drop and queue), a hall's controller restarts: afterwards the central figures of the day
equal each hall's own `hallq report`, exactly, and nothing is stored twice."""
from __future__ import annotations

import csv
import itertools
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from centralkit import Postgres, start_bridged_hall, start_estate
from hallq.testing import HallClient, Process, free_port, wait_until

pytestmark = [pytest.mark.processes,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed to make a CA")]
COMPARED = ("issued", "served", "no_show", "voided", "wait_median_s", "wait_p90_s")
HALL_HEADINGS = ("取号", "办结", "过号", "作废", "等候中位数（分钟）", "九成等候不超过（分钟）")


BOOKINGS = itertools.count(10_000_000)


def traffic(hall, rounds: int) -> None:
    """Tickets issued, called, finished, a no-show, a transfer, an appointment checked in (whose
    event names its ticket by id): every kind of figure moves."""
    kiosk, c1, c2 = hall.client("kiosk.k1"), hall.client("counter.c1"), hall.client("counter.c2")
    try:
        for _ in range(rounds):
            code = str(next(BOOKINGS))
            slot = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(minutes=5)).replace(second=0, microsecond=0)
            assert hall.admin.request("book", service="biz", slot=slot.isoformat(), code=code)["ok"]
            assert kiosk.request("check_in", code=code)["ok"]
            for service in ("pay", "biz", "pay"):
                assert kiosk.request("issue", service=service)["ok"]
            c1.request("call_next")
            c1.request("finish")
            c2.request("call_next")
            c2.request("no_show")
            c1.request("call_next")
            c1.request("transfer", service="pay")
    finally:
        kiosk.close(), c1.close(), c2.close()


def hall_figures(hall, day: str, out: Path) -> dict[str, dict[str, str]]:
    done = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", str(hall.config), "--data",
                           str(hall.data), "--date", day, "--csv", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with open(out, encoding="utf-8-sig") as fh:      # the hall's report: Chinese headings, minutes, the code last
        return {r["代码"]: {k: r[title] for k, title in zip(COMPARED, HALL_HEADINGS)} for r in csv.DictReader(fh)
                if r["范围"] == "业务"}


def central_figures(central_toml: Path, data: Path, day: str, out: Path) -> dict[tuple[str, str], dict[str, str]]:
    done = subprocess.run([sys.executable, "-m", "hallq", "central", "report", "--config", str(central_toml),
                           "--data", str(data), "--date", day, "--csv", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with open(out, encoding="utf-8-sig") as fh:        # UTF-8 with BOM, for Excel
        return {(r["hall"], r["service"]): {k: in_minutes(k, r[k]) for k in COMPARED} for r in csv.DictReader(fh)}


def in_minutes(key: str, value: str) -> str:
    """Head office's waits are in seconds, the hall's report's in minutes with one decimal."""
    return f"{float(value) / 60:.1f}" if key.startswith("wait_") and value else value


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    if request.param == "sqlite":
        yield None
        return
    pg = Postgres()
    yield pg.url
    pg.stop()


def test_central_figures_equal_the_halls_after_kills_drops_and_restarts(tmp_path, database):
    estate = start_estate(["h1", "h2"])
    halls = [start_bridged_hall(h, tmp_path / h, estate) for h in ("h1", "h2")]
    central_toml = estate.central_toml(tmp_path / "central.toml", database)
    data = tmp_path / "central-data"
    dashboard = free_port()
    service = Process(["central", "--config", str(central_toml), "--data", str(data), "--listen",
                       f"127.0.0.1:{dashboard}"], tmp_path, "central")
    try:
        traffic(halls[0], 1)                       # before the centre exists: repaired from seq 1
        service.start()
        for hall in halls:
            traffic(hall, 2)
        service.kill()                             # SIGKILL mid-stream; events meanwhile are not queued for it
        for hall in halls:
            traffic(hall, 1)
        service.start()
        estate.kill()                              # the central broker dies: both bridges drop and queue
        traffic(halls[1], 2)
        time.sleep(1.0)
        estate.start()
        halls[0].restart_controller()              # a new epoch; seq goes on
        for hall in halls:
            traffic(hall, 1)
        day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        expected = {}
        for hall in halls:
            for service_id, row in hall_figures(hall, day, tmp_path / f"{hall.hall_id}.csv").items():
                if row["issued"] != "0" or row["served"] != "0":
                    expected[(hall.hall_id, service_id)] = row
        assert expected and len({h for h, _ in expected}) == 2

        def converged():
            got = central_figures(central_toml, data, day, tmp_path / "central.csv")
            return got if got == expected else None
        try:
            wait_until(converged, timeout=60, what="the central figures equal the halls'", poll_s=0.5)
        except TimeoutError:
            got = central_figures(central_toml, data, day, tmp_path / "central.csv")
            raise AssertionError(f"central {got}\n!= halls {expected}\n{service.output()[-3000:]}") from None
        log = service.output()
        assert "events fetched after" in log          # the gaps were repaired from the halls
        assert "Traceback" not in log
        check_dashboard(dashboard, central_toml, data, day, expected)
    finally:
        service.stop()
        for hall in halls:
            hall.close()
        estate.kill()
        shutil.rmtree(estate.folder, ignore_errors=True)


def check_dashboard(port: int, central_toml: Path, data: Path, day: str, expected: dict) -> None:
    """The multi-hall dashboard: nothing without a login; with one, every hall live and the day's figures."""
    import httpx
    added = subprocess.run([sys.executable, "-m", "hallq", "central", "user", "add", "hq", "--role", "manager",
                            "--config", str(central_toml), "--data", str(data)], input="estate password\n",
                           text=True, capture_output=True, timeout=60)
    assert added.returncode == 0, added.stderr
    web = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    assert web.get("/").status_code == 303 and web.get("/board").status_code == 401
    assert web.get("/figures.csv").status_code == 401
    assert web.post("/login", data={"name": "hq", "password": "estate password"}).status_code == 303
    halls = {h["hall"]: h for h in web.get("/board").json()}
    assert set(halls) == {"h1", "h2"} and all(h["online"] and h["mode"] == "open" for h in halls.values())
    page = web.get(f"/figures?date={day}")
    assert page.status_code == 200 and "<svg" in page.text
    rows = list(csv.DictReader(web.get(f"/figures.csv?date={day}").text.lstrip("\ufeff").splitlines()))
    assert {(r["hall"], r["service"]): r["issued"] for r in rows} == {k: v["issued"] for k, v in expected.items()}


def test_one_halls_unreadable_events_are_kept_aside_and_every_other_figure_stays_exact(tmp_path):
    """A broken controller of hall h2 sends an event whose seq no database holds and one of a type
    nobody knows: head office keeps them aside with the reason (its dashboard says so), stays up,
    and both halls' figures stay exact (h2's real events all stored)."""
    from hallq.central.dashboard import estate_board
    from hallq.records.store import CentralStore
    estate = start_estate(["h1", "h2"])
    halls = [start_bridged_hall(h, tmp_path / h, estate) for h in ("h1", "h2")]
    central_toml = estate.central_toml(tmp_path / "central.toml", None)
    data = tmp_path / "central-data"
    service = Process(["central", "--config", str(central_toml), "--data", str(data)], tmp_path, "central").start()
    broken = HallClient(halls[1].broker.port, "broken", halls[1].broker.credentials["controller"],
                        username="controller", subscribe=[], hall_id="h2")
    try:
        traffic(halls[0], 1)
        traffic(halls[1], 1)
        day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        # head office is up and listening once it holds the first round of both halls
        wait_until(lambda: {h for h, *_ in central_figures(central_toml, data, day, tmp_path / "c0.csv")} == {"h1", "h2"},
                   timeout=60, what="head office up", poll_s=0.5)
        at = datetime.now(ZoneInfo("Asia/Shanghai")).isoformat()
        assert broken.publish("hallq/v1/h2/event", {"epoch": 1, "seq": 2**63, "type": "announcement", "at": at, "text": "x"})
        assert broken.publish("hallq/v1/h2/event", {"epoch": 1, "seq": 900_000, "type": "queue_rules_changed", "at": at})
        traffic(halls[0], 1)
        traffic(halls[1], 1)
        expected = {(h.hall_id, s): row for h in halls
                    for s, row in hall_figures(h, day, tmp_path / f"{h.hall_id}.csv").items()
                    if row["issued"] != "0" or row["served"] != "0"}

        def converged():
            got = central_figures(central_toml, data, day, tmp_path / "central.csv")
            return got if got == expected else None
        wait_until(converged, timeout=60, what="every hall's figures exact at head office", poll_s=0.5)
        store = CentralStore(f"sqlite:///{data / 'central.db'}")
        try:
            try:
                kept = wait_until(lambda: len(store.quarantined("h2")) == 2 and store.quarantined("h2"), timeout=20,
                                  what="both bad events kept aside")
            except TimeoutError:
                raise AssertionError(f"{store.quarantined()}\n{service.output()[-3000:]}") from None
            assert {r[1] for r in kept} == {None, 900_000}, kept
            assert store.quarantined("h1") == []
            alerts = {h["hall"]: h["alerts"] for h in estate_board(store)}
            assert any("queue_rules_changed" in a for a in alerts["h2"]), alerts
            assert any("unreadable" in a for a in alerts["h2"]) and not any("unreadable" in a for a in alerts["h1"])
        finally:
            store.close()
        # and at the central broker, h2's own password cannot write as h1 (its generated ACL)
        watcher = estate.client("hq-operator", subscribe=["hallq/v1/#"])
        impostor = estate.client("hall-h2")
        try:
            impostor.publish("hallq/v1/h1/event", {"epoch": 1, "seq": 999, "type": "outage_ended", "at": at})
            impostor.publish("hallq/v1/h2/presence/impostor-check", {"online": True})
            wait_until(lambda: any(t == "hallq/v1/h2/presence/impostor-check" for t, *_ in watcher.messages),
                       what="h2's own topic")
            assert not any(t == "hallq/v1/h1/event" and b'"seq": 999' in p for t, p, _ in watcher.messages)
        finally:
            watcher.close()
            impostor.close()
        assert service.alive
        assert "Traceback" not in service.output()
    finally:
        broken.close()
        service.stop()
        for hall in halls:
            hall.close()
        estate.kill()
        shutil.rmtree(estate.folder, ignore_errors=True)


def test_central_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "central.toml"
    bad.write_text('[central]\ndb = "mysql://x"\n', "utf-8")
    done = subprocess.run([sys.executable, "-m", "hallq", "central", "--config", str(bad)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "central.db" in done.stderr
    bad.write_text('[central]\nadmn = "hq"\n', "utf-8")
    done = subprocess.run([sys.executable, "-m", "hallq", "central", "--config", str(bad)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "central.admn" in done.stderr and "unknown key" in done.stderr
