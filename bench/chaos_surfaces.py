"""Chaos on the surfaces beyond the hall: head office fed poisoned events, the web flooded with streams.

Two halls (Mosquitto with hallq's config, a bridge over TLS, a controller each) into a central
broker (its ACL from `hallq central broker-config`) and `hallq central`; hall h1 also runs
`hallq web` under the usual 1,024 descriptors. Customers and clerks keep both halls busy while,
in turns: hall h2's broken controller publishes poisoned events on its own topics (a seq no
database holds, a type nobody knows, not JSON, 70 KB, nested 50,000 deep), and 1,100 connections
ask h1's web for a screen's event stream at once and hold them. Meanwhile the web must answer its
pages; afterwards head office's figures of both halls must equal each hall's own report, the web's
report equal h1's, and no process may have died or logged a traceback.

    .venv/bin/python bench/chaos_surfaces.py [--rounds 6]      (make chaos; a short run in make test)
"""
from __future__ import annotations

import argparse
import csv
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "tests"))

import httpx  # noqa: E402

from hallq.testing import HallClient, Process, wait_until  # noqa: E402

# the counts every copy of the figures must agree on, by their Chinese headings (the hall's report and
# the console's); head office's CSV keeps English column keys
COMPARED = {"issued": "取号", "served": "办结", "no_show": "过号", "voided": "作废"}
POISONS = [
    b'{"epoch":1,"seq":9223372036854775808,"type":"announcement","at":"2026-12-04T10:00:00+08:00","text":"x"}',
    b'{"epoch":1,"seq":800000,"type":"queue_rules_changed","at":"2026-12-04T10:00:00+08:00"}',
    b'not json at all',
    b'{"epoch":1,"seq":800001,"type":"announcement","at":"2026-12-04T10:00:00+08:00","text":"' + b"x" * 70_000 + b'"}',
    b'{"epoch":1,"seq":' + b"[" * 50_000,
]


@dataclass
class SurfacesResult:
    rounds: int = 0
    poisoned: int = 0
    flooded_streams: int = 0
    refused_streams: int = 0
    pages_answered_during_floods: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def rows(self) -> list[tuple[str, str]]:
        return [("rounds (traffic in both halls, then a fault)", str(self.rounds)),
                ("poisoned events on hall h2's topics (5 kinds)", str(self.poisoned)),
                ("streams held by floods of 1,100 connections (refused)",
                 f"{self.flooded_streams} ({self.refused_streams})"),
                ("pages answered by the web during the floods", str(self.pages_answered_during_floods)),
                ("run time", f"{self.seconds:.0f} s"),
                ("invariant violations", str(len(self.violations)))]


def traffic(hall, rounds: int = 1) -> None:
    from test_central import traffic as central_traffic
    central_traffic(hall, rounds)


def hall_figures(hall, day: str, out: Path) -> dict[str, dict[str, str]]:
    done = subprocess.run([sys.executable, "-m", "hallq", "report", "--config", str(hall.config), "--data",
                           str(hall.data), "--date", day, "--csv", str(out)], capture_output=True, text=True, timeout=60,
                          cwd=out.parent)
    if done.returncode != 0:
        return {}
    with open(out, encoding="utf-8-sig") as fh:
        return {r["代码"]: {"name": r["名称"], **{k: r[title] for k, title in COMPARED.items()}}
                for r in csv.DictReader(fh) if r["范围"] == "业务" and (r["取号"] != "0" or r["办结"] != "0")}


def flood(port: int, count: int) -> tuple[list[socket.socket], int]:
    held, refused = [], 0
    for i in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        try:
            sock.bind((f"127.0.{10 + i // 250}.{1 + i % 250}", 0))
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /screen/d1/stream HTTP/1.1\r\nHost: hall\r\n\r\n")
            head = sock.recv(64)
        except OSError:
            refused += 1
            sock.close()
            continue
        if head.startswith(b"HTTP/1.1 200"):
            held.append(sock)
        else:
            refused += 1
            sock.close()
    return held, refused


