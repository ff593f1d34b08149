"""PATCH /databases/{uuid}/backups/{scheduled_backup_uuid} over real HTTP: API-RULES §2, check by check."""

from __future__ import annotations

import json
import pathlib
import random

import pytest
import requests

from bulkbackup._core.fields import ALL_FIELDS, SETTINGS
from bulkbackup.sandbox import Sandbox
from bulkbackup.sandbox._api import DROPPED_KEYS

CRON_CASES = [json.loads(line) for line in (pathlib.Path(__file__).parent / "data" / "cron-cases.jsonl").open()]
INTEGER_FIELD = next(f.name for f in SETTINGS if f.laravel_rules == "integer|min:0")
NUMERIC_FIELD = next(f.name for f in SETTINGS if f.laravel_rules == "numeric|min:0")
BOOLEAN_FIELD = "enabled"
CRON_MESSAGE = "Invalid cron expression or frequency format."
UNKNOWN = "zzzzzzzzzzzzzzzzzzzzzzzz"


def first_backup(sb, *, running=True, kind=None):
    for database in sb.databases:
        if database["backups"] and database["status"].startswith("running") == running:
            if kind is None or database["type"] == kind:
                return database["uuid"], database["backups"][0]
    raise AssertionError("the fleet lacks such a configuration")


def patch(
    sb,
    body=None,
    *,
    target=None,
    token="root",
    data=None,
    params=None,
    content_type="application/json",
    accept="application/json",
    extra_headers=None,
):
    database, backup = target or first_backup(sb)
    headers = {}
    if accept:
        headers["Accept"] = accept
    if content_type:
        headers["Content-Type"] = content_type
    if token:
        headers["Authorization"] = f"Bearer {sb.token if token == 'root' else token}"
    headers.update(extra_headers or {})
    payload = data if data is not None else json.dumps(body).encode()
    return requests.patch(
        f"{sb.endpoint}/databases/{database}/backups/{backup}", data=payload, headers=headers, params=params, timeout=10
    )


def validation_errors(response):
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Validation failed."
    return response.json()["errors"]


# --- the order of the checks: each row makes two (or more) checks fail and names the one that must win ----------


def _other_team_database(sb):
    return sb.other_team_databases[0]["uuid"]


ORDER = [
    # (name, request, status, body)
    ("no token beats a bad body", dict(token=None, data=b"{"), 401, {"message": "Unauthenticated."}),
    ("unknown token beats a bad body", dict(token="1|" + "x" * 48, data=b"{"), 401, {"message": "Unauthenticated."}),
    (
        "member role beats everything after it",
        dict(token="member", data=b"{"),
        403,
        {"message": "Missing required team role."},
    ),
    (
        "missing ability beats a bad body",
        dict(token="read", data=b"{"),
        403,
        {"message": "Missing required permissions: write"},
    ),
    (
        "content type before JSON",
        dict(content_type="text/plain", data=b"{"),
        400,
        {"message": "Invalid request.", "error": "Content-Type must be application/json."},
    ),
    (
        "no content type",
        dict(content_type=None, body={"enabled": True}),
        400,
        {"message": "Invalid request.", "error": "Content-Type must be application/json."},
    ),
    (
        "content type match is case-sensitive",
        dict(content_type="Application/JSON", body={"enabled": True}),
        400,
        {"message": "Invalid request.", "error": "Content-Type must be application/json."},
    ),
    ("empty body", dict(data=b""), 400, {"message": "Invalid request.", "error": "Invalid JSON."}),
    ("empty object", dict(data=b"{}"), 400, {"message": "Invalid request.", "error": "Empty JSON."}),
    (
        "empty object with only a query string",
        dict(data=b"{}", params={"enabled": "1"}),
        400,
        {"message": "Invalid request.", "error": "Empty JSON."},
    ),
    (
        "validation before the database lookup",
        dict(body={"timeout": 5}, target=(UNKNOWN, UNKNOWN)),
        422,
        {"message": "Validation failed.", "errors": {"timeout": ["The timeout field must be at least 60."]}},
    ),
    (
        "validation errors are never combined with unknown keys",
        dict(body={"timeout": 5, "foo": 1}),
        422,
        {"message": "Validation failed.", "errors": {"timeout": ["The timeout field must be at least 60."]}},
    ),
    (
        "unknown database before the cron check",
        dict(body={"frequency": "nope"}, target=(UNKNOWN, UNKNOWN)),
        404,
        {"message": "Database not found."},
    ),
    (
        "cron before the S3 checks",
        dict(body={"frequency": "nope", "save_s3": True}),
        422,
        {"message": "Validation failed.", "errors": {"frequency": [CRON_MESSAGE]}},
    ),
    (
        "S3 required before the config lookup",
        dict(body={"save_s3": True}, target="unknown-backup"),
        422,
        {
            "message": "Validation failed.",
            "errors": {"s3_storage_uuid": ["The s3_storage_uuid field is required when save_s3 is true."]},
        },
    ),
    (
        "S3 of another team before the config lookup",
        dict(body={"s3_storage_uuid": "other-team"}, target="unknown-backup"),
        422,
        {
            "message": "Validation failed.",
            "errors": {"s3_storage_uuid": ["The selected S3 storage is invalid for this team."]},
        },
    ),
    (
        "config lookup before unknown keys",
        dict(body={"foo": 1}, target="unknown-backup"),
        404,
        {"message": "Backup config not found."},
    ),
    (
        "unknown keys before the shell check",
        dict(body={"databases_to_backup": "a;b", "foo": 1}),
        422,
        {"message": "Validation failed.", "errors": {"foo": ["This field is not allowed."]}},
    ),
    (
        "the shell check",
        dict(body={"databases_to_backup": "app;rm"}),
        422,
        {
            "message": "Validation failed.",
            "errors": {
                "databases_to_backup": [
                    "Invalid database name: contains forbidden character ';' (command separator). "
                    "Shell metacharacters are not allowed for security reasons."
                ]
            },
        },
    ),
]


