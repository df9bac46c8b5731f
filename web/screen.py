"""The browser hall screen (``/screen/<display id>``): the same pure view model as the pygame
screen (:class:`display.model.HallView`) for each configured display, the same voice queue
(:class:`display.voice.VoiceQueue`: what is said, in which form, what is skipped), and each
utterance rendered here as a WAV clip by the same :class:`hardware.speech.Speaker` (espeak-ng or a
voice pack, offline), so a TV with a browser shows and says what a hallq display Pi would. The
browser plays clips one after another; the queue here is asked for the next one when the last
clip's length has passed.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from hallq.contract import StateDoc, WireEvent
from hallq.device.shell import Availability
from hallq.display.i18n import words
from hallq.display.layout import compute_layout, layout_doc
from hallq.display.model import HallView
from hallq.display.theme import make_theme
from hallq.display.voice import VoicePolicy, VoiceQueue
from hallq.errors import ConfigError
from hallq.hardware.audio import SAMPLE_RATE
from hallq.runtime.config import Config

log = logging.getLogger(__name__)

CLIPS_KEPT = 64
LAYOUTS_KEPT = 64        # layouts by screen size and banners (a hall has few TVs; a resize is one more)
BANNER_KINDS = ("outage", "reconnecting", "resumed")
WAV_HEADER = 44          # bytes before the samples in the WAVs Pcm.to_wav writes


class ScreenFeeds:
    def __init__(self, config: Config, availability: Availability, voice: bool = True) -> None:
        self.config = config
        self.views: dict[str, HallView] = {}
        self.queues: dict[str, VoiceQueue] = {}
        self.free_at: dict[str, float] = {}          # when the browser will have finished the last clip
        for display in config.display:
            view = HallView(config, display, sound=voice and display.voice != "off")
            view.availability = availability
            self.views[display.id] = view
            self.queues[display.id] = VoiceQueue(VoicePolicy(
                repeats=display.repeat, english=display.english, english_max_backlog=display.english_max_backlog,
                max_delay_s=display.voice_max_delay_s))
            self.free_at[display.id] = 0.0
        self.voice = voice
        self._speaker: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallq-speech")
        self._clips: OrderedDict[int, asyncio.Future[bytes]] = OrderedDict()
        self._next_clip = 1
        self._layouts: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self.spoken: dict[str, list[dict[str, Any]]] = {d: [] for d in self.views}

    # --- fed by the web role (the owner loop) ----------------------------------------------------
    def on_state(self, state: StateDoc) -> None:
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        for view in self.views.values():
            view.apply_state(state, now, wall)
        self._take_speech()

    def on_event(self, event: WireEvent) -> None:
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        for view in self.views.values():
            view.apply_event(event, now, wall)
        self._take_speech()

    def connection_changed(self) -> None:
        for view in self.views.values():
            view.connection_changed(time.monotonic())

    def tick(self) -> None:
        """Called every owner tick: the next utterance when the last clip has had its time."""
        self._take_speech()

    # --- what the page gets ------------------------------------------------------------------------
    def view(self, display_id: str) -> dict[str, Any] | None:
        view = self.views.get(display_id)
        if view is None:
            return None
        vm = view.view(time.monotonic(), datetime.now(timezone.utc))
        doc = dataclasses.asdict(vm)
        doc["speech"] = self.spoken[display_id][-8:]
        return doc

    def layout(self, display_id: str, width: int, height: int, banners: tuple[tuple[str, bool], ...],
               notices: bool) -> dict[str, Any] | None:
        """Where each part of the screen goes at this size: the pygame screen's own layout engine
        (display/layout.py), so a TV's browser shows a hall as a display Pi does."""
        view = self.views.get(display_id)
        if view is None:
            return None
        key = (display_id, width, height, banners, notices)
        doc = self._layouts.get(key)
        if doc is None:
            display = view.display
            state = view.view(time.monotonic(), datetime.now(timezone.utc))
            doc = layout_doc(compute_layout(width, height, display.orientation, n_counters=len(state.counters),
                                            n_services=len(state.services), banners=banners, notices=notices,
                                            overscan=display.overscan))
            doc["show_english"] = display.show_english
            doc["words"] = words()
            try:
                theme = make_theme(display.theme, f"display {display.id} theme", self.config.path)
            except ConfigError as err:       # the display Pi refuses to start on it; the browser shows defaults
                log.warning("%s", err)
                theme = make_theme({})
            doc["theme"] = {key: "#%02x%02x%02x" % colour for key, colour in theme.items()}
            self._layouts[key] = doc
            while len(self._layouts) > LAYOUTS_KEPT:
                self._layouts.popitem(last=False)
        return doc

    async def clip(self, clip_id: int) -> bytes | None:
        future = self._clips.get(clip_id)
        return None if future is None else await future

    # --- speech ----------------------------------------------------------------------------------
    def _take_speech(self) -> None:
        now = time.monotonic()
        for display_id, view in self.views.items():
            queue = self.queues[display_id]
            for item in view.take_announcements():
                queue.add(item)
            if not self.voice or now < self.free_at[display_id] or not len(queue):
                continue
            utterance = queue.next(now, view.is_live)
            if utterance is None:
                continue
            clip_id = self._next_clip
            self._next_clip += 1
            self.free_at[display_id] = float("inf")      # until the clip is rendered and its length known
            future = asyncio.get_running_loop().run_in_executor(self._pool, self._render, display_id, utterance)
            future.add_done_callback(lambda f, d=display_id: self._rendered(d, f))
            self._clips[clip_id] = future
            while len(self._clips) > CLIPS_KEPT:
                self._clips.popitem(last=False)
            self.spoken[display_id] = (self.spoken[display_id] + [
                {"id": clip_id, "number": utterance.label, "counter": utterance.calls[0].counter_name,
                 "url": f"/screen/{display_id}/audio/{clip_id}.wav"}])[-CLIPS_KEPT:]

    def _rendered(self, display_id: str, future: asyncio.Future[bytes]) -> None:
        seconds = 0.0
        if not future.cancelled() and future.exception() is None:
            seconds = max(0, len(future.result()) - WAV_HEADER) / 2 / SAMPLE_RATE   # mono, 16-bit
        self.free_at[display_id] = time.monotonic() + seconds
        self.queues[display_id].finished(self.free_at[display_id])

    def _render(self, display_id: str, utterance: Any) -> bytes:
        from hallq.hardware.speech import Speaker  # noqa: PLC0415 - only when a screen speaks
        if self._speaker is None:
            display = self.config.display_by_id(display_id) or self.config.display[0]
            self._speaker = Speaker(display.voice, display.voice_pack, display.chime, display.voice_speed,
                                    display.voice_busy_speed)
        return self._speaker.render(utterance).to_wav()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
