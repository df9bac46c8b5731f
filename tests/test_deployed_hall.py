"""A hall as it is deployed: one server and five Pis on a LAN (network namespaces), Debian's
packaged Mosquitto from its stock main file, every service as the unprivileged ``hallq`` user from
its unit file, installed by following docs/deploy.md's own commands; then a short hall day while
the network breaks between the machines (bench/chaos_hosts.py; `make chaos` runs the long one)."""
from __future__ import annotations

import os
import random
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hallq.testing import REPO, HallClient, wait_until
from hallq.testing.deploy import DeployedHall, Guide
from hallq.testing.hosts import in_netns, netns_available, parse_unit

sys.path.append(str(REPO / "bench"))     # after the packages: bench/display.py is no package

import chaos_hosts  # noqa: E402

WHY_NOT = netns_available()
needs_hosts = pytest.mark.skipif(bool(WHY_NOT), reason=f"simulated hosts: {WHY_NOT}")
pytestmark = [pytest.mark.processes]
UNITS = REPO / "hardware" / "systemd"


def test_the_guides_package_lists_name_real_debian_packages_including_libusb():
    guide = Guide()
    wanted = sorted({p for names in guide.packages.values() for p in names})
    assert "libusb-1.0-0" in guide.packages["kiosk"] and "mosquitto" in guide.packages["controller"]
    found = subprocess.run(["apt-cache", "show", "--no-all-versions", *wanted], capture_output=True, text=True,
                           timeout=60)
    known = set(re.findall(r"(?m)^Package: (\S+)", found.stdout))
    assert known == set(wanted), f"not Debian packages: {set(wanted) - known}"


def test_the_guides_hall_is_the_example_file_and_names_every_device():
    guide = Guide()
    assert guide.files["hall.toml"] == (REPO / "examples" / "hall-lan.toml").read_text("utf-8")
    devices = {d for m in guide.machines for d in m.devices}
    assert devices == {"controller", "admin.web", "kiosk.k1", "kiosk.k2", "counter.c1", "counter.c2", "counter.c3",
                       "counter.c4", "display.d1"}
    assert len(guide.machines) == 6 and len({m.address for m in guide.machines}) == 6


def test_every_unit_runs_sandboxed_in_a_writable_state_folder_in_the_halls_time_zone():
    """lgpio writes its notify file in the working directory: every unit has its state folder as
    working directory; every unit has the same sandbox; no unit names a time zone of its own."""
    for path in sorted(UNITS.glob("hallq-*.service")):
        text = path.read_text("utf-8")
        unit = parse_unit([text], path.name)
        assert unit.get("ProtectSystem") == "strict", path.name
        assert unit.get("ProtectHome") == "true" and unit.get("PrivateTmp") == "true", path.name
        assert unit.get("NoNewPrivileges") == "true" and unit.get("UMask") == "0077", path.name
        assert "Asia/" not in text and "TZ=" not in text, path.name
        if path.name == "hallq-firewall.service":
            continue          # root's nft, writes nothing
        assert "/etc/hallq/environment" in unit.all("EnvironmentFile")[0], path.name
        state = unit.all("StateDirectory")
        assert state and unit.get("StateDirectoryMode") == "0700", path.name
        assert unit.get("WorkingDirectory") == "/var/lib/" + state[0], path.name
        assert not unit.all("SupplementaryGroups"), f"{path.name}: a group missing on the machine stops the unit"


def refused(host, address: str, identity: str, password: str | None) -> str:
    """'' when the broker at ``address`` lets ``identity`` in from ``host``, else its reason."""
    client = in_netns(host.ns, lambda: HallClient(1883, identity, password, host=address, subscribe=[],
                                                 connect=False))
    try:
        in_netns(host.ns, lambda: client.connect(timeout=5))
        return ""
    except TimeoutError:
        return str(client.refused)
    finally:
        client.c.loop_stop()
        client.c.disconnect()


def open_idle(address: str, count: int) -> tuple[list[socket.socket], int]:
    """``count`` TCP connections to the broker that never send CONNECT: (those held, those refused)."""
    held, refused_count = [], 0
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(2)
        try:
            sock.connect((address, 1883))
            held.append(sock)
        except OSError:
            refused_count += 1
            sock.close()
    return held, refused_count


