"""The server's frequency rule: Coolify's `validate_cron_expression` (API-RULES §2, "Validation helpers").

A frequency is valid when it is one of Coolify's keywords (case-sensitive) or when poliander/cron 3.3.1's
`CronExpression::isValid()` accepts it. The parser below follows poliander's grammar step by step, PHP value
semantics included (`trim`, `preg_split('/\\s+/')`, `(int)` casts of step values, `ctype_digit` values), so it
agrees with the server on expressions nobody wrote a test for, not only on the known cases.
"""

from __future__ import annotations

import calendar
import datetime
import re

KEYWORDS: dict[str, str] = {
    "every_minute": "* * * * *",
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
    "yearly": "0 0 1 1 *",
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}

# (min, max) per field: minute, hour, day of month, month, day of week (0-7, 7 = Sunday).
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = (
    None,
    None,
    None,
    {
        m: i
        for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
    },
    {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
)
_PHP_TRIM = " \t\n\r\0\x0b"  # PHP's trim() strips these, and not \f
_PCRE_SPACE = re.compile(r"[ \t\n\x0b\f\r]+")  # PCRE \s without /u
_DIGITS = re.compile(r"[0-9]+")  # ctype_digit: ASCII digits only, never empty
_PHP_NUMERIC_PREFIX = re.compile(r"[ \t\n\r\x0b\f]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
# poliander searches this many years ahead for a date that matches day-of-month, month and weekday together.
_DATE_SEARCH_YEARS = 27


class _Invalid(Exception):
    pass


def is_valid_frequency(text: object) -> bool:
    """Whether the Coolify server accepts `text` as a backup `frequency` (exactly its rule)."""
    if not isinstance(text, str):
        return False
    # Laravel's TrimStrings middleware trims every string before the controller sees it.
    text = text.strip()
    if text in ("", "0"):  # PHP empty()
        return False
    if text in KEYWORDS:
        return True
    try:
        _parse(text)
    except _Invalid:
        return False
    return True


def _php_int(text: str) -> int:
    """PHP 8's `(int)` cast of a string: the leading numeric part, truncated; 0 when there is none."""
    match = _PHP_NUMERIC_PREFIX.match(text)
    if not match:
        return 0
    value = float(match.group(1))
    return int(value) if abs(value) < 2**63 else (2**63 - 1 if value > 0 else -(2**63))


_MONTHS = tuple(calendar.month_name)  # "", "January", …


def impossible_date(text: object) -> str | None:
    """Why a well-formed cron expression can never fire ("February has no day 31"), or None when it can, or when
    it is not well formed in the first place (then the grammar is what to explain)."""
    if not isinstance(text, str) or text.strip() in KEYWORDS:
        return None
    try:
        registers = _parse(text.strip(), check_dates=False)
    except _Invalid:
        return None
    try:
        _check_some_date_matches(registers)
    except _Invalid:
        pass
    else:
        return None
    days, months = registers[2], registers[3]
    # The longest each month ever gets (February: 29, in leap years).
    longest = {m: calendar.monthrange(2024, m)[1] for m in months}
    if all(min(days) > longest[m] for m in months):
        names = [_MONTHS[m] for m in sorted(months)]
        subject = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        verb = "has" if len(names) == 1 else "have"
        return f"{subject} {verb} no day {min(days)}"
    return "no date matches its day of month, month and weekday together"


def _parse(expression: str, *, check_dates: bool = True) -> list[set[int]]:
    segments = _PCRE_SPACE.split(expression.strip(_PHP_TRIM))
    if len(segments) != 5:
        raise _Invalid("invalid number of segments")
    registers: list[set[int]] = [set() for _ in range(5)]
    for index, segment in enumerate(segments):
        names = _NAMES[index]
        if names is not None and segment.lower() in names:
            # A name stands alone: "mon-fri" and "jan,feb" are not accepted.
            registers[index].add(names[segment.lower()])
            continue
        for element in segment.split(","):
            _parse_element(registers[index], index, element)
    if check_dates:
        _check_some_date_matches(registers)
    if 7 in registers[4]:
        registers[4].add(0)
    return registers


def _parse_element(register: set[int], index: int, element: str) -> None:
    low, high = _BOUNDS[index]
    step = 1
    parts = element.split("/")
    if len(parts) > 1:
        if len(parts) != 2:
            raise _Invalid("invalid stepping notation")
        step = _php_int(parts[1])
        if step < 1 or step > high:
            raise _Invalid("stepping out of allowed range")
        element = parts[0]
    if _DIGITS.fullmatch(element):
        # A single value cannot carry a step ("5/10").
        if step != 1 or not low <= int(element) <= high:
            raise _Invalid("invalid value")
        register.add(int(element))
        return
    if element == "*":
        start, end = low, high
    else:
        bounds = element.split("-")
        if len(bounds) != 2 or not all(_DIGITS.fullmatch(b) and low <= int(b) <= high for b in bounds):
            raise _Invalid("invalid range")
        start, end = int(bounds[0]), int(bounds[1])
        if start > end:
            raise _Invalid("lower value in range is larger than upper value")
    register.update(range(start, end + 1, step))


def _check_some_date_matches(registers: list[set[int]]) -> None:
    weekdays = {d % 7 for d in registers[4]}
    first_year = datetime.date.today().year
    for year in range(first_year, first_year + _DATE_SEARCH_YEARS):
        for month in sorted(registers[3]):
            last_day = calendar.monthrange(year, month)[1]
            for day in sorted(registers[2]):
                # Python's weekday() counts Monday as 0; cron counts Sunday as 0.
                if day <= last_day and (datetime.date(year, month, day).weekday() + 1) % 7 in weekdays:
                    return
    raise _Invalid("no date can ever match the day of month, month and weekday together")
