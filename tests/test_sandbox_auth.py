"""Tokens, abilities, team scoping, the API switch, health/version and the catch-all route (API-RULES §1, §4)."""

from __future__ import annotations

import re
import time
import zlib

import pytest
import requests

UNAUTHENTICATED = {"message": "Unauthenticated."}
NOT_FOUND = {"message": "Not found.", "docs": "https://coolify.io/docs"}
API_DISABLED = {"success": True, "message": "API is disabled."}


def get(sb, path, token="root", **headers):
    if token:
        headers["Authorization"] = f"Bearer {sb.token if token == 'root' else token}"
    return requests.get(f"{sb.endpoint}{path}", headers={"Accept": "application/json", **headers}, timeout=10)


def read_paths(sb):
    database = next(d for d in sb.databases if d["backups"])
    return [
        "/version",
        "/databases",
        "/s3-storages",
        f"/databases/{database['uuid']}/backups",
        f"/databases/{database['uuid']}/backups/{database['backups'][0]}/executions",
    ]


def test_tokens_have_the_real_format(sandbox):
    tokens = [sandbox.token, sandbox.read_token, sandbox.write_token, sandbox.other_team_token, sandbox.member_token]
    assert len(set(tokens)) == 5
    for token in tokens:
        match = re.fullmatch(r"(\d+)\|([A-Za-z0-9]{40})([0-9a-f]{8})", token)
        assert match, token
        assert match.group(3) == format(zlib.crc32(match.group(2).encode()), "08x")


def test_the_bare_secret_works_too(sandbox):
    assert get(sandbox, "/version", token=sandbox.token.split("|", 1)[1]).text == "4.3.11"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer 1|" + "x" * 48, "Bearer 999|abc", "Bearer abc|def"],
)
def test_unauthenticated(sandbox, authorization):
    headers = {"Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = requests.get(f"{sandbox.endpoint}/databases", headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)
    assert "X-RateLimit-Limit" not in response.headers  # auth runs before the throttle


def test_a_secret_under_another_tokens_id_is_refused(sandbox):
    secret = sandbox.token.split("|", 1)[1]
    other_id = sandbox.read_token.split("|", 1)[0]
    assert get(sandbox, "/version", token=f"{other_id}|{secret}").status_code == 401


def test_bearer_is_case_insensitive(sandbox):
    response = requests.get(f"{sandbox.endpoint}/version", headers={"Authorization": f"bearer {sandbox.token}"})
    assert response.status_code == 200


def test_revoked_token(sandbox):
    assert get(sandbox, "/databases").status_code == 200
    assert sandbox.revoke(sandbox.token) is True
    response = get(sandbox, "/databases")
    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)
    assert sandbox.revoke(sandbox.token) is False
    assert get(sandbox, "/databases", token=sandbox.read_token).status_code == 200


def test_expired_token(sandbox):
    expired = sandbox.create_token(("root",), expires_at=time.time() - 1)
    valid = sandbox.create_token(("root",), expires_at=time.time() + 3600)
    assert get(sandbox, "/version", token=expired).status_code == 401
    assert get(sandbox, "/version", token=valid).status_code == 200


def test_read_token_reads_but_cannot_write(sandbox):
    for path in read_paths(sandbox):
        assert get(sandbox, path, token=sandbox.read_token).status_code == 200, path
    database = next(d for d in sandbox.databases if d["backups"])
    response = requests.patch(
        f"{sandbox.endpoint}/databases/{database['uuid']}/backups/{database['backups'][0]}",
        json={"enabled": True},
        headers={"Authorization": f"Bearer {sandbox.read_token}"},
    )
    assert (response.status_code, response.json()) == (403, {"message": "Missing required permissions: write"})


def test_write_does_not_imply_read(sandbox):
    for path in read_paths(sandbox):
        response = get(sandbox, path, token=sandbox.write_token)
        assert (response.status_code, response.json()) == (403, {"message": "Missing required permissions: read"})
        assert "X-RateLimit-Remaining" in response.headers


@pytest.mark.parametrize(
    ("abilities", "status"), [(("*",), 200), (("read:sensitive",), 403), (("deploy",), 403), (("read", "write"), 200)]
)
def test_other_abilities(sandbox, abilities, status):
    assert get(sandbox, "/databases", token=sandbox.create_token(abilities)).status_code == status


def test_unknown_abilities_are_refused_at_creation(sandbox):
    with pytest.raises(ValueError):
        sandbox.create_token(("admin",))


