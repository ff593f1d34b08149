"""apply() against the sandbox over real HTTP: statuses, safety of retries, stopping, and the results frame."""

from __future__ import annotations

import _thread
import io
import json
import logging
import threading
import time
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup._coolify.retry import RetryPolicy
from bulkbackup._core.columns import RESULTS_COLUMNS
from bulkbackup._core.fields import ALL_FIELDS, BY_NAME
from bulkbackup.sandbox import Sandbox

FAST_RETRY = dict(attempts=4, initial=0.01, maximum=0.05)


def patch_schema() -> dict:
    spec = json.loads((Path(__file__).parent / "data" / "openapi-backups.json").read_text())
    op = spec["paths"]["/databases/{uuid}/backups/{scheduled_backup_uuid}"]["patch"]
    schema = dict(op["requestBody"]["content"]["application/json"]["schema"], additionalProperties=False)
    # The document types nullable fields as plain strings; the server's rules accept null for them (API-RULES §2).
    schema["properties"] = {
        name: dict(prop, type=[prop["type"], "null"]) if BY_NAME[name].nullable else prop
        for name, prop in schema["properties"].items()
    }
    return schema


@pytest.fixture
def sb():
    with Sandbox(databases=60, seed=1, job_delay=0.05) as sandbox:
        yield sandbox
    # Whatever a test did, every body apply() sent must be one the PATCH schema and the allowed keys accept.
    schema, allowed = patch_schema(), {f.name for f in ALL_FIELDS}
    for body in sandbox.patch_bodies:
        jsonschema.validate(body, schema)
        assert set(body) <= allowed


@pytest.fixture
def client(sb):
    with bb.Client(sb.endpoint, sb.token, timeout=(2.0, 5.0)) as c:
        yield c


def targets(client, n, *, running=True):
    fleet = bb.inventory(client)
    if running:
        fleet = fleet[fleet["database_status"].astype(str).str.startswith("running")]
    assert len(fleet) >= n, "the seeded fleet is too small for this test"
    return fleet.head(n).reset_index(drop=True)


def changes(fleet, **settings):
    frame = fleet[["database_uuid", "backup_uuid"]].copy()
    for name, value in settings.items():
        frame[name] = value
    return frame


def other_frequency(current):
    return "17 3 * * *" if current != "17 3 * * *" else "18 3 * * *"


def test_updates_send_only_what_differs_and_are_verified(sb, client):
    fleet = targets(client, 6)
    frame = changes(fleet, timeout=7200)
    frame["frequency"] = [other_frequency(f) for f in fleet["frequency"]]
    frame.loc[0, "timeout"] = int(fleet.loc[0, "timeout"])  # row 0: only the frequency differs
    before = len(sb.patch_bodies)
    results = bb.apply(frame, client, progress=False)
    assert list(results["status"]) == ["updated"] * 6
    assert results["verified"].tolist() == [True] * 6
    assert results["http_status"].tolist() == [200] * 6
    assert results["attempts"].tolist() == [1] * 6
    assert json.loads(results.loc[0, "payload"]) == {"frequency": frame.loc[0, "frequency"]}
    assert json.loads(results.loc[1, "payload"]) == {"frequency": frame.loc[1, "frequency"], "timeout": 7200}
    assert json.loads(results.loc[1, "before"]) == {
        "frequency": fleet.loc[1, "frequency"],
        "timeout": int(fleet.loc[1, "timeout"]),
    }
    assert len(sb.patch_bodies) - before == 6
    for _, row in frame.iterrows():
        assert sb.config(row["backup_uuid"])["frequency"] == row["frequency"]
        assert sb.config(row["backup_uuid"])["timeout"] == row["timeout"]


def test_second_run_sends_nothing(sb, client):
    frame = changes(targets(client, 5), database_backup_retention_days_locally=9, enabled="yes")
    first = bb.apply(frame, client, progress=False)
    assert set(first["status"]) <= {"updated", "unchanged"}
    sent = len(sb.patch_bodies)
    second = bb.apply(frame, client, progress=False)
    assert list(second["status"]) == ["unchanged"] * 5
    assert len(sb.patch_bodies) == sent


