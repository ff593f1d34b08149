"""Several instances, the plan: rows are routed by their `instance` cell to the one client of that name, each
instance's server is read for its own rows only, and a row no client serves is invalid — never guessed."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox


@pytest.fixture
def twins():
    """Two instances seeded alike (their uuids collide, as instances restored from one backup), and one other."""
    with Sandbox.many(3, databases=6, seed=[0, 0, 1], rate_limit=100_000) as sandboxes:
        clients = [
            bb.Client(s.endpoint, s.token, name=n) for s, n in zip(sandboxes, ["prod", "staging", "eu"], strict=True)
        ]
        yield sandboxes, clients
        for c in clients:
            c.close()


def _rows(sandbox, instance, frequency):
    return [
        {
            "instance": instance,
            "database_uuid": b["database_uuid"],
            "backup_uuid": b["backup_uuid"],
            "frequency": frequency,
        }
        for b in sandbox.backups
    ]


def test_a_client_is_named_by_its_context_else_by_host_and_port():
    assert bb.Client("http://127.0.0.1:8123", "t").name == "127.0.0.1:8123"
    assert bb.Client("http://localhost/api/v1", "t").name == "localhost"
    assert bb.Client("http://127.0.0.1:8123", "t", name=" staging ").name == "staging"
    with pytest.raises(bb.ConfigError, match="printable"):
        bb.Client("http://127.0.0.1:8123", "t", name="a\nb")
    with pytest.raises(bb.ConfigError, match="two clients are named '127.0.0.1:1'"):
        bb.plan(pd.DataFrame(), [bb.Client("http://127.0.0.1:1", "a"), bb.Client("http://127.0.0.1:1/api/v1", "b")])


def test_read_changes_keeps_the_instance_and_judges_duplicates_per_instance():
    text = (
        "instance,database_uuid,backup_uuid,frequency\n"
        "prod,db1,bk1,daily\n"
        "staging,db1,bk1,daily\n"
        " prod ,db1,bk1,hourly\n"
    )
    changes = bb.read_changes(io.StringIO(text))
    assert list(changes.columns[:4]) == ["line", "instance", "database_uuid", "backup_uuid"]
    assert changes["instance"].tolist() == ["prod", "staging", "prod"]
    errors = changes["errors"].tolist()
    assert errors[1] == []  # the same uuids on another instance are another configuration
    assert "of instance 'prod' is also targeted by line 4" in errors[0][0]
    assert "also targeted by line 2" in errors[2][0]


def test_colliding_uuids_are_planned_each_against_its_own_server(twins):
    (prod, staging, _), clients = twins
    first = prod.backups[0]
    # staging already holds what is asked for; prod does not
    bb.apply(pd.DataFrame([{**_rows(staging, "x", "0 5 * * *")[0]}]).drop(columns="instance"), clients[1])
    rows = pd.DataFrame(_rows(prod, "prod", "0 5 * * *")[:1] + _rows(staging, "staging", "0 5 * * *")[:1])
    planned = bb.plan(rows, clients)
    assert planned["instance"].tolist() == ["prod", "staging"]
    assert set(planned["database_uuid"]) == {first["database_uuid"]}  # the same uuids, two rows
    assert planned["action"].tolist() == ["update", "unchanged"]
    plan = planned.attrs["plan"]
    assert plan.instances == ("prod", "staging", "eu")
    assert [op.ref.instance for op in plan.operations] == ["prod", "staging"]
    assert [op.ref.position for op in plan.operations] == [0, 1]
    # the rows' identities differ by instance alone
    assert len(set(plan.identity.row_hashes)) == 2


def test_a_row_no_client_serves_is_invalid_and_the_others_still_go(twins):
    (prod, _, _), clients = twins
    rows = _rows(prod, "prod", "0 6 * * *")[:2]
    rows.append({**rows[0], "instance": "mars"})
    rows.append({**rows[1], "instance": ""})
    planned = bb.plan(pd.DataFrame(rows), clients[:2])
    assert planned["action"].tolist() == ["update", "update", "invalid", "invalid"]
    assert (
        "column instance: 'mars' — no client serves this instance (given: 'prod' and 'staging')"
        in (planned["errors"][2])
    )
    assert "<DataFrame> row 3: column instance is empty" in planned["errors"][3]


def test_several_clients_and_no_instance_column_is_said_not_guessed(twins):
    (prod, _, _), clients = twins
    rows = pd.DataFrame(_rows(prod, "prod", "daily")).drop(columns="instance")
    with pytest.raises(bb.ConfigError, match="no 'instance' column, but 3 clients were given"):
        bb.plan(rows, clients)
    # One client in a list: the rows are its own, and the frame says so.
    planned = bb.plan(rows, clients[:1])
    assert set(planned["instance"]) == {"prod"} and set(planned["action"]) <= {"update", "unchanged"}


def test_one_client_takes_only_the_rows_of_its_instance(twins):
    (prod, staging, _), clients = twins
    rows = pd.DataFrame(_rows(prod, "prod", "0 7 * * *")[:1] + _rows(staging, "staging", "0 7 * * *")[:1])
    planned = bb.plan(rows, clients[0])
    assert planned["action"].tolist() == ["update", "invalid"]
    assert "'staging' — no client serves this instance (given: 'prod')" in planned["errors"][1]


def test_a_plan_file_keeps_each_rows_instance(twins, tmp_path):
    (prod, staging, _), clients = twins
    rows = pd.DataFrame(_rows(prod, "prod", "0 8 * * *")[:2] + _rows(staging, "staging", "0 8 * * *")[:2])
    path = tmp_path / "plan.csv"
    bb.plan(rows, clients).to_csv(path, index=False)
    again = bb.plan(pd.read_csv(path))  # a plan frame read back: its rows as the file says, instances included
    assert again["instance"].tolist() == ["prod", "prod", "staging", "staging"]
    plan = again.attrs["plan"]
    assert [op.ref.instance for op in plan.operations] == ["prod", "prod", "staging", "staging"]
    assert plan.instances == ("prod", "staging")


def test_without_a_client_the_instance_is_carried():
    rows = pd.DataFrame(
        [
            {"instance": "prod", "database_uuid": "db1", "backup_uuid": "bk1", "timeout": 600},
            {"instance": "staging", "database_uuid": "db1", "backup_uuid": "bk1", "timeout": 600},
        ]
    )
    planned = bb.plan(rows)
    assert planned["instance"].tolist() == ["prod", "staging"]
    assert planned["action"].tolist() == ["update", "update"]
    assert planned.attrs["plan"].instances == ("prod", "staging")


def test_an_instance_that_cannot_be_read_is_said_on_its_rows_and_the_others_still_go(twins):
    (prod, staging, eu), clients = twins
    refused = bb.Client(staging.endpoint, "not-the-token", name="staging")
    rows = pd.DataFrame(
        _rows(prod, "prod", "0 9 * * *")[:2]
        + _rows(staging, "staging", "0 9 * * *")[:2]
        + _rows(eu, "eu", "0 9 * * *")[:2]
    )
    eu.stop()  # a server gone
    results = bb.apply(rows, [clients[0], refused, clients[2]], progress=False)
    assert results["status"].tolist() == ["updated", "updated", "invalid", "invalid", "invalid", "invalid"]
    assert "instance 'staging' could not be read, so nothing is planned or sent for it: " in results["errors"][2]
    assert "401" in results["errors"][2] and "not-the-token" not in results.to_csv()
    assert "instance 'eu' could not be read" in results["errors"][4]
    assert [prod.config(b["backup_uuid"])["frequency"] for b in prod.backups[:2]] == ["0 9 * * *"] * 2
    assert "0 9 * * *" not in {staging.config(b["backup_uuid"])["frequency"] for b in staging.backups}
    # One instance alone: the error is the call's, as always.
    with pytest.raises(bb.AuthError):
        bb.plan(rows[rows["instance"] == "staging"], [refused])