def run(rounds: int, workdir: Path) -> SurfacesResult:
    from centralkit import start_bridged_hall, start_estate
    from webkit import PASSWORD, add_user
    result = SurfacesResult()
    t0 = time.monotonic()
    estate = start_estate(["h1", "h2"])
    halls = [start_bridged_hall(h, workdir / h, estate) for h in ("h1", "h2")]
    central_toml = estate.central_toml(workdir / "central.toml", None)
    data = workdir / "central-data"
    central = Process(["central", "--config", str(central_toml), "--data", str(data)], workdir, "central").start()
    h1 = halls[0]
    web_port = free_port_local()
    web_toml = workdir / "h1-web.toml"
    # the web borrows head office's identity in the hall (admin.hq, which the hall's broker knows)
    web_toml.write_text(h1.config.read_text("utf-8") + f'\n[web]\nid = "hq"\nlisten = "127.0.0.1:{web_port}"\n'
                        f'public_url = "http://127.0.0.1:{web_port}"\nstreams_per_client = 4\n', "utf-8")
    added = add_user(web_toml, workdir / "webdata", "alice", "supervisor", PASSWORD)
    assert added.returncode == 0, added.stderr
    webdir = workdir / "web-run"
    webdir.mkdir()
    web = Process(["web", "--config", str(web_toml), "--data", str(workdir / "webdata")], webdir, "web",
                  wrap=["prlimit", "--nofile=1024:1024"]).start()
    base = f"http://127.0.0.1:{web_port}"
    broken = HallClient(halls[1].broker.port, "broken", halls[1].broker.credentials["controller"],
                        username="controller", subscribe=[], hall_id="h2")
    try:
        wait_until(lambda: _answers(base), timeout=60, what="hallq web")
        for round_ in range(rounds):
            for hall in halls:
                traffic(hall, 1)
            if round_ % 2 == 0:
                for poison in POISONS:
                    broken.publish("hallq/v1/h2/event", poison)
                    result.poisoned += 1
            else:
                held, refused = flood(web_port, 1100)
                result.flooded_streams += len(held)
                result.refused_streams += refused
                for _ in range(5):
                    if _answers(base):
                        result.pages_answered_during_floods += 1
                    else:
                        result.violations.append(f"round {round_ + 1}: the web did not answer during a flood")
                for sock in held:
                    sock.close()
            result.rounds += 1
        day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        halls_own = {(h.hall_id, s): row for h in halls
                     for s, row in hall_figures(h, day, workdir / f"{h.hall_id}.csv").items()}
        expected = {key: {k: row[k] for k in COMPARED} for key, row in halls_own.items()}

        def central_equal() -> bool:
            done = subprocess.run([sys.executable, "-m", "hallq", "central", "report", "--config",
                                   str(central_toml), "--data", str(data), "--date", day, "--csv",
                                   str(workdir / "central.csv")], capture_output=True, text=True, timeout=60,
                                  cwd=workdir)
            if done.returncode != 0:
                return False
            with open(workdir / "central.csv", encoding="utf-8-sig") as fh:
                got = {(r["hall"], r["service"]): {k: r[k] for k in COMPARED} for r in csv.DictReader(fh)}
            return got == expected
        if not _eventually(central_equal, 90):
            result.violations.append("head office's figures differ from the halls' own reports")
        web_expected = {row["name"]: {k: row[k] for k in COMPARED} for (h, _), row in halls_own.items() if h == "h1"}
        if not _eventually(lambda: _web_figures(base, day) == web_expected, 60):
            result.violations.append(f"the web's report {_web_figures(base, day)} differs from h1's {web_expected}")
        for name, proc in (("central", central), ("web", web)):
            if not proc.alive:
                result.violations.append(f"{name} died")
            if "Traceback" in proc.output():
                result.violations.append(f"{name} logged a traceback")
            if "Too many open files" in proc.output():
                result.violations.append(f"{name} ran out of descriptors")
    finally:
        broken.close()
        web.stop()
        central.stop()
        for hall in halls:
            hall.close()
        estate.kill()
        shutil.rmtree(estate.folder, ignore_errors=True)
    result.seconds = time.monotonic() - t0
    return result


def free_port_local() -> int:
    from hallq.testing import free_port
    return free_port()


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _eventually(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return bool(check())


def _web_figures(base: str, day: str) -> dict[str, dict[str, str]]:
    from webkit import PASSWORD
    client = httpx.Client(base_url=base, timeout=10)
    if client.post("/login", data={"name": "alice", "password": PASSWORD}).status_code != 303:
        return {}
    from webkit import console_report_table
    rows = console_report_table(client.get(f"/reports.csv?date={day}").content.decode("utf-8"))
    return {name: {k: r.get(title, "") for k, title in COMPARED.items()} for name, r in rows.items()
            if r.get("取号") != "0" or r.get("办结") != "0"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hallq-chaos-surfaces-"))
    result = run(args.rounds, workdir)
    sys.path.insert(0, str(REPO / "bench"))
    from harness import write_result  # noqa: PLC0415
    write_result("chaos_surfaces", [(m, v, "0" if "violations" in m else "—") for m, v in result.rows()],
                 {"violations": result.violations, "seconds": round(result.seconds)})
    for line in result.violations:
        print("VIOLATION:", line)
    if not result.violations:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
