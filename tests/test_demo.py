"""The scenario runner: a tiny day on the real processes, nothing lost or doubled; scenario checks."""
from __future__ import annotations

import csv

import io
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hallq.runtime.config import load_config
from hallq.errors import ConfigError
from hallq.simulator.demo import prepare_out, run_demo
from hallq.simulator.rig import hall_for_demo
from hallq.simulator.scenario import default_hall_path, default_scenario_path, load_scenario, plan_day

from hallq.testing import REPO

pytestmark = pytest.mark.processes

# 90 simulated minutes at x360: 15 real seconds of day, with every kind of trouble in it
TINY = """
[day]
name = "tiny"
open = "09:00"
close = "10:30"
seed = 5
speed = 360
no_show_share = 0.1
snapshot_every_s = 1800

[[arrivals]]
service = "pay"
per_hour = [30, 30]

[[arrivals]]
service = "biz"
per_hour = [8, 8]

[[service_time]]
service = "pay"
distribution = "fixed"
mean_s = 120

[[service_time]]
service = "biz"
distribution = "uniform"
mean_s = 300
sd_s = 60

[[staff]]
counter = "c1"
clerk = "王芳"
lunch = ["09:40", "09:50"]

[[staff]]
counter = "c2"
clerk = "李强"

[[staff]]
counter = "c3"
clerk = "张敏"

[[staff]]
counter = "c4"
clerk = "陈磊"
start = "09:20"

[[happening]]
at = "09:10"
action = "printer"
kiosk = "k2"
condition = "paper_out"

[[happening]]
at = "09:25"
action = "printer"
kiosk = "k2"
condition = "ok"

[[happening]]
at = "09:30"
action = "outage"
minutes = 10

[[happening]]
at = "09:50"
action = "crash"
component = "controller"
down_s = 1800          # 5 real seconds: longer than a kiosk waits before issuing from its lease

[[happening]]
at = "10:10"
action = "broker_restart"
down_s = 120
"""


