"""Hall audio: what is said, how clips are built, and the worker that never cuts a call off."""
from __future__ import annotations

from hall import testing

import array
import math
import shutil
import threading
import time
import wave
from pathlib import Path

import pytest

from hardware.audio import (SAMPLE_RATE, AudioWorker, CallSpeech, Pcm, Speaker, VoicePack, WavFilePlayer,
                            call_text_en, call_text_zh, call_tokens, decode_wav, integer_as_chinese,
                            synth_chime)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def rms(clip: Pcm) -> float:
    samples = array.array("h")
    samples.frombytes(clip.data)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def test_mandarin_call_text_reads_ticket_digits_one_by_one():
    assert call_text_zh(CallSpeech("A012", 3)) == "请A零一二号到三号窗口"
    assert call_text_zh(CallSpeech("B100", 12)) == "请B一零零号到十二号窗口"
    assert call_text_zh(CallSpeech("A001", None, "VIP窗口")) == "请A零零一号到VIP窗口"
    assert call_text_en(CallSpeech("A012", 3)) == "Number A 0 1 2, please go to counter 3."
    assert [integer_as_chinese(n) for n in (0, 3, 10, 12, 20, 21, 99)] == \
        ["零", "三", "十", "十二", "二十", "二十一", "九十九"]


def test_chime_is_audible_and_not_clipped():
    chime = synth_chime()
    samples = array.array("h")
    samples.frombytes(chime.data)
    assert 1.0 < chime.duration_s < 3.0
    assert max(abs(s) for s in samples) < 32767
    assert rms(chime) > 1000


def test_chime_only_when_no_voice(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")          # no espeak-ng to be found
    speaker = Speaker(mode="auto", english=True)
    assert speaker.voice_name == "chime"
    clip = speaker.render(CallSpeech("A012", 3))
    assert clip.data.startswith(speaker.chime.data)
    assert clip.duration_s == pytest.approx(speaker.chime.duration_s + 0.25, abs=0.01)


@needs_espeak
def test_espeak_speaks_mandarin_and_english_offline():
    zh_only = Speaker(mode="espeak", english=False).render(CallSpeech("A012", 3))
    both = Speaker(mode="espeak", english=True).render(CallSpeech("A012", 3))
    chime = synth_chime()
    assert zh_only.duration_s > chime.duration_s + 1.5       # a spoken sentence follows the chime
    assert both.duration_s > zh_only.duration_s + 1.0        # and English after it
    speech = Pcm(SAMPLE_RATE, zh_only.data[len(chime.data):])
    assert rms(speech) > 300


def _tone(path: Path, freq: float, seconds: float, rate: int = 16000) -> None:
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(seconds * rate))))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


def make_pack(folder: Path, skip: tuple[str, ...] = ()) -> Path:
    names = ["please", "to_counter", "window", "10"] + [str(d) for d in range(10)] + [chr(c) for c in range(65, 91)]
    for i, name in enumerate(names):
        if name not in skip:
            _tone(folder / f"zh_{name}.wav", 200 + 10 * i, 0.1)
    return folder


def test_voice_pack_says_the_call_from_recorded_clips(tmp_path):
    pack = VoicePack(make_pack(tmp_path))
    call = CallSpeech("A012", 3)
    assert call_tokens(call, "zh") == ["zh_please", "zh_A", "zh_0", "zh_1", "zh_2", "zh_to_counter", "zh_3",
                                       "zh_window"]
    clip = pack.say(call, "zh")
    assert clip is not None
    assert clip.duration_s == pytest.approx(8 * (0.1 + VoicePack.GAP_S), abs=0.01)   # 16 kHz clips resampled
    speaker = Speaker(mode="pack", pack=str(tmp_path), english=False)
    assert speaker.voice_name == "pack"
    assert speaker.render(call).duration_s == pytest.approx(synth_chime().duration_s + 0.25 + clip.duration_s + 0.35,
                                                            abs=0.01)


