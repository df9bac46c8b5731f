"""The browser hall screen (``/screen/<display id>``): the same pure view model as the pygame
screen (:class:`display.model.HallView`) for each configured display, and its calls spoken from
WAV clips rendered here by the same :class:`hardware.audio.Speaker` (espeak-ng or a voice pack,
offline), so a TV with a browser shows and says exactly what a hallq display Pi would.
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

from display.model import HallView
from hall.config import Config
from hall.shell import Availability
from hall.wire import EventDoc, StateDoc

log = logging.getLogger(__name__)

CLIPS_KEPT = 64


class ScreenFeeds:
    def __init__(self, config: Config, availability: Availability, voice: bool = True) -> None:
        self.config = config
        self.views: dict[str, HallView] = {}
        for display in config.display:
            view = HallView(config, display, sound=voice and display.voice != "off")
            view.availability = availability
            self.views[display.id] = view
        self.voice = voice
        self._speaker: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallq-speech")
        self._clips: OrderedDict[int, asyncio.Future[bytes]] = OrderedDict()
        self._next_clip = 1
        self.spoken: dict[str, list[dict[str, Any]]] = {d: [] for d in self.views}

    # --- fed by the web role (the owner loop) ----------------------------------------------------
    def on_state(self, state: StateDoc) -> None:
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        for view in self.views.values():
            view.apply_state(state, now, wall)
        self._take_speech()

    def on_event(self, event: EventDoc) -> None:
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        for view in self.views.values():
            view.apply_event(event, now, wall)
        self._take_speech()

    def connection_changed(self) -> None:
        for view in self.views.values():
            view.connection_changed(time.monotonic())

    # --- what the page gets ------------------------------------------------------------------------
    def view(self, display_id: str) -> dict[str, Any] | None:
        view = self.views.get(display_id)
        if view is None:
            return None
        vm = view.view(time.monotonic(), datetime.now(timezone.utc))
        doc = dataclasses.asdict(vm)
        doc["speech"] = self.spoken[display_id][-8:]
        return doc

    async def clip(self, clip_id: int) -> bytes | None:
        future = self._clips.get(clip_id)
        return None if future is None else await future

    # --- speech ----------------------------------------------------------------------------------
    def _take_speech(self) -> None:
        for display_id, view in self.views.items():
            for item in view.take_speech():
                view.speech_done(item.key)       # the browser plays it; the panel need not wait
                if not self.voice:
                    continue
                clip_id = self._next_clip
                self._next_clip += 1
                self._clips[clip_id] = asyncio.get_running_loop().run_in_executor(self._pool, self._render, item)
                while len(self._clips) > CLIPS_KEPT:
                    self._clips.popitem(last=False)
                self.spoken[display_id] = (self.spoken[display_id] + [
                    {"id": clip_id, "number": item.number, "counter": item.counter_name,
                     "url": f"/screen/{display_id}/audio/{clip_id}.wav"}])[-CLIPS_KEPT:]

    def _render(self, item: Any) -> bytes:
        from hardware.audio import CallSpeech, Speaker  # noqa: PLC0415 - only when a screen speaks
        if self._speaker is None:
            display = self.config.display[0]
            self._speaker = Speaker(display.voice, display.voice_pack, display.english, display.chime,
                                    display.voice_speed)
        call = CallSpeech(item.number, item.counter_number, item.counter_name, item.counter_name_en, item.recall)
        return self._speaker.render(call).to_wav()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