def test_results_frame_has_one_row_per_input_row_in_order_with_the_input_index(client):
    fleet = targets(client, 8)
    frame = changes(fleet, timeout=[600 + i for i in range(8)])
    frame.index = [f"r{i}" for i in range(8)]
    frame.loc["r3", "timeout"] = 5  # invalid
    results = bb.apply(frame, client, workers=4, progress=False)
    assert list(results.columns[: len(RESULTS_COLUMNS)]) == list(RESULTS_COLUMNS)
    assert list(results.index) == list(frame.index)
    assert list(results["backup_uuid"]) == list(frame["backup_uuid"])
    assert results.loc["r3", "status"] == "invalid"
    assert "timeout must be at least 60" in results.loc["r3", "errors"]
    assert (results.drop(index="r3")["status"] == "updated").all()


def test_invalid_rows_are_never_sent_and_good_rows_still_go(sb, client):
    fleet = targets(client, 40)
    fleet = fleet[~fleet["save_s3"].astype(bool)].head(4).reset_index(drop=True)  # save_s3=yes must be a change
    frame = changes(fleet)
    frame["frequency"] = ["every day", "0 4 * * *", None, None]
    frame["save_s3"] = [None, None, "yes", None]
    frame["databases_to_backup"] = [None, None, None, "app;rm"]
    before = len(sb.patch_bodies)
    results = bb.apply(frame, client, progress=False)
    assert list(results["status"]) == ["invalid", "updated", "invalid", "invalid"]
    assert "not a valid frequency" in results.loc[0, "errors"]
    assert "needs s3_storage_uuid" in results.loc[2, "errors"]
    assert "forbidden character ';'" in results.loc[3, "errors"]
    assert len(sb.patch_bodies) - before == 1


def test_unknown_configuration_is_invalid_at_plan_time(sb, client):
    fleet = targets(client, 1)
    frame = pd.DataFrame({"database_uuid": [fleet.loc[0, "database_uuid"]], "backup_uuid": ["nosuchconfig0000"]})
    frame["enabled"] = False
    results = bb.apply(frame, client, progress=False)
    assert results.loc[0, "status"] == "invalid"
    assert "no backup configuration 'nosuchconfig0000'" in results.loc[0, "errors"]
    assert sb.patch_bodies == []


def test_backup_now_alone_is_triggered_and_starts_one_job(sb, client):
    fleet = targets(client, 3)
    results = bb.apply(changes(fleet, backup_now="yes"), client, progress=False)
    assert list(results["status"]) == ["triggered"] * 3
    for uuid in fleet["backup_uuid"]:
        assert sb.job_count(uuid) == 1


def test_backup_now_with_settings_is_updated_and_triggers(sb, client):
    fleet = targets(client, 2)
    results = bb.apply(changes(fleet, backup_now=True, timeout=900), client, progress=False)
    assert list(results["status"]) == ["updated", "updated"]
    assert all("backup started" in m for m in results["message"])
    assert [sb.job_count(u) for u in fleet["backup_uuid"]] == [1, 1]


def test_dry_run_sends_nothing(sb, client):
    fleet = targets(client, 3)
    results = bb.apply(changes(fleet, timeout=4321), client, dry_run=True, progress=False)
    assert list(results["status"]) == ["planned"] * 3
    assert sb.patch_bodies == []
    assert json.loads(results.loc[0, "payload"]) == {"timeout": 4321}


def test_a_plan_frame_is_applied_as_planned(sb, client):
    fleet = targets(client, 2)
    planned = bb.plan(changes(fleet, timeout=1234), client)
    assert list(planned["action"]) == ["update", "update"]
    results = bb.apply(planned, client, progress=False)
    assert list(results["status"]) == ["updated", "updated"]
    assert [b["timeout"] for b in sb.patch_bodies] == [1234, 1234]


