"""Simulated machines on one LAN, for testing a hall as it is deployed (root only).

Each :class:`Host` is a Linux network namespace with its own address on a private test subnet,
plugged into a switch (a bridge in a namespace of its own), and its own mount, PID and UTS
namespaces: its own ``/etc`` (a copy of this machine's), ``/opt``, ``/var/lib``, ``/var/log``,
``/run``, ``/tmp`` and ``/usr/local/sbin``, so install.sh, ``useradd`` and Debian's Mosquitto act on
it as on a fresh Pi while the programs (``/usr``) are this machine's. Its disk (etc, opt, var) is
a folder here that survives a reboot; ``/run`` and ``/tmp`` do not.

systemd is not PID 1 on these machines: a host's ``systemctl`` is a recorder, and
:class:`Services` starts what was asked for from the unit files themselves (``ExecStartPre``,
``ExecStart``, ``User``, ``WorkingDirectory``, ``Environment``/``EnvironmentFile``,
``StateDirectory``, ``UMask``, ``LimitNOFILE``, ``Restart``), with ``ProtectSystem=strict``,
``ProtectHome`` and ``PrivateTmp`` reproduced by remounting the service's own view read-only, so
a service that writes where its unit does not allow fails here as it would on a Pi.

Faults between hosts: a cable pulled (the switch port down), a host cut off, a flapping link,
traffic dropped in one direction only (nftables in the host: half-open TCP), a power cut (every
process of the host killed at once, then booted from its enabled units). Nothing is sent outside
the namespaces made here.
"""
from __future__ import annotations

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUBNET = "10.77.0"                 # a default; any subnet exists only inside the namespaces made here
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLONE_NEWNET = 0x40000000
FAKE_SYSTEMCTL = """#!/bin/sh
# this simulated host has no systemd: the test's service manager reads what was asked
echo "$*" >> /var/log/systemctl.requests
case "$1" in is-active|is-enabled) exit 3;; esac
exit 0
"""
FAKE_UDEVADM = """#!/bin/sh
echo "$*" >> /var/log/udevadm.requests
exit 0
"""


def netns_available() -> str:
    """'' when this machine can make simulated hosts, else why not."""
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "nsenter", "unshare", "setpriv", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-deps)"
    probe = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "true"], capture_output=True,
                           text=True, timeout=20)
    return "" if probe.returncode == 0 else f"namespaces refused: {probe.stderr.strip()}"


def sh(*args: str, check: bool = True, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input)
    if check and result.returncode != 0:
        raise RuntimeError(f"{shlex.join(args)} -> {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


@contextmanager
def entered_netns(name: str) -> Iterator[None]:
    """This thread inside network namespace ``name`` (sockets made meanwhile stay in it; threads
    started meanwhile, such as paho's loop, start in it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    here = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
        yield
    finally:
        libc.setns(here, CLONE_NEWNET)
        os.close(here)
        os.close(there)


def in_netns(name: str, make: Callable[[], Any]) -> Any:
    """``make()`` run on a thread of its own inside ``name``: a client made there, with its
    network thread, lives on the simulated LAN while the test talks to it from here."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            with entered_netns(name):
                box["value"] = make()
        except BaseException as err:  # handed to the caller
            box["error"] = err
    thread = threading.Thread(target=run, name=f"netns-{name}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Lan:
    """A switch (a bridge in its own namespace) and the hosts plugged into it."""

    def __init__(self, workdir: Path, tag: str | None = None, subnet: str = SUBNET) -> None:
        self.workdir = workdir
        self.subnet = subnet
        self.tag = tag or f"hq{os.getpid() % 100000}"
        self.switch = f"{self.tag}-lan"
        self.hosts: dict[str, Host] = {}
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "set", "lo", "up")
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, name: str, address: str) -> Host:
        """``address``: the host's address on the LAN, or its last number."""
        host = Host(self, name, address if "." in address else f"{self.subnet}.{address}", ns=f"{self.tag}h{len(self.hosts)}")
        self.hosts[name] = host
        return host

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
        sh("ip", "netns", "del", self.switch, check=False)


