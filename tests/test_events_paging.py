"""The ``events`` op's page is one MQTT message: however much the events weigh, the reply stays under
the brokers' max_packet_size (256 KiB) and the asker gets every event by asking again after the last
one. (A page of 500 ticket events once weighed over it: the broker dropped the controller's reply,
and head office's repair of a big hall never got past its first page.) Real Mosquitto with the
project's generated config and a real controller."""
from __future__ import annotations

import json

from hallq.testing import start_controller, write_hall_config

MAX_PACKET = 262144            # broker_config/mosquitto.conf.template


def test_pages_of_heavy_events_fit_the_brokers_packet_limit_and_every_event_comes(broker, admin, tmp_path):
    hall = write_hall_config(tmp_path / "hall.toml", broker.port, broker.broker_dir / "credentials.toml",
                             edits={'prefix = "A"\n': 'prefix = "A"\nremote_daily_cap = 999\n'})
    controller = start_controller(hall, tmp_path, admin)
    try:
        # tickets joined from phones: each a ticket_issued event of several hundred bytes
        for i in range(450):
            assert admin.request("join", service="pay", device=f"{i:032x}", address=f"{i:032x}",
                                 code=f"{100000 + i}")["ok"]
        newest = admin.request("events", after_seq=0, limit=1)["last_seq"]
        got: list[dict] = []
        sizes = []
        while not got or got[-1]["seq"] < newest:
            reply = admin.request("events", after_seq=got[-1]["seq"] if got else 0, limit=1000)
            assert reply["ok"], reply
            sizes.append(len(json.dumps(reply, ensure_ascii=False).encode()))
            got += reply["events"]
        assert [ev["seq"] for ev in got] == list(range(1, newest + 1))          # every one, once, in order
        assert len(sizes) > 1 and max(sizes) < MAX_PACKET, sizes                 # it took pages, each fitting
        assert sum(1 for ev in got if ev["type"] == "ticket_issued") == 450
    finally:
        controller.stop()
