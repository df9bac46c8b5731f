"""What a hall says when it calls a ticket, and the voices that say it, fully offline.

A call is said the way halls say it: "请A零一二号到三号窗口" (ticket digits one by one, the window
number as a number), twice when the hall is quiet; "再次呼叫" before a recall; the English phrase
only when nothing else is waiting to be said; and a short, quicker form ("A零一二号，三号窗口")
while calls queue up. *What* is said (how many times, in which form) is decided by the screen's
voice queue (``display/voice.py``); this module turns that decision, an :class:`Utterance`, into
one PCM clip.

Voices, in order of preference:

1. a hall voice pack: a folder of recorded clips, one per word (see :class:`VoicePack`);
2. espeak-ng, run locally with ``-v cmn-latn-pinyin`` (ticket digits written as Chinese
   characters, which that voice reads correctly; ``-v zh`` does not);
3. nothing: the chime alone.

Clips are prepared ahead and joined at call time: the fixed phrases and every configured
counter's "到三号窗口" are synthesized when the speaker starts (:meth:`Speaker.prepare`), and each
ticket number's part once, then kept; a call is then a join of cached PCM, so its first sound
(the chime) starts within milliseconds of the screen deciding to say it.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .audio import SAMPLE_RATE, Pcm, concat, decode_wav, resample, silence, synth_brief_chime, synth_chime, synth_recall_chime, trim

log = logging.getLogger(__name__)

_DIGITS = "零一二三四五六七八九"
GAP_BETWEEN_REPEATS_S = 0.45
GAP_AFTER_CHIME_S = 0.25
GAP_BETWEEN_CALLS_S = 0.35


# --- what is said ------------------------------------------------------------------------
def digits_as_chinese(text: str) -> str:
    """'A012' -> 'A零一二': ticket digits are read one by one (ASCII digits only)."""
    return "".join(_DIGITS[ord(ch) - 48] if "0" <= ch <= "9" else ch for ch in text)


def integer_as_chinese(value: int) -> str:
    """Window numbers are read as numbers: 3 -> 三, 12 -> 十二, 20 -> 二十, 105 -> 一零五."""
    if 0 <= value < 10:
        return _DIGITS[value]
    if 10 <= value < 100:
        tens, ones = divmod(value, 10)
        return ("" if tens == 1 else _DIGITS[tens]) + "十" + ("" if ones == 0 else _DIGITS[ones])
    return digits_as_chinese(str(value))


@dataclass(frozen=True)
class SpokenCall:
    """One call: the ticket number and where to go."""
    number: str                    # "A012"
    counter_number: int | None     # 3 -> "三号窗口"; None: the counter's name is read
    counter_name: str = ""         # "VIP窗口" when it has no number
    counter_name_en: str = ""
    recall: bool = False


@dataclass(frozen=True)
class Utterance:
    """What the speaker says in one go (decided by the screen's voice queue)."""
    calls: tuple[SpokenCall, ...]
    repeats: int = 1               # each call's Mandarin phrase this many times
    english: bool = False          # then the English phrase once
    chime: bool = True             # the chime first (not between calls that follow each other)
    brief_chime: bool = False      # a single "ding" instead (a run that begins with others waiting)
    short: bool = False            # the busy form: no 请, said faster
    key: object = None             # the caller's identity (echoed in callbacks)

    @property
    def label(self) -> str:
        return "+".join(c.number for c in self.calls)


def zh_parts(call: SpokenCall, short: bool = False) -> tuple[str, str, str]:
    """(lead, number, where): "请" | "A零一二号" | "到三号窗口"; short: "" | "A零一二" | "，三号窗口"
    (the busy form drops 请 and the number's 号: a burst of eight must all be heard within 20 s)."""
    where = f"{integer_as_chinese(call.counter_number)}号窗口" if call.counter_number is not None \
        else digits_as_chinese(call.counter_name or "服务台")
    lead = ("再次呼叫，" if call.recall else "") + ("" if short else "请")
    return lead, digits_as_chinese(call.number) + ("" if short else "号"), ("，" if short else "到") + where


def zh_text(call: SpokenCall, short: bool = False) -> str:
    return "".join(zh_parts(call, short))


def en_text(call: SpokenCall) -> str:
    spelled = " ".join(call.number)
    where = f"counter {call.counter_number}" if call.counter_number is not None \
        else (call.counter_name_en or "the service desk")
    lead = "Calling again: number" if call.recall else "Number"
    return f"{lead} {spelled}, please go to {where}."


def pack_tokens(call: SpokenCall, language: str, short: bool = False) -> list[str] | None:
    """The voice-pack clips that say this call, or None when a pack cannot say it."""
    if call.counter_number is None:
        return None
    p = f"{language}_"
    tokens = [p + "recall"] if call.recall else []
    if not short:
        tokens.append(p + "please")
    tokens += [p + ch.upper() for ch in call.number]
    tokens.append(p + "to_counter")
    if language == "zh":
        tokens += [p + ("10" if ch == "十" else str(_DIGITS.index(ch))) for ch in integer_as_chinese(call.counter_number)]
        tokens.append(p + "window")
    else:
        tokens += [p + d for d in str(call.counter_number)]
    return tokens


# --- voices -------------------------------------------------------------------------------
class VoicePack:
    """A folder of recorded WAV clips, one per word, joined with a short gap.

    Names: ``chime.wav`` (optional), and per language ``zh_`` / ``en_`` + ``please``,
    ``0``..``9``, ``10`` (zh: 十), ``A``..``Z``, ``to_counter``, ``window`` (zh only), and
    optionally ``recall``. Mandarin says 请 A 零 一 二 号到 三 号窗口 with ``zh_please`` = 请,
    ``zh_to_counter`` = 号到, ``zh_window`` = 号窗口, ``zh_recall`` = 再次呼叫. English says "Number
    A zero one two, please go to counter three" with ``en_please`` = "Number", ``en_to_counter`` =
    "please go to counter". A recall without a ``recall`` clip is said as a call.
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

    def say(self, call: SpokenCall, language: str, short: bool = False) -> Pcm | None:
        if call.recall and f"{language}_recall" not in self.clips:
            call = SpokenCall(call.number, call.counter_number, call.counter_name, call.counter_name_en)
        tokens = pack_tokens(call, language, short)
        if tokens is None or any(t not in self.clips for t in tokens):
            return None
        gap = silence(self.GAP_S)
        parts: list[Pcm] = []
        for token in tokens:
            parts += [self.clips[token], gap]
        return concat(parts)


class EspeakVoice:
    """espeak-ng run locally; Mandarin with the pinyin voice, digits as Chinese characters.

    Each phrase piece (the lead, the number, where to go) is synthesized once and kept, trimmed of
    espeak's leading and trailing silence so that joined pieces sound like one sentence.
    """

    BUDGET_BYTES = 10 << 20         # about 150 phrases: every counter's, and the numbers called lately

    def __init__(self, binary: str | None = None, speed: int = 140, busy_speed: int = 175) -> None:
        found = binary or shutil.which("espeak-ng")
        if not found:
            raise ValueError("espeak-ng is not installed")
        self.binary = found
        self.speed = speed
        self.busy_speed = busy_speed
        self.cache: OrderedDict[tuple[str, str, int], Pcm] = OrderedDict()
        self.cached_bytes = 0
        self.synthesized = 0

    def speak(self, text: str, voice: str, speed: int | None = None) -> Pcm:
        key = (text, voice, speed or self.speed)
        clip = self.cache.get(key)
        if clip is not None:
            self.cache.move_to_end(key)
            return clip
        proc = subprocess.run([self.binary, "-v", voice, "-s", str(key[2]), "--stdout", text],
                              capture_output=True, timeout=20, check=False)
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
        clip = trim(resample(decode_wav(proc.stdout, "espeak-ng"), SAMPLE_RATE))
        self.synthesized += 1
        self.cache[key] = clip
        self.cached_bytes += len(clip.data)
        while self.cached_bytes > self.BUDGET_BYTES and len(self.cache) > 1:
            _, old = self.cache.popitem(last=False)
            self.cached_bytes -= len(old.data)
        return clip

    def say(self, call: SpokenCall, language: str, short: bool = False) -> Pcm:
        speed = self.busy_speed if short else self.speed
        if language == "zh":
            lead, number, where = zh_parts(call, short)
            # two joins at most: "[再次呼叫，]" + "请A零一二号" (kept per number) + "到三号窗口" (per counter)
            recall, _, please = lead.partition("，") if call.recall else ("", "", lead)
            pieces = [p for p in (recall, please + number, where.lstrip("，")) if p]
            gap = silence(0.04)
            parts: list[Pcm] = []
            for piece in pieces:
                parts += [self.speak(piece, "cmn-latn-pinyin", speed), gap]
            return concat(parts[:-1])
        return self.speak(en_text(call), "en", speed)


class Speaker:
    """Turns an :class:`Utterance` into one clip: chime, the Mandarin phrase (repeated), English."""

    def __init__(self, mode: str = "auto", pack: str | None = None, chime_path: str | None = None,
                 speed: int = 140, busy_speed: int = 175) -> None:
        self.pack: VoicePack | None = None
        self.espeak: EspeakVoice | None = None
        if mode in ("auto", "pack") and pack:
            try:
                self.pack = VoicePack(pack)
            except ValueError as err:
                log.error("voice pack unusable, falling back: %s", err)
        if mode in ("auto", "espeak") or (mode == "pack" and self.pack is None):
            try:
                self.espeak = EspeakVoice(speed=speed, busy_speed=busy_speed)
            except ValueError as err:
                log.warning("%s: calls get the chime only", err)
        chime: Pcm | None = None
        if chime_path:
            try:
                chime = resample(decode_wav(Path(chime_path).read_bytes(), chime_path), SAMPLE_RATE)
            except (OSError, ValueError) as err:
                log.error("chime %s unusable, using the built-in one: %s", chime_path, err)
        self.chime = chime or (self.pack.chime if self.pack else None) or synth_chime()
        self.recall_chime = (self.pack.clips.get("recall_chime") if self.pack else None) or synth_recall_chime()
        self.brief_chime = (self.pack.clips.get("brief_chime") if self.pack else None) or synth_brief_chime()
        self.silent = mode == "off"

    @property
    def voice_name(self) -> str:
        if self.silent:
            return "off"
        if self.pack is not None:
            return "pack"
        return "espeak" if self.espeak is not None else "chime"

    def prepare(self, counters: Iterable[tuple[int | None, str, str]]) -> None:
        """Synthesize ahead what every call says: the leads and each counter's "where to go" (the
        English sentence is made whole at call time: it is said only when the hall is quiet)."""
        if self.espeak is None:
            return
        for number, name, name_en in counters:
            for recall in (False, True):
                for short in (False, True):
                    self._say(SpokenCall("A000", number, name, name_en, recall), "zh", short)

    def _say(self, call: SpokenCall, language: str, short: bool = False) -> Pcm | None:
        if self.pack is not None:
            clip = self.pack.say(call, language, short)
            if clip is not None:
                return clip
        if self.espeak is not None:
            try:
                return self.espeak.say(call, language, short)
            except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as err:
                log.error("speech failed for %s: %s", call.number, err)
        return None

    def render_parts(self, utterance: Utterance) -> list[Pcm]:
        """The utterance as phrases said one after another: [chime + first saying, repeat, English].
        Between two parts the speaker may stop when other calls are waiting (never mid-phrase)."""
        if self.silent:
            return []
        recall = any(call.recall for call in utterance.calls)
        chime = self.recall_chime if recall else (self.brief_chime if utterance.brief_chime else self.chime)
        first: list[Pcm] = [chime, silence(GAP_AFTER_CHIME_S)] if utterance.chime or recall else []
        later: list[Pcm] = []
        for i, call in enumerate(utterance.calls):
            zh = self._say(call, "zh", utterance.short)
            if zh is not None:
                first += [silence(GAP_BETWEEN_CALLS_S)] if i else []
                first.append(zh)
                later += [concat([silence(GAP_BETWEEN_REPEATS_S), zh])] * (max(1, utterance.repeats) - 1)
            if utterance.english:
                en = self._say(call, "en")
                if en is not None:
                    later.append(concat([silence(GAP_BETWEEN_CALLS_S), en]))
        if not first:
            first = [chime]            # no voice and no chime asked for: a call is never silent
        return [concat(first + [silence(0.1)])] + [concat([p, silence(0.1)]) for p in later]

    def render(self, utterance: Utterance) -> Pcm:
        """The whole utterance as one clip (the browser screen plays it so)."""
        return concat(self.render_parts(utterance)) if not self.silent else Pcm(SAMPLE_RATE, b"")
