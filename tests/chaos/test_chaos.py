"""A short chaos run in `make test`: real processes SIGKILLed at random during traffic, one power
cut, then every invariant checked from the controller's records, the printed tickets and the
display's own snapshot (bench/chaos.py does the work; `make chaos` runs ≥ 200 kills)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hallq.testing import mosquitto_binary

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import chaos  # noqa: E402

needs_mosquitto = pytest.mark.skipif(mosquitto_binary() is None, reason="Mosquitto is not installed (make test installs it)")


@needs_mosquitto
def test_twenty_kills_and_a_power_cut_keep_every_invariant(tmp_path: Path) -> None:
    result = chaos.run(kills=20, power_cuts=1, seed=20261123, out=tmp_path / "run", tickets_per_s=4.0,
                       gap_s=(0.5, 1.5), max_seconds=240, keep=True)
    print("\n".join(f"{m}: {v}" for m, v in result.table()))
    assert result.violations == []
    assert result.total_kills == 20 and result.power_cuts == 1
    # every kind of component was killed at least once (the killer takes each kind once first)
    assert set(result.kills) == {"controller", "broker", "kiosk", "counter", "display"}, result.kills
    # the run did real work: tickets printed and called through the faults
    assert result.tickets >= 15 and result.printed >= 15 and result.called >= 5, result.table()


def test_invariant_checks_catch_a_doubled_call() -> None:
    """The checker itself can fail: records where one ticket is called at two counters."""
    from hallq.runtime.config import load_config
    from hallq.core import events as e
    from hallq.core.rules import QueueRules
    from hallq.runtime.setup import setup_from_config
    from hallq.core import commands as c
    from datetime import datetime

    config = load_config(chaos.HALL)
    setup = setup_from_config(config)
    rules = QueueRules(setup)
    now = datetime.now(setup.tz)
    state = setup.initial_state()
    events: list[e.Event] = []
    for command in (c.Tick(by="controller"), c.IssueTicket(by="kiosk.k1", service="pay", priority="normal"),
                    c.CallNext(by="counter.c1", counter="c1")):
        state, new = rules.handle(state, command, now)
        events += new
    called = next(ev for ev in events if isinstance(ev, e.TicketCalled))
    forged = e.TicketCalled(at=called.at, ticket=called.ticket, counter="c2")
    result = chaos.ChaosResult()
    chaos.check_events(config, events + [forged], [], result)
    assert any("two counters" in v for v in result.violations), result.violations
    assert any("call_next replies and calls differ" in v for v in result.violations)


@needs_mosquitto
def test_stalls_a_flood_a_clock_jump_and_a_full_disk_keep_every_invariant(tmp_path: Path) -> None:
    """Faults beyond SIGKILL among the kills, the same invariants (bench/chaos_faults.py)."""
    result = chaos.run(kills=8, power_cuts=0, seed=20261126, out=tmp_path / "run", tickets_per_s=4.0,
                       gap_s=(0.5, 1.5), max_seconds=300, keep=True, faults_per_kind=1)
    print("\n".join(f"{m}: {v}" for m, v in result.table()))
    assert result.violations == []
    done = set(result.faults)
    skipped = {s.split(":")[0] for s in result.skipped}
    assert {"stall", "flood"} <= done                       # these need nothing from the machine
    assert ("clock" in done) != ("clock jumps" in skipped) and ("disk" in done) != ("disk full" in skipped), \
        (result.faults, result.skipped)
    # the flood got a burst, then 4 a second while its backlog was read: not the day's numbers
    assert 0 < len(result.flood_tickets) < 200 and result.flood_worst_delay_s is not None   # 40, then 4 a second
    assert result.tickets >= 15 and result.called >= 5, result.table()


def test_poisoned_events_at_head_office_and_a_stream_flood_on_the_web_leave_every_figure_exact(tmp_path: Path) -> None:
    """bench/chaos_surfaces.py, short: a broken hall's poisoned events and 1,100 streams at once."""
    import chaos_surfaces
    result = chaos_surfaces.run(rounds=4, workdir=tmp_path)
    print("\n".join(f"{m}: {v}" for m, v in result.rows()))
    assert result.violations == []
    assert result.poisoned == 10 and result.refused_streams > 0 and result.pages_answered_during_floods == 10
