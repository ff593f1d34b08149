"""The client's field table (bulkbackup._core.fields, cron) held against the sandbox's own transcription of
API-RULES (bulkbackup.sandbox._rules, _cron): the two are written apart, so a wrong bound on either side fails here.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbackup._core import fields as client_fields
from bulkbackup._core.cron import KEYWORDS as CLIENT_KEYWORDS
from bulkbackup._core.cron import is_valid_frequency
from bulkbackup._core.fields import ALL_FIELDS, Kind
from bulkbackup.sandbox import Sandbox
from bulkbackup.sandbox import _rules as sandbox_rules
from bulkbackup.sandbox._cron import KEYWORDS as SANDBOX_KEYWORDS
from bulkbackup.sandbox._cron import valid_frequency

CRON_CASES = [json.loads(line) for line in (pathlib.Path(__file__).parent / "data" / "cron-cases.jsonl").open()]
TYPE_RULE = {Kind.BOOL: "boolean", Kind.INT: "integer", Kind.NUMBER: "numeric", Kind.TEXT: "string"}
VERSIONS = ("4.0.0-beta.400", "4.2.0", "4.3.11", "4.3.17", "4.3.18", "4.3.19", "4.4.0-rc.1", "4.4.0", "5.0.0")


def _rule_params(rules: str) -> dict[str, str]:
    return dict(part.partition(":")[::2] for part in rules.split("|"))


def differences(fields, keys) -> list[str]:
    """Every way the client's fields and the sandbox's key rules disagree (empty when they agree)."""
    found = []
    by_name = {k.name: k for k in keys}
    client_names, sandbox_names = [f.name for f in fields], list(by_name)
    if sorted(client_names) != sorted(sandbox_names):
        found.append(f"names: client {sorted(client_names)} != sandbox {sorted(sandbox_names)}")
    for field in fields:
        key = by_name.get(field.name)
        if key is None:
            continue
        name = field.name
        if field.laravel_rules != key.rules:
            found.append(f"{name}: rules {field.laravel_rules!r} != {key.rules!r}")
        if TYPE_RULE[field.kind] != key.type_rule:
            found.append(f"{name}: kind {field.kind} != {key.type_rule}")
        params = _rule_params(key.rules)
        if field.nullable != ("nullable" in params):
            found.append(f"{name}: nullable {field.nullable} != {'nullable' in params}")
        for bound, value in (("min", field.minimum), ("max", field.maximum)):
            theirs = params.get(bound)
            mine = None if value is None else client_fields._num(value)
            if mine != theirs:
                found.append(f"{name}: {bound} {mine} != {theirs}")
        if key.column is not None:
            column = field.column
            if (column.sql, column.limit, column.places) != (key.column.sql, key.column.limit, key.column.places):
                found.append(f"{name}: column {column} != {key.column}")
        if (field.since, field.absent_in) != (key.since, key.absent_in):
            found.append(f"{name}: versions {(field.since, field.absent_in)} != {(key.since, key.absent_in)}")
        for version in VERSIONS:
            if (field.missing_on(version) is None) != key.accepted_on(version):
                found.append(f"{name}: on {version} the client says {field.missing_on(version)!r}")
    return found


def test_the_client_field_table_agrees_with_the_sandbox_transcription():
    assert differences(ALL_FIELDS, sandbox_rules.KEYS) == []


@pytest.mark.parametrize(
    "change",
    [
        {"maximum": 3600},  # a wrong timeout bound on the client's side
        {"minimum": None},
        {"nullable": True},
        {"kind": Kind.NUMBER},
        {"since": "4.3.0"},
        {"column": client_fields.Column("integer", 2**63 - 1)},
    ],
)
def test_a_wrong_client_bound_is_caught(change):
    timeout = next(f for f in ALL_FIELDS if f.name == "timeout")
    wrong = dataclasses.replace(timeout, **change)
    fields = tuple(wrong if f is timeout else f for f in ALL_FIELDS)
    assert any(d.startswith("timeout:") for d in differences(fields, sandbox_rules.KEYS))


def test_a_wrong_sandbox_rule_is_caught():
    keys = tuple(
        dataclasses.replace(k, rules="integer|min:0|max:3650") if k.name == "missing_backup_notification_days" else k
        for k in sandbox_rules.KEYS
    )
    assert differences(ALL_FIELDS, keys) == [
        "missing_backup_notification_days: rules 'integer|min:0|max:365' != 'integer|min:0|max:3650'",
        "missing_backup_notification_days: max 365 != 3650",
    ]


def test_column_limits_and_keywords_agree():
    assert client_fields.INTEGER_COLUMN.limit == sandbox_rules.INT4_MAX
    assert (client_fields.DECIMAL_COLUMN.limit, client_fields.DECIMAL_COLUMN.places) == (
        sandbox_rules.DECIMAL_17_7_LIMIT,
        sandbox_rules.DECIMAL_17_7_PLACES,
    )
    assert client_fields.VARCHAR_COLUMN.limit == sandbox_rules.VARCHAR_LIMIT
    assert set(CLIENT_KEYWORDS) == SANDBOX_KEYWORDS


@pytest.mark.parametrize("case", CRON_CASES, ids=lambda c: repr(c["frequency"]))
def test_the_sandbox_cron_validator_matches_the_recorded_cases(case):
    # The server sees the value after TrimStrings.
    assert valid_frequency(case["frequency"].strip()) is case["valid"]


_CRON_ATOMS = st.sampled_from(
    ["*", "0", "1", "5", "7", "8", "12", "23", "24", "29", "30", "31", "59", "60", "1-5", "5-1", "*/5", "*/0"]
    + ["*/7", "*/60", "1-10/3", "5/10", "jan", "dec", "sun", "mon-fri", "L", "?", "1,2", "a", "*/1x", "2-3/"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_CRON_ATOMS, min_size=3, max_size=6), st.sampled_from([" ", "\t", "  "]))
def test_client_and_sandbox_cron_validators_agree(atoms, separator):
    expression = separator.join(atoms)
    assert valid_frequency(expression) == is_valid_frequency(expression), expression


# --- Over HTTP: the sandbox enforces the client's bounds at their edges --------------------------------------


def _bounded_fields():
    for field in ALL_FIELDS:
        if field.kind in (Kind.INT, Kind.NUMBER) and field.missing_on("4.3.18") is None:
            yield field


@pytest.fixture(scope="module")
def sandbox_4318():
    with Sandbox(databases=5, seed=3, rate_limit=100_000, version="4.3.18") as sandbox:
        yield sandbox


def _patch(sandbox, body):
    database = next(d for d in sandbox.databases if d["backups"] and d["status"].startswith("running"))
    return requests.patch(
        f"{sandbox.endpoint}/databases/{database['uuid']}/backups/{database['backups'][0]}",
        json=body,
        headers={"Authorization": f"Bearer {sandbox.token}", "Accept": "application/json"},
        timeout=10,
    )


@pytest.mark.parametrize("field", list(_bounded_fields()), ids=lambda f: f.name)
def test_the_sandbox_takes_the_client_bounds_and_refuses_beyond_them(sandbox_4318, field):
    low, high = field.bounds
    step = 1 if field.kind is Kind.INT else 0.5
    assert _patch(sandbox_4318, {field.name: low}).status_code == 200
    assert _patch(sandbox_4318, {field.name: high}).status_code == 200
    below = _patch(sandbox_4318, {field.name: low - step})
    assert below.status_code == 422 and field.name in below.json()["errors"]
    above = _patch(sandbox_4318, {field.name: high + (step if field.kind is Kind.INT else 10**10 - high)})
    # Beyond a rule's max: 422; beyond only the column (int4, decimal(17,7)): PostgreSQL's error, a 500.
    assert above.status_code == (422 if field.maximum is not None else 500), above.text
