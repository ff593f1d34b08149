"""`bulkbackup doctor` / `bb.doctor.diagnose()`: each check against the sandbox's tokens and switches."""

from __future__ import annotations

import io
import socket

import pytest
import requests
from local_servers import PageServer, self_signed

import bulkbackup as bb
from bulkbackup._cli.cli import main
from bulkbackup._coolify.doctor import Check, diagnose, symbols
from bulkbackup.sandbox import Sandbox


@pytest.fixture
def sandbox():
    with Sandbox(databases=15, seed=4, rate_limit=500, job_delay=0.05) as running:
        yield running


def checks_of(endpoint: str, token: str) -> dict[str, Check]:
    with bb.Client(endpoint, token) as client:
        return {c.name: c for c in diagnose(client)}


def configurations(sandbox: Sandbox) -> list[dict]:
    answer = requests.get(
        f"{sandbox.endpoint}/databases", headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=10
    )
    return [c for db in answer.json() for c in db["backup_configs"]]


def test_a_good_token_passes_every_check_and_nothing_changes(sandbox):
    before = configurations(sandbox)
    sandbox.patch_bodies.clear()
    checks = checks_of(sandbox.endpoint, sandbox.token)
    assert list(checks) == [
        "endpoint reachable",
        "TLS",
        "token",
        "API enabled",
        "Coolify version",
        "read ability",
        "write ability",
        "rate limit",
        "backup configurations",
    ]
    assert all(c.ok for c in checks.values()), [str(c) for c in checks.values() if not c.ok]
    assert checks["Coolify version"].detail == "4.3.11"
    assert checks["backup configurations"].detail == f"{len(sandbox.backups)} on 15 databases"
    assert checks["rate limit"].detail.startswith("500 requests a minute, ")
    assert sandbox.patch_bodies == [{}]  # the write probe: an empty object, to a configuration that does not exist
    assert configurations(sandbox) == before
    assert sum(sandbox.jobs_started.values()) == 0


def test_a_read_only_token_fails_only_the_write_check(sandbox):
    checks = checks_of(sandbox.endpoint, sandbox.read_token)
    failed = {name for name, c in checks.items() if not c.ok}
    assert failed == {"write ability"}
    assert "read-only or deploy-only token" in checks["write ability"].fix


def test_a_write_only_token_fails_the_reads_and_is_pointed_at_no_diff(sandbox):
    checks = checks_of(sandbox.endpoint, sandbox.write_token)
    failed = {name for name, c in checks.items() if not c.ok}
    assert failed == {"Coolify version", "read ability"}
    assert "--no-diff" in checks["read ability"].fix
    assert checks["write ability"].ok


def test_a_revoked_token_stops_at_the_token(sandbox):
    token = sandbox.create_token(("root",))
    sandbox.revoke(token)
    checks = checks_of(sandbox.endpoint, token)
    assert [c.name for c in checks.values() if not c.ok] == ["token"]
    assert "expired or revoked" in checks["token"].fix
    assert "read ability" not in checks


def test_the_api_switch(sandbox):
    sandbox.set_api_enabled(False)
    checks = checks_of(sandbox.endpoint, sandbox.token)
    assert checks["endpoint reachable"].ok and checks["token"].ok
    assert not checks["API enabled"].ok and "enable API access" in checks["API enabled"].fix


def test_a_refused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    checks = checks_of(f"http://127.0.0.1:{port}", "1|whatever")
    assert list(checks) == ["endpoint reachable"]
    check = checks["endpoint reachable"]
    assert not check.ok and check.detail == f"cannot connect to 127.0.0.1:{port} (connection refused)"
    assert "Coolify is running" in check.fix
    assert str(check).startswith("✗ endpoint reachable: cannot connect")


def test_the_cli_exit_code_is_0_only_when_all_pass(sandbox, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 9 and all(line.startswith("✓ ") for line in out)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.read_token)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "✗ write ability:" in out and " — " in out


def test_marks_fall_back_on_a_console_that_cannot_print_them():
    assert symbols(io.TextIOWrapper(io.BytesIO(), encoding="cp1252")) == ("OK", "FAIL")
    assert symbols(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")) == ("✓", "✗")
    assert Check("TLS", False, "bad", "fix it").line("OK", "FAIL") == "FAIL TLS: bad — fix it"


def test_a_certificate_problem_is_the_tls_line(tmp_path):
    server = PageServer(tls=self_signed(tmp_path))
    try:
        checks = checks_of(server.base, "1|whatever")
    finally:
        server.stop()
    assert checks["endpoint reachable"].ok
    assert not checks["TLS"].ok
    assert "self-signed certificate" in checks["TLS"].detail and "ca_bundle" in checks["TLS"].fix
    assert server.requests == []  # the handshake failed: nothing, no token, was sent


def test_a_web_page_is_not_taken_for_coolify():
    server = PageServer()
    try:
        checks = checks_of(server.base, "1|whatever")
    finally:
        server.stop()
    assert list(checks) == ["endpoint reachable"] and not checks["endpoint reachable"].ok
