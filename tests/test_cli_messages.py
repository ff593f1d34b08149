"""The command line's messages: what plan and the apply prompt show, plain http on a LAN, --no-diff, the
sandbox's paste-ready lines, and a plan piped into `head`."""

from __future__ import annotations

import json
import logging
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import bulkbackup._coolify.client as client_module
from bulkbackup._cli.cli import main
from bulkbackup.sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(databases=20, seed=5, rate_limit=100_000, job_delay=0.05) as sandbox:
        yield sandbox


@pytest.fixture
def env(sb, monkeypatch, tmp_path):
    monkeypatch.setenv("COOLIFY_ENDPOINT", sb.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sb.token)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("BULKBACKUP_ALLOW_HTTP", raising=False)
    return sb


def changes_file(sb: Sandbox, path: Path, rows: int = 6) -> Path:
    frame = pd.DataFrame(sb.backups[:rows])[["database_uuid", "backup_uuid"]]
    frame["timeout"] = [4321] * rows
    frame["enabled"] = [None] * (rows - 2) + [False, False]
    frame.to_csv(path, index=False)
    return path


def test_the_apply_prompt_counts_changes_per_field_and_shows_the_first_rows_of_the_diff(env, tmp_path, capsys):
    src = changes_file(env, tmp_path / "changes.csv", rows=14)
    names = {d["uuid"]: d["name"] for d in env.databases}
    assert main(["apply", str(src), "--dry-run"]) == 0
    out = capsys.readouterr().out
    enabled = sum(env.config(b["backup_uuid"])["enabled"] for b in env.backups[12:14])
    expected = "changes by field: " + ", ".join(
        part for part, n in ((f"enabled: {enabled} rows", enabled), ("timeout: 14 rows", 14)) if n
    )
    assert expected.replace("enabled: 1 rows", "enabled: 1 row") in out
    for backup in env.backups[:10]:  # the diff itself is shown before the question, the first rows of it
        assert f"{names[backup['database_uuid']]} (" in out and backup["backup_uuid"] in out
    assert "→ 4321" in out
    assert "… and 4 more rows to send (--all lists every row)" in out
    assert all(backup["backup_uuid"] not in out for backup in env.backups[10:14])
    for flag in ("--all", "--verbose"):
        assert main(["apply", str(src), "--dry-run", flag]) == 0
        out = capsys.readouterr().out
        for backup in env.backups[:14]:
            assert f"{names[backup['database_uuid']]} (" in out and backup["backup_uuid"] in out
        assert "more rows to send" not in out


def test_plan_all_lists_every_row_by_name_unchanged_and_invalid_too(env, tmp_path, capsys):
    src = changes_file(env, tmp_path / "changes.csv", rows=3)
    frame = pd.read_csv(src)
    frame.loc[1, "timeout"] = env.config(frame.loc[1, "backup_uuid"])["timeout"]
    frame["enabled"] = None
    frame.loc[2, "timeout"] = 5
    frame.to_csv(src, index=False)
    assert main(["plan", str(src), "--all"]) == 1
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("  line ")]
    assert [line.split()[2] for line in rows] == ["update", "unchanged", "invalid"]
    kinds = {d["uuid"]: d["database_type"] for d in env.databases}
    for line, backup in zip(rows, env.backups[:3], strict=True):
        assert f"({kinds[backup['database_uuid']]}) {backup['database_uuid']}/{backup['backup_uuid']}" in line


