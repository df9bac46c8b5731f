"""The hall's voice queue: what is said, in which form, and what is left unsaid (pure, no sound)."""
from __future__ import annotations

from hallq.display.voice import Announcement, VoicePolicy, VoiceQueue
from hallq.hardware.speech import SpokenCall


def call(number: str, counter: int, at: float, recalls: int = 0) -> Announcement:
    return Announcement((f"c{counter}", number, recalls), SpokenCall(number, counter, recall=recalls > 0), at)


def always(_: Announcement) -> bool:
    return True


def test_a_quiet_hall_says_a_call_twice_with_the_chime_and_english():
    q = VoiceQueue(VoicePolicy(repeats=2, english=True))
    q.add(call("A012", 3, 0.0))
    assert q.next(0.1, always) is None                # a silent speaker gathers a moment first
    said = q.next(0.7, always)
    assert said is not None and said.calls[0].number == "A012"
    assert (said.repeats, said.english, said.chime, said.brief_chime, said.short) == (2, True, True, False, False)
    assert q.next(0.8, always) is None


def test_calls_pressed_together_are_gathered_so_the_first_is_short_too():
    """A burst's calls come within a second: the first one used to be said in full, twice with
    English (5.7 s), while seven others waited; the eighth was first heard after 21-25 s."""
    q = VoiceQueue(VoicePolicy(repeats=2, english=True))
    q.add(call("A001", 1, 0.0))
    assert q.next(0.2, always) is None
    for i in range(2, 9):
        q.add(call(f"A{i:03d}", i, 0.05 * i))
    first = q.next(0.6, always)
    assert first is not None and first.calls[0].number == "A001"
    assert (first.repeats, first.english, first.short, first.chime, first.brief_chime) == (1, False, True, True, True)


def test_under_a_burst_calls_are_said_once_short_without_english_and_chimed_once():
    q = VoiceQueue(VoicePolicy(repeats=2, english=True))
    for i in range(8):                                        # eight counters call within one second
        q.add(call(f"A{i:03d}", i + 1, 0.1 * i))
    forms = []
    t = 1.0
    while (said := q.next(t, always)) is not None:
        forms.append((said.calls[0].number, said.repeats, said.english, said.chime, said.short))
        t += 2.5
        q.finished(t)
    assert [f[0] for f in forms] == [f"A{i:03d}" for i in range(8)]          # in order, none lost
    # (repeats, english, chime, short): the run starts with the chime, then short forms follow each other
    assert forms[0][1:] == (1, False, True, True) and q.stats.said == 8
    assert all(f[1:] == (1, False, False, True) for f in forms[1:7])
    assert forms[-1][1:] == (2, True, False, False)                            # the last: nothing waits behind it
    assert q.stats.longest_backlog == 8


def test_calls_already_answered_or_too_old_are_not_said():
    q = VoiceQueue(VoicePolicy(max_delay_s=30.0))
    q.add(call("A001", 1, 0.0))
    q.add(call("A002", 2, 0.0))
    q.add(call("A003", 3, 20.0))
    served = {"A001"}
    said = q.next(31.0, lambda a: a.number not in served)
    # A001 was served before its turn; A002 waited more than 30 s; A003 is said
    assert said is not None and said.calls[0].number == "A003"
    assert (q.stats.skipped_answered, q.stats.skipped_late, q.stats.said) == (1, 1, 1)


def test_a_recall_of_a_call_not_yet_said_replaces_it_in_its_place():
    q = VoiceQueue(VoicePolicy())
    q.add(call("A001", 1, 0.0))
    q.add(call("A002", 2, 0.0))
    q.add(call("A001", 1, 5.0, recalls=1))
    assert len(q) == 2 and q.stats.merged == 1
    first = q.next(6.0, always)
    assert first is not None and first.calls[0].number == "A001" and first.calls[0].recall


def test_english_when_few_calls_wait():
    q = VoiceQueue(VoicePolicy(english=True, english_max_backlog=1))
    q.add(call("A001", 1, 0.0))
    q.add(call("A002", 2, 0.0))
    said = q.next(1.0, always)
    assert said is not None and said.english and said.short
    q2 = VoiceQueue(VoicePolicy(english=False))
    q2.add(call("A001", 1, 0.0))
    assert not q2.next(1.0, always).english


def test_chime_again_after_silence():
    q = VoiceQueue(VoicePolicy(chime_after_silence_s=3.0))
    q.add(call("A001", 1, 0.0))
    assert q.next(1.0, always).chime
    q.finished(5.0)
    q.add(call("A002", 2, 6.0))
    assert not q.next(6.0, always).chime             # 1 s after the last call: no second chime
    q.finished(10.0)
    q.add(call("A003", 3, 20.0))
    assert q.next(21.0, always).chime


def test_a_recall_during_a_burst_is_said_next_with_its_own_chime():
    """A recall pressed while eight first calls wait was said 26 s later, after all of them: its
    customer already missed one call and the clerk waits at the window."""
    q = VoiceQueue(VoicePolicy(repeats=2, english=True))
    for i in range(8):
        q.add(call(f"A{i:03d}", i + 1, 0.1 * i))
    first = q.next(1.0, always)
    assert first is not None and first.calls[0].number == "A000"
    q.add(call("B077", 12, 1.5, recalls=1))                  # pressed while A000 is being said
    q.add(call("B078", 13, 1.6, recalls=1))                  # and another: recalls keep their order
    q.finished(3.5)
    order = []
    t = 3.5
    while (said := q.next(t, always)) is not None:
        order.append((said.calls[0].number, said.chime))
        t += 2.5
        q.finished(t)
    assert [n for n, _ in order][:2] == ["B077", "B078"]
    assert order[0][1] and order[1][1]                        # each recall chimed, even mid-run
    assert [n for n, _ in order][2:] == [f"A{i:03d}" for i in range(1, 8)]


def test_a_recall_sounds_unlike_a_first_call():
    from hallq.hardware.audio import synth_chime, synth_recall_chime
    from hallq.hardware.speech import Speaker, Utterance
    first, recall = synth_chime(), synth_recall_chime()
    assert first.data != recall.data and recall.frames >= 1.5 * recall.rate
    speaker = Speaker("off", None, None, 140, 175)
    speaker.silent = False                                     # the chime only: no voice on this machine needed
    speaker.espeak = None
    parts = speaker.render_parts(Utterance(calls=(SpokenCall("B077", 12, recall=True),), chime=False))
    assert parts and parts[0].data.startswith(recall.data[:4000])
    parts = speaker.render_parts(Utterance(calls=(SpokenCall("A001", 1),), chime=True))
    assert parts[0].data.startswith(first.data[:4000])
