"""``hallq bundle``: everything one hall needs, in one folder, to install with no internet.

    hallq bundle --config hall.toml --out hall-bundle [--offline]

The folder holds:

- ``wheels/<arch>/``: hallq and every library it needs as wheels: for this machine's architecture
  repacked from the running installation (works offline), and for the Pis (``aarch64``, Raspberry
  Pi OS Bookworm, Python 3.11, with ``hallq[pi]``: lgpio, pyusb) downloaded once from PyPI unless
  ``--offline``;
- ``devices/<device id>/``: that device's ``hall.toml`` (pointing at ``/etc/hallq/credentials.toml``),
  its ``credentials.toml`` with its own password line only (0600), its systemd unit and, for kiosks
  and counters, udev rules for the printer or the sign's serial adapter;
- ``broker/``: the Mosquitto files (``hallq broker-config``) and every device's password;
- ``install.sh``: ``sudo ./install.sh <device id>`` on each machine: a venv in ``/opt/hallq``
  installed with ``pip install --no-index`` from the wheels, the config in ``/etc/hallq``, the unit
  enabled; on the controller's machine also Mosquitto's files.

A second run keeps the passwords (devices already installed keep working).
"""
from __future__ import annotations

import argparse
import platform
import re
import shutil
import sys
import tomllib
from importlib import resources
from pathlib import Path

from .broker_config import write_broker_config
from .config import Config, load_config
from .errors import ConfigError
from .topics import CONTROLLER_ID, CONTROLLER_LANE_ID
from .wheelhouse import download_for, hallq_wheel, repack_installed, requirement_closure, requirements_of_hallq

REPO = Path(__file__).resolve().parent.parent
CREDENTIALS = "/etc/hallq/credentials.toml"
UNITS = {"controller": "hallq-controller.service", "kiosk": "hallq-kiosk@.service",
         "counter": "hallq-counter@.service", "display": "hallq-display@.service"}
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


def write_devices(config: Config, out: Path, passwords: dict[str, str]) -> list[str]:
    text = Path(config.path).read_text("utf-8") if config.path else ""
    devices = [CONTROLLER_ID, *(d for d in config.device_ids() if d.split(".")[0] in UNITS)]
    units = resources.files("hardware").joinpath("systemd")
    for device in devices:
        folder = out / "devices" / device
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "hall.toml").write_text(device_toml(text), "utf-8")
        cred = folder / "credentials.toml"
        own = [device, CONTROLLER_LANE_ID] if device == CONTROLLER_ID and CONTROLLER_LANE_ID in passwords else [device]
        cred.write_text(f"# {device}'s own password only\n" + "".join(f'"{d}" = "{passwords[d]}"\n' for d in own), "utf-8")
        cred.chmod(0o600)
        kind = device.split(".")[0]
        unit = UNITS[kind]
        (folder / unit).write_text(units.joinpath(unit).read_text("utf-8"), "utf-8")
        rules = udev_rules(config, device)
        if rules:
            (folder / "60-hallq.rules").write_text(rules, "utf-8")
    return devices


def write_wheels(out: Path, offline: bool) -> list[str]:
    """Wheels for this machine (repacked) and, unless offline, for the Pis; notes on what is missing."""
    notes = []
    here = out / "wheels" / platform.machine()
    here.mkdir(parents=True, exist_ok=True)
    hallq_wheel(REPO, here)
    for dist in requirement_closure("hallq"):
        repack_installed(dist, here)
    if platform.machine() != "aarch64":
        pi = out / "wheels" / "aarch64"
        if offline:
            notes.append("aarch64 (the Pis): not downloaded (--offline); bundle again where PyPI is reachable")
        else:
            pi.mkdir(parents=True, exist_ok=True)
            result = download_for(requirements_of_hallq(["pi"]), pi)
            if result.returncode != 0:
                notes.append(f"aarch64 (the Pis): pip download failed: {(result.stderr or result.stdout)[-400:]}")
            else:
                shutil.copy(next(here.glob("hallq-*.whl")), pi)
    return notes


def prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(str(out), "--out", "an empty folder or an earlier bundle (it is not one: nothing written)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("a hallq bundle\n", "utf-8")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = Path(args.out).resolve()
    prepare(out)
    files = write_broker_config(config, out / "broker", persistence_dir=str(out / "broker" / "data"))
    passwords = tomllib.loads(files.credentials.read_text("utf-8"))
    devices = write_devices(config, out, passwords)
    script = resources.files("hardware").joinpath("install.sh").read_text("utf-8")
    (out / "install.sh").write_text(script, "utf-8")
    (out / "install.sh").chmod(0o755)
    notes = write_wheels(out, args.offline)
    wheels = sum(1 for _ in (out / "wheels").rglob("*.whl"))
    print(f"hallq bundle: {out}\n  devices: {', '.join(devices)}\n  wheels: {wheels} "
          f"({', '.join(sorted(p.name for p in (out / 'wheels').iterdir()))})\n"
          f"  on each machine: sudo ./install.sh <device id>")
    for note in notes:
        print(f"  missing: {note}", file=sys.stderr)
    return 1 if notes and not args.offline else 0

