"""undo(): the changes that put back what a run changed, from a results frame, a results CSV or a journal."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup._cli.cli import main
from bulkbackup.sandbox import Sandbox

VOLATILE = ["latest_status", "latest_run_at", "latest_size"]  # what a started backup changes


def test_round_trip_on_a_fleet_of_200_configurations(tmp_path):
    with Sandbox(databases=215, seed=6, rate_limit=100_000, job_delay=0.05) as sb:  # 200 configurations
        with bb.Client(sb.endpoint, sb.token) as client:
            first = bb.inventory(client)
            assert len(first) == 200
            edited = first.copy()
            n = len(edited)
            edited["timeout"] = edited["timeout"] + 60
            edited.loc[edited.index % 3 == 0, "frequency"] = "17 4 * * *"
            edited.loc[edited.index % 5 == 0, "enabled"] = ~edited.loc[edited.index % 5 == 0, "enabled"]
            empty = edited["databases_to_backup"].isna()
            edited.loc[empty, "databases_to_backup"] = "app"  # undo must clear these again
            edited.loc[~empty, "databases_to_backup"] = bb.CLEAR  # and set these back
            edited["database_backup_retention_max_storage_s3"] = 12.5
            planned = bb.plan(edited, client)
            assert (planned["action"] == "update").sum() == n
            applied = bb.apply(planned, client, progress=False)
            assert (applied["status"] == "updated").all()
            assert not bb.inventory(client).drop(columns=VOLATILE).equals(first.drop(columns=VOLATILE))
            undo = bb.undo(applied)
            assert len(undo) == n and undo.attrs["warnings"] == []
            restored = bb.apply(undo, client, progress=False)
            assert (restored["status"] == "updated").all()
            assert bb.inventory(client).equals(first)


def test_undo_from_a_results_csv_and_from_the_cli(sandbox, client, tmp_path, monkeypatch, capsys):
    original = bb.inventory(client)
    frame = original.head(6)[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [6100 + i for i in range(6)]
    frame["frequency"] = "5 5 * * 1"
    results = bb.apply(frame, client, progress=False)
    path = tmp_path / "run.results.csv"
    bb.write_csv(results, path)
    from_csv = bb.undo(path)
    assert from_csv.drop(columns=[]).astype(str).equals(bb.undo(results).astype(str))
    assert list(from_csv.columns) == ["database_uuid", "backup_uuid", "frequency", "timeout"]
    assert from_csv["timeout"].tolist() == original.head(6)["timeout"].tolist()

    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    out = tmp_path / "undo.csv"
    assert main(["undo", str(path), "-o", str(out)]) == 0
    assert "6 configurations to restore" in capsys.readouterr().out
    assert main(["undo", str(path), "-o", str(out)]) == 2  # never overwritten silently
    assert "exists" in capsys.readouterr().err
    assert main(["apply", str(out), "--yes", "--results", str(tmp_path / "undo.results.csv")]) == 0
    assert bb.inventory(client).drop(columns=VOLATILE).equals(original.drop(columns=VOLATILE))


def test_what_cannot_be_undone_is_said(sandbox, client, capsys, tmp_path):
    fleet = bb.inventory(client)
    storages = sorted({int(i) for i in fleet["s3_storage_id"].dropna()})
    target = fleet[fleet["s3_storage_id"].notna()].head(1).reset_index(drop=True)
    others = fleet[fleet["s3_storage_id"].isna()].head(1).reset_index(drop=True)
    s3 = sandbox.s3_storages
    uuid_of = {s["id"]: s["uuid"] for s in (s3() if callable(s3) else s3)}
    new_storage = next(uuid for sid, uuid in uuid_of.items() if sid != target.loc[0, "s3_storage_id"])
    frame = pd.concat([target, others], ignore_index=True)[["database_uuid", "backup_uuid"]]
    frame["s3_storage_uuid"] = [new_storage, None]
    frame["backup_now"] = [None, True]
    frame["timeout"] = [6200, 6201]
    results = bb.apply(frame, client, progress=False)
    assert list(results["status"]) == ["updated", "updated"]
    undo = bb.undo(results)
    warnings = undo.attrs["warnings"]
    assert any("s3_storage_uuid cannot be restored" in w and frame.loc[0, "backup_uuid"] in w for w in warnings)
    assert any("started backup cannot be undone" in w and frame.loc[1, "backup_uuid"] in w for w in warnings)
    assert "s3_storage_uuid" not in undo.columns
    mapped = bb.undo(results, s3_uuids=uuid_of)
    previous = uuid_of[int(target.loc[0, "s3_storage_id"])]
    assert mapped.loc[0, "s3_storage_uuid"] == previous
    assert not any("s3_storage_uuid" in w for w in mapped.attrs["warnings"])
    assert storages  # the fleet has S3 storages at all

    path = tmp_path / "r.csv"
    bb.write_csv(results, path)
    assert main(["undo", str(path), "-o", str(tmp_path / "u.csv")]) == 0
    err = capsys.readouterr().err
    assert "cannot undo" in err and "started backup" in err and "s3_storage_uuid" in err


def test_rows_that_changed_nothing_are_not_undone_and_bad_input_is_refused(sandbox, client, tmp_path):
    frame = bb.inventory(client).head(3)[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [6300, 5, 6302]  # the second is invalid
    results = bb.apply(frame, client, progress=False)
    undo = bb.undo(results)
    assert list(undo["backup_uuid"]) == [frame.loc[0, "backup_uuid"], frame.loc[2, "backup_uuid"]]
    rejected = results.copy()
    rejected.loc[0, "status"] = "rejected"
    assert len(bb.undo(rejected)) == 1
    with pytest.raises(bb.InputError, match="no such file"):
        bb.undo(tmp_path / "missing.csv")
    with pytest.raises(bb.InputError, match="not a results frame"):
        bb.undo(pd.DataFrame({"a": [1]}))
    assert json.loads(results.loc[0, "before"])  # the value undo restores came from the results frame


def test_a_results_csv_saved_again_with_semicolons_still_undoes(sandbox, client, tmp_path):
    frame = bb.inventory(client).head(2)[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [6401, 6402]
    results = bb.apply(frame, client, progress=False)
    path = tmp_path / "resaved.csv"
    results.to_csv(path, sep=";", index=False)
    assert bb.undo(path)["timeout"].tolist() == [json.loads(b)["timeout"] for b in results["before"]]
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(bb.InputError, match="not a readable results CSV"):
        bb.undo(tmp_path / "other.csv")
