"""The browser hall screen (``/screen/<display>``) in a real Chromium, at 1920×1080, 1280×720 and
portrait 1080×1920, for halls of 4, 24 and 60 counters, checked from the DOM as the pygame
screen is checked from its text boxes: every counter has its tile exactly where the display's
layout engine puts it (the same engine computes both), no two texts overlap, every text stays on
screen inside the overscan margin, none is smaller than its kind's minimum, and the calls shown
are the newest."""
from __future__ import annotations

import pytest

from hallq.display.layout import MIN_TEXT, compute_layout
from hallq.testing import wait_until
from webkit import chromium, start_web_hall, stop_web_hall

pytestmark = [pytest.mark.browser, pytest.mark.processes]
SIZES = [(1920, 1080), (1280, 720), (1080, 1920)]
NOTICE = "今日16:00起暂停办理过户业务 Transfers are not handled after 16:00 today"

# what the page shows, read from the DOM: every text (kind, box, size, text) and every tile's box
READ_SCREEN = """
const texts = [...document.querySelectorAll('#screen .t')].map(e => {
  const r = e.getBoundingClientRect();
  return {kind: e.dataset.kind, text: e.textContent, x: r.left, y: r.top, w: r.width, h: r.height,
          size: parseFloat(getComputedStyle(e).fontSize)};
});
const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; };
return {texts, tiles: [...document.querySelectorAll('#screen .tile')].map(box),
        ticker: [...document.querySelectorAll('#screen .ticker')].map(box),
        size: [innerWidth, innerHeight]};
"""


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def busy_hall(tmp, counters: int, outage: bool = False):
    """A hall with tickets waiting, up to ten counters serving (so the newest calls outnumber the
    cards), one counter suspended while serving, a long notice and, if asked, an outage."""
    hall = start_web_hall(tmp, counters=counters, hall_overrides={"kiosk_rate_per_s": "0"})
    kiosk = hall.client("kiosk.k1")
    for i in range(24):
        assert kiosk.request("issue", service="pay" if i % 3 else "biz")["ok"]
    called = []
    for i in range(1, min(counters, 10) + 1):
        clerk = hall.client(f"counter.c{i}")
        assert clerk.request("login", clerk=f"clerk{i}")["ok"]
        called.append(clerk.request("call_next")["ticket"]["number"])
        clerk.close()
    kiosk.close()
    assert hall.admin.request("suspend", counter="c2", reason="午休")["ok"]
    assert hall.admin.request("announce", text=NOTICE)["ok"]
    if outage:
        assert hall.admin.request("outage", active=True, message="系统维护，业务照常办理，请耐心等候")["ok"]
    return hall, called


def show(browser, hall, width: int, height: int, counters: int) -> dict:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    browser.get(hall.base + "/screen/d1")

    def drawn():
        seen = browser.execute_script(READ_SCREEN)
        return seen if len(seen["tiles"]) == counters and seen["size"] == [width, height] else None
    return wait_until(drawn, timeout=20, what=f"the screen drawn at {width}×{height}")


def check(seen: dict, width: int, height: int, counters: int, banners=()) -> None:
    layout = compute_layout(width, height, n_counters=counters, n_services=2, banners=banners, notices=True)
    u, safe = layout.u, layout.safe
    # the tiles are where the display's layout engine puts them
    assert [[round(v) for v in t] for t in seen["tiles"]] == [c.box() for c in layout.counter_cells()]
    texts = [t for t in seen["texts"] if t["kind"] != "ticker"]
    assert texts
    for t in texts:
        assert t["size"] >= MIN_TEXT[t["kind"]] * u - 1, (t["kind"], t["text"], t["size"], MIN_TEXT[t["kind"]] * u)
        inside = (safe.x - 1 <= t["x"] and safe.y - 1 <= t["y"] and t["x"] + t["w"] <= safe.right + 1
                  and t["y"] + t["h"] <= safe.bottom + 1)
        assert inside, (t["text"], t, safe)
        assert t["h"] < t["size"] * 1.5, ("wrapped onto a second line", t)
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            apart = (a["x"] + a["w"] <= b["x"] + 1 or b["x"] + b["w"] <= a["x"] + 1 or
                     a["y"] + a["h"] <= b["y"] + 1 or b["y"] + b["h"] <= a["y"] + 1)
            assert apart, ("overlap", a, b)
    # side by side, two cards' large texts keep a gap of a fifth of their size (as the pygame screen)
    big = [t for t in texts if t["kind"] in ("call_number", "call_where")]
    for i, a in enumerate(big):
        for b in big[i + 1:]:
            if a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]:
                continue
            gap = max(b["x"] - (a["x"] + a["w"]), a["x"] - (b["x"] + b["w"]))
            assert gap >= 0.18 * min(a["size"], b["size"]), ("too close", a, b, gap)
    ticker, = seen["ticker"]
    assert [round(v) for v in ticker] == layout.ticker.box()


@pytest.mark.parametrize("counters", [4, 24, 60])
def test_the_browser_screen_lays_out_a_hall_as_the_display_does(tmp_path, browser, counters):
    hall, called = busy_hall(tmp_path, counters)
    try:
        for width, height in SIZES:
            seen = show(browser, hall, width, height, counters)
            check(seen, width, height, counters)
            numbers = [t["text"] for t in seen["texts"] if t["kind"] == "call_number"]
            assert numbers and numbers == list(reversed(called))[: len(numbers)], (numbers, called)
            # each counter's tile names it; the suspended one says so
            assert len([t for t in seen["texts"] if t["kind"] == "tile_name"]) >= counters
            assert any(t["text"] == "请到1号窗口" for t in seen["texts"]) or len(numbers) < len(called)
    finally:
        stop_web_hall(hall)


def test_an_outage_banner_fits_with_the_hall(tmp_path, browser):
    hall, _ = busy_hall(tmp_path, 40, outage=True)
    try:
        for width, height in SIZES:
            seen = show(browser, hall, width, height, 40)
            check(seen, width, height, 40, banners=(("outage", False),))
            assert any(t["text"].startswith("系统维护") for t in seen["texts"])
    finally:
        stop_web_hall(hall)


def test_the_layout_answers_bad_sizes_with_a_clear_error(tmp_path):
    hall = start_web_hall(tmp_path)
    try:
        web = hall.http()
        assert web.get("/screen/d1/layout?w=1920&h=1080&banners=outage.1&notices=1").json()["n_counters"] == 4
        for query in ("w=0&h=1080", "w=abc&h=1", "w=1920&h=1080&banners=fire.1", "w=1920&h=1080&banners=outage.2"):
            bad = web.get(f"/screen/d1/layout?{query}")
            assert bad.status_code == 400 and ("w and h" in bad.text or "banners" in bad.text), (query, bad.text)
        assert web.get("/screen/nope/layout?w=1920&h=1080").status_code == 404
    finally:
        stop_web_hall(hall)
