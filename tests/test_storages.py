"""bb.storages(client): the team's S3 storages, which configurations use each where that can be known, and never
a storage's `key` or `secret`, even when the server sends them."""

from __future__ import annotations

import http.server
import json
import threading

import pandas as pd
import pytest
import requests

import bulkbackup as bb

KEY, SECRET = "AKIAEXAMPLEKEY0000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def assert_no_credentials(frame: pd.DataFrame, secrets: list[str]) -> None:
    assert "key" not in frame.columns and "secret" not in frame.columns
    text = frame.to_csv() + repr(frame) + json.dumps(frame.attrs, default=str)
    for secret in secrets:
        assert secret not in text


def test_the_sandbox_storages_without_key_or_secret(sandbox, client):
    raw = requests.get(f"{sandbox.endpoint}/s3-storages", headers={"Authorization": f"Bearer {sandbox.token}"}).json()
    secrets = [s[name] for s in raw for name in ("key", "secret") if s.get(name)]
    assert secrets, "the root token is sent the credentials: the test must see them being dropped"
    frame = bb.storages(client)
    assert list(frame.columns) == [
        *("name", "uuid", "bucket", "endpoint", "region", "is_usable", "configurations", "used_by")
    ]
    assert sorted(frame["uuid"]) == sorted(s["uuid"] for s in sandbox.s3_storages)
    assert set(frame["bucket"]) == {s["bucket"] for s in sandbox.s3_storages}
    assert_no_credentials(frame, secrets)


class Team:
    """A local server with one S3 storage (credentials included, as `read:sensitive` gets them) and two databases,
    one of whose configurations uses it."""

    def __init__(self, storages: list[dict] | None, databases: list[dict]):
        answers = {"/api/v1/s3-storages": storages, "/api/v1/databases": databases}
        answers = {path: body for path, body in answers.items() if body is not None}  # None: no such route

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                found = self.path in answers
                body = json.dumps(answers[self.path] if found else {"message": "Not found."}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def storage(uuid: str, name: str) -> dict:
    return {"uuid": uuid, "name": name, "bucket": "b", "endpoint": "https://s3.example.test", "region": "r",
            "key": KEY, "secret": SECRET, "is_usable": True}  # fmt: skip


def database(name: str, uuid: str, s3_id: int | None) -> dict:
    config = {"uuid": f"bk{uuid}", "database_type": "App\\Models\\StandalonePostgresql", "s3_storage_id": s3_id}
    return {"uuid": uuid, "name": name, "database_type": "standalone-postgresql", "backup_configs": [config]}


@pytest.fixture
def team(request):
    server = Team(*request.param)
    yield server
    server.stop()


@pytest.mark.parametrize(
    "team",
    [([storage("s1" * 12, "only")], [database("orders", "d1", 7), database("users", "d2", None)])],
    indirect=True,
)
def test_one_storage_names_the_configurations_that_use_it(team):
    with bb.Client(team.url, "1|token-for-a-local-test") as client:
        frame = bb.storages(client)
    assert frame.loc[0, "configurations"] == 1 and frame.loc[0, "used_by"] == "orders (bkd1)"
    assert "note" not in frame.attrs
    assert_no_credentials(frame, [KEY, SECRET])


@pytest.mark.parametrize(
    "team",
    [([storage("s1" * 12, "a"), storage("s2" * 12, "b")], [database("orders", "d1", 7)])],
    indirect=True,
)
def test_several_storages_in_use_say_the_use_cannot_be_known(team):
    with bb.Client(team.url, "1|token-for-a-local-test") as client:
        frame = bb.storages(client)
    assert frame["configurations"].isna().all() and frame["used_by"].isna().all()
    assert "cannot be known" in frame.attrs["note"]
    assert_no_credentials(frame, [KEY, SECRET])


@pytest.mark.parametrize(
    "team", [([storage("s1" * 12, "a"), storage("s2" * 12, "b")], [database("orders", "d1", None)])], indirect=True
)
def test_no_configuration_on_s3_means_every_storage_is_unused(team):
    with bb.Client(team.url, "1|token-for-a-local-test") as client:
        frame = bb.storages(client)
    assert list(frame["configurations"]) == [0, 0] and list(frame["used_by"]) == ["", ""]


@pytest.mark.parametrize("team", [(None, [])], indirect=True)
def test_a_coolify_before_4_3_says_it_has_no_storages_endpoint(team):
    with bb.Client(team.url, "1|token-for-a-local-test") as client:
        with pytest.raises(bb.ApiError, match="added in Coolify 4.3.0"):
            bb.storages(client)


def test_the_storages_of_several_instances_are_one_frame_each_row_naming_its_instance():
    with bb.sandbox.Sandbox.many(2, databases=6, seed=[0, 1]) as sandboxes:
        clients = [bb.Client(s.endpoint, s.token, name=n) for s, n in zip(sandboxes, ["prod", "eu"], strict=True)]
        frame = bb.storages(clients)
        refused = bb.Client(sandboxes[1].endpoint, "wrong-token", name="eu")
        with pytest.raises(bb.AuthError, match="^instance 'eu': "):
            bb.storages([clients[0], refused])
    assert list(frame.columns[:2]) == ["instance", "name"]
    for sandbox, name in zip(sandboxes, ["prod", "eu"], strict=True):
        mine = frame[frame["instance"] == name]
        assert sorted(mine["uuid"]) == sorted(s["uuid"] for s in sandbox.s3_storages)
    raw = [s[k] for sandbox in sandboxes for s in sandbox.s3_storages for k in ("key", "secret") if s.get(k)]
    assert_no_credentials(frame, raw)
