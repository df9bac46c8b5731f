"""`hallq web` under attack, as a real process behind real sockets: streams, logins, proxies,
request sizes, files on disk. Each test is one finding of the attack on the new surfaces."""
from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat
from pathlib import Path

import httpx
import pytest

from hallq.testing import Process, free_port, wait_until
from webkit import PASSWORD, add_user, start_web_hall, stop_web_hall

pytestmark = pytest.mark.processes


@pytest.fixture
def hall(tmp_path):
    h = start_web_hall(tmp_path)
    yield h
    stop_web_hall(h)


def from_address(base: str, address: str) -> httpx.Client:
    """An HTTP client whose connections come from ``address`` (any of 127.0.0.0/8 on loopback)."""
    return httpx.Client(base_url=base, timeout=10, transport=httpx.HTTPTransport(local_address=address))


def open_stream(port: int, path: str, source: str = "127.0.0.1") -> tuple[socket.socket, int]:
    """A raw connection asking for an event stream: (the socket, the status code)."""
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: hall\r\n\r\n".encode())
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(200)
        if not chunk:
            break
        head += chunk
    match = re.match(rb"HTTP/1\.1 (\d+)", head)
    return sock, int(match.group(1)) if match else 0


def web_process(hall, tmp_path: Path, extra_toml: str, nofile: int | None = None) -> tuple[Process, str]:
    """A second `hallq web` on the same hall with more settings (and a descriptor limit)."""
    port = free_port()
    config = tmp_path / "web2.toml"
    text = hall.hall.read_text("utf-8")
    text = re.sub(r'listen = "127\.0\.0\.1:\d+"', f'listen = "127.0.0.1:{port}"', text)
    config.write_text(text.replace("[web]\n", "[web]\n" + extra_toml, 1), "utf-8")
    assert add_user(config, tmp_path / "web2", "alice", "supervisor", PASSWORD).returncode == 0
    # a descriptor limit as systemd's LimitNOFILE sets it
    workdir = tmp_path / "second"           # not tmp_path: its web/ folder is the first one's data
    workdir.mkdir(exist_ok=True)
    web = Process(["web", "--config", str(config), "--data", str(tmp_path / "web2")], workdir, "web2",
                  wrap=["prlimit", f"--nofile={nofile}:{nofile}"] if nofile else None).start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(base), timeout=30, what="the second web service")
    return web, base


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_open_streams_are_bounded_per_address_and_in_all_and_pages_keep_answering(hall, tmp_path):
    web, base = web_process(hall, tmp_path, "streams_per_client = 20\nmax_streams = 60\n")
    port = int(base.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    try:
        codes = []
        for _ in range(25):                                 # one address: 20 streams, then 429
            sock, code = open_stream(port, "/screen/d1/stream", "127.0.0.2")
            codes.append(code)
            (held.append(sock) if code == 200 else sock.close())
        assert codes.count(200) == 20 and codes[20:] == [429] * 5, codes
        for i in range(60):                                 # many addresses: 60 in all, then 503
            sock, code = open_stream(port, "/screen/d1/stream", f"127.0.1.{i + 1}")
            codes.append(code)
            (held.append(sock) if code == 200 else sock.close())
        assert len(held) == 60 and codes.count(503) == 20, codes
        assert _healthy(base) and httpx.get(base + "/screen/d1", timeout=5).status_code == 200
        for sock in held[:10]:                               # streams that end give their place back
            sock.close()
        held = held[10:]
        wait_until(lambda: open_stream(port, "/screen/d1/stream", "127.0.2.1")[1] == 200, timeout=10,
                   what="a place again")
    finally:
        for sock in held:
            sock.close()
        web.stop()
    log = web.output()
    assert "Traceback" not in log and "overload: refused" in log
    assert log.count("overload: refused") <= 3            # one line every ten seconds, not one per connection


def test_a_thousand_streams_under_the_usual_1024_descriptors_leave_the_pages_answering(hall, tmp_path):
    web, base = web_process(hall, tmp_path, "", nofile=1024)
    port = int(base.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    refused = 0
    try:
        for i in range(1100):
            try:
                sock, code = open_stream(port, "/screen/d1/stream", f"127.0.{3 + i // 200}.{1 + i % 200}")
            except OSError:
                refused += 1
                continue
            if code == 200:
                held.append(sock)
            else:
                refused += 1
                sock.close()
        assert refused > 0 and len(held) < 1024
        assert _healthy(base)
        assert httpx.get(base + "/login", timeout=5).status_code == 200
    finally:
        for sock in held:
            sock.close()
        web.stop()
    log = web.output()
    assert "Too many open files" not in log and "Traceback" not in log
    assert len(log.splitlines()) < 40


def test_wrong_passwords_slow_the_guesser_not_the_supervisor(hall, tmp_path):
    guesser, supervisor = from_address(hall.base, "127.0.0.2"), from_address(hall.base, "127.0.0.3")
    for i in range(12):
        r = guesser.post("/login", data={"name": "alice", "password": f"guess {i}"},
                         headers={"X-Forwarded-For": f"203.0.113.{i}"})   # a claimed address counts for nothing
        assert r.status_code in (401, 429)
    slowed = guesser.post("/login", data={"name": "alice", "password": PASSWORD})
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) > 0      # the guesser waits
    assert supervisor.post("/login", data={"name": "alice", "password": PASSWORD}).status_code == 303


def test_many_names_from_one_address_outside_the_hall_wait_as_a_whole(hall, tmp_path):
    web, base = web_process(hall, tmp_path, 'hall_networks = ["192.0.2.0/24"]\n')
    try:
        outsider, supervisor = from_address(base, "127.0.0.4"), from_address(base, "127.0.0.5")
        for i in range(30):
            outsider.post("/login", data={"name": f"user{i}", "password": "x" * 10})
        assert outsider.post("/login", data={"name": "alice", "password": PASSWORD}).status_code == 429
        assert supervisor.post("/login", data={"name": "alice", "password": PASSWORD}).status_code == 303
    finally:
        web.stop()


def test_password_hashing_never_stalls_the_pages(hall):
    """300 logins at once: a few are checked on worker threads, the rest told "busy" at once; the
    moment the line is full, a page asked on another connection is answered while the hashes run."""
    port = int(hall.base.rsplit(":", 1)[1])

    async def burst() -> tuple[list[int], int, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)     # a page's own connection
        async with httpx.AsyncClient(base_url=hall.base, timeout=60,
                                     limits=httpx.Limits(max_connections=400)) as client:
            checked = 0
            busy = asyncio.Event()

            async def one(i: int) -> int:
                nonlocal checked
                r = await client.post("/login", data={"name": f"nobody{i}", "password": "not the password"})
                checked += r.status_code == 401          # a password checked (on a worker thread)
                if r.status_code == 429:
                    busy.set()
                return r.status_code
            logins = [asyncio.create_task(one(i)) for i in range(300)]
            await asyncio.wait_for(busy.wait(), 60)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: hall\r\n\r\n")
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            checked_by_then = checked
            writer.close()
            return list(await asyncio.gather(*logins)), status, checked_by_then
    codes, health, _checked = asyncio.run(burst())
    assert health == 200
    # two hashes at a time and sixteen in line: the other logins are told "busy" at once, so the
    # work the burst can put on the hall's web is bounded (it was 300 hashes on the event loop: 12 s)
    assert set(codes) <= {401, 429} and codes.count(401) <= 18 and codes.count(429) >= 282, codes


def test_the_hashing_gate_runs_hashes_off_the_event_loop():
    import threading

    from hallq.http.limits import HashingGate

    async def run() -> tuple[int, int, list[tuple[bool, object]]]:
        gate = HashingGate(workers=2, waiting=3)
        results = await asyncio.gather(*(gate.run(threading.get_ident) for _ in range(6)))
        return threading.get_ident(), gate.queued, list(results)
    loop_thread, queued, results = asyncio.run(run())
    answered = [r for ok, r in results if ok]
    assert len(answered) == 3 and results.count((False, None)) == 3 and queued == 0
    assert loop_thread not in answered


def test_console_actions_are_checked_before_they_reach_the_broker(hall):
    client, csrf = hall.login()
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    big = client.post("/api/action", headers=headers,
                      content=json.dumps({"op": "announce", "args": {"text": "通" * 700_000}}).encode())
    assert big.status_code == 413
    long = client.post("/api/action", headers=headers, json={"op": "announce", "args": {"text": "通" * 600}})
    assert long.status_code == 400 and "text" in long.json()["message"]
    for bad in ({"op": "announce", "args": {"text": "x", "op": "close"}},
                {"op": "announce", "args": {"text": "x", "request_id": "r1"}}):
        refused = client.post("/api/action", headers=headers, json=bad)
        assert refused.status_code == 400 and "takes text" in refused.json()["message"], refused.text
    deep = client.post("/api/action", headers=headers, content=b'{"op":"announce","args":' + b"[" * 100_000)
    assert deep.status_code in (400, 413)
    nested = client.post("/api/action", headers=headers, content=b"[" * 20_000 + b"]" * 20_000)
    assert nested.status_code == 400
    # the web's link to the broker never dropped: the controller is there, an action works
    board = client.get("/api/board").json()
    assert board["controller"] is True
    ok = client.post("/api/action", headers=headers, json={"op": "announce", "args": {"text": "今日正常营业"}})
    assert ok.status_code == 200 and ok.json()["ok"], ok.text
    assert "reconnect" not in hall.web.output().lower() and "Traceback" not in hall.web.output()


def test_https_halls_get_hsts():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from hallq.http.login import SecurityHeaders
    app = Starlette(routes=[Route("/", lambda r: PlainTextResponse("ok"))])
    for https, expected in ((True, "max-age=31536000"), (False, None)):
        transport = httpx.ASGITransport(app=SecurityHeaders(app, https=https))

        async def get(transport=transport) -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://hall") as client:
                return await client.get("/")
        assert asyncio.run(get()).headers.get("strict-transport-security") == expected


def test_every_database_its_wal_and_the_kiosks_journal_are_their_owners_alone(hall, tmp_path):
    kiosk = Process(["kiosk", "--config", str(hall.hall), "--id", "k1", "--stub", "--printer-out",
                     str(tmp_path / "printed"), "--data", str(tmp_path / "k1")], tmp_path, "kiosk").start()
    try:
        hall.admin.wait_for(lambda t, d: t == "hallq/v1/h1/presence/kiosk.k1" and isinstance(d, dict) and d.get("online"),
                            timeout=20)
        hall.admin.publish("hallq/v1/h1/sim/kiosk.k1", {"press": "pay"})
        wait_until(lambda: list((tmp_path / "printed").glob("A*.bin")), timeout=20, what="a ticket")
        hall.login()                                            # a session in web.db's WAL
        files = [tmp_path / "k1" / "journal.sqlite", tmp_path / "web" / "web.db", tmp_path / "web" / "records.db",
                 tmp_path / "controller-data" / "controller.db"]
        found = []
        for base in files:
            for suffix in ("", "-wal", "-shm"):
                path = Path(f"{base}{suffix}")
                if path.exists():
                    found.append(path)
                    assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path}: {oct(path.stat().st_mode)}"
        assert len(found) >= 9, found
    finally:
        kiosk.stop()


def test_appointment_codes_are_keyed_and_long(hall):
    from hallq.runtime.config import load_config
    from hallq.contract.tokens import code_hash, fallback_key
    import hashlib
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    slot = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=1)).replace(second=0, microsecond=0)
    made = hall.admin.request("book", service="biz", slot=slot.isoformat())
    code = made["appointment"]["code"]
    assert made["ok"] and len(code) == 10 and code.isdigit()
    kiosk = hall.client("kiosk.k1")
    try:
        listed = kiosk.request("appointments")["appointments"]
    finally:
        kiosk.close()
    hashes = {a["code_hash"] for a in listed}
    # the list cannot be searched without the hall's key: neither the old salted SHA-256 nor a key
    # anyone can derive finds the code; the key in the credentials file does
    assert hashlib.sha256(f"h1:{code}".encode()).hexdigest()[:32] not in hashes
    assert code_hash(fallback_key("h1"), code) not in hashes
    key = load_config(hall.hall)
    from hallq.runtime.config import appointment_key
    assert code_hash(appointment_key(key), code) in hashes
