"""What the fleet-scale speed-ups must not change (their speed is shown by benchmarks/bench_fleet.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup._engine.plan import _values

DB = "k0w4o8c4g0s8c8ws4wc0ogk8"


def test_equal_cells_of_different_types_are_read_each_by_its_own_type():
    # 1, 1.0 and True are equal (and hash alike): a reading shared between them would let True pass as a number.
    frame = pd.DataFrame(
        {
            "database_uuid": [DB] * 6,
            "backup_uuid": [f"b{i}" for i in range(6)],
            "database_backup_retention_amount_locally": [1, True, 1.0, 1, True, "1"],
            "enabled": [True, 1, "yes", True, 1.0, "1"],
        },
        dtype=object,
    )
    changes = bb.read_changes(frame)
    errors = changes["errors"].tolist()
    assert [bool(e) for e in errors] == [False, True, False, False, True, False]
    assert "not a whole number" in errors[1][0] and "not a whole number" in errors[4][0]
    assert changes["enabled"].tolist() == [True] * 6


def test_column_values_are_what_to_dict_gives():
    frame = pd.DataFrame(
        {
            "a": [1, 2, None],
            "b": pd.array([1, None, 3], dtype="Int64"),
            "c": ["x", None, "z"],
            "d": [True, False, True],
            "e": [[1], [], ["q"]],
            "f": [1.5, np.nan, 2.0],
            "g": pd.array([True, None, False], dtype="boolean"),
        },
        index=[7, 3, 5],
    )
    theirs = frame.to_dict("records")
    for key in frame.columns:
        ours = _values(frame[key])
        assert len(ours) == len(theirs) == 3
        for mine, record in zip(ours, theirs, strict=True):
            value = record[key]
            if isinstance(value, float) and np.isnan(value):
                assert isinstance(mine, float) and np.isnan(mine)
            else:
                assert type(mine) is type(value) and mine == value, key
    assert _values(frame["a"].iloc[:0]) == []


def test_plan_of_an_edited_inventory_matches_row_by_row(sandbox):
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        fleet = bb.inventory(client)
        fleet["timeout"] = 7200
        planned = bb.plan(fleet, client)
    changed = fleet.index[planned["action"] == "update"]
    assert len(changed) and set(planned["action"]) <= {"update", "unchanged"}
    assert all(planned.loc[i, "payload"] == '{"timeout": 7200}' for i in changed)
    assert planned.index.equals(fleet.index) and planned["line"].isna().all()


def test_collection_is_paused_only_while_state_is_read_and_left_as_the_caller_had_it(sandbox, monkeypatch):
    import gc
    import sys

    from bulkbackup._coolify import state

    seen = []
    original = state.own_configs
    module = sys.modules["bulkbackup._engine.inventory"]  # the package's attribute of that name is the function
    monkeypatch.setattr(module, "own_configs", lambda db: seen.append(gc.isenabled()) or original(db))
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        assert gc.isenabled()
        bb.inventory(client)
        assert seen and not any(seen) and gc.isenabled()
        gc.disable()
        try:
            bb.inventory(client)
            assert not gc.isenabled()  # a caller's own choice is not overridden
        finally:
            gc.enable()
        with pytest.raises(bb.ApiError), state.gc_paused():
            raise bb.ApiError("boom")
        assert gc.isenabled()
