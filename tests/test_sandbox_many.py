"""Several sandboxes in one process (Sandbox.many, Sandboxes), and the seeded policy cases (cases=True)."""

from __future__ import annotations

import pytest
import requests

from bulkbackup.sandbox import Sandbox, Sandboxes


def get(sandbox, path, token=None):
    return requests.get(
        f"{sandbox.endpoint}{path}",
        headers={"Authorization": f"Bearer {token or sandbox.token}", "Accept": "application/json"},
        timeout=10,
    )


def test_many_runs_distinct_instances_with_their_own_ports_tokens_budgets_and_seeds():
    with Sandbox.many(3, databases=6, rate_limit=[2, 3, 50], seed=[0, 0, 1]) as sandboxes:
        assert len(sandboxes) == 3 and [s.name for s in sandboxes] == ["sandbox-1", "sandbox-2", "sandbox-3"]
        assert len(set(sandboxes.endpoints)) == 3 and len({s.port for s in sandboxes}) == 3
        assert len(set(sandboxes.tokens)) == 3
        # Each token works on its own instance only.
        for sandbox in sandboxes:
            for other in sandboxes:
                status = get(sandbox, "/version", other.token).status_code
                assert status == (200 if other is sandbox else 401)
        first, second, third = sandboxes
        # Seeded alike: the same uuids, as instances restored from one backup have.
        assert [b["backup_uuid"] for b in first.backups] == [b["backup_uuid"] for b in second.backups]
        assert {b["backup_uuid"] for b in first.backups}.isdisjoint(b["backup_uuid"] for b in third.backups)
        # Each its own budget: one request of each was counted above (the 401s were not: unauthenticated
        # requests never are).
        assert first.rate_limit == 2 and second.rate_limit == 3
        assert [get(first, "/version").status_code for _ in range(2)] == [200, 429]
        assert [get(second, "/version").status_code for _ in range(3)] == [200, 200, 429]
        assert get(third, "/version").status_code == 200
        urls = [s.url for s in sandboxes]
    # Stopped together.
    for url in urls:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/api/health", timeout=5)


def test_one_value_for_all_still_gives_each_instance_its_own_budget_and_seed():
    with Sandbox.many(3, databases=4, rate_limit=2, window=[60, 60, 0.5]) as sandboxes:
        assert [s.seed for s in sandboxes] == [0, 1, 2]  # by default each its own seed: no uuid in common
        uuids = [{b["backup_uuid"] for b in s.backups} for s in sandboxes]
        assert all(uuids) and not (uuids[0] & uuids[1] or uuids[0] & uuids[2] or uuids[1] & uuids[2])
        first, second, third = sandboxes
        assert [s.rate_limit for s in sandboxes] == [2, 2, 2] and [s.window for s in sandboxes] == [60, 60, 0.5]
        # The first one's budget spent: the others still have all of theirs (one bucket per instance).
        assert [get(first, "/version").status_code for _ in range(3)] == [200, 200, 429]
        assert [get(second, "/version").status_code for _ in range(3)] == [200, 200, 429]
        assert [get(third, "/version").status_code for _ in range(2)] == [200, 200]


def test_cli_config_names_every_instance_as_a_coolify_cli_context(tmp_path):
    import json
    import os
    import stat

    import bulkbackup as bb

    path = tmp_path / ".config" / "coolify" / "config.json"
    with Sandbox.many(3, databases=3, seed=[0, 0, 1]) as sandboxes:
        assert sandboxes.cli_config(path, default="sandbox-2") == path
        written = json.loads(path.read_text())
        assert written == {
            "instances": [
                {"name": s.name, "fqdn": s.url, "token": s.token, "default": s.name == "sandbox-2"} for s in sandboxes
            ]
        }
        if os.name == "posix":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds tokens, as coolify-cli's own file does
        # The client reaches each instance through its context, and the default one without a name.
        for sandbox in sandboxes:
            with bb.Client.from_env(context=sandbox.name, environ={}, config_path=path) as client:
                assert client.endpoint == sandbox.endpoint
                assert set(bb.inventory(client)["backup_uuid"]) == {b["backup_uuid"] for b in sandbox.backups}
        with bb.Client.from_env(environ={}, config_path=path) as client:
            assert client.endpoint == sandboxes["sandbox-2"].endpoint
        path.chmod(0o644)
        sandboxes.cli_config(path)  # replaced, the first the default, and private again
        assert [i["default"] for i in json.loads(path.read_text())["instances"]] == [True, False, False]
        if os.name == "posix":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with pytest.raises(ValueError, match="default: a position from 0 to 2 or one of"):
            sandboxes.cli_config(path, default="qa")


def test_cli_config_connects_every_instance_and_one_inventory_tells_the_colliding_uuids_apart(tmp_path):
    import bulkbackup as bb

    path = tmp_path / "config.json"
    with Sandbox.many(3, databases=3, seed=[0, 0, 1], name=["production", "staging", "eu"]) as sandboxes:
        sandboxes.cli_config(path)
        clients = bb.connect(all_contexts=True, environ={}, config_path=path)
        try:
            assert [(c.name, c.endpoint) for c in clients] == list(
                zip(sandboxes.names, sandboxes.endpoints, strict=True)
            )
            fleet = bb.inventory(clients)
        finally:
            for client in clients:
                client.close()
        assert fleet.columns[0] == "instance"
        for sandbox in sandboxes:
            mine = fleet[fleet["instance"] == sandbox.name]
            assert sorted(mine["backup_uuid"]) == sorted(b["backup_uuid"] for b in sandbox.backups)
        # Seeded alike: production's and staging's rows have the same uuids, once each.
        shared = set(fleet.loc[fleet["instance"] == "production", "backup_uuid"])
        assert shared == set(fleet.loc[fleet["instance"] == "staging", "backup_uuid"])
        assert not fleet.duplicated(["instance", "database_uuid", "backup_uuid"]).any()


