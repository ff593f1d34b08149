"""What a run says about itself is true: why verification was skipped, how far the bar got, how many attempts a
request given up in flight made, whether its journal is on disk, and what the run panel waits for and how long the
run will take. Through `bb.apply`, the CLI (Ctrl-C as SIGINT) and the run panel headless, against the sandbox."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from sandbox_frames import fleet_changes
from waiting import wait_for

import bulkbackup as bb
from bulkbackup._cli.cli import main
from bulkbackup.events import RowFinished
from bulkbackup.sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(databases=40, seed=7, rate_limit=100_000, job_delay=0.05) as sandbox:
        yield sandbox


def write_changes(sb: Sandbox, path: Path, rows: int, base: int = 7300) -> Path:
    frame = pd.DataFrame(sb.backups[:rows])[["database_uuid", "backup_uuid"]]
    frame["timeout"] = [base + i for i in range(rows)]
    frame.to_csv(path, index=False)
    return path


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)


def _apply_process(sb: Sandbox, tmp_path: Path, *argv: str) -> subprocess.Popen:
    env = dict(os.environ, COOLIFY_ENDPOINT=sb.endpoint, COOLIFY_TOKEN=sb.token, HOME=str(tmp_path))
    command = [sys.executable, "-m", "bulkbackup", "apply", *argv]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- 1a. why verification was skipped ------------------------------------------------------------------------------


def test_a_ctrl_c_with_budget_left_still_verifies_and_never_blames_the_budget(sb, tmp_path):
    # One request every 2 s (--rate 0.5): when Ctrl-C lands the next slot is a moment away, the server's budget
    # (100,000 a minute) almost whole. The check is one read the budget allows: it is made.
    src = write_changes(sb, tmp_path / "changes.csv", rows=20)
    results = tmp_path / "results.csv"
    proc = _apply_process(sb, tmp_path, str(src), "--yes", "--workers", "1", "--rate", "0.5", "--results", str(results))
    try:
        wait_for(lambda: len(sb.patch_bodies) >= 2, "two rows sent")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    assert "budget is spent" not in out + err
    frame = pd.read_csv(results)
    updated = frame[frame["status"] == "updated"]
    assert len(updated) >= 2 and updated["verified"].tolist() == [True] * len(updated)


def test_a_stop_when_the_budget_is_spent_says_so_with_the_wait(tmp_path):
    # 4 requests a minute: the plan's two reads, apply's one and a PATCH spend it; the next PATCH waits, and
    # the stop pressed in that wait leaves nothing to read back with: skipped, because the budget is spent.
    with Sandbox(databases=6, seed=5, rate_limit=4, window=60) as sb, bb.Client(sb.endpoint, sb.token) as client:
        frame = fleet_changes(sb, 4, timeout=[4500, 4501, 4502, 4503])
        planned = bb.plan(frame, client)
        stop = threading.Event()

        def stop_on_wait(event):
            if isinstance(event, bb.events.Waiting):
                stop.set()

        results = bb.apply(planned, client, progress=False, workers=1, stop=stop, listeners=[stop_on_wait], diff=True)
        facts = results.attrs["run"]
        assert facts.stopped == "stopped by the caller"
        assert "budget is spent" in facts.verification and re.search(r"reopens in about \d+ s", facts.verification)
        assert facts.verification.startswith("skipped: the run was stopped")


def test_a_second_ctrl_c_says_it_was_the_ctrl_c_and_in_flight_rows_keep_their_attempts(sb, tmp_path):
    src = write_changes(sb, tmp_path / "changes.csv", rows=30)
    results, journal = tmp_path / "results.csv", tmp_path / "run.jsonl"
    sb.set_faults({"latency": 0.2})  # slow enough that the run is still going when the PATCHes start to hang
    proc = _apply_process(
        sb, tmp_path, str(src), "--yes", "--workers", "2", "--results", str(results), "--journal", str(journal)
    )
    err: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, err), daemon=True).start()
    try:
        wait_for(lambda: len(sb.patch_bodies) >= 2, "rows updated")  # so that there is something to verify
        sb.set_faults({"latency": 30})  # from now on every PATCH hangs
        arrived = sb.request_count
        wait_for(lambda: sb.request_count >= arrived + 2, "two requests in flight")
        proc.send_signal(signal.SIGINT)
        assert "stopping" in err.get(timeout=30)
        proc.send_signal(signal.SIGINT)  # stop waiting for the two hanging requests
        out, _ = proc.communicate(timeout=60)
    finally:
        sb.set_faults({})
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    frame = pd.read_csv(results)
    in_flight = frame[frame["message"].fillna("").str.contains("in flight")]
    assert len(in_flight) >= 1 and set(in_flight["status"]) == {"failed"}
    assert (in_flight["attempts"] >= 1).all(), in_flight[["status", "attempts", "message"]]
    # The reason given is the real one: the Ctrl-C, not a budget of 100,000 requests a minute.
    assert "budget is spent" not in out
    assert "verification skipped: the run was interrupted (Ctrl-C)" in out, out
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    given_up = [r for r in records if r["record"] == "outcome" and "in flight" in (r["message"] or "")]
    assert given_up and all(r["attempts"] >= 1 for r in given_up)


# --- 1b. the bar ends where the results do ---------------------------------------------------------------------------


def test_the_progress_bar_ends_on_the_rows_the_results_count_as_done(sandbox, client, capsys):
    # With a journal one worker announces eight rows together; a stop after the first leaves seven announced rows
    # skipped. They finish for the seam but were never sent: the bar must not count them.
    frame = fleet_changes(client, 12, timeout=[4600 + i for i in range(12)])
    stop = threading.Event()

    def stop_after_first(event):
        if isinstance(event, RowFinished):
            stop.set()

    capsys.readouterr()
    results = bb.apply(frame, client, progress=True, workers=1, stop=stop, listeners=[stop_after_first], journal=None)
    # (no journal here: every row is announced alone; the journal case is below)
    bar = [(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) \[", capsys.readouterr().err)]
    done = int(results["status"].isin(["updated", "triggered", "rejected", "failed", "unknown"]).sum())
    assert bar and bar[-1] == (done, 12)


def test_the_progress_bar_with_a_journal_does_not_count_announced_rows_a_stop_skipped(
    sandbox, client, capsys, tmp_path
):
    frame = fleet_changes(client, 12, timeout=[4620 + i for i in range(12)])
    stop = threading.Event()

    def stop_after_first(event):
        if isinstance(event, RowFinished):
            stop.set()

    capsys.readouterr()
    results = bb.apply(
        frame,
        client,
        progress=True,
        workers=1,
        stop=stop,
        listeners=[stop_after_first],
        journal=tmp_path / "run.jsonl",
    )
    err = capsys.readouterr().err
    bar = [(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) \[", err)]
    assert list(results["status"]).count("skipped") >= 7  # the batch announced with the first row, and the rest
    done = int(results["status"].isin(["updated", "triggered", "rejected", "failed", "unknown"]).sum())
    assert done == 1
    assert bar and bar[-1] == (done, 12), err


# --- 2. a journal lost after the last row ------------------------------------------------------------------------


def _deleting_after_last_row(folder: Path, rows: int):
    finished = 0

    def listener(event):
        nonlocal finished
        if isinstance(event, RowFinished):
            finished += 1
            if finished == rows:  # the journal has written this row's outcome: the end record is next
                shutil.rmtree(folder)

    return listener


def test_a_journal_deleted_after_the_last_row_is_a_typed_failure(sandbox, client, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    journal = folder / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[4640, 4641, 4642])
    results = bb.apply(
        frame, client, progress=False, workers=1, journal=journal, listeners=[_deleting_after_last_row(folder, 3)]
    )
    assert list(results["status"]) == ["updated"] * 3
    facts = results.attrs["run"]
    assert facts.journal is None
    assert facts.journal_failure and str(journal) in facts.journal_failure and "deleted" in facts.journal_failure
    assert "stopped nothing" in facts.journal_failure  # it came after the last request: it stopped no row


def test_the_cli_says_a_journal_lost_after_the_last_row_as_an_error_and_exits_non_zero(
    sb, tmp_path, capsys, monkeypatch
):
    from bulkbackup._engine import apply as engine

    monkeypatch.setenv("COOLIFY_ENDPOINT", sb.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sb.token)
    monkeypatch.setenv("HOME", str(tmp_path))
    src = write_changes(sb, tmp_path / "changes.csv", rows=3)
    folder = tmp_path / "runs"
    folder.mkdir()
    journal, results = folder / "run.jsonl", tmp_path / "results.csv"
    real = engine.apply

    def apply_losing_the_journal(*args, listeners=(), **kwargs):
        return real(*args, listeners=[*listeners, _deleting_after_last_row(folder, 3)], **kwargs)

    monkeypatch.setattr(engine, "apply", apply_losing_the_journal)
    code = main(["apply", str(src), "--yes", "--workers", "1", "--journal", str(journal), "--results", str(results)])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "journal written to" not in out
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(journal) in errors[0] and "deleted" in errors[0], err
    assert list(pd.read_csv(results)["status"]) == ["updated"] * 3  # the results are still the record


# --- 3. the run panel is never silent ----------------------------------------------------------------------------


def test_plan_and_inventory_report_their_waits_and_the_panel_says_what_it_waits_for(tmp_path):
    pytest.importorskip("ipywidgets")
    # 2 requests per 3 s: a client that spent them waits for the next window before it can read again.
    with Sandbox(databases=6, seed=5, rate_limit=2, window=3) as sb, bb.Client(sb.endpoint, sb.token) as client:
        frame = fleet_changes(sb, 2, timeout=[4700, 4701])
        heard: list[float] = []
        client.list_databases(), client.list_databases()
        assert len(bb.inventory(client, on_wait=heard.append)) > 0
        assert heard and heard[0] > 0
        heard.clear()
        client.list_databases(), client.list_databases()
        bb.plan(frame, client, on_wait=heard.append)
        assert heard and heard[0] > 0

        panel = bb.widgets.RunPanel(frame, client, folder=tmp_path / "runs")
        shown: list[str] = []
        panel.status.observe(lambda change: shown.append(change["new"]), names="value")
        client.list_databases(), client.list_databases()
        panel.plan()
        waits = [s for s in shown if re.search(r"^planning: waiting \d+ s for the server&#x27;s rate-limit window", s)]
        assert waits, shown
        assert shown[-1].startswith("plan: ")  # and then the plan, once it could read


def test_before_the_tick_the_panel_says_roughly_how_long_the_run_takes_at_the_servers_budget(tmp_path):
    pytest.importorskip("ipywidgets")
    with Sandbox(databases=20, seed=5, rate_limit=5, window=60) as sb, bb.Client(sb.endpoint, sb.token) as client:
        frame = fleet_changes(sb, 12, timeout=4321)
        panel = bb.widgets.RunPanel(frame, client, folder=tmp_path / "runs")
        panel.plan()
        assert "12 requests at 5 a minute: about 3 minutes" in panel.status.value
        assert sb.patch_bodies == []  # said before anything is sent
        with_cap = bb.widgets.RunPanel(frame, client, folder=tmp_path / "runs", rate=0.05)  # 3 a minute
        with_cap.planned = panel.planned
        assert "12 requests at 3 a minute: about 4 minutes" in with_cap._sending_note()


def test_the_limiter_tells_its_hearers_the_waits_no_caller_hears_itself_and_keeps_the_servers_limit():
    from bulkbackup._coolify.limiter import RateLimiter

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(clock=lambda: now[0], sleep=sleep)
    assert limiter.limit is None

    def refused() -> None:  # one request answered 429: everybody waits 5 s
        assert limiter.acquire()
        limiter.observe(429, {"Retry-After": "5", "X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0"})

    heard: list[float] = []
    with limiter.hear_waits(heard.append):
        refused()
        own: list[float] = []
        assert limiter.acquire(on_wait=own.append)  # a run's own on_wait wins: its listeners say the wait
        assert own == [5.0] and heard == []
        limiter.observe(200, {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "199"})
        refused()
        assert limiter.acquire()  # a read that passes none: the hearers hear it
        limiter.observe(200, {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "198"})
        assert heard == [5.0]
    refused()
    assert limiter.acquire()  # the hearing is closed: heard no more
    assert heard == [5.0]
    assert limiter.limit == 200


def test_the_run_estimate_is_one_function_of_the_budget_and_the_users_cap():
    from bulkbackup._engine.pace import estimate, per_minute

    class Limited:
        class limiter:  # noqa: N801 - the shape of a client's limiter that learned the server's limit
            limit = 200

    assert estimate(4882, per_minute(Limited)) == "4,882 requests at 200 a minute: about 25 minutes"
    assert estimate(12, per_minute(Limited, rate=0.05)) == "12 requests at 3 a minute: about 4 minutes"
    assert estimate(150, 200) == "150 requests at 200 a minute: within one window, under a minute"
    assert estimate(0, 200) is None and estimate(5, None) is None


def test_a_stop_whose_check_meets_a_closed_window_gives_up_at_once_and_says_why(tmp_path):
    # Our client thinks two requests are left; another client of the same user spends them as the run stops. The
    # check's read is refused (429): after a stop it does not wait the minute out, and says why it is unverified.
    with Sandbox(databases=6, seed=5, rate_limit=6, window=60) as sb, bb.Client(sb.endpoint, sb.token) as client:
        frame = fleet_changes(sb, 4, timeout=[4520, 4521, 4522, 4523])
        planned = bb.plan(frame, client)  # 2 requests; apply reads once more, then one PATCH: 4
        stop = threading.Event()

        def stop_and_spend_the_rest(event):
            if isinstance(event, RowFinished) and not stop.is_set():
                stop.set()
                with bb.Client(sb.endpoint, sb.token) as other:
                    other.list_databases(), other.list_databases()

        results = bb.apply(planned, client, progress=False, workers=1, stop=stop, listeners=[stop_and_spend_the_rest])
        facts = results.attrs["run"]
        assert list(results["status"]).count("updated") == 1
        assert facts.verification.startswith("skipped: the run was stopped"), facts.verification
        assert "budget ran out" in facts.verification and "nothing waits after a stop" in facts.verification
