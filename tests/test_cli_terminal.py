"""What reaches the terminal, run as a user runs it (`python -m bulkbackup …` against a sandbox): server and file text
escaped everywhere, the same options in every command, the plan shown before the question with an estimate, the
waits said, and hints that work (issues 13.3, 13.15, 14.2)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bulkbackup._cli.cli import build_parser
from bulkbackup.sandbox import Sandbox

HOSTILE = ("\x1b]0;pwned\x07title", "\x1b[2J\x1b[Hcleared", "evil\n  line 99: update forged (postgresql) x/y")


def cli(argv: list[str], sb: Sandbox, tmp_path: Path, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, COOLIFY_ENDPOINT=sb.endpoint, COOLIFY_TOKEN=sb.token, HOME=str(tmp_path))
    env.pop("BULKBACKUP_ALLOW_HTTP", None)
    return subprocess.run(
        [sys.executable, "-m", "bulkbackup", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def changes(sb: Sandbox, path: Path, rows: int, timeout: int = 4321) -> Path:
    frame = pd.DataFrame(sb.backups[:rows])[["database_uuid", "backup_uuid"]]
    frame["timeout"] = [timeout] * rows
    frame.to_csv(path, index=False)
    return path


def no_raw_control_characters(done: subprocess.CompletedProcess) -> None:
    for line in (done.stdout + done.stderr).splitlines():
        assert line.isprintable(), repr(line)
    assert "Traceback" not in done.stderr


# --- 13.3: every value from the server or a file reaches the terminal escaped --------------------------------------


@pytest.fixture
def hostile_sb():
    with Sandbox(databases=6, seed=4, rate_limit=100_000, job_delay=0.05) as sandbox:
        for database, name in zip(sandbox.fleet.databases, HOSTILE, strict=False):
            database.name = name
            database.attributes["name"] = name
            database._views.clear()
        yield sandbox


def test_database_names_with_escape_sequences_and_newlines_are_shown_escaped_everywhere(hostile_sb, tmp_path):
    src = changes(hostile_sb, tmp_path / "changes.csv", rows=len(hostile_sb.backups))
    for argv in (
        ["plan", str(src), "--all"],
        ["apply", str(src), "--dry-run", "--all"],
        ["apply", str(src), "--all"],  # no terminal: shows the plan, then aborts
        ["apply", str(src), "--yes", "--verbose"],
        ["doctor"],
    ):
        done = cli(argv, hostile_sb, tmp_path)
        no_raw_control_characters(done)
        assert not re.search(r"^\s*line 99: update forged", done.stdout, re.MULTILINE), argv
        if argv[0] in ("plan", "apply"):
            assert r"\x1b]0;pwned\x07title" in done.stdout, argv  # shown, as text
            assert r"evil\n  line 99" in done.stdout, argv


def test_errors_and_paths_from_files_are_escaped_too(hostile_sb, tmp_path):
    src = changes(hostile_sb, tmp_path / "changes.csv", rows=2)
    frame = pd.read_csv(src)
    frame["databases_to_backup"] = ["app\x1b[2J", "ok"]
    frame.to_csv(src, index=False)
    done = cli(["plan", str(src)], hostile_sb, tmp_path)
    no_raw_control_characters(done)
    assert done.returncode in (0, 1)
    folder = tmp_path / "no\x1b]0;such\x07"
    done = cli(["apply", str(src), "--yes", "--results", str(folder / "r.csv")], hostile_sb, tmp_path)
    no_raw_control_characters(done)
    assert done.returncode == 2 and r"no\x1b]0;such\x07" in done.stderr
    assert len(done.stderr.splitlines()) == 1


# --- 13.15: the same options in every command ---------------------------------------------------------------------


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


WRITES_A_FILE = {"apply", "plan", "export", "undo"}


def test_every_command_names_its_output_file_with_dash_o_output_and_shared_options_mean_the_same():
    seen: dict[str, tuple[str, str, str]] = {}
    for name, parser in subparsers().items():
        options = {s: a for a in parser._actions for s in a.option_strings}
        if name in WRITES_A_FILE:
            assert options.get("-o") is options.get("--output") is not None, name
            assert options["-o"].dest == "output" and "--overwrite" in options, name
        for string, action in options.items():
            kind = (action.dest, type(action).__name__, str(action.type))
            assert seen.setdefault(string, kind) == kind, f"{string} means something else in {name}"
            # an output file is named by -o/--output (and --results, the same option, in apply) and nothing else
            if re.search(r"\.(csv|jsonl)$", str(action.metavar or "")) and string != "--journal":
                assert action.dest == "output", f"{name} {string}"
        if "--output" not in options:
            assert "--overwrite" not in options, name
    assert seen["--results"][0] == "output"


def test_export_o_and_plan_o_write_their_file_and_refuse_an_existing_one_without_overwrite(tmp_path):
    with Sandbox(databases=4, seed=2, rate_limit=100_000) as sb:
        out = tmp_path / "inventory.csv"
        assert cli(["export", "-o", str(out)], sb, tmp_path).returncode == 0
        exported = pd.read_csv(out)
        assert len(exported) == len(sb.backups)
        plan = tmp_path / "plan.csv"
        assert cli(["plan", str(out), "-o", str(plan)], sb, tmp_path).returncode == 0
        assert set(pd.read_csv(plan)["action"]) == {"unchanged"}
        again = cli(["plan", str(out), "-o", str(plan)], sb, tmp_path)
        assert again.returncode == 2 and "--overwrite" in again.stderr
        assert cli(["plan", str(out), "-o", str(plan), "--overwrite"], sb, tmp_path).returncode == 0
        refused = cli(["plan", str(out), "-o", str(out), "--overwrite"], sb, tmp_path)
        assert refused.returncode == 2 and "input file" in refused.stderr
        assert len(pd.read_csv(out)) == len(sb.backups)  # the input was not replaced by its plan


# --- 14.2: the plan a person confirms, the time it takes, the waits ------------------------------------------------


@pytest.fixture
def sb():
    with Sandbox(databases=20, seed=5, rate_limit=100_000, job_delay=0.05) as sandbox:
        yield sandbox


def test_plan_lists_the_rows_that_change_and_all_lists_every_row(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=4)
    frame = pd.read_csv(src)
    same = frame.loc[1, "backup_uuid"]
    frame.loc[1, "timeout"] = sb.config(same)["timeout"]
    frame.to_csv(src, index=False)
    done = cli(["plan", str(src)], sb, tmp_path)
    assert done.returncode == 0
    assert "plan: 3 update, 1 unchanged" in done.stdout
    assert same not in done.stdout and "1 unchanged row not listed: --all lists every row" in done.stdout
    assert all(uuid in done.stdout for uuid in frame["backup_uuid"].drop(1))
    done = cli(["plan", str(src), "--all"], sb, tmp_path)
    assert same in done.stdout and "not listed" not in done.stdout


def test_plan_help_does_not_say_no_diff_sends():
    help_text = subparsers()["plan"].format_help()
    start = help_text.index("\n  --no-diff")  # the option's paragraph, not the usage line
    no_diff = help_text[start : start + 300].split("\n  -")[1]
    assert "read the server" in no_diff and "send" not in no_diff


def test_strict_sends_nothing_when_any_row_is_invalid(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=5)
    frame = pd.read_csv(src)
    frame.loc[3, "timeout"] = 5
    frame.to_csv(src, index=False)
    done = cli(["apply", str(src), "--yes", "--strict"], sb, tmp_path)
    assert done.returncode == 1
    assert "--strict" in done.stderr and "nothing is sent" in done.stderr
    assert sb.patch_bodies == []
    assert not list(tmp_path.glob("*results*")) and not list(tmp_path.glob("*journal*"))  # nothing left behind
    done = cli(["apply", str(src), "--yes"], sb, tmp_path)  # without --strict the good rows go
    assert done.returncode == 1 and len(sb.patch_bodies) == 4


def test_before_the_question_the_run_says_roughly_how_long_it_takes_at_the_servers_budget(tmp_path):
    with Sandbox(databases=20, seed=5, rate_limit=5, window=60) as sb:
        src = changes(sb, tmp_path / "changes.csv", rows=12)
        done = cli(["apply", str(src)], sb, tmp_path)  # no terminal: shows, then aborts
        assert done.returncode == 2 and sb.patch_bodies == []
        assert "12 requests at 5 a minute: about 3 minutes" in done.stdout
        assert done.stdout.index("about 3 minutes") > done.stdout.index("update")  # after the diff


def test_a_wait_for_the_rate_limit_window_is_said_in_plan_and_export(tmp_path):
    # 2 requests per 8 s: export (4 requests) waits for a second window; plan (2) right after it waits for a third.
    with Sandbox(databases=6, seed=5, rate_limit=2, window=8) as sb:
        src = changes(sb, tmp_path / "changes.csv", rows=2)
        for argv in (["export", "-o", str(tmp_path / "inv.csv")], ["plan", str(src)]):
            done = cli(argv, sb, tmp_path)
            assert done.returncode == 0, done.stderr
            assert re.search(r"^waiting \d+ s for the server's rate-limit window$", done.stderr, re.M), argv


def test_a_resumed_apply_says_its_waits_before_the_question(tmp_path):
    with Sandbox(databases=6, seed=5, rate_limit=3, window=8) as sb:
        src = changes(sb, tmp_path / "changes.csv", rows=2)
        journal = tmp_path / "run.jsonl"
        assert cli(["apply", str(src), "--yes", "--journal", str(journal)], sb, tmp_path).returncode == 0
        done = cli(["apply", str(src), "--yes", "--journal", str(journal)], sb, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "resuming the run" in done.stdout
        assert re.search(r"^waiting \d+ s for the server's rate-limit window$", done.stderr, re.M), done.stderr


def test_the_undo_hint_names_a_file_that_exists_and_is_not_given_when_nothing_changed(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=3)
    before = {b["backup_uuid"]: sb.config(b["backup_uuid"])["timeout"] for b in sb.backups[:3]}
    done = cli(["apply", str(src), "--yes"], sb, tmp_path)
    assert done.returncode == 0
    hint = re.search(r"to undo this run: bulkbackup apply (\S+)", done.stdout)
    assert hint, done.stdout
    undo_file = Path(shlex.split(hint.group(1))[0])
    assert undo_file.exists()
    assert cli(["apply", str(undo_file), "--yes"], sb, tmp_path).returncode == 0
    assert {uuid: sb.config(uuid)["timeout"] for uuid in before} == before
    done = cli(["apply", str(undo_file), "--yes"], sb, tmp_path)  # already restored: nothing changes
    assert done.returncode == 0 and "to undo" not in done.stdout


def test_an_interrupted_apply_prints_the_command_that_finishes_it_and_that_command_does(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=16)
    env = dict(os.environ, COOLIFY_ENDPOINT=sb.endpoint, COOLIFY_TOKEN=sb.token, HOME=str(tmp_path))
    sb.set_faults({"latency": 0.3})
    command = [sys.executable, "-m", "bulkbackup", "apply", str(src), "--yes", "--workers", "1"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(sb.patch_bodies) < 3:
            assert time.monotonic() < deadline and proc.poll() is None, "the run did not start"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        sb.set_faults({})
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    finish = re.search(r"^to finish this run: (bulkbackup apply .*--journal .*)$", out, re.MULTILINE)
    assert finish, out
    argv = shlex.split(finish.group(1))
    assert argv[:3] == ["bulkbackup", "apply", str(src)]
    sent = len(sb.patch_bodies)
    assert 3 <= sent < 16
    done = cli(argv[1:], sb, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(sb.patch_bodies) == 16  # every row sent once in all: the finished ones were not sent again
    assert all(sb.config(b["backup_uuid"])["timeout"] == 4321 for b in sb.backups[:16])


def test_the_cli_names_its_flags_not_python_keywords(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=3)
    journal = tmp_path / "run.jsonl"
    assert cli(["apply", str(src), "--yes", "--journal", str(journal)], sb, tmp_path).returncode == 0
    changes(sb, src, rows=3, timeout=4444)
    done = cli(["apply", str(src), "--yes", "--journal", str(journal)], sb, tmp_path)
    assert done.returncode == 2
    assert "--force" in done.stderr and "force=True" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_an_unknown_certificate_names_the_ca_bundle_flag_and_the_flag_works(tmp_path):
    from local_servers import PageServer, self_signed

    context = self_signed(tmp_path)
    server = PageServer(tls=context)
    try:
        env = dict(os.environ, COOLIFY_TOKEN="1|" + "a" * 48, HOME=str(tmp_path))
        env.pop("REQUESTS_CA_BUNDLE", None)
        env.pop("CURL_CA_BUNDLE", None)

        def run(*argv: str) -> subprocess.CompletedProcess:
            command = [sys.executable, "-m", "bulkbackup", *argv, "--endpoint", server.base]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

        for command in (["export"], ["doctor"]):
            done = run(*command)
            said = done.stdout + done.stderr
            assert done.returncode in (1, 2) and "certificate" in said.lower(), said
            assert "--ca-bundle PATH" in said and "REQUESTS_CA_BUNDLE" in said and "ca_bundle=" not in said, said
        done = run("export", "--ca-bundle", str(tmp_path / "cert.pem"))  # trusted now: the page is not the API
        assert done.returncode == 2 and "certificate" not in done.stderr.lower(), done.stderr
        assert len(done.stderr.splitlines()) == 1
    finally:
        server.stop()


def test_a_wait_every_worker_makes_for_the_same_window_is_said_once():
    from bulkbackup._cli.pace import Pace

    said: list[float] = []
    now = [100.0]
    pace = Pace(say_wait=said.append, clock=lambda: now[0])
    for _ in range(4):  # four workers meet the same closed window
        pace.say_wait(8.0)
    now[0] += 0.5
    pace.say_wait(7.5)  # the same window, a moment later
    now[0] += 8.0
    pace.say_wait(8.0)  # the next window
    assert said == [8.0, 8.0]


def test_storages_lists_name_uuid_bucket_endpoint_and_never_a_key_or_secret(tmp_path):
    with Sandbox(databases=6, seed=3, rate_limit=100_000) as sb:
        done = cli(["storages"], sb, tmp_path)
        assert done.returncode == 0, done.stderr
        for storage in sb.s3_storages:
            line = next(line for line in done.stdout.splitlines() if storage["uuid"] in line)
            assert storage["name"] in line and storage["bucket"] in line and storage["endpoint"] in line
        secrets = [value for s in sb.fleet.storages for value in (s.key, s.secret)]
        assert not any(value in done.stdout + done.stderr for value in secrets)