def test_tiny_day_on_real_processes_loses_and_doubles_nothing(tmp_path: Path) -> None:
    scenario_file = tmp_path / "tiny.toml"
    scenario_file.write_text(TINY, "utf-8")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hallq", "demo", "--scenario", str(scenario_file),
                           "--out", str(out), "--headless"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["lost"] == 0 and summary["doubled"] == 0, summary
    assert summary["died"] == []
    assert summary["customers"] > 20 and summary["turned_away"] == 0
    # every customer got exactly one printed ticket that the controller knows
    assert summary["issued"] == summary["printed"] == summary["customers"]
    assert summary["served"] + summary["no_show"] + summary["voided"] + summary["still_waiting"] == summary["issued"]
    assert summary["still_waiting"] == 0 and summary["served"] > 0 and summary["no_show"] > 0
    assert summary["issued_offline"] > 0          # the controller crash made kiosks issue from leases
    assert summary["issued_in_outage"] > 0
    assert any("paper_out: no ticket printed (right)" in c for c in summary["checks"]), summary["checks"]
    assert "LOST tickets          0" in proc.stdout and "RESULT: ok" in proc.stdout
    # the day's report, display snapshots and ticket pictures are in the output folder
    page = (out / "report.html").read_text("utf-8")
    assert page.count("data:image/png;base64,") == 2 and "模拟营业日" in page
    assert (out / "snapshots" / "d1-end.png").stat().st_size > 1000
    assert any((out / "snapshots").glob("d1-0950-crash.png"))
    pictures = list((out / "tickets").glob("k*/*.png"))
    assert len([p for p in pictures if not p.name.startswith("slip-")]) == summary["printed"]
    # the controller's records agree with the printed numbers (read independently here)
    printed = {p.stem for p in (out / "tickets").glob("k*/*.bin") if not p.name.startswith("slip-")}
    report = list(csv.DictReader((out / "report.csv").read_text("utf-8-sig").splitlines()))
    hall_row = next(row for row in report if row["范围"] == "全厅")
    assert hall_row["取号"] == str(len(printed))
    # the day replayed as it was staffed (clerks' presence, a crash, an outage, leases and all) gives
    # the tickets their recorded waits (hallq replay's honesty line; --lang en for its words)
    replay = subprocess.run([sys.executable, "-m", "hallq", "replay", "--config", str(out / "hall.toml"),
                             "--data", str(out / "data" / "controller"), "--date", summary["day"], "--lang", "en",
                             "--close", "c1@09:00-12:00"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    honesty = re.search(r"gives (\d+) tickets their recorded wait within (\d+) s .* off by (\d+)%", replay.stdout)
    assert honesty and int(honesty[1]) == summary["issued"] - summary["voided"], replay.stdout
    assert int(honesty[2]) <= 5 and int(honesty[3]) <= 5, replay.stdout


def test_out_folder_of_someone_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError):
        prepare_out(tmp_path)
    assert (tmp_path / "precious.txt").exists()
    fresh = prepare_out(tmp_path / "demo")
    (fresh / "old.txt").write_text("from the last run")
    prepare_out(fresh)                      # a demo's own folder is emptied
    assert not (fresh / "old.txt").exists()


def test_default_scenario_plans_the_same_day_twice() -> None:
    config = load_config(default_hall_path())
    scenario = load_scenario(default_scenario_path(), config)
    one, two = plan_day(scenario), plan_day(scenario)
    assert [(a.at, a.service, a.service_s) for a in one.arrivals] == [(a.at, a.service, a.service_s) for a in two.arrivals]
    assert all(scenario.open_s <= a.at < scenario.close_s for a in one.arrivals)
    per_service = {s: sum(1 for a in one.arrivals if a.service == s) for s in ("pay", "biz")}
    expected = {a.service: sum(a.per_hour) for a in scenario.arrivals}
    for service, count in per_service.items():          # Poisson: within 4 standard deviations
        assert abs(count - expected[service]) < 4 * expected[service] ** 0.5, (service, count)
    actions = {h.action for _, h in one.happenings}
    assert {"printer", "outage", "crash", "broker_restart"} <= actions


@pytest.mark.parametrize("patch,key", [
    ('[[arrivals]]\nservice = "nope"\nper_hour = [1]\n', "arrivals[0].service"),
    ('[day]\nopen = "9:00"\n', "day.open"),
    ('[day]\nopen = "10:00"\nclose = "09:00"\n', "day.close"),
    ('[[staff]]\ncounter = "c9"\nclerk = "x"\n', "staff[0].counter"),
    ('[[happening]]\nat = "10:00"\naction = "printer"\nkiosk = "k1"\ncondition = "wet"\n', "happening[0].condition"),
    ('[[happening]]\nat = "10:00"\naction = "explode"\n', "happening[0].action"),
    ('[day]\nspeeed = 3\n', "day.speeed"),
])
def test_bad_scenario_names_the_key(tmp_path: Path, patch: str, key: str) -> None:
    config = load_config(default_hall_path())
    path = tmp_path / "bad.toml"
    path.write_text(patch, "utf-8")
    with pytest.raises(ConfigError) as err:
        load_scenario(path, config)
    assert key in str(err.value) and str(path) in str(err.value)


def test_demo_hall_points_at_its_broker_and_drops_hours(tmp_path: Path) -> None:
    source = tmp_path / "src.toml"
    text = (REPO / "examples" / "hall.toml").read_text("utf-8").replace(
        '# hours = [["09:00", "12:00"], ["13:00", "17:00"]]   # omit = always open',
        'hours = [\n  ["09:00", "12:00"],\n  ["13:00", "17:00"],\n]')
    source.write_text(text, "utf-8")
    assert load_config(source).hall.hours is not None
    made = hall_for_demo(source, 4242, tmp_path / "cred.toml", tmp_path / "hall.toml")
    config = load_config(made)
    assert config.hall.hours is None and config.broker.port == 4242
    assert config.broker.credentials == str(tmp_path / "cred.toml")
    assert "admin.sim" in config.device_ids() and "admin.ctl" in config.device_ids()
    assert len(config.counter) == 4 and tomllib.loads(made.read_text("utf-8"))["hall"]["id"] == "h1"


def test_scenario_runner_on_the_embedded_broker(tmp_path: Path) -> None:
    """Where Mosquitto is missing the demo runs on `hallq broker` (amqtt), crash and broker restart included."""
    config = load_config(default_hall_path())
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, "utf-8")
    scenario = load_scenario(path, config)
    stream = io.StringIO()
    summary = run_demo(scenario, default_hall_path(), prepare_out(tmp_path / "out"), 360, True,
                       stream=stream, live=True, prefer_broker="embedded")
    assert summary["broker"] == "embedded"
    assert summary["lost"] == 0 and summary["doubled"] == 0 and summary["died"] == [], stream.getvalue()
    assert summary["issued"] == summary["printed"] == summary["customers"] > 5
    assert summary["still_waiting"] == 0 and summary["issued_offline"] > 0
    text = stream.getvalue()          # the live view redraws the hall as it goes
    assert "\x1b[H\x1b[J" in text and "recent calls:" in text and "kiosk k1: printer" in text
