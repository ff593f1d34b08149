"""The typed currency of a run: what an Operation says about its own safety, how `rebase` brings a planned operation
up to the server's state, and how `plan_of` turns each kind of input into a Plan."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from sandbox_frames import fleet_changes

import bulkbackup as bb
from bulkbackup._core.fields import CLEAR
from bulkbackup._core.operations import Operation, Outcome, RowRef, initial_outcome
from bulkbackup._core.statuses import Action, Status
from bulkbackup._engine.plan import plan_of
from bulkbackup._engine.rebase import STALE, rebase

DB, BACKUP = "k0w4o8c4g0s8c8ws4wc0ogk8", "b0w4o8c4g0s8c8ws4wc0ogk8"
REF = RowRef(0, 0, 2, DB, BACKUP)


def op(action=Action.UPDATE, payload=None, before=None, **kwargs):
    return Operation(REF, action, payload if payload is not None else {"timeout": 120}, before or {}, **kwargs)


# --- Operation ----------------------------------------------------------------------------------------------------


def test_an_operation_cannot_be_changed_after_planning():
    payload = {"timeout": 120}
    planned = op(payload=payload)
    payload["timeout"] = 9  # the caller's dict is copied, not shared
    assert planned.payload == {"timeout": 120}
    with pytest.raises(TypeError):
        planned.payload["timeout"] = 9
    with pytest.raises(AttributeError):
        planned.action = Action.TRIGGER
    changed = planned.with_(payload={"timeout": 60})
    assert changed.payload == {"timeout": 60} and planned.payload == {"timeout": 120}


@pytest.mark.parametrize(
    ("action", "payload", "starts", "repeatable", "undo", "method"),
    [
        (Action.UPDATE, {"timeout": 120}, False, True, Action.UPDATE, "PATCH"),
        (Action.UPDATE, {"timeout": 120, "backup_now": True}, True, False, Action.UPDATE, "PATCH"),
        (Action.TRIGGER, {"backup_now": True}, True, False, None, "PATCH"),
        (Action.CREATE, {"frequency": "daily"}, False, False, Action.DELETE, "POST"),
        (Action.DELETE, {}, False, False, None, "DELETE"),
    ],
)
def test_what_an_operation_says_about_its_own_safety(action, payload, starts, repeatable, undo, method):
    planned = op(action, payload)
    assert planned.starts_backup is starts
    assert planned.repeatable is repeatable  # may it go again after an uncertain outcome
    assert planned.undo_action is undo
    assert planned.sends
    request = planned.request()
    assert request.method == method
    if action is Action.CREATE:
        assert request.path == f"/databases/{DB}/backups" and request.json == payload
    else:
        assert request.path == f"/databases/{DB}/backups/{BACKUP}"
        assert request.json == (None if action is Action.DELETE else payload)


@pytest.mark.parametrize("action", [Action.UNCHANGED, Action.INVALID, Action.UNSUPPORTED])
def test_an_operation_that_sends_nothing_has_no_request_and_a_final_outcome(action):
    planned = op(action, {})
    assert not planned.sends
    with pytest.raises(ValueError, match="sends nothing"):
        planned.request()
    assert initial_outcome(planned).status == Status(action.value)


def test_an_operation_with_errors_never_sends():
    planned = op(errors=("changes.csv:2: timeout: 30 is below 60",))
    assert not planned.sends and initial_outcome(planned).status is Status.INVALID
    with pytest.raises(ValueError):
        planned.request()


def test_an_outcome_is_the_events_row_result():
    assert bb.events.RowResult is Outcome is bb.events.Outcome
    assert initial_outcome(op()).status is Status.SKIPPED


# --- rebase -----------------------------------------------------------------------------------------------------


def server(**config):
    return {(DB, BACKUP): {"uuid": BACKUP, **config}}


def test_rebase_takes_before_from_the_server_as_it_is_now():
    planned = op(payload={"timeout": 120, "enabled": False}, before={"timeout": 60, "enabled": True})
    now = rebase(planned, server(timeout=90, enabled=True), compared=False)
    assert dict(now.payload) == {"timeout": 120, "enabled": False}
    assert dict(now.before) == {"timeout": 90, "enabled": True}  # what is actually replaced
    assert now.notes == ()  # not compared: no plan's view to have gone stale


def test_rebase_drops_what_the_server_already_holds_and_notes_the_move_of_a_compared_plan():
    planned = op(payload={"timeout": 120, "enabled": False}, before={"timeout": 60, "enabled": True}, diff=("x",))
    now = rebase(planned, server(timeout=120, enabled=True), compared=True)
    assert dict(now.payload) == {"enabled": False} and dict(now.before) == {"enabled": True}
    assert now.action is Action.UPDATE
    assert len(now.notes) == 1 and now.notes[0].startswith(f"{STALE} (planned: x; now: enabled: true → false)")


def test_rebase_leaves_an_operation_whose_server_values_did_not_move_as_planned():
    planned = op(payload={"timeout": 120}, before={"timeout": 60}, diff=("timeout: 60 → 120",))
    now = rebase(planned, server(timeout=60), compared=True)
    assert now == planned


def test_rebase_makes_a_row_with_nothing_left_unchanged_but_keeps_a_backup_now():
    done = rebase(op(payload={"timeout": 120}, before={"timeout": 60}), server(timeout=120), compared=True)
    assert done.action is Action.UNCHANGED and not done.payload and not done.sends
    assert done.notes and done.notes[0].startswith(STALE)
    trigger = rebase(op(payload={"timeout": 120, "backup_now": True}), server(timeout=120), compared=False)
    assert trigger.action is Action.TRIGGER and dict(trigger.payload) == {"backup_now": True}


def test_rebase_clears_with_null_and_makes_a_vanished_configuration_invalid():
    cleared = rebase(op(payload={"databases_to_backup": None}), server(databases_to_backup="app"), compared=False)
    assert dict(cleared.payload) == {"databases_to_backup": None}
    assert dict(cleared.before) == {"databases_to_backup": "app"}
    gone = rebase(op(), {}, compared=True, source="changes.csv")
    assert gone.action is Action.INVALID and not gone.sends
    assert gone.errors[0].startswith("changes.csv:2: no backup configuration")


def test_rebase_without_a_read_sends_as_planned_and_keeps_what_sends_nothing():
    planned = op(payload={"timeout": 120})
    assert rebase(planned, None) is planned  # a blind run: nothing read, nothing compared
    for kept in (op(Action.UNCHANGED, {}), op(Action.INVALID, {}, errors=("bad",))):
        assert rebase(kept, server(timeout=1), compared=True) is kept


def test_rebase_fills_in_the_names_of_an_offline_plan():
    names = {(DB, BACKUP): ("shop", "standalone-postgresql")}
    now = rebase(op(), server(timeout=60), names=names)
    assert (now.ref.database_name, now.ref.database_type) == ("shop", "standalone-postgresql")


# --- plan_of ------------------------------------------------------------------------------------------------------


def test_a_plan_frame_carries_its_plan_and_a_filtered_frame_sends_only_its_rows(sandbox, client):
    changes = fleet_changes(client, 6, timeout=[6100 + i for i in range(6)])
    planned = bb.plan(changes, client)
    carried = planned.attrs["plan"]
    assert plan_of(planned) is carried and len(carried) == 6
    assert [op.action for op in carried.operations] == [Action.UPDATE] * 6
    assert [json.loads(p) for p in planned["payload"]] == [dict(op.payload) for op in carried.operations]
    assert carried.identity == plan_of(changes).identity  # what was asked for, whatever the server held
    picked = planned.iloc[[4, 1]]
    subset = plan_of(picked)
    assert [op.ref.position for op in subset.operations] == [4, 1]
    assert subset.identity.row_hashes == (carried.identity.row_hashes[4], carried.identity.row_hashes[1])
    results = bb.apply(picked, client, progress=False)
    assert list(results.index) == [4, 1] and list(results["status"]) == ["updated", "updated"]
    assert sorted(b["timeout"] for b in sandbox.patch_bodies) == [6101, 6104]


def test_a_plan_read_back_from_csv_is_turned_into_operations_at_that_edge(sandbox, client, tmp_path):
    changes = fleet_changes(client, 3, timeout=[6200, 6201, 6202])
    changes["databases_to_backup"] = [CLEAR, None, None]
    path = tmp_path / "plan.csv"
    bb.write_csv(bb.plan(changes, client), path)
    read_back = pd.read_csv(path)
    assert "plan" not in read_back.attrs
    again = plan_of(read_back)
    assert [dict(op.payload) for op in again.operations][1:] == [{"timeout": 6201}, {"timeout": 6202}]
    assert again.operations[0].payload["databases_to_backup"] is None  # a JSON null clears
    assert again.compared  # its `before` cells say it was compared with the server
    assert plan_of(pd.read_csv(path)).identity == again.identity  # the same file, the same run
    results = bb.apply(read_back, client, progress=False)
    assert set(results["status"]) == {"updated"}
    assert [sandbox.config(u)["timeout"] for u in changes["backup_uuid"]] == [6200, 6201, 6202]


def test_an_edited_payload_cell_is_what_is_sent(sandbox, client):
    changes = fleet_changes(client, 2, timeout=[6300, 6301])
    planned = bb.plan(changes, client)
    planned.loc[1, "payload"] = '{"timeout": 6399}'
    assert "plan" in planned.attrs  # pandas keeps attrs through the edit: the cells win
    results = bb.apply(planned, client, progress=False)
    assert list(results["status"]) == ["updated", "updated"]
    assert sandbox.config(changes.loc[1, "backup_uuid"])["timeout"] == 6399


def test_a_bad_payload_cell_names_its_row_and_column(sandbox, client):
    planned = bb.plan(fleet_changes(client, 1, timeout=[6400]), client)
    frame = pd.read_csv(io.StringIO(planned.to_csv(index=False)))
    frame.loc[0, "payload"] = "{not json"
    with pytest.raises(bb.InputError, match=r"row 0: column payload: '\{not json'"):
        bb.apply(frame, client, progress=False)
    assert sandbox.patch_bodies == []


def test_apply_takes_the_plan_itself(sandbox, client):
    changes = fleet_changes(client, 2, timeout=[6500, 6501])
    carried = bb.plan(changes, client).attrs["plan"]
    assert plan_of(carried) is carried
    results = bb.apply(carried, client, progress=False)
    assert list(results["status"]) == ["updated", "updated"]
    assert [sandbox.config(u)["timeout"] for u in changes["backup_uuid"]] == [6500, 6501]