@pytest.mark.parametrize(("name", "request_kwargs", "status", "body"), ORDER, ids=[row[0] for row in ORDER])
def test_check_order(sandbox, name, request_kwargs, status, body):
    kwargs = dict(request_kwargs)
    if kwargs.get("token") in ("member", "read"):
        kwargs["token"] = {"member": sandbox.member_token, "read": sandbox.read_token}[kwargs["token"]]
    if kwargs.get("target") == "unknown-backup":
        kwargs["target"] = (first_backup(sandbox)[0], UNKNOWN)
    if kwargs.get("body", {}).get("s3_storage_uuid") == "other-team":
        kwargs["body"] = {"s3_storage_uuid": sandbox.other_team_s3_uuid}
    before = {b["backup_uuid"]: sandbox.config(b["backup_uuid"]) for b in sandbox.backups}
    response = patch(sandbox, **kwargs)
    assert (response.status_code, response.json()) == (status, body)
    assert response.headers["Content-Type"] == "application/json"
    assert {b["backup_uuid"]: sandbox.config(b["backup_uuid"]) for b in sandbox.backups} == before


def test_rate_limit_beats_a_bad_body_and_the_api_switch():
    with Sandbox(databases=5, rate_limit=1, window=30) as sb:
        assert patch(sb, {"enabled": True}).status_code == 200
        sb.set_api_enabled(False)
        response = patch(sb, data=b"{")
        assert response.status_code == 429
        assert response.json() == {"message": "Too Many Attempts."}


def test_api_switch_beats_the_ability_check_and_the_body(sandbox):
    sandbox.set_api_enabled(False)
    response = patch(sandbox, data=b"{", token=sandbox.read_token)
    assert (response.status_code, response.json()) == (403, {"success": True, "message": "API is disabled."})


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"null",
        b"0",
        b"false",
        b'""',
        b"0.0",
        b'"0"',
        b"{",
        b"NaN",
        b'{"enabled": true',
        b"\xef\xbb\xbf{}",
        b'{"a": "\\ud800"}',
    ],
)
def test_bodies_that_are_invalid_json_for_php(sandbox, body):
    response = patch(sandbox, data=body)
    assert (response.status_code, response.json()) == (400, {"message": "Invalid request.", "error": "Invalid JSON."})


@pytest.mark.parametrize(("body", "key"), [(b"[1]", "0"), (b'"x"', "0"), (b"true", "0"), (b"[true, 1]", "1")])
def test_truthy_non_object_bodies_become_numbered_keys(sandbox, body, key):
    errors = validation_errors(patch(sandbox, data=body))
    assert errors[key] == ["This field is not allowed."]


