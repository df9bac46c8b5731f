"""Wheels for installing hallq where there is no internet.

Two sources, so a bundle can be made on a machine that is itself offline:

- :func:`repack_installed`: the distributions hallq needs, taken from the environment that runs
  this (the installed files of each, its metadata and its original wheel tags, zipped back into a
  wheel). For this machine's architecture and Python only.
- :func:`download_for`: ``pip download --only-binary`` for another platform (the Pis' aarch64),
  which needs PyPI once, on the machine that makes the bundle.

hallq's own wheel is built from its installed metadata and package files (:func:`hallq_wheel`),
with no build tool and no network.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DATA = re.compile(r".*\.(py|toml|conf|template|md|wav|js|css|service|timer|sh|po|pot)$")
# Raspberry Pi OS Bookworm (glibc 2.36, Python 3.11) and Trixie (glibc 2.41, Python 3.13): wheels
# for 2.36 run on both
PI_PLATFORMS = ["manylinux2014_aarch64", *(f"manylinux_2_{v}_aarch64" for v in range(17, 37)), "linux_aarch64"]
PI_PYTHONS = ("3.11", "3.13")
SKIP_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def requirement_closure(root: str = "hallq", extras: Iterable[str] = ()) -> list[md.Distribution]:
    """The installed distributions ``root[extras]`` needs, recursively (markers evaluated here)."""
    env = default_environment()
    seen: dict[str, md.Distribution] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        dist = md.distribution(name)
        seen[key] = dist
        for req in _wanted(dist, wanted, env):
            todo.append((req.name, frozenset(req.extras)))
    return [d for k, d in sorted(seen.items()) if k != canonicalize_name(root)]


def _wanted(dist: md.Distribution, extras: frozenset[str], env: dict[str, str]) -> list[Requirement]:
    """The requirements of ``dist`` that apply here with ``extras`` (markers evaluated)."""
    wanted = []
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
            wanted.append(req)
    return wanted


def _record_line(arcname: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [arcname, f"sha256={digest}", str(len(data))]


def _write_wheel(path: Path, files: list[tuple[str, bytes]], dist_info: str) -> Path:
    rows = [_record_line(name, data) for name, data in files]
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    writer.writerows(rows + [[f"{dist_info}/RECORD", "", ""]])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files:
            wheel.writestr(name, data)
        wheel.writestr(f"{dist_info}/RECORD", record.getvalue())
    return path


def _tag(wheel_text: str) -> str:
    tags = [line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")]
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts) if tags else "py3-none-any"


def repack_installed(dist: md.Distribution, out: Path) -> Path:
    """One installed distribution zipped back into the wheel it came from."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    version = dist.version
    dist_info = f"{name}-{version}.dist-info"
    base = Path(str(dist.locate_file("")))
    files: list[tuple[str, bytes]] = []
    wheel_text = (dist.read_text("WHEEL") or "").strip()
    for item in dist.files or []:
        rel = str(item)
        if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
            continue                                     # scripts (re-made by pip), compiled caches
        parts = Path(rel).parts
        if parts[0].endswith(".dist-info") and parts[-1] in SKIP_DIST_INFO:
            continue
        source = base / rel
        if not source.is_file():
            continue
        arcname = rel if not parts[0].endswith(".dist-info") else "/".join((dist_info, *parts[1:]))
        files.append((arcname, source.read_bytes()))
    return _write_wheel(out / f"{name}-{version}-{_tag(wheel_text)}.whl", files, dist_info)


def hallq_wheel(repo: Path, out: Path) -> Path:
    """hallq itself as a wheel, from its installed metadata and its package folders."""
    dist = md.distribution("hallq")
    version = dist.version
    dist_info = f"hallq-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    # hallq/ links to the roles' own folders (kiosk/, display/, ...): followed, stored under hallq/
    for folder, dirs, names in os.walk(repo / "hallq", followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if DATA.match(name):
                path = Path(folder) / name
                files.append((path.relative_to(repo).as_posix(), path.read_bytes()))
    files.append((f"{dist_info}/METADATA", (dist.read_text("METADATA") or "").encode()))
    files.append((f"{dist_info}/entry_points.txt", (dist.read_text("entry_points.txt") or "").encode()))
    files.append((f"{dist_info}/top_level.txt", b"hallq\n"))
    files.append((f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: hallq bundle\nRoot-Is-Purelib: true\n"
                                        b"Tag: py3-none-any\n"))
    return _write_wheel(out / f"hallq-{version}-py3-none-any.whl", files, dist_info)


def requirements_of_hallq(extras: Iterable[str] = ()) -> list[str]:
    """hallq's own requirement lines (with ``extras``), as pip download wants them."""
    return [str(req).split(";")[0].strip()
            for req in _wanted(md.distribution("hallq"), frozenset(extras), default_environment())]


def python_tag(version: str | None = None) -> str:
    """``cp311`` for "3.11" (default: the running Python): the name of a wheel folder in a bundle."""
    major, minor = (version.split(".")[:2] if version else (str(sys.version_info[0]), str(sys.version_info[1])))
    return f"cp{major}{minor}"


def download_for(requirements: list[str], out: Path, platforms: list[str] = PI_PLATFORMS,
                 python: str = PI_PYTHONS[0]) -> subprocess.CompletedProcess[str]:
    """``pip download`` binary wheels of ``requirements`` (and what they need) for another platform."""
    args = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", python,
            "--implementation", "cp", "-d", str(out), "--quiet"]
    for platform in platforms:
        args += ["--platform", platform]
    return subprocess.run(args + requirements, capture_output=True, text=True, timeout=1800, check=False)
