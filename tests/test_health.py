"""`bb.health(fleet)`: every configuration's problems from the inventory alone, and `inventory(unconfigured=True)`."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import requests

import bulkbackup as bb

NOW = "2026-08-22T16:00:00Z"  # the sandbox's seeded fleet is dated around 2026-08-22


@pytest.fixture
def fleet(client):
    return bb.inventory(client)


def _one(fleet: pd.DataFrame, **values) -> pd.DataFrame:
    """The first configuration of the fleet with `values` set: a frame as a user edits one."""
    row = fleet.iloc[[0]].copy()
    for name, value in values.items():
        row[name] = pd.Series([value], index=row.index, dtype=object)
    return row


HEALTHY = dict(
    enabled=True,
    frequency="0 3 * * *",
    latest_status="success",
    latest_run_at="2026-08-22T03:00:20.000000Z",
    save_s3=True,
    s3_storage_id=1,
    database_backup_retention_amount_locally=7,
    disable_local_backup=False,
)


def _flags(frame: pd.DataFrame, **kwargs) -> list[str]:
    result = bb.health(frame, now=kwargs.pop("now", NOW), **kwargs)
    return [p.name for p in bb.HEALTH_PROBLEMS if bool(result[p.name].iloc[0])]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"enabled": False}, ["disabled"]),
        ({"latest_status": None, "latest_run_at": None}, ["never_ran"]),
        ({"latest_status": "failed"}, ["last_failed"]),
        ({"latest_run_at": "2026-08-21T03:00:20.000000Z"}, ["late"]),
        ({"frequency": "*/05 * * * *"}, ["unschedulable"]),  # accepted by the validator, refused by the scheduler
        ({"save_s3": False}, ["local_only"]),
        ({"s3_storage_id": None}, ["s3_without_storage"]),
        (
            {
                "database_backup_retention_amount_locally": 0,
                "database_backup_retention_days_locally": 0,
                "database_backup_retention_max_storage_locally": 0,
            },
            ["unlimited_retention"],
        ),
    ],
)
def test_each_problem_is_found_from_the_inventory_alone(fleet, changes, expected):
    assert _flags(_one(fleet, **{**HEALTHY, **changes})) == expected


def test_a_run_counts_as_missing_only_after_the_grace_period(fleet):
    ran_yesterday = _one(fleet, **{**HEALTHY, "latest_run_at": "2026-08-21T03:00:20.000000Z"})
    assert _flags(ran_yesterday, now="2026-08-22T03:30:00Z") == []  # due at 03:00, an hour of grace
    assert _flags(ran_yesterday, now="2026-08-22T04:01:00Z") == ["late"]
    assert _flags(ran_yesterday, now="2026-08-22T03:30:00Z", grace=dt.timedelta(minutes=10)) == ["late"]


def test_schedules_fire_in_the_servers_timezone(fleet):
    # 03:00 in Berlin (CEST) is 01:00 UTC: by 02:30 UTC plus an hour of grace the Berlin run of the 22nd is missing.
    ran = _one(fleet, **{**HEALTHY, "latest_run_at": "2026-08-21T03:00:30.000000Z"})
    assert _flags(ran, now="2026-08-22T02:30:00Z") == []
    assert _flags(ran, now="2026-08-22T02:30:00Z", timezone="Europe/Berlin") == ["late"]


def test_disabled_configurations_are_never_late_and_unlimited_retention_needs_local_backups(fleet):
    frame = _one(
        fleet,
        **{
            **HEALTHY,
            "enabled": False,
            "latest_run_at": "2026-01-01T00:00:00Z",
            "database_backup_retention_amount_locally": 0,
            "database_backup_retention_days_locally": 0,
            "database_backup_retention_max_storage_locally": 0,
            "disable_local_backup": True,
        },
    )
    assert _flags(frame) == ["disabled"]


def test_the_problems_cell_reads_as_labels_and_the_frame_keeps_the_inventorys_index(fleet):
    result = bb.health(fleet, now=NOW)
    assert list(result.index) == list(fleet.index)
    assert set(result["database_uuid"]) == set(fleet["database_uuid"])
    flagged = result[result["last_failed"]]
    assert len(flagged) and all("last run failed" in text for text in flagged["problems"])
    assert (result["problems"] == "").sum() == (~result[[p.name for p in bb.HEALTH_PROBLEMS]].any(axis=1)).sum()


def test_a_bad_timezone_is_a_clear_error(fleet):
    with pytest.raises(bb.ConfigError, match="IANA"):
        bb.health(fleet, now=NOW, timezone="Mars/Olympus")


def test_unconfigured_adds_one_row_per_database_without_a_configuration(sandbox, client):
    # Counted independently of bulkbackup: the server's own JSON, configurations filtered by type as it must be.
    answer = requests.get(
        f"{sandbox.endpoint}/databases", headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=10
    ).json()

    def own(db):
        wanted = "App\\Models\\" + "".join(p.capitalize() for p in db["database_type"].split("-"))
        return [c for c in db.get("backup_configs") or [] if c.get("database_type") == wanted]

    bare = {db["uuid"] for db in answer if not own(db)}
    assert bare, "the seeded fleet has databases without a configuration"
    plain = bb.inventory(client)
    full = bb.inventory(client, unconfigured=True)
    assert len(full) == len(plain) + len(bare)
    added = full[full["backup_uuid"].isna()]
    assert set(added["database_uuid"]) == bare
    assert added["frequency"].isna().all() and added["database_name"].notna().all()
    unsupported = {"standalone-redis", "standalone-keydb", "standalone-dragonfly"}
    assert (full["backup_supported"] == ~full["database_type"].isin(unsupported)).all()
    assert "backup_supported" not in plain.columns
    # health leaves databases without a configuration out: they have no schedule to judge
    assert len(bb.health(full, now=NOW)) == len(plain)
