"""``hallq bundle``: everything one hall needs, in one folder, to install on its machines with no internet.

    hallq bundle --config hall.toml --out hall-bundle [--offline] [--one-machine] [--credentials FILE]

The folder (copied to a USB stick and carried to every machine) holds:

- ``wheels/<arch>-cp<python>/``: hallq and every library it needs as wheels: for this machine
  repacked from the running installation (works offline), and for the Pis (``aarch64``, Raspberry
  Pi OS with Python 3.11 or 3.13, with ``hallq[pi]``: lgpio, pyusb) downloaded once from PyPI
  unless ``--offline``;
- ``devices/<device id>/``: that machine's ``hall.toml`` (pointing at
  ``/etc/hallq/credentials.toml``), its ``credentials.toml`` with its own password only (0600), its
  ``environment`` (the hall's time zone), its systemd units and, for kiosks and counters, udev
  rules. The controller's folder is also the broker's: ``mosquitto/`` holds ``hallq.conf`` for
  Debian's ``/etc/mosquitto/conf.d``, the hashed password file, the ACL and the firewall rule;
- ``install.sh``: ``sudo ./install.sh <device id>`` on each machine.

The passwords in clear never go on the stick as one file: they are kept where the bundle is made
(``--credentials``, default the hall's ``[broker] credentials`` or ``<config>.credentials.toml``
beside the hall's file), and a second run keeps them (installed devices keep working).

The hall is checked for separate machines first: a loopback ``[broker] host`` with kiosks,
counters or screens is refused (they would each connect to themselves) unless ``--one-machine``;
a kiosk without a printer or a screen that would not show or sound is refused, one line each.
"""
from __future__ import annotations

import argparse
import ipaddress
import platform
import re
import shutil
import sys
from importlib import resources
from pathlib import Path

from hallq.broker_config import keep_credentials, write_debian_include
from hallq.contract.topics import CONTROLLER_ID, CONTROLLER_LANE_ID
from hallq.runtime.config import APPOINTMENT_KEY, Config, load_config

from .wheelhouse import (
    PI_PYTHONS,
    download_for,
    hallq_wheel,
    python_tag,
    repack_installed,
    requirement_closure,
    requirements_of_hallq,
)

REPO = Path(__file__).resolve().parent.parent.parent
CREDENTIALS = "/etc/hallq/credentials.toml"
# the units each kind of machine gets (the controller's machine also runs Mosquitto and the report)
UNITS = {"controller": ["hallq-controller.service", "hallq-report.service", "hallq-report.timer",
                        "hallq-firewall.service"],
         "kiosk": ["hallq-kiosk@.service"], "counter": ["hallq-counter@.service"],
         "display": ["hallq-display@.service"], "web": ["hallq-web.service"]}
ON_OTHER_MACHINES = ("kiosk", "counter", "display")
MARKER = ".hallq-bundle"


