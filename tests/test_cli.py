"""The command line: one line per error, exit codes, the confirmation, results files, the demo."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests

import bulkbackup as bb
from bulkbackup._cli.cli import build_parser, main
from bulkbackup.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sb():
    with Sandbox(databases=30, seed=3, job_delay=0.05) as sandbox:
        yield sandbox


@pytest.fixture
def env(sb, monkeypatch, tmp_path):
    monkeypatch.setenv("COOLIFY_ENDPOINT", sb.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sb.token)
    monkeypatch.setenv("HOME", str(tmp_path))  # no stray coolify-cli config
    return sb


def write_changes(sb, path: Path, *, bad: bool = False, rows: int = 3) -> Path:
    with bb.Client(sb.endpoint, sb.token) as client:
        fleet = bb.inventory(client).head(rows)
    frame = fleet[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [3601 + i for i in range(rows)]
    if bad:
        frame.loc[frame.index[0], "timeout"] = 5
    frame.to_csv(path, index=False)
    return path


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_command_has_help_and_is_documented(capsys):
    reference = (ROOT / "docs" / "cli.md").read_text()  # tests/test_docs.py checks each command's options there
    names = subcommands()
    assert {"apply", "demo", "sandbox", "plan", "export"} <= set(names)
    for name in names:
        assert f"`bulkbackup {name}" in reference, f"docs/cli.md does not document `bulkbackup {name}`"
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: bulkbackup" in capsys.readouterr().out


def test_apply_yes_updates_and_writes_a_readable_results_file(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv")
    out = tmp_path / "out.csv"
    assert main(["apply", str(src), "--yes", "--results", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "plan: 3 update" in printed
    assert "results: 3 updated" in printed
    assert str(out) in printed
    again = bb.read_changes(out)  # a results file can be fed back: its result columns are ignored
    assert len(again) == 3
    assert pd.read_csv(out)["status"].tolist() == ["updated"] * 3


def test_apply_exit_code_1_when_a_row_is_not_ok(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv", bad=True)
    assert main(["apply", str(src), "--yes"]) == 1
    captured = capsys.readouterr()
    assert "changes.csv:2" in captured.out and "timeout" in captured.out
    assert len(list(tmp_path.glob("changes.results-*.csv"))) == 1


def test_apply_without_a_terminal_asks_and_aborts_with_2(env, tmp_path, capsys, monkeypatch):
    src = write_changes(env, tmp_path / "changes.csv")
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert main(["apply", str(src)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert env.patch_bodies == []


def test_apply_confirmed_at_the_prompt(env, tmp_path, monkeypatch):
    src = write_changes(env, tmp_path / "changes.csv")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda question: "y")
    assert main(["apply", str(src)]) == 0
    assert len(env.patch_bodies) == 3


def test_dry_run_sends_nothing(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv")
    assert main(["apply", str(src), "--dry-run"]) == 0
    assert "3 requests would be sent" in capsys.readouterr().out
    assert env.patch_bodies == []
    assert len(list(tmp_path.glob("changes.plan-*.csv"))) == 1
    assert not list(tmp_path.glob("*results*")) and not list(tmp_path.glob("*journal*"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["apply", "missing.csv", "--yes"], "missing.csv"),
        (["apply", "{bad}", "--yes"], "unknown column 'frequncy'"),
        (["apply", "{good}", "--yes", "--workers", "0"], "must be at least 1"),
        (["apply", "{good}", "--yes", "--endpoint", "http://example.com"], "http://"),
        (["apply", "{good}", "--yes", "--token-env", "NO_SUCH_VARIABLE"], "NO_SUCH_VARIABLE"),
        (["sandbox", "--fault", "nonsense"], "--fault"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(env, tmp_path, capsys, argv, message):
    good = write_changes(env, tmp_path / "good.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("database_uuid,backup_uuid,frequncy\na,b,daily\n")
    code = run([a.format(good=good, bad=bad) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def run(argv: list[str]) -> int:
    """main(), with argparse's own exits turned into their code."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def test_auth_error_at_plan_time_is_one_line(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv")
    env.revoke(env.token)
    assert main(["apply", str(src), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "401" in err or "Unauthenticated" in err
    assert len(err.strip().splitlines()) == 1


def test_plan_and_export(env, tmp_path, capsys):
    out = tmp_path / "inventory.csv"
    assert main(["export", "--output", str(out)]) == 0
    exported = pd.read_csv(out, dtype=str)
    assert {"database_uuid", "backup_uuid", "frequency", "database_name"} <= set(exported.columns)
    capsys.readouterr()
    assert main(["plan", str(out)]) == 0  # an untouched export changes nothing
    assert re.search(r"plan: \d+ unchanged", capsys.readouterr().out)
    assert main(["plan", str(write_changes(env, tmp_path / "bad.csv", bad=True)), "--offline"]) == 1


def test_python_dash_m_and_the_console_script_run():
    done = subprocess.run([sys.executable, "-m", "bulkbackup", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("bulkbackup ")


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--dir", str(tmp_path), "--databases", "30"]) == 0
    out = capsys.readouterr().out
    results = pd.read_csv(tmp_path / "changes.results.csv")
    statuses = set(results["status"])
    assert {"updated", "triggered", "unchanged", "invalid"} <= statuses
    assert "results written to" in out
    assert str(tmp_path / "changes.results.csv") in out


def test_demo_of_several_instances_sends_one_change_to_each_in_parallel(tmp_path, capsys):
    assert main(["demo", "--dir", str(tmp_path), "--databases", "20", "--instances", "3"]) == 0
    out = capsys.readouterr().out
    results = pd.read_csv(tmp_path / "changes.results.csv")
    assert list(results["instance"].drop_duplicates()) == ["prod", "staging", "eu"]
    by_instance = results.groupby("instance")["status"]
    for name in ("prod", "staging", "eu"):
        assert {"updated", "triggered"} <= set(by_instance.get_group(name))
    assert set(by_instance.get_group("staging")) <= {"updated", "triggered", "unchanged"}  # the mistakes: prod's
    # prod and staging are seeded alike: the same configurations, each changed on its own instance
    prod, staging = (results[results["instance"] == n].set_index("backup_uuid")["status"] for n in ("prod", "staging"))
    assert set(staging.index) <= set(prod.index)
    assert re.search(r"^  eu: .*updated", out, re.MULTILINE) and "uuids collide" in out
    done = subprocess.run(
        [sys.executable, "-m", "bulkbackup", "demo", "--instances", "9"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.strip().endswith("invalid choice: 9 (choose from 1, 2, 3, 4, 5)")


def test_sandbox_command_prints_endpoint_and_tokens_and_stops_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkbackup", "sandbox", "--databases", "5", "--window", "2", "--fault", "503=0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        endpoint = re.search(r"http://127\.0\.0\.1:\d+/api/v1", lines[0]).group(0)
        tokens = [line.split(":", 1)[1].strip() for line in lines[1:]]
        assert all(re.fullmatch(r"\d+\|\w{48}", t) for t in tokens), lines
        assert requests.get(endpoint + "/health", timeout=5).text == "OK"
        answer = requests.get(endpoint + "/databases", headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=5)
        assert answer.status_code == 200 and len(answer.json()) == 5
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_sandbox_command_runs_several_instances_and_writes_their_coolify_cli_config(tmp_path, monkeypatch):
    config = tmp_path / "home" / ".config" / "coolify" / "config.json"
    argv = ["sandbox", "--databases", "4", "--instances", "2", "--seed", "0", "--cli-config", str(config)]
    proc = subprocess.Popen([sys.executable, "-m", "bulkbackup", *argv], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("coolify-cli config:"):
            lines.append(proc.stdout.readline().strip())
        assert [line for line in lines if line.startswith("[")] == ["[sandbox-1]", "[sandbox-2]"]
        assert len({line for line in lines if line.startswith("endpoint:")}) == 2
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        for name in ("COOLIFY_ENDPOINT", "COOLIFY_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        clients = bb.connect(all_contexts=True)
        assert [c.name for c in clients] == ["sandbox-1", "sandbox-2"]
        fleet = bb.inventory(clients)
        assert set(fleet["instance"]) == {"sandbox-1", "sandbox-2"}
        for c in clients:
            c.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
    # A coolify-cli config naming a real Coolify is the user's: never replaced by a sandbox's.
    real = tmp_path / "real.json"
    real.write_text('{"instances": [{"name": "prod", "fqdn": "https://coolify.example.com", "token": "t"}]}')
    done = subprocess.run(
        [sys.executable, "-m", "bulkbackup", "sandbox", "--cli-config", str(real)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "is never replaced" in done.stderr and "Traceback" not in done.stderr
    assert "coolify.example.com" in real.read_text()