def test_a_member_holding_write_is_stopped_by_the_team_middleware(sandbox):
    for path in read_paths(sandbox):
        response = get(sandbox, path, token=sandbox.member_token)
        assert (response.status_code, response.json()) == (403, {"message": "Missing required team role."})
    # A member's read-only token passes, and reads.
    assert get(sandbox, "/databases", token=sandbox.create_token(("read",), member=True)).status_code == 200


def test_sensitive_values_only_for_root(sandbox):
    root = get(sandbox, "/databases").json()
    read = get(sandbox, "/databases", token=sandbox.read_token).json()
    postgres_root = next(d for d in root if d["database_type"] == "standalone-postgresql")
    postgres_read = next(d for d in read if d["uuid"] == postgres_root["uuid"])
    assert {"postgres_password", "internal_db_url", "external_db_url"} <= set(postgres_root)
    assert not {"postgres_password", "internal_db_url", "external_db_url"} & set(postgres_read)
    storages_root = get(sandbox, "/s3-storages").json()
    storages_read = get(sandbox, "/s3-storages", token=sandbox.read_token).json()
    assert all("key" in s and "secret" in s for s in storages_root)
    assert not any("key" in s or "secret" in s for s in storages_read)


def test_team_scoping(sandbox):
    ours = {d["uuid"] for d in get(sandbox, "/databases").json()}
    theirs = {d["uuid"] for d in get(sandbox, "/databases", token=sandbox.other_team_token).json()}
    assert ours == {d["uuid"] for d in sandbox.databases}
    assert theirs == {d["uuid"] for d in sandbox.other_team_databases}
    assert not ours & theirs
    other = next(d for d in sandbox.other_team_databases if d["backups"])
    for path in (
        f"/databases/{other['uuid']}/backups",
        f"/databases/{other['uuid']}/backups/{other['backups'][0]}/executions",
    ):
        response = get(sandbox, path)
        assert (response.status_code, response.json()) == (404, {"message": "Database not found."})
        assert get(sandbox, path, token=sandbox.other_team_token).status_code == 200
    storages = get(sandbox, "/s3-storages", token=sandbox.other_team_token).json()
    assert [s["uuid"] for s in storages] == [sandbox.other_team_s3_uuid]
    assert sandbox.other_team_s3_uuid not in {s["uuid"] for s in get(sandbox, "/s3-storages").json()}


def test_the_api_switch(sandbox):
    sandbox.set_api_enabled(False)
    for path in read_paths(sandbox):
        response = get(sandbox, path)
        assert (response.status_code, response.json()) == (403, API_DISABLED)
    assert get(sandbox, "/version", token=sandbox.write_token).json() == API_DISABLED  # before the ability check
    assert get(sandbox, "/version", token="nope").json() == UNAUTHENTICATED  # after auth
    assert requests.get(f"{sandbox.url}/api/health").text == "OK"
    assert requests.get(f"{sandbox.endpoint}/health").text == "OK"
    sandbox.set_api_enabled(True)
    assert get(sandbox, "/version").status_code == 200


def test_health_and_version(sandbox):
    for url in (f"{sandbox.url}/api/health", f"{sandbox.endpoint}/health"):
        response = requests.get(url, timeout=10)
        assert (response.status_code, response.text) == (200, "OK")
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    response = get(sandbox, "/version")
    assert (response.status_code, response.text) == (200, "4.3.11")
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert get(sandbox, "/version", token=None).status_code == 401
    head = requests.head(f"{sandbox.url}/api/health", timeout=10)
    assert (head.status_code, head.content, head.headers["Content-Length"]) == (200, b"", "2")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nope"),
        ("GET", "/api/v2/databases"),
        ("POST", "/api/v1/databases"),
        ("DELETE", "/api/v1/databases"),
        ("PUT", "/api/v1/databases/x/backups/y"),
        ("GET", "/api/v1/databases/x/backups/y"),
        ("POST", "/api/v1/version"),
        ("OPTIONS", "/api/v1/databases"),
        ("GET", "/api/v1/databases/x/backups/y/z"),
        ("GET", "/api/v1/databases//backups"),
        ("GET", "/api/nope"),
        ("PATCH", "/api/v1/databases/a%2Fb/backups/c"),
    ],
)
def test_catch_all_is_404_not_405_and_needs_no_token(sandbox, method, path):
    response = requests.request(method, f"{sandbox.url}{path}", headers={"Accept": "application/json"}, timeout=10)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert b'"docs":"https:\\/\\/coolify.io\\/docs"' in response.content
    assert "X-RateLimit-Limit" in response.headers  # throttled by IP


def test_a_trailing_slash_reaches_the_same_route(sandbox):
    assert get(sandbox, "/databases/").status_code == 200


def test_outside_api_is_not_the_api(sandbox):
    response = requests.get(f"{sandbox.url}/", timeout=10)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")
