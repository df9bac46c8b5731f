"""Hall audio: PCM clips, the chime, players that block until a clip has been heard, and the
worker thread that plays what the screen decided to say (:mod:`hardware.speech` builds the clip).

Everything is one mono 16-bit PCM clip per utterance (:class:`Pcm`) handed to a player. Players
block until the clip has finished, so an :class:`AudioWorker` never cuts a call off mid-word and
never overlaps two. The worker runs on its own thread: the screen's owner loop only hands it
utterances, one at a time, when it is free.
"""
from __future__ import annotations

import array
import io
import logging
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050          # espeak-ng's native rate; packs are converted to it
_DIGITS = "零一二三四五六七八九"


# --- PCM clips ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Pcm:
    """Mono, signed 16-bit little-endian samples."""
    rate: int
    data: bytes

    @property
    def frames(self) -> int:
        return len(self.data) // 2

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def to_wav(self) -> bytes:
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(self.data)
        return out.getvalue()


def silence(seconds: float, rate: int = SAMPLE_RATE) -> Pcm:
    return Pcm(rate, bytes(2 * int(seconds * rate)))


def concat(clips: list[Pcm], rate: int = SAMPLE_RATE) -> Pcm:
    return Pcm(rate, b"".join(resample(c, rate).data for c in clips))


def resample(clip: Pcm, rate: int) -> Pcm:
    """Linear-interpolation resampling; good enough for speech and chimes."""
    if clip.rate == rate or not clip.data:
        return Pcm(rate, clip.data)
    src = array.array("h")
    src.frombytes(clip.data)
    if sys.byteorder == "big":
        src.byteswap()
    n_out = max(1, int(len(src) * rate / clip.rate))
    step = clip.rate / rate
    last = len(src) - 1
    out = array.array("h", bytes(2 * n_out))
    for i in range(n_out):
        pos = i * step
        j = int(pos)
        if j >= last:
            out[i] = src[last]
        else:
            frac = pos - j
            out[i] = int(src[j] + (src[j + 1] - src[j]) * frac)
    if sys.byteorder == "big":
        out.byteswap()
    return Pcm(rate, out.tobytes())


