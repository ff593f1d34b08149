"""firing_times(): the minutes at which the server's scheduler (dragonmantank/cron-expression v3.6.0) starts a backup.

Checked against croniter, an independent implementation, on a broad generated set of expressions both read alike;
the few places where dragonmantank's reading differs from plain cron are pinned one by one, each from its PHP source.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bulkbackup._core.cron import KEYWORDS, is_valid_frequency
from bulkbackup._core.firing import UnschedulableError, compile_frequency, firing_times

MONDAY = dt.datetime(2026, 3, 2)  # a Monday
BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
CAP = 1000  # firing minutes compared per expression: all of two weeks unless it fires more often than that


def _croniter_times(expression: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    found, it = [], croniter(expression, start - dt.timedelta(minutes=1))
    while len(found) < CAP:
        moment = it.get_next(dt.datetime)
        if moment >= end:
            break
        found.append(moment)
    return found


@st.composite
def _element(draw, index: int) -> str:
    low, high = BOUNDS[index]
    kind = draw(st.sampled_from(["value", "range", "star-step", "range-step"]))
    if kind == "value":
        return str(draw(st.integers(low, high)))
    # croniter 7 reads a one-value range "5-5" as "*" and "4-4/3" as "*/3": compare only real ranges.
    first = draw(st.integers(low, high - 1))
    last = draw(st.integers(first + 1, high))
    step = draw(st.integers(1, high))
    if index == 4 and kind in ("range", "range-step", "star-step"):
        # dragonmantank reads a weekday part containing the character 7 against ISO weekdays (pinned below).
        last = min(last, 6) if kind != "range" else last
        first = min(first, last - 1)
        step = min(step, 6)
    return {"range": f"{first}-{last}", "star-step": f"*/{step}", "range-step": f"{first}-{last}/{step}"}[kind]


@st.composite
def _field(draw, index: int) -> str:
    # A list holding "*" is restricted text for dragonmantank but "*" for croniter: lists never hold a bare "*".
    if draw(st.booleans()):
        return "*"
    return ",".join(draw(st.lists(_element(index), min_size=1, max_size=3)))


MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
DAYS = "sun mon tue wed thu fri sat".split()


def _named(names: list[str]):
    # A name stands alone in its field (poliander's rule), in any case.
    return st.sampled_from(names).flatmap(lambda n: st.sampled_from([n, n.upper(), n.capitalize()]))


@st.composite
def _expression(draw) -> str:
    fields = [draw(_field(i)) for i in range(3)]
    fields.append(draw(st.one_of(_field(3), _named(MONTHS))))
    fields.append(draw(st.one_of(_field(4), _named(DAYS))))
    return " ".join(fields)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(expression=_expression(), offset=st.integers(0, 4 * 365))
def test_firing_minutes_equal_croniter(expression, offset):
    assume(is_valid_frequency(expression))
    firing = compile_frequency(expression)
    # dragonmantank decides "restricted" by the text (pinned below), croniter by the values.
    assume(not (firing.day_or and (len(firing.days) == 31 or len(firing.weekdays) == 7)))
    start = dt.datetime(2026, 1, 1) + dt.timedelta(days=offset, minutes=offset % 1440)
    end = start + dt.timedelta(days=14)
    ours = list(itertools.islice(firing.times(start, end), CAP))
    assert ours == _croniter_times(expression, start, end)


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 * * *",
        "*/15 9-17 * * 1-5",
        "0 3 1,15 * 1",  # day of month OR day of week
        "30 2 * * 0",
        "30 2 * * 7",
        "0 0 * * SUN",
        "0 12 * mar *",
        "0 4 */2 * *",
        "5 4 * * */2",
        "0 0 29 2 *",
        "17 2 * * *",
    ],
)
def test_common_expressions_equal_croniter(expression):
    start = dt.datetime(2027, 12, 20, 13, 7)
    end = start + dt.timedelta(days=14)
    assert firing_times(expression, start, end)[:CAP] == _croniter_times(expression, start, end)


def _weekdays(expression: str) -> list[str]:
    days = {t.strftime("%a") for t in firing_times(expression, MONDAY, MONDAY + dt.timedelta(days=7))}
    return [d for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun") if d in days]


@pytest.mark.parametrize(
    ("expression", "weekdays"),
    [
        ("0 0 * * 0", ["Sun"]),
        ("0 0 * * 7", ["Sun"]),
        ("0 0 * * sun", ["Sun"]),
        ("0 0 * * 5-7", ["Fri", "Sat", "Sun"]),
        # DayOfWeekField turns "7-x" into "0-x" and "x-0" into "x-7": both become 0-7, every day.
        ("0 0 * * 7-7", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
        ("0 0 * * 0-0", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
        # A part containing the character 7 is matched against date('N') (Mon 1 … Sun 7): 0 never comes.
        ("0 0 * * 0-7/2", ["Tue", "Thu", "Sat"]),
        ("0 0 * * 0-6/7", []),
        ("0 0 * * */7", ["Sun"]),
        # Without a 7 the part is matched against date('w') (Sun 0 … Sat 6).
        ("0 0 * * */2", ["Tue", "Thu", "Sat", "Sun"]),
    ],
)
def test_day_of_week_as_dragonmantank_reads_it(expression, weekdays):
    assert _weekdays(expression) == weekdays


def test_both_days_restricted_fire_when_either_matches():
    # getRunDate merges the run dates of "m h dom mon *" and "m h * mon dow" when neither field is literally "*".
    march = firing_times("0 0 1 * 1", dt.datetime(2026, 3, 1), dt.datetime(2026, 4, 1))
    assert [t.day for t in march] == [1, 2, 9, 16, 23, 30]
    # The test is on the text: "1-31" is restricted, so any day matches, even though it means every day.
    assert len(firing_times("0 0 1-31 * 1", MONDAY, MONDAY + dt.timedelta(days=7))) == 7
    assert len(firing_times("0 0 */1 * 1", MONDAY, MONDAY + dt.timedelta(days=7))) == 7
    assert _weekdays("0 0 * * 1") == ["Mon"]


@pytest.mark.parametrize("keyword", sorted(KEYWORDS))
def test_keywords_fire_as_their_expression(keyword):
    start, end = dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 8)
    assert firing_times(keyword, start, end) == firing_times(KEYWORDS[keyword], start, end)
    assert compile_frequency(keyword).expression == KEYWORDS[keyword]


def test_keyword_counts():
    week = (MONDAY, MONDAY + dt.timedelta(days=7))
    assert len(firing_times("every_minute", *week)) == 7 * 24 * 60
    assert len(firing_times("hourly", *week)) == 7 * 24
    assert [t.strftime("%a %H:%M") for t in firing_times("weekly", *week)] == ["Sun 00:00"]
    assert firing_times("@monthly", dt.datetime(2026, 1, 1), dt.datetime(2026, 4, 1)) == [
        dt.datetime(2026, m, 1) for m in (1, 2, 3)
    ]
    assert firing_times("yearly", dt.datetime(2026, 1, 1), dt.datetime(2028, 1, 1)) == [
        dt.datetime(2026, 1, 1),
        dt.datetime(2027, 1, 1),
    ]


def test_window_is_half_open_and_rounds_up_to_the_minute():
    assert firing_times("0 3 * * *", dt.datetime(2026, 3, 2, 3, 0), dt.datetime(2026, 3, 3, 3, 0)) == [
        dt.datetime(2026, 3, 2, 3, 0)
    ]
    assert firing_times("0 3 * * *", dt.datetime(2026, 3, 2, 3, 0, 1), dt.datetime(2026, 3, 3, 3, 1)) == [
        dt.datetime(2026, 3, 3, 3, 0)
    ]


@pytest.mark.parametrize("frequency", ["*/05 * * * *", "0 */1e1 * * *", "*/5abc * * * *"])
def test_accepted_but_never_scheduled(frequency):
    # poliander casts the step with (int) and accepts it; dragonmantank wants FILTER_VALIDATE_INT and throws.
    assert is_valid_frequency(frequency)
    with pytest.raises(UnschedulableError, match="never starts a backup"):
        compile_frequency(frequency)


@pytest.mark.parametrize("frequency", ["", "every day", "@midnight", "Daily", "0 0 31 2 *", None])
def test_refused_frequencies_raise(frequency):
    with pytest.raises(UnschedulableError, match="not a frequency the server accepts"):
        compile_frequency(frequency)
