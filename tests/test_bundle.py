"""`hallq bundle`: one folder per machine of the hall, checked for separate machines, the passwords in
clear kept off the stick. (Installing it on machines: tests/test_deployed_hall.py.)"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hallq.tools.bundle import device_toml
from hallq.testing import REPO, write_hall_config

pytestmark = pytest.mark.processes

LAN_HALL = REPO / "examples" / "hall-lan.toml"


def hallq(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def lan_hall(tmp_path: Path, change: tuple[str, str] | None = None) -> Path:
    text = LAN_HALL.read_text("utf-8")
    if change:
        assert change[0] in text
        text = text.replace(*change)
    path = tmp_path / "hall.toml"
    path.write_text(text, "utf-8")
    return path


def test_device_toml_points_at_the_device_credentials():
    text = '[hall]\nid = "h1"\n\n[broker]\nhost = "10.0.0.2"\ncredentials = "/old/x.toml"\n\n[[service]]\nid = "a"\n'
    out = device_toml(text)
    assert 'credentials = "/etc/hallq/credentials.toml"' in out and "/old/x.toml" not in out
    assert out.count("[broker]") == 1 and 'host = "10.0.0.2"' in out and "[[service]]" in out
    assert device_toml('[hall]\nid = "h1"\n').endswith('[broker]\ncredentials = "/etc/hallq/credentials.toml"\n')


def test_bundle_refuses_a_folder_that_is_not_one(tmp_path):
    hall = lan_hall(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("precious")
    result = hallq("bundle", "--config", str(hall), "--out", str(tmp_path / "mine"), "--offline", cwd=tmp_path)
    assert result.returncode == 2 and "--out" in result.stderr
    assert (tmp_path / "mine" / "keep.txt").read_text() == "precious"


def test_a_loopback_broker_for_devices_on_other_machines_is_refused_in_one_line(tmp_path):
    hall = write_hall_config(tmp_path / "hall.toml", 1883, None,
                             extra='[[kiosk]]\nid = "k3"\nservices = ["pay"]\n[kiosk.printer]\ntransport = "network"\n'
                                   'host = "192.168.10.40"\n')
    text = hall.read_text("utf-8")
    # the example hall's kiosks k1, k2 have no printer: give them one, so only the broker is wrong
    text = text.replace('[[kiosk]]\nid = "k1"\nservices = ["pay", "biz"]\n',
                        '[[kiosk]]\nid = "k1"\nservices = ["pay", "biz"]\n[kiosk.printer]\ntransport = "usb"\n'
                        'usb_vendor = 0x0483\nusb_product = 0x5743\n')
    text = text.replace('[[kiosk]]\nid = "k2"\nservices = ["pay", "biz"]\n',
                        '[[kiosk]]\nid = "k2"\nservices = ["pay", "biz"]\n[kiosk.printer]\ntransport = "serial"\n'
                        'device = "/dev/ttyUSB0"\n')
    hall.write_text(text, "utf-8")
    out = tmp_path / "bundle"
    refused = hallq("bundle", "--config", str(hall), "--out", str(out), "--offline", cwd=tmp_path)
    problems = refused.stderr.splitlines()
    assert refused.returncode == 2 and len(problems) == 1, refused.stderr
    assert "[broker] host" in problems[0] and "127.0.0.1" in problems[0] and "--one-machine" in problems[0]
    assert not out.exists()
    allowed = hallq("bundle", "--config", str(hall), "--out", str(out), "--offline", "--one-machine", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize("change, names", [
    (('[kiosk.printer]\ntransport = "usb"\nusb_vendor = 0x0483\nusb_product = 0x5743\nwidth_mm = 80\n\n[[kiosk]]',
      '\n[[kiosk]]'), ["k1", "transport", "printer"]),
    (('usb_product = 0x5743\nwidth_mm = 80\n\n[[display]]', 'width_mm = 80\n\n[[display]]'), ["k2", "usb_product"]),
    (('[[display]]\nid = "d1"\n', '[[display]]\nid = "d1"\nfullscreen = false\n'), ["d1", "fullscreen"]),
    (('[[display]]\nid = "d1"\n', '[[display]]\nid = "d1"\naudio_out = "/tmp/wavs"\n'), ["d1", "audio_out"]),
])
def test_a_device_missing_what_its_machine_needs_is_named(tmp_path, change, names):
    hall = lan_hall(tmp_path, change)
    result = hallq("bundle", "--config", str(hall), "--out", str(tmp_path / "b"), "--offline", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    problem = result.stderr.splitlines()[0]
    assert all(name in problem for name in names), problem
    assert not (tmp_path / "b").exists()


def test_each_machine_gets_its_own_files_and_the_passwords_stay_off_the_stick(tmp_path):
    hall = lan_hall(tmp_path)
    out = tmp_path / "bundle"
    made = hallq("bundle", "--config", str(hall), "--out", str(out), "--offline", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    master = tmp_path / "hall.credentials.toml"          # beside the hall's file, not in the bundle
    assert master.stat().st_mode & 0o077 == 0
    passwords = tomllib.loads(master.read_text("utf-8"))
    every = [p.read_text("utf-8", "replace") for p in out.rglob("*") if p.is_file() and p.suffix != ".whl"]
    for identity in ("controller", "kiosk.k1", "counter.c3", "admin.web"):
        holders = [t for t in every if passwords[identity] in t]
        assert len(holders) == 1, f"{identity}'s password is in {len(holders)} files of the bundle"
    # the controller and the kiosks also hold the key of appointment codes' hashes
    expected = {"controller": ["controller", "controller.lane", "admin.ctl", "appointment_key"],
                "admin.web": ["admin.web"], "kiosk.k1": ["kiosk.k1", "appointment_key"],
                "counter.c2": ["counter.c2"], "display.d1": ["display.d1"]}
    for device, own in expected.items():
        folder = out / "devices" / device
        cred = tomllib.loads((folder / "credentials.toml").read_text("utf-8"))
        assert cred == {d: passwords[d] for d in own}
        assert (folder / "credentials.toml").stat().st_mode & 0o077 == 0
        assert 'credentials = "/etc/hallq/credentials.toml"' in (folder / "hall.toml").read_text("utf-8")
        assert (folder / "environment").read_text("utf-8").splitlines()[-1] == "TZ=Asia/Shanghai"
    # the broker's files (hashed passwords, ACL) only in the broker's machine's folder
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("passwords")) == ["devices/controller/mosquitto/passwords"]
    conf = (out / "devices" / "controller" / "mosquitto" / "hallq.conf").read_text("utf-8")
    assert "listener 1883 0.0.0.0" in conf and "allow_anonymous false" in conf
    for set_by_debian in ("persistence_location", "log_dest", "pid_file", "include_dir"):
        assert set_by_debian not in conf.replace(f"its\n# pid_file, persistence_location and log_dest", "")
    units = {p.name for p in (out / "devices" / "controller").glob("hallq-*")}
    assert units == {"hallq-controller.service", "hallq-report.service", "hallq-report.timer", "hallq-firewall.service"}
    assert (out / "devices" / "admin.web" / "hallq-web.service").is_file()
    assert "hallq-sign-c2" in (out / "devices" / "counter.c2" / "60-hallq.rules").read_text("utf-8")
    assert 'ATTRS{idVendor}=="0483"' in (out / "devices" / "kiosk.k1" / "60-hallq.rules").read_text("utf-8")
    # wheels named for their machine and Python; the Pis' missing ones said plainly (--offline)
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    assert (out / "wheels" / f"{os.uname().machine}-{tag}").is_dir()
    assert "Python 3.11 and 3.13" in made.stderr and "--offline" in made.stderr
    # a second run keeps every password (installed devices keep working)
    again = hallq("bundle", "--config", str(hall), "--out", str(out), "--offline", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert tomllib.loads(master.read_text("utf-8")) == passwords


def test_an_older_bundles_passwords_are_kept_and_taken_off_the_stick(tmp_path):
    hall = lan_hall(tmp_path)
    out = tmp_path / "bundle"
    (out / "broker").mkdir(parents=True)
    (out / ".hallq-bundle").write_text("a hallq bundle\n")
    (out / "broker" / "credentials.toml").write_text('"kiosk.k1" = "kept-from-before"\n')
    made = hallq("bundle", "--config", str(hall), "--out", str(out), "--offline", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert not (out / "broker").exists()
    kept = tomllib.loads((out / "devices" / "kiosk.k1" / "credentials.toml").read_text())
    assert kept["kiosk.k1"] == "kept-from-before"


def test_make_bundle_is_the_guides_command():
    dry = subprocess.run(["make", "-n", "bundle", "CONFIG=hall.toml", "OUT=hall-bundle"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "bundle --config hall.toml --out hall-bundle" in dry.stdout
