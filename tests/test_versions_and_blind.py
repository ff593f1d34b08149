"""Server versions (missing_backup_notification_days from Coolify 4.3.18), blind mode (diff=False), and what a
plan says about each row: its database by name, and only the real problems of an invalid row."""

from __future__ import annotations

import pandas as pd
import pytest
import requests

import bulkbackup as bb
from bulkbackup._core.cron import impossible_date
from bulkbackup._core.fields import BY_NAME
from bulkbackup.sandbox import Sandbox

NEW = "missing_backup_notification_days"
NEW_COLUMNS = ["missing_backup_notification_days", "missing_backup_notification_sent_at", "last_execution_at"]


def sandbox_of(version: str | None = None) -> Sandbox:
    extra = {} if version is None else {"version": version}
    return Sandbox(databases=12, seed=2, rate_limit=100_000, job_delay=0.05, **extra)


def raw_configs(sandbox: Sandbox) -> list[dict]:
    response = requests.get(
        f"{sandbox.endpoint}/databases",
        headers={"Authorization": f"Bearer {sandbox.token}", "Accept": "application/json"},
        timeout=10,
    )
    return [c for db in response.json() for c in db["backup_configs"]]


def rows(sandbox: Sandbox, n: int, **values: object) -> pd.DataFrame:
    frame = pd.DataFrame(sandbox.backups[:n])[["database_uuid", "backup_uuid"]]
    return frame.assign(**values)


# --- versions ----------------------------------------------------------------------------------------------------


def test_the_sandbox_is_the_older_coolify_by_default():
    with sandbox_of() as sandbox:
        assert sandbox.version == "4.3.11"
        with bb.Client(sandbox.endpoint, sandbox.token) as client:
            assert client.server_version() == "4.3.11"
        config = raw_configs(sandbox)[0]
        assert list(config)[-2:] == ["disable_local_backup", "latest_log"]
        assert not set(NEW_COLUMNS) & set(config)


def test_a_newer_sandbox_has_the_three_columns_after_disable_local_backup():
    with sandbox_of("4.3.18") as sandbox:
        config = raw_configs(sandbox)[0]
        keys = list(config)
        at = keys.index("disable_local_backup")
        assert keys[at + 1 : at + 4] == NEW_COLUMNS
        assert config[NEW] == 0


def test_against_an_older_server_a_row_setting_the_new_field_is_invalid_and_the_others_go():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        changes = rows(sandbox, 3, timeout=[4001, 4002, 4003])
        changes[NEW] = [7, None, None]
        planned = bb.plan(changes, client)
        assert list(planned["action"]) == ["invalid", "update", "update"]
        assert (
            "missing_backup_notification_days needs Coolify 4.3.18 or newer; this server runs 4.3.11"
            in (planned.iloc[0]["errors"])
        )
        sandbox.patch_bodies.clear()
        results = bb.apply(changes, client, progress=False)
        assert list(results["status"]) == ["invalid", "updated", "updated"]
        assert all(NEW not in body for body in sandbox.patch_bodies)


def test_against_a_newer_server_the_new_field_is_planned_applied_and_verified():
    with sandbox_of("4.3.18") as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        fleet = bb.inventory(client)
        assert (fleet[NEW] == 0).all()
        changes = rows(sandbox, 2)
        changes[NEW] = [7, 0]
        planned = bb.plan(changes, client)
        assert list(planned["action"]) == ["update", "unchanged"]
        assert planned.iloc[0]["diff"] == f"{NEW}: 0 → 7"
        results = bb.apply(changes, client, progress=False)
        assert list(results["status"]) == ["updated", "unchanged"]
        assert bool(results.iloc[0]["verified"])
        assert sandbox.config(changes.iloc[0]["backup_uuid"])[NEW] == 7
        # Out of range is caught locally, with the server's bounds.
        bad = bb.plan(rows(sandbox, 1).assign(**{NEW: 366}), client)
        assert "missing_backup_notification_days must be at most 365 (got 366)" in bad.iloc[0]["errors"]


def test_a_newer_server_stamps_last_execution_at_when_a_backup_starts():
    with sandbox_of("4.3.18") as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        target = next(b for b in sandbox.backups if b["database_status"].startswith("running"))
        sandbox.config(target["backup_uuid"])  # exists
        before = sandbox.config(target["backup_uuid"])["last_execution_at"]
        changes = pd.DataFrame([{**target, "backup_now": True}])[["database_uuid", "backup_uuid", "backup_now"]]
        results = bb.apply(changes, client, progress=False)
        assert results.iloc[0]["status"] == "triggered"
        after = sandbox.config(target["backup_uuid"])
        assert after["last_execution_at"] is not None and after["last_execution_at"] != before
        assert after["updated_at"] == after["last_execution_at"]
        assert sandbox.job_count(target["backup_uuid"]) == 1


def test_the_version_is_read_once_and_kept():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        before = sandbox.request_count
        assert client.server_version() == "4.3.11"
        bb.plan(rows(sandbox, 2, timeout=4000), client)
        bb.plan(rows(sandbox, 2, timeout=4000), client)
        # One GET /version, and one GET /databases per plan.
        assert sandbox.request_count - before == 1 + 2


def test_an_unknown_version_lets_the_server_decide():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.write_token) as client:
        changes = rows(sandbox, 1).assign(**{NEW: 5})
        planned = bb.plan(changes, client, diff=False)
        assert client.server_version() is None
        assert "Missing required permissions: read" in client.server_version_problem
        assert planned.iloc[0]["action"] == "update"
        results = bb.apply(planned, client, progress=False)
    assert results.iloc[0]["status"] == "rejected"
    assert "This field is not allowed." in results.iloc[0]["message"]


