"""Faults from outside for tests and ``make chaos``: a full disk, a clock that jumps (Debian's
libfaketime). Kept apart from :mod:`hallq.testing` (brokers, processes, clients)."""
from __future__ import annotations

import glob
import subprocess
from datetime import datetime, tzinfo
from pathlib import Path


def mount_tmpfs(folder: Path, size: str) -> str | None:
    """A small filesystem of its own at ``folder`` (needs root and mount); None, or why not."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip() or f"mount exited {done.returncode}"


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill_disk(folder: Path) -> Path:
    """Every free byte of ``folder``'s filesystem taken (as a runaway log would); delete the file
    returned to give the room back."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    # unbuffered: a buffered file would try its last chunk again on close and raise ENOSPC there
    with open(filler, "wb", buffering=0) as out:
        try:
            while out.write(chunk):
                pass
        except OSError:
            pass
    return filler


def faketime_env(clock_file: Path) -> dict[str, str] | None:
    """The environment that puts one process on Debian's libfaketime, its clock offset read from
    ``clock_file`` at every call ("+0", "-3600" ...); None when faketime is not installed.

    libfaketime 0.9.10 breaks Python 3.11's ``time.sleep`` (wolfcw/libfaketime#426: EINVAL from
    ``clock_nanosleep`` with ``TIMER_ABSTIME``); paho sleeps only between reconnects, so a controller
    under it must keep its broker."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        return None
    return {"LD_PRELOAD": found[0], "FAKETIME_TIMESTAMP_FILE": str(clock_file), "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def seconds_back_across_midnight(zone: tzinfo, extra_hours: float) -> int:
    """How far to set a clock back for it to show ``extra_hours`` before today's midnight in ``zone``
    (a Pi without an RTC booting with yesterday's time)."""
    local = datetime.now(zone)
    since_midnight = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    return int(since_midnight + extra_hours * 3600)
