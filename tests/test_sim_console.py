"""``hallq sim``: the console drives a real hall (processes, Mosquitto) through R/sim and signals."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hallq.testing import EXAMPLE_HALL

pytestmark = pytest.mark.processes

SCRIPT = """\
ps
press k1 pay
press k2 biz priority
printer k1 paper_out
press k1 pay
printer k1 ok
press k1 pay
login c1 wang
press c1 next
press c1 finish
press c1 rate_1
press c9 next
press k1 teleport
kill controller
ps
start controller
press c2 next
state
events 40
op announce text=hello
help press
press c3 finish
stop broker
press k1 pay
start broker
bogus
quit
"""


def test_console_script_on_a_real_hall(tmp_path: Path) -> None:
    data = tmp_path / "sim"
    proc = subprocess.run([sys.executable, "-m", "hallq", "sim", "--config", str(EXAMPLE_HALL), "--data", str(data)],
                          input=SCRIPT, cwd=tmp_path, capture_output=True, text=True, timeout=150)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    lines = out.splitlines()
    # buttons pressed through R/sim print real tickets
    assert "kiosk.k1 printed A001" in out and "kiosk.k2 printed B001" in out
    assert (data / "tickets" / "k1" / "A001.png").exists() and (data / "tickets" / "k1" / "A001.bin").exists()
    # a printer without paper prints nothing; back to ok, the next number
    assert any(line.startswith("kiosk.k1 printed nothing (printer=paper_out") for line in lines)
    assert "kiosk.k1 printed A002" in out
    assert not (data / "tickets" / "k1" / "A003.bin").exists()
    # counter keys: B001 was issued with priority, so c1 calls it before A001
    assert "clerk_logged_in counter=c1 clerk=wang" in out
    assert "ticket_called B001 counter=c1" in out and "ticket_served B001 counter=c1" in out
    assert "ticket_rated B001 counter=c1" in out
    # mistakes are explained, nothing stops
    assert "no kiosk or counter 'c9'" in out and "kiosk.k1 has buttons for pay, biz" in out
    assert "unknown command 'bogus'" in out
    # help names every button; a refused key says why
    assert "kiosk k1: pay biz (add priority), check_in CODE" in out and "counter c3: next recall" in out
    assert "counter.c3: refused: #1 finish: not_serving" in out
    # with the broker down a press still reaches the kiosk (its local socket): a ticket from its lease
    after_stop = out.split("broker stopped")[1]
    assert "pressed through kiosk.k1's local socket" in after_stop
    assert any(line.startswith("kiosk.k1 printed A9") for line in after_stop.splitlines()), after_stop[:800]
    # kill and restart: the process is down, then back with a new epoch, and the queue goes on
    ps_after_kill = out.split("controller killed")[1]
    assert "controller: down" in ps_after_kill
    assert "controller started\n" in out
    assert "ticket_called A001 counter=c2" in out
    assert "epoch=2" in out
    assert '"announcements":["hello"]' in out      # the reply, printed as JSON
    assert "hallq sim: hall stopped" in out