@dataclass
class Host:
    """One simulated machine; :meth:`boot` starts it, :meth:`run` runs a command on it as root."""
    lan: Lan
    name: str
    address: str
    ns: str = ""
    root: Path = field(default_factory=Path)
    anchor: subprocess.Popen[bytes] | None = None
    init_pid: int = 0                     # the host's PID 1, as this machine sees it
    services: Services | None = None
    boots: int = 0

    def __post_init__(self) -> None:
        self.port = f"p-{self.name}"[:15]     # its cable's end in the switch
        self.root = self.lan.workdir / "hosts" / self.name
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        for sub in ("opt", "var/lib", "var/log", "local-sbin", "media", "root"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "root").chmod(0o700)
        # the folders this machine's packages made in /var/lib and /var/log (Mosquitto's among
        # them), empty, with their owners: a fresh machine with the same packages
        for var in ("var/lib", "var/log"):
            for entry in os.scandir(f"/{var}"):
                if entry.is_dir(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    mine = self.root / var / entry.name
                    mine.mkdir(exist_ok=True)
                    os.chown(mine, info.st_uid, info.st_gid)
                    mine.chmod(info.st_mode & 0o7777)
        subprocess.run(["cp", "-a", "/etc", str(self.root / "etc")], check=True, timeout=120)
        # a fresh machine: this one's pip settings (its package mirrors) are not the Pi's
        for ours in ("pip.conf", "xdg/pip"):
            shutil.rmtree(self.root / "etc" / ours, ignore_errors=True) if (self.root / "etc" / ours).is_dir() \
                else (self.root / "etc" / ours).unlink(missing_ok=True)
        (self.root / "etc" / "machine-id").write_text(os.urandom(16).hex() + "\n")
        (self.root / "etc" / "hostname").write_text(self.name + "\n")
        for tool, text in (("systemctl", FAKE_SYSTEMCTL), ("udevadm", FAKE_UDEVADM)):
            (self.root / "local-sbin" / tool).write_text(text)
            (self.root / "local-sbin" / tool).chmod(0o755)
        sh("ip", "netns", "add", self.ns)
        sh("ip", "-n", self.lan.switch, "link", "add", self.port, "type", "veth", "peer", "name", "eth0",
           "netns", self.ns)
        sh("ip", "-n", self.lan.switch, "link", "set", self.port, "master", "br0", "up")
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns, "addr", "add", f"{self.address}/24", "dev", "eth0")
        sh("ip", "-n", self.ns, "link", "set", "eth0", "up")
        self.services = Services(self)

    # --- life ---------------------------------------------------------------------------------
    def boot(self) -> None:
        """Power on: fresh /run and /tmp, the disk as it was; then the enabled units start."""
        mounts = [f"mount --bind {self.root / 'etc'} /etc", f"mount --bind {self.root / 'opt'} /opt",
                  f"mount --bind {self.root / 'var/lib'} /var/lib", f"mount --bind {self.root / 'var/log'} /var/log",
                  f"mount --bind {self.root / 'local-sbin'} /usr/local/sbin",
                  f"mount --bind {self.root / 'media'} /media", f"mount --bind {self.root / 'root'} /root",
                  "mount -t tmpfs -o mode=0755 tmpfs /run", "mount -t tmpfs -o mode=1777 tmpfs /tmp",
                  f"hostname {self.name}"]
        script = "set -e\nmount --make-rprivate /\n" + "\n".join(mounts) + "\nexec sleep infinity\n"
        self.anchor = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount", "--uts", "--pid", "--fork",
             "--mount-proc", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            kids = _children(self.anchor.pid)
            if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "sleep":
                self.init_pid = kids[0]
                break
            if self.anchor.poll() is not None:
                raise RuntimeError(f"{self.name} did not boot: {self.anchor.stderr.read().decode() if self.anchor.stderr else ''}")
            time.sleep(0.02)
        else:
            raise RuntimeError(f"{self.name} did not boot in 20 s")
        self.boots += 1
        assert self.services is not None
        self.services.start_enabled()

    def power_cut(self) -> None:
        """Every process of the host gone at once (its PID 1 killed: the kernel takes the rest)."""
        assert self.services is not None
        self.services.forget_all()
        if self.init_pid:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.anchor is not None:
            self.anchor.wait(timeout=20)
        self.init_pid = 0

    def close(self) -> None:
        if self.services is not None:
            self.services.stop_all()
        self.power_cut()
        sh("ip", "netns", "del", self.ns, check=False)

    # --- commands -----------------------------------------------------------------------------
    def enter(self) -> list[str]:
        """The prefix that runs a command on this host, as root."""
        assert self.init_pid, f"{self.name} is not booted"
        return ["nsenter", f"--target={self.init_pid}", "--mount", "--uts", "--net", "--pid", "--"]

    def run(self, command: str, cwd: str = "/", env: dict[str, str] | None = None, timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """A shell command line on this host as root (as an installer types it), PATH as on Debian."""
        environment = {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        args = [*self.enter(), "env", "-i", *(f"{k}={v}" for k, v in environment.items()), "sh", "-c",
                f"cd {shlex.quote(cwd)} && {command}"]
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{self.name}$ {command} -> {result.returncode}\n{result.stdout[-3000:]}\n"
                               f"{result.stderr[-3000:]}")
        return result

    def path(self, inside: str) -> Path:
        """Where a file of this host's disk is, seen from here (etc, opt, var/lib, var/log, media)."""
        for prefix, sub in (("/etc", "etc"), ("/opt", "opt"), ("/var/lib", "var/lib"), ("/var/log", "var/log"),
                            ("/media", "media"), ("/root", "root")):
            if inside == prefix or inside.startswith(prefix + "/"):
                return self.root / sub / inside[len(prefix):].lstrip("/")
        raise ValueError(f"{inside} is not on {self.name}'s own disk")

    # --- the network --------------------------------------------------------------------------
    def cable(self, plugged: bool) -> None:
        """The host's cable in or out (its port on the switch up or down)."""
        sh("ip", "-n", self.lan.switch, "link", "set", self.port, "up" if plugged else "down")

    def drop_outgoing(self, to: str | None, dropping: bool) -> None:
        """Drop (or stop dropping) what this host sends (to one address): the peer's TCP half-open."""
        if dropping:
            match = f"ip daddr {to} " if to else ""
            sh(*self.netns_prefix(), "nft", "-f", "-",
               input=f"table inet hallqfault {{\n chain out {{\n  type filter hook output priority 0; policy accept;\n"
                     f"  oifname \"eth0\" {match}drop\n }}\n}}\n")
        else:
            sh(*self.netns_prefix(), "nft", "delete", "table", "inet", "hallqfault", check=False)

    def netns_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns]


