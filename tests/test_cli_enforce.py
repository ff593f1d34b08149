"""`bulkbackup enforce POLICY.toml` and `bulkbackup apply UNDO.csv --allow-delete`, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

POLICY = '[[rule]]\nid = "nightly"\nfrequency = "0 3 * * *"\ntimeout = 7200\n'


@pytest.fixture
def cases():
    with Sandbox(databases=20, seed=5, cases=True) as sandbox:
        yield sandbox


def _cli(sandbox: Sandbox, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLIFY_")}
    env.update(COOLIFY_ENDPOINT=sandbox.endpoint, COOLIFY_TOKEN=sandbox.token)
    return subprocess.run(
        [sys.executable, "-m", "bulkbackup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        input=stdin if stdin is not None else "",
    )


def _fixable(sandbox: Sandbox) -> pd.DataFrame:
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        violations = bb.check(bb.Policy.from_toml(POLICY), client)
    return violations[violations["fix"].isin(["update", "create"])]


def test_enforce_asks_applies_and_leaves_an_undo_that_deletes_only_when_allowed(cases, tmp_path: Path):
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    assert len(_fixable(cases))
    dry = _cli(cases, "enforce", str(policy), "--dry-run", "-o", str(tmp_path / "plan.csv"))
    assert dry.returncode == 0, dry.stderr
    assert "would be sent (nothing was sent)" in dry.stdout and "create" in dry.stdout
    assert not cases.created and (tmp_path / "plan.csv").exists()
    no = _cli(cases, "enforce", str(policy), stdin="n\n")
    assert no.returncode == 2 and "nothing was sent" in no.stderr and not cases.created
    results = tmp_path / "results.csv"
    done = _cli(cases, "enforce", str(policy), "--yes", "-o", str(results), "--journal", str(tmp_path / "j.jsonl"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert cases.created and _fixable(cases).empty
    frame = bb.read_csv(results)
    assert set(frame[frame["status"] == "created"]["backup_uuid"]) == {uuid for _, uuid in cases.created}
    assert "--allow-delete" in done.stdout  # the undo hint says what its deletes need
    again = _cli(cases, "enforce", str(policy), "--dry-run", "-o", str(tmp_path / "plan2.csv"))
    assert "dry run: 0 requests would be sent" in again.stdout

    undo_file = tmp_path / "undo.csv"
    made = _cli(cases, "undo", str(results), "-o", str(undo_file))
    assert made.returncode == 0 and "--allow-delete" in made.stdout
    refused = _cli(cases, "apply", str(undo_file), "--yes", "-o", str(tmp_path / "u1.csv"))
    assert "local backup files" in refused.stderr
    assert refused.returncode == 1 and not cases.deleted
    deleted = _cli(cases, "apply", str(undo_file), "--yes", "--allow-delete", "-o", str(tmp_path / "u2.csv"))
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "will be DELETED" in deleted.stdout and "local backup files" in deleted.stdout
    assert {uuid for _, uuid in cases.deleted} == {uuid for _, uuid in cases.created}


def test_a_policy_mistake_is_one_line_and_exit_2(cases, tmp_path: Path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nfrequncy = "@daily"\n')
    done = _cli(cases, "enforce", str(policy), "--yes")
    assert done.returncode == 2 and "frequency" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not cases.created
