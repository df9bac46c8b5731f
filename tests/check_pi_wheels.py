"""Does every library hallq needs on a Raspberry Pi exist as an aarch64 wheel? (needs PyPI)

Asks pip for binary wheels only, for Raspberry Pi OS Bookworm (aarch64, glibc 2.36, CPython 3.11),
of hallq's requirements with the ``pi`` extra: the same download ``hallq bundle`` makes. A library
without such a wheel would have to be compiled on each Pi (or fail there): pip says which.

    .venv/bin/python tests/check_pi_wheels.py        (make pi-wheels)
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hall.wheelhouse import PI_PYTHON, download_for, requirements_of_hallq  # noqa: E402


def main() -> int:
    wanted = requirements_of_hallq(["pi"])
    with tempfile.TemporaryDirectory() as folder:
        result = download_for(wanted, Path(folder))
        wheels = sorted(p.name for p in Path(folder).glob("*.whl"))
    if result.returncode != 0:
        print(f"NOT every requirement has an aarch64 wheel for CPython {PI_PYTHON}:\n{result.stderr[-3000:]}")
        return 1
    print(f"aarch64 / CPython {PI_PYTHON} (Raspberry Pi OS Bookworm): {len(wheels)} wheels for {len(wanted)} "
          f"requirements and what they need, none to compile:")
    for name in wheels:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
