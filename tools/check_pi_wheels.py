"""Does every library hallq needs on a Raspberry Pi exist as an aarch64 wheel? (needs PyPI)

Asks pip for binary wheels only, for Raspberry Pi OS (aarch64; Bookworm's CPython 3.11 and Trixie's
3.13), of hallq's requirements with the ``pi`` extra: the same download ``hallq bundle`` makes. A
library without such a wheel would have to be compiled on each Pi (or fail there): pip says which.

    .venv/bin/python tests/check_pi_wheels.py        (make pi-wheels)
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hallq.tools.wheelhouse import PI_PYTHONS, download_for, requirements_of_hallq  # noqa: E402


def main() -> int:
    wanted = requirements_of_hallq(["pi"])
    failed = 0
    for python in PI_PYTHONS:
        with tempfile.TemporaryDirectory() as folder:
            result = download_for(wanted, Path(folder), python=python)
            wheels = sorted(p.name for p in Path(folder).glob("*.whl"))
        if result.returncode != 0:
            print(f"NOT every requirement has an aarch64 wheel for CPython {python}:\n{result.stderr[-1500:]}")
            failed += 1
            continue
        print(f"aarch64 / CPython {python}: {len(wheels)} wheels for {len(wanted)} requirements and what they "
              f"need, none to compile:")
        for name in wheels:
            print(f"  {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
