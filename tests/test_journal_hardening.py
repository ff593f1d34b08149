"""What an adversarial review broke in the journal (issue 13, items 4, 5, 6, 8 and 9), each now impossible.

Against the sandbox over real HTTP; the lock and the file-size limit with real child processes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
from sandbox_frames import fleet_changes

import bulkbackup as bb
from bulkbackup._cli.cli import main
from bulkbackup._core.events import RowFinished

SETTLED = "done in an earlier run (journal)"


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def child(script: str, *args: str, env: dict) -> subprocess.Popen:
    """A second process running `script` (with this worktree's bulkbackup: PYTHONPATH is inherited)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- 4. a backup that certainly started is never started again -----------------------------------------------------


def test_a_backup_now_answered_2xx_is_never_sent_again_even_forced_with_retry_unknown(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[4310, 4311, 4312], backup_now=True)
    first = bb.apply(frame, client, progress=False, journal=journal)
    assert list(first["status"]) == ["updated"] * 3
    assert sandbox.wait_for_jobs()
    edited = frame.copy()  # the rows are edited since: no longer "the same row" for the journal
    edited["timeout"] = [4320, 4321, None]  # the third asks only for its backup now
    again = bb.apply(edited, client, progress=False, journal=journal, force=True, retry_unknown=True)
    assert sandbox.wait_for_jobs()
    assert [sandbox.job_count(u) for u in frame["backup_uuid"]] == [1, 1, 1]  # no second backup, whatever the flags
    assert list(again["status"]) == ["updated", "updated", "unchanged"]  # what is new is still sent
    assert [sandbox.config(u)["timeout"] for u in frame["backup_uuid"]] == [4320, 4321, 4312]
    assert again["message"].str.contains("backup_now not sent again: an earlier run of this journal started").all()
    assert len(sandbox.patch_bodies) == 5 and not any("backup_now" in body for body in sandbox.patch_bodies[3:])


def test_the_cli_with_force_and_retry_unknown_never_starts_a_backup_twice(sandbox, client, tmp_path, monkeypatch):
    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    frame = fleet_changes(client, 2, timeout=[4315, 4316], backup_now=True)
    changes, journal = tmp_path / "changes.csv", tmp_path / "run.jsonl"
    bb.write_csv(frame, changes)
    assert main(["apply", str(changes), "--yes", "--journal", str(journal), "--results", str(tmp_path / "1.csv")]) == 0
    assert sandbox.wait_for_jobs()
    frame["timeout"] = [4317, 4318]
    bb.write_csv(frame, changes)
    again = ["apply", str(changes), "--yes", "--journal", str(journal), "--force", "--retry-unknown"]
    assert main([*again, "--results", str(tmp_path / "2.csv")]) == 0
    assert sandbox.wait_for_jobs()
    assert [sandbox.job_count(u) for u in frame["backup_uuid"]] == [1, 1]
    assert [sandbox.config(u)["timeout"] for u in frame["backup_uuid"]] == [4317, 4318]


# --- 5. one process at a time on a journal ---------------------------------------------------------------------------

HOLDING = """
    import os, sys, time
    import bulkbackup as bb
    from bulkbackup.events import RowFinished

    endpoint, changes, journal, ready, go = sys.argv[1:6]
    finished = 0

    def hold(event):  # after two rows, the run pauses (holding its journal) until the test says go
        global finished
        if isinstance(event, RowFinished):
            finished += 1
            if finished == 2:
                open(ready, "w").close()
                while not os.path.exists(go):
                    time.sleep(0.02)

    with bb.Client(endpoint, os.environ["COOLIFY_TOKEN"]) as client:
        results = bb.apply(changes, client, progress=False, workers=1, journal=journal, listeners=[hold])
    print(",".join(results["status"]))
"""


def test_a_second_process_on_a_journal_in_use_is_refused_before_anything_is_sent(sandbox, client, tmp_path, capsys):
    frame = fleet_changes(client, 6, timeout=[4330 + i for i in range(6)], backup_now=True)
    changes = tmp_path / "changes.csv"
    bb.write_csv(frame, changes)
    journal, ready, go = tmp_path / "run.jsonl", tmp_path / "ready", tmp_path / "go"
    env = dict(os.environ, COOLIFY_TOKEN=sandbox.token)
    first = child(HOLDING, sandbox.endpoint, str(changes), str(journal), str(ready), str(go), env=env)
    try:
        while not ready.exists():
            assert first.poll() is None, first.communicate()
            time.sleep(0.02)
        sent = len(sandbox.patch_bodies)
        assert sent == 2
        # This test's process is the second one: refused, told who holds the journal, nothing sent.
        with pytest.raises(bb.ConfigError) as refused:
            bb.apply(changes, client, progress=False, journal=journal)
        message = str(refused.value)
        assert f"process {first.pid} on {socket.gethostname()}, since 20" in message and str(journal) in message
        assert "nothing was sent" in message.lower()
        # And from the command line: one line, exit 2, nothing sent.
        os.environ.update(COOLIFY_ENDPOINT=sandbox.endpoint, COOLIFY_TOKEN=sandbox.token)
        try:
            code = main(
                ["apply", str(changes), "--yes", "--journal", str(journal), "--results", str(tmp_path / "2.csv")]
            )
        finally:
            del os.environ["COOLIFY_ENDPOINT"], os.environ["COOLIFY_TOKEN"]
        err = capsys.readouterr().err
        assert code == 2 and f"process {first.pid}" in err and "Traceback" not in err
        assert len(sandbox.patch_bodies) == sent
    finally:
        go.touch()
        out, err = first.communicate()
    assert first.returncode == 0, err
    assert out.split() == [",".join(["updated"] * 6)]
    assert len(sandbox.patch_bodies) == 6
    assert sandbox.wait_for_jobs()
    assert [sandbox.job_count(u) for u in frame["backup_uuid"]] == [1] * 6
    assert not (tmp_path / "run.jsonl.lock").exists()  # let go at the end
    resumed = bb.apply(changes, client, progress=False, journal=journal)  # free again: resumes, sends nothing
    assert resumed["message"].str.startswith(SETTLED).all() and len(sandbox.patch_bodies) == 6


def test_a_killed_holder_leaves_no_lock_behind(sandbox, client, tmp_path):
    frame = fleet_changes(client, 4, timeout=[4340 + i for i in range(4)])
    changes = tmp_path / "changes.csv"
    bb.write_csv(frame, changes)
    journal, ready, go = tmp_path / "run.jsonl", tmp_path / "ready", tmp_path / "go"
    first = child(
        HOLDING,
        sandbox.endpoint,
        str(changes),
        str(journal),
        str(ready),
        str(go),
        env=dict(os.environ, COOLIFY_TOKEN=sandbox.token),
    )
    while not ready.exists():
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)
    first.kill()
    first.communicate()
    resumed = bb.apply(changes, client, progress=False, journal=journal)  # the kernel dropped the dead run's lock
    assert list(resumed["status"]) == ["updated"] * 4
    assert len(sandbox.patch_bodies) == 4


