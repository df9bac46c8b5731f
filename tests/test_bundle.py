"""A hall deployed from one bundle: `hallq bundle`, then `install.sh` with the network blocked, then the
installed hallq running a real Mosquitto and controller from the installed files."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hall.bundle import device_toml
from hall.testing import (HallClient, free_port, mosquitto_binary, mosquitto_folder, port_open, wait_until,
                          write_hall_config)

R = "hallq/v1/h1"
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1"}


def hallq(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hall.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_device_toml_points_at_the_device_credentials():
    text = '[hall]\nid = "h1"\n\n[broker]\nhost = "10.0.0.2"\ncredentials = "/old/x.toml"\n\n[[service]]\nid = "a"\n'
    out = device_toml(text)
    assert 'credentials = "/etc/hallq/credentials.toml"' in out and "/old/x.toml" not in out
    assert out.count("[broker]") == 1 and 'host = "10.0.0.2"' in out and "[[service]]" in out
    assert device_toml('[hall]\nid = "h1"\n').endswith('[broker]\ncredentials = "/etc/hallq/credentials.toml"\n')


def test_bundle_refuses_a_folder_that_is_not_one(tmp_path):
    hall = write_hall_config(tmp_path / "hall.toml", 1883, None)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("precious")
    result = hallq("bundle", "--config", str(hall), "--out", str(tmp_path / "mine"), "--offline", cwd=tmp_path)
    assert result.returncode == 2 and "--out" in result.stderr
    assert (tmp_path / "mine" / "keep.txt").read_text() == "precious"


@pytest.mark.skipif(mosquitto_binary() is None, reason="Mosquitto not installed")
def test_a_hall_installs_from_its_bundle_with_no_network_and_runs(tmp_path):
    port = free_port()
    hall = write_hall_config(tmp_path / "hall.toml", port, None)
    out = tmp_path / "bundle"
    made = hallq("bundle", "--config", str(hall), "--out", str(out), "--offline", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    # each device's folder: its config, its own password only (0600), its unit, its udev rules
    passwords = tomllib.loads((out / "broker" / "credentials.toml").read_text("utf-8"))
    for device, unit in (("controller", "hallq-controller.service"), ("kiosk.k1", "hallq-kiosk@.service"),
                         ("counter.c2", "hallq-counter@.service"), ("display.d1", "hallq-display@.service")):
        folder = out / "devices" / device
        cred = tomllib.loads((folder / "credentials.toml").read_text("utf-8"))
        # the controller's Pi also holds its second connection's (read-only) password
        own = [device, "controller.lane"] if device == "controller" else [device]
        assert cred == {d: passwords[d] for d in own}
        assert (folder / "credentials.toml").stat().st_mode & 0o077 == 0
        assert 'credentials = "/etc/hallq/credentials.toml"' in (folder / "hall.toml").read_text("utf-8")
        assert (folder / unit).is_file()
    assert "hallq-sign-c2" in (out / "devices" / "counter.c2" / "60-hallq.rules").read_text("utf-8")
    wheels = sorted(p.name for p in (out / "wheels").rglob("*.whl"))
    assert any(w.startswith("hallq-") for w in wheels) and any(w.startswith("msgspec-") for w in wheels)

    # install on "the controller's machine" with every way to the network blocked
    etc = mosquitto_folder("hallq-etc-")
    env = {**os.environ, **NO_NETWORK, "HALLQ_PREFIX": str(tmp_path / "opt"), "HALLQ_ETC": str(etc),
           "HALLQ_SYSTEMD": "0", "HALLQ_MOSQUITTO_DATA": str(etc / "mosquitto-data")}
    env.pop("VIRTUAL_ENV", None)
    installed = subprocess.run(["sh", str(out / "install.sh"), "controller"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    python = tmp_path / "opt" / ".venv" / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import hall, kiosk.app, counter.app, display.app, web.server; "
                            "print(hall.__file__)"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0 and "site-packages" in where.stdout, where.stderr   # the bundle's copy
    assert tomllib.loads((etc / "credentials.toml").read_text("utf-8")) == {
        d: passwords[d] for d in ("controller", "controller.lane")}

    # and the hall runs from what was installed: Mosquitto with its files, the installed controller
    mosquitto = subprocess.Popen([mosquitto_binary(), "-c", str(etc / "mosquitto" / "mosquitto.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    controller = None
    watcher = None
    try:
        assert port_open(port), "Mosquitto did not start with the installed files"
        controller = subprocess.Popen([str(tmp_path / "opt" / ".venv" / "bin" / "hallq"), "controller",
                                       "--config", str(etc / "hall.toml"), "--data", str(tmp_path / "data")],
                                      cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watcher = HallClient(port, "admin.ctl", passwords["admin.ctl"], subscribe=[f"{R}/presence/controller"])
        watcher.wait_for(lambda t, d: t.endswith("/presence/controller") and isinstance(d, dict) and d.get("online"),
                         timeout=30)
        controller.send_signal(signal.SIGTERM)
        assert controller.wait(20) == 0
    finally:
        if watcher is not None:
            watcher.close()
        for proc in (controller, mosquitto):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
    wait_until(lambda: mosquitto.poll() is not None, what="mosquitto gone")