def test_voice_pack_missing_a_clip_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    pack = VoicePack(make_pack(tmp_path, skip=("7",)))
    assert pack.say(CallSpeech("A017", 3), "zh") is None
    speaker = Speaker(mode="pack", pack=str(tmp_path), english=False)
    assert speaker.render(CallSpeech("A017", 3)).duration_s == pytest.approx(synth_chime().duration_s + 0.25, abs=0.01)


def test_not_a_voice_pack_is_refused(tmp_path):
    (tmp_path / "zh_please.wav").write_bytes(b"not a wav")
    with pytest.raises(ValueError, match="zh_please.wav"):
        VoicePack(tmp_path)


class RecordingPlayer:
    """A sound device stand-in: plays for as long as the clip lasts and records when."""
    name = "recording"

    def __init__(self, speed: float = 20.0) -> None:
        self.speed = speed
        self.played: list[tuple[str, float, float, float]] = []   # label, start, end, clip seconds
        self.lock = threading.Lock()
        self.active = 0
        self.overlaps = 0

    def play(self, clip: Pcm, label: str) -> None:
        with self.lock:
            self.active += 1
            self.overlaps += self.active > 1
        start = time.monotonic()
        time.sleep(clip.duration_s / self.speed)
        end = time.monotonic()
        with self.lock:
            self.active -= 1
        self.played.append((label, start, end, clip.duration_s))

    def close(self) -> None:
        pass


def wait_until(predicate, timeout: float = 30.0) -> None:
    testing.wait_until(predicate, timeout, "the speaker", poll_s=0.01)


def test_three_calls_within_100ms_are_played_whole_in_order(tmp_path):
    speaker = Speaker(mode="auto", english=True)
    player = RecordingPlayer()
    done: list[object] = []
    worker = AudioWorker(speaker, player, on_done=done.append)
    calls = [CallSpeech("A012", 1, key=(1, 11)), CallSpeech("A013", 2, key=(1, 12)), CallSpeech("B001", 3, key=(1, 13))]
    for call in calls:
        worker.submit(call)
        time.sleep(0.03)
    wait_until(lambda: len(done) == 3)
    worker.stop()
    assert done == [(1, 11), (1, 12), (1, 13)]
    assert [p[0] for p in player.played] == ["A012", "A013", "B001"]
    assert player.overlaps == 0
    for (_, _, end, _), (_, start, _, _) in zip(player.played, player.played[1:]):
        assert start >= end                                     # the next starts after the last ended
    for call, (_, _, _, seconds) in zip(calls, player.played):  # each is the whole call
        assert seconds == pytest.approx(speaker.render(call).duration_s, abs=0.001)


def test_wav_output_writes_each_call_complete(tmp_path):
    speaker = Speaker(mode="chime")
    worker = AudioWorker(speaker, WavFilePlayer(tmp_path / "out"))
    for number in ("A012", "A013", "A014"):
        worker.submit(CallSpeech(number, 1))
    wait_until(lambda: worker.played == 3)
    worker.stop()
    files = sorted((tmp_path / "out").glob("*.wav"))
    assert [f.name for f in files] == ["0001-A012.wav", "0002-A013.wav", "0003-A014.wav"]
    expected = speaker.render(CallSpeech("A012", 1))
    for f in files:
        assert decode_wav(f.read_bytes()).data == expected.data


def test_a_failing_voice_never_stops_the_calling(tmp_path):
    class Broken(RecordingPlayer):
        def play(self, clip: Pcm, label: str) -> None:
            if label == "A013":
                raise OSError("sound card gone")
            super().play(clip, label)

    player = Broken()
    done: list[object] = []
    worker = AudioWorker(Speaker(mode="chime"), player, on_done=done.append)
    for number in ("A012", "A013", "A014"):
        worker.submit(CallSpeech(number, 1, key=number))
    wait_until(lambda: len(done) == 3)
    worker.stop()
    assert done == ["A012", "A013", "A014"]
    assert [p[0] for p in player.played] == ["A012", "A014"]
