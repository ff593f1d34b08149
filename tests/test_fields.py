"""The table of settable fields against independent sources: API-RULES §2 and Coolify's own OpenAPI document.

The expectations below are copied from `coolify/API-RULES.md` (the server's rules) and read from
`tests/data/openapi-backups.json`; they are deliberately not derived from `bulkbackup._core.fields` itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bulkbackup._core.columns import OUTPUT_COLUMNS
from bulkbackup._core.fields import (
    ALL_FIELDS,
    BACKUP_NOW,
    BY_NAME,
    CLEAR,
    INVENTORY_COLUMNS,
    KEY_ALIASES,
    KEY_COLUMNS,
    SETTING_NAMES,
    SETTINGS,
    CellError,
    Field,
    Kind,
    is_missing,
    shell_problem,
    uuid_problem,
)

DATA = Path(__file__).parent / "data"

# API-RULES §2: "Allowed keys (`$backupConfigFields`, DC 1057)", in that order, without backup_now.
SERVER_KEYS = [
    "save_s3",
    "enabled",
    "dump_all",
    "frequency",
    "databases_to_backup",
    "database_backup_retention_amount_locally",
    "database_backup_retention_days_locally",
    "database_backup_retention_max_storage_locally",
    "database_backup_retention_amount_s3",
    "database_backup_retention_days_s3",
    "database_backup_retention_max_storage_s3",
    "s3_storage_uuid",
    "timeout",
]

# API-RULES §2 validator rules (DC 1068-1083).
LARAVEL_RULES = {
    "save_s3": "boolean",
    "enabled": "boolean",
    "dump_all": "boolean",
    "backup_now": "boolean|nullable",
    "s3_storage_uuid": "string|exists:s3_storages,uuid|nullable",
    "databases_to_backup": "string|nullable",
    "frequency": "string",
    "database_backup_retention_amount_locally": "integer|min:0",
    "database_backup_retention_days_locally": "integer|min:0",
    "database_backup_retention_amount_s3": "integer|min:0",
    "database_backup_retention_days_s3": "integer|min:0",
    "database_backup_retention_max_storage_locally": "numeric|min:0",
    "database_backup_retention_max_storage_s3": "numeric|min:0",
    "timeout": "integer|min:60|max:36000",
    "missing_backup_notification_days": "integer|min:0|max:365",  # UPSTREAM.md, v4.3.18
}

# The version API-RULES and the OpenAPI document describe; UPSTREAM.md lists what later versions added.
DOCUMENTED_VERSION = "4.3.11"
UPSTREAM_ADDITIONS = {"missing_backup_notification_days": "4.3.18"}


def documented_settings() -> list[str]:
    """The settings a server of the documented version takes: the table's, minus what is marked as newer."""
    return [f.name for f in SETTINGS if f.missing_on(DOCUMENTED_VERSION) is None]


def patch_schema() -> dict:
    spec = json.loads((DATA / "openapi-backups.json").read_text(encoding="utf-8"))
    operation = spec["paths"]["/databases/{uuid}/backups/{scheduled_backup_uuid}"]["patch"]
    return operation["requestBody"]["content"]["application/json"]["schema"]["properties"]


def one_of(kind: Kind) -> Field:
    return next(f for f in SETTINGS if f.kind is kind)


# ---------------------------------------------------------------------------------------------------------------
# The table itself


def test_settings_are_exactly_the_patch_keys_of_the_openapi_document():
    properties = patch_schema()
    assert BACKUP_NOW.name in properties
    assert sorted(documented_settings()) == sorted(set(properties) - {BACKUP_NOW.name})


def test_settings_are_the_server_keys():
    assert sorted(documented_settings()) == sorted(SERVER_KEYS)


def test_newer_settings_say_which_version_added_them():
    assert {f.name: f.since for f in SETTINGS if f.since} == UPSTREAM_ADDITIONS
    field = BY_NAME["missing_backup_notification_days"]
    assert (
        field.missing_on("4.3.11")
        == "missing_backup_notification_days needs Coolify 4.3.18 or newer; this server runs 4.3.11"
    )
    assert field.missing_on("4.4.0-rc.1") is not None  # UPSTREAM: the 4.4 release candidate lacks it
    assert field.missing_on("4.3.18") is None and field.missing_on("4.3.23") is None
    assert field.missing_on(None) is None  # unknown version: the server decides
    assert BY_NAME["timeout"].missing_on("4.3.11") is None