def test_type_mixing_bug_does_not_leak_foreign_configurations(sb, client):
    databases = client.list_databases()
    fleet = bb.inventory(client)
    reported = {(db["uuid"], c["uuid"]) for db in databases for c in db.get("backup_configs") or []}
    own = set(zip(fleet["database_uuid"], fleet["backup_uuid"], strict=True))
    assert own < reported, "the sandbox should reproduce the server's type-mixing bug"
    foreign = sorted(reported - own)[0]
    frame = pd.DataFrame({"database_uuid": [foreign[0]], "backup_uuid": [foreign[1]], "enabled": [False]})
    results = bb.apply(frame, client, progress=False)
    assert results.loc[0, "status"] == "invalid"


def test_every_patch_body_matches_the_openapi_schema_and_the_allowed_keys(sb, client):
    schema, allowed = patch_schema(), {f.name for f in ALL_FIELDS}
    fleet = targets(client, 6)
    storage = sb.s3_storages[0]["uuid"]
    frame = changes(fleet)
    frame["save_s3"] = ["yes", None, None, "no", None, None]
    frame["s3_storage_uuid"] = [storage, storage, None, None, None, None]
    frame["databases_to_backup"] = [None, "app,logs", "<clear>", None, None, None]
    frame["database_backup_retention_max_storage_s3"] = [None, None, None, "2.5", "3", None]
    frame["dump_all"] = [None, None, None, None, "1", None]
    frame["backup_now"] = [None, None, None, None, None, "y"]
    results = bb.apply(frame, client, progress=False)
    assert set(results["status"]) <= {"updated", "triggered", "unchanged"}
    assert sb.patch_bodies
    for body in sb.patch_bodies:
        jsonschema.validate(body, schema)
        assert set(body) <= allowed


def test_a_server_side_refusal_is_rejected_and_the_run_goes_on(sb, client):
    fleet = targets(client, 3)
    frame = changes(fleet, save_s3="yes", s3_storage_uuid=sb.s3_storages[0]["uuid"])
    frame.loc[1, "s3_storage_uuid"] = sb.other_team_s3_uuid  # exists, but in another team: only the server knows
    results = bb.apply(frame, client, progress=False)
    assert list(results["status"]) == ["updated", "rejected", "updated"]
    assert results.loc[1, "http_status"] == 422
    assert "The selected S3 storage is invalid for this team." in results.loc[1, "message"]
    assert results.attrs["run"].stopped is None


def test_verification_reports_a_value_the_server_does_not_hold(sb, client, monkeypatch):
    fleet = targets(client, 2)
    frame = changes(fleet, timeout=[6100, 6101])
    real = client.list_databases
    calls = []

    def stale():
        calls.append(1)
        databases = real()
        if len(calls) == 2:  # the check after the run: pretend the second row's change did not stick
            for db in databases:
                for config in db.get("backup_configs") or []:
                    if config["uuid"] == fleet.loc[1, "backup_uuid"]:
                        config["timeout"] = 3600
        return databases

    monkeypatch.setattr(client, "list_databases", stale)
    results = bb.apply(frame, client, progress=False)
    assert results["verified"].tolist() == [True, False]
    assert "verification failed: timeout is 3600, sent 6101" in results.loc[1, "message"]
    assert list(results["status"]) == ["updated", "updated"]


def test_rate_cap_spaces_requests(sb, client):
    fleet = targets(client, 10)
    started = time.monotonic()
    results = bb.apply(changes(fleet, timeout=6200), client, progress=False, rate=20.0, verify=False)
    assert (results["status"] == "updated").all()
    assert time.monotonic() - started >= 9 / 20.0  # ten requests at 20/s cannot take less than 0.45 s
    assert client.limiter.rate is None  # the cap was for that run only


# --- the rate limit --------------------------------------------------------------------------------------------


def test_429_storm_nothing_fails_because_of_the_rate_limit():
    with Sandbox(databases=40, seed=2, rate_limit=12, window=1.0, job_delay=0.05) as sb:
        with bb.Client(sb.endpoint, sb.token) as client:
            fleet = bb.inventory(client)
            frame = changes(fleet.head(30), timeout=[700 + i for i in range(min(30, len(fleet)))])
            results = bb.apply(frame, client, progress=False)
    assert (results["status"] == "updated").all(), results["message"].tolist()
    assert (results["attempts"] == 1).all()


