"""hallq installs as one import namespace: the wheel, and the wheel a bundle carries to the Pis,
hold ``hallq`` and nothing else at the top of site-packages (no ``web``, ``printer`` or
``hardware`` to collide with another package), with the roles, their data files and the
catalogs inside it."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hallq.testing import REPO
from hallq.tools.wheelhouse import hallq_wheel

pytestmark = pytest.mark.processes

INSIDE = ["hallq/kiosk/app.py", "hallq/counter/main.py", "hallq/display/layout.py", "hallq/printer/layout.py",
          "hallq/hardware/install.sh", "hallq/hardware/systemd/hallq-controller.service",
          "hallq/broker_config/__init__.py", "hallq/web/static/console.js", "hallq/central/dashboard.py",
          "hallq/locale/zh_CN/LC_MESSAGES/hallq.po", "hallq/controller/service.py", "hallq/core/rules.py"]


def top_level(names: list[str]) -> set[str]:
    return {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(REPO)], check=True, capture_output=True, text=True)
    (found,) = out.glob("hallq-*.whl")
    return found


def test_the_wheel_holds_only_hallq(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert top_level(names) == {"hallq"}
    assert [n for n in INSIDE if n not in names] == []


def test_pip_install_puts_only_hallq_into_site_packages(wheel, tmp_path):
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, text=True)
    installed = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert installed - {"bin"} == {"hallq"}        # bin: the console script
    assert (target / "bin" / "hallq").is_file()
    # the roles came in as hallq's subpackages: found there, not at the top
    probe = ("import importlib.util, sys; sys.path.insert(0, sys.argv[1]);"
             "print(importlib.util.find_spec('hallq.kiosk').origin, importlib.util.find_spec('kiosk'))")
    out = subprocess.run([sys.executable, "-I", "-c", probe, str(target)], check=True, capture_output=True,
                         text=True, cwd=tmp_path).stdout.split()
    assert out[0].startswith(str(target / "hallq" / "kiosk")) and out[1] == "None"


def test_the_bundles_own_wheel_holds_only_hallq(tmp_path):
    wheel = zipfile.ZipFile(hallq_wheel(REPO, tmp_path))
    names = wheel.namelist()
    assert top_level(names) == {"hallq"}
    assert [n for n in INSIDE if n not in names] == []
    (listed,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    assert wheel.read(listed) == b"hallq\n"