# --- Laravel value semantics through the whole pipeline ----------------------------------------------------------

BOOLEAN_MESSAGE = "The enabled field must be true or false."
VALUE_CASES = [
    # (field, value, errors or None when accepted)
    *[(BOOLEAN_FIELD, v, None) for v in (True, False, 0, 1, "0", "1", " 1 ")],
    *[(BOOLEAN_FIELD, v, [BOOLEAN_MESSAGE]) for v in ("true", "false", 1.0, 0.0, "yes", None, 2, "", "  ", [], {})],
    *[(INTEGER_FIELD, v, None) for v in (5, "5", "+5", " 5", 5.0, 1e3, True, "-0", 0)],
    *[
        (INTEGER_FIELD, v, ["The database backup retention amount locally field must be an integer."])
        for v in ("5.0", "05", "1e3", None, 5.5, "abc", False, "")
    ],
    (INTEGER_FIELD, -1, ["The database backup retention amount locally field must be at least 0."]),
    (INTEGER_FIELD, "-3", ["The database backup retention amount locally field must be at least 0."]),
    *[(NUMERIC_FIELD, v, None) for v in ("1.5", "1e3", 2, 2.5, " 3 ", 0, "0.0000001")],
    *[
        (NUMERIC_FIELD, v, ["The database backup retention max storage locally field must be a number."])
        for v in (True, "abc", None, "1,5", [])
    ],
    (NUMERIC_FIELD, -0.5, ["The database backup retention max storage locally field must be at least 0."]),
    ("timeout", "abc", ["The timeout field must be an integer.", "The timeout field must be at least 60."]),
    ("timeout", None, ["The timeout field must be an integer.", "The timeout field must be at least 60."]),
    ("timeout", True, ["The timeout field must be at least 60."]),
    ("timeout", 59, ["The timeout field must be at least 60."]),
    ("timeout", 36001, ["The timeout field must not be greater than 36000."]),
    ("timeout", 60, None),
    ("timeout", "36000", None),
    ("frequency", "", ["The frequency field must be a string."]),
    ("frequency", "   ", ["The frequency field must be a string."]),
    ("frequency", None, ["The frequency field must be a string."]),
    ("frequency", 5, ["The frequency field must be a string."]),
    ("s3_storage_uuid", 5, ["The s3 storage uuid field must be a string.", "The selected s3 storage uuid is invalid."]),
    ("s3_storage_uuid", UNKNOWN, ["The selected s3 storage uuid is invalid."]),
    ("databases_to_backup", 5, ["The databases to backup field must be a string."]),
    ("databases_to_backup", None, None),
    ("backup_now", "yes", ["The backup now field must be true or false."]),
    ("backup_now", None, None),
    ("dump_all", "on", ["The dump all field must be true or false."]),
]


@pytest.mark.parametrize(("field", "value", "errors"), VALUE_CASES, ids=[f"{f}={v!r}" for f, v, _ in VALUE_CASES])
def test_laravel_value_semantics(sandbox, field, value, errors):
    target = first_backup(sandbox, running=False)  # a stopped database: backup_now starts no execution
    response = patch(sandbox, {field: value}, target=target)
    if errors is None:
        assert response.status_code == 200, response.text
    else:
        assert validation_errors(response) == {field: errors}


def test_every_failing_field_is_reported(sandbox):
    errors = validation_errors(patch(sandbox, {"enabled": "yes", "timeout": "x", "frequency": "", "foo": 1}))
    assert errors == {
        "enabled": [BOOLEAN_MESSAGE],
        "frequency": ["The frequency field must be a string."],
        "timeout": ["The timeout field must be an integer.", "The timeout field must be at least 60."],
    }


def test_query_string_parameters_are_validated_and_applied_too(sandbox):
    database, backup = first_backup(sandbox)
    assert validation_errors(patch(sandbox, {"enabled": True}, params={"timeout": "abc"}))["timeout"][0] == (
        "The timeout field must be an integer."
    )
    assert patch(sandbox, {"enabled": True}, params={"timeout": "700"}).status_code == 200
    assert sandbox.config(backup)["timeout"] == 700


