"""Is this database the hall's latest? Checked before the controller takes the hall.

A controller that starts on an empty, truncated or restored database (an empty ``--data`` after a
failed mount, a WAL deleted while running, last week's backup) would begin at number 001 again and
hand out numbers people already hold. The hall remembers more than the database may:

- a **marker** beside the database (``controller.mark``: epoch, seq and day), written after
  commits (at most once a second) and at shutdown;
- the **retained state** on the broker: the last ``R/state`` the controller published.

If either is ahead of the database, the controller refuses to start with one message saying what
it found and what to do: restore the database, or start over on purpose with ``--fresh-start``.
A fresh start continues every service's numbering above the highest number the hall's retained
state shows (called, at a counter, or waiting), so no number is issued twice today. A database
SQLite cannot read is refused the same way (and systemd does not restart on exit status 2).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hallq import contract as wire
from hallq.contract.topics import CONTROLLER_ID, Topics
from hallq.core.model import NUMBER
from hallq.errors import ConfigError
from hallq.runtime.config import Config
from hallq.runtime.mqttlink import Inbound, LinkUp, MqttLink

from .store import Store

log = logging.getLogger(__name__)

MARKER = "controller.mark"


@dataclass(frozen=True)
class Seen:
    seq: int
    epoch: int
    day: str
    where: str                       # what said so (for the message)
    numbers: dict[str, int] | None = None   # prefix -> highest number it shows (retained state only)


def write_marker(folder: Path, epoch: int, seq: int, day: str) -> None:
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"epoch": epoch, "seq": seq, "day": day}), "utf-8")
    os.replace(tmp, folder / MARKER)


def read_marker(folder: Path) -> Seen | None:
    try:
        data = json.loads((folder / MARKER).read_text("utf-8"))
        return Seen(int(data["seq"]), int(data["epoch"]), str(data.get("day", "")), f"the marker {folder / MARKER}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("marker %s unreadable (%s): ignored", folder / MARKER, err)
        return None


def open_store(path: Path) -> Store:
    """The event store, or one clear refusal when SQLite cannot read it."""
    try:
        store = Store(path)
        store.last_seq()
        return store
    except sqlite3.DatabaseError as err:
        raise ConfigError(str(path), "--data", f"a readable controller database; SQLite says: {err}. Restore it "
                                               "from a backup, or move it aside and start with --fresh-start") from None


def retained_state(config: Config, wait_s: float = 3.0) -> Seen | None:
    """The hall's last published state, as the broker keeps it (None: none, or no broker)."""
    topics = Topics(config.hall.id)
    inbox: queue.Queue[Any] = queue.Queue()
    link = MqttLink(config, CONTROLLER_ID, inbox, [topics.state])
    link.start()
    deadline = time.monotonic() + wait_s
    connected_at: float | None = None
    try:
        while time.monotonic() < deadline:
            try:
                item = inbox.get(timeout=0.1)
            except queue.Empty:
                if connected_at is not None and time.monotonic() - connected_at > 0.5:
                    return None              # connected and subscribed: nothing retained
                continue
            if isinstance(item, LinkUp):
                connected_at = time.monotonic()
            elif isinstance(item, Inbound) and item.topic == topics.state:
                doc = wire.read(item.payload, wire.StateDoc)
                return Seen(doc.seq, doc.epoch, doc.day or "", "the hall's retained state on the broker",
                            highest_numbers(doc))
        log.warning("could not read the hall's retained state within %.0f s: checking the database "
                    "against its marker only", wait_s)
        return None
    except wire.BadDocument as err:
        log.warning("the retained state is not a state document (%s): ignored", err)
        return None
    finally:
        link.stop()


def highest_numbers(doc: wire.StateDoc) -> dict[str, int]:
    """The highest number per prefix the state shows, plus its service's waiting count (those were
    issued above the last one called)."""
    prefixes = {s.id: s.prefix for s in doc.services}
    seen: dict[str, int] = {}
    numbers = [c.number for c in doc.recent_calls] + [c.ticket.number for c in doc.counters if c.ticket]
    for number in numbers:
        parts = NUMBER.fullmatch(number)
        if parts is not None:
            seen[parts.group(1)] = max(seen.get(parts.group(1), 0), int(parts.group(2)))
    for service in doc.services:
        prefix = prefixes[service.id]
        seen[prefix] = seen.get(prefix, 0) + service.waiting
    return seen


def check(store: Store, folder: Path, seen: list[Seen | None]) -> None:
    """Refuse (ConfigError, exit 2) when anything the hall remembers is ahead of the database."""
    have = store.last_seq()
    for witness in seen:
        if witness is not None and witness.seq > have:
            raise ConfigError(str(folder / "controller.db"), "--data", (
                f"the hall's latest database: {witness.where} says seq {witness.seq} (epoch {witness.epoch}, "
                f"day {witness.day or '?'}), this database ends at seq {have}. Starting on it would issue again "
                "numbers people hold. Restore the database (docs/deploy.md, backup and restore), or, to start "
                "over on purpose, run `hallq controller --fresh-start` once (numbering continues above the "
                "highest number the hall's state shows)"))


def lock_data_dir(folder: Path) -> Any:
    """An exclusive lock on ``folder``: two controllers on one database would each believe they
    own the queue. ConfigError (exit 2) naming the folder and the holder otherwise."""
    import fcntl  # noqa: PLC0415 - POSIX only, as hallq is
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / "controller.lock", "a+", encoding="ascii")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise ConfigError(str(folder), "--data", f"a folder no other controller uses; controller pid {holder} "
                                                 "holds it (stop it first, or give another --data)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
