"""The PHP/Laravel value semantics the sandbox reproduces, function by function (API-RULES §2)."""

from __future__ import annotations

import json

import pytest

from bulkbackup.sandbox._laravel import (
    InvalidJson,
    Validator,
    acceptable_content_types,
    bearer_token,
    clean_input,
    decoded_truthy,
    displayable_attribute,
    expects_json,
    filter_validate_int,
    is_json_request,
    is_numeric,
    json_body,
    php_float_to_string,
    php_json_decode,
    pretty_json_body,
    request_boolean,
    request_filled,
    request_input,
    validate,
)
from bulkbackup.sandbox._model import is_equivalent, prepare_update

INTEGER_PASSES = [5, "5", "+5", " 5", "5 ", "\t5\n", 5.0, 1e3, True, 0, "-0", "+0", -5, "-5", 2**63 - 1, 1e13]
INTEGER_FAILS = [
    5.5,
    "5.0",
    "05",
    "1e3",
    None,
    False,
    "",
    "abc",
    [1],
    {},
    1e15,
    "9223372036854775808",
    "0x1A",
    " ",
    "1_000",
    "١",
]


@pytest.mark.parametrize("value", INTEGER_PASSES)
def test_filter_validate_int_accepts_what_php_accepts(value):
    assert filter_validate_int(value) is not None


@pytest.mark.parametrize("value", INTEGER_FAILS)
def test_filter_validate_int_refuses_what_php_refuses(value):
    assert filter_validate_int(value) is None


@pytest.mark.parametrize(("value", "expected"), [(True, 1), (5.0, 5), (1e3, 1000), ("+5", 5), (" -7 ", -7), ("-0", 0)])
def test_filter_validate_int_values(value, expected):
    assert filter_validate_int(value) == expected


@pytest.mark.parametrize("value", [5, 5.5, -1, "1.5", "1e3", " 5", "5 ", ".5", "5.", "-1", "+1", "1E-3"])
def test_is_numeric_accepts(value):
    assert is_numeric(value)


@pytest.mark.parametrize("value", [True, False, None, "abc", "0x1A", "", " ", "1e", "1_0", [1], "1.2.3", "- 1"])
def test_is_numeric_refuses(value):
    assert not is_numeric(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.0, "5"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (1e15, "1.0E+15"),
        (1e-5, "1.0E-5"),
        (2.5e20, "2.5E+20"),
        (99999999999999.0, "99999999999999"),
        (1e14, "1.0E+14"),
    ],
)
def test_php_float_to_string(value, text):
    assert php_float_to_string(value) == text


BOOLEAN_PASSES = [True, False, 0, 1, "0", "1"]
BOOLEAN_FAILS = ["true", "false", 1.0, 0.0, "yes", None, 2, -1, "01", [], {}, [True]]


@pytest.mark.parametrize("value", BOOLEAN_PASSES)
def test_boolean_rule_accepts_exactly_in_array_strict(value):
    assert validate({"enabled": value}, {"enabled": "boolean"}) == {}


@pytest.mark.parametrize("value", BOOLEAN_FAILS)
def test_boolean_rule_refuses(value):  # "" never reaches it: ConvertEmptyStringsToNull makes it null
    assert validate({"enabled": value}, {"enabled": "boolean"}) == {
        "enabled": ["The enabled field must be true or false."]
    }