def test_no_diff_on_the_command_line(env, tmp_path, capsys, monkeypatch):
    src = changes_file(env, tmp_path / "changes.csv", rows=2)
    monkeypatch.setenv("COOLIFY_TOKEN", env.write_token)
    assert main(["plan", str(src)]) == 2
    assert "--no-diff" in capsys.readouterr().err
    assert main(["plan", str(src), "--no-diff"]) == 0
    assert "without reading the server first" in capsys.readouterr().out
    out_file = tmp_path / "results.csv"
    assert main(["apply", str(src), "--no-diff", "--yes", "--results", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "verification skipped" in out
    assert env.config(env.backups[0]["backup_uuid"])["timeout"] == 4321
    assert set(pd.read_csv(out_file)["status"]) == {"updated"}


@pytest.fixture
def lan_name(monkeypatch):
    """coolify.lan resolves to 127.0.0.1 in this process: a "LAN host" that never leaves the machine."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == "coolify.lan" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(client_module, "_warned_http", set())
    return "coolify.lan"


def test_plain_http_on_a_lan_is_refused_with_every_way_to_allow_it(env, lan_name, tmp_path, capsys, monkeypatch):
    src = changes_file(env, tmp_path / "changes.csv", rows=2)
    monkeypatch.setenv("COOLIFY_ENDPOINT", f"http://{lan_name}:{env.port}")
    assert main(["plan", str(src)]) == 2
    err = capsys.readouterr().err
    assert "refusing to send the API token over plain http:// to coolify.lan" in err
    assert "--allow-http" in err and "BULKBACKUP_ALLOW_HTTP=1" in err
    assert "allow_http=True" not in err  # the command line speaks of flags, not of Python keywords


def test_allow_http_with_a_coolify_cli_context_warns_once(env, lan_name, tmp_path, capsys, monkeypatch, caplog):
    src = changes_file(env, tmp_path / "changes.csv", rows=2)
    config = tmp_path / ".config" / "coolify" / "config.json"
    config.parent.mkdir(parents=True)
    instance = {"name": "lan", "fqdn": f"http://{lan_name}:{env.port}", "token": env.token, "default": True}
    config.write_text(json.dumps({"instances": [instance]}))
    monkeypatch.delenv("COOLIFY_ENDPOINT")
    monkeypatch.delenv("COOLIFY_TOKEN")
    assert main(["plan", str(src), "--context", "lan"]) == 2
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="bulkbackup._coolify.client"):
        assert main(["plan", str(src), "--context", "lan", "--allow-http"]) == 0
        assert "plan: 2 update" in capsys.readouterr().out
        monkeypatch.setenv("BULKBACKUP_ALLOW_HTTP", "1")
        assert main(["plan", str(src)]) == 0  # the variable does the same, through the default instance
    warnings = [r.getMessage() for r in caplog.records if "plain http://" in r.getMessage()]
    assert len(warnings) == 1
    assert "coolify.lan" in warnings[0] and "unencrypted" in warnings[0]
    assert env.token not in warnings[0]


def test_the_sandbox_prints_lines_ready_to_paste_into_a_shell():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkbackup", "sandbox", "--databases", "3", "--version", "4.3.18"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("export COOLIFY_TOKEN="):
            line = proc.stdout.readline()
            assert line, lines
            lines.append(line.rstrip("\n"))
        root = next(line.split(": ", 1)[1] for line in lines if line.startswith("root token: "))
        endpoint = next(line.split(": ", 1)[1] for line in lines if line.startswith("endpoint: "))
        assert "Coolify version: 4.3.18" in lines
        exports = [line for line in lines if line.startswith("export ")]
        assert exports[1] == f"export COOLIFY_TOKEN='{root}'"
        pasted = subprocess.run(
            ["sh", "-c", "\n".join(exports) + '\nprintf "%s\\n%s" "$COOLIFY_ENDPOINT" "$COOLIFY_TOKEN"'],
            capture_output=True,
            text=True,
            check=True,
        )
        assert pasted.stdout.split("\n") == [endpoint, root]
        assert shlex.split(exports[1]) == ["export", f"COOLIFY_TOKEN={root}"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_plan_piped_into_head_ends_quietly(tmp_path):
    rows = 4000  # far more output than a pipe holds, so the writer is still writing when head goes away
    frame = pd.DataFrame(
        {
            "database_uuid": [f"db{i:022d}" for i in range(rows)],
            "backup_uuid": [f"bk{i:022d}" for i in range(rows)],
            "timeout": 120,
        }
    )
    src = tmp_path / "big.csv"
    frame.to_csv(src, index=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkbackup", "plan", str(src), "--offline"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert first.startswith(b"plan: 4000 update")
    assert err == "", err
    assert not re.search("Broken pipe|Traceback", err)


def test_a_sandbox_version_that_is_not_one_is_a_one_line_error(capsys):
    assert main(["sandbox", "--version", "latest"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "bulkbackup sandbox: error: --version: 'latest' is not a Coolify version such as 4.3.18"
