"""A run killed with SIGKILL at any point leaves a journal that resumes and undoes exactly.

The run is a subprocess (tests/data/killed_run.py) against a sandbox in this process; it kills itself at the chosen
point of one row, so the point is exact whatever the machine's load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

CHILD = Path(__file__).parent / "data" / "killed_run.py"
ROWS = 10
TARGET = 5  # the row the run is killed at
VOLATILE = ["latest_status", "latest_run_at", "latest_size"]  # what a started backup changes


@pytest.mark.parametrize(
    "point, target_triggers",
    [("before", False), ("before", True), ("after", False), ("after", True), ("mid-line", True)],
)
def test_a_killed_run_resumes_without_repeating_anything_and_undoes_exactly(tmp_path, point, target_triggers):
    triggers = {1, TARGET} if target_triggers else {1}  # rows that also start a backup
    # An intent on disk without its outcome "may have been sent": settings are sent again (harmless), a backup_now
    # becomes unknown. A torn intent was never complete on disk, so its request never left.
    maybe_sent_trigger = target_triggers and point in ("before", "after")
    with Sandbox(databases=30, seed=4, rate_limit=100_000, job_delay=0.05) as sb:
        with bb.Client(sb.endpoint, sb.token) as client:
            original = bb.inventory(client)
            frame = original.head(ROWS)[["database_uuid", "backup_uuid"]].copy()
            frame["timeout"] = [5100 + i for i in range(ROWS)]
            frame["database_backup_retention_days_locally"] = [40 + i for i in range(ROWS)]
            frame["backup_now"] = [True if i in triggers else None for i in range(ROWS)]
            changes = tmp_path / "changes.csv"
            bb.write_csv(frame, changes)
            journal = tmp_path / "run.jsonl"
            target = frame.loc[TARGET, "backup_uuid"]
            env = dict(os.environ, COOLIFY_TOKEN=sb.token)
            child = subprocess.run(
                [sys.executable, str(CHILD), sb.endpoint, str(changes), str(journal), point, target],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert child.returncode == -9, child.stderr
            went_out = len(sb.patch_bodies)
            assert went_out <= TARGET + 1
            settled = {
                json.loads(line)["backup_uuid"]
                for line in journal.read_text().splitlines()
                if line.startswith('{"record": "outcome"')
            }
            assert len(settled) == went_out - (1 if point == "after" else 0)

            resumed = bb.apply(str(changes), client, progress=False, journal=journal)
            # Nothing succeeded twice: every row's request went out once over both runs, the killed one at most once.
            sent_once = ROWS - (1 if maybe_sent_trigger and point == "before" else 0)
            assert len(sb.patch_bodies) == sent_once
            assert sb.wait_for_jobs()
            jobs = [int(i in triggers) for i in range(ROWS)]
            if maybe_sent_trigger and point == "before":
                jobs[TARGET] = 0
            assert [sb.job_count(u) for u in frame["backup_uuid"]] == jobs
            expected = ["updated"] * ROWS
            if maybe_sent_trigger:
                expected[TARGET] = "unknown"  # it may have gone out and starts a backup: never repeated unasked
            assert list(resumed["status"]) == expected
            if point == "after" and not target_triggers:
                assert "took effect" in resumed.loc[TARGET, "message"]
            done = resumed["message"].str.startswith("done in an earlier run")
            assert set(resumed.loc[done, "backup_uuid"]) == settled
            if point == "mid-line":
                assert any("incomplete last line" in w for w in resumed.attrs["run"].warnings)

            undo = bb.undo(journal)
            assert sum("started backup" in w for w in undo.attrs["warnings"]) == len(triggers)
            restored = bb.apply(undo, client, progress=False)
            assert set(restored["status"]) <= {"updated", "unchanged"}
            assert (restored["status"] == "updated").sum() >= ROWS - 1
            now = bb.inventory(client)
            assert now.drop(columns=VOLATILE).equals(original.drop(columns=VOLATILE))


CHILD_OF_INSTANCES = Path(__file__).parent / "data" / "killed_run_instances.py"


@pytest.mark.parametrize("point", ["before", "after"])
def test_a_killed_run_over_two_instances_with_colliding_uuids_resumes_each_row_on_its_own_instance(tmp_path, point):
    """Two instances seeded alike (the same uuids); the run dies at staging's row that starts a backup, wherever
    prod's lane is then (the lanes run side by side). The resume never repeats staging's backup that may have
    started, finishes every other row on its own instance, and prod's twin of the dead row (same uuids, settings
    only) is not mistaken for it."""
    with Sandbox.many(2, databases=20, seed=[3, 3], name=["prod", "staging"], job_delay=0.05, rate_limit=100_000) as (
        prod,
        staging,
    ):
        clients = [bb.Client(s.endpoint, s.token, name=s.name) for s in (prod, staging)]
        try:
            keys = bb.inventory(clients[0]).head(ROWS)[["database_uuid", "backup_uuid"]]
            frames = []
            for k, name in enumerate(["prod", "staging"]):
                frame = keys.copy()
                frame.insert(0, "instance", name)
                frame["timeout"] = [5100 + 100 * k + i for i in range(ROWS)]
                frame["backup_now"] = [True if i == TARGET and name == "staging" else None for i in range(ROWS)]
                frames.append(frame)
            changes = tmp_path / "changes.csv"
            bb.write_csv(pd.concat(frames, ignore_index=True), changes)
            journal = tmp_path / "run.jsonl"
            target = keys.iloc[TARGET]["backup_uuid"]
            env = dict(os.environ, COOLIFY_TOKEN_prod=prod.token, COOLIFY_TOKEN_staging=staging.token)
            argv = [str(changes), str(journal), point, "staging", target]
            argv += [f"prod={prod.endpoint}", f"staging={staging.endpoint}"]
            child = subprocess.run(
                [sys.executable, str(CHILD_OF_INSTANCES), *argv], env=env, capture_output=True, text=True, timeout=120
            )
            assert child.returncode == -9, child.stderr

            resumed = bb.apply(str(changes), clients, progress=False, journal=journal)
            # staging died at its own row: every row before it went out once, the dead row (it starts a backup) is
            # never sent again: "before" (its intent on disk, nothing sent) not at all, "after" once.
            assert len(staging.patch_bodies) == ROWS - (1 if point == "before" else 0)
            # prod's lane was wherever it was: a row in flight at the kill is sent again (settings only: harmless).
            assert ROWS <= len(prod.patch_bodies) <= ROWS + 1
            assert {b["timeout"] for b in prod.patch_bodies} == {5100 + i for i in range(ROWS)}
            assert prod.wait_for_jobs() and staging.wait_for_jobs()
            assert prod.job_count(target) == 0  # prod's twin row starts nothing: staging's backup is not its own
            assert staging.job_count(target) == (0 if point == "before" else 1)
            by_instance = resumed.groupby("instance")["status"].apply(list).to_dict()
            assert by_instance["prod"] == ["updated"] * ROWS
            assert by_instance["staging"] == ["updated"] * TARGET + ["unknown"] + ["updated"] * (ROWS - TARGET - 1)
            # Each server holds its own instance's values, never the other's.
            for k, sandbox in enumerate((prod, staging)):
                held = [sandbox.config(u)["timeout"] for u in keys["backup_uuid"]]
                expected = [5100 + 100 * k + i for i in range(ROWS)]
                if k == 1 and point == "before":
                    expected[TARGET] = staging.config(target)["timeout"]  # never sent: whatever it held before
                assert held == expected
        finally:
            for client in clients:
                client.close()
