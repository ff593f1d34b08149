"""The record of a CLI run is never lost: output paths checked first, names that never collide, a journal for every
run, and the results still written after a second Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from waiting import wait_for

import bulkbackup as bb
from bulkbackup._cli.cli import main
from bulkbackup.sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(databases=40, seed=7, rate_limit=100_000, job_delay=0.05) as sandbox:
        yield sandbox


@pytest.fixture
def env(sb, monkeypatch, tmp_path):
    monkeypatch.setenv("COOLIFY_ENDPOINT", sb.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sb.token)
    monkeypatch.setenv("HOME", str(tmp_path))  # no stray coolify-cli config
    return sb


def write_changes(sb, path: Path, rows: int = 3, base: int = 7100) -> Path:
    with bb.Client(sb.endpoint, sb.token) as client:
        fleet = bb.inventory(client).head(rows)
    frame = fleet[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [base + i for i in range(rows)]
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("flag", ["--results", "--journal"])
def test_an_output_in_a_missing_folder_is_refused_before_anything_is_sent(env, tmp_path, capsys, flag):
    src = write_changes(env, tmp_path / "changes.csv")
    target = tmp_path / "no" / "such" / "dir" / "out"
    assert main(["apply", str(src), "--yes", flag, str(target)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "no" / "such" / "dir") in err and "nothing was sent" in err
    assert env.patch_bodies == []


def test_an_existing_results_file_is_refused_unless_overwrite(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv")
    out = tmp_path / "results.csv"
    out.write_text("the only record of an earlier run\n")
    assert main(["apply", str(src), "--yes", "--results", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "the only record of an earlier run\n"
    assert env.patch_bodies == []
    assert main(["apply", str(src), "--yes", "--results", str(out), "--overwrite"]) == 0
    assert set(pd.read_csv(out)["status"]) == {"updated"}


def test_every_run_writes_its_own_results_and_journal(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv")
    assert main(["apply", str(src), "--yes"]) == 0
    first = capsys.readouterr().out
    assert main(["apply", str(src), "--yes"]) == 0  # the same second, even: the names must not collide
    second = capsys.readouterr().out
    results = sorted(tmp_path.glob("changes.results-*.csv"), key=lambda p: p.stat().st_mtime_ns)
    journals = sorted(tmp_path.glob("changes.journal-*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    assert len(results) == 2 and len(journals) == 2
    for out, journal in zip((first, second), journals, strict=True):
        assert f"journal: {journal}" in out
    statuses = [set(pd.read_csv(path)["status"]) for path in results]
    assert {"updated"} in statuses and {"unchanged"} in statuses  # the first run's record is still there


def test_naming_an_existing_journal_resumes_its_run(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv", rows=4)
    journal = tmp_path / "run.jsonl"
    assert main(["apply", str(src), "--yes", "--journal", str(journal)]) == 0
    sent = len(env.patch_bodies)
    capsys.readouterr()
    assert main(["apply", str(src), "--yes", "--journal", str(journal), "--results", str(tmp_path / "r2.csv")]) == 0
    out = capsys.readouterr().out
    assert f"resuming the run recorded in {journal}: 4 rows it settled are not sent again" in out
    assert "plan: 4 unchanged" not in out and "update" not in out.split("journal:")[0]
    assert len(env.patch_bodies) == sent
    again = pd.read_csv(tmp_path / "r2.csv")
    assert list(again["status"]) == ["updated"] * 4
    assert again["message"].str.startswith("done in an earlier run").all()
    other = write_changes(env, tmp_path / "other.csv", rows=4, base=7300)
    assert main(["apply", str(other), "--yes", "--journal", str(journal)]) == 2
    captured = capsys.readouterr()
    assert "different changes" in captured.err
    assert "plan:" not in captured.out  # refused before the plan and the question
    assert len(env.patch_bodies) == sent


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)


def test_a_second_ctrl_c_stops_waiting_and_still_writes_results_and_journal(sb, tmp_path):
    src = write_changes(sb, tmp_path / "changes.csv", rows=30)
    results, journal = tmp_path / "results.csv", tmp_path / "run.jsonl"
    env = dict(os.environ, COOLIFY_ENDPOINT=sb.endpoint, COOLIFY_TOKEN=sb.token, HOME=str(tmp_path))
    command = [sys.executable, "-m", "bulkbackup", "apply", str(src), "--yes", "--workers", "2"]
    command += ["--results", str(results), "--journal", str(journal)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, err), daemon=True).start()
    try:
        wait_for(lambda: journal.exists() and journal.stat().st_size > 0, "the run to start", timeout=60.0)
        sb.set_faults({"latency": 30})  # from now on every PATCH hangs
        arrived = sb.request_count
        wait_for(lambda: sb.request_count >= arrived + 2, "two requests in flight", timeout=60.0)
        proc.send_signal(signal.SIGINT)
        line = err.get(timeout=30)
        assert "stopping" in line  # said at once
        proc.send_signal(signal.SIGINT)  # stop waiting for the two hanging requests
        out, _ = proc.communicate(timeout=30)
    finally:
        sb.set_faults({})
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    assert f"results written to {results}" in out
    assert "(run stopped: interrupted (Ctrl-C))" in out
    frame = pd.read_csv(results)
    assert len(frame) == 30
    in_flight = frame[frame["message"].fillna("").str.contains("in flight")]
    assert len(in_flight) >= 1 and set(in_flight["status"]) == {"failed"}
    assert "skipped" in set(frame["status"])
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    intents = {r["backup_uuid"] for r in records if r["record"] == "intent"}
    outcomes = {r["backup_uuid"] for r in records if r["record"] == "outcome"}
    assert intents == outcomes  # every request that went out has its outcome in the journal
    assert records[-1]["record"] == "end"


def test_force_resumes_a_journal_of_edited_changes_and_retry_unknown_is_accepted(env, tmp_path, capsys):
    src = write_changes(env, tmp_path / "changes.csv", rows=3)
    journal = tmp_path / "run.jsonl"
    assert main(["apply", str(src), "--yes", "--journal", str(journal)]) == 0
    sent = len(env.patch_bodies)
    edited = pd.read_csv(src)
    edited.loc[1, "timeout"] = 7777
    edited.to_csv(src, index=False)
    assert main(["apply", str(src), "--yes", "--journal", str(journal)]) == 2
    assert "line 3" in capsys.readouterr().err  # the edited row, by its line in the file
    assert main(["apply", str(src), "--yes", "--journal", str(journal), "--force", "--retry-unknown"]) == 0
    assert len(env.patch_bodies) == sent + 1
    assert env.config(edited.loc[1, "backup_uuid"])["timeout"] == 7777


def test_a_change_on_the_server_while_the_question_waits_is_said(env, tmp_path, capsys, monkeypatch):
    src = write_changes(env, tmp_path / "changes.csv", rows=3)
    frame = pd.read_csv(src)
    uuid = frame.loc[1, "backup_uuid"]

    def someone_else_changes_it_then_yes(question):
        with bb.Client(env.endpoint, env.token) as other:
            other.send("PATCH", f"/databases/{frame.loc[1, 'database_uuid']}/backups/{uuid}", json={"timeout": 777})
        return "y"

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", someone_else_changes_it_then_yes)
    out_path = tmp_path / "r.csv"
    assert main(["apply", str(src), "--results", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert (
        f"warning: 1 row changed on the server between the plan and the run ({frame.loc[1, 'database_uuid']}/{uuid})"
        in out
    )
    results = pd.read_csv(out_path)
    assert json.loads(results.loc[1, "before"]) == {"timeout": 777}
    assert "the server changed since the plan" in results.loc[1, "message"]
    assert "changed since the plan" not in str(results.loc[0, "message"])
