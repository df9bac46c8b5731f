"""The hall screen drawn headless (pygame, SDL dummy driver), alone and against a real hall."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from display.app import DisplayRole as DisplayApp
from display.render import DEFAULT_THEME, compute_layout, parse_colour
from hall.config import load_config
from hall.errors import ConfigError
from hall.testing import Process

from test_display_model import EXAMPLE, Event, HallState, decode, link, make_state, presence

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
                                   "ticket": {"number": "A012", "service": "pay"}, "counter": "c2"})
    try:
        img = snapshot(app)
    finally:
        app.pygame.quit()
    assert img.size == (1920, 1080)
    assert len(img.getcolors(1 << 20) or []) > 50, "a blank or flat picture"
    # the big call panel carries the ticket number in the accent colour (or white while flashing)
    layout = compute_layout(1920, 1080, "auto", ())
    panel = layout.panel
    lit = colour_share(img, (panel.left, panel.top, panel.right, panel.bottom), ACCENT) \
        + colour_share(img, (panel.left, panel.top, panel.right, panel.bottom), (255, 255, 255))
    assert lit > 0.03
    text = json.loads(app.snapshots.text_path.read_text("utf-8"))
    assert text["panel"]["number"] == "A012" and text["panel"]["counter_name"] == "2号窗口"
    assert text["screen"] == "open"


def test_outage_banner_is_drawn(tmp_path):
    app = headless_app(tmp_path)
    feed(app, make_state(seq=10, mode="outage", message="网络故障，正在抢修"))
    try:
        img = snapshot(app)
    finally:
        app.pygame.quit()
    layout = compute_layout(1920, 1080, "auto", app.view.view(time.monotonic(), datetime.now(timezone.utc)).banners)
    banner = layout.banners[0]
    assert colour_share(img, (banner.left, banner.top, banner.right, banner.bottom), OUTAGE) > 0.5
    # and nowhere else in normal mode
    app2 = headless_app(tmp_path, name="normal.png")
    feed(app2, make_state(seq=10))
    try:
        img2 = snapshot(app2)
    finally:
        app2.pygame.quit()
    assert colour_share(img2, (0, 0, 1920, 1080), OUTAGE) < 0.001


@pytest.mark.parametrize("size", [(1280, 720), (1080, 1920), (1920, 1080)])
def test_layouts_fit_the_screen(tmp_path, size):
    app = headless_app(tmp_path, size=size)
    feed(app, make_state(seq=10, mode="outage", message="停电"))
    try:
        img = snapshot(app)
    finally:
        app.pygame.quit()
    assert img.size == size
    vm = app.view.view(time.monotonic(), datetime.now(timezone.utc))
    layout = compute_layout(*size, "auto", vm.banners)
    assert layout.portrait == (size[1] > size[0])
    screen = (0, 0, *size)
    parts = [layout.panel, layout.recent, layout.counters, layout.services]
    for part in parts + [layout.header, layout.ticker] + layout.banners:
        assert part.width > 0 and part.height > 0
        assert part.left >= 0 and part.top >= 0 and part.right <= size[0] and part.bottom <= size[1], (part, screen)
    for i, a in enumerate(parts):
        for b in parts[i + 1:]:
            assert not a.colliderect(b), (a, b)
        assert not a.colliderect(layout.ticker) and not any(a.colliderect(x) for x in layout.banners)


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
    from hall.testing import start_controller
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
        shown = wait_json(png, lambda s: s["panel"] and s["panel"]["number"] == number
                          and next(c for c in s["counters"] if c["id"] == "c1")["number"] == number)
        assert shown["panel"]["counter_name"] == "1号窗口"
        assert [r["number"] for r in shown["recent"]][:1] == [number]
        img = Image.open(png)
        assert img.size == (1920, 1080) and len(img.convert("RGB").getcolors(1 << 20) or []) > 50
        # spoken once, as a whole WAV, through the audio worker
        deadline = time.monotonic() + 15
        while not list(wavs.glob("*.wav")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [f.name for f in wavs.glob("*.wav")] == [f"0001-{number}.wav"]
        # the controller stops: the screen keeps its picture under a "reconnecting" banner
        controller.stop()
        gone = wait_json(png, lambda s: any(b["kind"] == "reconnecting" for b in s["banners"]))
        assert gone["panel"]["number"] == number and gone["counters"] == shown["counters"]
        img = Image.open(png).convert("RGB")
        top = compute_layout(1920, 1080, "auto", ()).header.bottom
        assert colour_share(img, (0, top + 4, 1920, top + 40), RECONNECTING) > 0.5
        controller = start_controller(hall_config, tmp_path, admin)
        wait_json(png, lambda s: any(b["kind"] == "resumed" for b in s["banners"]))
    finally:
        kiosk.close(), counter.close()
        assert display.stop() == 0, display.output()
        controller.stop()
    offline = admin.wait_for(lambda t, d: t == f"{R}/presence/display.d1" and d and d.get("online") is False)
    assert offline["online"] is False