@needs_hosts
def test_the_worked_hall_installs_as_the_guide_says_and_keeps_order_when_the_network_breaks(tmp_path: Path):
    hall = DeployedHall(tmp_path / "hall")
    chaos = chaos_hosts.HostChaos(hall, seed=20261204, tickets_per_s=1.5)
    try:
        chaos.start()
        server = hall.server
        # the broker serves the hall's network, with passwords, from Debian's own main file
        main = server.path("/etc/mosquitto/mosquitto.conf").read_text()
        assert main == Path("/etc/mosquitto/mosquitto.conf").read_text(), "install.sh changed Debian's main file"
        kiosk_host = hall.devices["kiosk.k1"]
        assert refused(kiosk_host, hall.broker_address, "kiosk.k9", None) == "Not authorized"
        assert refused(kiosk_host, hall.broker_address, "kiosk.k1", "not the password") == "Not authorized"
        assert refused(kiosk_host, hall.broker_address, "kiosk.k1", hall.passwords["kiosk.k1"]) == ""
        # every service as hallq, in its state folder, the files its own (credentials 0600)
        for device, host in hall.devices.items():
            for name, running in host.services.running.items():
                pid = host.services.pid(name)
                if pid is None or name.startswith(("mosquitto", "hallq-firewall")):
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
                uid = int(re.search(r"(?m)^Uid:\s+(\d+)", status).group(1))
                assert uid != 0, f"{host.name} {name} runs as root"
                cwd = os.readlink(f"/proc/{pid}/cwd")      # as the service sees it, on its machine
                assert cwd.startswith("/var/lib/hallq/"), f"{host.name} {name} works in {cwd}"
            cred = host.path("/etc/hallq/credentials.toml")
            mode = cred.stat()
            assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid != 0, f"{host.name}: credentials {oct(mode.st_mode)}"
        # two counters on one Pi: both passwords in its one credentials file
        desk = hall.devices["counter.c1"].path("/etc/hallq/credentials.toml").read_text()
        assert '"counter.c1"' in desk and '"counter.c2"' in desk and '"kiosk.k1"' not in desk
        # units as installed pass systemd-analyze verify on the machine that runs them
        for host in hall.hosts.values():
            units = sorted(p.name for p in host.path("/etc/systemd/system").glob("hallq-*"))
            verify = host.run("systemd-analyze verify " + " ".join(f"/etc/systemd/system/{u}" for u in units),
                              check=False)
            assert verify.returncode == 0, f"{host.name}: {verify.stderr}"
        # idle sockets from one machine cannot lock the devices out: install.sh's firewall rule on the
        # broker's machine gives one address 32 connections (Mosquitto 2.0 keeps idle ones for ever)
        held, turned_away = in_netns(hall.devices["display.d1"].ns, lambda: open_idle(hall.broker_address, 200))
        try:
            assert len(held) <= 32 and turned_away >= 168, (len(held), turned_away)
            assert refused(kiosk_host, hall.broker_address, "kiosk.k1", hall.passwords["kiosk.k1"]) == ""
        finally:
            for sock in held:
                sock.close()
        # the guide's server checks: the hall's status and a console user
        wait_until(chaos.everyone_up, 60, what="every device online")
        status, _user = hall.server_checks()
        assert "1号窗口" in status.stdout and "online" in status.stdout.lower(), status.stdout
        # the hall's time zone reached every service (none hard-coded)
        assert "TZ=Asia/Shanghai" in server.path("/etc/hallq/environment").read_text()

        # a short day with every kind of network fault between the machines
        result = chaos.run_plan(chaos_hosts.short_plan(random.Random(1)))
        print("\n".join(f"{m}: {v}" for m, v in result.host_rows()))
        assert result.violations == [], "\n".join(result.violations) + "\n" + hall.journal()[-8000:]
        assert set(result.network_faults) == set(chaos_hosts.FAULTS)
        longest = result.longest
        assert longest is not None and longest.seconds >= 15 and longest.issued >= 1, result.host_rows()
        assert result.tickets >= 20 and result.printed >= 20 and result.called >= 5, result.host_rows()
        assert result.offline_tickets >= 1
        # the morning report runs as its unit says, in the hall's yesterday
        report = server.services.oneshot("hallq-report.service")
        assert report.returncode == 0, report.stdout
        assert any(server.path("/var/lib/hallq/reports").glob("*.csv"))
        # installing again (an upgrade) keeps the data and the passwords, and the hall goes on
        before = hall.unsynced("kiosk.k1"), hall.ticket_dir("kiosk.k1").stat().st_ino
        hall.run(hall.devices["kiosk.k1"], hall.guide.commands("each device", device_id="kiosk.k1")[0])
        hall.devices["kiosk.k1"].services.apply_requests()
        assert (hall.unsynced("kiosk.k1"), hall.ticket_dir("kiosk.k1").stat().st_ino) == before
        assert f'"kiosk.k1" = "{hall.passwords["kiosk.k1"]}"' in hall.devices["kiosk.k1"].path(
            "/etc/hallq/credentials.toml").read_text()
    except BaseException:
        print("\n".join(hall.log[-20:]))
        raise
    finally:
        if chaos.watcher is not None:
            chaos.watcher.close()
        hall.close()
