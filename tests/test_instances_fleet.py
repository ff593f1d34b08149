"""Several Coolify instances in the fleet functions (issue 16): `bb.inventory`, `bb.health`, `bb.check` and
`bb.enforce` of a list of clients, against three sandboxes over HTTP, two of them seeded alike so that their uuids
collide as instances restored from one backup do."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

NOW = "2026-08-22T16:00:00Z"
POLICY = '[[rule]]\nfrequency = "0 3 * * *"\ntimeout = 7200\n'
NAMES = ["sandbox-1", "sandbox-2", "sandbox-3"]


@pytest.fixture(scope="module")
def sandboxes():
    """Three instances that nothing in this module changes (the tests that send make their own)."""
    with Sandbox.many(3, databases=12, seed=[0, 0, 1], rate_limit=100_000, cases=True) as running:
        yield running
    for sandbox in running:
        assert not sandbox.errors, f"{sandbox.name} failed while answering: {sandbox.errors!r}"


def clients_of(sandboxes) -> list[bb.Client]:
    return [bb.Client(s.endpoint, s.token, name=s.name) for s in sandboxes]


@pytest.fixture
def clients(sandboxes):
    made = clients_of(sandboxes)
    yield made
    for client in made:
        client.close()


def part(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """One instance's rows of a frame of several, as a frame of that instance alone would be."""
    return frame[frame["instance"] == name].drop(columns="instance").reset_index(drop=True)


# --- inventory ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unconfigured", [False, True])
def test_the_inventory_of_several_instances_is_each_ones_inventory_with_the_instance_first(clients, unconfigured):
    fleet = bb.inventory(clients, unconfigured=unconfigured)
    assert list(fleet.columns)[0] == "instance"
    singles = [bb.inventory(client, unconfigured=unconfigured) for client in clients]
    assert [list(single.columns) for single in singles] == [list(fleet.columns)[1:]] * 3
    # Each instance's rows, in the clients' order, exactly as its own inventory has them (values and types).
    assert list(fleet["instance"]) == [name for name, s in zip(NAMES, singles, strict=True) for _ in range(len(s))]
    for name, single in zip(NAMES, singles, strict=True):
        assert len(single)
        pd.testing.assert_frame_equal(part(fleet, name), single)
    assert fleet.index.equals(pd.RangeIndex(len(fleet)))


def test_one_client_gives_todays_frame_and_a_list_of_one_the_instance_column(clients):
    alone = bb.inventory(clients[0])
    assert "instance" not in alone.columns
    listed = bb.inventory(clients[:1])
    assert list(listed.columns) == ["instance", *alone.columns] and set(listed["instance"]) == {"sandbox-1"}
    pd.testing.assert_frame_equal(part(listed, "sandbox-1"), alone)


def test_colliding_uuids_are_one_row_per_instance(sandboxes, clients):
    fleet = bb.inventory(clients)
    first, second, third = ({b["backup_uuid"] for b in s.backups} for s in sandboxes)
    assert first == second and first.isdisjoint(third)  # seeded alike: the same configurations
    assert not fleet.duplicated(["instance", "database_uuid", "backup_uuid"]).any()
    seen = Counter(fleet["backup_uuid"])
    for uuid in first:
        assert seen[uuid] == 2
        assert set(fleet[fleet["backup_uuid"] == uuid]["instance"]) == {"sandbox-1", "sandbox-2"}


def test_an_instance_that_cannot_be_read_is_named_and_its_rows_are_never_left_out(sandboxes, clients):
    wrong = bb.Client(sandboxes[1].endpoint, "1|not-the-token", name="staging")
    with pytest.raises(bb.AuthError, match=r"instance 'staging': .*401") as raised:
        bb.inventory([clients[0], wrong, clients[2]])
    assert "not-the-token" not in str(raised.value)
    with Sandbox(databases=3, seed=9) as gone:
        away = bb.Client(gone.endpoint, gone.token, name="away", sleep=lambda _seconds: None)  # no real backoff
    with pytest.raises(bb.ApiError, match=r"^instance 'away': "):
        bb.inventory([clients[0], away])
    with pytest.raises(bb.ConfigError, match="two clients are named"):
        bb.inventory([clients[0], bb.Client(sandboxes[1].endpoint, sandboxes[1].token, name="sandbox-1")])


