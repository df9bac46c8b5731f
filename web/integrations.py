"""Other systems that follow the hall: one integration per system, made by ``hallq web token add NAME
[--webhook URL] [--events ticket_called,...]``. Each has an API token (sent as ``Authorization:
Bearer``; only its hash is kept) and, with a webhook, a signing secret (kept to sign, mode 0600 file)
and a cursor: the seq of the last event the receiver acknowledged (docs/web.md "For other systems").
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
URL = re.compile(r"^https?://[^\s/?#]+(/[^\s#]*)?$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS integrations (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, secret TEXT NOT NULL,
    webhook TEXT, events TEXT NOT NULL DEFAULT '', cursor INTEGER NOT NULL DEFAULT 0,
    failing_since TEXT, disabled_at TEXT, last_error TEXT, created TEXT NOT NULL)
"""


class IntegrationError(ValueError):
    """A name, address or event list that is not acceptable; the text says which and why."""


@dataclass(frozen=True)
class Integration:
    name: str
    secret: str
    webhook: str | None
    events: frozenset[str]          # empty: every event
    cursor: int                     # the last seq the receiver acknowledged
    failing_since: str | None
    disabled_at: str | None
    last_error: str | None

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class Integrations:
    """The web's integrations (``integrations.db`` in its data folder, mode 0600: it holds the secrets)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, name: str, webhook: str | None, events: list[str], known_events: set[str],
            after_seq: int = 0) -> tuple[str, str]:
        """A new integration: (its API token, its signing secret), shown once. ``after_seq``: the
        webhook starts after this event (the hall's history before it is not sent)."""
        if not NAME.match(name):
            raise IntegrationError(f"NAME: 1 to 32 characters from a-z 0-9 _ -, not {name!r}")
        if webhook is not None and not URL.match(webhook):
            raise IntegrationError(f"--webhook: an http:// or https:// address, not {webhook!r}")
        unknown = sorted(set(events) - known_events)
        if unknown:
            raise IntegrationError(f"--events: no event type {', '.join(unknown)} (one of {', '.join(sorted(known_events))})")
        token, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        try:
            self.db.execute("INSERT INTO integrations (name, token_hash, secret, webhook, events, cursor, created) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", (name, _hash(token), secret, webhook, ",".join(sorted(events)),
                                                             after_seq, datetime.now().astimezone().isoformat()))
        except sqlite3.IntegrityError:
            raise IntegrationError(f"NAME: an integration {name!r} exists already (remove it first)") from None
        return token, secret

    def remove(self, name: str) -> bool:
        return self.db.execute("DELETE FROM integrations WHERE name = ?", (name,)).rowcount > 0

    def enable(self, name: str) -> bool:
        """A webhook disabled after a day of failures, tried again (from where it stopped)."""
        return self.db.execute("UPDATE integrations SET disabled_at = NULL, failing_since = NULL WHERE name = ?",
                               (name,)).rowcount > 0

    def by_token(self, token: str) -> str | None:
        """The integration's name for an API token, or None (compared by hash, in constant time per row)."""
        wanted = _hash(token)
        for name, stored in self.db.execute("SELECT name, token_hash FROM integrations"):
            if hmac.compare_digest(stored, wanted):
                return name
        return None

    def all(self) -> list[Integration]:
        rows = self.db.execute("SELECT name, secret, webhook, events, cursor, failing_since, disabled_at, last_error "
                               "FROM integrations ORDER BY name").fetchall()
        return [Integration(n, s, w, frozenset(e for e in ev.split(",") if e), c, f, d, le)
                for n, s, w, ev, c, f, d, le in rows]

    def delivered(self, name: str, seq: int) -> None:
        self.db.execute("UPDATE integrations SET cursor = MAX(cursor, ?), failing_since = NULL, last_error = NULL "
                        "WHERE name = ?", (seq, name))

    def failed(self, name: str, error: str, now: datetime, disable_after_s: float) -> bool:
        """A delivery failed: noted; True when it has failed for ``disable_after_s`` and is now disabled."""
        row = self.db.execute("SELECT failing_since FROM integrations WHERE name = ?", (name,)).fetchone()
        since = row[0] if row and row[0] else now.isoformat()
        disabled = (now - datetime.fromisoformat(since)).total_seconds() >= disable_after_s
        self.db.execute("UPDATE integrations SET failing_since = ?, last_error = ?, disabled_at = ? WHERE name = ?",
                        (since, error[:300], now.isoformat() if disabled else None, name))
        return disabled


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What ``X-Hallq-Signature`` carries: ``sha256=`` and the HMAC-SHA256 of ``<timestamp>.<body>``
    with the integration's secret (the timestamp inside, so a captured request cannot be replayed later)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