SPEC_ORDER = [
    "enabled",
    "save_s3",
    "s3_storage_uuid",
    "frequency",
    "databases_to_backup",
    "dump_all",
    "database_backup_retention_amount_locally",
    "database_backup_retention_days_locally",
    "database_backup_retention_max_storage_locally",
    "database_backup_retention_amount_s3",
    "database_backup_retention_days_s3",
    "database_backup_retention_max_storage_s3",
    "timeout",
    "missing_backup_notification_days",
]


def test_settings_are_in_the_order_spec_lists_them():
    # Column order is what users see in exports and frames, so it follows SPEC "Input", not the server's list.
    assert list(SETTING_NAMES) == SPEC_ORDER


def test_kinds_match_the_openapi_types():
    properties = patch_schema()
    for field in ALL_FIELDS:
        if field.name not in UPSTREAM_ADDITIONS:
            assert field.kind.value == properties[field.name]["type"], field.name


def test_laravel_rules_match_the_server_rule_table():
    assert {f.name: f.laravel_rules for f in ALL_FIELDS} == LARAVEL_RULES


def test_derived_tables():
    assert ALL_FIELDS == (*SETTINGS, BACKUP_NOW)
    assert SETTING_NAMES == tuple(f.name for f in SETTINGS)
    assert BY_NAME == {f.name: f for f in ALL_FIELDS} and len(BY_NAME) == len(SETTINGS) + 1
    assert KEY_COLUMNS == ("database_uuid", "backup_uuid")
    assert KEY_ALIASES == {"uuid": "database_uuid", "scheduled_backup_uuid": "backup_uuid"}


def test_read_only_columns_never_shadow_an_input_column():
    inputs = {*KEY_COLUMNS, *KEY_ALIASES, *BY_NAME}
    assert not inputs & set(INVENTORY_COLUMNS)
    assert not inputs & set(OUTPUT_COLUMNS)


def test_only_databases_to_backup_can_be_cleared_and_only_s3_storage_uuid_cannot_be_compared():
    # API-RULES §6.3 (s3_storage_uuid null is a no-op) and §6.6 (databases_to_backup null clears it); §1: only
    # s3_storage_id is returned.
    assert [f.name for f in SETTINGS if f.clearable] == ["databases_to_backup"]
    assert [f.name for f in SETTINGS if not f.comparable] == ["s3_storage_uuid"]


def test_timeout_bounds_match_the_openapi_description():
    assert "(min: 60, max: 36000)" in patch_schema()["timeout"]["description"]
    assert (BY_NAME["timeout"].minimum, BY_NAME["timeout"].maximum) == (60, 36000)


# ---------------------------------------------------------------------------------------------------------------
# Field.read