@pytest.mark.parametrize("slow", [0, 1])
def test_each_instances_waits_for_its_window_are_heard(slow):
    # Only one of the two instances has a small budget: its waits are heard, whichever of the clients it is.
    limits = [100_000, 100_000]
    limits[slow] = 2
    with Sandbox.many(2, databases=6, seed=[5, 6], rate_limit=limits, window=1.0) as running:
        heard: list[float] = []
        fleet = bb.inventory(clients_of(running), on_wait=heard.append)
    assert heard and all(seconds > 0 for seconds in heard)
    assert list(dict.fromkeys(fleet["instance"])) == ["sandbox-1", "sandbox-2"]


def test_the_runs_of_several_instances_are_each_read_from_its_own_server(clients):
    fleet = bb.inventory(clients)
    runs = bb.executions(clients, fleet, last=2)
    assert list(runs.columns)[0] == "instance"
    for client in clients:
        alone = bb.executions(client, bb.inventory(client), last=2)
        assert len(alone)
        pd.testing.assert_frame_equal(part(runs, client.name), alone)
    with pytest.raises(bb.ConfigError, match="'instance' column"):
        bb.executions(clients, fleet.drop(columns="instance"))
    with pytest.raises(bb.InputError, match="'nowhere': no client serves this instance"):
        bb.executions(clients[:2], fleet.assign(instance="nowhere"))


# --- health and check -----------------------------------------------------------------------------------------------


def test_health_of_several_instances_names_the_instance_of_every_problem(clients):
    fleet = bb.inventory(clients, unconfigured=True)
    found = bb.health(fleet, now=NOW)
    assert list(found.columns)[0] == "instance"
    problems = [p.name for p in bb.HEALTH_PROBLEMS]
    assert [c for c in found.columns if c in problems] == problems
    for client in clients:
        alone = bb.health(bb.inventory(client, unconfigured=True), now=NOW).reset_index(drop=True)
        pd.testing.assert_frame_equal(part(found, client.name), alone)
    unhealthy = found[found["problems"] != ""]
    assert set(unhealthy["instance"]) == set(NAMES)  # every instance's policy cases show up, named


def test_check_of_a_list_of_clients_names_each_violations_instance(clients):
    policy = bb.Policy.from_toml(POLICY)
    violations = bb.check(policy, clients, now=NOW)
    assert list(violations.columns) == ["instance", *bb.check(policy, clients[0], now=NOW).columns]
    checked = {"databases": 0, "configurations": 0, "ignored": 0}
    for client in clients:
        alone = bb.check(policy, client, now=NOW)
        assert len(alone)
        pd.testing.assert_frame_equal(part(violations, client.name), alone)
        for key, count in alone.attrs["checked"].items():
            checked[key] += count
        assert {f"{client.name}: {name}" for name in alone.attrs["unsupported"]} <= set(violations.attrs["unsupported"])
    # A database is its instance's: the colliding databases of the two instances seeded alike count twice.
    assert violations.attrs["checked"] == checked
    # The same from the inventory frame of the three.
    fleet = bb.inventory(clients, unconfigured=True)
    pd.testing.assert_frame_equal(bb.check(policy, fleet, now=NOW), violations)


# --- the schedule -------------------------------------------------------------------------------------------------


def test_stagger_spreads_each_instance_over_its_own_window_and_the_counts_add_up(clients):
    fleet = bb.inventory(clients)
    # Without three of the second instance's configurations, its twins' uuids get other start times than the
    # first instance's: a change matched on the uuids alone would land on the wrong twin.
    fleet = fleet.drop(fleet.index[fleet["instance"] == "sandbox-2"][:3]).reset_index(drop=True)
    changes = bb.stagger(fleet, between="01:00", and_="03:00")
    assert list(changes.columns) == ["instance", "database_uuid", "backup_uuid", "frequency"]
    assert changes.index.equals(fleet.index)
    assert not part(changes, "sandbox-1").equals(part(changes, "sandbox-2"))
    total = None
    for name in NAMES:
        alone = part(fleet, name)
        own = bb.stagger(alone, between="01:00", and_="03:00")
        # Each server runs its own backups: its configurations get the window to themselves, as if alone.
        pd.testing.assert_frame_equal(part(changes, name), own)
        counts = bb.schedule_counts(alone, own, weeks=4)
        total = counts if total is None else total + counts
    pd.testing.assert_frame_equal(bb.schedule_counts(fleet, changes, weeks=4), total, check_names=False)


PER_INSTANCE = """
[[rule]]
id = "staging: weekly"
match = { instance = "sandbox-2" }
frequency = "@weekly"

[[rule]]
id = "everywhere else"
frequency = "0 3 * * *"
timeout = 7200
"""