# --- 6. a journal that cannot be written ------------------------------------------------------------------------------

LIMITED = """
    import json, os, resource, sys
    import bulkbackup as bb
    from bulkbackup.events import RowFinished

    endpoint, changes, journal = sys.argv[1:4]
    finished = 0

    def limit(event):  # runs after the journal wrote this row's outcome: the next record no longer fits
        global finished
        if isinstance(event, RowFinished):
            finished += 1
            if finished == 3:
                resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(journal) + 20, resource.RLIM_INFINITY))

    with bb.Client(endpoint, os.environ["COOLIFY_TOKEN"]) as client:
        results = bb.apply(changes, client, progress=False, workers=1, journal=journal, listeners=[limit])
    facts = results.attrs["run"]
    print(json.dumps({"status": list(results["status"]), "message": list(results["message"]),
                      "stopped": facts.stopped, "warnings": list(facts.warnings), "journal": facts.journal}))
"""


def test_a_journal_that_hits_a_file_size_limit_stops_the_run_and_keeps_every_result(sandbox, client, tmp_path):
    frame = fleet_changes(client, 10, timeout=[4350 + i for i in range(10)])
    changes = tmp_path / "changes.csv"
    bb.write_csv(frame, changes)
    journal = tmp_path / "run.jsonl"
    run = child(
        LIMITED, sandbox.endpoint, str(changes), str(journal), env=dict(os.environ, COOLIFY_TOKEN=sandbox.token)
    )
    out, err = run.communicate()
    assert run.returncode == 0, err  # a frame came back: no OSError escaped apply
    facts = json.loads(out)
    # The 4th row was sent and answered; its outcome is the first record that did not fit. Its result is kept.
    assert facts["status"] == ["updated"] * 4 + ["skipped"] * 6
    assert len(sandbox.patch_bodies) == 4
    assert str(journal) in facts["stopped"] and "File too large" in facts["stopped"]
    assert any(str(journal) in w and "resume" in w for w in facts["warnings"])
    assert all("not sent" in m for m in facts["message"][4:])
    # No request went out without its intent on disk.
    lines = journal.read_text().splitlines()
    intents = {json.loads(line)["backup_uuid"] for line in lines[:-1] if '"record": "intent"' in line}
    assert set(frame["backup_uuid"][:4]) <= intents
    # Resuming (with room again) sends the rest, and nothing twice.
    resumed = bb.apply(changes, client, progress=False, journal=journal)
    assert list(resumed["status"]) == ["updated"] * 10
    assert len(sandbox.patch_bodies) == 10
    assert "took effect" in resumed.loc[3, "message"]