def test_values_are_stored_as_postgresql_takes_them(sandbox):
    database, backup = first_backup(sandbox)
    body = {
        "enabled": "0",
        "timeout": "+120",
        NUMERIC_FIELD: "1e3",
        "frequency": "  weekly  ",
        "dump_all": 1,
        INTEGER_FIELD: 7.0,
    }
    assert patch(sandbox, body).status_code == 200
    config = sandbox.config(backup)
    assert (config["enabled"], config["timeout"], config[NUMERIC_FIELD], config["frequency"]) == (
        False,
        120,
        1000.0,
        "weekly",
    )
    assert config["dump_all"] is True and config[INTEGER_FIELD] == 7


@pytest.mark.parametrize("case", CRON_CASES, ids=[repr(c["frequency"]) for c in CRON_CASES])
def test_cron_cases_through_patch(sandbox, case):
    database, backup = first_backup(sandbox)
    response = patch(sandbox, {"frequency": case["frequency"]})
    if case["frequency"].strip() == "":
        assert validation_errors(response) == {"frequency": ["The frequency field must be a string."]}
    elif case["valid"]:
        assert response.status_code == 200, response.text
        assert sandbox.config(backup)["frequency"] == case["frequency"]
    else:
        assert validation_errors(response) == {"frequency": [CRON_MESSAGE]}


def test_zero_frequency_is_filled_but_not_a_cron(sandbox):
    assert validation_errors(patch(sandbox, {"frequency": "0"})) == {"frequency": [CRON_MESSAGE]}


# --- the checks after validation ---------------------------------------------------------------------------------


def test_save_s3_needs_s3_storage_uuid_even_if_the_config_has_one(sandbox):
    database, backup = first_backup(sandbox)
    storage = sandbox.s3_storages[0]
    assert patch(sandbox, {"save_s3": True, "s3_storage_uuid": storage["uuid"]}).status_code == 200
    for save_s3 in (True, 1, "1"):
        errors = validation_errors(patch(sandbox, {"save_s3": save_s3}))
        assert errors == {"s3_storage_uuid": ["The s3_storage_uuid field is required when save_s3 is true."]}
    assert validation_errors(patch(sandbox, {"save_s3": True, "s3_storage_uuid": None}))
    assert patch(sandbox, {"save_s3": False}).status_code == 200


def test_s3_storage_uuid_becomes_the_numeric_id(sandbox):
    database, backup = first_backup(sandbox)
    storage = sandbox.s3_storages[1]
    response = patch(sandbox, {"save_s3": True, "s3_storage_uuid": f"  {storage['uuid']} "})
    assert response.status_code == 200
    config = sandbox.config(backup)
    assert (config["save_s3"], config["s3_storage_id"]) == (True, storage["id"])
    assert "s3_storage_uuid" not in config
    # save_s3:false keeps the storage; null or "" are silently ignored: the API cannot clear it.
    for body in ({"save_s3": False}, {"s3_storage_uuid": None}, {"s3_storage_uuid": ""}):
        assert patch(sandbox, body).status_code == 200
        assert sandbox.config(backup)["s3_storage_id"] == storage["id"]


def test_other_teams_storage_exists_for_the_validator_but_not_for_this_team(sandbox):
    errors = validation_errors(patch(sandbox, {"s3_storage_uuid": sandbox.other_team_s3_uuid}))
    assert errors == {"s3_storage_uuid": ["The selected S3 storage is invalid for this team."]}


def test_unknown_keys_are_each_listed_query_string_included(sandbox):
    errors = validation_errors(
        patch(sandbox, {"enabled": True, "description": "x", "disable_local_backup": True}, params={"foo": "1"})
    )
    assert errors == {key: ["This field is not allowed."] for key in ("description", "disable_local_backup", "foo")}


@pytest.mark.parametrize("version", ["4.3.11", "4.3.18"])
def test_every_field_of_the_table_that_the_version_has_is_allowed(version):
    with Sandbox(databases=10, version=version) as sandbox:
        target = first_backup(sandbox, running=False)
        storage = sandbox.s3_storages[0]["uuid"]
        values = {
            "boolean": False,
            "integer|min:0": 3,
            "numeric|min:0": 1.5,
            "integer|min:60|max:36000": 600,
            "integer|min:0|max:365": 7,
        }
        fields = [f for f in ALL_FIELDS if f.missing_on(version) is None]
        body = {f.name: values.get(f.laravel_rules.split("|nullable")[0], "daily") for f in fields}
        body.update(s3_storage_uuid=storage, databases_to_backup="app", backup_now=False)
        assert patch(sandbox, body, target=target).status_code == 200
        newer = [f.name for f in ALL_FIELDS if f.missing_on(version) is not None]
        for name in newer:  # what a server of that version does not know yet is an extra key
            assert validation_errors(patch(sandbox, {name: 1}, target=target)) == {name: ["This field is not allowed."]}


