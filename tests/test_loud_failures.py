"""What an installer sees when something is wrong ("Failing loudly"): a clear line naming
the problem and its exit status, or a fault on the device's status; never a silent Dummy printer,
never a traceback."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from hallq.testing import EXAMPLE_HALL, Process, free_port, start_controller, wait_until

R = "hallq/v1/h1"


def hallq(*words: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", *words], capture_output=True, text=True,
                          timeout=timeout)


def test_a_real_kiosk_without_a_printer_refuses_to_start(tmp_path):
    done = hallq("kiosk", "--config", str(EXAMPLE_HALL), "--id", "k1", "--data", str(tmp_path / "k1"))
    assert done.returncode == 2
    assert "kiosk[0].printer.transport" in done.stderr and "not --stub" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_kiosk_without_gpio_runs_and_says_so_on_its_status(broker, hall_config, admin, tmp_path):
    text = hall_config.read_text("utf-8").replace(
        '[[kiosk]]\nid = "k1"\nservices = ["pay", "biz"]\n',
        '[[kiosk]]\nid = "k1"\nservices = ["pay", "biz"]\n[kiosk.printer]\ntransport = "dummy"\n', 1)
    assert "[kiosk.printer]" in text
    hall = tmp_path / "with-printer.toml"
    hall.write_text(text, "utf-8")
    kiosk = Process(["kiosk", "--config", str(hall), "--id", "k1", "--data", str(tmp_path / "k1")], tmp_path,
                    "kiosk", env={"GPIOZERO_PIN_FACTORY": "lgpio"}).start()   # not a Pi: no GPIO library here
    try:
        status = admin.wait_for(lambda t, d: t == f"{R}/dev/kiosk.k1/status" and isinstance(d, dict)
                                and d.get("buttons") == "fault", timeout=20)
        assert status["buttons_detail"]
        assert kiosk.alive
    finally:
        kiosk.stop()
    log = kiosk.output()
    assert "Traceback" not in log and "buttons unavailable" in log and "printed nowhere" in log


def test_two_controllers_on_one_folder(broker, hall_config, admin, tmp_path):
    first = start_controller(hall_config, tmp_path, admin)
    try:
        second = hallq("controller", "--config", str(hall_config), "--data", str(tmp_path / "controller-data"))
        assert second.returncode == 2 and "--data" in second.stderr and "holds it" in second.stderr
        assert f"pid {first.proc.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.stop()


def test_embedded_broker_on_a_port_in_use_says_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = hallq("broker", "--config", str(EXAMPLE_HALL), "--listen", f"127.0.0.1:{port}", timeout=30)
    assert done.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.processes
def test_an_unreachable_broker_is_named_every_few_seconds(tmp_path):
    port = free_port()                      # nothing listens there
    counter = Process(["counter", "--config", str(EXAMPLE_HALL), "--id", "c1", "--stub", "--broker",
                       f"127.0.0.1:{port}", "--data", str(tmp_path / "c1")], tmp_path, "counter").start()
    try:
        wait_until(lambda: counter.output().count(f"no connection to the broker at 127.0.0.1:{port}") >= 2,
                   timeout=20, what="the complaint, twice")
    finally:
        counter.stop()
    assert "Traceback" not in counter.output()