@dataclass
class Unit:
    """What the service manager needs of a unit file (and its drop-ins)."""
    name: str
    service: dict[str, list[str]]

    def get(self, key: str, default: str = "") -> str:
        values = self.service.get(key)
        return values[-1] if values else default

    def all(self, key: str) -> list[str]:
        out: list[str] = []
        for value in self.service.get(key, []):
            if value == "":
                out = []            # an empty assignment resets the list, as in systemd
            else:
                out.append(value)
        return out


def parse_unit(texts: list[str], name: str) -> Unit:
    section = ""
    service: dict[str, list[str]] = {}
    for text in texts:
        joined = re.sub(r"\\\n", " ", text)
        for raw in joined.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if section == "Service" and "=" in line:
                key, _, value = line.partition("=")
                service.setdefault(key.strip(), []).append(value.strip())
    return Unit(name, service)


def expand_specifiers(value: str, instance: str) -> str:
    table = {"i": instance, "I": instance, "S": "/var/lib", "t": "/run", "L": "/var/log", "%": "%"}
    return re.sub(r"%(.)", lambda m: table.get(m.group(1), m.group(0)), value)


def expand_command(value: str, env: dict[str, str]) -> list[str]:
    """systemd's rules: ``$NAME`` as a word splits into words, ``${NAME}`` is put in as it is."""
    words: list[str] = []
    for word in shlex.split(value):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            words += env.get(whole.group(1), "").split()
            continue
        words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return words


