"""The token on a ticket's QR code, which opens the customer's phone page (``<public_url>/t/<token>``).

The kiosk makes 96 random bits for every ticket it prints and sends only their hash with the
request (``token_hash``); the hash travels with the ticket (events, the controller's records) and
the web service finds the ticket by hashing the token a phone presents. Nobody who reads the hall's
messages can rebuild a URL, tokens cannot be enumerated, and a ticket printed from a lease while
the controller was away carries its own token from the start.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 12                       # 96 bits, 16 URL-safe characters
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the hall stores and sends: the first 128 bits of SHA-256, in hex."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()[:32]


def code_hash(key: bytes, code: str) -> str:
    """How a kiosk keeps the day's appointment codes for checking in offline: an HMAC-SHA256 keyed
    with the hall's appointment key (``appointment_key`` in the credentials file, held only by the
    controller and the kiosks, mode 0600). Without the key a copied list, or a kiosk's journal,
    cannot be searched for the codes: all 10^10 codes would have to be tried against the hall
    itself, whose kiosks answer a few a second."""
    return hmac.new(key, code.strip().encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]


def fallback_key(hall_id: str) -> bytes:
    """The key of a hall whose credentials file has no ``appointment_key`` (an older install, a
    rig without passwords): its id, as before; as safe as the list's disk, no more (a warning says so)."""
    return f"hallq-appointments:{hall_id}".encode()


def ticket_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/t/{token}"
