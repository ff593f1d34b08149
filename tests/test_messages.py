"""Messages that tell the user what to do: answers that are not the API, connection failures, what a 403 means.

Every server here is real and on 127.0.0.1: the sandbox, a tiny http.server that answers like a web UI or a
login proxy (HTML with 200, or a redirect), a TLS server with a self-signed certificate, and a refused port.
"""

from __future__ import annotations

import socket

import pandas as pd
import pytest
from local_servers import PageServer, self_signed

import bulkbackup as bb
from bulkbackup._coolify.client import describe_transport_error
from bulkbackup._coolify.retry import RetryPolicy
from bulkbackup.sandbox import Sandbox

FAST = RetryPolicy(attempts=2, initial=0.001, maximum=0.002, jitter=0.0)
TOKEN = "5|NotTheApiToken0123456789abcdefghijklmnopqr1a2b3c4d"
NOT_THE_API = "does not look like the Coolify API"


@pytest.fixture(params=["html", "redirect"])
def page_server(request):
    server = PageServer(redirect=request.param == "redirect")
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline_plan(rows: int = 3) -> pd.DataFrame:
    """A plan made without a server, so that apply() goes straight to the PATCHes."""
    frame = pd.DataFrame(
        {
            "database_uuid": [f"db{i:022d}" for i in range(rows)],
            "backup_uuid": [f"bk{i:022d}" for i in range(rows)],
            "timeout": [120] * rows,
        }
    )
    return bb.plan(frame)


# --- not the API -------------------------------------------------------------------------------------------------


def test_a_web_page_or_redirect_is_not_an_inventory(page_server):
    with bb.Client(page_server.base, TOKEN, retry=FAST) as client:
        with pytest.raises(bb.ApiError) as caught:
            bb.inventory(client)
    message = str(caught.value)
    assert NOT_THE_API in message and "GET /databases" in message
    assert "/api/v1" in message  # the fix: the instance's own address
    assert "\n" not in message


def test_a_plan_against_a_web_page_fails_before_anything_is_compared(page_server):
    with bb.Client(page_server.base, TOKEN, retry=FAST) as client:
        with pytest.raises(bb.ApiError, match=NOT_THE_API):
            bb.plan(offline_plan()[["database_uuid", "backup_uuid"]].assign(timeout=120), client)
        assert client.server_version() is None
        assert NOT_THE_API in client.server_version_problem


def test_a_patch_answered_by_a_web_page_is_failed_not_updated(page_server):
    planned = offline_plan(rows=3)
    with bb.Client(page_server.base, TOKEN, retry=FAST, workers=1) as client:
        # apply reads the server first: the web page is refused there, before any PATCH goes out ...
        with pytest.raises(bb.ApiError, match=NOT_THE_API):
            bb.apply(planned, client, progress=False, verify=False)
        assert not any(method == "PATCH" for method, _ in page_server.requests)
        # ... and without that read (diff=False), the PATCH's own answer is judged the same way.
        results = bb.apply(planned, client, progress=False, verify=False, diff=False)
    assert "updated" not in set(results["status"])
    first = results.iloc[0]
    assert first["status"] == "failed" and NOT_THE_API in first["message"]
    # The same answer would come for every row: the run stops, and the rest are never sent.
    assert set(results["status"].iloc[1:]) <= {"skipped", "failed"}
    assert NOT_THE_API in results.attrs["stopped"]
    assert sum(method == "PATCH" for method, _ in page_server.requests) < 3


def test_the_version_answer_must_be_a_version(page_server):
    with bb.Client(page_server.base, TOKEN, retry=FAST) as client:
        with pytest.raises(bb.ApiError, match=NOT_THE_API):
            client.version()


# --- connection errors in one line ------------------------------------------------------------------------------


