"""For other systems: the hall's read-only API (answers equal to the state the controller publishes,
a token per integration, OpenAPI) and signed webhooks to a local receiver across its outage (every
event once, in seq order, signatures valid), one receiver that never answers disabled after the set
time; against a running hall (Mosquitto, controller, `hallq web`)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from hallq.testing import free_port, wait_until
from webkit import start_web_hall, stop_web_hall

pytestmark = pytest.mark.processes
R = "hallq/v1/h1"


class Receiver:
    """A webhook receiver on 127.0.0.1: records what it is sent; ``down`` answers 503 (and counts)."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.refused = 0
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down:
                    receiver.refused += 1
                    self.send_response(503)
                else:
                    receiver.got.append({"seq": int(self.headers["X-Hallq-Seq"]), "type": self.headers["X-Hallq-Event"],
                                         "stamp": self.headers["X-Hallq-Timestamp"],
                                         "signature": self.headers["X-Hallq-Signature"], "body": body})
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hall(tmp_path):
    h = start_web_hall(tmp_path, web_extra="webhook_retry_max_s = 1.0\nwebhook_give_up_s = 6.0\n")
    yield h
    stop_web_hall(h)


def token(hall, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "web", "token", *words, "--config", str(hall.hall),
                           "--data", str(hall.tmp / "web")], capture_output=True, text=True, timeout=60)


def test_the_api_answers_as_the_state_and_webhooks_deliver_every_event_once_in_order(hall):
    receiver = Receiver()
    try:
        made = token(hall, "add", "erp", "--webhook", receiver.url)
        assert made.returncode == 0, made.stderr
        api_token = re.search(r"api token: (\S+)", made.stdout).group(1)
        secret = re.search(r"webhook signing secret: (\S+)", made.stdout).group(1)
        dead = token(hall, "add", "gone", "--webhook", f"http://127.0.0.1:{free_port()}/nobody", "--events", "ticket_called")
        assert dead.returncode == 0, dead.stderr
        assert token(hall, "add", "x", "--events", "ticket_flew").returncode == 2        # said what is wrong
        kiosk, desk = hall.client("kiosk.k1"), hall.client("counter.c2")
        try:
            mark = hall.admin.mark()
            for _ in range(3):
                assert kiosk.request("issue", service="pay")["ok"]
            wait_until(lambda: len(receiver.got) >= 3, what="the first events at the receiver")
            receiver.down = True                                   # the receiver's outage
            assert desk.request("call_next")["ok"] and desk.request("call_next")["ok"]
            wait_until(lambda: receiver.refused >= 2, what="deliveries tried during the outage")
            receiver.down = False
            assert desk.request("finish", rating=1)["ok"]
            final = hall.admin.state_after("ticket_rated", start=mark)
            assert final["counters"][1]["ticket"] is None
            wait_until(lambda: receiver.got and receiver.got[-1]["seq"] >= final["seq"], what="every event delivered")
        finally:
            kiosk.close(), desk.close()
        seqs = [g["seq"] for g in receiver.got]
        # every event once, in seq order, from the first the hall recorded to the last
        assert seqs == sorted(set(seqs)) and seqs == list(range(seqs[0], seqs[-1] + 1)) and seqs[-1] >= final["seq"]
        for g in receiver.got:
            mac = hmac.new(secret.encode(), g["stamp"].encode() + b"." + g["body"], hashlib.sha256).hexdigest()
            assert g["signature"] == "sha256=" + mac
            assert json.loads(g["body"])["seq"] == g["seq"] and json.loads(g["body"])["type"] == g["type"]
        # the API, with the integration's token, answers what the state says
        with httpx.Client(base_url=hall.base, headers={"Authorization": f"Bearer {api_token}"}) as client:
            services = {s["id"]: s for s in client.get("/api/v1/services").json()}
            for s in final["services"]:
                assert (services[s["id"]]["waiting"], services[s["id"]]["est_wait_s"]) == (s["waiting"], s["est_wait_s"])
            counters = {k["id"]: k for k in client.get("/api/v1/counters").json()}
            assert counters["c2"]["status"] == "idle" and counters["c2"]["ticket"] is None
            assert client.get("/api/v1/waiting").json() == {"pay": ["A003"]}
            assert client.get("/api/v1/hall").json()["seq"] >= final["seq"]
            assert client.get("/api/v1/tickets/nosuchtoken123456").status_code == 404
        assert httpx.get(hall.base + "/api/v1/services").status_code == 401
        assert httpx.get(hall.base + "/api/v1/services", headers={"Authorization": "Bearer wrong"}).status_code == 401
        spec = httpx.get(hall.base + "/api/v1/openapi.json").json()
        assert spec["openapi"].startswith("3.1") and "/api/v1/tickets/{token}" in spec["paths"]
        assert "ApiService" in spec["components"]["schemas"]
        # the receiver that never answers: disabled once it failed for webhook_give_up_s, and says so
        wait_until(lambda: "disabled" in token(hall, "list").stdout.split("gone", 1)[1].splitlines()[0],
                   what="the dead webhook disabled", timeout=30)
        assert "\tok" in token(hall, "list").stdout.split("erp", 1)[1].splitlines()[0]
    finally:
        receiver.close()