def device_toml(text: str) -> str:
    """The hall's TOML with ``[broker] credentials`` pointing where install.sh puts the device's line."""
    line = f'credentials = "{CREDENTIALS}"'
    lines = text.splitlines()
    header = next((i for i, x in enumerate(lines) if x.strip() == "[broker]"), None)
    if header is None:
        return text.rstrip() + f"\n\n[broker]\n{line}\n"
    end = next((i for i in range(header + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    body = [x for x in lines[header + 1:end] if not re.match(r"\s*credentials\s*=", x)]
    return "\n".join(lines[:header + 1] + [line] + body + lines[end:]) + "\n"


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def machine_problems(config: Config, one_machine: bool) -> list[str]:
    """What would keep the hall's machines from working as bundled, one line each ('' none)."""
    where = config.path or "<config>"
    problems = []
    remote = [d for d in config.device_ids() if d.partition(".")[0] in ON_OTHER_MACHINES]
    if remote and not one_machine and is_loopback(config.broker.host):
        problems.append(f"{where}: [broker] host: the broker's address on the hall's network, not "
                        f"{config.broker.host!r}: {', '.join(remote[:3])}{' …' if len(remote) > 3 else ''} run on "
                        "their own machines and would each connect to themselves (--one-machine if every device "
                        "runs on the broker's machine)")
    for i, kiosk in enumerate(config.kiosk):
        printer, key = kiosk.printer, f"[[kiosk]] {kiosk.id} ([kiosk.printer], kiosk[{i}].printer)"
        needs = {"usb": ("usb_vendor", "usb_product"), "serial": ("device",), "network": ("host",),
                 "file": ("device",)}
        if printer.transport in (None, "dummy"):
            problems.append(f"{where}: {key} transport: the kiosk's printer (usb, serial, network or file), not "
                            f"{printer.transport or 'none'}: a kiosk without one issues tickets nobody receives")
            continue
        missing = [k for k in needs[printer.transport] if getattr(printer, k) in (None, "")]
        if missing:
            problems.append(f"{where}: {key} {', '.join(missing)}: needed for transport = {printer.transport!r}")
    for i, display in enumerate(config.display):
        key = f"[[display]] {display.id} (display[{i}])"
        if not display.fullscreen:
            problems.append(f"{where}: {key} fullscreen: true on a hall screen (a window needs a desktop the "
                            "screen's machine does not run)")
        if display.audio_out:
            problems.append(f"{where}: {key} audio_out: unset on a hall screen (set, every call is written to "
                            f"{display.audio_out} instead of the speaker)")
    return problems


def master_credentials(config: Config, args: argparse.Namespace) -> Path:
    if args.credentials:
        return Path(args.credentials).resolve()
    if config.broker.credentials:
        path = Path(config.broker.credentials)
        return path if path.is_absolute() else (Path(config.path).parent / path).resolve()
    hall_file = Path(config.path).resolve()
    return hall_file.with_name(hall_file.stem + ".credentials.toml")


def machines(config: Config) -> list[tuple[str, str]]:
    """(device id, kind of machine) for every folder of the bundle."""
    out = [(CONTROLLER_ID, "controller")]
    if config.web is not None:
        out.append((f"admin.{config.web.id}", "web"))
    out += [(d, d.partition(".")[0]) for d in config.device_ids() if d.partition(".")[0] in ON_OTHER_MACHINES]
    return out


def own_identities(config: Config, device: str, passwords: dict[str, str]) -> list[str]:
    """The passwords a machine keeps: its own; the controller's also its second connection's and the
    operators' (``hallq ctl`` is run on the controller's machine); the controller and the kiosks
    also the appointment key."""
    if device.startswith("kiosk."):
        return [device, APPOINTMENT_KEY]        # it checks appointment codes in offline
    if device != CONTROLLER_ID:
        return [device]
    web = f"admin.{config.web.id}" if config.web else ""
    admins = [d for d in config.device_ids() if d.startswith("admin.") and d != web]
    return [d for d in (CONTROLLER_ID, CONTROLLER_LANE_ID, *admins, APPOINTMENT_KEY) if d in passwords]


def udev_rules(config: Config, device: str) -> str:
    kind, _, ident = device.partition(".")
    if kind == "kiosk":
        printer = next(k for k in config.kiosk if k.id == ident).printer
        if printer.transport == "usb" and printer.usb_vendor and printer.usb_product:
            return (f'# the kiosk\'s USB printer: readable by hallq (group lp), not claimed by usblp\n'
                    f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{printer.usb_vendor:04x}", '
                    f'ATTRS{{idProduct}}=="{printer.usb_product:04x}", MODE="0660", GROUP="lp"\n')
        return ("# the kiosk's printer: for a USB printer set usb_vendor/usb_product in [kiosk.printer] and\n"
                "# bundle again, or write the rule from `lsusb`:\n"
                '# SUBSYSTEM=="usb", ATTRS{idVendor}=="0483", ATTRS{idProduct}=="5743", MODE="0660", GROUP="lp"\n')
    if kind == "counter":
        port = next(c for c in config.counter if c.id == ident).sign.port
        return ("# the LED sign's serial adapter under a stable name (its serial from `udevadm info /dev/ttyUSB0`):\n"
                f'# SUBSYSTEM=="tty", ATTRS{{serial}}=="<serial>", SYMLINK+="hallq-sign-{ident}", GROUP="dialout"\n'
                f"# then [counter.sign] port = \"/dev/hallq-sign-{ident}\" (now: {port})\n")
    return ""


def printer_check(config: Config, device: str) -> str:
    """What install.sh looks for on a kiosk's machine: ``usb VVVV:PPPP``, ``path /dev/...`` or ''."""
    kind, _, ident = device.partition(".")
    if kind != "kiosk":
        return ""
    printer = next(k for k in config.kiosk if k.id == ident).printer
    if printer.transport == "usb" and printer.usb_vendor is not None and printer.usb_product is not None:
        return f"usb {printer.usb_vendor:04x}:{printer.usb_product:04x}"
    if printer.transport in ("serial", "file") and printer.device:
        return f"path {printer.device}"
    return ""


def write_devices(config: Config, out: Path, passwords: dict[str, str]) -> list[str]:
    text = Path(config.path).read_text("utf-8") if config.path else ""
    units = resources.files("hallq.hardware").joinpath("systemd")
    made = []
    for device, kind in machines(config):
        folder = out / "devices" / device
        if folder.exists():
            shutil.rmtree(folder)              # a device's folder is made anew: nothing stale stays
        folder.mkdir(parents=True)
        (folder / "hall.toml").write_text(device_toml(text), "utf-8")
        cred = folder / "credentials.toml"
        cred.write_text(f"# {device}'s own password only\n" + "".join(
            f'"{d}" = "{passwords[d]}"\n' for d in own_identities(config, device, passwords)), "utf-8")
        cred.chmod(0o600)
        (folder / "environment").write_text(
            "# the environment of every hallq service on this machine (install.sh puts it in /etc/hallq)\n"
            f"TZ={config.hall.timezone}\n", "utf-8")
        (folder / "kind").write_text(kind + "\n", "utf-8")
        check = printer_check(config, device)
        if check:
            (folder / "printer").write_text(check + "\n", "utf-8")
        for unit in UNITS[kind]:
            (folder / unit).write_text(units.joinpath(unit).read_text("utf-8"), "utf-8")
        rules = udev_rules(config, device)
        if rules:
            (folder / "60-hallq.rules").write_text(rules, "utf-8")
        if kind == "controller":
            write_debian_include(config, passwords, folder / "mosquitto")
        made.append(device)
    return made


def write_wheels(out: Path, offline: bool) -> tuple[list[str], list[str]]:
    """Wheels for this machine (repacked) and, unless offline, for the Pis: (what is missing, advice)."""
    notes: list[str] = []
    advice: list[str] = []
    here = out / "wheels" / f"{platform.machine()}-{python_tag()}"
    here.mkdir(parents=True, exist_ok=True)
    hallq_wheel(REPO, here)
    for dist in requirement_closure("hallq"):
        repack_installed(dist, here)
    pis = [p for p in PI_PYTHONS if not (platform.machine() == "aarch64" and python_tag(p) == python_tag())]
    if offline:
        if pis:
            notes.append(f"aarch64 (Raspberry Pi OS, Python {' and '.join(pis)}): not downloaded (--offline); "
                         "bundle again where PyPI is reachable")
        return notes, advice
    for version in pis:
        folder = out / "wheels" / f"aarch64-{python_tag(version)}"
        folder.mkdir(parents=True, exist_ok=True)
        result = download_for(requirements_of_hallq(["pi"]), folder, python=version)
        if result.returncode != 0:
            # lgpio has no wheel for every Python: those Pis take Debian's python3-lgpio (install.sh)
            result = download_for(requirements_of_hallq([]) + ["pyusb>=1.2"], folder, python=version)
            if result.returncode == 0:
                advice.append(f"aarch64 Python {version}: no lgpio wheel on PyPI: on those Pis `sudo apt install "
                             "python3-lgpio` first (install.sh then uses it)")
        if result.returncode != 0:
            notes.append(f"aarch64 Python {version}: pip download failed: {(result.stderr or result.stdout)[-400:]}")
            continue
        shutil.copy(next(here.glob("hallq-*.whl")), folder)
    return notes, advice


def prepare(out: Path) -> None:
    from hallq.errors import ConfigError
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(str(out), "--out", "an empty folder or an earlier bundle (it is not one: nothing written)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("a hallq bundle\n", "utf-8")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    problems = machine_problems(config, args.one_machine)
    if problems:
        for line in problems:       # one line each; nothing is written
            print(f"hallq bundle: {line}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    prepare(out)
    secrets_file = master_credentials(config, args)
    legacy = out / "broker" / "credentials.toml"      # bundles before this one kept them on the stick
    if legacy.exists() and not secrets_file.exists():
        secrets_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(legacy, secrets_file)
    shutil.rmtree(out / "broker", ignore_errors=True)
    passwords = keep_credentials(config, secrets_file)
    devices = write_devices(config, out, passwords)
    script = resources.files("hallq.hardware").joinpath("install.sh").read_text("utf-8")
    (out / "install.sh").write_text(script, "utf-8")
    (out / "install.sh").chmod(0o755)
    notes, advice = write_wheels(out, args.offline)
    wheels = sum(1 for _ in (out / "wheels").rglob("*.whl"))
    print(f"hallq bundle: {out}\n  devices: {', '.join(devices)}\n  wheels: {wheels} "
          f"({', '.join(sorted(p.name for p in (out / 'wheels').iterdir()))})\n"
          f"  passwords (clear text, not in the bundle; keep private): {secrets_file}\n"
          f"  on each machine: sudo ./install.sh <device id>")
    for note in notes:
        print(f"  missing: {note}", file=sys.stderr)
    for line in advice:
        print(f"  note: {line}")
    return 1 if notes and not args.offline else 0
