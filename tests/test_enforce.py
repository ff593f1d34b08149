"""`bb.enforce(policy, client)`: a plan that makes the fleet hold a policy, creates that are never made twice, and
an undo that deletes what was created only when deletes are allowed. Against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

NOW = "2026-08-22T16:00:00Z"
POLICY = '[[rule]]\nfrequency = "0 3 * * *"\ntimeout = 7200\n'
UNSUPPORTED = {"standalone-redis", "standalone-keydb", "standalone-dragonfly"}
CHILD = Path(__file__).parent / "data" / "killed_enforce.py"


@pytest.fixture
def cases():
    with Sandbox(databases=30, seed=3, cases=True) as sandbox:
        yield sandbox


@pytest.fixture
def cclient(cases):
    with bb.Client(cases.endpoint, cases.token) as client:
        yield client


def _fixable(violations: pd.DataFrame) -> pd.DataFrame:
    return violations[violations["fix"].isin(["update", "create"])]


def _own_configs(sandbox: Sandbox, client: bb.Client, database_uuid: str) -> list[str]:
    fleet = bb.inventory(client, unconfigured=True)
    rows = fleet[(fleet["database_uuid"] == database_uuid) & fleet["backup_uuid"].notna()]
    return sorted(rows["backup_uuid"])


def test_enforce_plans_what_check_finds_and_a_second_enforce_plans_nothing(cases, cclient):
    policy = bb.Policy.from_toml(POLICY)
    before = bb.check(policy, cclient, now=NOW)
    fleet = bb.inventory(cclient, unconfigured=True)
    plan = bb.enforce(policy, cclient)
    assert isinstance(plan.attrs["plan"], bb._core.operations.Plan)  # noqa: SLF001 - the typed plan apply sends
    actions = plan.set_index("database_uuid")["action"]
    # every database check wants created is a create row; every configuration with an update fix an update row
    creates = set(_fixable(before).query("fix == 'create'")["database_uuid"])
    assert set(plan[plan["action"] == "create"]["database_uuid"]) == creates
    updates = set(_fixable(before).query("fix == 'update'")["backup_uuid"])
    assert set(plan[plan["action"] == "update"]["backup_uuid"]) == updates
    unsupported = set(fleet[fleet["database_type"].isin(UNSUPPORTED)]["database_uuid"])
    assert unsupported and set(plan[plan["action"] == "unsupported"]["database_uuid"]) == unsupported
    assert set(actions) <= {"update", "create", "unchanged", "unsupported"}
    # a create sends every setting of the rule, save_s3 false explicitly; an update only what differs
    for payload in plan[plan["action"] == "create"]["payload"]:
        assert json.loads(payload) == {"frequency": "0 3 * * *", "timeout": 7200, "enabled": True, "save_s3": False}
    for _, row in plan[plan["action"] == "update"].iterrows():
        sent = json.loads(row["payload"])
        config = fleet[fleet["backup_uuid"] == row["backup_uuid"]].iloc[0]
        assert sent and all(config[name] != value for name, value in sent.items())
        assert json.loads(row["before"]) == {name: config[name] for name in sent}

    results = bb.apply(plan, cclient, progress=False)
    created = results[results["status"] == "created"]
    assert len(created) == len(creates) == len(cases.created)
    assert sorted(created["backup_uuid"]) == sorted(uuid for _, uuid in cases.created)
    assert not (results["status"].isin(["failed", "unknown", "rejected", "invalid"])).any()
    after = bb.check(policy, cclient, now=NOW)
    assert _fixable(after).empty, _fixable(after)
    again = bb.enforce(policy, cclient)
    assert set(again["action"]) <= {"unchanged", "unsupported"}
    # the new configurations were made as the rule says: save_s3 false, not the server's default true
    fleet = bb.inventory(cclient)
    made = fleet[fleet["backup_uuid"].isin(created["backup_uuid"])]
    assert (made["save_s3"] == False).all() and (made["frequency"] == "0 3 * * *").all()  # noqa: E712


def test_a_rule_without_frequency_cannot_create(cclient):
    plan = bb.enforce(bb.Policy.of({"timeout": 7200}), cclient)
    invalid = plan[plan["action"] == "invalid"]
    assert len(invalid) and invalid["backup_uuid"].eq("").all()
    assert invalid["errors"].str.contains("no frequency").all()
    assert not (plan["action"] == "create").any()


def test_a_rule_wanting_s3_creates_with_its_storage(cases, cclient):
    storage = bb.storages(cclient)["uuid"].iloc[0]
    policy = bb.Policy.of({"frequency": "@daily", "save_s3": True, "s3_storage_uuid": storage})
    plan = bb.enforce(policy, cclient)
    for payload in plan[plan["action"] == "create"]["payload"]:
        assert json.loads(payload)["s3_storage_uuid"] == storage
    bb.apply(plan, cclient, progress=False)
    assert _fixable(bb.check(policy, cclient, now=NOW)).empty
    assert set(bb.enforce(policy, cclient)["action"]) <= {"unchanged", "unsupported"}


@pytest.mark.parametrize("fault", ["502", "500", "drop"])
def test_an_uncertain_create_is_never_sent_twice(cases, cclient, fault):
    plan = bb.enforce(bb.Policy.from_toml(POLICY), cclient)
    creates = plan[plan["action"] == "create"]
    one = plan.loc[[creates.index[0]]]
    cases.fail_next("POST", fault)
    results = bb.apply(one, cclient, progress=False)
    assert list(results["status"]) == ["unknown"]
    assert results["attempts"].iloc[0] == 1
    assert len(cases.created) == 1  # the server made it before the fault answered: exactly one, never two
    assert "second POST" in results["message"].iloc[0]
    undo = bb.undo(results)  # nothing to delete that is known; what may exist is said, not guessed
    assert len(undo) == 0 and any("may have made a configuration" in w for w in undo.attrs["warnings"])


def test_a_created_configuration_is_adopted_when_the_run_is_resumed(cases, cclient, tmp_path):
    policy = bb.Policy.from_toml(POLICY)
    plan = bb.enforce(policy, cclient)
    target = plan[plan["action"] == "create"].iloc[0]["database_uuid"]
    journal = tmp_path / "run.jsonl"
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY)
    env = {**os.environ, "COOLIFY_TOKEN": cases.token}
    child = subprocess.run(
        [sys.executable, str(CHILD), cases.endpoint, str(policy_file), str(journal), target],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr
    made = [uuid for db, uuid in cases.created if db == target]
    assert len(made) == 1
    # resumed with the plan of the same policy and fleet: the create is adopted, not sent again
    results = bb.apply(plan, cclient, progress=False, journal=journal)
    row = results[results["database_uuid"] == target].iloc[0]
    assert row["status"] == "created" and row["backup_uuid"] == made[0]
    assert "adopted" in row["message"]
    assert [uuid for db, uuid in cases.created if db == target] == made
    assert len(cases.created) == len(set(cases.created))
    assert _own_configs(cases, cclient, target) == made
    # and a fresh enforce of the same policy resumes the same journal without creating anything either
    count = len(cases.created)
    again = bb.apply(bb.enforce(policy, cclient), cclient, progress=False, journal=journal)
    assert len(cases.created) == count and not (again["status"] == "created").any()
    # the journal knows the adopted create: undo from it deletes it
    undo = bb.undo(journal)
    assert made[0] in set(undo[undo["action"] == "delete"]["backup_uuid"])


def test_undo_of_a_create_is_a_delete_that_needs_allow_delete(cases, cclient, tmp_path):
    policy = bb.Policy.from_toml(POLICY)
    before = bb.check(policy, cclient, now=NOW)
    results = bb.apply(bb.enforce(policy, cclient), cclient, progress=False)
    created = set(results[results["status"] == "created"]["backup_uuid"])
    assert created
    path = tmp_path / "results.csv"
    bb.write_csv(results, path)
    for source in (results, path):
        undo = bb.undo(source)
        assert set(undo[undo["action"] == "delete"]["backup_uuid"]) == created
    refused = bb.apply(undo, cclient, progress=False)
    assert not cases.deleted and not cases.deleted_files
    deletes = refused[refused["backup_uuid"].isin(created)]
    assert (deletes["status"] == "invalid").all()
    assert deletes["errors"].str.contains("local backup files").all()
    assert deletes["errors"].str.contains("allow_delete").all()
    done = bb.apply(undo, cclient, progress=False, allow_delete=True)
    assert set(done[done["status"] == "deleted"]["backup_uuid"]) == created
    assert {uuid for _, uuid in cases.deleted} == created
    after = bb.check(policy, cclient, now=NOW)

    def rows(frame):
        return sorted(map(tuple, frame.astype(str).values.tolist()))

    assert rows(after) == rows(before)


def test_the_same_plan_applied_twice_creates_nothing_twice(cases, cclient):
    plan = bb.enforce(bb.Policy.from_toml(POLICY), cclient)
    first = bb.apply(plan, cclient, progress=False)
    made = list(cases.created)
    assert made and (first["status"] == "created").sum() == len(made)
    second = bb.apply(plan, cclient, progress=False)  # no journal: the server's state alone must stop it
    assert cases.created == made
    rows = second[plan["action"] == "create"]
    assert (rows["status"] == "unchanged").all() and rows["message"].str.contains("not created").all()
