"""What a recorded day would have been with other staffing or another hall file: the recorded day,
the day as staffed played again (how honest the replay is), and the day changed, compared by wait
per service and per hour of issue. ``hallq replay`` prints it; the web console draws it."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from hallq.core import events as e
from hallq.core.setup import Setup
from hallq.runtime.i18n import N_, gettext, service_name

from .replay import Arrival, Change, Fidelity, Played, RecordedDay, WaitFigures, fidelity, play, read_day, staffing, wait_figures


@dataclass(frozen=True)
class Row:
    """One line of the comparison: the whole day, a service, or an hour of issue."""
    label: str                     # all | service | hour
    key: str
    recorded: WaitFigures
    replayed: WaitFigures


@dataclass(frozen=True)
class Comparison:
    day: str
    changes: tuple[Change, ...]
    honesty: Fidelity              # the recorded staffing replayed against the record
    rows: tuple[Row, ...]
    unserved: int                  # still waiting at the end in the changed day
    gave_up: int
    configuration: str = ""        # the other hall file played (--as), if any

    def of(self, label: str) -> list[Row]:
        return [r for r in self.rows if r.label == label]


def compare(setup: Setup, zone: ZoneInfo, day: str, events: Iterable[e.Event], changes: list[Change],
            other: Setup | None = None, configuration: str = "") -> Comparison:
    """``day`` as recorded against the same day with ``changes`` to its staffing, played with
    ``other``'s rules and counters all day when given (else the rules as recorded)."""
    recorded = read_day(setup, day, events)
    as_it_was = play(setup, recorded, staffing(recorded, setup, []))
    replayed_with = other or setup
    changed = play(replayed_with, recorded, staffing(recorded, replayed_with, changes), recorded_rules=other is None) \
        if changes or other is not None else as_it_was
    target = setup.service_level_wait_s
    rows = [Row("all", "", *_pair(recorded, changed, target, lambda a: True))]
    for service in setup.services:
        rows.append(Row("service", service, *_pair(recorded, changed, target, lambda a, s=service: a.service == s)))
    for hour in sorted({a.at.astimezone(zone).hour for a in recorded.arrivals}):
        rows.append(Row("hour", f"{hour:02d}:00", *_pair(recorded, changed, target,
                                                         lambda a, h=hour: a.at.astimezone(zone).hour == h)))
    return Comparison(day, tuple(changes), fidelity(recorded, as_it_was), tuple(rows), changed.unserved,
                      changed.gave_up, configuration)


def row_label(row: Row, config: Any, lang: str) -> str:
    """A comparison row's name as people read it: the whole day, a service, or an hour of issue."""
    if row.label == "all":
        return gettext(N_("Whole day"), lang)
    if row.label == "service":
        return service_name(config, row.key, lang)
    return gettext(N_("Issued {hour}"), lang, hour=row.key)


def _pair(day: RecordedDay, played: Played, target: float,
          which: Callable[[Arrival], bool]) -> tuple[WaitFigures, WaitFigures]:
    chosen = [a for a in day.arrivals if which(a)]
    return (wait_figures([a.wait_s for a in chosen if a.wait_s is not None], target),
            wait_figures([played.waits[a.ticket] for a in chosen if a.ticket in played.waits], target))
