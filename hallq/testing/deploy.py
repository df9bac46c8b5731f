"""The worked hall of docs/deploy.md, deployed on simulated machines by following that page.

:class:`Guide` reads the page: its machines table, the ``hall.toml`` block, the package lists and
the command blocks marked ``<!-- run: … -->``. :class:`DeployedHall` runs those commands as
printed (``sudo `` dropped: the test is root; ``hallq`` on the build machine is this checkout's),
on hosts of :mod:`hallq.testing.hosts`: ``hallq bundle`` here, the bundle copied to each machine's
``/media/hall-bundle`` (the USB stick), the lab settings, ``install.sh`` for each device, the
systemctl requests carried out from the unit files, then the server's checks. What the hall does
afterwards is read from outside: MQTT from a client on the server's network, the controller's
database and the printed tickets from the machines' disks.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import REPO, HallClient, wait_until
from .hosts import Host, Lan, in_netns

GUIDE = REPO / "docs" / "deploy.md"
BUNDLE_ON_STICK = "/media/hall-bundle"


@dataclass
class Machine:
    name: str
    address: str
    devices: list[str]

    @property
    def kinds(self) -> set[str]:
        return {d.partition(".")[0] for d in self.devices}


@dataclass
class Guide:
    """What docs/deploy.md tells an installer to do, read from its marked blocks."""
    path: Path = GUIDE
    machines: list[Machine] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, list[str]] = field(default_factory=dict)
    packages: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        text = self.path.read_text("utf-8")
        for marker, body in re.findall(r"<!-- ([^>]+?) -->\n```[a-z]*\n(.*?)```", text, re.S):
            kind, _, name = marker.partition(": ")
            if kind == "file":
                self.files[name] = body
            elif kind == "run":
                self.blocks[name] = [line for line in body.splitlines() if line.strip() and not line.startswith("#")]
            elif kind == "packages":
                words = [w for line in body.splitlines() for w in line.split()]
                self.packages[name] = words[words.index("install") + 1:]
        table = text.split("<!-- machines -->", 1)[1].split("\n\n", 1)[0]
        for row in table.strip().splitlines()[2:]:
            cells = [c.strip() for c in row.strip("|").split("|")]
            self.machines.append(Machine(cells[0], cells[1], re.findall(r"`([^`]+)`", cells[2])))

    def commands(self, block: str, **fill: str) -> list[str]:
        """A block's lines with ``<device id>`` and the like filled in, ``sudo `` dropped."""
        out = []
        for line in self.blocks[block]:
            for key, value in fill.items():
                line = line.replace(f"<{key.replace('_', ' ')}>", value)
            out.append(re.sub(r"(^|&& |\| )sudo ", r"\1", line))
        return out