def test_unnamed_sandboxes_are_named_by_their_place():
    with Sandboxes([Sandbox(databases=1), Sandbox(databases=1, seed=1, name="staging")]) as sandboxes:
        assert sandboxes.names == ["sandbox-1", "staging"]


def test_colliding_uuids_change_only_the_instance_addressed():
    with Sandbox.many(2, databases=5, seed=7, rate_limit=100_000) as (one, two):
        target = next(b for b in one.backups if b["database_status"].startswith("running"))
        assert any(b["backup_uuid"] == target["backup_uuid"] for b in two.backups)
        before = two.config(target["backup_uuid"])
        response = requests.patch(
            f"{one.endpoint}/databases/{target['database_uuid']}/backups/{target['backup_uuid']}",
            json={"timeout": 1234},
            headers={"Authorization": f"Bearer {one.token}", "Accept": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200
        assert one.config(target["backup_uuid"])["timeout"] == 1234
        assert two.config(target["backup_uuid"]) == before
        assert len(one.patch_bodies) == 1 and two.patch_bodies == []


def test_faults_and_versions_per_instance():
    with Sandbox.many(2, databases=3, faults=[{"503": 1.0}, None], version=["4.3.11", "4.3.18"]) as sandboxes:
        for sandbox, status in zip(sandboxes, (503, 404), strict=True):
            response = requests.patch(
                f"{sandbox.endpoint}/databases/x/backups/y",
                json={"enabled": True},
                headers={"Authorization": f"Bearer {sandbox.token}", "Accept": "application/json"},
                timeout=10,
            )
            assert response.status_code == status
        assert [get(s, "/version").text for s in sandboxes] == ["4.3.11", "4.3.18"]


def test_sandboxes_by_name_and_from_instances():
    sandboxes = Sandboxes([Sandbox(databases=2, name="production"), Sandbox(databases=2, seed=1, name="staging")])
    with sandboxes:
        assert sandboxes["staging"].seed == 1 and sandboxes[0].name == "production"
        assert "production" in repr(sandboxes) and sandboxes[0].token not in repr(sandboxes)
        with pytest.raises(KeyError, match="production"):
            sandboxes["qa"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Sandbox.many(0), "n must be"),
        (lambda: Sandbox.many(2, seed=[1, 2, 3]), "seed: a list gives one value per sandbox, so it needs 2 values"),
        (lambda: Sandboxes([Sandbox(databases=1, name="a"), Sandbox(databases=1, name="a")]), "names must differ"),
    ],
)
def test_many_refuses_what_it_cannot_do(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_one_instance_that_cannot_start_stops_the_others():
    with Sandbox(databases=1) as busy:
        sandboxes = Sandboxes([Sandbox(databases=1), Sandbox(databases=1, port=busy.port)])
        with pytest.raises(OSError, match="already in use"):
            sandboxes.start()
        with pytest.raises(RuntimeError, match="not running"):
            _ = sandboxes[0].port


# --- The policy cases --------------------------------------------------------------------------------------------

CASE_NAMES = {
    "compliant-postgresql",
    "disabled-postgresql",
    "never-ran-postgresql",
    "failing-mysql",
    "late-postgresql",
    "local-only-mariadb",
    "s3-no-storage-postgresql",
    "unlimited-retention-mongodb",
    "unconfigured-postgresql",
    "unconfigured-mysql",
    "unsupported-redis",
    "unsupported-keydb",
    "unsupported-dragonfly",
}


def test_cases_add_a_project_of_rule_breaking_databases_and_change_nothing_else():
    with Sandbox(databases=8, seed=5, cases=True) as with_cases, Sandbox(databases=8, seed=5) as plain:
        listed = get(with_cases, "/databases").json()
        cases = {d["name"]: d for d in listed if d["name"] in CASE_NAMES}
        assert set(cases) == CASE_NAMES
        assert listed[: len(plain.databases)] == get(plain, "/databases").json()  # the seeded fleet is unchanged

        def only_config(name):
            [config] = cases[name]["backup_configs"]
            return config

        for name in ("unconfigured-postgresql", "unconfigured-mysql", "unsupported-redis", "unsupported-keydb"):
            assert cases[name]["backup_configs"] == []
        assert cases["unsupported-keydb"]["database_type"] == "standalone-keydb"
        assert cases["unsupported-dragonfly"]["database_type"] == "standalone-dragonfly"
        compliant = only_config("compliant-postgresql")
        assert compliant["enabled"] and compliant["save_s3"] and compliant["s3_storage_id"] is not None
        assert compliant["latest_log"]["status"] == "success"
        assert compliant["database_backup_retention_days_s3"] == 14
        assert only_config("disabled-postgresql")["enabled"] is False
        assert only_config("never-ran-postgresql")["latest_log"] is None
        assert only_config("failing-mysql")["latest_log"]["status"] == "failed"
        late = only_config("late-postgresql")["latest_log"]
        assert late["status"] == "success" and late["created_at"] < compliant["latest_log"]["created_at"]
        local = only_config("local-only-mariadb")
        assert local["save_s3"] is False and local["s3_storage_id"] is None
        s3 = only_config("s3-no-storage-postgresql")
        assert s3["save_s3"] is True and s3["s3_storage_id"] is None
        unlimited = only_config("unlimited-retention-mongodb")
        assert all(unlimited[k] == 0 for k in unlimited if k.startswith("database_backup_retention_"))
        projects = {d["project"] for d in with_cases.databases if d["name"] in CASE_NAMES}
        assert projects == {"Policy Cases"}
