"""POST and DELETE /databases/{uuid}/backups[/{scheduled_backup_uuid}] over real HTTP (API-RULES §1, §2 "POST
differs", §6.1): the check order, the messages, 201 with the new uuid, the save_s3 default, refused types,
404 on a second DELETE, the files a DELETE removes, and faults after a create."""

from __future__ import annotations

import json

import pytest
import requests

from bulkbackup.sandbox import Sandbox

UNKNOWN = "zzzzzzzzzzzzzzzzzzzzzzzz"
GOOD = {"frequency": "0 3 * * *", "save_s3": False, "enabled": True}
CRON_MESSAGE = "Invalid cron expression or frequency format."


@pytest.fixture
def sandbox():
    with Sandbox(databases=12, seed=0, rate_limit=100_000, job_delay=0.0, cases=True) as sb:
        yield sb


def by_name(sb, name):
    return next(d for d in sb.databases if d["name"] == name)


def post(sb, database_uuid, body=None, *, token=None, data=None, content_type="application/json", params=None):
    headers = {"Authorization": f"Bearer {token or sb.token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    return requests.post(
        f"{sb.endpoint}/databases/{database_uuid}/backups",
        data=data if data is not None else json.dumps(body).encode(),
        headers=headers,
        params=params,
        timeout=10,
    )


def delete(sb, database_uuid, backup_uuid, *, token=None, params=None):
    return requests.delete(
        f"{sb.endpoint}/databases/{database_uuid}/backups/{backup_uuid}",
        headers={"Authorization": f"Bearer {token or sb.token}", "Accept": "application/json"},
        params=params,
        timeout=10,
    )


