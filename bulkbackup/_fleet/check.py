"""Where the fleet breaks a policy: one row per violation, each with the fix an API call can make, if any.

`check` reads nothing but the inventory (one `GET /api/v1/databases`, plus the project names): settings are
compared with the server's values by the field table, limits with the newest execution (`latest_log`), so a
nightly check of 10,000 configurations is one request. A fix is `update` (a PATCH makes it so), `create` (the
database has no backup configuration: a POST makes one) or empty where only a person can act (backups that fail,
a schedule that does not run).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._coolify.clients import Clients, is_several, one_client
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import BY_NAME
from bulkbackup._engine.inventory import UNSUPPORTED_TYPES, inventory
from bulkbackup._fleet.health import DEFAULT_GRACE, _problems, _zone, parse_time
from bulkbackup._fleet.health import _now as _moment
from bulkbackup._fleet.policy import Policy, Rule

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

COLUMNS = (
    "project",
    "environment",
    "database_name",
    "database_type",
    "database_uuid",
    "backup_uuid",
    "rule",
    "problem",
    "wanted",
    "found",
    "fix",
)

FIXES = ("update", "create", "")
"""What a violation's `fix` can be: a PATCH, a POST, or nothing an API call can do (a person must act)."""

_PERSON_MUST_ACT = {
    "last_failed": "the newest backup failed",
    "late": "the schedule fired but no backup ran",
    "unschedulable": "the server's scheduler cannot fire this frequency",
}
_NOT_COMPARABLE = {"s3_storage_uuid"}  # the server reports only s3_storage_id: checked as "has a storage" instead


def check(
    policy: Policy,
    client_or_fleet: Client | Sequence[Client] | Clients | pd.DataFrame,
    *,
    now: dt.datetime | str | None = None,
    timezone: str = "UTC",
    grace: dt.timedelta = DEFAULT_GRACE,
) -> pd.DataFrame:
    """One row per violation of `policy` (columns `COLUMNS`); empty when the fleet complies.

    Give a client (the inventory is read with `unconfigured=True`, so databases without any backup configuration
    are found) or an inventory frame. Databases Coolify cannot back up through the API (redis, keydb, dragonfly)
    are not violations: they are listed in `attrs["unsupported"]`. Databases no rule matches are violations with
    no fix ("no rule matches"). `attrs["checked"]` counts the databases and configurations looked at.

    A list of clients (read in parallel) or the inventory of several instances checks every instance against the
    one policy: each violation names its `instance` (the first column), a database is one per instance (uuids
    repeat across instances restored from one backup), and `attrs["unsupported"]` says "instance: name".
    """
    fleet = (
        client_or_fleet if isinstance(client_or_fleet, pd.DataFrame) else inventory(client_or_fleet, unconfigured=True)
    )
    named = named_for_rules(policy, client_or_fleet)
    zone = _zone(timezone)
    moment = _moment(now, zone)
    rows: list[tuple] = []
    unsupported: list[str] = []
    ignored: set[object] = set()
    unsupported_seen: set[object] = set()
    databases: set[object] = set()
    configurations = 0
    names = list(fleet.columns)
    several = INSTANCE in names
    for values in zip(*(fleet[name].tolist() for name in names), strict=True):
        row = dict(zip(names, values, strict=True))
        instance = row.get(INSTANCE)
        database = (instance, row.get("database_uuid"))  # a database is its instance's: uuids repeat across them
        configured = not _empty(row.get("backup_uuid"))
        if row.get("database_type") in UNSUPPORTED_TYPES:
            if database not in unsupported_seen:
                name = str(row.get("database_name") or database[1])
                unsupported.append(f"{instance}: {name}" if several else name)
            unsupported_seen.add(database)
            continue
        rule = policy.rule_for(row if named is None else {**row, INSTANCE: named})
        if rule is not None and rule.ignore:
            ignored.add(database)
            continue
        first_row_of_database = database not in databases
        databases.add(database)
        configurations += configured
        if rule is None:
            if first_row_of_database:  # one violation per database, not per configuration
                rows.append(_violation(row, None, "no rule matches this database", "a rule", "none", ""))
        elif not configured:
            wanted = ", ".join(f"{k} = {_show(v)}" for k, v in rule.settings.items())
            rows.append(_violation(row, rule, "no backup configuration", wanted, "none", "create"))
        else:
            rows.extend(_config_violations(row, rule, moment, zone, grace))
    frame = pd.DataFrame([row[:-1] for row in rows], columns=list(COLUMNS), dtype=object)
    frame = frame.astype(object).where(frame.notna(), None)  # empty cells are None, as in the inventory
    if several:
        frame.insert(0, INSTANCE, pd.Series([row[-1] for row in rows], dtype=object))
    frame.attrs.update(
        checked={"databases": len(databases), "configurations": configurations, "ignored": len(ignored)},
        unsupported=unsupported,
        policy=policy.source,
        now=moment.isoformat(),
    )
    return frame


