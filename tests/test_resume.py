"""A run stopped after a few rows and resumed with the same journal ends with every row settled and nothing sent
twice — through every way of running: the CLI, `apply(changes)`, `apply(a fresh plan)` and the run panel.

Every row asks for its own timeout, so each PATCH body the sandbox received names its row: a row sent twice shows
its value twice. Some rows also start a backup: the sandbox's job count says whether one started twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pandas as pd
import pytest
from sandbox_frames import stop_after

import bulkbackup as bb

ROWS = 12
BASE = 8100


def changes_of(client, rows=ROWS, base=BASE):
    """`rows` configurations, each asked for its own timeout; every fourth also starts a backup."""
    fleet = bb.inventory(client).head(rows).reset_index(drop=True)
    frame = fleet[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [base + i for i in range(rows)]
    frame["backup_now"] = [True if i % 4 == 1 else None for i in range(rows)]
    return frame


def sent_timeouts(sandbox):
    return Counter(body.get("timeout") for body in sandbox.patch_bodies if isinstance(body, dict))


def assert_settled_once(sandbox, changes, results):
    """Every row settled (updated, or triggered when only its backup was left), each row's request sent once, and
    each asked backup started once."""
    assert set(results["status"]) <= {"updated", "triggered"}, results[["status", "message"]]
    assert list(results["backup_uuid"]) == list(changes["backup_uuid"])
    counts = sent_timeouts(sandbox)
    assert {t: counts[t] for t in changes["timeout"]} == dict.fromkeys(changes["timeout"], 1)
    pairs = zip(changes["backup_uuid"], changes["timeout"], strict=True)
    assert all(sandbox.config(u)["timeout"] == t for u, t in pairs)
    assert sandbox.wait_for_jobs()
    for uuid, wanted in zip(changes["backup_uuid"], changes["backup_uuid"].isin(_triggers(changes)), strict=True):
        assert sandbox.job_count(uuid) == (1 if wanted else 0), uuid


def _triggers(changes):
    return set(changes.loc[changes["backup_now"].notna(), "backup_uuid"])


def first_run_stopped(sandbox, client, changes, journal, *, plan_first=False):
    stop, press = stop_after(3)
    given = bb.plan(changes, client) if plan_first else changes
    first = bb.apply(given, client, progress=False, workers=1, journal=journal, stop=stop, listeners=[press])
    statuses = Counter(first["status"])
    assert statuses["skipped"] >= ROWS - 8 and statuses["skipped"] < ROWS  # stopped after a few rows
    assert first.attrs["run"].stopped == "stopped by the caller"
    return first


def test_apply_of_the_changes_resumes(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    changes = changes_of(client)
    first = first_run_stopped(sandbox, client, changes, journal)
    second = bb.apply(changes, client, progress=False, journal=journal)
    assert_settled_once(sandbox, changes, second)
    done = first["status"] != "skipped"
    assert second.loc[done, "message"].str.startswith("done in an earlier run (journal)").all()
    assert second.loc[done, "before"].tolist() == first.loc[done, "before"].tolist()  # undo still knows them


def test_apply_of_a_fresh_plan_made_after_the_first_run_resumes(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    changes = changes_of(client)
    first = first_run_stopped(sandbox, client, changes, journal, plan_first=True)
    fresh = bb.plan(changes, client)  # the rows the first run did are now unchanged in it
    done = (first["status"] != "skipped").to_numpy()
    assert set(fresh.loc[done & changes["backup_now"].isna().to_numpy(), "action"]) == {"unchanged"}
    second = bb.apply(fresh, client, progress=False, journal=journal)
    assert_settled_once(sandbox, changes, second)
    assert second.loc[done, "message"].str.startswith("done in an earlier run (journal)").all()
    third = bb.apply(bb.plan(changes, client), client, progress=False, journal=journal)  # all done: nothing sent
    assert_settled_once(sandbox, changes, third)


def test_the_cli_stopped_with_ctrl_c_and_run_again_resumes(sandbox, client, tmp_path):
    changes = changes_of(client)
    source = tmp_path / "changes.csv"
    changes.to_csv(source, index=False)
    journal = tmp_path / "run.jsonl"
    env = dict(os.environ, COOLIFY_ENDPOINT=sandbox.endpoint, COOLIFY_TOKEN=sandbox.token, HOME=str(tmp_path))
    command = [sys.executable, "-m", "bulkbackup", "apply", str(source), "--yes", "--workers", "1"]
    command += ["--journal", str(journal)]

    def outcomes():
        if not journal.exists():
            return 0
        return sum('"record": "outcome"' in line for line in journal.read_text().splitlines())

    sandbox.set_faults({"latency": 0.1})
    proc = subprocess.Popen([*command, "--results", str(tmp_path / "first.csv")], env=env, text=True)
    try:
        deadline = time.monotonic() + 120
        while outcomes() < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "the CLI run did not get going"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # Ctrl-C: no new requests, those in flight finish
        assert proc.wait(timeout=120) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
    sandbox.set_faults({})
    first = pd.read_csv(tmp_path / "first.csv")
    assert "skipped" in set(first["status"]) and "updated" in set(first["status"])
    done = subprocess.run(
        [*command, "--results", str(tmp_path / "second.csv")], env=env, text=True, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming the run recorded in" in done.stdout
    second = pd.read_csv(tmp_path / "second.csv", dtype={"backup_uuid": str})
    assert_settled_once(sandbox, changes, second)


def test_the_run_panel_stopped_and_applied_again_resumes(sandbox, client, tmp_path):
    ipywidgets = pytest.importorskip("ipywidgets")
    assert ipywidgets
    changes = changes_of(client)
    journal = tmp_path / "run.jsonl"
    panel = bb.widgets.RunPanel(changes, client, journal=journal, folder=tmp_path / "runs", workers=1)
    sandbox.set_faults({"latency": 0.2})
    panel.plan_button.click()
    panel.confirm.value = True
    panel.apply_button.click()
    deadline = time.monotonic() + 60
    while panel.progress.value < 2:  # the bar, as a person watching it sees it move
        assert time.monotonic() < deadline and not panel.finished.is_set(), panel.status.value
        time.sleep(0.01)
    panel.stop_button.click()
    first = panel.wait(60)
    assert panel.error is None and first is not None and "skipped" in set(first["status"])
    sandbox.set_faults({})
    panel.plan_button.click()  # a fresh plan, after the first run changed the server
    assert "run failed" not in panel.status.value and panel.planned is not None
    panel.confirm.value = True
    panel.apply_button.click()
    second = panel.wait(60)
    assert panel.error is None, panel.error
    assert_settled_once(sandbox, changes, second)
    intents = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sum(r["record"] == "header" for r in intents) == 2  # one journal, two runs


def test_a_filtered_fresh_plan_is_refused_by_the_journal_of_all_the_changes(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    changes = changes_of(client)
    first_run_stopped(sandbox, client, changes, journal)
    fresh = bb.plan(changes, client)
    sent = len(sandbox.patch_bodies)
    with pytest.raises(bb.ConfigError, match="different changes"):
        bb.apply(fresh.head(5), client, progress=False, journal=journal)
    assert len(sandbox.patch_bodies) == sent