def decode_wav(raw: bytes, source: str = "<wav>") -> Pcm:
    """Any 8/16-bit mono or stereo PCM WAV to our mono 16-bit form (ValueError if not PCM WAV)."""
    try:
        with wave.open(io.BytesIO(raw), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{source}: not a PCM WAV file ({err})") from None
    if width == 1:  # unsigned 8-bit
        samples = array.array("h", ((b - 128) << 8 for b in frames))
    elif width == 2:
        samples = array.array("h")
        samples.frombytes(frames[: len(frames) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()
    else:
        raise ValueError(f"{source}: {8 * width}-bit samples; use 8- or 16-bit PCM")
    if channels == 2:
        samples = array.array("h", ((samples[i] + samples[i + 1]) // 2 for i in range(0, len(samples) - 1, 2)))
    elif channels != 1:
        raise ValueError(f"{source}: {channels} channels; use mono or stereo")
    if sys.byteorder == "big":
        samples.byteswap()
    return Pcm(rate, samples.tobytes())


def trim(clip: Pcm, threshold: int = 400, margin_s: float = 0.02) -> Pcm:
    """The clip without its leading and trailing silence (a short margin kept)."""
    samples = array.array("h")
    samples.frombytes(clip.data)
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [i for i in range(len(samples)) if abs(samples[i]) > threshold]
    if not loud:
        return clip
    margin = int(margin_s * clip.rate)
    first, last = max(0, loud[0] - margin), min(len(samples), loud[-1] + margin)
    return Pcm(clip.rate, clip.data[2 * first: 2 * last])


def synth_chime(rate: int = SAMPLE_RATE, notes: tuple[tuple[float, float], ...] = ((659.25, 0.0), (523.25, 0.55)),
                length: float = 1.6) -> Pcm:
    """A soft two-note "ding-dong" (E5 then C5) with bell-like overtones and decay; other ``notes``
    (frequency, start in seconds) make other chimes."""
    n = int(length * rate)
    acc = [0.0] * n
    for freq, start in notes:
        first = int(start * rate)
        for i in range(first, n):
            t = (i - first) / rate
            env = math.exp(-3.2 * t) * min(1.0, t / 0.006)
            acc[i] += env * (math.sin(2 * math.pi * freq * t)
                             + 0.35 * math.sin(2 * math.pi * 2 * freq * t)
                             + 0.12 * math.sin(2 * math.pi * 3 * freq * t))
    peak = max(abs(v) for v in acc) or 1.0
    samples = array.array("h", (int(v / peak * 0.6 * 32767) for v in acc))
    if sys.byteorder == "big":
        samples.byteswap()
    return Pcm(rate, samples.tobytes())


RECALL_NOTES = ((523.25, 0.0), (659.25, 0.22), (783.99, 0.44), (1046.5, 0.66))


def synth_brief_chime(rate: int = SAMPLE_RATE) -> Pcm:
    """The first note of the "ding-dong" alone (0.6 s): starts a run of calls that came together,
    where the full chime's 1.6 s would push the last of eight past 20 s."""
    return synth_chime(rate, ((659.25, 0.0),), 0.6)


def synth_recall_chime(rate: int = SAMPLE_RATE) -> Pcm:
    """A recall's own chime: four rising notes (C5 E5 G5 C6), unlike a first call's falling
    "ding-dong", so a customer who missed the first call hears that this one is the second."""
    return synth_chime(rate, RECALL_NOTES, 2.0)


# --- players: each blocks until the clip has been heard -----------------------------------
class Player(Protocol):
    name: str

    def play(self, clip: Pcm, label: str) -> None: ...

    def close(self) -> None: ...


class MixerPlayer:
    """pygame.mixer; its own init at our rate, mono."""
    name = "mixer"

    def __init__(self) -> None:
        import pygame  # noqa: PLC0415 - only screens load pygame
        pygame.mixer.pre_init(SAMPLE_RATE, -16, 1, 1024)
        pygame.mixer.init()
        got = pygame.mixer.get_init()
        if not got:
            raise RuntimeError("pygame.mixer did not start")
        self.rate, _, self.channels = got
        self._pygame = pygame
        self.cancel = threading.Event()     # set only when the screen shuts down

    def play(self, clip: Pcm, label: str) -> None:
        if not clip.data:
            return
        pcm = resample(clip, self.rate)
        data = pcm.data
        if self.channels == 2:
            mono = array.array("h")
            mono.frombytes(data)
            stereo = array.array("h", bytes(4 * len(mono)))
            stereo[0::2] = mono
            stereo[1::2] = mono
            data = stereo.tobytes()
        sound = self._pygame.mixer.Sound(buffer=data)
        channel = sound.play()
        deadline = time.monotonic() + pcm.duration_s + 5
        self.cancel.wait(min(pcm.duration_s, 0.05))
        while channel is not None and channel.get_busy() and time.monotonic() < deadline:
            if self.cancel.wait(0.02):
                channel.stop()
                return

    def close(self) -> None:
        self._pygame.mixer.quit()


class AplayPlayer:
    """ALSA's aplay, fed the WAV on stdin."""
    name = "aplay"

    def __init__(self) -> None:
        found = shutil.which("aplay")
        if not found:
            raise RuntimeError("aplay is not installed")
        self.binary = found

    def play(self, clip: Pcm, label: str) -> None:
        if not clip.data:
            return
        subprocess.run([self.binary, "-q", "-"], input=clip.to_wav(), timeout=clip.duration_s + 10, check=False)

    def close(self) -> None:
        pass


class WavFilePlayer:
    """Headless rigs and tests: each call becomes ``NNNN-<label>.wav`` in a folder.

    With ``pace`` it also waits as long as the clip lasts (divided by ``speed`` when the screen
    runs on a simulated clock), so the screen behaves as in a hall.
    """
    name = "wav"

    def __init__(self, folder: str | os.PathLike[str], pace: bool = False, speed: float = 1.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pace = pace
        self.speed = speed
        self.count = len(list(self.folder.glob("*.wav")))
        self.cancel = threading.Event()

    def play(self, clip: Pcm, label: str) -> None:
        self.count += 1
        safe = re.sub(r"[^A-Za-z0-9_~+-]", "_", label)[:40]
        final = self.folder / f"{self.count:04d}-{safe}.wav"
        tmp = final.with_suffix(".part")
        tmp.write_bytes(clip.to_wav())
        os.replace(tmp, final)   # a reader never sees half a call
        if self.pace:
            self.cancel.wait(clip.duration_s / self.speed)

    def close(self) -> None:
        pass


class SilentPlayer:
    """No sound device: wait as long as the clip lasts so calls keep their pace."""
    name = "silent"

    def __init__(self, speed: float = 1.0) -> None:
        self.cancel = threading.Event()
        self.speed = speed

    def play(self, clip: Pcm, label: str) -> None:
        self.cancel.wait(clip.duration_s / self.speed)

    def close(self) -> None:
        pass


def make_player(kind: str = "auto", wav_dir: str | None = None, pace: bool = True, speed: float = 1.0) -> Player:
    """``wav_dir`` wins (paced like a real speaker unless ``pace`` is off; ``speed`` > 1: a
    simulated clock, paced that much faster); else pygame.mixer, else aplay, else a silent pacer."""
    if wav_dir:
        return WavFilePlayer(wav_dir, pace=pace, speed=speed)
    if speed != 1.0:
        return SilentPlayer(speed)          # a sped-up day cannot be heard; keep its pace
    order = {"auto": ["mixer", "aplay"], "mixer": ["mixer"], "aplay": ["aplay"]}.get(kind, ["mixer", "aplay"])
    for name in order:
        try:
            return MixerPlayer() if name == "mixer" else AplayPlayer()
        except Exception as err:  # noqa: BLE001 - any audio failure means: try the next player
            log.warning("audio player %s unavailable: %s", name, err)
    log.warning("no audio output: calls are shown only")
    return SilentPlayer(speed)


# --- the worker ---------------------------------------------------------------------------
class Renders(Protocol):
    """What the worker needs of a speaker (:class:`hardware.speech.Speaker`)."""
    def render_parts(self, utterance: Any) -> list[Pcm]: ...


class AudioWorker:
    """Plays utterances one after another on its own thread; never overlaps them.

    An utterance is played phrase by phrase; once :attr:`cut_short` is set (the screen has more
    calls waiting) it ends after the phrase being said, so a repeat or the English line never
    delays the next call, and nothing is cut off mid-word. ``on_started(key)`` and
    ``on_done(key)`` are called from the worker thread (give them a queue's ``put``). ``warm_up`` runs first on the worker's thread (e.g. the speaker's
    :meth:`~hardware.speech.Speaker.prepare`), so a screen starts at once. ``stop()`` finishes the
    clip being played, then returns.
    """

    def __init__(self, speaker: Renders, player: Player,
                 on_started: Callable[[object], None] | None = None,
                 on_done: Callable[[object], None] | None = None,
                 warm_up: Callable[[], None] | None = None) -> None:
        self.speaker = speaker
        self.player = player
        self.on_started = on_started
        self.on_done = on_done
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.played = 0
        self.cut_short = threading.Event()
        if warm_up is not None:
            self.jobs.put(_WarmUp(warm_up))
        self._thread = threading.Thread(target=self._run, name="hallq-audio", daemon=True)
        self._thread.start()

    def submit(self, utterance: Any) -> None:
        """``utterance`` has ``key`` and ``label`` (:class:`hardware.speech.Utterance`)."""
        self.cut_short.clear()
        self.jobs.put(utterance)

    def pending(self) -> int:
        return self.jobs.qsize()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if isinstance(job, _WarmUp):
                try:
                    job.run()
                except Exception:  # noqa: BLE001 - a voice that cannot warm up still speaks, slower
                    log.exception("preparing the voice failed")
                continue
            try:
                parts = self.speaker.render_parts(job)
                if self.on_started:
                    self.on_started(job.key)
                for i, clip in enumerate(parts):
                    if i and self.cut_short.is_set():
                        break                   # others are waiting: the rest of this one is left unsaid
                    self.player.play(clip, job.label if i == 0 else f"{job.label}~{i + 1}")
                self.played += 1
            except Exception:  # a sound fault must never stop the calling
                log.exception("could not play the call %s", job.label)
            finally:
                if self.on_done:
                    self.on_done(job.key)

    def stop(self, timeout: float = 30.0, drain: bool = True) -> None:
        """Finish the clip being played; with ``drain`` the calls still queued are not played."""
        if drain:
            while True:
                try:
                    self.jobs.get_nowait()
                except queue.Empty:
                    break
            cancel = getattr(self.player, "cancel", None)
            if cancel is not None:          # shutting down: the clip in play may stop short
                cancel.set()
        self.jobs.put(None)
        self._thread.join(timeout)
        try:
            self.player.close()
        except Exception:  # noqa: BLE001
            log.debug("player close failed", exc_info=True)


@dataclass(frozen=True)
class _WarmUp:
    run: Callable[[], None]