def test_silently_dropped_keys(sandbox):
    database, backup = first_backup(sandbox)
    before = sandbox.config(backup)
    response = patch(sandbox, {key: "x" for key in DROPPED_KEYS})
    assert (response.status_code, response.json()) == (200, {"message": "Database backup configuration updated"})
    assert sandbox.config(backup) == before
    # Only the JSON body is cleaned: the same key in the query string is an unknown key.
    errors = validation_errors(patch(sandbox, {"enabled": True}, params={"project_uuid": "x"}))
    assert errors == {"project_uuid": ["This field is not allowed."]}


@pytest.mark.parametrize("value", ["a`b", "a$(b)", "a${b}", "a&b", "a>b", "a<b", "a\tb", "app:col1;x"])
def test_databases_to_backup_shell_characters(sandbox, value):
    errors = validation_errors(patch(sandbox, {"databases_to_backup": value}))
    assert errors["databases_to_backup"][0].startswith("Invalid ")
    assert "Shell metacharacters are not allowed for security reasons." in errors["databases_to_backup"][0]


@pytest.mark.parametrize(
    "value", ["app,analytics", "my db", "it's", "a$b", "*", "all", "a|b", "app|logs:events,sessions"]
)
def test_databases_to_backup_allowed_values(sandbox, value):
    database, backup = first_backup(sandbox)
    assert patch(sandbox, {"databases_to_backup": value}).status_code == 200
    assert sandbox.config(backup)["databases_to_backup"] == value


@pytest.mark.parametrize("value", [None, "", "   "])
def test_databases_to_backup_null_or_empty_clears_it(sandbox, value):
    database, backup = first_backup(sandbox)
    patch(sandbox, {"databases_to_backup": "app"})
    assert patch(sandbox, {"databases_to_backup": value}).status_code == 200
    assert sandbox.config(backup)["databases_to_backup"] is None


def test_body_uuid_overrides_the_path_like_request_get(sandbox):
    """Gotcha 8: $request->uuid reads the input before the route parameter."""
    database, backup = first_backup(sandbox)
    other = next(d for d in sandbox.databases if d["uuid"] != database and d["type"] == "postgresql")
    assert patch(sandbox, {"uuid": UNKNOWN, "enabled": True}).json() == {"message": "Database not found."}
    assert patch(sandbox, {"uuid": other["uuid"], "enabled": True}).json() == {"message": "Backup config not found."}
    assert patch(sandbox, {"uuid": "", "enabled": True}).json() == {"message": "UUID is required."}
    response = patch(sandbox, {"scheduled_backup_uuid": None, "enabled": True})
    assert (response.status_code, response.json()) == (400, {"message": "Scheduled backup UUID is required."})
    # The path's own uuid in the body passes the lookups and is then an unknown key.
    assert validation_errors(patch(sandbox, {"uuid": database, "enabled": True})) == {
        "uuid": ["This field is not allowed."]
    }
    assert patch(sandbox, {"enabled": True}, params={"uuid": UNKNOWN}).json() == {"message": "Database not found."}


def test_other_teams_database_is_not_found(sandbox):
    other = sandbox.other_team_databases[0]
    response = patch(sandbox, {"enabled": True}, target=(other["uuid"], other["backups"][0]))
    assert (response.status_code, response.json()) == (404, {"message": "Database not found."})


def test_a_config_of_another_database_is_not_found(sandbox):
    (db_a, backup_a), (db_b, backup_b) = [
        (d["uuid"], d["backups"][0]) for d in sandbox.databases if d["backups"] and d["type"] == "postgresql"
    ][:2]
    response = patch(sandbox, {"enabled": True}, target=(db_a, backup_b))
    assert (response.status_code, response.json()) == (404, {"message": "Backup config not found."})