def test_a_rule_can_match_the_instance_and_holds_for_one_client_of_that_name_too(clients):
    policy = bb.Policy.from_toml(PER_INSTANCE)
    violations = bb.check(policy, clients, now=NOW)
    rules = violations.dropna(subset=["rule"]).groupby("instance")["rule"].unique()
    assert {name: set(found) for name, found in rules.items()} == {
        "sandbox-1": {"everywhere else"},
        "sandbox-2": {"staging: weekly"},
        "sandbox-3": {"everywhere else"},
    }
    plan = bb.enforce(policy, clients)
    staging = plan[(plan["instance"] == "sandbox-2") & plan["action"].isin(["update", "create"])]
    assert len(staging) and all(json.loads(p).get("frequency") == "@weekly" for p in staging["payload"])
    # One client named sandbox-2 (bulkbackup check --context sandbox-2): the same rules hold for it.
    alone = bb.check(policy, clients[1], now=NOW)
    pd.testing.assert_frame_equal(part(violations, "sandbox-2"), alone)
    assert _rows(plan[plan["instance"] == "sandbox-2"]) == _rows(bb.enforce(policy, clients[1]))
    # An inventory frame of one instance names none: an instance rule matches none of its rows.
    unnamed = bb.check(policy, bb.inventory(clients[1], unconfigured=True), now=NOW)
    assert "staging: weekly" not in set(unnamed["rule"])


def test_a_misspelt_instance_match_is_said_with_its_line():
    said = r"<policy>:3: rule 1: unknown match key 'instanse'; did you mean 'instance'"
    with pytest.raises(bb.InputError, match=said):
        bb.Policy.from_toml('[[rule]]\nfrequency = "@daily"\nmatch = { instanse = "prod" }\n')


# --- enforce --------------------------------------------------------------------------------------------------------


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(frame["database_uuid"], frame["backup_uuid"], frame["action"], frame["payload"], strict=True))


def test_enforce_of_several_instances_is_one_plan_whose_rows_name_their_instance(sandboxes, clients):
    policy = bb.Policy.from_toml(POLICY)
    plan = bb.enforce(policy, clients)
    planned = plan.attrs["plan"]
    assert planned.instances == tuple(NAMES)
    assert list(plan.columns[:2]) == ["line", "instance"]
    assert all(op.ref.instance == name for op, name in zip(planned.operations, plan["instance"], strict=True))
    assert set(plan["action"]) == {"update", "create", "unsupported"}
    # Per instance: what enforce of that instance alone plans (creates routed by instance as updates are).
    for client in clients:
        alone = bb.enforce(policy, client)
        assert _rows(plan[plan["instance"] == client.name]) == _rows(alone)
    # The two instances seeded alike hold the same uuids, planned alike, and they are still different rows.
    one, two = plan[plan["instance"] == "sandbox-1"], plan[plan["instance"] == "sandbox-2"]
    assert _rows(one) == _rows(two)
    hashes = planned.identity.row_hashes
    assert len(set(hashes)) == len(hashes)
    wheres = [op.where for op in planned.operations]
    assert len(set(wheres)) == len(wheres)
    # The identity covers the instances: the same policy over the same servers under other names is another plan,
    # and the same names give the same identity (a journal resumes it).
    assert bb.enforce(policy, clients).attrs["plan"].identity == planned.identity
    renamed = [bb.Client(s.endpoint, s.token, name=f"other-{i}") for i, s in enumerate(sandboxes)]
    assert bb.enforce(policy, renamed).attrs["plan"].identity.changes_hash != planned.identity.changes_hash


# --- an edited inventory of several instances (the lead's routing of plan rows by instance) -------------------------


def _patch(sandbox, row, **values) -> None:
    """Someone changes one instance's configuration with another tool, over the API."""
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        answer = client.send("PATCH", f"/databases/{row['database_uuid']}/backups/{row['backup_uuid']}", json=values)
    assert answer.status_code == 200, answer.text


def test_an_edited_inventory_of_several_instances_plans_only_its_edited_cells_each_on_its_instance(tmp_path):
    with Sandbox.many(3, databases=8, seed=[0, 0, 1], rate_limit=100_000) as running:
        clients = clients_of(running)
        target = next(b for b in running[0].backups if b["database_status"].startswith("running"))
        _patch(running[1], target, timeout=999)  # the twins differ before the export
        fleet = bb.inventory(clients)
        _patch(running[0], target, timeout=1234)  # and someone changes the first after it
        edited = fleet.copy()
        at = edited.index[(edited["instance"] == "sandbox-2") & (edited["backup_uuid"] == target["backup_uuid"])]
        assert len(at) == 1
        edited.loc[at, "database_backup_retention_amount_locally"] = 17
        path = tmp_path / "backups.csv"
        bb.write_csv(edited, path)
        for source in (edited, path):
            plan = bb.plan(source, clients)
            changed = plan[plan["action"] != "unchanged"]
            # Only the cell edited, on its own instance; the first instance's row, exported as its own values,
            # leaves the other person's change alone (its twin's memory would read 999 there, and undo it).
            assert list(changed["instance"]) == ["sandbox-2"], changed
            assert list(changed["backup_uuid"]) == [target["backup_uuid"]]
            assert json.loads(changed["payload"].iloc[0]) == {"database_backup_retention_amount_locally": 17}
        for client in clients:
            client.close()


