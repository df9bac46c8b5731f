"""The hall screen drawn headless (pygame, SDL dummy driver), alone and against a real hall."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hallq.display.app import DisplayRole as DisplayApp
from hallq.display.layout import MIN_TEXT, compute_layout
from hallq.display.model import CallView, CounterTile, RecentView, ServiceTile, ViewModel
from hallq.display.theme import DEFAULT_THEME, parse_colour
from hallq.runtime.config import load_config
from hallq.errors import ConfigError
from hallq.testing import Process

from test_display_model import EXAMPLE, Event, HallState, decode, link, make_state, presence, serving

R = "hallq/v1/h1"
OUTAGE = parse_colour(DEFAULT_THEME["outage"])
RECONNECTING = parse_colour(DEFAULT_THEME["reconnecting"])
ACCENT = parse_colour(DEFAULT_THEME["accent"])


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def headless_app(tmp_path: Path, size=(1920, 1080), name="screen.png") -> DisplayApp:
    config = load_config(EXAMPLE)
    return DisplayApp(config, config.display[0], headless=True, snapshot=str(tmp_path / name), sound=False,
                      size=size)


def feed(app: DisplayApp, state: dict, *events: dict) -> None:
    t, wall = time.monotonic(), datetime.now(timezone.utc)
    link(app.view, True, t)
    presence(app.view, True, 2, t)
    app.view.apply_state(decode(state, HallState), t, wall)
    for ev in events:
        app.view.apply_event(decode(ev, Event), t, wall)


def snapshot(app: DisplayApp) -> Image.Image:
    app.frame()
    assert app.snapshots is not None
    app.snapshots.stop()
    return Image.open(app.snapshots.path).convert("RGB")


def colour_share(img: Image.Image, box: tuple[int, int, int, int], colour: tuple[int, int, int], tol: int = 6) -> float:
    region = np.asarray(img.crop(box), dtype=np.int16)
    close = (np.abs(region - np.array(colour, dtype=np.int16)) <= tol).all(axis=2)
    return float(close.mean())


def test_headless_png_is_produced_and_shows_the_call(tmp_path):
    app = headless_app(tmp_path)
    feed(app, make_state(seq=10), {"epoch": 2, "seq": 11, "type": "ticket_called", "at": now_iso(),
                                   "ticket": {"id": "t-A012", "number": "A012", "service": "pay", "status": "called",
                                              "issued_at": now_iso(), "day": now_iso()[:10]}, "counter": "c2"})
    app.view.apply_state(decode(serving(make_state(seq=11), c2="A012"), HallState), time.monotonic(),
                         datetime.now(timezone.utc))
    try:
        img = snapshot(app)
    finally:
        app.pygame.quit()
    assert img.size == (1920, 1080)
    assert len(img.getcolors(1 << 20) or []) > 50, "a blank or flat picture"
    # the calls area carries the ticket numbers in the accent colour (or white while flashing)
    calls = app.renderer.layout.calls
    lit = colour_share(img, (calls.left, calls.top, calls.right, calls.bottom), ACCENT) \
        + colour_share(img, (calls.left, calls.top, calls.right, calls.bottom), (255, 255, 255))
    assert lit > 0.03
    text = json.loads(app.snapshots.text_path.read_text("utf-8"))
    assert [(c["number"], c["counter_name"]) for c in text["calls"]] == [("A012", "2号窗口"), ("A011", "1号窗口")]
    assert text["screen"] == "open"
    drawn = [b.text for b in app.renderer.boxes if b.kind == "call_number"]
    assert drawn == ["A012", "A011"]


def test_outage_banner_is_drawn(tmp_path):
    app = headless_app(tmp_path)
    feed(app, make_state(seq=10, mode="outage", message="网络故障，正在抢修"))
    try:
        img = snapshot(app)
    finally:
        app.pygame.quit()
    banner = app.renderer.layout.banners[0]
    assert colour_share(img, (banner.left, banner.top, banner.right, banner.bottom), OUTAGE) > 0.5
    # and nowhere else in normal mode
    app2 = headless_app(tmp_path, name="normal.png")
    feed(app2, make_state(seq=10))
    try:
        img2 = snapshot(app2)
    finally:
        app2.pygame.quit()
    assert colour_share(img2, (0, 0, 1920, 1080), OUTAGE) < 0.001


def hall_picture(n_counters: int, n_services: int, banners=()) -> ViewModel:
    """A busy hall: every third counter suspended (one of them still serving), long names, 8 live calls."""
    counters = []
    for i in range(1, n_counters + 1):
        status = "suspended" if i % 3 == 0 else "serving" if i % 4 else "idle"
        number = f"B{i:03d}" if status == "serving" or i % 9 == 0 else ""
        label = {"suspended": ("暂停服务", "Suspended"), "idle": ("空闲", "Idle")}.get(status, ("", ""))
        counters.append(CounterTile(f"c{i}", f"{i}号窗口", f"Counter {i}", number, status, *label))
    names = [("缴费", "Payment"), ("业务办理", "Applications"), ("新装增容", "New connections and upgrades"),
             ("电费发票", "Invoices"), ("光伏并网", "Solar grid connection")]
    services = tuple(ServiceTile(f"s{i}", names[i % 5][0], names[i % 5][1], chr(65 + i), 100 + i,
                                 "约35分钟", "about 35 min", i == 2, *(("暂停取号", "No new tickets now") if i == 2
                                                                     else ("", "")))
                     for i in range(n_services))
    # every other call a journey's step (第2步/共3步): one more line on its card
    calls = tuple(CallView(c.number, c.id, c.name, c.name_en, "缴费", i == 1, i < 3, "第2步/共3步 缴费" if i % 2 else "")
                  for i, c in enumerate([c for c in counters if c.number][:8]))
    return ViewModel("open", "城东供电营业厅", "Chengdong Power Supply Service Hall", "2025年3月4日 星期二",
                     "Tue 4 Mar 2025", "10:30:15", calls, (RecentView("A001", "1号窗口"),), tuple(counters), services,
                     ("今日16:00起暂停办理过户业务 Transfers are not handled after 16:00 today",), banners,
                     "营业时间 08:30–17:00", "Opening hours 08:30–17:00", "open")


def check_boxes(renderer, layout) -> None:
    """No two texts overlap, all stay inside the overscan margin, none under its minimum size."""
    boxes = renderer.boxes
    assert boxes
    for b in boxes:
        assert layout.safe.contains(b.rect), (b.text, b.rect, layout.safe)
        assert b.size >= MIN_TEXT[b.kind] * layout.u - 1, (b.kind, b.text, b.size, MIN_TEXT[b.kind] * layout.u)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.rect.colliderect(b.rect), (a.text, a.rect, b.text, b.rect)
    # side by side, the large texts of two call cards keep a gap a quarter of their height: from
    # across the hall "B050  B049" must not read as one "B050B049"
    big = [b for b in boxes if b.kind in ("call_number", "call_where")]
    for i, a in enumerate(big):
        for b in big[i + 1:]:
            if a.rect.bottom <= b.rect.top or b.rect.bottom <= a.rect.top:
                continue                                   # one above the other
            gap = max(b.rect.left - a.rect.right, a.rect.left - b.rect.right)
            assert gap >= 0.25 * min(a.rect.h, b.rect.h), (a.text, a.rect, b.text, b.rect, gap)


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (1080, 1920)])
def test_layouts_for_4_to_60_counters_have_no_overlaps_and_readable_text(tmp_path, size):
    from hallq.display.model import Banner
    app = headless_app(tmp_path, size=size)
    try:
        for n_counters in (4, 12, 24, 30, 40, 60):
            for n_services in (1, 5, 10):
                vm = hall_picture(n_counters, n_services)
                app.renderer.draw(vm, 0.25)
                layout = app.renderer.layout
                check_boxes(app.renderer, layout)
                # every counter has its tile; as many live calls as fit are shown, the newest first
                assert len([b for b in app.renderer.boxes if b.kind == "tile_name"]) >= n_counters
                shown = [b.text for b in app.renderer.boxes if b.kind == "call_number"]
                assert shown == [c.number for c in vm.calls][: len(shown)] and len(shown) >= min(2, len(vm.calls))
                steps = [b.text for b in app.renderer.boxes if b.kind == "call_step"]
                assert set(steps) <= {"第2步/共3步 缴费"}
                if n_counters == 4:          # a small hall's cards have room for a journey's step
                    assert steps, (size, n_services)
        # with banners (an outage with the operator's message, then reconnecting) it still fits
        vm = hall_picture(30, 5, banners=(Banner("outage", "系统维护，业务照常取号，请耐心等候"),
                                          Banner("reconnecting", "系统连接中，请稍候", "Queue system reconnecting")))
        app.renderer.draw(vm, 0.25)
        check_boxes(app.renderer, app.renderer.layout)
    finally:
        app.pygame.quit()


def test_overscan_margin_keeps_the_edges_clear(tmp_path):
    app = headless_app(tmp_path)
    try:
        app.renderer.draw(hall_picture(12, 3), 0.0)
        top = min(b.rect.top for b in app.renderer.boxes)
        left = min(b.rect.left for b in app.renderer.boxes)
        assert top >= 0.03 * 1080 and left >= 0.03 * 1920          # the default 3 % on every edge
    finally:
        app.pygame.quit()
    layout = compute_layout(1920, 1080, n_counters=12, n_services=3, overscan=0.0)
    assert layout.safe.topleft == (0, 0)


def test_a_font_without_chinese_glyphs_is_refused_at_start(tmp_path):
    import pygame
    latin = Path(pygame.__file__).parent / "freesansbold.ttf"          # pygame's own, Latin only
    text = EXAMPLE.read_text("utf-8").replace('[[display]]\nid = "d1"', f'[[display]]\nid = "d1"\nfont = "{latin}"')
    path = tmp_path / "hall.toml"
    path.write_text(text, "utf-8")
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"display\[0\]\.font.*lacks '.*城"):
        DisplayApp(config, config.display[0], headless=True, sound=False)


def test_bad_theme_colour_is_a_config_error(tmp_path):
    text = EXAMPLE.read_text("utf-8").replace('[[display]]\nid = "d1"', '[[display]]\nid = "d1"\ntheme = {background = "navy"}')
    path = tmp_path / "hall.toml"
    path.write_text(text, "utf-8")
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"display\[0\]\.theme\.background"):
        DisplayApp(config, config.display[0], headless=True, sound=False)


# --- against a real hall -------------------------------------------------------------------------
def wait_json(png: Path, predicate, timeout: float = 15.0) -> dict:
    """Wait until the view model written next to the snapshot satisfies ``predicate``."""
    path = png.with_suffix(".json")
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = json.loads(path.read_text("utf-8"))
            if predicate(last):
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the screen never showed it; last: {json.dumps(last, ensure_ascii=False)[:600]}")


def start_display(hall_config: Path, tmp_path: Path, *extra: str) -> tuple[Process, Path]:
    png = tmp_path / "shots" / "d1.png"
    proc = Process(["display", "--config", str(hall_config), "--id", "d1", "--headless", "--snapshot", str(png),
                    "--data", str(tmp_path / "display-data"), *extra], tmp_path, "display").start()
    return proc, png


def with_audio_out(hall_config: Path, out: Path) -> Path:
    text = hall_config.read_text("utf-8")
    assert '[[display]]\nid = "d1"' in text
    hall_config.write_text(text.replace('[[display]]\nid = "d1"',
                                        f'[[display]]\nid = "d1"\nenglish = false\naudio_out = "{out}"'), "utf-8")
    return hall_config


def test_ticket_issued_and_called_shows_and_is_spoken_on_the_display(broker, hall_config, admin, tmp_path):
    wavs = tmp_path / "spoken"
    with_audio_out(hall_config, wavs)
    from hallq.testing import start_controller
    controller = start_controller(hall_config, tmp_path, admin)
    display, png = start_display(hall_config, tmp_path)
    kiosk = broker.client("kiosk.k1", subscribe=[f"{R}/dev/kiosk.k1/res"])
    counter = broker.client("counter.c1", subscribe=[f"{R}/dev/counter.c1/res"])
    try:
        admin.wait_for(lambda t, d: t == f"{R}/presence/display.d1" and d and d.get("online") is True)
        wait_json(png, lambda s: s["screen"] == "open")
        issued = kiosk.request("issue", service="pay")
        assert issued["ok"], issued
        number = issued["ticket"]["number"]
        wait_json(png, lambda s: s["services"][0]["waiting"] == 1)
        called = counter.request("call_next")
        assert called["ok"] and called["ticket"]["number"] == number
        shown = wait_json(png, lambda s: s["calls"] and s["calls"][0]["number"] == number
                          and next(c for c in s["counters"] if c["id"] == "c1")["number"] == number)
        assert shown["calls"][0]["counter_name"] == "1号窗口" and shown["calls"][0]["flashing"]
        img = Image.open(png)
        assert img.size == (1920, 1080) and len(img.convert("RGB").getcolors(1 << 20) or []) > 50
        # spoken once, as a whole WAV, through the audio worker
        deadline = time.monotonic() + 15
        while not list(wavs.glob("*.wav")) and time.monotonic() < deadline:
            time.sleep(0.05)
        # the hall is quiet: said twice (English is off in this hall's display config)
        testing_wait = time.monotonic() + 30
        while len(list(wavs.glob("*.wav"))) < 2 and time.monotonic() < testing_wait:
            time.sleep(0.05)
        assert sorted(f.name for f in wavs.glob("*.wav")) == [f"0001-{number}.wav", f"0002-{number}~2.wav"]
        # the controller stops: the screen keeps its picture under a "reconnecting" banner
        controller.stop()
        gone = wait_json(png, lambda s: any(b["kind"] == "reconnecting" for b in s["banners"]))
        assert gone["calls"][0]["number"] == number and gone["counters"] == shown["counters"]
        img = Image.open(png).convert("RGB")
        top = compute_layout(1920, 1080).header.bottom
        assert colour_share(img, (0, top + 4, 1920, top + 40), RECONNECTING) > 0.5
        controller = start_controller(hall_config, tmp_path, admin)
        wait_json(png, lambda s: any(b["kind"] == "resumed" for b in s["banners"]))
    finally:
        kiosk.close(), counter.close()
        assert display.stop() == 0, display.output()
        controller.stop()
    offline = admin.wait_for(lambda t, d: t == f"{R}/presence/display.d1" and d and d.get("online") is False)
    assert offline["online"] is False


@pytest.mark.parametrize("banner", [False, True])
def test_plus_n_counts_every_live_call_without_a_card(tmp_path, banner):
    """40 counters serving, none flashing any more (a restarted screen): every call without a card
    is counted, with an outage banner taking room or not."""
    from hallq.testing import write_hall_config
    config = load_config(write_hall_config(tmp_path / "hall.toml", 1883, None, counters=40))
    app = DisplayApp(config, config.display[0], headless=True, snapshot=str(tmp_path / "s.png"), sound=False,
                     size=(1280, 720))
    called = datetime.now(timezone.utc).isoformat()
    state = make_state(seq=10, mode="outage" if banner else "open", counters=[
        {"id": f"c{i}", "name": f"{i}号窗口", "status": "serving", "clerk": None,
         "ticket": {"number": f"A{i:03d}", "service": "pay", "called_at": called}} for i in range(1, 41)])
    try:
        feed(app, state)
        vm = app.view.view(time.monotonic(), datetime.now(timezone.utc))
        assert len(vm.calls) == 40 and not any(c.flashing for c in vm.calls)
        snapshot(app)
        cards = [b.text for b in app.renderer.boxes if b.kind == "call_number"]
        hidden = 40 - len(cards)
        assert 0 < len(cards) < 40
        said = [b.text for b in app.renderer.boxes if "见下方窗口" in b.text]
        assert said and said[0].startswith(f"另有{hidden}位"), said
    finally:
        app.pygame.quit()
