"""Head office under load, on PostgreSQL (Debian's, started on a free port).

1. Ingestion: a hall's bridge (as user hall-h1 on the central TLS broker) publishes N events as fast
   as it can; measured from the first publish until the central service has stored all N (rows in
   PostgreSQL), then the same N again: the count must not move (exactly once).
2. Gap repair: a real hall controller with 10,000 events in its records (announcements and tickets,
   made through its requests) and a central service starting empty: time until the centre holds
   every one of them, fetched with the `events` op over the bridge.
3. Figures: a simulated month of 50 halls with 2,000 tickets a day each (issued, called, served:
   three events a ticket, and the per-ticket and per-visit rows ingest keeps) written straight into
   PostgreSQL with COPY, then a day's whole report (`day_report`: what `hallq central report` and
   the dashboard run, counts, waits and all) timed for several days, the first one cold.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness import Process, write_result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from centralkit import Postgres, start_bridged_hall, start_estate  # noqa: E402

from hallq.records.figures import day_report  # noqa: E402
from hallq.records.store import CentralStore  # noqa: E402
from hallq.testing import HallClient, wait_until  # noqa: E402

TZ = timezone(timedelta(hours=8))


def event(hall: str, seq: int, kind: str, ticket: dict) -> bytes:
    return json.dumps({"epoch": 1, "seq": seq, "type": kind, "at": ticket["at"], "ticket": ticket,
                       "counter": "c1"}).encode()


def ingest(estate, pg_url: str, n: int, tmp: Path) -> tuple[float, int, int]:
    central = Process(["central", "--config", str(estate.central_toml(tmp / "central.toml", pg_url))], tmp, "central")
    central.start()
    store = CentralStore(pg_url)
    bridge = HallClient(estate.port, "hall-b1", estate.passwords["hall-b1"], subscribe=[], username="hall-b1",
                        connect=False)
    import ssl
    bridge.c.tls_set(ca_certs=str(estate.certs["ca"]), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    bridge.connect()
    time.sleep(1.0)                          # the service subscribed
    day = datetime.now(TZ).date().isoformat()
    payloads = []
    for seq in range(1, n + 1):
        ticket = {"id": f"{day}-A{seq:06d}", "number": f"A{seq % 1000:03d}", "service": "pay",
                  "status": "waiting", "day": day, "issued_at": datetime.now(TZ).isoformat(),
                  "at": datetime.now(TZ).isoformat()}
        payloads.append(event("b1", seq, "ticket_issued", ticket))
    count = lambda: store.query("SELECT COUNT(*) FROM events WHERE hall = 'b1'")[0][0]  # noqa: E731
    t0 = time.monotonic()
    for seq, payload in enumerate(payloads, start=1):
        bridge.c.publish("hallq/v1/b1/event", payload, qos=1)
    wait_until(lambda: count() >= n, timeout=300, what="every event stored", poll_s=0.05)
    elapsed = time.monotonic() - t0
    for payload in payloads[: n // 5]:      # a redelivery of a fifth of them
        bridge.c.publish("hallq/v1/b1/event", payload, qos=1)
    time.sleep(3.0)
    after = count()
    bridge.close()
    central.stop()
    store.close()
    return n / elapsed, after, n


def repair(estate, pg_url: str, tmp: Path, target: int) -> tuple[float, int]:
    hall = start_bridged_hall("r1", tmp / "r1", estate)
    admin = hall.broker.client("admin.ctl", hall_id="r1", subscribe=["hallq/v1/r1/dev/admin.ctl/res"])
    kiosk = hall.client("kiosk.k1")
    try:
        for i in range(target):             # announcements are events too: the fastest way to 10,000
            if i % 10 == 0:
                kiosk.c.publish("hallq/v1/r1/dev/kiosk.k1/req",
                                json.dumps({"op": "issue", "request_id": f"i{i}", "service": "pay"}), qos=1)
            else:
                admin.c.publish("hallq/v1/r1/dev/admin.ctl/req",
                                json.dumps({"op": "announce", "request_id": f"a{i}", "text": f"notice {i % 7}"}), qos=1)
        seq = hall.admin.state(lambda s: s["seq"] >= target, timeout=180)["seq"]
        store = CentralStore(pg_url)
        toml = estate.central_toml(tmp / "repair.toml", pg_url)
        central = Process(["central", "--config", str(toml)], tmp, "central-repair")
        t0 = time.monotonic()
        central.start()
        try:
            wait_until(lambda: store.query("SELECT COUNT(*) FROM events WHERE hall = 'r1'")[0][0] >= seq,
                       timeout=120, what="the gap repaired", poll_s=0.05)
            elapsed = time.monotonic() - t0
        finally:
            central.stop()
            store.close()
        return elapsed, seq
    finally:
        admin.close(), kiosk.close()
        hall.close()


def month(pg_url: str, halls: int, days: int, per_day: int) -> tuple[int, list[float], float]:
    import psycopg
    store = CentralStore(pg_url)       # the schema
    store.close()
    rng = random.Random(7)
    start = datetime(2026, 10, 1, 9, 0, tzinfo=TZ)
    rows = 0
    t_load = time.monotonic()
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        for h in range(halls):
            buf, tbuf, vbuf = io.StringIO(), io.StringIO(), io.StringIO()
            hall = f"m{h:02d}"
            seq = 0
            for d in range(days):
                day0 = start + timedelta(days=d)
                day = day0.date().isoformat()
                for i in range(per_day):
                    issued = day0 + timedelta(seconds=i * 14)
                    called = issued + timedelta(seconds=rng.randint(60, 1500))
                    service = "pay" if i % 3 else "biz"
                    tid = f"{day}-{service[0].upper()}{i:04d}"
                    for kind, at, status in (("ticket_issued", issued, "waiting"), ("ticket_called", called, "called"),
                                             ("ticket_served", called + timedelta(seconds=240), "served")):
                        seq += 1
                        buf.write("\t".join([hall, str(seq), "1", kind, at.isoformat(), day, tid, day, service,
                                             service, status, "\\N", issued.isoformat(), "\\N", "{}"]) + "\n")
                        rows += 1
                    tbuf.write("\t".join([hall, tid, day, str(seq - 2), str(seq), service, service, "served",
                                          issued.isoformat(), called.isoformat(), "\\N", "\\N",
                                          str((called - issued).total_seconds())]) + "\n")
                    vbuf.write("\t".join([hall, tid, "0", day, str(seq), service, "served", issued.isoformat(),
                                          called.isoformat(), str((called - issued).total_seconds()), "\\N", "\\N",
                                          "240", "\\N"]) + "\n")
            with cur.copy("COPY events (hall, seq, epoch, type, at, day, ticket, ticket_day, service, issued_service, "
                          "status, clerk, issued_at, rating, body) FROM STDIN") as copy:
                copy.write(buf.getvalue())
            with cur.copy("COPY tickets (hall, ticket, day, first_seq, last_seq, issued_service, service, status, "
                          "issued_at, first_called, clerk, rating, wait_s) FROM STDIN") as copy:
                copy.write(tbuf.getvalue())
            with cur.copy("COPY visits (hall, ticket, step, day, last_seq, service, status, queued_at, first_called, "
                          "wait_s, counter, clerk, service_s, rating) FROM STDIN") as copy:
                copy.write(vbuf.getvalue())
        cur.execute("ANALYZE")
        conn.commit()
    load_s = time.monotonic() - t_load
    store = CentralStore(pg_url)
    timings = []
    for d in sorted({0, days // 2, days - 1, min(3, days - 1), min(17, days - 1)}):
        day = (start + timedelta(days=d)).date().isoformat()
        t0 = time.perf_counter()
        figures = day_report(store, day)            # what `hallq central report` and the dashboard run
        timings.append(time.perf_counter() - t0)
        assert sum(f["issued"] for f in figures) == halls * per_day, figures[:3]
    store.close()
    return rows, timings, load_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repair", type=int, default=10000)
    parser.add_argument("--halls", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=2000)
    args = parser.parse_args()
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix="hallq-bench-central-"))
    pg = Postgres()
    estate = start_estate(["b1", "r1"])
    try:
        rate, after, n = ingest(estate, pg.url, args.events, tmp)
        repair_s, repaired = repair(estate, pg.url, tmp, args.repair)
        rows, timings, load_s = month(pg.url, args.halls, args.days, args.per_day)
    finally:
        estate.kill()
        pg.stop()
    rows_out = [
        ("events ingested into PostgreSQL through the central broker, sustained", f"{rate:,.0f} events/s (n={n})",
         "≥ 5,000 /s"),
        ("the same events delivered again: rows stored", f"{after} (of {n}: exactly once)", f"= {n}"),
        (f"gap repair: a hall's {repaired:,} events fetched over the bridge into an empty store",
         f"{repair_s:.1f} s", "< 10 s"),
        (f"day's figures query, {args.halls} halls × {args.per_day:,} tickets/day, {args.days} days "
         f"({rows:,} rows), median / max", f"{statistics.median(timings) * 1000:.0f} / {max(timings) * 1000:.0f} ms",
         "< 500 ms"),
        ("loading that month (COPY)", f"{load_s:.0f} s", "—"),
    ]
    write_result("central", rows_out, {"rate": rate, "after": after, "repair_s": repair_s, "query_s": timings})


if __name__ == "__main__":
    main()
