"""``hallq display``: the hall TV screen.

A role over the device shell (hallq/device/shell.py), whose owner loop is the frame loop: paho's callbacks
and the audio worker only put items on the inbox; the shell routes the decoded state, events and
the controller's availability here, applied to the :class:`~display.model.HallView`, and a frame
is drawn every ``1/fps`` seconds. Nothing in the loop blocks: sound plays on the audio worker's
thread, and headless snapshots are encoded and written by a writer thread.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallq.contract import StateDoc, WireEvent
from hallq.device.shell import DeviceRole, DeviceShell
from hallq.runtime.clock import Clock
from hallq.runtime.config import Config, DisplayConfig
from hallq.runtime.loop import StopFlag

from .model import HallView
from .voice import VoicePolicy, VoiceQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechDone:
    key: Any


@dataclass
class Metrics:
    frame_s: list[float] = field(default_factory=list)         # draw + flip per frame
    event_to_frame_s: list[float] = field(default_factory=list)
    keep: int = 100_000


class SnapshotWriter:
    """Encodes and writes PNG snapshots off the frame loop; only the newest frame is kept.

    Next to ``x.png`` it writes ``x.json``: the view model drawn in that frame (what the screen
    says, as text), for monitoring, the demo's text view and tests.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.text_path = self.path.with_suffix(".json")
        self.jobs: queue.Queue[tuple[bytes, tuple[int, int], dict[str, Any]] | None] = queue.Queue(maxsize=1)
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="hallq-snapshot", daemon=True)
        self._thread.start()

    def offer(self, rgb: bytes, size: tuple[int, int], text: dict[str, Any]) -> None:
        try:
            self.jobs.get_nowait()               # drop an older frame not yet written
        except queue.Empty:
            pass
        try:
            self.jobs.put_nowait((rgb, size, text))
        except queue.Full:
            pass

    def _run(self) -> None:
        from PIL import Image  # noqa: PLC0415
        while True:
            job = self.jobs.get()
            if job is None:
                return
            rgb, size, text = job
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp_text = self.text_path.with_name(self.text_path.name + ".tmp")
            try:
                Image.frombytes("RGB", size, rgb).save(tmp, format="PNG")
                os.replace(tmp, self.path)       # readers never see half a picture
                tmp_text.write_text(json.dumps(text, ensure_ascii=False, indent=1), "utf-8")
                os.replace(tmp_text, self.text_path)
                self.written += 1
            except OSError as err:
                log.error("cannot write snapshot %s: %s", self.path, err)

    def stop(self) -> None:
        while True:
            try:
                self.jobs.put(None, timeout=5)
                break
            except queue.Full:
                continue
        self._thread.join(10)


