"""Logging in, for the hall's console and head office's dashboard alike: the form read, each
try slowed down per user and address, the password checked off the event loop, a session cookie;
and the headers every answer carries."""
from __future__ import annotations

import getpass
import ipaddress
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .accounts import Accounts, check_password
from .limits import HashingGate

COOKIE = "hallq_session"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """Every answer: CSP, no sniffing, no framing, no referrer; HSTS when served over https."""

    def __init__(self, app: Any, https: bool = False) -> None:
        self.app = app
        self.headers = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                        (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
        if https:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += self.headers
            await send(message)
        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


MAX_FORM = 8192


async def form_fields(request: Request) -> dict[str, str]:
    """A small urlencoded form (the login and logout forms); {} if it is anything else or too big."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v for k, v in pairs}


TOO_MANY = "尝试过多，请{minutes}分钟后再试 Too many attempts: try again in {minutes} min"
BUSY = "登录的人太多，请稍后再试 Too many logins at once: try again in a moment"
WRONG = "用户名或密码错误 Wrong user name or password"


@dataclass
class LoginGuard:
    """What a login form needs besides the accounts: the hashing gate and the hall's own network."""
    gate: HashingGate
    hall_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]

    def in_hall(self, client: str) -> bool:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in net for net in self.hall_networks if net.version == address.version)

    @classmethod
    def of(cls, networks: list[str]) -> LoginGuard:
        return cls(HashingGate(), [ipaddress.ip_network(n, strict=False) for n in networks])


async def login(request: Request, accounts: Accounts, guard: LoginGuard, form_page: Callable[[str, str], str],
                home: str, secure: bool) -> Response:
    """POST /login for the console and head office's dashboard alike: slowed down per user and
    address (hallq/http/accounts.py), the password checked on a worker thread (hallq/http/limits.py), and on
    success a session cookie (HttpOnly, SameSite=Strict, Secure with https) and a redirect home.
    ``form_page(message, name)`` draws the form again with why it failed."""
    form = await form_fields(request)
    name, password = form.get("name", "")[:64], form.get("password", "")[:256]
    client = request.client.host if request.client else "?"
    in_hall = guard.in_hall(client)
    wait = accounts.wait_s(name, client, in_hall)
    if wait > 0:
        return HTMLResponse(form_page(TOO_MANY.format(minutes=max(1, round(wait / 60))), name), status_code=429,
                            headers={"Retry-After": str(int(wait) + 1)})
    role, stored = accounts.stored(name)
    answered, ok = await guard.gate.run(lambda: check_password(password, stored))
    if not answered:
        return HTMLResponse(form_page(BUSY, name), status_code=429, headers={"Retry-After": "2"})
    if not ok or role is None:
        accounts.failed(name, client, in_hall)
        return HTMLResponse(form_page(WRONG, name), status_code=401)
    session = accounts.open_session(name, role)
    response = RedirectResponse(home, 303)
    response.set_cookie(COOKIE, session.id, max_age=int(accounts.session_s), httponly=True, samesite="strict",
                        secure=secure, path="/")
    return response


def read_password() -> str:
    """From standard input (scripts: ``echo secret | hallq web user add …``), or asked twice on a terminal."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")
