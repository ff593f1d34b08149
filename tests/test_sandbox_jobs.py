"""backup_now: the simulated DatabaseBackupJob (API-RULES §2 "backup_now")."""

from __future__ import annotations

import time

import pytest
import requests

from bulkbackup.sandbox._jobs import S3_MISSING_WARNING


def find_backup(sb, *, running=True, kind="postgresql"):
    database = next(
        d for d in sb.databases if d["backups"] and d["type"] == kind and d["status"].startswith("running") == running
    )
    return database["uuid"], database["backups"][0]


def patch(sb, target, body):
    database, backup = target
    return requests.patch(
        f"{sb.endpoint}/databases/{database}/backups/{backup}",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {sb.token}", "Accept": "application/json"},
    )


def executions(sb, target):
    database, backup = target
    response = requests.get(
        f"{sb.endpoint}/databases/{database}/backups/{backup}/executions",
        timeout=10,
        headers={"Authorization": f"Bearer {sb.token}"},
    )
    return response.json()["executions"]


def test_a_job_runs_then_succeeds(sandbox):
    target = find_backup(sandbox)
    history = len(executions(sandbox, target))
    assert patch(sandbox, target, {"databases_to_backup": "app", "dump_all": False}).status_code == 200
    assert patch(sandbox, target, {"backup_now": True}).status_code == 200
    newest = executions(sandbox, target)
    assert len(newest) == history + 1
    assert (newest[0]["status"], newest[0]["size"], newest[0]["message"]) == ("running", None, None)
    assert newest[0]["filename"].endswith(".dmp") and "pg-dump-app-" in newest[0]["filename"]
    assert sandbox.job_count(target[1]) == 1 and sandbox.jobs_started == {target[1]: 1}
    assert sandbox.wait_for_jobs(5)
    done = executions(sandbox, target)[0]
    assert done["uuid"] == newest[0]["uuid"]
    assert done["status"] == "success" and isinstance(done["size"], int) and done["size"] > 0
    full = sandbox.executions(target[1])[0]
    assert full["finished_at"] is not None and full["database_name"] == "app"


def test_an_overlapping_trigger_is_dropped_and_not_counted(sandbox):
    target = find_backup(sandbox)
    patch(sandbox, target, {"databases_to_backup": "app", "dump_all": False})  # one execution per job
    history = len(executions(sandbox, target))
    for _ in range(3):
        assert patch(sandbox, target, {"backup_now": True}).status_code == 200  # the API says nothing
    assert sandbox.job_count(target[1]) == 1
    assert sandbox.wait_for_jobs(5)
    assert patch(sandbox, target, {"backup_now": "1"}).status_code == 200
    assert sandbox.job_count(target[1]) == 2
    assert sandbox.wait_for_jobs(5)
    statuses = [e["status"] for e in executions(sandbox, target)]
    assert len(statuses) == history + 2
    assert statuses[:2] == ["success", "success"]


@pytest.mark.parametrize(
    ("value", "starts"), [(True, True), (1, True), ("1", True), (False, False), (0, False), ("0", False), (None, False)]
)
def test_what_counts_as_a_trigger(sandbox, value, starts):
    target = find_backup(sandbox)
    assert patch(sandbox, target, {"backup_now": value}).status_code == 200
    assert sandbox.job_count(target[1]) == int(starts)


def test_the_job_ignores_enabled(sandbox):
    target = find_backup(sandbox)
    assert patch(sandbox, target, {"enabled": False, "backup_now": True}).status_code == 200
    assert sandbox.job_count(target[1]) == 1
    assert executions(sandbox, target)[0]["status"] == "running"


def test_a_stopped_database_is_skipped_without_an_execution(sandbox):
    target = find_backup(sandbox, running=False)
    history = executions(sandbox, target)
    assert patch(sandbox, target, {"backup_now": True}).status_code == 200
    assert patch(sandbox, target, {"backup_now": True}).status_code == 200  # nothing runs, nothing to overlap
    assert sandbox.job_count(target[1]) == 2
    assert executions(sandbox, target) == history


def test_a_rejected_request_starts_nothing(sandbox):
    target = find_backup(sandbox)
    assert patch(sandbox, target, {"backup_now": True, "timeout": 1}).status_code == 422
    assert patch(sandbox, target, {"backup_now": True, "foo": 1}).status_code == 422
    assert sandbox.job_count(target[1]) == 0


def test_one_execution_per_database_to_back_up(sandbox):
    target = find_backup(sandbox)
    assert (
        patch(
            sandbox, target, {"databases_to_backup": "app,analytics", "dump_all": False, "backup_now": True}
        ).status_code
        == 200
    )
    names = [e["database_name"] for e in sandbox.executions(target[1])[:2]]
    assert sorted(names) == ["analytics", "app"]


def test_save_s3_without_a_storage_is_switched_off_with_the_servers_warning(sandbox):
    target = find_backup(sandbox)
    config = sandbox.fleet.configs_by_uuid[target[1]]
    config.columns.update(save_s3=True, s3_storage_id=None)  # what POST without save_s3 leaves (gotcha 1)
    assert patch(sandbox, target, {"backup_now": True}).status_code == 200
    assert sandbox.wait_for_jobs(5)
    newest = sandbox.executions(target[1])[0]
    assert newest["status"] == "success" and S3_MISSING_WARNING in newest["message"]
    assert newest["s3_uploaded"] is False
    assert sandbox.config(target[1])["save_s3"] is False


def test_the_job_delay_is_adjustable(sandbox):
    sandbox.job_delay = 0.0
    target = find_backup(sandbox)
    patch(sandbox, target, {"backup_now": True})
    deadline = time.monotonic() + 2
    while executions(sandbox, target)[0]["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert executions(sandbox, target)[0]["status"] == "success"


def test_a_negative_job_delay_is_refused(sandbox):
    with pytest.raises(ValueError):
        sandbox.job_delay = -1