class DisplayRole(DeviceRole):
    kind = "display"
    wants_events = True

    def __init__(self, config: Config, display: DisplayConfig, *, headless: bool = False,
                 snapshot: str | None = None, sound: bool = True,
                 size: tuple[int, int] | None = None, clock: Clock | None = None) -> None:
        self.config = config
        self.display = display
        self.headless = headless
        self.clock = clock or Clock()        # the screen's clock: real, or the demo's simulated day
        self.tick_s = 1.0 / max(1, display.fps)
        self.stop_flag = StopFlag()
        self.metrics = Metrics()
        self.sound = sound and display.voice != "off"
        self.view = HallView(config, display, sound=self.sound)
        self.voice = VoiceQueue(VoicePolicy(repeats=display.repeat, english=display.english,
                                            english_max_backlog=display.english_max_backlog,
                                            max_delay_s=display.voice_max_delay_s))
        self.speaking: Any = None            # the key of the utterance being said
        self._unshown_since: list[float] = []   # arrival times of news not yet on a frame
        self.snapshot_every_s = 1.0
        self._last_snapshot = 0.0
        self._last_snapshot_key: int | None = None
        self._force_snapshot = False
        self._last_frame_at = 0.0

        from .fonts import check_glyphs, find_font  # noqa: PLC0415 - pygame only here
        from .render import Renderer, make_theme  # noqa: PLC0415
        index = config.display.index(display)
        theme = make_theme(display.theme, f"display[{index}].theme", config.path)
        font_path, font_index = find_font(display.font, f"display[{index}].font", config.path or "<config>")
        if headless:
            os.environ["SDL_VIDEODRIVER"] = "dummy"
        import pygame  # noqa: PLC0415
        self.pygame = pygame
        pygame.display.init()
        pygame.freetype.init()
        width, height = size or (display.width, display.height)
        flags = pygame.FULLSCREEN if display.fullscreen and not headless else 0
        self.screen = pygame.display.set_mode((width, height), flags)
        pygame.display.set_caption(f"hallq {config.hall.name}")
        if not headless:
            pygame.mouse.set_visible(False)
        self.renderer = Renderer(self.screen, theme, font_path, font_index, display.orientation, display.show_english,
                                 display.overscan)
        check_glyphs(self.renderer.text.regular, font_path, config, f"display[{index}].font")
        self.snapshots = SnapshotWriter(snapshot) if snapshot else None
        self.audio = None

    def attach(self, shell: DeviceShell) -> None:
        super().attach(shell)
        self.view.availability = shell.availability
        if self.sound:
            from hallq.hardware.audio import AudioWorker, make_player  # noqa: PLC0415
            from hallq.hardware.speech import Speaker  # noqa: PLC0415
            display = self.display
            speaker = Speaker(display.voice, display.voice_pack, display.chime, display.voice_speed,
                              display.voice_busy_speed)
            player = make_player(display.audio_player, display.audio_out, speed=self.clock.speed)
            counters = [(self.config.counter_number(c.id), c.name, f"Counter {self.config.counter_number(c.id)}")
                        for c in self.config.counter]
            self.audio = AudioWorker(speaker, player,
                                     on_done=lambda k: shell.inbox.put(SpeechDone(k)),
                                     warm_up=lambda: speaker.prepare(counters))
            log.info("calls spoken with voice=%s through %s", speaker.voice_name, player.name)

    # --- what the shell routes here -------------------------------------------------------------
    def _news(self) -> None:
        self._unshown_since.append(self.shell.arrived)

    def on_state(self, state: StateDoc) -> None:
        self.view.apply_state(state, self.clock.now(), self.clock.wall())
        self._news()

    def on_event(self, event: WireEvent) -> None:
        if self.view.apply_event(event, self.clock.now(), self.clock.wall()):
            self._news()

    def on_link(self, up: bool) -> None:
        if not up:
            log.warning("broker connection lost; showing the last picture")
        self.view.connection_changed(self.clock.now())

    def on_availability(self, available: bool) -> None:
        self.view.connection_changed(self.clock.now())
        self._news()

    def on_sim(self, payload: dict[str, Any]) -> None:
        if payload.get("snapshot"):
            self._force_snapshot = True

    def on_input(self, item: Any) -> None:
        if isinstance(item, SpeechDone):
            self.speaking = None
            self.voice.finished(self.clock.now())

    def refresh(self, now: float) -> None:
        self._feed_voice()
        if self._unshown_since and self.shell.inbox.empty():
            # show news at once rather than at the next tick; a burst is drawn once, after its last message
            self.frame()

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"screen": "ok", "size": list(self.screen.get_size())}
        if self.audio is not None:
            status["voice"] = self.audio.speaker.voice_name
            status["audio"] = self.audio.player.name
            status["voice_backlog"] = len(self.voice)
        else:
            status["voice"] = "off"
        return status

    def _feed_voice(self) -> None:
        """New calls to the voice queue; the next utterance to the speaker when it is free (the
        queue decides then, with the hall as it is at that moment)."""
        for item in self.view.take_announcements():
            self.voice.add(item)
        if self.audio is None or not len(self.voice):
            return
        if self.speaking is not None:
            self.audio.cut_short.set()            # say no repeat or English while others wait
            return
        utterance = self.voice.next(self.clock.now(), self.view.is_live)
        if utterance is not None:
            self.speaking = utterance.key
            self.audio.submit(utterance)

    # --- frames ---------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        pygame = self.pygame
        for ev in pygame.event.get():
            if ev.type == pygame.QUIT or (ev.type == pygame.KEYDOWN and ev.key in (pygame.K_ESCAPE, pygame.K_q)):
                self.stop_flag.set()
        if now - self._last_frame_at >= 0.5 / max(1, self.display.fps):
            self.frame(now)

    def frame(self, now: float | None = None) -> None:
        start = time.monotonic()
        screen_now = self.clock.now()
        vm = self.view.view(screen_now, self.clock.wall())
        self.renderer.draw(vm, screen_now)
        self.pygame.display.flip()
        done = time.monotonic()
        self._last_frame_at = done
        m = self.metrics
        if len(m.frame_s) < m.keep:
            m.frame_s.append(done - start)
        if self._unshown_since:
            if len(m.event_to_frame_s) < m.keep:
                m.event_to_frame_s.extend(done - t for t in self._unshown_since)
            self._unshown_since.clear()
        if self.snapshots is not None:
            key = self.renderer.static_key
            due = done - self._last_snapshot >= self.snapshot_every_s
            if self._force_snapshot or key != self._last_snapshot_key or due:
                self._force_snapshot = False
                self._last_snapshot = done
                self._last_snapshot_key = key
                text = {**dataclasses.asdict(vm), "frame": self.renderer.frames}
                self.snapshots.offer(self.pygame.image.tobytes(self.screen, "RGB"), self.screen.get_size(), text)

    # --- life -----------------------------------------------------------------------------------
    def start(self) -> None:
        self.frame()

    def close(self) -> None:
        if self.audio is not None:
            self.audio.stop(timeout=15)
        if self.snapshots is not None:
            self.frame()
            self.snapshots.stop()
        self.pygame.quit()
