"""Hall audio: what is said, how clips are built, and the worker that never cuts a call off."""
from __future__ import annotations

from hallq import testing

import array
import math
import shutil
import threading
import time
import wave
from pathlib import Path

import pytest

from hallq.hardware.audio import SAMPLE_RATE, AudioWorker, Pcm, WavFilePlayer, decode_wav, synth_chime, trim
from hallq.hardware.speech import (Speaker, SpokenCall, Utterance, VoicePack, en_text, integer_as_chinese,
                                   pack_tokens, zh_text)


def CallSpeech(number: str, counter: int | None, name: str = "", *, key: object = None,
               recall: bool = False) -> Utterance:
    """One call said once, with the chime (the form a quiet hall's first phrase takes)."""
    return Utterance((SpokenCall(number, counter, name, recall=recall),), key=key if key is not None else number)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def rms(clip: Pcm) -> float:
    samples = array.array("h")
    samples.frombytes(clip.data)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def test_mandarin_call_text_reads_ticket_digits_one_by_one():
    assert zh_text(SpokenCall("A012", 3)) == "请A零一二号到三号窗口"
    assert zh_text(SpokenCall("B100", 12)) == "请B一零零号到十二号窗口"
    assert zh_text(SpokenCall("A001", None, "VIP窗口")) == "请A零零一号到VIP窗口"
    assert en_text(SpokenCall("A012", 3)) == "Number A 0 1 2, please go to counter 3."
    assert [integer_as_chinese(n) for n in (0, 3, 10, 12, 20, 21, 99)] == \
        ["零", "三", "十", "十二", "二十", "二十一", "九十九"]


def test_recall_and_busy_forms_are_said_differently():
    assert zh_text(SpokenCall("A012", 3, recall=True)) == "再次呼叫，请A零一二号到三号窗口"
    assert zh_text(SpokenCall("A012", 3), short=True) == "A零一二，三号窗口"
    assert en_text(SpokenCall("A012", 3, recall=True)) == "Calling again: number A 0 1 2, please go to counter 3."


def test_chime_is_audible_and_not_clipped():
    chime = synth_chime()
    samples = array.array("h")
    samples.frombytes(chime.data)
    assert 1.0 < chime.duration_s < 3.0
    assert max(abs(s) for s in samples) < 32767
    assert rms(chime) > 1000


