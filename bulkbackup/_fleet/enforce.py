"""Make the fleet hold a policy: the plan of `update` and `create` rows that fixes what an API call can fix.

`enforce` reads the inventory once (with the databases that have no configuration) and turns each database the
policy covers into one plan row per configuration, exactly as `check` judges it:

- a configuration whose settings differ from its rule: `update`, the PATCH payload holding only what differs
  (`operation_for`, the one comparison of planning), `before` the server's values;
- a database without configuration: `create`, a POST with EVERY setting of its rule explicit — `save_s3` false
  when the rule does not want S3, because a POST without it makes it true on the server with no storage. A rule
  without `frequency` cannot create (the server requires one): that row is `invalid`, saying so. Its `before`
  holds the database's configuration uuids known before the POST (`KNOWN`), so a resumed run can tell the one an
  earlier attempt created and adopt it instead of creating another;
- a configuration already compliant: `unchanged`; redis, keydb, dragonfly: `unsupported`, never sent.

The plan's identity is a hash of the policy and the databases it targets, not of the rows: after a run created a
configuration, a fresh `enforce` of the same policy plans that database as an update (or unchanged), and its
journal is still this run's.

Several instances (a list of clients): one plan over all of them. Every operation names its instance
(`RowRef.instance`), creates as well as updates, so `apply` routes each row to its own server; the plan's
`instances` are the clients' names, its frame has the `instance` column, and its identity covers the instance:
two instances restored from one backup hold the same uuids, and they are different rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._coolify.clients import Clients, clients_of, each_named, is_several, one_client
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import BY_NAME
from bulkbackup._core.operations import Identity, Operation, Plan, RowRef
from bulkbackup._core.statuses import Action
from bulkbackup._engine.identity import changes_text, row_hash_of
from bulkbackup._engine.inventory import UNSUPPORTED_TYPES, inventories, inventory
from bulkbackup._engine.plan import operation_for, render
from bulkbackup._fleet.check import named_for_rules
from bulkbackup._fleet.policy import Policy, Rule

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

KNOWN = "backup_uuids"
"""A create's `before` key: the database's configuration uuids before the POST (what resume adopts against)."""

_S3 = "s3_storage_uuid"


def enforce(
    policy: Policy,
    client_or_clients: Client | Sequence[Client] | Clients,
    *,
    now: dt.datetime | str | None = None,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """The plan frame that makes the fleet hold `policy` (`update`, `create`, `unchanged`, `unsupported` and
    `invalid` rows), carrying its `Plan` in `attrs["plan"]`: `bb.apply(frame, client, journal=...)` sends it.

    Only what an API call can fix is planned: limits such as `max_age`, failing backups and databases no rule
    matches are `check`'s to report. `now` and `timezone` are accepted for symmetry with `check` (the plan does
    not depend on the time).

    A list of clients plans every instance at once (each read in parallel, each row's setting compared with its
    own server's version): one plan whose rows name their `instance`, for `bb.apply(frame, clients)`.
    """
    del now, timezone  # settings do not depend on the time; limits that do are check's
    if not is_several(client_or_clients):
        client = one_client(client_or_clients)
        fleet = inventory(client, unconfigured=True)
        version = client.server_version()
        return render(plan_of_policy(policy, fleet, version, named=named_for_rules(policy, client)))
    clients = clients_of(client_or_clients)
    fleet = inventories(clients, unconfigured=True)
    versions = dict(zip(clients.names, each_named(clients, lambda c: c.server_version()), strict=True))
    return render(plan_of_policy(policy, fleet, versions, instances=clients.names))  # with the instance column


def plan_of_policy(
    policy: Policy,
    fleet: pd.DataFrame,
    version: str | None | Mapping[str, str | None],
    *,
    instances: Sequence[str] = (),
    named: str | None = None,
) -> Plan:
    """The `Plan` of `policy` against an inventory frame read with `unconfigured=True`.

    An inventory of several instances (its `instance` column): `version` maps each instance to its server's
    version, and `instances` names them in order (the plan's `instances`; by default, as the frame lists them).
    `named`: the one instance's name the rules see (`check.named_for_rules`), for an inventory of one."""
    several = INSTANCE in fleet.columns
    if several and not instances:
        instances = tuple(dict.fromkeys(fleet[INSTANCE].tolist()))
    names = list(fleet.columns)
    rows = [
        {k: (None if _empty(v) else v) for k, v in zip(names, values, strict=True)}
        for values in zip(*(fleet[name].tolist() for name in names), strict=True)
    ]
    # A database is its instance's (None for one instance): uuids repeat across instances restored from one backup.
    known: dict[tuple[str | None, str], list[str]] = {}
    for row in rows:
        if row.get("backup_uuid"):
            known.setdefault((row.get(INSTANCE), str(row["database_uuid"])), []).append(str(row["backup_uuid"]))
    operations: list[Operation] = []
    hashes: list[str] = []
    targets: list[str] = []
    for row in rows:
        database, backup = str(row.get("database_uuid") or ""), str(row.get("backup_uuid") or "")
        instance = str(row[INSTANCE]) if several else None
        server = version.get(instance) if isinstance(version, Mapping) else version
        ref = RowRef(
            len(operations),
            len(operations),
            None,
            database,
            backup,
            row.get("database_name"),
            row.get("database_type"),
            instance,
        )
        if row.get("database_type") in UNSUPPORTED_TYPES:
            operation, wanted = Operation(ref, Action.UNSUPPORTED), {"unsupported": True}
        else:
            rule = policy.rule_for(row if named is None else {**row, INSTANCE: named})
            if rule is None or rule.ignore:
                continue  # nothing to make: check reports a database no rule matches
            if backup:
                operation, wanted = _update(ref, rule, row, server)
            else:
                operation, wanted = _create(ref, rule, known.get((row.get(INSTANCE), database), []), server)
        operations.append(operation)
        # with its instance: the same uuids on two instances are two rows of what was asked for
        hashes.append(row_hash_of(database, backup, operation.errors, changes_text(wanted), instance))
        targets.append(database if instance is None else f"{instance}\t{database}")
    return Plan(
        tuple(operations),
        Identity(_policy_hash(policy, targets), tuple(hashes)),
        source=policy.source,
        compared=True,
        server_version=_one_version(version),
        labels=tuple(range(len(operations))),
        instances=tuple(instances) if several else (),
    )


def _one_version(version: str | None | Mapping[str, str | None]) -> str | None:
    """The plan's server version: the one server's, or the instances' when they all run the same."""
    if not isinstance(version, Mapping):
        return version
    found = set(version.values())
    return found.pop() if len(found) == 1 else None


def _update(ref: RowRef, rule: Rule, row: Mapping[str, Any], version: str | None) -> tuple[Operation, dict]:
    wanted = dict(rule.settings)
    for name, minimum in rule.minimums.items():
        current = row.get(name)
        # 0 is "no limit", more than any minimum; a rule's own value for the setting is what it wants
        if name not in wanted and current is not None and 0 < float(current) < minimum:
            wanted[name] = int(minimum) if float(minimum).is_integer() else minimum
    # The server reports only s3_storage_id, so the uuid cannot be compared: it is sent only with save_s3 = true
    # (which the server demands every time), or to give a configuration with S3 on and no storage its storage.
    storage = wanted.pop(_S3, None)
    turned_on = wanted.get("save_s3") is True and row.get("save_s3") is not True
    no_storage = wanted.get("save_s3") is True and row.get("save_s3") is True and row.get("s3_storage_id") is None
    if storage is not None and (turned_on or no_storage):
        wanted[_S3] = storage
    operation = operation_for(ref, wanted, [], {(ref.database_uuid, ref.backup_uuid): row}, "", version)
    if no_storage and storage is not None and not operation.errors and "save_s3" not in operation.payload:
        # S3 on with no storage: the storage goes with save_s3 = true, as the server wants them together
        operation = operation.with_(
            payload={"save_s3": True, **operation.payload},
            before={"save_s3": row.get("save_s3"), **operation.before},
            diff=("save_s3: true → true (sent with the storage)", *operation.diff),
        )
    return operation, {**rule.settings, "_minimums": dict(rule.minimums)}


def _create(ref: RowRef, rule: Rule, known: list[str], version: str | None) -> tuple[Operation, dict]:
    settings = dict(rule.settings)
    if "frequency" not in settings:
        error = (
            f"rule {rule.id!r} has no frequency: a backup configuration cannot be created without one (the server "
            "requires it); add frequency to the rule"
        )
        return Operation(ref, Action.INVALID, errors=(error,)), settings
    settings.setdefault("save_s3", False)  # a POST without save_s3 makes it true, with no storage
    settings.setdefault("enabled", True)
    if settings["save_s3"] is not True:
        settings.pop(_S3, None)
    too_new = [problem for name in settings if (problem := BY_NAME[name].missing_on(version))]
    if too_new:
        return Operation(ref, Action.INVALID, errors=tuple(too_new)), settings
    payload = {name: BY_NAME[name].to_json(value) for name, value in settings.items()}
    diff = tuple(f"{name}: → {_show(value)}" for name, value in payload.items())
    return Operation(ref, Action.CREATE, payload, {KNOWN: list(known)}, diff=diff), settings


def _policy_hash(policy: Policy, targets: list[str]) -> str:
    rules = [
        {
            "id": rule.id,
            "match": dict(rule.match),
            "settings": dict(rule.settings),
            "minimums": dict(rule.minimums),
            "ignore": rule.ignore,
        }
        for rule in policy.rules
    ]
    text = json.dumps({"rules": rules, "databases": sorted(set(targets))}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _empty(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value) or value == ""