def test_a_refused_port_is_one_line_naming_host_and_port():
    port = free_port()
    with bb.Client(f"http://127.0.0.1:{port}", TOKEN, retry=FAST) as client:
        with pytest.raises(bb.ApiError) as caught:
            bb.inventory(client)
        message = str(caught.value)
        assert f"cannot connect to 127.0.0.1:{port} (connection refused) — check" in message
        assert "Max retries" not in message and "NewConnectionError" not in message and "\n" not in message
        results = bb.apply(offline_plan(rows=1), client, progress=False, verify=False, diff=False)
    assert results.loc[0, "status"] == "failed"
    assert f"cannot connect to 127.0.0.1:{port} (connection refused)" in results.loc[0, "message"]


def test_an_unknown_name_is_one_line(monkeypatch):
    looked_up = []

    def no_such_name(host, *args, **kwargs):
        looked_up.append(host)  # answered here: the lookup never leaves the machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    with bb.Client("https://coolify.invalid", TOKEN, retry=FAST) as client:
        with pytest.raises(bb.ApiError) as caught:
            client.list_databases()
    assert looked_up and set(looked_up) == {"coolify.invalid"}
    message = str(caught.value)
    assert "cannot connect to coolify.invalid:443 (name not found) — check the host name" in message
    assert "Max retries" not in message


def test_a_self_signed_certificate_is_named_as_the_tls_problem(tmp_path):
    server = PageServer(tls=self_signed(tmp_path))
    try:
        with bb.Client(server.base, TOKEN, retry=FAST) as client:
            with pytest.raises(bb.ApiError) as caught:
                client.list_databases()
    finally:
        server.stop()
    message = str(caught.value)
    assert f"cannot connect to 127.0.0.1:{server.base.rsplit(':', 1)[1]} (TLS error: " in message
    assert "self-signed certificate" in message and "ca_bundle" in message
    assert "Max retries" not in message and server.requests == []


def test_describe_transport_error_of_a_timeout():
    import requests

    error = requests.exceptions.ReadTimeout("read timed out")
    assert describe_transport_error(error, "https://coolify.example.com/api/v1").startswith(
        "no answer from coolify.example.com:443 in time"
    )


# --- what a 403 means -------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox():
    with Sandbox(databases=12, seed=1, rate_limit=100_000, job_delay=0.05) as running:
        yield running


def some_changes(sandbox, rows: int = 3) -> pd.DataFrame:
    frame = pd.DataFrame(sandbox.backups[:rows])[["database_uuid", "backup_uuid"]]
    return frame.assign(timeout=[4000 + i for i in range(rows)])


def test_a_read_only_token_is_named_as_such_when_it_writes(sandbox):
    changes = some_changes(sandbox)
    with bb.Client(sandbox.endpoint, sandbox.read_token) as client:
        results = bb.apply(changes, client, progress=False)
    rejected = results[results["status"] == "rejected"]
    assert len(rejected) >= 1
    assert "Missing required permissions: write" in rejected.iloc[0]["message"]
    assert "read-only or deploy-only token" in rejected.iloc[0]["message"]
    assert "read-only or deploy-only token" in results.attrs["stopped"]


def test_a_token_that_cannot_read_is_pointed_at_no_diff(sandbox):
    with bb.Client(sandbox.endpoint, sandbox.write_token) as client:
        with pytest.raises(bb.AuthError) as caught:
            bb.plan(some_changes(sandbox), client)
    assert "Missing required permissions: read" in str(caught.value)
    assert "diff=False" in str(caught.value) and "--no-diff" in str(caught.value)


def test_the_ip_allowlist_is_not_blamed_on_the_token(sandbox):
    sandbox.set_allowed_ips(["192.0.2.10"])
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        with pytest.raises(bb.AuthError) as caught:
            bb.inventory(client)
    assert "You are not allowed to access the API." in str(caught.value)
    assert "allowlist, not the token" in str(caught.value)
    sandbox.set_allowed_ips(["0.0.0.0"])
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        assert len(bb.inventory(client)) == len(sandbox.backups)


