"""Head office rigs for tests and the bench: a PostgreSQL on a free port (Debian's package, run as
an unprivileged user, as it refuses root), a central Mosquitto over TLS, and halls (Mosquitto with
hallq's generated config plus the shipped bridge section, and their controllers)."""
from __future__ import annotations

import glob
import json
import os
import tomllib
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest

from hallq.testing import (EXAMPLE_HALL, Broker, HallClient, Process, free_port, mosquitto_folder, port_open,
                           start_controller, wait_port, write_hall_config)
from test_tls import make_ca_and_server_cert


# --- PostgreSQL -------------------------------------------------------------------------------
def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class Postgres:
    """``initdb`` + ``postgres`` on 127.0.0.1:<free port>, trust auth, in a scratch folder."""

    def __init__(self) -> None:
        initdb, server = pg_bin("initdb"), pg_bin("postgres")
        if not initdb or not server:
            pytest.skip("PostgreSQL is not installed (make system-deps installs Debian's postgresql)")
        self.folder = Path(tempfile.mkdtemp(prefix="hallq-pg-"))
        self.folder.chmod(0o755)
        self.data, self.sockets = self.folder / "data", self.folder / "run"
        self.sockets.mkdir()
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:               # it refuses to run as root: the package's own user
            shutil.chown(self.folder, user="postgres")
            shutil.chown(self.sockets, user="postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self.as_user, initdb, "-D", str(self.data), "--auth=trust", "-U", "postgres",
                        "--no-locale", "--encoding=UTF8"], check=True, capture_output=True, timeout=120)
        self.proc = subprocess.Popen([*self.as_user, server, "-D", str(self.data), "-p", str(self.port),
                                      "-k", str(self.sockets), "-c", "listen_addresses=127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not port_open(self.port, 30):
            raise RuntimeError("postgres did not start")
        import psycopg
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
                    c.execute("CREATE DATABASE hallq")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/hallq"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the central broker and bridged halls --------------------------------------------------------
@dataclass
class Estate:
    folder: Path
    port: int
    certs: dict[str, Path]
    halls: list[str]
    proc: subprocess.Popen[bytes] | None = None
    passwords: dict[str, str] = field(default_factory=dict)

    def conf(self) -> Path:
        """The central broker's files as `hallq central broker-config` writes them (one user per
        hall, each writing only its own hall), with the test's CA."""
        from hallq.central.broker import write_central_broker
        from hallq.central.config import load_central_config
        toml = self.folder / "broker-central.toml"
        toml.write_text(f'[broker]\nport = {self.port}\n[broker.tls]\nca = "{self.certs["ca"]}"\n'
                        f'server_cert = "{self.certs["server"]}"\nserver_key = "{self.certs["server_key"]}"\n'
                        f'[central]\nadmin = "hq"\nhalls = {json.dumps(self.halls)}\nviewers = ["hq-operator"]\n', "utf-8")
        conf, acl, passwords, credentials = write_central_broker(load_central_config(toml), self.folder, "127.0.0.1")
        for path in (acl, passwords):
            path.chmod(0o644)
        (self.folder / "data").chmod(0o777)
        self.passwords = tomllib.loads(credentials.read_text("utf-8"))
        return conf

    def start(self) -> None:
        from hallq.testing import require_mosquitto
        self.proc = subprocess.Popen([require_mosquitto(), "-c", str(self.conf())],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def client(self, user: str, subscribe: list[str] | None = None) -> HallClient:
        """A client of the central broker as ``user`` (TLS with the test CA)."""
        import ssl
        client = HallClient(self.port, user, self.passwords[user], subscribe=subscribe or [], connect=False)
        client.c.tls_set(ca_certs=str(self.certs["ca"]), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.connect()
        return client

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def central_toml(self, path: Path, db: str | None) -> Path:
        text = (f'[broker]\nhost = "127.0.0.1"\nport = {self.port}\nusername = "central"\n'
                f'password = "{self.passwords["central"]}"\n[broker.tls]\nca = "{self.certs["ca"]}"\n\n'
                f'[central]\nadmin = "hq"\n')
        if db:
            text += f'db = "{db}"\n'
        path.write_text(text, "utf-8")
        return path


def start_estate(halls: list[str]) -> Estate:
    folder = mosquitto_folder("hallq-central-")
    estate = Estate(folder, free_port(), make_ca_and_server_cert(folder), halls)
    estate.start()
    return estate


@dataclass
class BridgedHall:
    hall_id: str
    broker: Broker
    config: Path
    admin: HallClient
    controller: Process
    workdir: Path
    data: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data = self.workdir / "controller-data"

    def restart_controller(self) -> None:
        self.controller.stop()
        self.controller = start_controller(self.config, self.workdir, self.admin, self.data)

    def client(self, device: str) -> HallClient:
        root = f"hallq/v1/{self.hall_id}"
        return self.broker.client(device, subscribe=[f"{root}/dev/{device}/res"], hall_id=self.hall_id)

    def close(self) -> None:
        self.controller.stop()
        self.admin.close()
        self.broker.cleanup()


def start_bridged_hall(hall_id: str, workdir: Path, estate: Estate) -> BridgedHall:
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Broker(workdir)
    base = workdir / "base.toml"
    base.write_text(EXAMPLE_HALL.read_text("utf-8").replace('id = "h1"', f'id = "{hall_id}"', 1), "utf-8")
    # one test client plays every customer of the kiosk, faster than a kiosk may ask: no rate limit,
    # no share of the day's numbers per kiosk
    config = write_hall_config(workdir / "hall.toml", broker.port, broker.broker_dir / "credentials.toml",
                               extra='[[admin]]\nid = "hq"\n', base=base,
                               hall_overrides={"kiosk_rate_per_s": "0", "kiosk_day_share": "1.0"})
    broker.configure(config)
    template = resources.files("hallq.broker_config").joinpath("bridge.conf.template").read_text("utf-8")
    bridge = template.format(hall_id=hall_id, remote_root=f"hallq/v1/{hall_id}", central_host="127.0.0.1",
                             central_port=estate.port, central_ca=estate.certs["ca"],
                             remote_username=f"hall-{hall_id}", remote_password=estate.passwords[f"hall-{hall_id}"], central_admin="hq",
                             local_password=broker.credentials["admin.hq"])
    assert broker.conf is not None
    broker.conf.write_text(broker.conf.read_text() + "\n" + bridge)
    broker.start()
    admin = broker.client("admin.ctl", hall_id=hall_id)
    controller = start_controller(config, workdir, admin)
    return BridgedHall(hall_id, broker, config, admin, controller, workdir)
