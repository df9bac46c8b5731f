"""Hall audio: the call chime and the spoken call, fully offline.

A call is spoken as: chime, then Mandarin ("请A零一二号到三号窗口"), then optionally English.
The voice comes from, in order of preference:

1. a hall voice pack: a folder of recorded clips (see :class:`VoicePack` for the file names);
2. espeak-ng, run locally with ``-v cmn-latn-pinyin`` (ticket digits written as Chinese
   characters, which that voice reads correctly; ``-v zh`` does not);
3. nothing: the chime alone.

Everything is turned into one mono 16-bit PCM clip per call (:class:`Pcm`) and handed to a
player. Players block until the clip has finished, so an :class:`AudioWorker` that plays its
queue one clip after another never cuts a call off and never drops one. The worker runs on its
own thread: the screen's frame loop only puts calls on its queue.
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
from typing import Protocol

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


def synth_chime(rate: int = SAMPLE_RATE) -> Pcm:
    """A soft two-note "ding-dong" (E5 then C5) with bell-like overtones and decay."""
    notes = [(659.25, 0.0), (523.25, 0.55)]
    length = 1.6
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


# --- what is said ------------------------------------------------------------------------
def digits_as_chinese(text: str) -> str:
    """'A012' -> 'A零一二': ticket digits are read one by one."""
    return "".join(_DIGITS[int(ch)] if ch.isdigit() else ch for ch in text)


def integer_as_chinese(value: int) -> str:
    """Window numbers are read as numbers: 3 -> 三, 12 -> 十二, 20 -> 二十, 105 -> 一零五."""
    if 0 <= value < 10:
        return _DIGITS[value]
    if 10 <= value < 100:
        tens, ones = divmod(value, 10)
        return ("" if tens == 1 else _DIGITS[tens]) + "十" + ("" if ones == 0 else _DIGITS[ones])
    return digits_as_chinese(str(value))


@dataclass(frozen=True)
class CallSpeech:
    """One call to be spoken: the ticket number and where to go."""
    number: str                    # "A012"
    counter_number: int | None     # 3 -> "三号窗口"; None: the counter's name is read
    counter_name: str = ""         # "VIP窗口" when it has no number
    counter_name_en: str = ""
    recall: bool = False
    key: object = None             # the caller's identity for this call (echoed in callbacks)


def call_text_zh(call: CallSpeech) -> str:
    where = f"{integer_as_chinese(call.counter_number)}号窗口" if call.counter_number is not None \
        else digits_as_chinese(call.counter_name or "服务台")
    return f"请{digits_as_chinese(call.number)}号到{where}"


def call_text_en(call: CallSpeech) -> str:
    spelled = " ".join(call.number)
    where = f"counter {call.counter_number}" if call.counter_number is not None \
        else (call.counter_name_en or "the service desk")
    return f"Number {spelled}, please go to {where}."


def call_tokens(call: CallSpeech, language: str) -> list[str] | None:
    """The voice-pack clips that say this call, or None when the pack cannot say it."""
    prefix = f"{language}_"
    tokens = [prefix + "please"]
    for ch in call.number:
        tokens.append(prefix + ch.upper())
    if call.counter_number is None:
        return None
    tokens.append(prefix + "to_counter")
    if language == "zh":
        tokens.extend(prefix + ("10" if ch == "十" else str(_DIGITS.index(ch)))
                      for ch in integer_as_chinese(call.counter_number))
        tokens.append(prefix + "window")
    else:
        tokens.extend(prefix + d for d in str(call.counter_number))
    return tokens


# --- voices -------------------------------------------------------------------------------
class VoicePack:
    """A folder of recorded WAV clips, one per word, joined with a short gap.

    Names: ``chime.wav`` (optional), and per language ``zh_`` / ``en_`` + ``please``,
    ``0``..``9``, ``10`` (zh: 十), ``A``..``Z``, ``to_counter``, ``window`` (zh only). Mandarin
    says 请 A 零 一 二 号到 三 号窗口 with ``zh_please`` = 请, ``zh_to_counter`` = 号到,
    ``zh_window`` = 号窗口. English says "Number A zero one two, please go to counter three"
    with ``en_please`` = "Number", ``en_to_counter`` = "please go to counter".
    """

    GAP_S = 0.04

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"voice pack {self.folder}: not a folder")
        self.clips: dict[str, Pcm] = {}
        for path in sorted(self.folder.glob("*.wav")):
            self.clips[path.stem] = resample(decode_wav(path.read_bytes(), str(path)), SAMPLE_RATE)
        if "zh_please" not in self.clips:
            raise ValueError(f"voice pack {self.folder}: no zh_please.wav (not a hallq voice pack?)")

    @property
    def chime(self) -> Pcm | None:
        return self.clips.get("chime")

    def say(self, call: CallSpeech, language: str) -> Pcm | None:
        tokens = call_tokens(call, language)
        if tokens is None or any(t not in self.clips for t in tokens):
            return None
        gap = silence(self.GAP_S)
        parts: list[Pcm] = []
        for token in tokens:
            parts += [self.clips[token], gap]
        return concat(parts)


class EspeakVoice:
    """espeak-ng run locally; Mandarin with the pinyin voice, digits as Chinese characters."""

    def __init__(self, binary: str | None = None, speed: int = 140) -> None:
        found = binary or shutil.which("espeak-ng")
        if not found:
            raise ValueError("espeak-ng is not installed")
        self.binary = found
        self.speed = speed

    def speak(self, text: str, voice: str) -> Pcm:
        proc = subprocess.run([self.binary, "-v", voice, "-s", str(self.speed), "--stdout", text],
                              capture_output=True, timeout=20, check=False)
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
        return resample(decode_wav(proc.stdout, "espeak-ng"), SAMPLE_RATE)

    def say(self, call: CallSpeech, language: str) -> Pcm:
        if language == "zh":
            return self.speak(call_text_zh(call), "cmn-latn-pinyin")
        return self.speak(call_text_en(call), "en")


class Speaker:
    """Turns a call into one clip: chime, Mandarin, then English (when wanted)."""

    def __init__(self, mode: str = "auto", pack: str | None = None, english: bool = True,
                 chime_path: str | None = None, speed: int = 140) -> None:
        self.english = english
        self.pack: VoicePack | None = None
        self.espeak: EspeakVoice | None = None
        if mode in ("auto", "pack") and pack:
            try:
                self.pack = VoicePack(pack)
            except ValueError as err:
                log.error("voice pack unusable, falling back: %s", err)
        if mode in ("auto", "espeak") or (mode == "pack" and self.pack is None):
            try:
                self.espeak = EspeakVoice(speed=speed)
            except ValueError as err:
                log.warning("%s: calls get the chime only", err)
        chime: Pcm | None = None
        if chime_path:
            try:
                chime = resample(decode_wav(Path(chime_path).read_bytes(), chime_path), SAMPLE_RATE)
            except (OSError, ValueError) as err:
                log.error("chime %s unusable, using the built-in one: %s", chime_path, err)
        self.chime = chime or (self.pack.chime if self.pack else None) or synth_chime()
        self.silent = mode == "off"

    @property
    def voice_name(self) -> str:
        if self.silent:
            return "off"
        if self.pack is not None:
            return "pack"
        return "espeak" if self.espeak is not None else "chime"

    def _say(self, call: CallSpeech, language: str) -> Pcm | None:
        if self.pack is not None:
            clip = self.pack.say(call, language)
            if clip is not None:
                return clip
        if self.espeak is not None:
            try:
                return self.espeak.say(call, language)
            except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as err:
                log.error("speech failed for %s: %s", call.number, err)
        return None

    def render(self, call: CallSpeech) -> Pcm:
        if self.silent:
            return Pcm(SAMPLE_RATE, b"")
        parts = [self.chime, silence(0.25)]
        zh = self._say(call, "zh")
        if zh is not None:
            parts += [zh, silence(0.35)]
        if self.english:
            en = self._say(call, "en")
            if en is not None:
                parts += [en, silence(0.2)]
        return concat(parts)


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

    With ``pace`` it also waits as long as the clip lasts, so the screen behaves as in a hall.
    """
    name = "wav"

    def __init__(self, folder: str | os.PathLike[str], pace: bool = False) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pace = pace
        self.count = len(list(self.folder.glob("*.wav")))
        self.cancel = threading.Event()

    def play(self, clip: Pcm, label: str) -> None:
        self.count += 1
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", label)[:40]
        final = self.folder / f"{self.count:04d}-{safe}.wav"
        tmp = final.with_suffix(".part")
        tmp.write_bytes(clip.to_wav())
        os.replace(tmp, final)   # a reader never sees half a call
        if self.pace:
            self.cancel.wait(clip.duration_s)

    def close(self) -> None:
        pass


