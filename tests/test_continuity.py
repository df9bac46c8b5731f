"""A controller never takes the hall on a database that is behind what the hall saw: an emptied
data folder, a lost WAL, a corrupt file. Real Mosquitto, real processes."""
from __future__ import annotations

import shutil
import subprocess
import sys

from hallq.testing import run_controller, start_controller

R = "hallq/v1/h1"


def issue_some(broker, n: int) -> list[str]:
    kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    try:
        return [kiosk.request("issue", service="pay")["ticket"]["number"] for _ in range(n)]
    finally:
        kiosk.close()


def test_an_emptied_data_folder_is_refused_then_a_fresh_start_numbers_on(broker, hall_config, admin, tmp_path):
    data = tmp_path / "controller-data"
    controller = start_controller(hall_config, tmp_path, admin, data=data)
    numbers = issue_some(broker, 5)
    assert numbers == ["A001", "A002", "A003", "A004", "A005"]
    controller.stop()
    # the database is lost (a failed mount, a wiped card): only the marker beside it is left
    for name in ("controller.db", "controller.db-wal", "controller.db-shm"):
        (data / name).unlink(missing_ok=True)
    refused = run_controller(hall_config, data)
    assert refused.returncode == 2, refused.stderr
    assert "seq" in refused.stderr and "--fresh-start" in refused.stderr and "Traceback" not in refused.stderr
    # the marker gone too (an empty folder): the broker's retained state still remembers the hall
    shutil.rmtree(data)
    refused = run_controller(hall_config, data)
    assert refused.returncode == 2 and "retained state" in refused.stderr, refused.stderr
    # starting over on purpose: numbering goes on above what the hall used, nothing is issued twice
    mark = admin.mark()
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(hall_config),
                             "--data", str(data), "--fresh-start"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        admin.wait_for(lambda t, d: t == f"{R}/presence/controller" and isinstance(d, dict) and d.get("online"),
                       start=mark, timeout=30)
        after = issue_some(broker, 2)
        assert all(int(n[1:]) > 5 for n in after) and not set(after) & set(numbers), after
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_a_corrupt_database_is_one_clear_refusal(broker, hall_config, tmp_path):
    data = tmp_path / "controller-data"
    data.mkdir()
    (data / "controller.db").write_bytes(b"this is not a SQLite database at all" * 100)
    refused = run_controller(hall_config, data)
    assert refused.returncode == 2
    assert "readable controller database" in refused.stderr and "Traceback" not in refused.stderr
