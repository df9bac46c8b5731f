"""The test kit's own promises that other tests lean on: a server's port picked before the server
starts cannot be taken meanwhile by another worker's pick or by any process's outgoing connection."""
from __future__ import annotations

import socket
from pathlib import Path

from hallq.testing import _own_ports, free_port


def test_ports_for_servers_sit_below_the_kernels_own_range_one_slice_per_worker(monkeypatch):
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    gw0 = _own_ports()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    gw1 = _own_ports()
    assert gw0 is not None and gw1 is not None and not set(gw0) & set(gw1)
    first = free_port()
    taken = gw1[(gw1.index(first) + 1) % len(gw1)]          # the next in turn: listened on by someone else
    with socket.socket() as held:
        held.bind(("127.0.0.1", taken))
        held.listen()
        picks = [first] + [free_port() for _ in range(50)]
    assert len(set(picks)) == 51 and taken not in picks
    assert all(p in gw1 and p < first_ephemeral for p in picks)