def read_environment_file(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


@dataclass
class Running:
    unit: Unit
    instance: str
    proc: subprocess.Popen[bytes]
    started: float
    log: Path


class Services:
    """The test's stand-in for systemd on one host: starts units from their files when install.sh
    (through the host's recording ``systemctl``) or a boot asks, and restarts them as ``Restart=``
    says. Each service's output goes to ``<host>/var/log/journal-<name>.log``."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.running: dict[str, Running] = {}
        self.enabled: list[str] = []
        self.requests_seen = 0
        self.failed: list[str] = []

    # --- what systemctl was asked ------------------------------------------------------------
    def take_requests(self) -> list[str]:
        path = self.host.root / "var/log/systemctl.requests"
        lines = path.read_text().splitlines() if path.exists() else []
        new, self.requests_seen = lines[self.requests_seen:], len(lines)
        return new

    def apply_requests(self) -> list[str]:
        """Act on what systemctl was asked since last time: enable, start, restart, stop."""
        done = []
        for line in self.take_requests():
            words = line.split()
            if not words:
                continue
            verb, rest = words[0], [w for w in words[1:] if not w.startswith("-")]
            now = "--now" in words
            for name in rest:
                name = name if "." in name.split("@")[-1] else name + ".service"
                if verb == "enable":
                    if name not in self.enabled:
                        self.enabled.append(name)
                    if now:
                        self.start(name)
                elif verb == "start":
                    self.start(name)
                elif verb in ("restart", "reload-or-restart", "try-restart"):
                    self.stop(name)
                    self.start(name)
                elif verb == "stop":
                    self.stop(name)
                elif verb == "disable":
                    self.enabled = [n for n in self.enabled if n != name]
                done.append(f"{verb} {name}")
        return done

    # --- units ------------------------------------------------------------------------------
    def unit(self, name: str) -> tuple[Unit, str]:
        """``name`` (``hallq-kiosk@k1.service``) read from the host's /etc/systemd/system or /lib."""
        base, instance = name, ""
        match = re.fullmatch(r"(.+)@(.*)\.(service|timer)", name)
        if match:
            base, instance = f"{match.group(1)}@.{match.group(3)}", match.group(2)
        texts = []
        for where in (self.host.path("/etc/systemd/system") / base, Path("/lib/systemd/system") / base):
            if where.exists():
                texts.append(where.read_text())
                break
        if not texts:
            raise FileNotFoundError(f"{self.host.name}: no unit {base}")
        for folder in (Path("/lib/systemd/system") / f"{base}.d", self.host.path("/etc/systemd/system") / f"{base}.d"):
            if folder.is_dir():
                texts += [p.read_text() for p in sorted(folder.glob("*.conf"))]
        return parse_unit(texts, name), instance

    def environment(self, unit: Unit, instance: str) -> dict[str, str]:
        env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "INVOCATION_ID": os.urandom(16).hex()}
        user = unit.get("User")
        if user:
            line = self.host.path("/etc/passwd").read_text().splitlines()
            entry = next((x.split(":") for x in line if x.startswith(user + ":")), None)
            if entry is None:
                raise RuntimeError(f"{self.host.name}: {unit.name}: User={user} does not exist")
            env.update(HOME=entry[5], USER=user, LOGNAME=user, SHELL=entry[6])
        for value in unit.all("EnvironmentFile"):
            optional = value.startswith("-")
            path = expand_specifiers(value.lstrip("-"), instance)
            try:
                env.update(read_environment_file(self.host.path(path).read_text()))
            except (OSError, ValueError):
                if not optional:
                    raise
        for value in unit.all("Environment"):
            for word in shlex.split(expand_specifiers(value, instance)):
                key, _, val = word.partition("=")
                env[key] = val
        return env

    def start(self, name: str) -> None:
        if name in self.running and self.running[name].proc.poll() is None:
            return
        if name.endswith(".timer"):
            return                  # timers are run by the test when it wants their service
        unit, instance = self.unit(name)
        env = self.environment(unit, instance)
        for pre in unit.all("ExecStartPre"):
            ignore = pre.startswith("-")
            args = expand_command(expand_specifiers(pre.lstrip("-@+!"), instance), env)
            result = subprocess.run([*self.host.enter(), *args], capture_output=True, text=True, timeout=60)
            if result.returncode != 0 and not ignore:
                raise RuntimeError(f"{self.host.name}: {name}: ExecStartPre {args} failed: {result.stderr}")
        user, group = unit.get("User"), unit.get("Group") or unit.get("User")
        writable = []
        mode = unit.get("StateDirectoryMode", "0755")
        for value in unit.all("StateDirectory"):
            for rel in expand_specifiers(value, instance).split():
                path = f"/var/lib/{rel}"
                owner = ["-o", user, "-g", group] if user else []
                self.host.run(f"install -d -m {mode} {' '.join(owner)} {shlex.quote(path)}")
                writable.append(path)
        for value in unit.all("ReadWritePaths"):
            writable += [p.lstrip("-") for p in expand_specifiers(value, instance).split()]
        workdir = expand_specifiers(unit.get("WorkingDirectory", "/"), instance).lstrip("-")
        command = expand_command(expand_specifiers(unit.get("ExecStart").lstrip("-@+!"), instance), env)
        inner = ["env", "-i", "-C", workdir, *(f"{k}={v}" for k, v in env.items()), *command]
        if user:
            no_new = ["--no-new-privs"] if unit.get("NoNewPrivileges") == "true" else []
            inner = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", *no_new, *inner]
        umask = unit.get("UMask", "0022")
        limit = unit.get("LimitNOFILE")
        prefix = [f"--nofile={limit}:{limit}"] if limit else []
        sandbox = self._sandbox_script(unit, writable)
        script = f"{sandbox}umask {umask}\nexec {'prlimit ' + ' '.join(prefix) + ' ' if prefix else ''}\"$@\"\n"
        log = self.host.path("/var/log") / f"journal-{name}.log"
        with open(log, "ab") as out:
            out.write(f"--- start {name}: {shlex.join(command)}\n".encode())
            out.flush()
            proc = subprocess.Popen([*self.host.enter(), "unshare", "--mount", "--propagation", "private",
                                     "sh", "-c", script, "unit", *inner],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.running[name] = Running(unit, instance, proc, time.monotonic(), log)

    @staticmethod
    def _sandbox_script(unit: Unit, writable: list[str]) -> str:
        """ProtectSystem=strict, ProtectHome and PrivateTmp in the service's own mount namespace."""
        lines = []
        if unit.get("PrivateTmp") == "true":
            lines += ["mount -t tmpfs -o mode=1777 tmpfs /tmp", "mount -t tmpfs -o mode=1777 tmpfs /var/tmp"]
        if unit.get("ProtectSystem") == "strict":
            keep = " ".join(shlex.quote(p) for p in writable)
            lines += [f"for p in {keep}; do mount --bind \"$p\" \"$p\"; done" if writable else ":",
                      "awk '{print $2}' /proc/self/mounts | sort -u | while read -r m; do",
                      "  case \"$m\" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp|/var/tmp) continue;; esac",
                      f"  for p in {keep or '/nonexistent'}; do [ \"$m\" = \"$p\" ] && continue 2; done",
                      "  mount -o remount,bind,ro \"$m\" 2>/dev/null || true",
                      "done"]
        if unit.get("ProtectHome") == "true":
            lines += ["for h in /home /root; do mount -t tmpfs -o mode=000,ro tmpfs \"$h\"; done"]
        return "".join(line + "\n" for line in lines)

    def pid(self, name: str) -> int | None:
        """The service's own process (inside nsenter, unshare and sh, as this machine sees it)."""
        running = self.running.get(name)
        if running is None or running.proc.poll() is not None:
            return None
        pids = _children(running.proc.pid)
        return pids[0] if pids else None

    def stop(self, name: str, timeout: float = 20) -> int | None:
        running = self.running.pop(name, None)
        if running is None or running.proc.poll() is not None:
            return running.proc.returncode if running else None
        inner = _children(running.proc.pid)
        for pid in inner:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            return running.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in inner:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return running.proc.wait(timeout=10)

    def kill(self, name: str) -> None:
        pid = self.pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        running = self.running.get(name)
        if running is not None:
            running.proc.wait(timeout=20)

    # services a package enabled when it was installed (Debian starts Mosquitto at boot) that a
    # hall relies on; the machine's other enabled services (a database, say) are not the hall's
    PACKAGED = ("mosquitto.service",)

    def start_enabled(self) -> None:
        """At boot: Mosquitto first (the controller wants it), then the rest in the order enabled."""
        self.running.clear()
        wants = self.host.path("/etc/systemd/system/multi-user.target.wants")
        packaged = [n for n in self.PACKAGED if (wants / n).exists() and n not in self.enabled]
        for name in sorted(packaged + self.enabled, key=lambda n: not n.startswith("mosquitto")):
            self.start(name)

    def supervise(self) -> list[str]:
        """``Restart=``: a service that ended by itself is started again (not when its exit status
        is in ``RestartPreventExitStatus``). Answers what was restarted, with the status."""
        restarted = []
        for name, running in list(self.running.items()):
            code = running.proc.poll()
            if code is None:
                continue
            policy = running.unit.get("Restart", "no")
            prevent = running.unit.get("RestartPreventExitStatus").split()
            if policy == "always" or (policy == "on-failure" and code != 0):
                if str(code) in prevent:
                    self.failed.append(f"{name} exited {code}")
                    continue
                del self.running[name]
                self.start(name)
                restarted.append(f"{name} ({code})")
        return restarted

    def forget_all(self) -> None:
        """A power cut: the processes go with the host; nothing is restarted until it boots."""
        self.running.clear()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name, timeout=10)

    def journal(self, name: str) -> str:
        path = self.host.path("/var/log") / f"journal-{name}.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def oneshot(self, name: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a Type=oneshot service (the report) to its end; its output kept."""
        self.start(name)
        running = self.running.pop(name)
        code = running.proc.wait(timeout=timeout)
        return subprocess.CompletedProcess(running.proc.args, code, self.journal(name), "")
