"""claim_path: output names (journals, results) claimed exclusively, so two runs never share a record."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import bulkbackup as bb
from bulkbackup._core.paths import claim_path

CLAIMING = """
    import sys
    from bulkbackup._core.paths import claim_path

    stem, ready = sys.argv[1:3]
    open(ready, "w").close()
    while not __import__("os").path.exists(stem + ".go"):
        __import__("time").sleep(0.001)
    print("\\n".join(str(claim_path(stem, ".jsonl")) for _ in range(25)))
"""


def test_runs_started_in_the_same_second_never_get_the_same_name(tmp_path):
    stem = str(tmp_path / "changes.journal-20261204-183000")  # the name two runs of one second both compute
    procs = []
    for n in range(3):
        ready = tmp_path / f"ready{n}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(CLAIMING), stem, str(ready)], stdout=subprocess.PIPE, text=True
            )
        )
    while not all((tmp_path / f"ready{n}").exists() for n in range(3)):
        assert all(p.poll() is None for p in procs)
        time.sleep(0.01)
    (tmp_path / "changes.journal-20261204-183000.go").touch()  # all three start claiming at once
    claimed = [line for p in procs for line in p.communicate()[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert len(claimed) == 75 and len(set(claimed)) == 75
    assert f"{stem}.jsonl" in claimed and f"{stem}-75.jsonl" in claimed
    assert all((tmp_path / name).stat().st_size == 0 for name in claimed)


def test_a_chosen_name_is_claimed_exactly_or_refused(tmp_path):
    first = claim_path(tmp_path / "r", ".csv", numbered=False)
    assert first == tmp_path / "r.csv" and first.exists()
    with pytest.raises(bb.ConfigError, match=r"r\.csv exists"):
        claim_path(tmp_path / "r", ".csv", numbered=False)
    assert claim_path(tmp_path / "r", ".csv") == tmp_path / "r-2.csv"
    with pytest.raises(bb.ConfigError, match="no/such"):
        claim_path(tmp_path / "no" / "such" / "r", ".csv")