def test_forced_429s_are_retried_without_spending_attempts(sb, client):
    fleet = targets(client, 8)
    sb.set_faults({"429": 0.5})
    results = bb.apply(changes(fleet, timeout=800), client, progress=False)
    assert (results["status"] == "updated").all()


# --- faults and the never-twice rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "502", "503", "drop"])
def test_transient_faults_end_in_a_final_state_and_no_trigger_is_doubled(sb, client, fault):
    fleet = targets(client, 16)
    frame = changes(fleet, timeout=[900 + i for i in range(16)])
    frame["backup_now"] = [True if i % 2 else None for i in range(16)]
    sb.set_faults({fault: 0.4})
    results = bb.apply(frame, client, progress=False, retry=RetryPolicy(**FAST_RETRY))
    sb.set_faults({})
    assert set(results["status"]) <= {"updated", "failed", "unknown"}
    for (_, row), result in zip(frame.iterrows(), results.itertuples(), strict=True):
        jobs = sb.job_count(row["backup_uuid"])
        assert jobs <= 1, f"{fault}: backup triggered {jobs} times"
        if row["backup_now"]:
            # An unsafe row is sent again only when the failure proves nothing happened (503).
            assert result.status in {"updated", "failed", "unknown"}
            if result.status == "failed":
                assert jobs == 0
        else:
            assert result.status in {"updated", "failed"}
    settings_only = results[frame["backup_now"].isna().to_numpy()]
    assert (settings_only["status"] == "updated").mean() >= 0.75, "idempotent rows should mostly succeed on retry"


def test_503_is_retried_even_with_backup_now(sb, client):
    fleet = targets(client, 6)
    sb.set_faults({"503": 0.5})
    results = bb.apply(changes(fleet, backup_now=True), client, progress=False, retry=RetryPolicy(**FAST_RETRY))
    sb.set_faults({})
    assert "unknown" not in set(results["status"])
    for uuid, status in zip(fleet["backup_uuid"], results["status"], strict=True):
        assert sb.job_count(uuid) == (1 if status == "triggered" else 0)


def test_latency_beyond_the_read_timeout(sb):
    with bb.Client(sb.endpoint, sb.token, timeout=(2.0, 0.3)) as slow:
        fleet = targets(slow, 4)
        frame = changes(fleet, timeout=[1000, 1001, 1002, 1003])
        frame["backup_now"] = [True, True, None, None]
        sb.set_faults({"latency": 0.6})
        results = bb.apply(
            frame, slow, progress=False, verify=False, retry=RetryPolicy(attempts=2, initial=0.01, maximum=0.02)
        )
        sb.set_faults({})
    assert list(results["status"]) == ["unknown", "unknown", "failed", "failed"]
    assert list(results["attempts"]) == [1, 1, 2, 2]
    assert "executions" in results.loc[0, "message"]
    # The server did the work each time: the trigger happened exactly once, because it was never re-sent.
    assert [sb.job_count(u) for u in fleet["backup_uuid"][:2]] == [1, 1]


# --- stopping the run ----------------------------------------------------------------------------------------------


def _slow_run(sb, client, n, action, *, after_rows=5, workers=1, stop=None):
    """Run n rows; `action` fires when the `after_rows`-th row has finished (an event, not a timer: under load a
    timer can fire before the run has even started)."""
    fleet = targets(client, n)
    sb.set_faults({"latency": 0.03})
    finished = 0

    def fire_after_rows(event):
        nonlocal finished
        if isinstance(event, bb.events.RowFinished):
            finished += 1
            if finished == after_rows:
                action()

    try:
        return bb.apply(
            changes(fleet, timeout=[2000 + i for i in range(n)]),
            client,
            progress=False,
            workers=workers,
            verify=False,
            stop=stop,
            listeners=[fire_after_rows],
        )
    finally:
        sb.set_faults({})