@pytest.mark.parametrize(
    ("data", "rules", "errors"),
    [
        (
            {"timeout": "abc"},
            "integer|min:60|max:36000",
            ["The timeout field must be an integer.", "The timeout field must be at least 60."],
        ),
        (
            {"timeout": None},
            "integer|min:60|max:36000",
            ["The timeout field must be an integer.", "The timeout field must be at least 60."],
        ),
        ({"timeout": True}, "integer|min:60|max:36000", ["The timeout field must be at least 60."]),
        ({"timeout": 59}, "integer|min:60|max:36000", ["The timeout field must be at least 60."]),
        ({"timeout": 36001}, "integer|min:60|max:36000", ["The timeout field must not be greater than 36000."]),
        (
            {"timeout": "5.5"},
            "integer|min:60|max:36000",
            ["The timeout field must be an integer.", "The timeout field must be at least 60."],
        ),
        (
            {"timeout": [1, 2]},
            "integer|min:60|max:36000",
            ["The timeout field must be an integer.", "The timeout field must be at least 60."],
        ),
        ({"timeout": 60}, "integer|min:60|max:36000", []),
        ({"timeout": "36000"}, "integer|min:60|max:36000", []),
        ({"amount": -1}, "integer|min:0", ["The amount field must be at least 0."]),
        ({"amount": None}, "integer|min:0", ["The amount field must be an integer."]),
        ({"gb": "abc"}, "numeric|min:0", ["The gb field must be a number."]),
        ({"gb": "-0.5"}, "numeric|min:0", ["The gb field must be at least 0."]),
        ({"gb": "1e3"}, "numeric|min:0", []),
        ({"gb": True}, "numeric|min:0", ["The gb field must be a number."]),
        ({"frequency": None}, "string", ["The frequency field must be a string."]),
        ({"frequency": 5}, "string", ["The frequency field must be a string."]),
        ({"note": None}, "string|nullable", []),
        ({"note": 5}, "string|nullable", ["The note field must be a string."]),
        ({"name": "abcd"}, "string|min:5", ["The name field must be at least 5 characters."]),
        ({"name": "abcdef"}, "string|max:5", ["The name field must not be greater than 5 characters."]),
        ({"other": 1}, "string", []),  # absent attributes are not validated
        ({"required": None}, "required", ["This field is required."]),
    ],
)
def test_validator_messages(data, rules, errors):
    attribute = next(iter(data)) if "other" not in data else "missing"
    result = validate(data, {attribute: rules})
    assert result.get(attribute, []) == errors


def test_validator_reports_every_failing_rule_of_every_field_in_rule_order():
    rules = {
        "enabled": "boolean",
        "s3_storage_uuid": "string|exists:s3_storages,uuid|nullable",
        "timeout": "integer|min:60|max:36000",
    }
    validator = Validator(rules, exists=lambda table, column, value: value == "known")
    assert validator.errors({"timeout": "x", "s3_storage_uuid": 5, "enabled": "yes"}) == {
        "enabled": ["The enabled field must be true or false."],
        "s3_storage_uuid": ["The s3 storage uuid field must be a string.", "The selected s3 storage uuid is invalid."],
        "timeout": ["The timeout field must be an integer.", "The timeout field must be at least 60."],
    }
    assert validator.errors({"s3_storage_uuid": "known"}) == {}
    assert validator.errors({"s3_storage_uuid": None}) == {}


def test_validator_refuses_rules_it_does_not_implement():
    with pytest.raises(ValueError, match="regex"):
        Validator({"x": "regex:/a/"})


@pytest.mark.parametrize(
    ("attribute", "shown"),
    [
        ("database_backup_retention_amount_locally", "database backup retention amount locally"),
        ("s3_storage_uuid", "s3 storage uuid"),
        ("enabled", "enabled"),
        ("backupNow", "backup now"),
    ],
)
def test_attribute_names_are_spaced(attribute, shown):
    assert displayable_attribute(attribute) == shown


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  daily  ", "daily"),
        ("", None),
        ("   ", None),
        ("\u00a0daily\u3000", "daily"),  # Unicode white space (PCRE \s with UCP)
        ("\ufeff\u200bdaily\u200e", "daily"),
        ("\x00daily\x0b", "daily"),
        ("\x1cdaily", "\x1cdaily"),  # Python's str.strip would eat \x1c; PHP's \s does not
        ({"a": " x ", "b": {"c": ""}, "d": [" ", 1]}, {"a": "x", "b": {"c": None}, "d": [None, 1]}),
        (5, 5),
        (True, True),
    ],
)
def test_trim_strings_then_empty_to_null(raw, cleaned):
    assert clean_input(raw) == cleaned


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"NaN",
        b"Infinity",
        b'{"a":1}x',
        b"\xef\xbb\xbf{}",
        b'"\\ud800"',
        b"{'a': 1}",
        b"\xff",
        b"[" * 513 + b"]" * 513,
    ],
)
def test_json_that_php_refuses(body):
    with pytest.raises(InvalidJson):
        php_json_decode(body)


@pytest.mark.parametrize("body", [b"[]", b"null", b"0", b"false", b'""', b"0.0", b'"0"'])
def test_json_that_decodes_to_a_falsy_value(body):
    assert not decoded_truthy(php_json_decode(body))


@pytest.mark.parametrize(
    "body", [b"{}", b"[0]", b'"0.0"', b"1", b" true ", b'"a"', b"[" * 512 + b"]" * 512, b'"\\ud83d\\ude00"']
)
def test_json_that_decodes_to_a_truthy_value(body):
    assert decoded_truthy(php_json_decode(body))


def test_json_integers_beyond_int64_become_floats():
    assert php_json_decode(b"9223372036854775808") == 9.223372036854775808e18
    assert isinstance(php_json_decode(b"9223372036854775807"), int)