def test_a_web_page_is_not_a_healthy_coolify(page_server):
    with bb.Client(page_server.base, TOKEN, retry=FAST) as client:
        assert client.health() is False


# --- connection messages that guide (issue 14 §2) ------------------------------------------------------------------


def test_https_to_a_plain_http_server_suggests_http(sandbox):
    https = sandbox.url.replace("http://", "https://")
    with bb.Client(https, TOKEN, retry=FAST) as client:
        with pytest.raises(bb.ApiError) as caught:
            client.list_databases()
    message = str(caught.value)
    assert f"try {sandbox.url}" in message and "http://IP:8000" in message, message
    assert "\n" not in message


def test_http_to_a_tls_port_suggests_https(tmp_path):
    server = PageServer(tls=self_signed(tmp_path))  # a TLS port: plain http gets no answer
    try:
        http = server.base.replace("https://", "http://")
        with bb.Client(http, TOKEN, retry=FAST) as client:
            with pytest.raises(bb.ApiError) as caught:
                client.list_databases()
        assert f"use {server.base}" in str(caught.value), str(caught.value)
    finally:
        server.stop()


def test_a_404_under_a_wrong_api_path_says_the_path_looks_wrong(sandbox):
    with bb.Client(sandbox.url + "/api/v2", sandbox.token, retry=FAST) as client:
        with pytest.raises(bb.ApiError) as caught:
            bb.inventory(client)
    message = str(caught.value)
    assert caught.value.status == 404 and "/api/v2/api/v1/databases" in message
    assert "path of the endpoint looks wrong" in message and f"e.g. {sandbox.url})" in message


def test_the_first_refused_connection_is_said_at_once_with_the_retry(caplog):
    said_before_the_first_wait: list[str] = []

    def sleep(seconds: float) -> None:  # a fake clock: when the first back-off starts, the user already knows
        if not said_before_the_first_wait:
            said_before_the_first_wait.extend(r.getMessage() for r in caplog.records if r.levelname == "WARNING")

    port = free_port()
    policy = RetryPolicy(attempts=3, initial=5.0, maximum=5.0, jitter=0.0, sleep=sleep)
    with caplog.at_level("WARNING"):
        with bb.Client(f"http://127.0.0.1:{port}", TOKEN, retry=policy) as client:
            with pytest.raises(bb.ApiError, match="connection refused"):
                client.list_databases()
    assert len(said_before_the_first_wait) == 1, said_before_the_first_wait
    line = said_before_the_first_wait[0]
    assert f"127.0.0.1:{port}" in line and "connection refused" in line and "retrying in 5.0 s" in line


def test_fixes_speak_python_in_python_and_flags_in_the_cli(tmp_path, monkeypatch, capsys):
    from bulkbackup._cli.cli import main

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = PageServer(tls=self_signed(tmp_path))
    try:
        with bb.Client(server.base, TOKEN, retry=FAST) as client:
            with pytest.raises(bb.ApiError, match=r"ca_bundle=PATH"):
                client.list_databases()
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("COOLIFY_ENDPOINT", server.base)
        monkeypatch.setenv("COOLIFY_TOKEN", TOKEN)
        assert main(["export"]) != 0
        out, err = capsys.readouterr()
        assert "REQUESTS_CA_BUNDLE" in out + err and "ca_bundle=" not in out + err
    finally:
        server.stop()
    monkeypatch.delenv("COOLIFY_ENDPOINT")
    assert main(["export", "--token-env", "OTHER_TOKEN"]) != 0
    out, err = capsys.readouterr()
    assert "give --endpoint or set COOLIFY_ENDPOINT" in out + err
    with pytest.raises(bb.ConfigError, match=r"give connect\(endpoint=URL\) or set COOLIFY_ENDPOINT"):
        from bulkbackup._coolify.credentials import find_credentials

        find_credentials(token_variable="OTHER_TOKEN", environ={"HOME": str(tmp_path)})