def test_401_mid_run_stops_with_the_rest_skipped(sb, client):
    stop_button = threading.Event()
    results = _slow_run(sb, client, 30, lambda: sb.revoke(sb.token), stop=stop_button)
    assert not stop_button.is_set()  # the caller's event is only read: the same button serves the next run
    statuses = list(results["status"])
    assert "updated" in statuses and "skipped" in statuses
    rejected = results[results["status"] == "rejected"]
    assert list(rejected["http_status"]) == [401]
    assert "401" in results.attrs["run"].stopped
    skipped = results[results["status"] == "skipped"]
    assert skipped["message"].str.contains("401").all()
    assert (skipped["attempts"] == 0).all()


def test_403_api_disabled_mid_run_stops(sb, client):
    results = _slow_run(sb, client, 30, lambda: sb.set_api_enabled(False))
    assert results[results["status"] == "rejected"]["http_status"].tolist() == [403]
    assert "API is disabled" in results.attrs["run"].stopped
    assert (results["status"] == "skipped").sum() > 0


def test_server_going_away_stops_the_run(client, sb):
    fleet = targets(client, 40)
    sb.set_faults({"latency": 0.02})
    finished = 0

    def server_goes_away_after_five_rows(event):  # an event, not a timer: under load a timer fires too early
        nonlocal finished
        if isinstance(event, bb.events.RowFinished):
            finished += 1
            if finished == 5:
                threading.Thread(target=sb.stop).start()

    results = bb.apply(
        changes(fleet, timeout=[3000 + i for i in range(40)]),
        client,
        progress=False,
        workers=2,
        failure_streak=3,
        verify=False,
        retry=RetryPolicy(attempts=2, initial=0.01, maximum=0.02),
        listeners=[server_goes_away_after_five_rows],
    )
    statuses = set(results["status"])
    assert {"updated", "failed", "skipped"} <= statuses
    assert "could not reach the server" in results.attrs["run"].stopped
    assert len(results) == 40


def test_ctrl_c_mid_run_returns_a_partial_frame(sb, client):
    results = _slow_run(sb, client, 30, _thread.interrupt_main, workers=2)
    assert len(results) == 30
    assert results.attrs["run"].interrupted is True
    statuses = set(results["status"])
    assert "updated" in statuses and "skipped" in statuses
    assert statuses <= {"updated", "skipped"}
    assert (results[results["status"] == "skipped"]["message"].str.contains("Ctrl-C")).all()


def test_stop_event_ends_the_run_cleanly(sb, client):
    stop = threading.Event()
    results = _slow_run(sb, client, 30, stop.set, stop=stop)  # Stop pressed when five rows are done
    assert {"updated", "skipped"} <= set(results["status"])
    assert results.attrs["run"].stopped == "stopped by the caller"


# --- secrets --------------------------------------------------------------------------------------------------------


def test_the_token_appears_in_no_output(sb, client, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    fleet = targets(client, 10)
    frame = changes(fleet, timeout=[4000 + i for i in range(10)])
    frame.loc[0, "timeout"] = 1
    sb.set_faults({"500": 0.3, "drop": 0.2})
    results = bb.apply(frame, client, progress=True, retry=RetryPolicy(**FAST_RETRY))
    sb.set_faults({})
    sb.revoke(sb.token)
    with pytest.raises(bb.AuthError) as refused:
        bb.apply(frame, client, progress=True)
    out = io.StringIO()
    bb.write_csv(results, out)
    captured = capsys.readouterr()
    secret = sb.token.split("|", 1)[1]
    for text in (
        out.getvalue(),
        captured.out,
        captured.err,
        caplog.text,
        repr(results),
        repr(client),
        str(client),
        json.dumps(results.attrs, default=str),
        str(refused.value),
        repr(refused.value),
    ):
        assert secret not in text


def test_progress_bar_counts_every_sent_row(sb, client, capsys):
    fleet = targets(client, 5)
    bb.apply(changes(fleet, timeout=5000), client, progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err


def test_elapsed_is_measured(sb, client):
    fleet = targets(client, 2)
    sb.set_faults({"latency": 0.05})
    started = time.monotonic()
    results = bb.apply(changes(fleet, timeout=5100), client, progress=False, workers=1)
    total = time.monotonic() - started
    sb.set_faults({})
    assert (results["elapsed_s"] >= 0.04).all()
    assert results["elapsed_s"].sum() <= total
