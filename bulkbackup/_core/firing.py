"""When the server starts a backup: a stored `frequency` fired the way Coolify's scheduler fires it.

Coolify validates a frequency with poliander/cron (`cron.py`) but schedules it with dragonmantank/cron-expression
v3.6.0 (API-RULES §2): every minute, for enabled configurations only, its keywords translated first
(`every_minute`, `daily`, …), `shouldRunCronNow` asks `CronExpression::isDue()` in the server's timezone. `isDue`
is true exactly when every field is satisfied at that minute (`getRunDate` returns the current minute on its first
pass), so the firing minutes follow from the fields' own `isSatisfiedBy`, mirrored here with their quirks:

- day of month and day of week both restricted (neither is literally `*`) fire when EITHER matches, as standard
  cron does; `1-31` or `*/1` count as restricted (dragonmantank compares the text with `*`, not the values);
- a day-of-week part containing the character `7` is read against ISO weekdays (Monday 1 … Sunday 7), any other
  against 0 (Sunday) … 6: so `7` and `0` are both Sunday, but `7-7` and `0-0` become `0-7` (every day),
  `0-7/2` is Tuesday, Thursday and Saturday (no Sunday) and `0-6/7` matches nothing;
- a step that PHP's `FILTER_VALIDATE_INT` refuses (`*/05`, `*/5abc`) passes poliander's validation but makes
  dragonmantank's constructor throw: such a frequency is stored but never fires.

Times are wall-clock minutes in the server's timezone; daylight-saving jumps are not modelled.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from bulkbackup._core.cron import KEYWORDS, is_valid_frequency

# dragonmantank's own aliases (CronExpression::MAPPINGS), looked up case-insensitively after Coolify's keywords.
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_LITERALS = (
    {},
    {},
    {},
    {m: str(i) for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)},
    {d: str(i) for i, d in enumerate("MON TUE WED THU FRI SAT SUN".split(), 1)},
)
_FILTER_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")  # PHP FILTER_VALIDATE_INT: no leading zeros, no fraction


class UnschedulableError(ValueError):
    """The scheduler cannot fire this frequency (the message says why)."""


@dataclass(frozen=True)
class Firing:
    """A frequency compiled to the values at which each field is satisfied."""

    frequency: str
    expression: str  # after keyword translation
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # day of month, 1..31
    months: frozenset[int]
    weekdays: frozenset[int]  # ISO: Monday 1 … Sunday 7
    day_or: bool  # day of month and day of week both restricted: either one fires

    def fires_on(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        on_day, on_weekday = day.day in self.days, day.isoweekday() in self.weekdays
        return (on_day or on_weekday) if self.day_or else (on_day and on_weekday)

    def fires_at(self, when: dt.datetime) -> bool:
        return when.minute in self.minutes and when.hour in self.hours and self.fires_on(when.date())

    def times(self, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
        """Every firing minute in [start, end), in order."""
        start = start.replace(second=0, microsecond=0) + (
            dt.timedelta(minutes=1) if start.second or start.microsecond else dt.timedelta()
        )
        day = start.date()
        clock = [(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]
        while day <= end.date():
            if self.fires_on(day):
                for hour, minute in clock:
                    moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=start.tzinfo)
                    if moment >= end:
                        return
                    if moment >= start:
                        yield moment
            day += dt.timedelta(days=1)


def firing_times(frequency: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The minutes in [start, end) at which the server starts a backup with this `frequency`.

    Raises UnschedulableError for a frequency the server refuses, or stores but cannot schedule.
    """
    return list(compile_frequency(frequency).times(start, end))


@lru_cache(maxsize=65536)
def compile_frequency(frequency: str) -> Firing:
    """The frequency as the scheduler reads it; raises UnschedulableError (with the reason) when it cannot fire."""
    if not is_valid_frequency(frequency):
        raise UnschedulableError(f"{frequency!r} is not a frequency the server accepts")
    text = frequency.strip()  # Laravel's TrimStrings stored it trimmed
    expression = KEYWORDS.get(text, text)
    expression = _ALIASES.get(expression.lower(), expression)
    parts = expression.split()
    for index, part in enumerate(parts):
        problem = _dragonmantank_problem(index, part)
        if problem:
            raise UnschedulableError(
                f"{frequency!r} passes the server's validation but its scheduler refuses it ({problem}): "
                "it never starts a backup"
            )
    sets = [_matching(index, part) for index, part in enumerate(parts[:4])]
    weekdays = _weekdays(parts[4])
    return Firing(
        frequency=frequency,
        expression=expression,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        day_or=parts[2] != "*" and parts[4] != "*",
    )


def _dragonmantank_problem(index: int, value: str) -> str | None:
    """AbstractField::validate, for what poliander already accepted: only steps can still fail."""
    for item in value.split(","):
        if "/" in item:
            step = item.split("/")[1]
            if not _FILTER_INT.fullmatch(step) or int(step) == 0:
                return f"step {step!r} is not a plain integer"
    return None


def _parts(part: str) -> list[str]:
    return [p.strip() for p in part.split(",")] if "," in part else [part]


def _convert(index: int, value: str) -> str:
    return _LITERALS[index].get(value.upper(), value)


def _php_int(text: str) -> int:
    match = re.match(r"\s*[+-]?[0-9]+", text)
    return int(match.group()) if match else 0


def _satisfied_by(part: str, index: int) -> set[int]:
    """The values for which AbstractField::isSatisfied($value, $part) is true."""
    low, high = _BOUNDS[index]
    if "/" in part:
        span, step_text = part.split("/", 1)
        step = _php_int(step_text)
        if step == 0:
            return set()
        if span == "*":
            span = f"{low}-{high}"
        chunks = span.split("-", 1)
        start = _php_int(chunks[0])
        end = _php_int(chunks[1]) if len(chunks) > 1 else start
        if step > high:  # dragonmantank's wrap-around for steps beyond the field (unreachable after poliander)
            full = list(range(low, high + 1))
            return {full[step % len(full)]}
        if step > end - start:
            return {start}
        return set(range(start, end + 1, step))
    if "-" in part:
        first, last = (_php_int(_convert(index, p.strip())) for p in part.split("-", 1))
        return set(range(first, last + 1))
    if part == "*":
        return set(range(low, high + 1))
    return {_php_int(part)}


def _matching(index: int, part: str) -> frozenset[int]:
    low, high = _BOUNDS[index]
    if part == "*":
        return frozenset(range(low, high + 1))
    values: set[int] = set()
    for item in _parts(part):
        values |= _satisfied_by(_convert(index, item), index)
    return frozenset(v for v in values if low <= v <= high)


def _weekdays(part: str) -> frozenset[int]:
    """ISO weekdays for which DayOfWeekField::isSatisfiedBy holds for some list part."""
    if part == "*":
        return frozenset(range(1, 8))
    found: set[int] = set()
    for value in _parts(part):
        value = _convert(4, value)
        if "-" in value:
            ends = value.split("-")
            if ends[0] == "7":
                ends[0] = "0"
            elif ends[1] == "0":
                ends[1] = "7"
            value = "-".join(ends)
        values = _satisfied_by(value, 4)
        # Sunday is 7 when any character of the part is a 7 ('N' format), else 0 ('w' format).
        iso_format = "7" in value
        found.update(iso for iso in range(1, 8) if (iso if iso_format else iso % 7) in values)
    return frozenset(found)