def configs_of(sb, database_uuid):
    response = requests.get(
        f"{sb.endpoint}/databases/{database_uuid}/backups",
        headers={"Authorization": f"Bearer {sb.token}", "Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    return response.json()


# --- POST ------------------------------------------------------------------------------------------------------


def test_post_creates_a_configuration_and_answers_201_with_its_uuid(sandbox):
    database = by_name(sandbox, "unconfigured-postgresql")
    storage = sandbox.s3_storages[0]
    body = dict(GOOD, save_s3=True, s3_storage_uuid=storage["uuid"], database_backup_retention_days_s3=14)
    response = post(sandbox, database["uuid"], body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["message"] == "Backup configuration created successfully."
    assert len(answer["uuid"]) == 24 and answer["uuid"].isalnum() and answer["uuid"].islower()
    [config] = configs_of(sandbox, database["uuid"])
    assert config["uuid"] == answer["uuid"]
    assert config["frequency"] == "0 3 * * *" and config["save_s3"] is True and config["enabled"] is True
    assert config["s3_storage_id"] == storage["id"] and config["database_backup_retention_days_s3"] == 14
    assert config["database_type"] == "App\\Models\\StandalonePostgresql" and config["executions"] == []
    assert config["timeout"] == 3600 and config["database_backup_retention_amount_locally"] == 0  # column defaults
    # An empty databases_to_backup defaults to the database's own (postgres_db) on POST.
    assert config["databases_to_backup"]
    assert sandbox.created == [(database["uuid"], answer["uuid"])]
    assert sandbox.post_bodies == [body]


def test_post_without_save_s3_leaves_the_database_default_true_with_no_storage(sandbox):
    database = by_name(sandbox, "unconfigured-mysql")
    response = post(sandbox, database["uuid"], {"frequency": "daily"})
    assert response.status_code == 201, response.text
    config = sandbox.config(response.json()["uuid"])
    assert config["save_s3"] is True and config["s3_storage_id"] is None  # API-RULES §6.1
    assert config["enabled"] is True


def test_post_for_mongodb_leaves_databases_to_backup_null(sandbox):
    database = next(d for d in sandbox.databases if d["type"] == "mongodb")
    response = post(sandbox, database["uuid"], GOOD)
    assert response.status_code == 201
    assert sandbox.config(response.json()["uuid"])["databases_to_backup"] is None


@pytest.mark.parametrize("kind", ["redis", "keydb", "dragonfly"])
def test_post_refuses_types_coolify_cannot_back_up(sandbox, kind):
    database = by_name(sandbox, f"unsupported-{kind}")
    response = post(sandbox, database["uuid"], GOOD)
    assert response.status_code == 422
    assert response.json() == {"message": "Scheduled backups are not supported for this database type."}
    assert sandbox.created == []


def test_before_4_2_0_redis_was_not_refused():
    with Sandbox(databases=5, seed=0, rate_limit=100_000, version="4.1.0") as sb:
        redis = next(d for d in sb.databases if d["type"] == "redis")
        assert post(sb, redis["uuid"], GOOD).status_code == 201


POST_ORDER = [
    # (name, request, status, body)
    ("no token", dict(token="1|" + "x" * 48, body=GOOD), 401, {"message": "Unauthenticated."}),
    ("read-only token", dict(token="read", body=GOOD), 403, {"message": "Missing required permissions: write"}),
    (
        "content type",
        dict(content_type="text/plain", body=GOOD),
        400,
        {"message": "Invalid request.", "error": "Content-Type must be application/json."},
    ),
    ("empty object", dict(data=b"{}"), 400, {"message": "Invalid request.", "error": "Empty JSON."}),
    (
        "frequency is required, before the database lookup",
        dict(body={"enabled": True}, database=UNKNOWN),
        422,
        {"message": "Validation failed.", "errors": {"frequency": ["This field is required."]}},
    ),
    (
        "an empty frequency is missing too (ConvertEmptyStringsToNull)",
        dict(body={"frequency": "  "}),
        422,
        {"message": "Validation failed.", "errors": {"frequency": ["This field is required."]}},
    ),
    (
        "validation before the database",
        dict(body=dict(GOOD, timeout=5), database=UNKNOWN),
        422,
        {"message": "Validation failed.", "errors": {"timeout": ["The timeout field must be at least 60."]}},
    ),
    ("database before the type", dict(body=GOOD, database=UNKNOWN), 404, {"message": "Database not found."}),
    (
        "type before the cron check",
        dict(body={"frequency": "nope"}, database="unsupported-redis"),
        422,
        {"message": "Scheduled backups are not supported for this database type."},
    ),
    (
        "cron before S3",
        dict(body={"frequency": "nope", "save_s3": True}),
        422,
        {"message": "Validation failed.", "errors": {"frequency": [CRON_MESSAGE]}},
    ),
    (
        "S3 needs a storage uuid",
        dict(body={"frequency": "daily", "save_s3": True, "foo": 1}),
        422,
        {
            "message": "Validation failed.",
            "errors": {"s3_storage_uuid": ["The s3_storage_uuid field is required when save_s3 is true."]},
        },
    ),
    (
        "another team's storage is invalid here",
        dict(body={"frequency": "daily", "save_s3": True, "s3_storage_uuid": "other-team"}),
        422,
        {
            "message": "Validation failed.",
            "errors": {"s3_storage_uuid": ["The selected S3 storage is invalid for this team."]},
        },
    ),
    (
        "POST drops nothing: keys PATCH ignores are not allowed",
        dict(body={"frequency": "daily", "save_s3": False, "tags": "x", "description": "d"}),
        422,
        {
            "message": "Validation failed.",
            "errors": {"tags": ["This field is not allowed."], "description": ["This field is not allowed."]},
        },
    ),
    (
        "query parameters are keys too",
        dict(body=GOOD, params={"foo": "1"}),
        422,
        {"message": "Validation failed.", "errors": {"foo": ["This field is not allowed."]}},
    ),
    (
        "the shell check last",
        dict(body=dict(GOOD, databases_to_backup="app;rm")),
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


@pytest.mark.parametrize("name, request_, status, body", POST_ORDER, ids=[row[0] for row in POST_ORDER])
def test_post_check_order(sandbox, name, request_, status, body):
    request_ = dict(request_)
    target = request_.pop("database", "unconfigured-postgresql")
    database_uuid = target if target == UNKNOWN else by_name(sandbox, target)["uuid"]
    token = request_.pop("token", None)
    if token == "read":
        token = sandbox.read_token
    payload = request_.get("body")
    if payload and payload.get("s3_storage_uuid") == "other-team":
        request_["body"] = dict(payload, s3_storage_uuid=sandbox.other_team_s3_uuid)
    response = post(sandbox, database_uuid, token=token, **request_)
    assert (response.status_code, response.json()) == (status, body)
    assert sandbox.created == []


def test_post_with_backup_now_starts_a_backup(sandbox):
    database = by_name(sandbox, "unconfigured-postgresql")
    response = post(sandbox, database["uuid"], dict(GOOD, backup_now=True))
    assert response.status_code == 201
    uuid = response.json()["uuid"]
    assert sandbox.job_count(uuid) == 1
    assert sandbox.wait_for_jobs()
    assert [e["status"] for e in sandbox.executions(uuid)] == ["success"]


def test_post_too_large_for_its_column_is_a_500_and_creates_nothing(sandbox):
    database = by_name(sandbox, "unconfigured-postgresql")
    response = post(sandbox, database["uuid"], dict(GOOD, database_backup_retention_days_s3=2**31))
    assert response.status_code == 500 and sandbox.created == []
    assert configs_of(sandbox, database["uuid"]) == []


@pytest.mark.parametrize("fault", ["502", "500", "drop"])
def test_a_fault_after_the_create_leaves_exactly_one_new_configuration(sandbox, fault):
    database = by_name(sandbox, "unconfigured-postgresql")
    sandbox.fail_next("POST", fault)
    if fault == "drop":
        with pytest.raises(requests.ConnectionError):
            post(sandbox, database["uuid"], GOOD)
    else:
        assert post(sandbox, database["uuid"], GOOD).status_code == int(fault)
    [config] = configs_of(sandbox, database["uuid"])
    assert sandbox.created == [(database["uuid"], config["uuid"])]
    # The queued fault was used up: the next POST is answered normally (and makes a second one).
    assert post(sandbox, database["uuid"], GOOD).status_code == 201
    assert len(configs_of(sandbox, database["uuid"])) == 2


@pytest.mark.parametrize("fault", ["503", "429"])
def test_a_fault_before_processing_creates_nothing(sandbox, fault):
    database = by_name(sandbox, "unconfigured-postgresql")
    sandbox.fail_next("POST", fault)
    assert post(sandbox, database["uuid"], GOOD).status_code == int(fault)
    assert configs_of(sandbox, database["uuid"]) == [] and sandbox.created == []


def test_fault_methods_limit_the_probabilistic_faults(sandbox):
    sandbox.set_faults({"502": 1.0}, methods=["POST"])
    database = by_name(sandbox, "unconfigured-postgresql")
    assert post(sandbox, database["uuid"], GOOD).status_code == 502
    config = by_name(sandbox, "compliant-postgresql")
    assert delete(sandbox, config["uuid"], config["backups"][0]).status_code == 200


def test_created_uuids_repeat_in_sandboxes_seeded_alike():
    uuids = []
    for _ in range(2):
        with Sandbox(databases=5, seed=4, rate_limit=100_000) as sb:
            database = next(d for d in sb.databases if d["type"] == "postgresql")
            uuids.append(post(sb, database["uuid"], GOOD).json()["uuid"])
    assert uuids[0] == uuids[1]


# --- DELETE ----------------------------------------------------------------------------------------------------


def test_delete_removes_the_configuration_its_executions_and_local_files(sandbox):
    database = by_name(sandbox, "compliant-postgresql")
    [backup] = database["backups"]
    files = [e["filename"] for e in sandbox.executions(backup)]
    assert files
    response = delete(sandbox, database["uuid"], backup)
    assert (response.status_code, response.json()) == (
        200,
        {"message": "Backup configuration and all executions deleted."},
    )
    assert configs_of(sandbox, database["uuid"]) == []
    assert backup not in {b["backup_uuid"] for b in sandbox.backups}
    assert sorted(sandbox.deleted_files) == sorted(("local", f) for f in files)  # no S3 files without delete_s3
    assert sandbox.deleted == [(database["uuid"], backup)]
    assert sandbox.delete_targets == [f"/api/v1/databases/{database['uuid']}/backups/{backup}"]
    # Not idempotent: the second DELETE is a 404.
    again = delete(sandbox, database["uuid"], backup)
    assert (again.status_code, again.json()) == (404, {"message": "Backup configuration not found."})


@pytest.mark.parametrize("value", ["1", "true", "on", "yes"])
def test_delete_s3_also_removes_the_uploaded_files(sandbox, value):
    database = by_name(sandbox, "compliant-postgresql")
    [backup] = database["backups"]
    uploaded = [e["filename"] for e in sandbox.executions(backup) if e["s3_uploaded"]]
    assert uploaded
    assert delete(sandbox, database["uuid"], backup, params={"delete_s3": value}).status_code == 200
    assert sorted(p for where, p in sandbox.deleted_files if where == "s3") == sorted(uploaded)


def test_delete_check_order(sandbox):
    database = by_name(sandbox, "compliant-postgresql")
    [backup] = database["backups"]
    assert delete(sandbox, UNKNOWN, backup).json() == {"message": "Database not found."}
    other = by_name(sandbox, "late-postgresql")
    # A configuration of another database (the lookup is by uuid AND database id).
    response = delete(sandbox, other["uuid"], backup)
    assert (response.status_code, response.json()) == (404, {"message": "Backup configuration not found."})
    assert delete(sandbox, database["uuid"], backup, token=sandbox.read_token).status_code == 403
    assert delete(sandbox, database["uuid"], backup, token=sandbox.other_team_token).json() == {
        "message": "Database not found."
    }
    assert delete(sandbox, database["uuid"], backup, token=sandbox.member_token).status_code == 403
    assert sandbox.deleted == [] and sandbox.deleted_files == []


def test_a_dropped_delete_still_deleted(sandbox):
    database = by_name(sandbox, "late-postgresql")
    [backup] = database["backups"]
    sandbox.fail_next("DELETE", "drop")
    with pytest.raises(requests.ConnectionError):
        delete(sandbox, database["uuid"], backup)
    assert sandbox.deleted == [(database["uuid"], backup)]
    assert delete(sandbox, database["uuid"], backup).status_code == 404


def test_delete_then_create_round_trip_lists_newest_first(sandbox):
    database = by_name(sandbox, "failing-mysql")
    [old] = database["backups"]
    first = post(sandbox, database["uuid"], GOOD).json()["uuid"]
    assert [c["uuid"] for c in configs_of(sandbox, database["uuid"])] == [first, old]
    assert delete(sandbox, database["uuid"], old).status_code == 200
    assert [c["uuid"] for c in configs_of(sandbox, database["uuid"])] == [first]


def test_delete_one_execution(sandbox):
    database = by_name(sandbox, "compliant-postgresql")
    [backup] = database["backups"]
    newest, *rest = sandbox.executions(backup)
    url = f"{sandbox.endpoint}/databases/{database['uuid']}/backups/{backup}/executions/{newest['uuid']}"
    headers = {"Authorization": f"Bearer {sandbox.token}", "Accept": "application/json"}
    response = requests.delete(url, headers=headers, params={"delete_s3": "true"}, timeout=10)
    assert (response.status_code, response.json()) == (200, {"message": "Backup execution deleted."})
    assert [e["uuid"] for e in sandbox.executions(backup)] == [e["uuid"] for e in rest]
    assert sandbox.deleted_files == [("local", newest["filename"]), ("s3", newest["filename"])]
    again = requests.delete(url, headers=headers, timeout=10)
    assert (again.status_code, again.json()) == (404, {"message": "Backup execution not found."})
    assert sandbox.config(backup)["uuid"] == backup  # the configuration stays