READ_CASES = [
    # (kind, cell, expected value)
    (Kind.BOOL, "true", True),
    (Kind.BOOL, "TRUE", True),
    (Kind.BOOL, " Yes ", True),
    (Kind.BOOL, "y", True),
    (Kind.BOOL, "1", True),
    (Kind.BOOL, "1.0", True),
    (Kind.BOOL, "on", True),
    (Kind.BOOL, True, True),
    (Kind.BOOL, 1, True),
    (Kind.BOOL, 1.0, True),
    (Kind.BOOL, np.True_, True),
    (Kind.BOOL, np.int64(1), True),
    (Kind.BOOL, "false", False),
    (Kind.BOOL, "False", False),
    (Kind.BOOL, "NO", False),
    (Kind.BOOL, "0", False),
    (Kind.BOOL, "0.0", False),
    (Kind.BOOL, "off", False),
    (Kind.BOOL, False, False),
    (Kind.BOOL, 0, False),
    (Kind.BOOL, np.False_, False),
    (Kind.INT, "14", 14),
    (Kind.INT, "14.0", 14),
    (Kind.INT, "14.", 14),
    (Kind.INT, " 14 ", 14),
    (Kind.INT, "+5", 5),
    (Kind.INT, "-1", -1),
    (Kind.INT, "007", 7),
    (Kind.INT, 14, 14),
    (Kind.INT, 14.0, 14),
    (Kind.INT, np.int64(14), 14),
    (Kind.INT, np.float64(14.0), 14),
    (Kind.NUMBER, "2.5", 2.5),
    (Kind.NUMBER, "2.5000000", 2.5),
    (Kind.NUMBER, ".5", 0.5),
    (Kind.NUMBER, "5.", 5.0),
    (Kind.NUMBER, "1e3", 1000.0),
    (Kind.NUMBER, " 2 ", 2.0),
    (Kind.NUMBER, 2, 2.0),
    (Kind.NUMBER, np.float64(0.25), 0.25),
    (Kind.TEXT, " 0 3 * * * ", "0 3 * * *"),
    (Kind.TEXT, "daily", "daily"),
    (Kind.TEXT, 5, "5"),
    (Kind.TEXT, 5.0, "5"),
    (Kind.TEXT, 5.5, "5.5"),
]


@pytest.mark.parametrize(("kind", "cell", "expected"), READ_CASES, ids=lambda v: repr(v))
def test_read(kind, cell, expected):
    value = one_of(kind).read(cell)
    assert value == expected and type(value) is type(expected)


READ_ERRORS = [
    # (kind, cell, part of the message)
    (Kind.BOOL, "maybe", "'maybe' is not a yes/no value"),
    (Kind.BOOL, "2", "'2' is not a yes/no value"),
    (Kind.BOOL, 2, "2 is not a yes/no value"),
    (Kind.BOOL, 0.5, "0.5 is not a yes/no value"),
    (Kind.BOOL, "", "is not a yes/no value"),
    (Kind.INT, "1,5", "'1,5' is not a whole number (a comma"),
    (Kind.INT, "1,000", "'1,000' is not a whole number (a comma"),
    (Kind.INT, "5.5", "'5.5' is not a whole number"),
    (Kind.INT, "1e3", "'1e3' is not a whole number"),
    (Kind.INT, "abc", "'abc' is not a whole number"),
    (Kind.INT, 5.5, "5.5 is not a whole number"),
    (Kind.INT, True, "True is not a whole number"),
    (Kind.INT, float("inf"), "is not a whole number"),
    (Kind.NUMBER, "1,5", "'1,5' is not a number: write the decimal point as '.', e.g. '1.5'"),
    (Kind.NUMBER, "abc", "'abc' is not a number"),
    (Kind.NUMBER, "nan", "'nan' is not a number"),
    (Kind.NUMBER, "inf", "'inf' is not a number"),
    (Kind.NUMBER, True, "True is not a number"),
    (Kind.NUMBER, float("inf"), "inf is not a finite number"),
    (Kind.NUMBER, float("nan"), "is not a finite number"),
]


@pytest.mark.parametrize(("kind", "cell", "message"), READ_ERRORS, ids=lambda v: repr(v))
def test_read_errors(kind, cell, message):
    with pytest.raises(CellError) as caught:
        one_of(kind).read(cell)
    assert message in str(caught.value)


def test_read_number_text_overflowing_to_infinity_is_an_error():
    with pytest.raises(CellError):
        one_of(Kind.NUMBER).read("1e400")


@pytest.mark.parametrize("digits", ["1" + "0" * 400, "12345678901234567890"])
def test_read_int_of_long_spreadsheet_integers_is_exact(digits):
    assert one_of(Kind.INT).read(digits + ".0") == int(digits)