def test_the_config_lookup_is_type_blind(sandbox):
    """A MySQL database with the same numeric id as a PostgreSQL one reaches the PostgreSQL one's configs."""
    by_id = {}
    for database in sandbox.databases:
        by_id.setdefault(database["id"], []).append(database)
    postgres, mysql = next(pair for pair in by_id.values() if {d["type"] for d in pair} == {"postgresql", "mysql"})
    if postgres["type"] != "postgresql":
        postgres, mysql = mysql, postgres
    backup = postgres["backups"][0]
    assert patch(sandbox, {"timeout": 4321}, target=(mysql["uuid"], backup)).status_code == 200
    config = sandbox.config(backup)
    assert (config["timeout"], config["database_type"]) == (4321, "App\\Models\\StandalonePostgresql")


def test_updated_at_moves_only_when_a_value_changes(sandbox):
    database, backup = first_backup(sandbox)
    original = sandbox.config(backup)
    same = {"timeout": original["timeout"], "enabled": original["enabled"], "frequency": original["frequency"]}
    assert patch(sandbox, same).status_code == 200
    assert sandbox.config(backup) == original
    assert patch(sandbox, {"timeout": str(original["timeout"])}).status_code == 200  # numeric, equal as strings
    assert sandbox.config(backup)["updated_at"] == original["updated_at"]
    assert patch(sandbox, {"timeout": original["timeout"] + 1}).status_code == 200
    assert sandbox.config(backup)["updated_at"] > original["updated_at"]  # the seeded history is in the past


def test_an_uncast_boolean_sent_as_1_rewrites_the_same_value(sandbox):
    """Eloquent compares enabled (not cast) strictly: 1 is not identical to true, so the row is saved."""
    row = next(b for b in sandbox.backups if sandbox.config(b["backup_uuid"])["enabled"] is True)
    target = (row["database_uuid"], row["backup_uuid"])
    before = sandbox.config(row["backup_uuid"])
    assert patch(sandbox, {"enabled": True}, target=target).status_code == 200
    assert sandbox.config(row["backup_uuid"]) == before
    assert patch(sandbox, {"enabled": 1}, target=target).status_code == 200
    after = sandbox.config(row["backup_uuid"])
    assert after["enabled"] is True and after["updated_at"] > before["updated_at"]


@pytest.mark.parametrize(("field", "value"), [(INTEGER_FIELD, 2**31), (NUMERIC_FIELD, 1e10)])
def test_values_beyond_the_column_are_a_server_error(sandbox, field, value):
    database, backup = first_backup(sandbox)
    before = sandbox.config(backup)
    response = patch(sandbox, {field: value, "backup_now": True})
    assert (response.status_code, response.text) == (500, '{\n    "message": "Server Error"\n}')
    assert "X-RateLimit-Remaining" in response.headers
    html = patch(sandbox, {field: value}, accept=None)
    assert html.status_code == 500 and html.headers["Content-Type"].startswith("text/html")
    assert sandbox.config(backup) == before and sandbox.job_count(backup) == 0


def test_success_body_and_headers(sandbox):
    response = patch(sandbox, {"enabled": True})
    assert response.status_code == 200
    assert response.content == b'{"message":"Database backup configuration updated"}'
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-RateLimit-Limit"] == "100000"


def test_patch_bodies_records_what_was_received(sandbox):
    patch(sandbox, {"enabled": True, "timeout": 600})
    patch(sandbox, data=b"not json")
    assert sandbox.patch_bodies == [{"enabled": True, "timeout": 600}, b"not json"]


def test_random_bodies_never_break_the_sandbox(sandbox):
    rng = random.Random(5)
    keys = [f.name for f in ALL_FIELDS] + ["uuid", "foo", "type", ""]
    values = [
        True,
        False,
        0,
        1,
        -1,
        2.5,
        1e300,
        2**40,
        "",
        " ",
        "0",
        "1",
        "abc",
        "daily",
        "* * * * *",
        None,
        [],
        {},
        [1, "a"],
        {"a": {"b": None}},
        "\u00e9\u0000",
        "a;b",
        sandbox.s3_storages[0]["uuid"],
    ]
    for _ in range(300):
        body = {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(1, 4))}
        response = patch(sandbox, body, target=first_backup(sandbox, running=rng.random() < 0.5))
        assert response.status_code in (200, 400, 404, 422, 500), (body, response.text)
        assert response.status_code != 500 or response.json() == {"message": "Server Error"}
        assert isinstance(response.json()["message"], str)
