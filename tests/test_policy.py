"""`bb.Policy`: TOML `[[rule]]` tables, matching, and one clear error per mistake (file, line, key, did you mean)."""

from __future__ import annotations

import datetime as dt

import pytest

import bulkbackup as bb

POLICY = """\
# production first: the first matching rule wins
[[rule]]
id = "production PostgreSQL"
match = { environment = "production", database_type = "postgres" }
frequency = "0 3 * * *"
save_s3 = true
s3_storage_uuid = "abc123"
database_backup_retention_days_s3 = 14
max_age = "26h"
min_retention_days_locally = 7

[[rule]]
id = "dev"
match = { environment = "dev*" }
ignore = true

[[rule]]
frequency = "@daily"
"""


def _db(**values):
    return {
        "project": "Shop",
        "environment": "production",
        "database_type": "standalone-postgresql",
        "database_name": "orders",
        **values,
    }


def test_a_policy_reads_its_rules_in_order_with_their_settings_and_limits(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    policy = bb.Policy.from_toml(path)
    assert [r.id for r in policy.rules] == ["production PostgreSQL", "dev", "rule 3"]
    first = policy.rules[0]
    assert first.settings == {
        "frequency": "0 3 * * *",
        "save_s3": True,
        "s3_storage_uuid": "abc123",
        "database_backup_retention_days_s3": 14,
        "enabled": True,  # a rule wants backups that run unless it says otherwise
    }
    assert first.max_age == dt.timedelta(hours=26)
    assert first.minimums == {"database_backup_retention_days_locally": 7.0}
    assert [r.line for r in policy.rules] == [2, 12, 17]
    assert policy.source == str(path)
    assert bb.Policy.from_toml(POLICY).rules == policy.rules  # text works as well as a path


def test_the_first_matching_rule_wins_with_case_insensitive_globs_and_type_aliases():
    policy = bb.Policy.from_toml(POLICY)
    assert policy.rule_for(_db()).id == "production PostgreSQL"
    assert policy.rule_for(_db(environment="PRODUCTION")).id == "production PostgreSQL"
    assert policy.rule_for(_db(database_type="standalone-mysql")).id == "rule 3"
    assert policy.rule_for(_db(environment="dev-eu")).ignore
    assert policy.rule_for(_db(environment=None)).id == "rule 3"  # an unknown environment matches no glob on it
    only_prod = bb.Policy.from_toml('[[rule]]\nmatch = { project = "shop" }\nfrequency = "@daily"\n')
    assert only_prod.rule_for(_db(project="Other")) is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[[rule]]\nfrequncy = "@daily"\n', 2, "unknown key 'frequncy'; did you mean 'frequency'?"),
        (
            '[[rule]]\nfrequency = "@daily"\n\n[[rule]]\nmatch = { projet = "x" }\n',
            5,
            "rule 2: unknown match key 'projet'; did you mean 'project'?",
        ),
        ('[[rule]]\nfrequency = "0 0 31 2 *"\n', 2, "February has no day 31"),
        ("[[rule]]\ntimeout = 30\n", 2, "timeout must be at least 60"),
        ("[[rule]]\nsave_s3 = true\n", 2, "save_s3 = true needs s3_storage_uuid"),
        ('[[rule]]\nmax_age = "soon"\n', 2, "max_age: 'soon' is not a duration"),
        ("[[rule]]\nmin_retention_days_s3 = -1\n", 2, "min_retention_days_s3 must be a number at least 0"),
        ('[[rule]]\nignore = true\nfrequency = "@daily"\n', 3, "ignore = true says nothing else"),
        ("[[rule]\n", 1, "not valid TOML"),
        ('[[rules]]\nfrequency = "@daily"\n', 1, "unknown top-level key 'rules'; did you mean 'rule'?"),
        ("# nothing\n", 1, "no [[rule]] tables"),
    ],
)
def test_every_mistake_is_one_error_naming_the_line_and_the_key(tmp_path, text, line, message):
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(bb.InputError) as caught:
        bb.Policy.from_toml(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_a_policy_can_be_built_in_python():
    policy = bb.Policy.of({"match": {"project": "Shop"}, "frequency": "@daily"}, {"ignore": True})
    assert policy.rule_for(_db()).settings == {"frequency": "@daily", "enabled": True}
    assert policy.rule_for(_db(project="Else")).ignore
    with pytest.raises(bb.InputError, match="did you mean 'frequency'"):
        bb.Policy.of({"frequncy": "@daily"})


def test_a_missing_file_says_so():
    with pytest.raises(bb.InputError, match="no such file"):
        bb.Policy.from_toml("/nonexistent/policy.toml")


def test_the_sample_policy_reads_and_checks_a_fleet(client):
    """samples/policy.toml, which docs/policy.md and the README point to, is a policy bulkbackup accepts."""
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "samples" / "policy.toml"
    policy = bb.Policy.from_toml(sample)
    assert [rule.ignore for rule in policy.rules] == [False, False, True, False]
    assert policy.rules[0].settings["save_s3"] is True and policy.rules[0].max_age == dt.timedelta(hours=26)
    violations = bb.check(policy, client, now="2026-08-22T16:00:00Z")
    assert set(violations["rule"].dropna()) <= {rule.id for rule in policy.rules}
    assert "no rule matches this database" not in set(violations["problem"])  # the last rule matches everything