class DeployedHall:
    """The worked hall on simulated machines, installed as the guide says."""

    def __init__(self, workdir: Path, guide: Guide | None = None, always_open: bool = True) -> None:
        """``always_open``: the guide's opening hours left out, so that a test at any hour finds the
        hall open (the only change made to the guide's hall.toml)."""
        self.workdir = workdir
        self.always_open = always_open
        self.guide = guide or Guide()
        self.lan: Lan | None = None
        self.hosts: dict[str, Host] = {}
        self.devices: dict[str, Host] = {}         # device id -> the machine it runs on
        self.passwords: dict[str, str] = {}
        self.log: list[str] = []
        self.hall_toml = workdir / "hall.toml"

    # --- the build machine ------------------------------------------------------------------
    def build(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        text = self.guide.files["hall.toml"]
        if self.always_open:
            text = re.sub(r"(?m)^hours = .*\n", "", text)
        self.hall_toml.write_text(text, "utf-8")
        for command in self.guide.commands("build"):
            args = shlex.split(command)
            assert args[0] == "hallq", f"the build block runs hallq only: {command}"
            result = subprocess.run([sys.executable, "-m", "hallq", *args[1:], "--offline"], cwd=self.workdir,
                                    capture_output=True, text=True, timeout=600)
            self.log.append(f"build$ {command} --offline -> {result.returncode}\n{result.stdout}{result.stderr}")
            if result.returncode != 0:
                raise RuntimeError(self.log[-1])
        self.passwords = tomllib.loads((self.workdir / "hall.credentials.toml").read_text("utf-8"))
        return self.workdir / "hall-bundle"

    # --- the machines -----------------------------------------------------------------------
    def install(self, parallel: bool = True, only: list[str] | None = None) -> None:
        """Build the bundle, then every machine of the guide's table (or ``only`` those named)."""
        bundle = self.build()
        subnet = self.guide.machines[0].address.rsplit(".", 1)[0]
        self.lan = Lan(self.workdir, subnet=subnet)
        for machine in self.guide.machines:
            if only is not None and machine.name not in only:
                continue
            host = self.lan.add_host(machine.name, machine.address)
            self.hosts[machine.name] = host
            for device in machine.devices:
                self.devices[device] = host
            shutil.copytree(bundle, host.path(BUNDLE_ON_STICK), symlinks=True)
            host.boot()
        server = self.server
        self.install_machine(server)             # the broker's machine first, as the guide's table does
        others = [h for h in self.hosts.values() if h is not server]
        if parallel:
            errors: list[BaseException] = []

            def one(host: Host) -> None:
                try:
                    self.install_machine(host)
                except BaseException as err:  # handed to the caller
                    errors.append(err)
            threads = [threading.Thread(target=one, args=(h,)) for h in others]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
        else:
            for host in others:
                self.install_machine(host)

    def install_machine(self, host: Host) -> None:
        machine = next(m for m in self.guide.machines if m.name == host.name)
        for kind in sorted(machine.kinds):
            if f"lab {kind}" in self.guide.blocks:
                for command in self.guide.commands(f"lab {kind}"):
                    self.run(host, command)
        for device in machine.devices:
            for command in self.guide.commands("each device", device_id=device):
                self.run(host, command)
                assert host.services is not None
                self.log.append(f"{host.name}: systemctl: {host.services.apply_requests()}")

    def run(self, host: Host, command: str) -> subprocess.CompletedProcess[str]:
        result = host.run(command, check=False, timeout=900)
        self.log.append(f"{host.name}$ {command} -> {result.returncode}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        if result.returncode != 0:
            raise RuntimeError(self.log[-1])
        return result

    def server_checks(self) -> list[subprocess.CompletedProcess[str]]:
        return [self.run(self.server, command) for command in self.guide.commands(self.server.name)]

    @property
    def server(self) -> Host:
        return self.devices["controller"]

    @property
    def broker_address(self) -> str:
        return self.server.address

    # --- reading the hall from outside ------------------------------------------------------
    def client(self, identity: str = "admin.ctl", where: Host | None = None, **kw: Any) -> HallClient:
        """A plain MQTT client on ``where``'s network (default: the server's)."""
        host = where or self.server
        return in_netns(host.ns, lambda: HallClient(1883, identity, self.passwords[identity],
                                                    host=self.broker_address, **kw))

    def client_in(self, config: Any, make: Any, where: Host | None = None) -> Any:
        """``make(config)`` (a client with ``start()``, such as the simulator's Watcher), connected
        from ``where``'s network (default: the server's); its credentials from the bundle's master."""
        config.broker.credentials = str(self.workdir / "hall.credentials.toml")

        def build() -> Any:
            client = make(config)
            client.start()
            return client
        return in_netns((where or self.server).ns, build)

    def data(self, device: str) -> Path:
        return self.devices[device].path(f"/var/lib/hallq/{device}")

    def controller_db(self) -> Path:
        return self.data("controller") / "controller.db"

    def ticket_dir(self, kiosk: str) -> Path:
        return self.data(kiosk) / "tickets"

    def press(self, device: str, payload: dict[str, Any]) -> bool:
        """A person at the device: through its local sim socket, which needs no network."""
        host = self.devices[device]
        # by the machine's own root: the path on this side can be longer than a socket's name may be
        path = f"/proc/{host.init_pid}/root/var/lib/hallq/{device}/sim.sock"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(json.dumps(payload).encode(), path)
            return True
        except OSError:
            return False          # the device is restarting: a press nobody took

    def unsynced(self, kiosk: str) -> int:
        """Offline tickets the kiosk has not yet synced, from its journal on its own disk."""
        from hallq.records.day import open_read_only
        path = self.data(kiosk) / "journal.sqlite"
        if not path.exists():
            return 0
        db = open_read_only(path)
        try:
            return db.execute("SELECT count(*) FROM ticket WHERE state IN ('journaled', 'printed')").fetchone()[0]
        finally:
            db.close()

    def mqtt_connections(self) -> dict[str, int]:
        """Established MQTT connections at the broker, by the address they come from (the broker's
        own view: retained messages from before a fault cannot fool it)."""
        out = subprocess.run([*self.server.netns_prefix(), "ss", "-Htn", "state", "established", "( sport = :1883 )"],
                             capture_output=True, text=True, timeout=20).stdout
        counts: dict[str, int] = {}
        for line in out.splitlines():
            peer = line.split()[-1].rsplit(":", 1)[0]
            counts[peer] = counts.get(peer, 0) + 1
        return counts

    def expected_connections(self, watchers: int = 1) -> dict[str, int]:
        """Each machine's connections when all is well: one per device (two for the controller:
        its second, read-only connection), and ``watchers`` test clients on the server."""
        want: dict[str, int] = {}
        for device, host in self.devices.items():
            want[host.address] = want.get(host.address, 0) + (2 if device == "controller" else 1)
        want[self.server.address] = want.get(self.server.address, 0) + watchers
        return want

    def all_connected_and_synced(self, watchers: int = 1) -> bool:
        return (self.mqtt_connections() == self.expected_connections(watchers)
                and all(self.unsynced(k) == 0 for k in self.devices if k.startswith("kiosk.")))

    def supervise(self) -> list[str]:
        """Restart=always on every machine; answers what came back."""
        out = []
        for host in self.hosts.values():
            if host.init_pid and host.services is not None:
                out += [f"{host.name}: {r}" for r in host.services.supervise()]
        return out

    def wait_for_services(self, timeout: float = 60) -> None:
        """Every enabled service of every machine running (and its sim socket there, for stubs)."""
        def up() -> bool:
            for device, host in self.devices.items():
                if device.startswith(("kiosk.", "counter.", "display.")) and not (self.data(device) / "sim.sock").exists():
                    return False
            return True
        wait_until(up, timeout, what="every device's service up")

    def close(self) -> None:
        if self.lan is not None:
            self.lan.close()
            self.lan = None

    def journal(self) -> str:
        """Every service's output on every machine, for a failure's message."""
        parts = []
        for host in self.hosts.values():
            assert host.services is not None
            for log in sorted(host.path("/var/log").glob("journal-*.log")):
                parts.append(f"==== {host.name} {log.name}\n{log.read_text('utf-8', 'replace')[-3000:]}")
            mosquitto = host.path("/var/log/mosquitto/mosquitto.log")
            if mosquitto.exists():
                parts.append(f"==== {host.name} mosquitto.log\n{mosquitto.read_text('utf-8', 'replace')[-2000:]}")
        return "\n".join(parts)


def wait_quietly(seconds: float, hall: DeployedHall, step: float = 0.5) -> None:
    """Time passing in a fault test (a cable out for N seconds), with services restarted as
    systemd would meanwhile: this is the fault's length, not a wait for a condition."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        hall.supervise()
        time.sleep(min(step, max(0.0, end - time.monotonic())))
