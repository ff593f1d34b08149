"""The journal: what it holds, how a run resumes from it, and what it refuses — against the sandbox over HTTP."""

from __future__ import annotations

import json

import pytest
from sandbox_frames import fleet_changes, stop_after

import bulkbackup as bb
from bulkbackup._core.events import RowSending
from bulkbackup._engine.journal import read_journal

SETTLED = "done in an earlier run (journal)"


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_journal_holds_a_header_an_intent_before_each_request_and_its_outcome(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 5, timeout=[4100 + i for i in range(5)])
    on_disk = []

    def intent_is_on_disk(event):  # runs after the journal: the intent must already be in the file
        if isinstance(event, RowSending):
            on_disk.append(any(r.get("backup_uuid") == event.row.backup_uuid for r in records(journal)))

    results = bb.apply(frame, client, progress=False, journal=journal, listeners=[intent_is_on_disk])
    assert on_disk == [True] * 5
    written = records(journal)
    header = written[0]
    assert header["record"] == "header"
    assert header["endpoint"] == client.endpoint
    assert header["input"] == "<DataFrame>"
    assert len(header["changes_hash"]) == 64 and len(header["rows"]) == 5
    assert header["coolify"] and header["bulkbackup"] == bb.__version__ and header["time"]
    intents = [r for r in written if r["record"] == "intent"]
    outcomes = [r for r in written if r["record"] == "outcome"]
    assert sorted(r["backup_uuid"] for r in intents) == sorted(frame["backup_uuid"])
    for intent in intents:
        row = results.loc[intent["position"]]
        assert intent["backup_uuid"] == row["backup_uuid"]
        assert intent["payload"] == json.loads(row["payload"])
        assert intent["before"] == json.loads(row["before"])
    assert [r["status"] for r in outcomes] == ["updated"] * 5
    assert written[-1]["record"] == "end"
    assert results.attrs["run"].journal == str(journal)
    secret = sandbox.token.split("|", 1)[1]
    assert secret not in journal.read_text()