def test_chime_only_when_no_voice(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")          # no espeak-ng to be found
    speaker = Speaker(mode="auto")
    assert speaker.voice_name == "chime"
    clip = speaker.render(CallSpeech("A012", 3))
    assert clip.data.startswith(speaker.chime.data)
    assert clip.duration_s == pytest.approx(speaker.chime.duration_s + 0.25 + 0.1, abs=0.01)
    # a call in a run (no chime asked for) still makes a sound when there is no voice
    assert speaker.render(Utterance((SpokenCall("A013", 3),), chime=False)).duration_s >= speaker.chime.duration_s


@needs_espeak
def test_espeak_speaks_mandarin_and_english_offline():
    speaker = Speaker(mode="espeak")
    call = SpokenCall("A012", 3)
    once = speaker.render(Utterance((call,)))
    twice = speaker.render(Utterance((call,), repeats=2))
    both = speaker.render(Utterance((call,), repeats=2, english=True))
    chime = synth_chime()
    assert once.duration_s > chime.duration_s + 1.5          # a spoken sentence follows the chime
    assert twice.duration_s > once.duration_s + 1.5          # said again, as halls do
    assert both.duration_s > twice.duration_s + 1.0          # and English after it
    speech = Pcm(SAMPLE_RATE, once.data[len(chime.data):])
    assert rms(speech) > 300
    # a recall does not sound like a call, and the busy form is shorter
    recall = speaker.render(Utterance((SpokenCall("A012", 3, recall=True),)))
    assert recall.data != once.data and recall.duration_s > once.duration_s
    short = speaker.render(Utterance((call,), short=True, chime=False))
    assert short.duration_s < once.duration_s - chime.duration_s


@pytest.mark.processes
@needs_espeak
def test_phrases_are_prepared_ahead_and_joined_at_call_time():
    speaker = Speaker(mode="espeak")
    speaker.prepare([(n, f"{n}号窗口", f"Counter {n}") for n in range(1, 41)])
    assert speaker.espeak is not None
    prepared = speaker.espeak.synthesized
    assert prepared >= 40                                      # every counter's "到N号窗口" is ready
    speaker.render(Utterance((SpokenCall("A012", 17),), repeats=2))
    # only the number's piece was new; its window and the lead were cached
    assert speaker.espeak.synthesized == prepared + 1
    again = speaker.espeak.synthesized
    speaker.render(Utterance((SpokenCall("A012", 17, recall=True),)))
    assert speaker.espeak.synthesized == again


def test_trim_drops_leading_and_trailing_silence():
    tone = array.array("h", (int(8000 * math.sin(i / 5)) for i in range(2205)))
    padded = Pcm(SAMPLE_RATE, bytes(2 * 11025) + tone.tobytes() + bytes(2 * 11025))
    trimmed = trim(padded)
    assert 0.1 <= trimmed.duration_s <= 0.1 + 0.05


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
    call = SpokenCall("A012", 3)
    assert pack_tokens(call, "zh") == ["zh_please", "zh_A", "zh_0", "zh_1", "zh_2", "zh_to_counter", "zh_3",
                                       "zh_window"]
    assert pack_tokens(call, "zh", short=True)[0] == "zh_A"              # the busy form leaves out 请
    clip = pack.say(call, "zh")
    assert clip is not None
    assert clip.duration_s == pytest.approx(8 * (0.1 + VoicePack.GAP_S), abs=0.01)   # 16 kHz clips resampled
    speaker = Speaker(mode="pack", pack=str(tmp_path))
    assert speaker.voice_name == "pack"
    assert speaker.render(CallSpeech("A012", 3)).duration_s == pytest.approx(
        synth_chime().duration_s + 0.25 + clip.duration_s + 0.1, abs=0.01)


def test_voice_pack_missing_a_clip_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    pack = VoicePack(make_pack(tmp_path, skip=("7",)))
    assert pack.say(SpokenCall("A017", 3), "zh") is None
    speaker = Speaker(mode="pack", pack=str(tmp_path))
    assert speaker.render(CallSpeech("A017", 3)).duration_s == pytest.approx(
        synth_chime().duration_s + 0.25 + 0.1, abs=0.01)


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


@pytest.mark.processes
def test_three_calls_within_100ms_are_played_whole_in_order(tmp_path):
    speaker = Speaker(mode="auto")
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


@pytest.mark.processes
def test_a_call_stops_after_its_phrase_when_others_wait(tmp_path):
    """Said twice with English when quiet; once others wait, the rest is left unsaid, never mid-phrase."""
    speaker = Speaker(mode="pack", pack=str(make_pack(tmp_path)))
    player = RecordingPlayer(speed=4.0)
    started: list[object] = []
    worker = AudioWorker(speaker, player, on_started=started.append)
    try:
        worker.submit(Utterance((SpokenCall("A012", 1),), repeats=2, key="a"))       # the hall is quiet
        wait_until(lambda: worker.played == 1)
        worker.submit(Utterance((SpokenCall("A013", 1),), repeats=2, key="b"))
        wait_until(lambda: started == ["a", "b"])
        worker.cut_short.set()                         # the screen: another call is waiting
        wait_until(lambda: worker.played == 2)
    finally:
        worker.stop()
    # A012 said twice; A013 once: its first phrase whole, its repeat left unsaid
    assert [p[0] for p in player.played] == ["A012", "A012~2", "A013"]
    first_phrase = speaker.render_parts(Utterance((SpokenCall("A013", 1),), repeats=2))[0]
    assert player.played[2][3] == pytest.approx(first_phrase.duration_s, abs=0.001)


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
