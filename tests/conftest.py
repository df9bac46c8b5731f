"""Fixtures with real parts: Mosquitto, the controller process, plain MQTT clients."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(Path(__file__).parent.parent / ".venv" / "escpos-cache"))

from hallq.testing import Broker, Process, TestClient, start_controller  # noqa: E402

CHAOS = Path(__file__).parent / "chaos"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers by what a test uses, so ``make check`` (-m "not processes and not browser and not
    chaos") leaves out whatever starts a process: every test on the ``broker`` fixture starts
    Mosquitto, every test on a ``browser`` fixture drives Chromium; the chaos runs live in tests/chaos. Tests that start processes another way say so
    with ``pytestmark``."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "broker" in fixtures:
            item.add_marker(pytest.mark.processes)
        if "browser" in fixtures or "phone" in fixtures:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.processes)
        if CHAOS in item.path.parents:
            item.add_marker(pytest.mark.chaos)
            item.add_marker(pytest.mark.processes)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on a free loopback port, configured by `hallq broker-config`."""
    b = Broker(tmp_path)
    b.configure()
    b.start()
    yield b
    b.cleanup()


@pytest.fixture
def hall_config(broker: Broker) -> Path:
    assert broker.config_path is not None
    return broker.config_path


@pytest.fixture
def admin(broker: Broker) -> Iterator[TestClient]:
    """An operator client (admin.ctl) subscribed to the whole hall."""
    client = broker.client("admin.ctl")
    yield client
    client.close()


@pytest.fixture
def controller(broker: Broker, hall_config: Path, admin: TestClient, tmp_path: Path) -> Iterator[Process]:
    proc = start_controller(hall_config, tmp_path, admin)
    yield proc
    proc.stop()


@pytest.fixture
def device(broker: Broker) -> Iterator:
    """device("kiosk.k1") -> a connected TestClient with that device's credentials."""
    made: list[TestClient] = []

    def make(device_id: str, **kw) -> TestClient:
        client = broker.client(device_id, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def browser() -> Iterator:
    """Debian's Chromium at desktop size, for one test (modules that share one define their own)."""
    from webkit import chromium  # noqa: PLC0415 - only tests that drive a browser import selenium
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def phone() -> Iterator:
    """Debian's Chromium at a phone's width (390 × 844), for one test."""
    from webkit import chromium  # noqa: PLC0415
    driver = chromium()
    driver.set_window_size(390, 844)
    yield driver
    driver.quit()