def test_resuming_sends_only_what_is_left_and_reports_the_rest_from_the_journal(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    original = bb.inventory(client)
    frame = fleet_changes(client, 12, timeout=[4200 + i for i in range(12)], enabled=False)
    stop, press = stop_after(4)
    first = bb.apply(frame, client, progress=False, workers=1, journal=journal, stop=stop, listeners=[press])
    assert list(first["status"]) == ["updated"] * 4 + ["skipped"] * 8
    sent = len(sandbox.patch_bodies)
    second = bb.apply(frame, client, progress=False, journal=journal)
    assert len(sandbox.patch_bodies) - sent == 8  # only the rows left
    assert list(second["status"]) == ["updated"] * 12
    assert second["message"][:4].str.startswith(SETTLED).all()
    assert not second["message"][4:].str.contains("earlier run").any()
    # The settled rows keep what they replaced, so undo from the second run's results restores everything.
    assert second["before"].tolist()[:4] == first["before"].tolist()[:4]
    third = bb.apply(frame, client, progress=False, journal=journal)
    assert len(sandbox.patch_bodies) - sent == 8  # a finished run resumed sends nothing at all
    assert third["message"].str.startswith(SETTLED).all()
    for source in (second, journal):
        restored = bb.apply(bb.undo(source), client, progress=False)
        assert set(restored["status"]) <= {"updated", "unchanged"}
        assert bb.inventory(client)[["backup_uuid", "timeout", "enabled"]].equals(
            original[["backup_uuid", "timeout", "enabled"]]
        )
        bb.apply(frame, client, progress=False)  # changed again for the next source


def _without_outcomes(journal, backup_uuids):
    """The journal as a run killed after sending these rows' requests, before writing their outcomes, leaves it."""

    def keep(record):
        if record["record"] == "end":
            return False
        return not (record["record"] == "outcome" and record["backup_uuid"] in backup_uuids)

    kept = [line for line in journal.read_text().splitlines() if keep(json.loads(line))]
    journal.write_text("\n".join(kept) + "\n")


def test_a_backup_now_that_may_have_gone_out_is_never_repeated_unless_asked(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 4, timeout=[4300 + i for i in range(4)], backup_now=True)
    bb.apply(frame, client, progress=False, journal=journal)
    assert sandbox.wait_for_jobs()
    killed = set(frame["backup_uuid"][:2])
    _without_outcomes(journal, killed)
    resumed = bb.apply(frame, client, progress=False, journal=journal)
    assert list(resumed["status"]) == ["unknown", "unknown", "updated", "updated"]
    assert "retry_unknown" in resumed.loc[0, "message"]
    assert [sandbox.job_count(u) for u in frame["backup_uuid"]] == [1, 1, 1, 1]
    again = bb.apply(frame, client, progress=False, journal=journal, retry_unknown=True)
    assert list(again["status"][:2]) == ["triggered", "triggered"]  # the settings are already there
    assert [sandbox.job_count(u) for u in frame["backup_uuid"]] == [2, 2, 1, 1]


def test_a_settings_request_that_may_have_gone_out_is_found_done_and_keeps_its_before(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[4400 + i for i in range(3)])
    first = bb.apply(frame, client, progress=False, journal=journal)
    _without_outcomes(journal, {frame.loc[0, "backup_uuid"]})
    sent = len(sandbox.patch_bodies)
    resumed = bb.apply(frame, client, progress=False, journal=journal)
    assert len(sandbox.patch_bodies) == sent
    assert resumed.loc[0, "status"] == "updated"
    assert "took effect" in resumed.loc[0, "message"]
    assert resumed.loc[0, "before"] == first.loc[0, "before"]


def test_a_torn_last_line_is_reported_and_ignored(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[4500 + i for i in range(3)])
    stop, press = stop_after(1)
    bb.apply(frame, client, progress=False, workers=1, journal=journal, stop=stop, listeners=[press])
    with journal.open("a") as f:
        f.write('{"record": "intent", "position": 1, "database_uu')  # killed mid-write
    resumed = bb.apply(frame, client, progress=False, journal=journal)
    assert list(resumed["status"]) == ["updated"] * 3
    warnings = resumed.attrs["run"].warnings
    assert len(warnings) == 1 and "incomplete last line" in warnings[0] and "run.jsonl:" in warnings[0]
    # The torn line now sits between two runs: still read, still reported, never mistaken for damage.
    state = read_journal(journal)
    assert len(state.warnings) == 1
    assert bb.apply(frame, client, progress=False, journal=journal)["message"].str.startswith(SETTLED).all()


def test_a_damaged_line_inside_the_journal_is_an_error(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[4600 + i for i in range(3)])
    bb.apply(frame, client, progress=False, journal=journal)
    lines = journal.read_text().splitlines()
    lines[2] = "garbage"
    journal.write_text("\n".join(lines) + "\n")
    with pytest.raises(bb.ConfigError, match=r"run.jsonl:3: not a journal record"):
        bb.apply(frame, client, progress=False, journal=journal)


def test_a_journal_of_another_endpoint_is_refused(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 2, timeout=[4700, 4701])
    bb.apply(frame, client, progress=False, journal=journal)
    journal.write_text(journal.read_text().replace(client.endpoint, "https://other.example.com/api/v1"))
    sent = len(sandbox.patch_bodies)
    with pytest.raises(bb.ConfigError, match="other.example.com"):
        bb.apply(frame, client, progress=False, journal=journal, force=True)
    assert len(sandbox.patch_bodies) == sent


def test_a_journal_of_different_changes_is_refused_with_the_differences_unless_forced(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 4, timeout=[4800 + i for i in range(4)])
    bb.apply(frame, client, progress=False, journal=journal)
    edited = frame.copy()
    edited.loc[2, "timeout"] = 4999
    sent = len(sandbox.patch_bodies)
    with pytest.raises(bb.ConfigError) as refused:
        bb.apply(edited, client, progress=False, journal=journal)
    message = str(refused.value)
    assert "different changes" in message and "--force" in message
    assert edited.loc[2, "backup_uuid"] in message and "other values" in message
    assert edited.loc[0, "backup_uuid"] not in message
    assert len(sandbox.patch_bodies) == sent
    forced = bb.apply(edited, client, progress=False, journal=journal, force=True)
    assert len(sandbox.patch_bodies) - sent == 1  # only the row that asks for something new
    assert forced.loc[2, "status"] == "updated" and sandbox.config(edited.loc[2, "backup_uuid"])["timeout"] == 4999


def test_a_journal_in_a_missing_folder_is_an_error_before_anything_is_sent(sandbox, client, tmp_path):
    frame = fleet_changes(client, 2, timeout=[4900, 4901])
    with pytest.raises(bb.ConfigError, match="does not exist"):
        bb.apply(frame, client, progress=False, journal=tmp_path / "no" / "such" / "run.jsonl")
    assert sandbox.patch_bodies == []


def test_an_unwritable_journal_keeps_every_request_from_going_out(sandbox, client, tmp_path, monkeypatch):
    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[5000, 5001, 5002])
    real_fsync = __import__("os").fsync
    calls = 0

    def full_disk(fd):
        nonlocal calls
        calls += 1
        if calls == 2:  # the header is written, then the disk is full
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr("bulkbackup._engine.journal.os.fsync", full_disk)
    results = bb.apply(frame, client, progress=False, workers=1, journal=journal)
    assert list(results["status"]) == ["skipped"] * 3
    assert sandbox.patch_bodies == []
    assert "No space left" in results.attrs["run"].stopped
    assert results["message"].str.contains("No space left").all()


