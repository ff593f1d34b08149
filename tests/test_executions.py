"""bb.executions: every run of the given configurations, from the executions endpoint, as one frame."""

from __future__ import annotations

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup._engine.executions import EXECUTION_COLUMNS


def test_every_run_of_every_configuration_newest_first(sandbox, client):
    fleet = bb.inventory(client)
    runs = bb.executions(client, fleet)
    assert list(runs.columns[:6]) == [
        "database_uuid",
        "backup_uuid",
        "project",
        "environment",
        "database_name",
        "database_type",
    ]
    assert isinstance(runs["created_at"].dtype, pd.DatetimeTZDtype) and str(runs["size"].dtype) == "Int64"
    for backup_uuid in fleet["backup_uuid"]:
        expected = sandbox.executions(backup_uuid)
        got = runs[runs["backup_uuid"] == backup_uuid]
        assert list(got["execution_uuid"]) == [e["uuid"] for e in expected]
        assert list(got["status"]) == [e["status"] for e in expected]
        assert [None if pd.isna(s) else int(s) for s in got["size"]] == [e["size"] for e in expected]
    assert runs["status"].isin(["success", "failed"]).all() and len(runs) > len(fleet)
    placed = runs.merge(fleet[["backup_uuid", "project"]], on="backup_uuid", suffixes=("", "_fleet"))
    assert (placed["project"] == placed["project_fleet"]).all()


def test_last_keeps_the_newest_runs_which_the_inventory_also_shows(client):
    fleet = bb.inventory(client)
    newest = bb.executions(client, fleet, last=1).set_index("backup_uuid")
    ran = fleet[fleet["latest_status"].notna()].set_index("backup_uuid")
    assert newest.index.is_unique and sorted(newest.index) == sorted(ran.index)
    assert (newest.loc[ran.index, "status"] == ran["latest_status"]).all()
    assert (newest.loc[ran.index, "size"].astype(int) == ran["latest_size"].astype(int)).all()


def test_a_configuration_gone_since_the_inventory_has_no_rows(client):
    fleet = bb.inventory(client)
    gone = fleet.head(2).copy()
    gone.loc[gone.index[0], "backup_uuid"] = "doesnotexist000000000000"
    runs = bb.executions(client, gone[["database_uuid", "backup_uuid"]])
    assert set(runs["backup_uuid"]) <= {gone["backup_uuid"].iloc[1]}
    assert list(runs.columns) == ["database_uuid", "backup_uuid", *EXECUTION_COLUMNS]


def test_bad_arguments_are_one_line_errors(client):
    with pytest.raises(bb.InputError, match="needs the column 'backup_uuid'"):
        bb.executions(client, pd.DataFrame({"database_uuid": ["x"]}))
    with pytest.raises(bb.InputError, match="last must be"):
        bb.executions(client, pd.DataFrame({"database_uuid": ["x"], "backup_uuid": ["y"]}), last=0)