def test_a_journal_on_a_full_disk_sends_nothing_and_returns_every_row(sandbox, client):
    frame = fleet_changes(client, 3, timeout=[4360, 4361, 4362])
    results = bb.apply(frame, client, progress=False, journal="/dev/full")
    assert list(results["status"]) == ["skipped"] * 3
    assert sandbox.patch_bodies == []
    facts = results.attrs["run"]
    assert "/dev/full" in facts.stopped and "No space left" in facts.stopped
    assert any("/dev/full" in w and "Free space" in w for w in facts.warnings)


def test_the_cli_on_a_full_disk_names_the_journal_and_still_writes_the_results(sandbox, client, tmp_path, capsys):
    frame = fleet_changes(client, 2, timeout=[4370, 4371])
    changes = tmp_path / "changes.csv"
    bb.write_csv(frame, changes)
    results = tmp_path / "r.csv"
    os.environ.update(COOLIFY_ENDPOINT=sandbox.endpoint, COOLIFY_TOKEN=sandbox.token)
    try:
        code = main(["apply", str(changes), "--yes", "--journal", "/dev/full", "--results", str(results)])
    finally:
        del os.environ["COOLIFY_ENDPOINT"], os.environ["COOLIFY_TOKEN"]
    out, err = capsys.readouterr()
    assert code != 0 and "Traceback" not in err
    assert "/dev/full" in out + err and "No space left" in out + err
    assert list(pd.read_csv(results)["status"]) == ["skipped"] * 2  # the record is written where it still can be
    assert sandbox.patch_bodies == []


# --- 8. a journal deleted mid-run ----------------------------------------------------------------------------------


def delete_after(n, folder):
    finished = 0

    def listener(event):
        nonlocal finished
        if isinstance(event, RowFinished):
            finished += 1
            if finished == n:
                shutil.rmtree(folder)

    return listener