@pytest.mark.parametrize(
    ("decoded", "data"),
    [({"a": 1}, {"a": 1}), ([5, 6], {"0": 5, "1": 6}), ("x", {"0": "x"}), (True, {"0": True}), (None, {})],
)
def test_request_input_is_the_array_cast_of_the_body(decoded, data):
    assert request_input(decoded) == data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (1, True),
        ("1", True),
        ("true", True),
        (" Yes ", True),
        ("on", True),
        (1.0, True),
        (False, False),
        (0, False),
        ("0", False),
        (None, False),
        ("no", False),
        ([1], False),
    ],
)
def test_request_boolean(value, expected):
    assert request_boolean(value) is expected


@pytest.mark.parametrize(
    ("value", "filled"),
    [("x", True), ("0", True), (0, True), (False, True), ([], True), (None, False), ("", False), (" \t", False)],
)
def test_request_filled(value, filled):
    assert request_filled(value) is filled


@pytest.mark.parametrize(
    ("content_type", "json_request"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("text/json", True),
        ("Application/JSON", False),
        ("text/plain", False),
        (None, False),
        ("", False),
    ],
)
def test_is_json_is_a_case_sensitive_contains(content_type, json_request):
    assert is_json_request(content_type) is json_request


@pytest.mark.parametrize(
    ("accept", "requested_with", "wants"),
    [
        ("application/json", None, True),
        ("application/problem+json", None, True),
        ("*/*", None, False),
        (None, None, False),
        ("text/html, application/json", None, False),
        ("application/json;q=0.5, text/html", None, False),
        ("text/html;q=0.1, application/json", None, True),
        ("*/*", "XMLHttpRequest", True),
        (None, "XMLHttpRequest", True),
        ("text/html", "XMLHttpRequest", False),
    ],
)
def test_expects_json(accept, requested_with, wants):
    assert expects_json(accept, requested_with) is wants


def test_acceptable_content_types_sort_by_quality_then_order():
    assert acceptable_content_types("a/x;q=0.5, b/y, c/z;q=0.9, d/w") == ["b/y", "d/w", "c/z", "a/x"]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER 1|x", "1|x"),
        ("Basic abc", None),
        (None, None),
        ("Bearer a, Bearer b", "b"),
        ("Token Bearer abc,def", "abc"),
        ("Bearerabc", None),
    ],
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token


def test_json_bodies_escape_slashes_like_laravel_and_pretty_ones_do_not():
    assert (
        json_body({"docs": "https://coolify.io/docs", "n": "é"})
        == b'{"docs":"https:\\/\\/coolify.io\\/docs","n":"\\u00e9"}'
    )
    assert pretty_json_body({"message": "a/b"}) == b'{\n    "message": "a/b"\n}'
    assert json.loads(json_body({"a": "</x>"})) == {"a": "</x>"}


@pytest.mark.parametrize(
    ("column", "value", "original", "equivalent"),
    [
        ("enabled", True, True, True),
        ("enabled", 1, True, False),  # uncast boolean: not identical, and true is not numeric
        ("enabled", "1", True, False),
        ("dump_all", "1", True, True),  # cast to boolean
        ("dump_all", 0, False, True),
        ("timeout", "3600", 3600, True),  # both numeric, equal as strings
        ("timeout", 3600.0, 3600, True),
        ("timeout", "+3600", 3600, False),
        ("timeout", True, 1, False),
        ("database_backup_retention_max_storage_locally", "5", 5.0, True),  # float cast
        ("database_backup_retention_max_storage_locally", 5.5, 5.0, False),
        ("frequency", "daily", "daily", True),
        ("databases_to_backup", None, "app", False),
        ("databases_to_backup", None, None, True),
        ("s3_storage_id", 2, 2, True),
        ("s3_storage_id", 2, None, False),
    ],
)
def test_eloquent_dirty_check(column, value, original, equivalent):
    assert is_equivalent(column, value, original) is equivalent


def test_prepare_update_stores_what_postgresql_would_and_skips_non_columns():
    columns = {
        "enabled": True,
        "timeout": 3600,
        "dump_all": False,
        "database_backup_retention_max_storage_s3": 0.0,
        "frequency": "daily",
    }
    changes = prepare_update(
        columns,
        {
            "enabled": "0",
            "timeout": "+120",
            "dump_all": "0",
            "database_backup_retention_max_storage_s3": "1e3",
            "frequency": "daily",
            "s3_storage_uuid": None,
        },
    )
    assert changes == {"enabled": False, "timeout": 120, "database_backup_retention_max_storage_s3": 1000.0}
