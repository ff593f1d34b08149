"""What the GET endpoints and error bodies look like (API-RULES §1, §5), the seeded fleet, and its size."""

from __future__ import annotations

import copy
import json
import pathlib
import re

import jsonschema
import pytest
import requests

from bulkbackup.sandbox import Sandbox
from bulkbackup.sandbox._shapes import CONFIG_COLUMNS, EXECUTION_COLUMNS

OPENAPI = json.loads((pathlib.Path(__file__).parent / "data" / "openapi-backups.json").read_text())
LARAVEL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
PG_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
PUBLIC_ID = re.compile(r"[a-z0-9]{24}")
TYPES = {
    "standalone-postgresql",
    "standalone-mysql",
    "standalone-mariadb",
    "standalone-mongodb",
    "standalone-redis",
    "standalone-clickhouse",
}


def get(sb, path, token=None):
    response = requests.get(
        f"{sb.endpoint}{path}", headers={"Authorization": f"Bearer {token or sb.token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def as_json_schema(node):
    """OpenAPI's `nullable: true` (which plain JSON Schema ignores) as JSON Schema's null type."""
    if isinstance(node, dict):
        node = {key: as_json_schema(value) for key, value in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [as_json_schema(value) for value in node]
    return node


def schema(path, method="get", status="200"):
    return as_json_schema(OPENAPI["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"])


def response_schema(status):
    return as_json_schema(OPENAPI["components"]["responses"][status]["content"]["application/json"]["schema"])


def check_config(config, relation):
    assert list(config) == [*CONFIG_COLUMNS, relation]
    assert PUBLIC_ID.fullmatch(config["uuid"])
    for key in (
        "id",
        "database_id",
        "team_id",
        "timeout",
        "database_backup_retention_amount_locally",
        "database_backup_retention_days_locally",
        "database_backup_retention_amount_s3",
        "database_backup_retention_days_s3",
    ):
        assert type(config[key]) is int, key
    for key in ("enabled", "save_s3", "dump_all", "disable_local_backup"):
        assert type(config[key]) is bool, key
    for key in ("database_backup_retention_max_storage_locally", "database_backup_retention_max_storage_s3"):
        assert type(config[key]) is float, key
    assert config["s3_storage_id"] is None or type(config["s3_storage_id"]) is int
    assert re.fullmatch(
        r"App\\Models\\Standalone(Postgresql|Mysql|Mariadb|Mongodb|Clickhouse)", config["database_type"]
    )
    assert LARAVEL_TIME.fullmatch(config["created_at"]) and LARAVEL_TIME.fullmatch(config["updated_at"])
    assert isinstance(config["frequency"], str)


def check_execution(execution):
    assert list(execution) == list(EXECUTION_COLUMNS)
    assert execution["status"] in ("running", "success", "failed")
    assert execution["size"] is None or type(execution["size"]) is int
    assert execution["s3_uploaded"] in (None, True, False)
    assert type(execution["local_storage_deleted"]) is bool and type(execution["s3_storage_deleted"]) is bool
    assert LARAVEL_TIME.fullmatch(execution["created_at"])
    assert execution["finished_at"] is None or PG_TIME.fullmatch(execution["finished_at"])


def test_databases_listing(sandbox):
    response = get(sandbox, "/databases")
    assert response.headers["Content-Type"] == "application/json"
    assert "s3_storage_uuid" not in response.text
    assert '"App\\\\Models\\\\Standalone' in response.text  # a JSON-escaped backslash, as PHP writes it
    databases = response.json()
    assert len(databases) == 40
    for database in databases:
        keys = list(database)
        assert "id" not in database and database["database_type"] in TYPES
        assert keys[0] == "uuid" and keys[-2:] == ["created_at", "updated_at"]
        front = ["uuid"] + [k for k in ("description", "name") if database[k]]
        assert keys[: len(front)] == front
        middle = keys[len(front) : -2]
        assert middle == sorted(middle)
        for config in database["backup_configs"]:
            check_config(config, "latest_log")
            if config["latest_log"] is not None:
                check_execution(config["latest_log"])


def test_latest_log_is_the_newest_execution(sandbox):
    databases = get(sandbox, "/databases").json()
    checked = 0
    for database in databases:
        if database["database_type"] == "standalone-redis":
            continue
        details = {c["uuid"]: c for c in get(sandbox, f"/databases/{database['uuid']}/backups").json()}
        for config in database["backup_configs"]:
            executions = details[config["uuid"]]["executions"]
            assert config["latest_log"] == (executions[0] if executions else None)
            checked += 1
    assert checked > 20


def test_backups_endpoint(sandbox):
    database = next(d for d in sandbox.databases if len(d["backups"]) >= 2)
    configs = get(sandbox, f"/databases/{database['uuid']}/backups").json()
    assert {c["uuid"] for c in configs} >= set(database["backups"])
    created = [c["created_at"] for c in configs]
    assert created == sorted(created, reverse=True)  # newest configuration first
    for config in configs:
        check_config(config, "executions")
        for execution in config["executions"]:
            check_execution(execution)
        stamps = [e["created_at"] for e in config["executions"]]
        assert stamps == sorted(stamps, reverse=True)


def test_the_type_mixing_bug(sandbox):
    """Configs are matched by database_id only: same-id databases of different types show each other's."""
    listing = {d["uuid"]: d for d in get(sandbox, "/databases").json()}
    by_id = {}
    for database in sandbox.databases:
        by_id.setdefault(database["id"], []).append(database)
    pairs = [pair for pair in by_id.values() if len(pair) > 1]
    assert {frozenset(d["type"] for d in pair) for pair in pairs} >= {
        frozenset({"postgresql", "mysql"}),
        frozenset({"mongodb", "redis"}),
    }
    for pair in pairs:
        assert len({d["project"] for d in pair}) == 2  # kept apart from Project::databases()' merge by key
        expected = {uuid for d in pair for uuid in d["backups"]}
        for database in pair:
            shown = listing[database["uuid"]]["backup_configs"]
            assert {c["uuid"] for c in shown} == expected
            models = {c["database_type"] for c in shown}
            assert len(models) == len({d["type"] for d in pair if d["backups"]})
            details = get(sandbox, f"/databases/{database['uuid']}/backups").json()
            assert {c["uuid"] for c in details} == expected
    redis = next(d for d in sandbox.databases if d["type"] == "redis" and listing[d["uuid"]]["backup_configs"])
    assert all(c["database_type"] == "App\\Models\\StandaloneMongodb" for c in listing[redis["uuid"]]["backup_configs"])


def test_another_teams_configs_never_mix_in(sandbox):
    other = {d["id"] for d in sandbox.other_team_databases}
    ours = [d for d in get(sandbox, "/databases").json()]
    assert other & {d["id"] for d in sandbox.databases}  # the fleet has a cross-team id collision
    assert all(c["team_id"] == 1 for d in ours for c in d["backup_configs"])


def test_executions_endpoint_matches_the_openapi_schema(sandbox):
    database = next(d for d in sandbox.databases if d["backups"] and d["status"].startswith("running"))
    path = f"/databases/{database['uuid']}/backups/{database['backups'][0]}/executions"
    requests.patch(
        f"{sandbox.endpoint}/databases/{database['uuid']}/backups/{database['backups'][0]}",
        json={"backup_now": True},
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
    )
    body = get(sandbox, path).json()
    # The real server leaves message/filename/size null (a running job, a quiet pg_dump, a failed run) where
    # OpenAPI says string/integer; the schema is applied with exactly that widened.
    widened = copy.deepcopy(schema("/databases/{uuid}/backups/{scheduled_backup_uuid}/executions"))
    item = widened["properties"]["executions"]["items"]["properties"]
    for key in ("message", "filename", "size"):
        item[key]["type"] = [item[key]["type"], "null"]
    jsonschema.validate(body, widened)
    assert list(body) == ["executions"]
    assert body["executions"][0]["status"] == "running"
    for execution in body["executions"]:
        assert list(execution) == ["uuid", "filename", "size", "created_at", "message", "status"]
        assert ISO_TIME.fullmatch(execution["created_at"])
    assert any(e["message"] is None for e in body["executions"])  # the reason for the widening
    strict = [e for e in body["executions"] if None not in (e["message"], e["filename"], e["size"])]
    jsonschema.validate({"executions": strict}, schema("/databases/{uuid}/backups/{scheduled_backup_uuid}/executions"))


def test_s3_storages_match_the_openapi_schema(sandbox):
    storages = get(sandbox, "/s3-storages").json()
    jsonschema.validate(storages, schema("/s3-storages"))
    assert [s["uuid"] for s in storages] == [s["uuid"] for s in sandbox.s3_storages]
    assert all("id" not in s and PUBLIC_ID.fullmatch(s["uuid"]) for s in storages)
    assert len(sandbox.s3_storages) >= 2 and {"id", "uuid", "name"} <= set(sandbox.s3_storages[0])


def test_error_bodies_match_the_openapi_schemas(sandbox):
    database, backup = sandbox.backups[0]["database_uuid"], sandbox.backups[0]["backup_uuid"]
    url = f"{sandbox.endpoint}/databases/{database}/backups/{backup}"
    auth = {"Authorization": f"Bearer {sandbox.token}", "Accept": "application/json"}
    cases = [
        ("401", requests.get(f"{sandbox.endpoint}/databases", timeout=10)),
        ("404", requests.get(f"{sandbox.endpoint}/databases/nope/backups", headers=auth, timeout=10)),
        ("400", requests.patch(url, data=b"{}", headers={**auth, "Content-Type": "application/json"}, timeout=10)),
        ("422", requests.patch(url, json={"timeout": "x"}, headers=auth, timeout=10)),
    ]
    for status, response in cases:
        assert str(response.status_code) == status
        jsonschema.validate(response.json(), response_schema(status))
        assert isinstance(response.json()["message"], str)
    assert cases[3][1].json()["message"] == "Validation failed."  # not OpenAPI's "Validation error."


def test_the_fleet_is_deterministic_for_a_seed():
    def snapshot(seed):
        with Sandbox(databases=25, seed=seed) as sb:
            return get(sb, "/databases").text, get(sb, "/s3-storages").text, sb.databases

    first = snapshot(11)
    assert snapshot(11) == first
    assert snapshot(12)[0] != first[0]


def test_the_fleet_is_realistic(sandbox):
    databases = sandbox.databases
    types = {d["type"] for d in databases}
    assert types == {"postgresql", "mysql", "mariadb", "mongodb", "redis", "clickhouse"}
    assert all(not d["backups"] for d in databases if d["type"] == "redis")
    assert any(not d["status"].startswith("running") and d["backups"] for d in databases)
    assert sum(d["status"] == "running:healthy" for d in databases) > len(databases) / 2
    assert len({d["project"] for d in databases}) >= 2 and len({d["environment"] for d in databases}) >= 2
    configs = [sandbox.config(b["backup_uuid"]) for b in sandbox.backups]
    assert {len(d["backups"]) for d in databases} >= {0, 1, 2}
    frequencies = {c["frequency"] for c in configs}
    assert frequencies & {"daily", "hourly", "weekly", "@daily", "monthly"} and any(" " in f for f in frequencies)
    assert any(c["save_s3"] and c["s3_storage_id"] for c in configs)
    assert any(c["databases_to_backup"] for c in configs)
    assert len({c["timeout"] for c in configs}) > 1
    statuses = {e["status"] for b in sandbox.backups for e in sandbox.executions(b["backup_uuid"])}
    assert statuses == {"success", "failed"}


def test_a_large_fleet_is_served_whole():
    # How fast it starts is measured in benchmarks/bench_sandbox.py: a loaded machine must not fail a test.
    with Sandbox(databases=5000, seed=3) as sb:
        assert len(sb.databases) == 5000
        response = get(sb, "/databases")
        assert len(response.json()) == 5000


@pytest.mark.parametrize("count", [0, 1, 3])
def test_tiny_fleets(count):
    with Sandbox(databases=count) as sb:
        assert len(get(sb, "/databases").json()) == count
