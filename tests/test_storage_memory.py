"""Re-running is a no-op, and the S3 storage is known (issue 14 §4): which uuid a configuration's numeric
`s3_storage_id` is gets learned where it can be known (a team with one storage; a uuid bulkbackup sent and read back
as an id), remembered per instance in the cache directory, and then compared. Unknown is said once per run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup._cli.cli import main


@pytest.fixture
def env(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    monkeypatch.setenv("HOME", str(tmp_path))
    return sandbox


def patches(sandbox) -> list[dict]:
    return [body for body in sandbox.patch_bodies if isinstance(body, dict)]


def storage_changes(fleet: pd.DataFrame, uuid: str, rows: int = 3) -> pd.DataFrame:
    """Rows that use some S3 storage now (so the server reports an id) and are to use `uuid`."""
    using = fleet[fleet["s3_storage_id"].notna()].head(rows)
    assert len(using) == rows
    return pd.DataFrame(
        {
            "database_uuid": using["database_uuid"].tolist(),
            "backup_uuid": using["backup_uuid"].tolist(),
            "save_s3": [True] * rows,
            "s3_storage_uuid": [uuid] * rows,
        }
    )


def test_applying_the_same_file_twice_sends_the_storage_once(env, client, tmp_path, capsys):
    changes = storage_changes(bb.inventory(client), env.s3_storages[0]["uuid"])
    path = tmp_path / "storage.csv"
    bb.write_csv(changes, path)
    assert main(["apply", str(path), "--yes"]) == 0
    assert len(patches(env)) == 3  # not known yet: sent
    env.patch_bodies.clear()
    capsys.readouterr()

    assert main(["apply", str(path), "--yes"]) == 0
    assert patches(env) == []  # read back after the first run: known, compared, unchanged
    out = capsys.readouterr()
    assert "cannot be compared" not in out.out + out.err
    planned = bb.plan(changes, client)
    assert set(planned["action"]) == {"unchanged"}
    assert planned.attrs["warnings"] == []


def test_another_storage_is_a_change_with_a_readable_diff(sandbox, client):
    first, second = sandbox.s3_storages[0]["uuid"], sandbox.s3_storages[1]["uuid"]
    changes = storage_changes(bb.inventory(client), first, rows=2)
    bb.apply(changes, client, progress=False)
    sandbox.patch_bodies.clear()
    changes["s3_storage_uuid"] = second
    planned = bb.plan(changes, client)
    assert set(planned["action"]) == {"update"}
    assert all(f"s3_storage_uuid: {first} → {second}" in diff for diff in planned["diff"])
    assert planned.attrs["warnings"] == []
    results = bb.apply(planned, client, progress=False)
    assert set(results["status"]) == {"updated"}
    restore = bb.undo(results)  # the storage it replaced was known: the undo puts it back
    assert restore["s3_storage_uuid"].tolist() == [first, first]
    assert not [w for w in restore.attrs["warnings"] if "s3_storage_uuid" in w]


def test_the_inventory_names_the_storages_it_knows(sandbox, client):
    first = sandbox.s3_storages[0]["uuid"]
    fleet = bb.inventory(client)
    assert fleet["s3_storage_uuid"].isna().all()  # nothing known yet
    changes = storage_changes(fleet, first, rows=2)
    bb.apply(changes, client, progress=False)
    fleet = bb.inventory(client).set_index(["database_uuid", "backup_uuid"])
    for key in zip(changes["database_uuid"], changes["backup_uuid"], strict=True):
        assert fleet.loc[key, "s3_storage_uuid"] == first


def test_a_team_with_one_storage_is_known_with_a_fresh_cache(sandbox, monkeypatch, tmp_path):
    with bb.Client(sandbox.endpoint, sandbox.other_team_token) as other:
        (only,) = bb.storages(other)["uuid"].tolist()
        fleet = bb.inventory(other)
        changes = pd.DataFrame(
            {
                "database_uuid": fleet["database_uuid"].tolist(),
                "backup_uuid": fleet["backup_uuid"].tolist(),
                "save_s3": True,
                "s3_storage_uuid": only,
            }
        )
        bb.apply(changes, other, progress=False)  # every configuration of the team now uses its one storage
        monkeypatch.setenv("BULKBACKUP_CACHE_DIR", str(tmp_path / "fresh"))  # nothing remembered
        sandbox.patch_bodies.clear()
        results = bb.apply(changes, other, progress=False)
        endpoint = other.endpoint
    assert set(results["status"]) == {"unchanged"}
    assert patches(sandbox) == []
    remembered = list((tmp_path / "fresh").glob("*.json"))
    assert len(remembered) == 1
    kept = json.loads(remembered[0].read_text())
    assert kept["endpoint"] == endpoint  # keyed by the instance; never a token
    assert list(kept["storages"].values()) == [only]
    assert sandbox.other_team_token not in remembered[0].read_text() and sandbox.token not in remembered[0].read_text()


def test_unknown_storages_are_said_once_and_the_rows_still_go(env, client, tmp_path, capsys):
    changes = storage_changes(bb.inventory(client), env.s3_storages[0]["uuid"])
    path = tmp_path / "storage.csv"
    bb.write_csv(changes, path)
    assert main(["apply", str(path), "--yes"]) == 0
    out = capsys.readouterr()
    said = (out.out + out.err).splitlines()
    assert len([line for line in said if "cannot be compared" in line]) == 1
    assert "cannot be compared on 3 rows" in out.err
    assert len(patches(env)) == 3


def test_python_says_it_once_on_the_plan_and_once_on_results(sandbox, client):
    changes = storage_changes(bb.inventory(client), sandbox.s3_storages[0]["uuid"])
    planned = bb.plan(changes, client)
    assert len(planned.attrs["warnings"]) == 1 and "cannot be compared on 3 rows" in planned.attrs["warnings"][0]
    assert not any("cannot compare" in diff for diff in planned["diff"])  # not repeated on every row
    results = bb.apply(changes, client, progress=False, verify=False)  # not verified: nothing learned
    assert [w for w in results.attrs["run"].warnings if "cannot be compared" in w] != []
    again = bb.plan(changes, client)
    assert set(again["action"]) == {"update"}  # unverified rows teach nothing