@pytest.mark.parametrize("token", [CLEAR, CLEAR.upper(), f"  {CLEAR}  "])
def test_clear_token(token):
    assert BY_NAME["databases_to_backup"].read(token) == CLEAR
    with pytest.raises(CellError, match="cannot be cleared through the Coolify API"):
        BY_NAME["s3_storage_uuid"].read(token)
    for field in SETTINGS:
        if field.name not in ("databases_to_backup", "s3_storage_uuid"):
            with pytest.raises(CellError, match=f"^{field.name} cannot be cleared; leave the cell empty"):
                field.read(token)


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        (None, True),
        (float("nan"), True),
        (np.nan, True),
        (pd.NA, True),
        (pd.NaT, True),
        ("", True),
        ("  \t", True),
        ("x", False),
        (0, False),
        (False, False),
        ([], False),
        (CLEAR, False),
    ],
    ids=repr,
)
def test_is_missing(value, missing):
    assert is_missing(value) is missing


# ---------------------------------------------------------------------------------------------------------------
# Field.problems


PROBLEMS = [
    ("timeout", 59, ["timeout must be at least 60 (got 59)"]),
    ("timeout", 60, []),
    ("timeout", 36000, []),
    ("timeout", 36001, ["timeout must be at most 36000 (got 36001)"]),
    (
        "database_backup_retention_amount_locally",
        -1,
        ["database_backup_retention_amount_locally must be at least 0 (got -1)"],
    ),
    ("database_backup_retention_days_s3", 0, []),
    (
        "database_backup_retention_max_storage_s3",
        -0.5,
        ["database_backup_retention_max_storage_s3 must be at least 0 (got -0.5)"],
    ),
    ("database_backup_retention_max_storage_locally", 0.0, []),
    ("enabled", False, []),
    ("frequency", "0 3 * * *", []),
    ("frequency", "@daily", []),
    ("databases_to_backup", "app,other", []),
    ("databases_to_backup", CLEAR, []),
    ("s3_storage_uuid", "k0w4o8c4g0s8c8ws4wc0ogk8", []),
]


@pytest.mark.parametrize(("name", "value", "expected"), PROBLEMS, ids=repr)
def test_problems(name, value, expected):
    assert BY_NAME[name].problems(value) == expected


@pytest.mark.parametrize(
    ("name", "value", "start"),
    [
        ("frequency", "0 0 31 2 *", "frequency: '0 0 31 2 *' can never run: February has no day 31"),
        ("frequency", "every hour", "frequency: 'every hour' is not a valid frequency"),
        ("databases_to_backup", "a;b", "databases_to_backup: Invalid database name: contains forbidden character ';'"),
        ("s3_storage_uuid", "a/b", "s3_storage_uuid: 'a/b' is not a usable uuid"),
    ],
)
def test_problems_of_checked_text(name, value, start):
    (problem,) = BY_NAME[name].problems(value)
    assert problem.startswith(start)


def test_every_bounded_field_reports_both_sides():
    for field in SETTINGS:
        if field.minimum is not None:
            assert field.problems(field.minimum) == []
            assert len(field.problems(field.minimum - 1)) == 1
        if field.maximum is not None:
            assert field.problems(field.maximum) == []
            assert len(field.problems(field.maximum + 1)) == 1


# ---------------------------------------------------------------------------------------------------------------
# Field.same: desired (as read) against what the server returns


SAME = [
    # (field, desired, current from the server, same?)
    ("enabled", True, True, True),
    ("enabled", True, 1, True),
    ("enabled", False, 0, True),
    ("enabled", False, False, True),
    ("enabled", True, False, False),
    ("enabled", False, 1, False),
    ("save_s3", True, None, False),
    ("dump_all", False, True, False),
    ("timeout", 3600, 3600, True),
    ("timeout", 60, 3600, False),
    ("timeout", 60, None, False),
    ("database_backup_retention_amount_locally", 0, 0, True),
    ("database_backup_retention_max_storage_s3", 2.5, "2.5000000", True),
    ("database_backup_retention_max_storage_s3", 2.5, 2.5, True),
    ("database_backup_retention_max_storage_s3", 0.0, "0.0000000", True),
    ("database_backup_retention_max_storage_locally", 1.0, "1.5000000", False),
    ("database_backup_retention_max_storage_locally", 1.0, None, False),
    ("frequency", "daily", "daily", True),
    ("frequency", "daily", "0 0 * * *", False),
    ("databases_to_backup", CLEAR, None, True),
    ("databases_to_backup", CLEAR, "", True),
    ("databases_to_backup", CLEAR, "app", False),
    ("databases_to_backup", "app", None, False),
    ("databases_to_backup", "app", "", False),
    ("databases_to_backup", "app", "app", True),
    ("s3_storage_uuid", "abc", "abc", False),  # never comparable: the server only returns s3_storage_id
]


