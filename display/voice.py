"""The hall's voice queue: which calls are said, in which form, and which are left unsaid.

Pure (no sound, no clock of its own): the screen's owner thread adds an :class:`Announcement` for
every new call or recall, and asks :meth:`VoiceQueue.next` for the next :class:`Utterance` only
when the speaker is free, so every decision is made with the hall as it is at that moment:

- **Skip what is answered.** A call whose ticket has left that counter (served, no-show,
  transferred, called elsewhere) is not said: the customer is already there, or gone.
- **Skip what is too old.** A call heard more than ``max_delay_s`` ago is shown, not said. That
  bounds the backlog: no one is sent to a window a minute after the screen showed it. (At 30 calls
  a minute a single speaker cannot say every call twice; halls split speakers by zone.)
- **Merge.** A recall of a call still waiting to be said replaces it (one "再次呼叫", not two
  phrases); the same ticket called again elsewhere replaces the older call.
- **Recalls first.** A recall is said before first calls still waiting (after earlier recalls):
  its customer has already missed one call, and a clerk is waiting at the window. It always gets
  its own chime (four rising notes), even in the middle of a run.
- **Gather a burst.** A speaker that has been silent waits ``gather_s`` (0.6 s) after a call
  before saying it: clerks pressing together send their calls within a second, and knowing they
  are there decides the form of the first one too.
- **Shorten under load.** When other calls wait behind this one it is said once, in the short
  quick form ("A零一二，三号窗口"), without English; the chime only starts a run after silence,
  and a run that begins with others waiting starts with a single "ding" (0.6 s, not 1.6 s).
  When the hall is quiet it is said ``repeats`` times (halls say it twice), with English when
  no more than ``english_max_backlog`` calls wait.
- Never cut off: the speaker plays an utterance whole; the queue is asked again only after it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hallq.hardware.speech import SpokenCall, Utterance


@dataclass(frozen=True)
class Announcement:
    key: tuple[str, str, int]         # (counter id, ticket number, recalls): one call or recall
    call: SpokenCall
    heard_at: float                   # the screen's clock (seconds) when it learnt of the call

    @property
    def counter_id(self) -> str:
        return self.key[0]

    @property
    def number(self) -> str:
        return self.key[1]


@dataclass(frozen=True)
class VoicePolicy:
    repeats: int = 2
    english: bool = True
    english_max_backlog: int = 0
    max_delay_s: float = 30.0
    chime_after_silence_s: float = 3.0
    gather_s: float = 0.6


@dataclass
class VoiceStats:
    said: int = 0
    skipped_answered: int = 0
    skipped_late: int = 0
    merged: int = 0
    longest_backlog: int = 0                                 # calls waiting at once


class VoiceQueue:
    def __init__(self, policy: VoicePolicy) -> None:
        self.policy = policy
        self.pending: list[Announcement] = []
        self.last_end = float("-inf")      # when the speaker last fell silent
        self.stats = VoiceStats()

    def add(self, item: Announcement) -> None:
        for i, older in enumerate(self.pending):
            if older.number == item.number:
                # a recall (or a call elsewhere) of a call not yet said: say the newest, in its place
                self.pending[i] = Announcement(item.key, item.call, older.heard_at)
                self.stats.merged += 1
                return
        if _is_recall(item):
            ahead = next((i for i, p in enumerate(self.pending) if not _is_recall(p)), len(self.pending))
            self.pending.insert(ahead, item)
        else:
            self.pending.append(item)
        self.stats.longest_backlog = max(self.stats.longest_backlog, len(self.pending))

    def __len__(self) -> int:
        return len(self.pending)

    def next(self, now: float, is_live: Callable[[Announcement], bool]) -> Utterance | None:
        """What to say now (None: nothing); ``is_live`` says whether a call still stands."""
        if self.pending and now - self.last_end >= self.policy.chime_after_silence_s \
                and now - self.pending[0].heard_at < self.policy.gather_s:
            return None                   # a run begins: let the calls pressed with this one come in
        while self.pending:
            item = self.pending.pop(0)
            if not is_live(item):
                self.stats.skipped_answered += 1
                continue
            if now - item.heard_at > self.policy.max_delay_s:
                self.stats.skipped_late += 1
                continue
            busy = sum(1 for p in self.pending if now - p.heard_at <= self.policy.max_delay_s)
            quiet = busy == 0
            self.stats.said += 1
            chime = _is_recall(item) or now - self.last_end >= self.policy.chime_after_silence_s
            return Utterance(
                calls=(item.call,), repeats=self.policy.repeats if quiet else 1,
                english=self.policy.english and busy <= self.policy.english_max_backlog,
                chime=chime, brief_chime=chime and not quiet, short=not quiet, key=item.key)
        return None

    def finished(self, now: float) -> None:
        """The speaker has fallen silent."""
        self.last_end = now


def _is_recall(item: Announcement) -> bool:
    return item.call.recall or item.key[2] > 0
