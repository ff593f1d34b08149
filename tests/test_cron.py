"""is_valid_frequency(): the server's frequency rule (API-RULES §2, validate_cron_expression + poliander/cron 3.3.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkbackup._core.cron import KEYWORDS, is_valid_frequency

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "cron-cases.jsonl").read_text().splitlines()]


def test_the_case_file_is_there():
    assert len(CASES) > 100
    assert {case["valid"] for case in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[repr(case["frequency"]) for case in CASES])
def test_server_verdicts(case):
    assert is_valid_frequency(case["frequency"]) is case["valid"]


# Hand-made from API-RULES §2 "poliander 3.3.1 grammar (tested)" and "validate_cron_expression".
GRAMMAR = [
    # exactly 5 whitespace-separated fields, no seconds or year
    ("* * * * *", True),
    ("0 3 * * *", True),
    ("* * * *", False),
    ("* * * * * *", False),
    ("0 0 3 * * *", False),
    ("0 0 1 1 * 2027", False),
    # lists, ranges and steps
    ("0,15,30,45 * * * *", True),
    ("*/15 * * * *", True),
    ("0-59/15 * * * *", True),
    ("*/15 9-17 * * 1-5", True),
    ("1-5,10-20/2,30 * * * *", True),
    ("0 0 1,15 * *", True),
    ("5-5 * * * *", True),
    ("1,,2 * * * *", False),
    ("1- * * * *", False),
    ("-1 * * * *", False),
    ("1-2-3 * * * *", False),
    ("*/5/5 * * * *", False),
    ("a-b * * * *", False),
    # a step on a plain value is invalid
    ("5/10 * * * *", False),
    ("0 3/2 * * *", False),
    # step 1..field maximum
    ("*/1 * * * *", True),
    ("*/59 * * * *", True),
    ("*/60 * * * *", False),
    ("*/0 * * * *", False),
    ("* */23 * * *", True),
    ("* */24 * * *", False),
    ("* * */31 * *", True),
    ("* * */32 * *", False),
    ("* * * */12 *", True),
    ("* * * */13 *", False),
    ("* * * * */7", True),
    ("* * * * */8", False),
    # value bounds
    ("59 23 31 12 7", True),
    ("60 * * * *", False),
    ("* 24 * * *", False),
    ("* * 0 * *", False),
    ("* * 32 * *", False),
    ("* * * 0 *", False),
    ("* * * 13 *", False),
    # day of week 0-7, 7 = Sunday
    ("0 0 * * 0", True),
    ("0 0 * * 7", True),
    ("0 0 * * 0-7", True),
    ("0 0 * * 8", False),
    # names: the whole field only, any case
    ("0 0 * jan *", True),
    ("0 0 * JAN *", True),
    ("0 0 * Dec *", True),
    ("0 0 * * sun", True),
    ("0 0 * * SUN", True),
    ("0 0 * * Mon", True),
    ("0 0 * * mon-fri", False),
    ("0 0 * jan,feb *", False),
    ("0 0 * jan-mar *", False),
    ("0 0 * * monday", False),
    ("0 0 * mon *", False),
    ("0 0 * * jan", False),
    ("0 0 sun * *", False),
    ("jan 0 * * *", False),
    # L ? # W are not part of the grammar
    ("0 0 L * *", False),
    ("0 0 ? * *", False),
    ("0 0 * * ?", False),
    ("0 0 * * 1#2", False),
    ("0 0 15W * *", False),
    ("0 0 LW * *", False),
    ("0 0 * * 5L", False),
    # impossible dates are rejected; day of month AND day of week must match together
    ("0 0 31 2 *", False),
    ("0 0 30 2 *", False),
    ("0 0 31 4 *", False),
    ("0 0 31 4,6,9,11 *", False),
    ("0 0 30 2 1", False),
    ("0 0 29 2 *", True),
    ("0 0 31 1-2 *", True),
    ("0 0 31 * *", True),
    ("0 0 13 * 5", True),
    # a range whose lower value is larger than the upper one is invalid (no wrap-around)
    ("0 0 * * 5-1", False),
    ("30-10 * * * *", False),
    ("0 22-2 * * *", False),
    ("0 0 20-10 * *", False),
    ("0 0 * 12-1 *", False),
    # PHP empty(): "" and "0" are invalid
    ("", False),
    ("0", False),
    ("   ", False),
    # surrounding whitespace is trimmed (Laravel's TrimStrings), inner whitespace of any length separates fields
    ("  0 3 * * *  ", True),
    ("\t0 3 * * *\n", True),
    ("0\t3\t*\t*\t*", True),
    ("0   3 *  * \t *", True),
    (" daily ", True),
]


@pytest.mark.parametrize(("text", "valid"), GRAMMAR, ids=[repr(t) for t, _ in GRAMMAR])
def test_grammar(text, valid):
    assert is_valid_frequency(text) is valid


# API-RULES §2: the accepted keywords, exactly and case-sensitively.
SERVER_KEYWORDS = {
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


def test_keyword_table():
    assert KEYWORDS == SERVER_KEYWORDS


@pytest.mark.parametrize("keyword", sorted(SERVER_KEYWORDS))
def test_keywords(keyword):
    assert is_valid_frequency(keyword)
    assert is_valid_frequency(SERVER_KEYWORDS[keyword])
    assert not is_valid_frequency(keyword.upper())
    if keyword.capitalize() != keyword:
        assert not is_valid_frequency(keyword.capitalize())
    assert not is_valid_frequency(keyword + "s")


@pytest.mark.parametrize(
    "text",
    [
        "@midnight",
        "@annually",
        "@reboot",
        "@every_minute",
        "Daily",
        "DAILY",
        "@Daily",
        "every minute",
        "every-minute",
        "minutely",
        "daily weekly",
        "daily,weekly",
    ],
)
def test_not_keywords(text):
    assert not is_valid_frequency(text)


@pytest.mark.parametrize("value", [None, 0, 5, 1.5, True, ["* * * * *"], b"* * * * *"], ids=repr)
def test_non_text_is_invalid(value):
    assert is_valid_frequency(value) is False
