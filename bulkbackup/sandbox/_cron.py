"""Coolify's `validate_cron_expression` (shared.php:913-927) as API-RULES §2 describes it, written for the sandbox.

Valid: one of the keywords of VALID_CRON_STRINGS (case-sensitive), or what poliander/cron 3.3.1's `isValid()`
takes: exactly five blank-separated fields (minute, hour, day of month, month, day of week 0-7); each field a
comma list of `*`, `n` or `a-b`, the first and last optionally `/step` with 1 <= step <= the field's maximum (a
step on a plain value is invalid); a month or day name only as the whole field; no `L ? # W`; and some date must
match day of month, month and day of week together (`0 0 31 2 *` never does).
"""

from __future__ import annotations

import calendar
import datetime
import re

KEYWORDS = frozenset(
    ("every_minute", "hourly", "daily", "weekly", "monthly", "yearly", "@hourly", "@daily", "@weekly")
    + ("@monthly", "@yearly")
)
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WHOLE_FIELD_NAMES = {3: {n: i + 1 for i, n in enumerate(_MONTH_NAMES)}, 4: {n: i for i, n in enumerate(_DAY_NAMES)}}
_SPLIT = re.compile(r"[ \t\n\r\x0b\f]+")  # preg_split('/\s+/') without /u
_NUMBER = re.compile(r"[0-9]+")  # ctype_digit
# PHP 8's (int) cast of a string takes its leading number ("5abc" → 5, "abc" → 0, "1e3" → 1000).
_LEADING_NUMBER = re.compile(r"[ \t\n\r\x0b\f]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
# 28 years hold every weekday of every day of the year, 29 February included (2000 is a leap year).
_YEARS = range(2000, 2028)


class _NotCron(Exception):
    pass


def valid_frequency(value: object) -> bool:
    """What the server accepts as `frequency` once TrimStrings has run."""
    if not isinstance(value, str) or value in ("", "0"):  # PHP empty()
        return False
    return value in KEYWORDS or _poliander_valid(value)


def _poliander_valid(expression: str) -> bool:
    fields = _SPLIT.split(expression.strip(" \t\n\r\0\x0b"))
    if len(fields) != 5:
        return False
    try:
        sets = [_field(position, text) for position, text in enumerate(fields)]
    except _NotCron:
        return False
    return _some_date(days=sets[2], months=sets[3], weekdays={d % 7 for d in sets[4]})


def _field(position: int, text: str) -> set[int]:
    names = _WHOLE_FIELD_NAMES.get(position)
    if names and text.lower() in names:
        return {names[text.lower()]}
    values: set[int] = set()
    for item in text.split(","):
        values |= _item(position, item)
    return values


def _item(position: int, item: str) -> set[int]:
    low, high = _RANGES[position]
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if "/" in step_text:
            raise _NotCron(item)
        step = _php_int(step_text)
        if not 1 <= step <= high:
            raise _NotCron(item)
    if _NUMBER.fullmatch(base):
        if slash or not low <= int(base) <= high:
            raise _NotCron(item)
        return {int(base)}
    if base == "*":
        return set(range(low, high + 1, step))
    ends = base.split("-")
    if len(ends) != 2 or not all(_NUMBER.fullmatch(e) and low <= int(e) <= high for e in ends):
        raise _NotCron(item)
    first, last = int(ends[0]), int(ends[1])
    if first > last:
        raise _NotCron(item)
    return set(range(first, last + 1, step))


def _php_int(text: str) -> int:
    match = _LEADING_NUMBER.match(text)
    return int(float(match.group(1))) if match and abs(float(match.group(1))) < 2**63 else 0


def _some_date(days: set[int], months: set[int], weekdays: set[int]) -> bool:
    for year in _YEARS:
        for month in months:
            length = calendar.monthrange(year, month)[1]
            for day in days:
                if day <= length and datetime.date(year, month, day).isoweekday() % 7 in weekdays:
                    return True
    return False
