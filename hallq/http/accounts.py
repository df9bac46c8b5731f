"""Console users, sessions and login throttling, in the web service's own SQLite file.

Passwords are hashed with scrypt (hashlib; n=2^14, r=8, p=1, a random 16-byte salt each) and
compared in constant time. A session is a random 256-bit id in an HttpOnly, SameSite=Strict cookie,
kept here with its expiry and its CSRF token (every POST must carry it in ``X-CSRF-Token`` or a
``csrf`` form field).

Wrong passwords slow down whoever sends them, not the user they name: after ``FREE_FAILURES``
failures for one user name from one address, that address waits before trying that name again,
twice as long after each further failure (``BACKOFF_S`` up to ``MAX_BACKOFF_S``); after
``ADDRESS_FREE_FAILURES`` failures from one address for any names, the same for the address as a
whole, except for addresses of the hall's own network (``[web] hall_networks``), from which a
supervisor can always log in. Someone guessing from elsewhere therefore never locks the real user
out, and guesses from one machine become too slow to matter.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from hallq.runtime.sqlite import private_database

ROLES = ("supervisor", "manager")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8
FREE_FAILURES = 5                # one user name from one address, before any wait
ADDRESS_FREE_FAILURES = 30       # any names from one address (not the hall's network), before any wait
BACKOFF_S = 30.0                 # the first wait; doubled at each further failure
MAX_BACKOFF_S = 900.0
FAILURE_WINDOW_S = 3600.0        # failures older than this are forgotten
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}

SCHEMA = """
CREATE TABLE IF NOT EXISTS user (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session (id TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS failure (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failure_key ON failure(key, at);
"""


class AccountError(ValueError):
    """A user that cannot be added as asked; the text says why."""


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    role: str
    csrf: str


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(**SCRYPT, salt=base64.b64encode(salt).decode(),
                                                      digest=base64.b64encode(digest).decode())


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        again = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), dklen=32,
                               n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(again, base64.b64decode(digest))


class Accounts:
    def __init__(self, path: str, session_s: float = 12 * 3600, clock=time.time) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        private_database(path)            # password hashes, session ids and CSRF tokens (also in the WAL)
        self.session_s = session_s
        self.clock = clock
        # a fixed hash to compare against when the user does not exist (same time either way)
        self._dummy = hash_password(secrets.token_hex(8))

    def close(self) -> None:
        self.db.close()

    # --- users -------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> None:
        if not NAME_PATTERN.match(name):
            raise AccountError(f"user name {name!r}: 1 to 64 of A-Z a-z 0-9 _ . @ -")
        if role not in ROLES:
            raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
        self.db.execute("INSERT INTO user VALUES (?,?,?,?) ON CONFLICT(name) DO UPDATE SET role=excluded.role, "
                        "hash=excluded.hash", (name, role, hash_password(password), self.clock()))
        self.db.execute("DELETE FROM session WHERE name=?", (name,))   # a new password ends old sessions

    def users(self) -> list[tuple[str, str]]:
        return list(self.db.execute("SELECT name, role FROM user ORDER BY name"))

    # --- logging in ------------------------------------------------------------------------------
    @staticmethod
    def _keys(name: str, client: str, hall_network: bool) -> list[tuple[str, int]]:
        keys = [(f"pair:{name[:64]}|{client}", FREE_FAILURES)]
        if not hall_network:
            keys.append((f"addr:{client}", ADDRESS_FREE_FAILURES))
        return keys

    def wait_s(self, name: str, client: str, hall_network: bool = False) -> float:
        """Seconds before ``client`` may try ``name`` again (0: now)."""
        now = self.clock()
        wait = 0.0
        for key, free in self._keys(name, client, hall_network):
            count, last = self.db.execute("SELECT COUNT(*), MAX(at) FROM failure WHERE key=? AND at>?",
                                          (key, now - FAILURE_WINDOW_S)).fetchone()
            if count >= free:
                until = last + min(BACKOFF_S * 2 ** (count - free), MAX_BACKOFF_S)
                wait = max(wait, until - now)
        return wait

    def stored(self, name: str) -> tuple[str | None, str]:
        """(role or None, the hash to check against): a user that does not exist gets a fixed hash,
        so that checking takes the same time either way."""
        row = self.db.execute("SELECT role, hash FROM user WHERE name=?", (name,)).fetchone()
        return (row[0], row[1]) if row else (None, self._dummy)

    def failed(self, name: str, client: str, hall_network: bool = False) -> None:
        now = self.clock()
        self.db.executemany("INSERT INTO failure VALUES (?,?)",
                            [(k, now) for k, _ in self._keys(name, client, hall_network)])
        self.db.execute("DELETE FROM failure WHERE at < ?", (now - FAILURE_WINDOW_S,))

    def login(self, name: str, password: str, client: str, hall_network: bool = False) -> Session | None:
        """A new session, or None (wrong name or password, or waiting: the caller asks
        :meth:`wait_s` first to say which). The web service runs the same steps with the hash on a
        worker thread (web/server.py, ``login``)."""
        if self.wait_s(name, client, hall_network) > 0:
            return None
        role, stored = self.stored(name)
        if not (check_password(password, stored) and role is not None):
            self.failed(name, client, hall_network)
            return None
        return self.open_session(name, role)

    def open_session(self, name: str, role: str) -> Session:
        session = Session(secrets.token_urlsafe(32), name, role, secrets.token_urlsafe(24))
        self.db.execute("INSERT INTO session VALUES (?,?,?,?)",
                        (session.id, name, session.csrf, self.clock() + self.session_s))
        return session

    def session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        row = self.db.execute("SELECT s.name, u.role, s.csrf, s.expires FROM session s JOIN user u ON u.name = s.name "
                              "WHERE s.id=?", (session_id,)).fetchone()
        if row is None:
            return None
        if row[3] < self.clock():
            self.db.execute("DELETE FROM session WHERE id=?", (session_id,))
            return None
        return Session(session_id, row[0], row[1], row[2])

    def logout(self, session_id: str) -> None:
        self.db.execute("DELETE FROM session WHERE id=?", (session_id,))