# --- blind mode ---------------------------------------------------------------------------------------------------


def test_blind_mode_sends_every_given_field_with_a_token_that_cannot_read():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.write_token) as client:
        first = sandbox.backups[0]["backup_uuid"]
        current = sandbox.config(first)["timeout"]
        changes = rows(sandbox, 3, timeout=[current, 4002, 4003])  # the first already has its value
        planned = bb.plan(changes, client, diff=False)
        assert list(planned["action"]) == ["update"] * 3  # nothing read, nothing compared
        assert "database_name" not in planned.columns
        assert planned.attrs["diff"] is False
        sandbox.patch_bodies.clear()
        before = client.limiter.stats.requests
        results = bb.apply(changes, client, progress=False, diff=False)
        assert list(results["status"]) == ["updated"] * 3
        assert client.limiter.stats.requests - before == 3  # the three PATCHes: no read before, none after
        sent = sorted(body["timeout"] for body in sandbox.patch_bodies)  # workers send in parallel: any order
        assert sent == sorted([current, 4002, 4003]) and all(list(b) == ["timeout"] for b in sandbox.patch_bodies)
        assert results["verified"].isna().all()
        assert results.attrs["run"].verification == "skipped: diff=False, nothing is read back"
        assert sandbox.config(sandbox.backups[2]["backup_uuid"])["timeout"] == 4003


def test_without_blind_mode_a_token_that_cannot_read_cannot_plan():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.write_token) as client:
        with pytest.raises(bb.AuthError, match="--no-diff"):
            bb.apply(rows(sandbox, 1, timeout=4000), client, progress=False)


# --- plans name rows, and compare invalid rows -------------------------------------------------------------------


def test_a_plan_names_each_row_by_database_name_and_type():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        planned = bb.plan(rows(sandbox, 4, timeout=4000), client)
        databases = {d["uuid"]: d for d in sandbox.databases}
        for _, row in planned.iterrows():
            assert row["database_name"] == databases[row["database_uuid"]]["name"]
            assert row["database_type"] == databases[row["database_uuid"]]["database_type"]
        # Fed back as input, the name columns are ignored.
        again = bb.plan(planned[["database_uuid", "backup_uuid", "database_name", "database_type"]], client)
        assert list(again["action"]) == ["unchanged"] * 4
    assert "database_name" not in bb.plan(rows(sandbox, 1, timeout=4000)).columns  # no client: no names


def test_an_invalid_row_is_still_compared_so_only_real_problems_are_reported():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        configs = {b["backup_uuid"]: sandbox.config(b["backup_uuid"]) for b in sandbox.backups}
        with_s3 = next(b for b in sandbox.backups if configs[b["backup_uuid"]]["save_s3"])
        without_s3 = next(b for b in sandbox.backups if not configs[b["backup_uuid"]]["save_s3"])
        changes = pd.DataFrame(
            [
                {**with_s3, "save_s3": True, "timeout": "abc"},
                {**without_s3, "save_s3": True, "timeout": "abc"},
            ]
        )[["database_uuid", "backup_uuid", "save_s3", "timeout"]]
        planned = bb.plan(changes, client)
    assert list(planned["action"]) == ["invalid", "invalid"]
    assert "'abc' is not a whole number" in planned.iloc[0]["errors"]
    assert "s3_storage_uuid" not in planned.iloc[0]["errors"]  # the server already has save_s3 = true
    assert "needs s3_storage_uuid" in planned.iloc[1]["errors"]  # a real problem: it would be turned on


def test_an_invalid_row_naming_no_configuration_says_so():
    with sandbox_of() as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        changes = pd.DataFrame([{"database_uuid": "nosuchdb", "backup_uuid": "nosuchbackup", "timeout": 5}])
        planned = bb.plan(changes, client)
    assert "timeout must be at least 60" in planned.iloc[0]["errors"]
    assert "no backup configuration 'nosuchbackup'" in planned.iloc[0]["errors"]


# --- impossible dates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0 5 31 2 *", "February has no day 31"),
        ("0 0 30 2 *", "February has no day 30"),
        ("0 0 31 4,6,9,11 *", "April, June, September and November have no day 31"),
        ("0 0 29 2 *", None),  # leap years
        ("0 0 30-31 2,4 *", None),  # April 30
        ("0 3 * * *", None),
        ("every day", None),  # not cron at all: the grammar is what to explain
        ("daily", None),
    ],
)
def test_a_frequency_that_can_never_fire_says_why(text, reason):
    assert impossible_date(text) == reason
    problem = BY_NAME["frequency"].problems(text)
    if reason:
        assert problem == [f"frequency: {text!r} can never run: {reason}"]
    elif not bb.is_valid_frequency(text):
        assert "use 5 cron fields" in problem[0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (366, "The missing backup notification days field must not be greater than 365."),
        (-1, "The missing backup notification days field must be at least 0."),
        ("soon", "The missing backup notification days field must be an integer."),
    ],
)
def test_a_newer_sandbox_answers_with_laravels_messages(value, message):
    with sandbox_of("4.3.18") as sandbox:
        target = sandbox.backups[0]
        answer = requests.patch(
            f"{sandbox.endpoint}/databases/{target['database_uuid']}/backups/{target['backup_uuid']}",
            json={NEW: value},
            headers={"Authorization": f"Bearer {sandbox.token}", "Accept": "application/json"},
            timeout=10,
        )
    assert answer.status_code == 422
    assert message in answer.json()["errors"][NEW]
