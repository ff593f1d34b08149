"""`bb.check(policy, client_or_fleet)` and `bulkbackup check POLICY.toml`: violations, fixes, formats, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import bulkbackup as bb

NOW = "2026-08-22T16:00:00Z"
UNSUPPORTED = {"standalone-redis", "standalone-keydb", "standalone-dragonfly"}


def _cli(sandbox, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLIFY_")}
    env.update(COOLIFY_ENDPOINT=sandbox.endpoint, COOLIFY_TOKEN=token or sandbox.token)
    return subprocess.run(
        [sys.executable, "-m", "bulkbackup", "check", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _supported(fleet: pd.DataFrame) -> pd.DataFrame:
    return fleet[~fleet["database_type"].isin(UNSUPPORTED)]


def test_every_database_is_checked_against_its_rule(client):
    fleet = bb.inventory(client, unconfigured=True)
    policy = bb.Policy.from_toml('[[rule]]\nfrequency = "0 3 * * *"\ntimeout = 7200\n')
    violations = bb.check(policy, client, now=NOW)
    supported = _supported(fleet)
    configured = supported[supported["backup_uuid"].notna()]
    # Counted from the inventory, independently of check: one violation per differing setting ...
    expected = {
        (row.backup_uuid, f"{name} differs")
        for row in configured.itertuples()
        for name, wanted in (("frequency", "0 3 * * *"), ("timeout", 7200), ("enabled", True))
        if getattr(row, name) != wanted
    }
    found = violations[violations["fix"] == "update"]
    assert set(zip(found["backup_uuid"], found["problem"], strict=True)) == expected
    # ... and one create per database without a configuration; unsupported types are no violation
    creates = violations[violations["fix"] == "create"]
    assert set(creates["database_uuid"]) == set(supported[supported["backup_uuid"].isna()]["database_uuid"])
    assert creates["backup_uuid"].isna().all()
    assert not set(violations["database_type"]) & UNSUPPORTED
    assert (
        len(violations.attrs["unsupported"])
        == fleet[fleet["database_type"].isin(UNSUPPORTED)]["database_uuid"].nunique()
    )
    assert violations.attrs["checked"]["databases"] == supported["database_uuid"].nunique()
    assert list(violations.columns) == [
        "project", "environment", "database_name", "database_type", "database_uuid", "backup_uuid",
        "rule", "problem", "wanted", "found", "fix",
    ]  # fmt: skip


def test_a_database_no_rule_matches_is_reported_once_and_ignored_ones_not_at_all(client):
    fleet = _supported(bb.inventory(client, unconfigured=True))
    project = fleet["project"].dropna().iloc[0]
    policy = bb.Policy.of({"match": {"project": project}, "ignore": True})
    violations = bb.check(policy, fleet, now=NOW)
    others = fleet[fleet["project"] != project]
    assert list(violations["problem"].unique()) == ["no rule matches this database"]
    assert sorted(violations["database_uuid"]) == sorted(others["database_uuid"].unique())
    assert (violations["fix"] == "").all()
    assert violations.attrs["checked"]["ignored"] == fleet[fleet["project"] == project]["database_uuid"].nunique()


def test_limits_and_failures_need_a_person(client):
    fleet = _supported(bb.inventory(client))
    frame = fleet.iloc[[0, 1, 2]].copy()
    frame["enabled"] = True
    frame["frequency"] = "0 3 * * *"
    frame["latest_status"] = ["success", "failed", "success"]
    frame["latest_run_at"] = ["2026-08-20T03:00:05Z", "2026-08-22T03:00:05Z", "2026-08-22T03:00:05Z"]
    frame["database_backup_retention_days_locally"] = [3, 0, 30]
    policy = bb.Policy.of({"frequency": "0 3 * * *", "max_age": "26h", "min_retention_days_locally": 7})
    violations = bb.check(policy, frame, now=NOW)
    problems = {(row.backup_uuid, row.problem, row.fix) for row in violations.itertuples()}
    first, second, third = frame["backup_uuid"]
    assert (first, "newest successful run too old", "") in problems
    assert (first, "database_backup_retention_days_locally below the minimum", "update") in problems
    assert (second, "the newest backup failed", "") in problems
    assert not {p for p in problems if p[0] == third}  # 0 is "no limit", 30 ≥ 7, ran on time
    assert not any(p[0] == second and "below the minimum" in p[1] for p in problems)


def test_applying_the_update_fixes_leaves_no_update_violation(client):
    policy = bb.Policy.of({"frequency": "0 4 * * *", "database_backup_retention_amount_locally": 10})
    before = bb.check(policy, client, now=NOW)
    updates = before[before["fix"] == "update"]
    assert len(updates)
    changes = updates[["database_uuid", "backup_uuid"]].drop_duplicates().copy()
    for name, value in policy.rules[0].settings.items():
        changes[name] = value
    results = bb.apply(changes, client, progress=False)
    assert set(results["status"]) <= {"updated", "unchanged"}
    after = bb.check(policy, client, now=NOW)
    assert not (after["fix"] == "update").any()
    assert set(after[after["fix"] == "create"]["database_uuid"]) == set(
        before[before["fix"] == "create"]["database_uuid"]
    )


def test_the_cli_exits_like_a_linter_and_speaks_text_json_and_github(sandbox, client, tmp_path):
    fleet = _supported(bb.inventory(client, unconfigured=True))
    # A group of databases that all have configurations and no failed backup: fixable by updates alone.
    fixable = fleet.groupby(["project", "environment"]).apply(
        lambda g: g["backup_uuid"].notna().all() and not (g["latest_status"] == "failed").any(), include_groups=False
    )
    project, environment = fixable[fixable].index[0]
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[[rule]]\n"
        f'match = {{ project = "{project}", environment = "{environment}" }}\n'
        'frequency = "0 0 1 1 *"\n'
        "\n"
        "[[rule]]\n"
        'id = "the rest"\n'
        "ignore = true\n",
        encoding="utf-8",
    )
    text = _cli(sandbox, str(policy), "--now", NOW)
    assert text.returncode == 1, text.stderr
    assert "frequency differs: wanted 0 0 1 1 *" in text.stdout and "fix: update" in text.stdout
    as_json = _cli(sandbox, str(policy), "--now", NOW, "--format", "json")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    updates = [v for v in document["violations"] if v["fix"] == "update"]
    assert updates and all(v["rule"] == "rule 1" for v in updates)
    github = _cli(sandbox, str(policy), "--now", NOW, "--format", "github")
    assert github.returncode == 1
    lines = github.stdout.splitlines()
    assert len(lines) == len(document["violations"])
    assert all(line.startswith(f"::error file={policy},line=1,title=") for line in lines if "fix: update" in line)
    changes = pd.DataFrame(
        [{"database_uuid": v["database_uuid"], "backup_uuid": v["backup_uuid"]} for v in updates]
    ).drop_duplicates()
    changes["frequency"] = "0 0 1 1 *"
    changes["enabled"] = True
    assert set(bb.apply(changes, client, progress=False)["status"]) <= {"updated", "unchanged"}
    compliant = _cli(sandbox, str(policy), "--now", NOW)
    assert compliant.returncode == 0, compliant.stdout + compliant.stderr
    assert "compliant: no violations" in compliant.stdout


@pytest.mark.parametrize(
    ("policy", "token", "message"),
    [
        ('[[rule]]\nfrequncy = "@daily"\n', None, "policy.toml:2: rule 1: unknown key 'frequncy'; did you mean"),
        ('[[rule]]\nfrequency = "@daily"\n', "1|wrong-token", "401"),
    ],
)
def test_the_cli_exits_2_when_it_cannot_check(sandbox, tmp_path, policy, token, message):
    path = tmp_path / "policy.toml"
    path.write_text(policy, encoding="utf-8")
    result = _cli(sandbox, str(path), token=token)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    if token:
        assert token not in result.stderr + result.stdout
