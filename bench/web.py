"""hallq web under a hall's load: one call reaching 1,000 open phone pages, and a call reaching a
real browser's page.

A real hall (Mosquitto with the generated config, the controller and `hallq web` as processes).
1,000 tickets are issued with tokens of our own (what kiosks do), and 1,000 phone pages are opened
as Server-Sent Event streams (`/t/<token>/stream`, plain asyncio sockets). Then a counter calls
tickets one at a time: every page's "people ahead" changes with each call, so each call must reach
every page. Measured per page: from the counter's `call_next` being sent to that page receiving
its new view (p50/p99 over all pages and calls), and the web process's peak RSS. Then, in Debian's
Chromium, a phone page's DOM is watched (a MutationObserver stamps the change with the page's
clock, the same machine's) while a counter calls: call sent → DOM updated.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

from harness import LIMITS_OFF, Process, peak_rss_mb, percentile, start_broker, start_controller, summary_ms, write_result

from hallq.testing import free_port, wait_until
from hallq.contract.tokens import new_token, token_hash

R = "hallq/v1/h1"
DEBUG = False


async def open_page(port: int, token: str, seen: dict[str, list[tuple[float, str]]], ready: asyncio.Event,
                    opened: list[int], total: int, index: int) -> None:
    # each phone from an address of its own: the web bounds open streams per client address
    source = f"127.0.{2 + index // 200}.{1 + index % 200}"
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20, local_addr=(source, 0))
    writer.write(f"GET /t/{token}/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    first = True
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                seen[token].append((time.monotonic(), json.loads(line[6:])["status"]))
                if first:
                    first = False
                    opened[0] += 1
                    if opened[0] == total:
                        ready.set()
    finally:
        writer.close()


async def fan_out(port: int, tokens: list[str], services: dict[str, str], counter,
                  calls: int) -> tuple[list[float], int]:
    seen: dict[str, list[tuple[float, str]]] = {t: [] for t in tokens}
    ready, opened = asyncio.Event(), [0]
    tasks = [asyncio.create_task(open_page(port, t, seen, ready, opened, len(tokens), i)) for i, t in enumerate(tokens)]
    await asyncio.wait_for(ready.wait(), 120)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    missed = 0
    for _ in range(calls):
        before = {t: len(v) for t, v in seen.items()}
        sent = time.monotonic()
        reply = await loop.run_in_executor(None, lambda: counter.request("call_next"))
        # the call moves every waiting ticket of its service one place: each of those pages must change
        due = [t for t in tokens if services[t] == reply["ticket"]["service"] and seen[t][-1][1] == "waiting"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(len(seen[t]) == before[t] for t in due):
            await asyncio.sleep(0.005)
        latencies += [seen[t][before[t]][0] - sent for t in due if len(seen[t]) > before[t]]
        missed += sum(1 for t in due if len(seen[t]) == before[t])
        if DEBUG:
            for t in due:
                if len(seen[t]) == before[t]:
                    print("missed", reply["ticket"]["number"], services[t], seen[t][-1][1], flush=True)
        await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    return latencies, missed


def browser_latency(url: str, counter, n: int) -> list[float]:
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from webkit import chromium
    driver = chromium()
    samples: list[float] = []
    try:
        driver.get(url)
        driver.execute_script("""window.changes = [];
            new MutationObserver(() => window.changes.push(performance.timeOrigin + performance.now()))
              .observe(document.getElementById('detail'), {childList: true, characterData: true, subtree: true});""")
        for _ in range(n):
            count = driver.execute_script("return window.changes.length")
            sent = time.time() * 1000
            counter.request("call_next")
            wait_until(lambda: driver.execute_script("return window.changes.length") > count, timeout=10,
                       what="the page changed")
            samples.append((driver.execute_script("return window.changes[%d]" % count) - sent) / 1000)
            time.sleep(0.2)
    finally:
        driver.quit()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))   # the web inherits it
    broker = start_broker("web", hall_overrides=LIMITS_OFF)
    base = broker.workdir
    port = free_port()
    hall = broker.config_path
    with open(hall, "a", encoding="utf-8") as fh:
        fh.write(f'\n[web]\npublic_url = "http://127.0.0.1:{port}"\nlisten = "127.0.0.1:{port}"\n')
    broker.stop()
    broker.configure(hall)             # admin.web's password joins the broker's files
    broker.start()
    admin = broker.client("admin.ctl", subscribe=[f"{R}/presence/#"])
    ctl = start_controller(hall, base, admin)
    web = Process(["web", "--config", str(hall), "--data", str(base / "web"), "--no-voice"], base, "web").start()
    kiosk, counter = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"]), \
        broker.client("counter.c1", subscribe=[f"{R}/dev/counter.c1/res"])
    try:
        tokens, services = [], {}
        for i in range(args.pages):
            token, service = new_token(), "pay" if i % 2 else "biz"
            reply = kiosk.request("issue", service=service, token_hash=token_hash(token))
            assert reply["ok"], reply
            tokens.append(token)
            services[token] = service
        import httpx
        wait_until(lambda: _healthy(httpx, port), timeout=30, what="hallq web")
        latencies, missed = asyncio.run(fan_out(port, tokens, services, counter, args.calls))
        rss = peak_rss_mb(web.proc.pid)
        c2 = broker.client("counter.c2", subscribe=[f"{R}/dev/counter.c2/res"])      # c2 serves pay only
        try:
            browser = browser_latency(f"http://127.0.0.1:{port}/t/{tokens[-1]}", c2, 10)
        finally:
            c2.close()
    finally:
        kiosk.close(), counter.close()
        web.stop()
        ctl.stop()
        broker.cleanup()
    fan = summary_ms(latencies)
    dom = summary_ms(browser)
    rows = [
        (f"call → {args.pages} open phone pages (SSE) updated, median / p99",
         f"{fan['median_ms']} / {fan['p99_ms']} ms (n={fan['n']}, pages missing an update: {missed})", "p99 < 250 ms"),
        ("call → phone page DOM updated in Chromium, median / p99",
         f"{dom['median_ms']} / {dom['p99_ms']} ms (n={dom['n']})", "—"),
        (f"web process peak RSS with {args.pages} pages open", f"{rss} MB", "< 150 MB"),
        ("slowest page of the slowest call", f"{round(max(latencies) * 1000, 1)} ms", "—"),
    ]
    write_result("web", rows, {"fan_out": fan, "dom": dom, "rss_mb": rss, "missed": missed,
                               "p90_ms": round(percentile([x * 1000 for x in latencies], 90), 2)})


def _healthy(httpx, port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
