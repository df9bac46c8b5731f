"""Draw the hall screen's pictures in docs/screens/ with the real view model and renderer.

Each picture is a hall fed through :class:`display.model.HallView` as the controller would feed it
(a state, then call events and the states after them), drawn by :class:`display.render.Renderer`
with the SDL dummy driver. Run after a visible change to the screen:

    .venv/bin/python tests/make_display_screenshots.py [--out docs/screens]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402
import pygame.freetype  # noqa: E402

from hallq.display.fonts import find_font  # noqa: E402
from hallq.display.model import HallView  # noqa: E402
from hallq.display.render import Renderer, make_theme  # noqa: E402
from hallq.runtime.config import load_config  # noqa: E402
from hallq.testing import call_event  # noqa: E402
from hallq.contract import PresenceDoc, StateDoc, convert  # noqa: E402

EXAMPLE = REPO / "examples" / "hall.toml"
WALL = datetime(2026, 11, 26, 2, 31, 12, tzinfo=timezone.utc)      # 10:31 in the hall
SERVICES = [("pay", "缴费", "Payment", "A"), ("biz", "业务办理", "Applications", "B"),
            ("new", "新装增容", "New connections", "C"), ("inv", "电费发票", "Invoices", "D"),
            ("pv", "光伏并网", "Solar grid connection", "E")]


def big_hall(tmp: Path, counters: int) -> Path:
    text = EXAMPLE.read_text("utf-8")
    head, tail = text[: text.index("[[service]]")], text[text.index("[[kiosk]]"):]
    ids = [s[0] for s in SERVICES]
    services = "".join(f'[[service]]\nid = "{i}"\nname = "{n}"\nname_en = "{e}"\nprefix = "{p}"\n\n'
                       for i, n, e, p in SERVICES)
    desks = "".join(f'[[counter]]\nid = "c{k}"\nname = "{k}号窗口"\nservices = {ids!r}\n\n'.replace("'", '"')
                    for k in range(1, counters + 1))
    path = tmp / "big-hall.toml"
    path.write_text(head + services + desks + tail, "utf-8")
    return path


def state_doc(config, seq: int, at: dict[str, tuple[str, str, int]], *, mode: str = "open", message: str | None = None,
              suspended: tuple[str, ...] = (), waiting: int = 23, notices: tuple[str, ...] = ()) -> StateDoc:
    services = [{"id": s.id, "name": s.name, "name_en": s.name_en, "prefix": s.prefix, "suspended": False,
                 "waiting": waiting + 7 * i, "est_wait_s": 60 * (8 + 5 * i)} for i, s in enumerate(config.service)]
    counters = []
    for k, c in enumerate(config.counter, start=1):
        ticket = at.get(c.id)
        status = "suspended" if c.id in suspended else "serving" if ticket else "idle"
        counters.append({"id": c.id, "name": c.name, "number": k, "status": status,
                         "ticket": None if ticket is None else {"number": ticket[0], "service": ticket[1],
                                                                "called_at": WALL.isoformat(), "recalls": ticket[2]}})
    recent = [{"number": t[0], "counter": cid, "at": (WALL - timedelta(seconds=30 * i)).isoformat()}
              for i, (cid, t) in enumerate(sorted(at.items()))]
    return convert({"hall": "h1", "epoch": 3, "seq": seq, "mode": mode, "message": message, "services": services,
                    "counters": counters, "recent_calls": recent, "announcements": list(notices)}, StateDoc)


def draw(config, view: HallView, size: tuple[int, int], path: Path, now: float) -> None:
    surface = pygame.display.set_mode(size)
    font, index = find_font(None)
    renderer = Renderer(surface, make_theme({}), font, index, "auto", True, config.display[0].overscan)
    renderer.draw(view.view(now, WALL), now)
    pygame.image.save(surface, str(path))
    print("wrote", path)


def fresh_view(config) -> HallView:
    view = HallView(config, config.display[0], sound=False)
    view.availability.link(True)
    view.availability.presence(PresenceDoc(online=True, epoch=3))
    return view


def small_hall(out: Path) -> None:
    config = load_config(EXAMPLE)
    notices = ("今日16:00起暂停办理过户业务，敬请谅解 Transfers are not handled after 16:00 today",)
    at = {"c1": ("A031", "pay", 0), "c2": ("B007", "biz", 0)}
    view = fresh_view(config)
    view.apply_state(state_doc(config, 40, at, suspended=("c4",), notices=notices), 0.0, WALL)
    draw(config, view, (1920, 1080), out / "normal.png", 100.0)
    at["c3"] = ("A032", "pay", 0)
    view.apply_event(call_event(3, 41, "c3", "A032", "pay", WALL), 200.0, WALL)
    view.apply_state(state_doc(config, 41, at, suspended=("c4",), notices=notices), 200.0, WALL)
    draw(config, view, (1920, 1080), out / "calling.png", 200.5)
    view.apply_state(state_doc(config, 42, at, mode="outage", message="系统维护，业务照常取号，请耐心等候",
                               suspended=("c4",), notices=notices), 300.0, WALL)
    draw(config, view, (1920, 1080), out / "outage.png", 300.1)


def busy_hall(out: Path, tmp: Path) -> None:
    config = load_config(big_hall(tmp, 40))
    rng = random.Random(4)
    at: dict[str, tuple[str, str, int]] = {}
    numbers = {s[0]: 40 + 9 * i for i, s in enumerate(SERVICES)}
    for c in config.counter:
        if rng.random() < 0.8:
            service = rng.choice(SERVICES)
            numbers[service[0]] += 1
            at[c.id] = (f"{service[3]}{numbers[service[0]]:03d}", service[0], 0)
    view = fresh_view(config)
    suspended = ("c7", "c23")
    view.apply_state(state_doc(config, 500, at, suspended=suspended, waiting=61), 0.0, WALL)
    seq = 500
    for k, counter in enumerate(rng.sample([c.id for c in config.counter if c.id not in suspended], 8)):
        service = rng.choice(SERVICES)
        numbers[service[0]] += 1
        number = f"{service[3]}{numbers[service[0]]:03d}"
        at[counter] = (number, service[0], 1 if k == 5 else 0)
        seq += 1
        view.apply_event(call_event(3, seq, counter, number, service[0], WALL, recalls=at[counter][2]),
                         100.0 + 0.1 * k, WALL)
        view.apply_state(state_doc(config, seq, at, suspended=suspended, waiting=61), 100.0 + 0.1 * k, WALL)
    draw(config, view, (1920, 1080), out / "busy-40.png", 101.0)
    draw(config, view, (1080, 1920), out / "busy-40-portrait.png", 101.6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screens")
    opts = parser.parse_args()
    opts.out.mkdir(parents=True, exist_ok=True)
    pygame.display.init()
    pygame.freetype.init()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        small_hall(opts.out)
        busy_hall(opts.out, Path(tmp))
    pygame.quit()


if __name__ == "__main__":
    main()