class SilentPlayer:
    """No sound device: wait as long as the clip lasts so calls keep their pace."""
    name = "silent"

    def __init__(self) -> None:
        self.cancel = threading.Event()

    def play(self, clip: Pcm, label: str) -> None:
        self.cancel.wait(clip.duration_s)

    def close(self) -> None:
        pass


def make_player(kind: str = "auto", wav_dir: str | None = None, pace: bool = True) -> Player:
    """``wav_dir`` wins (paced like a real speaker unless ``pace`` is off); else pygame.mixer,
    else aplay, else a silent pacer."""
    if wav_dir:
        return WavFilePlayer(wav_dir, pace=pace)
    order = {"auto": ["mixer", "aplay"], "mixer": ["mixer"], "aplay": ["aplay"]}.get(kind, ["mixer", "aplay"])
    for name in order:
        try:
            return MixerPlayer() if name == "mixer" else AplayPlayer()
        except Exception as err:  # noqa: BLE001 - any audio failure means: try the next player
            log.warning("audio player %s unavailable: %s", name, err)
    log.warning("no audio output: calls are shown only")
    return SilentPlayer()


# --- the worker ---------------------------------------------------------------------------
class AudioWorker:
    """Plays calls one after another on its own thread; never drops or overlaps them.

    ``on_started(key)`` and ``on_done(key)`` are called from the worker thread (give them a
    queue's ``put``). ``stop()`` finishes the clip being played, then returns.
    """

    def __init__(self, speaker: Speaker, player: Player,
                 on_started: Callable[[object], None] | None = None,
                 on_done: Callable[[object], None] | None = None) -> None:
        self.speaker = speaker
        self.player = player
        self.on_started = on_started
        self.on_done = on_done
        self.jobs: queue.Queue[CallSpeech | None] = queue.Queue()
        self.played = 0
        self._thread = threading.Thread(target=self._run, name="hallq-audio", daemon=True)
        self._thread.start()

    def submit(self, call: CallSpeech) -> None:
        self.jobs.put(call)

    def pending(self) -> int:
        return self.jobs.qsize()

    def _run(self) -> None:
        while True:
            call = self.jobs.get()
            if call is None:
                return
            try:
                clip = self.speaker.render(call)
                if self.on_started:
                    self.on_started(call.key)
                self.player.play(clip, call.number)
                self.played += 1
            except Exception:  # a sound fault must never stop the calling
                log.exception("could not play the call %s", call.number)
            finally:
                if self.on_done:
                    self.on_done(call.key)

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