@pytest.mark.parametrize(("name", "desired", "current", "same"), SAME, ids=repr)
def test_same(name, desired, current, same):
    assert BY_NAME[name].same(desired, current) is same


def test_to_json():
    assert BY_NAME["databases_to_backup"].to_json(CLEAR) is None
    assert BY_NAME["timeout"].to_json(60) == 60


# ---------------------------------------------------------------------------------------------------------------
# shell_problem: the server's validateDatabasesBackupInput (API-RULES §2)


# validateShellSafePath's list, in its order, with its descriptions (shared.php:136-164).
SERVER_SHELL_CHARS = [
    ("`", "backtick (command substitution)"),
    ("$(", "command substitution"),
    ("${", "variable substitution with potential command injection"),
    ("|", "pipe operator"),
    ("&", "background/AND operator"),
    (";", "command separator"),
    ("\n", "newline (command separator)"),
    ("\r", "carriage return"),
    ("\t", "tab (token separator)"),
    (">", "output redirection"),
    ("<", "input redirection"),
]
SUFFIX = "Shell metacharacters are not allowed for security reasons."


@pytest.mark.parametrize(("char", "description"), [c for c in SERVER_SHELL_CHARS if c[0] != "|"], ids=repr)
def test_shell_problem_for_each_forbidden_character(char, description):
    expected = f"Invalid database name: contains forbidden character '{char}' ({description}). {SUFFIX}"
    assert shell_problem(f"app{char}x") == expected
    collection = f"Invalid collection name: contains forbidden character '{char}' ({description}). {SUFFIX}"
    assert shell_problem(f"app:users,col{char}x") == collection


@pytest.mark.parametrize(
    "text",
    [
        "app",
        "app,other",
        "a|b",  # '|' separates MongoDB databases, it is never inside a name
        " a | b ",
        "a||b",
        "all",
        "*",
        "app|all|*",
        "",
        "db:col1,col2",
        "db1:col1,col2|db2:col3",
        "my app",  # spaces pass
        "'quoted'",
        '"double"',
        "$HOME",  # a bare $ passes
        "cost$",
        "app\n",  # entries are trimmed
        "\tapp",
    ],
    ids=repr,
)
def test_shell_problem_accepts(text):
    assert shell_problem(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a;b&c", "'&'"),  # the server's list order decides, not the position in the text
        ("a<b>c", "'>'"),
        ("$(id)", "'$('"),
        ("${IFS}", "'${'"),
        ("ok|bad;x", "Invalid database name: contains forbidden character ';'"),
        ("d;b:col", "Invalid database name: contains forbidden character ';'"),
        ("db:ok,c;d", "Invalid collection name: contains forbidden character ';'"),
        ("ok,a`b", "'`'"),
        ("a\nb", "newline"),
    ],
    ids=repr,
)
def test_shell_problem_rejects(text, expected):
    problem = shell_problem(text)
    assert problem is not None and expected in problem and problem.endswith(SUFFIX)


# ---------------------------------------------------------------------------------------------------------------
# uuid_problem


@pytest.mark.parametrize(
    "text", ["k0w4o8c4g0s8c8ws4wc0ogk8", "550e8400-e29b-41d4-a716-446655440000", "a", "A_b-9", "007"]
)
def test_uuid_problem_accepts(text):
    assert uuid_problem(text) is None


@pytest.mark.parametrize(
    "text",
    ["", " ", "a b", " a", "a/b", "../x", "a?b", "a#b", "a%2Fb", "a.b", "..", "-abc", "_abc", "é", "a\tb", "a\nb"],
    ids=repr,
)
def test_uuid_problem_rejects(text):
    problem = uuid_problem(text)
    assert problem is not None and repr(text) in problem