# --- applying an enforce of several instances (the engine's run of several instances) -------------------------------


def test_applying_an_enforce_of_several_instances_changes_on_each_only_its_own_rows():
    policy = bb.Policy.from_toml(POLICY)
    with Sandbox.many(3, databases=12, seed=[0, 0, 1], rate_limit=100_000, cases=True, job_delay=0.05) as running:
        clients = clients_of(running)
        # The twins differ in one configuration: already compliant on the second, to be updated on the first.
        target = next(b for b in running[1].backups if b["database_status"].startswith("running"))
        _patch(running[1], target, frequency="0 3 * * *", timeout=7200, enabled=True)
        patched_before = [len(s.patch_bodies) for s in running]
        plan = bb.enforce(policy, clients)
        mine = {name: plan[plan["instance"] == name] for name in NAMES}
        twin = mine["sandbox-2"]
        assert twin[twin["backup_uuid"] == target["backup_uuid"]]["action"].tolist() == ["unchanged"]
        assert mine["sandbox-1"][mine["sandbox-1"]["backup_uuid"] == target["backup_uuid"]]["action"].tolist() == [
            "update"
        ]

        results = bb.apply(plan, clients, progress=False)

        assert "instance" in results.columns
        assert not results["status"].isin(["failed", "unknown", "rejected", "invalid"]).any(), results
        for sandbox, before in zip(running, patched_before, strict=True):
            rows = mine[sandbox.name]
            done = results[results["instance"] == sandbox.name]
            # Each instance got exactly its own rows: its updates as PATCHes, its creates as POSTs …
            assert len(sandbox.patch_bodies) - before == (rows["action"] == "update").sum()
            creates = rows[rows["action"] == "create"]
            assert sorted(db for db, _ in sandbox.created) == sorted(creates["database_uuid"])
            # … and the results name, per instance, the configurations its own server made.
            made = done[done["status"] == "created"]
            assert sorted(made["backup_uuid"]) == sorted(uuid for _, uuid in sandbox.created)
        assert running[0].config(target["backup_uuid"])["timeout"] == 7200
        after = bb.check(policy, clients, now=NOW)
        assert after[after["fix"].isin(["update", "create"])].empty
        assert set(bb.enforce(policy, clients)["action"]) <= {"unchanged", "unsupported"}
        for client in clients:
            client.close()


def test_a_create_left_unknown_on_one_instance_is_adopted_there_when_the_run_is_resumed(tmp_path):
    policy = bb.Policy.from_toml(POLICY)
    with Sandbox.many(3, databases=12, seed=[0, 0, 1], rate_limit=100_000, cases=True, job_delay=0.05) as running:
        clients = clients_of(running)
        plan = bb.enforce(policy, clients)
        journal = tmp_path / "run.jsonl"
        running[1].fail_next("POST", "502")  # the second instance makes its first configuration, then answers 502
        first = bb.apply(plan, clients, progress=False, journal=journal)
        unknown = first[first["status"] == "unknown"]
        assert list(unknown["instance"]) == ["sandbox-2"]
        target = unknown["database_uuid"].iloc[0]
        # Its twin made a configuration on the same database uuid, in the same run, on its own server.
        assert target in {db for db, _ in running[0].created}
        made = [uuid for db, uuid in running[1].created if db == target]
        assert len(made) == 1
        created = [list(s.created) for s in running]

        resumed = bb.apply(plan, clients, progress=False, journal=journal)

        row = resumed[(resumed["instance"] == "sandbox-2") & (resumed["database_uuid"] == target)].iloc[0]
        assert row["status"] == "created" and row["backup_uuid"] == made[0] and "adopted" in row["message"]
        assert [list(s.created) for s in running] == created  # nothing sent again, on any instance
        # A fresh enforce of the same policy over the same instances resumes the same journal: nothing to make.
        again = bb.apply(bb.enforce(policy, clients), clients, progress=False, journal=journal)
        assert not again["status"].isin(["created", "failed", "unknown"]).any()
        assert [list(s.created) for s in running] == created
        for client in clients:
            client.close()