def named_for_rules(policy: Policy, given: object) -> str | None:
    """The instance name rules matching on `instance` see for the rows of one client (its frames have no
    `instance` column): a policy written for several instances holds for each alone. None otherwise."""
    if not policy.matches_instances or isinstance(given, pd.DataFrame) or is_several(given):
        return None
    return getattr(one_client(given), "name", None)  # type: ignore[arg-type]


def _config_violations(
    row: Mapping[str, Any], rule: Rule, now: dt.datetime, zone: Any, grace: dt.timedelta
) -> list[tuple]:
    found: list[tuple] = []
    for name, wanted in rule.settings.items():
        if name in _NOT_COMPARABLE:
            continue
        current = row.get(name)
        current = None if _empty(current) else current
        if not BY_NAME[name].same(wanted, current):
            found.append(_violation(row, rule, f"{name} differs", _show(wanted), _show(current), "update"))
    if rule.settings.get("save_s3") is True and row.get("save_s3") is True and _empty(row.get("s3_storage_id")):
        found.append(_violation(row, rule, "S3 on with no storage", "an S3 storage", "none", "update"))
    for name, minimum in rule.minimums.items():
        current = row.get(name)
        if _empty(current):
            continue
        if 0 < float(current) < minimum:  # 0 is "no limit": more than any minimum
            found.append(
                _violation(row, rule, f"{name} below the minimum", f">= {_show(minimum)}", _show(current), "update")
            )
    health = _problems(row, now, zone, grace)
    if rule.max_age is not None and row.get("enabled") is not False:
        last = parse_time(row.get("latest_run_at"))
        succeeded = row.get("latest_status") == "success"
        if last is None:
            found.append(
                _violation(row, rule, "never ran", f"a successful run within {_age(rule.max_age)}", "none", "")
            )
        elif succeeded and now - last > rule.max_age:
            found.append(
                _violation(
                    row,
                    rule,
                    "newest successful run too old",
                    f"within {_age(rule.max_age)}",
                    f"{_age(now - last)} ago",
                    "",
                )
            )
    wanted_frequency_fixes = "frequency" in rule.settings and any(v[7] == "frequency differs" for v in found)
    for flag, problem in _PERSON_MUST_ACT.items():
        if flag in health.flags and not (flag != "last_failed" and wanted_frequency_fixes):
            found.append(_violation(row, rule, problem, "", str(row.get("latest_status") or ""), ""))
    return found


def _violation(row: Mapping[str, Any], rule: Rule | None, problem: str, wanted: str, found: str, fix: str) -> tuple:
    """One violation: the cells of COLUMNS, then the row's instance (a column only when the fleet has it)."""
    backup = row.get("backup_uuid")
    return (
        row.get("project"),
        row.get("environment"),
        row.get("database_name"),
        row.get("database_type"),
        row.get("database_uuid"),
        None if _empty(backup) else backup,
        rule.id if rule is not None else None,
        problem,
        wanted,
        found,
        fix,
        row.get(INSTANCE),
    )


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def _show(value: object) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _empty(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value) or value == ""
