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