def test_a_journal_whose_folder_is_deleted_mid_run_stops_the_run_and_says_so(sandbox, client, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    journal = folder / "run.jsonl"
    frame = fleet_changes(client, 20, timeout=[4380 + i for i in range(20)])
    results = bb.apply(frame, client, progress=False, workers=1, journal=journal, listeners=[delete_after(2, folder)])
    # The rows announced together with the first two (their intents were on disk then) may go; after the journal
    # is found gone, nothing more is sent into a record nobody has.
    statuses = list(results["status"])
    sent = statuses.count("updated")
    assert statuses == ["updated"] * sent + ["skipped"] * (20 - sent) and 2 <= sent < 20
    assert len(sandbox.patch_bodies) == sent
    facts = results.attrs["run"]
    assert "deleted" in facts.stopped and str(journal) in facts.stopped
    assert any("deleted" in w for w in facts.warnings)
    assert facts.journal is None  # never "journal written to" a path that does not exist


def test_a_journal_deleted_after_the_last_row_is_said_in_the_facts(sandbox, client, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    journal = folder / "run.jsonl"
    frame = fleet_changes(client, 2, timeout=[4390, 4391])
    results = bb.apply(frame, client, progress=False, workers=1, journal=journal, listeners=[delete_after(2, folder)])
    assert list(results["status"]) == ["updated"] * 2
    facts = results.attrs["run"]
    assert facts.journal is None
    assert any("deleted" in w and str(journal) in w for w in facts.warnings)


# --- 9. a damaged but readable journal -----------------------------------------------------------------------------


def _edit(kind, change):
    def edit(lines):
        for n, line in enumerate(lines):
            record = json.loads(line)
            if record["record"] == kind:
                change(record)
                lines[n] = json.dumps(record)
                return n + 1
        raise AssertionError(kind)

    return edit


def _insert(record):
    def edit(lines):
        lines.insert(2, json.dumps(record))
        return 3

    return edit


DAMAGE = {
    "unknown status": (_edit("outcome", lambda r: r.update(status="exploded")), "unknown status 'exploded'"),
    "header without its hash": (_edit("header", lambda r: r.pop("changes_hash")), "no 'changes_hash'"),
    "header rows not a list": (_edit("header", lambda r: r.update(rows="all")), 'rows is "all"'),
    "header row malformed": (_edit("header", lambda r: r.update(rows=[["a"]])), "header's rows hold"),
    "payload a list": (_edit("intent", lambda r: r.update(payload=[1, 2])), r"payload is \[1, 2\], not an object"),
    "before a string": (_edit("intent", lambda r: r.update(before="x")), "before is"),
    "http_status text": (_edit("outcome", lambda r: r.update(http_status="200")), "http_status is"),
    "uuid a number": (_edit("outcome", lambda r: r.update(backup_uuid=5)), "backup_uuid is 5"),
    "unknown record": (_insert({"record": "mystery"}), "unknown record 'mystery'"),
    "a list line": (_insert([1, 2]), "not a journal record"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_journal_is_one_clear_error_naming_file_and_line_before_anything_is_sent(
    sandbox, client, tmp_path, capsys, damage
):
    edit, expected = DAMAGE[damage]
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[4400, 4401, 4402], backup_now=[True, None, None])
    stop = __import__("threading").Event()
    bb.apply(frame, client, progress=False, workers=1, journal=journal, stop=stop, listeners=[_stop_after_first(stop)])
    lines = journal.read_text().splitlines()
    number = edit(lines)
    journal.write_text("\n".join(lines) + "\n")
    sent = len(sandbox.patch_bodies)
    where = rf"run\.jsonl:{number}: .*{expected}"
    with pytest.raises(bb.ConfigError, match=where):
        bb.apply(frame, client, progress=False, journal=journal)
    with pytest.raises(bb.ConfigError, match=where):
        bb.undo(journal)
    assert main(["undo", str(journal), "-o", str(tmp_path / "undo.csv")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and f"run.jsonl:{number}" in err
    assert len(sandbox.patch_bodies) == sent


def _stop_after_first(stop):
    def listener(event):
        if isinstance(event, RowFinished):
            stop.set()

    return listener


def test_a_journal_of_a_newer_version_is_neither_resumed_nor_undone(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 2, timeout=[4410, 4411])
    bb.apply(frame, client, progress=False, journal=journal)
    lines = journal.read_text().splitlines()
    header = json.loads(lines[0])
    header.update(journal_version=99, bulkbackup="9.0", rows="a future layout")
    lines[0] = json.dumps(header)
    journal.write_text("\n".join(lines) + "\n")
    sent = len(sandbox.patch_bodies)
    for attempt in (
        lambda: bb.apply(frame, client, progress=False, journal=journal),
        lambda: bb.undo(journal),
    ):
        with pytest.raises(
            bb.ConfigError, match=r"run\.jsonl:1: written by a newer bulkbackup \(9\.0, journal_version 99"
        ):
            attempt()
    assert len(sandbox.patch_bodies) == sent
