"""Configuration errors name the file, the key and what was expected (exit 2); ctl and broker."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hallq.runtime.config import load_config
from hallq.errors import ConfigError
from hallq.testing import EXAMPLE_HALL, TestClient, free_port, wait_port

BASE = EXAMPLE_HALL.read_text("utf-8")


@pytest.mark.parametrize("edit,key,expected", [
    (lambda t: t.replace('id = "h1"', 'id = "Hall One"'), "hall.id", "a-z 0-9"),
    (lambda t: t.replace('port = 1883', 'port = "1883"'), "broker.port", "int"),
    (lambda t: t.replace('prefix = "B"', 'prefix = "A"'), "service[1].prefix", "unique"),
    (lambda t: t.replace('services = ["pay"]', 'services = ["pya"]'), "counter[1].services[0]", "pya"),
    (lambda t: t.replace('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'), "hall.timezone", "Mars"),
    (lambda t: t.replace('name = "城东供电营业厅"\n', ''), "hall.name", "missing"),
    (lambda t: t.replace('[hall]\n', '[hall]\nhourz = 3\n'), "hall.hourz", "unknown key"),
    (lambda t: t.replace('# hours = [["09:00", "12:00"], ["13:00", "17:00"]]', 'hours = [["12:00", "09:00"]]'), "hall.hours[0]", "start before the end"),
    (lambda t: t + "\n[[kiosk]]\nid = \"k1\"\nservices = [\"pay\"]\n", "kiosk[2].id", "used twice"),
    (lambda t: t.replace('[hall]', '[hall', 1), "(syntax)", "valid TOML"),
])
def test_config_errors_name_file_key_and_expectation(tmp_path, edit, key, expected):
    path = tmp_path / "bad.toml"
    path.write_text(edit(BASE), "utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.path == str(path) and err.value.key == key, str(err.value)
    assert expected in err.value.expected, str(err.value)


def test_retired_display_keys_are_read_past_with_a_warning_naming_them(tmp_path, caplog):
    path = tmp_path / "old.toml"
    path.write_text(BASE.replace('[[display]]\n', '[[display]]\ncall_hold_s = 8\n', 1), "utf-8")
    assert "call_hold_s = 8" in path.read_text("utf-8")
    config = load_config(path)
    assert not hasattr(config.display[0], "call_hold_s")
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: display[0].call_hold_s is no longer used (every live call is shown at once): remove it"]
    path.write_text(BASE.replace('[[display]]\n', '[[display]]\ncall_hold = 8\n', 1), "utf-8")
    with pytest.raises(ConfigError, match="unknown key"):      # a misspelt key is still refused
        load_config(path)


@pytest.mark.processes
def test_every_command_exits_2_on_a_bad_config(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace('prefix = "A"', 'prefix = "a1"'), "utf-8")
    for command in (["controller"], ["ctl", "status"], ["broker-config", "--out", str(tmp_path / "o")],
                    ["kiosk", "--id", "k1", "--stub"], ["counter", "--id", "c1", "--stub"]):
        proc = subprocess.run([sys.executable, "-m", "hallq", *command, "--config", str(path)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (command, proc.stderr)
        assert str(path) in proc.stderr and "service[0].prefix" in proc.stderr, proc.stderr


def test_broker_override_from_flag_and_environment(monkeypatch):
    assert load_config(EXAMPLE_HALL, "10.0.0.5:1884").broker.port == 1884
    monkeypatch.setenv("HALLQ_BROKER", "127.0.0.1:2883")
    cfg = load_config(EXAMPLE_HALL)
    assert (cfg.broker.host, cfg.broker.port) == ("127.0.0.1", 2883)
    with pytest.raises(ConfigError):
        load_config(EXAMPLE_HALL, "no-port")


def ctl(config: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "ctl", "--config", str(config), *words],
                          capture_output=True, text=True, timeout=60)


def test_ctl_commands_against_the_controller(broker, controller, hall_config, admin):
    done = ctl(hall_config, "suspend-service", "biz")
    assert done.returncode == 0 and "ok: service biz is suspended" in done.stdout, done.stderr
    assert ctl(hall_config, "outage", "on", "系统故障，请在休息区等候").stdout.startswith("ok: hall is outage")
    status = ctl(hall_config, "status")
    assert status.returncode == 0
    assert "mode: outage" in status.stdout and "SUSPENDED" in status.stdout and "系统故障" in status.stdout
    assert "c1" in status.stdout and "controller: online" in status.stdout
    refused = ctl(hall_config, "suspend-service", "nope")
    assert refused.returncode == 1 and "unknown_service" in refused.stderr
    assert ctl(hall_config, "outage", "sideways").returncode == 2
    assert ctl(hall_config, "announce", "今日延时服务至18:00").returncode == 0
    state = admin.state(lambda s: s["announcements"] == ["今日延时服务至18:00"])
    assert state["mode"] == "outage"


def test_ctl_without_controller_says_so(broker, hall_config):
    proc = subprocess.run([sys.executable, "-m", "hallq", "ctl", "--config", str(hall_config), "--timeout", "1.5",
                           "open"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "no answer from the controller" in proc.stderr


def test_ctl_status_names_faults_and_says_when_the_controller_is_offline(broker, hall_config, admin, tmp_path):
    from hallq.testing import start_controller
    ctl_proc = start_controller(hall_config, tmp_path, admin)
    kiosk = broker.client("kiosk.k1", subscribe=[])
    try:
        # a printer fault, and a terminal escape sequence hidden in a device's status
        kiosk.publish("hallq/v1/h1/dev/kiosk.k1/status", {"printer": "paper_out", "reason": "\x1b[2J\x1b[31mgone"},
                      retain=True)
        admin.state(lambda s: s["devices"].get("kiosk.k1", {}).get("printer") == "paper_out")
        online = ctl(hall_config, "status")
        assert online.returncode == 0, online.stderr
        assert "c1 1号窗口" in online.stdout and "FAULT: printer paper_out" in online.stdout
        assert "\x1b" not in online.stdout and "None" not in online.stdout
    finally:
        kiosk.close()
        ctl_proc.stop()
    offline = ctl(hall_config, "--timeout", "3", "status")
    assert offline.returncode == 1 and "controller: OFFLINE" in offline.stdout
    assert "the controller is offline" in offline.stderr


@pytest.mark.processes
def test_embedded_broker_carries_a_whole_round_trip(tmp_path):
    port = free_port()
    config = tmp_path / "hall.toml"
    config.write_text(BASE.replace("port = 1883", f"port = {port}"), "utf-8")
    broker = subprocess.Popen([sys.executable, "-m", "hallq", "broker", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctl_proc = None
    try:
        wait_port(port)
        ctl_proc = subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(config),
                                     "--data", str(tmp_path / "d")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kiosk = TestClient(port, "kiosk.k1", None, subscribe=["hallq/v1/h1/dev/kiosk.k1/res", "hallq/v1/h1/presence/controller"])
        kiosk.wait_for(lambda t, d: t.endswith("presence/controller") and d and d["online"])
        reply = kiosk.request("issue", service="pay")
        assert reply["ok"] and reply["ticket"]["number"] == "A001"
        kiosk.close()
    finally:
        for proc in (ctl_proc, broker):
            if proc:
                proc.terminate()
                proc.wait(timeout=10)