def test_a_backup_now_that_certainly_failed_is_retried_on_resume(sandbox, client, tmp_path):
    from bulkbackup._coolify.retry import RetryPolicy

    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 2, backup_now=True)
    sandbox.set_faults({"503": 1.0})  # refused before processing: certainly not started
    first = bb.apply(
        frame, client, progress=False, journal=journal, retry=RetryPolicy(attempts=2, initial=0.01, maximum=0.02)
    )
    sandbox.set_faults({})
    assert list(first["status"]) == ["failed", "failed"]
    resumed = bb.apply(frame, client, progress=False, journal=journal)
    assert list(resumed["status"]) == ["triggered", "triggered"]
    assert sandbox.wait_for_jobs()
    assert [sandbox.job_count(u) for u in frame["backup_uuid"]] == [1, 1]


def test_resume_returns_typed_decisions_and_edits_nothing(sandbox, client, tmp_path):
    """The engine ↔ journal interface: Journal.open(path, client, plan) and decisions(operations)."""
    from bulkbackup._core.operations import Decision, Operation, Outcome
    from bulkbackup._core.statuses import Action, Status
    from bulkbackup._engine.journal import Journal
    from bulkbackup._engine.plan import plan_of

    journal = tmp_path / "run.jsonl"
    frame = fleet_changes(client, 3, timeout=[5100, 5101, 5102], backup_now=[True, None, None])
    stop, press = stop_after(1)
    bb.apply(frame, client, progress=False, workers=1, journal=journal, stop=stop, listeners=[press])
    plan = plan_of(frame)
    with Journal.open(journal, client, plan) as opened:
        # Rows as `Operation.where`: (instance, database, backup), the instance None for a run of one client.
        assert opened.settled() == {(None, frame.loc[0, "database_uuid"], frame.loc[0, "backup_uuid"])}
        operations = [
            Operation(op.ref, Action.UPDATE, payload={"timeout": 5100 + op.ref.position}) for op in plan.operations
        ]
        operations[0] = operations[0].with_(action=Action.TRIGGER, payload={"backup_now": True})
        before = list(operations)
        decisions = opened.decisions(operations)
        assert operations == before  # nothing edited
        assert set(decisions) == {0}  # rows 1 and 2 were never sent: send as planned
        settled = decisions[0]
        assert isinstance(settled, Decision) and isinstance(settled.outcome, Outcome)
        assert settled.outcome.status is Status.UPDATED and settled.outcome.message.startswith(SETTLED)
        assert dict(settled.operation.payload) == {"timeout": 5100, "backup_now": True}  # what went out then
        with pytest.raises(bb.ConfigError, match="in use by process"):
            Journal.open(journal, client, plan)  # held until closed, also within one process
    # The same row edited (forced): the backup that certainly started is taken out, the rest is sent.
    edited = frame.copy()
    edited.loc[0, "timeout"] = 5200
    plan = plan_of(edited)
    with Journal.open(journal, client, plan, force=True, retry_unknown=True) as opened:
        operation = Operation(plan.operations[0].ref, Action.UPDATE, payload={"timeout": 5200, "backup_now": True})
        decision = opened.decisions([operation])[0]
        assert decision.outcome is None and decision.operation.action is Action.UPDATE
        assert dict(decision.operation.payload) == {"timeout": 5200}
        assert "backup_now not sent again" in decision.note


def test_a_journal_holding_only_a_torn_header_starts_afresh(sandbox, client, tmp_path):
    journal = tmp_path / "run.jsonl"
    journal.write_text('{"record": "header", "journal_versi')  # killed while writing its very first line
    frame = fleet_changes(client, 2, timeout=[5300, 5301])
    results = bb.apply(frame, client, progress=False, journal=journal)
    assert list(results["status"]) == ["updated"] * 2
    assert any("incomplete last line" in w for w in results.attrs["run"].warnings)
    state = read_journal(journal)  # the torn line was ended: the new header is a record of its own
    assert state.header is not None and len(state.rows) == 2
