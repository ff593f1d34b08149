"""Concurrent runs never share a record (issue 13.7, 14.4): output files are claimed when a run starts, default names
are unique even within one second, and no output may be the input file. Run as users run it: two processes."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from waiting import wait_for

from bulkbackup.sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(databases=20, seed=9, rate_limit=100_000, job_delay=0.05) as sandbox:
        yield sandbox


def changes(sb: Sandbox, path: Path, rows: int) -> Path:
    frame = pd.DataFrame(sb.backups[:rows])[["database_uuid", "backup_uuid"]]
    frame["timeout"] = [3999] * rows
    frame.to_csv(path, index=False)
    return path


def start(argv: list[str], sb: Sandbox, home: Path) -> subprocess.Popen:
    env = dict(os.environ, COOLIFY_ENDPOINT=sb.endpoint, COOLIFY_TOKEN=sb.token, HOME=str(home))
    return subprocess.Popen(
        [sys.executable, "-m", "bulkbackup", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def test_a_results_file_a_live_run_holds_is_refused_even_with_overwrite(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=8)
    results = tmp_path / "r.csv"
    # The first run is live while the others start: it waits at its question, on a terminal (a pty) of its own.
    controller, terminal = pty.openpty()
    env = dict(os.environ, COOLIFY_ENDPOINT=sb.endpoint, COOLIFY_TOKEN=sb.token, HOME=str(tmp_path))
    first = subprocess.Popen(
        [sys.executable, "-m", "bulkbackup", "apply", str(src), "--results", str(results)],
        env=env,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: results.exists(), "the first run to claim its results file")  # at the start, not the end
        for extra in ([], ["--overwrite"]):
            code, out, err = finish(
                start(["apply", str(src), "--yes", "--results", str(results), *extra], sb, tmp_path)
            )
            assert code == 2, (extra, out, err)
            assert "nothing was sent" in err and len(err.splitlines()) == 1
            assert ("held by another bulkbackup run" if extra else "exists") in err
        assert sb.patch_bodies == []
        os.write(controller, b"y\n")  # the first run is confirmed only now
        code, out, _ = finish(first)
    finally:
        os.close(controller)
        os.close(terminal)
        if first.poll() is None:
            first.kill()
    assert code == 0
    assert f"results written to {results}" in out
    assert len(sb.patch_bodies) == 8  # only the first run sent anything
    assert (pd.read_csv(results)["status"] == "updated").all()


def test_two_runs_started_in_the_same_second_write_their_own_results_and_journals(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=6)
    for _ in range(5):  # until both runs start in the same UTC second (the case that collided)
        for old in tmp_path.glob("changes.*-*"):
            old.unlink()
        while time.time() % 1 > 0.2:  # start at the top of a second
            time.sleep(0.01)
        procs = [start(["apply", str(src), "--yes"], sb, tmp_path) for _ in range(2)]
        outcomes = [finish(p) for p in procs]
        names = [p.name for p in tmp_path.glob("changes.results-*.csv")]
        stamps = {re.search(r"results-(\d{8}-\d{6})", name).group(1) for name in names}
        if len(stamps) == 1:
            break
    else:
        pytest.skip(f"the two runs never started within one second: {names}")
    assert all(code == 0 for code, _, _ in outcomes), outcomes
    results = sorted(tmp_path.glob("changes.results-*.csv"))
    journals = sorted(tmp_path.glob("changes.journal-*.jsonl"))
    assert len(results) == 2 and len(journals) == 2, (results, journals)
    for path in results:
        assert len(pd.read_csv(path)) == 6
    for path in journals:
        headers = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("record") == "header"]
        assert len(headers) == 1, f"{path.name} holds {len(headers)} runs"
    written = {
        line.split("results written to ")[1]
        for _, out, _ in outcomes
        for line in out.splitlines()
        if "results written to" in line
    }
    assert written == {str(p) for p in results}


def test_results_naming_the_input_file_is_refused_even_with_overwrite(sb, tmp_path):
    src = changes(sb, tmp_path / "changes.csv", rows=3)
    original = src.read_bytes()
    for argv in (
        ["apply", str(src), "--yes", "--results", str(src), "--overwrite"],
        ["apply", str(src), "--yes", "-o", f"{tmp_path}/./changes.csv", "--overwrite"],
        ["apply", str(src), "--yes", "--journal", str(src)],
    ):
        code, _, err = finish(start(argv, sb, tmp_path))
        assert code == 2 and "input file" in err, (argv, err)
    assert src.read_bytes() == original
    assert sb.patch_bodies == []
    assert not list(tmp_path.glob("changes.*.*"))  # nothing claimed is left behind
