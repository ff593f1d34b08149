"""Undo a run: a changes frame that puts back the previous value of every field a run changed (or may have).

    undo = bb.undo("changes.results.csv")      # or a results frame, or a journal — even of a killed run
    bb.apply(undo, client)

Which rows count: every row whose request went out or may have — `updated`, and also `unknown`, `failed` after a
sent attempt and (in a journal) an intent without an outcome, since putting back a value that never changed is
harmless and the plan of the undo run sends only what differs. A `rejected` row changed nothing.

What cannot be undone is said in `attrs["warnings"]`, never skipped silently: a started backup, and an S3 storage
reference (the server reports only its numeric `s3_storage_id`; pass `s3_uuids={id: uuid}` to map it).

A created configuration (`bb.enforce`) is undone by deleting it. A changes frame cannot say "delete", so when the
run created configurations, `undo` returns a plan frame instead: `update` rows restoring values and `delete` rows,
which `apply` sends only with `allow_delete=True` (Coolify's DELETE also deletes the configuration's backup files).

A run over several Coolify instances (a results frame or CSV with an `instance` column, a journal of several) is
undone over the same instances: the undo has the `instance` column (first: an undo has no `line`), every row its
instance, so `bb.apply(undo, clients)` sends each row back to the server it came from. Rows of two instances that
share uuids stay two rows.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import InputError
from bulkbackup._core.fields import ALL_FIELDS, BACKUP_NOW, BY_NAME, CLEAR, KEY_COLUMNS
from bulkbackup._core.operations import Operation, Plan, RowRef
from bulkbackup._core.statuses import Action, Status
from bulkbackup._engine.deletes import WHAT_GOES
from bulkbackup._engine.identity import identity_of, row_hash, row_hash_of
from bulkbackup._engine.journal_read import read_journal
from bulkbackup._engine.plan import render

_S3 = "s3_storage_uuid"


@dataclass(frozen=True)
class Done:
    """One row of a run's history: the operation that went out (or may have), and how messages name it."""

    operation: Operation
    label: str


def undo(source: Any, *, s3_uuids: Mapping[int, str] | None = None) -> pd.DataFrame:
    """The changes that restore what `source` (a results frame, a results CSV path, or a journal path) changed."""
    warnings: list[str] = []
    if isinstance(source, pd.DataFrame):
        done, where, instances = history_of_results(source, warnings), "results", _instances_of(source)
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise InputError("no such file", file=path)
        if _is_journal(path):
            (done, warnings, instances), where = history_of_journal(path), path
        else:
            results = _read_results_csv(path)
            done, where, instances = history_of_results(results, warnings), path, _instances_of(results)
    else:
        raise InputError(f"undo() takes a results frame, a results CSV or a journal path, not {type(source).__name__}")
    keys = (INSTANCE, *KEY_COLUMNS) if instances is not None else KEY_COLUMNS
    rows = []
    removals: list[Operation] = []
    for item in done:
        if item.operation.undo_action is Action.DELETE:
            removals.append(item.operation)
            continue
        row = _restore(item, s3_uuids, warnings, instances is not None)
        if row is not None:
            rows.append(row)
    if removals:
        return _with_deletes(rows, removals, warnings, where, instances)
    columns = [*keys, *(f.name for f in ALL_FIELDS if f is not BACKUP_NOW and any(f.name in r for r in rows))]
    frame = pd.DataFrame(rows, columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    frame.attrs["warnings"] = warnings
    frame.attrs["source"] = where
    return frame


def _instances_of(results: pd.DataFrame) -> tuple[str, ...] | None:
    """The instances a results frame names, in the order they first appear (None: no `instance` column)."""
    if INSTANCE not in results.columns:
        return None
    return tuple(dict.fromkeys(str(v) for v in results[INSTANCE] if not _missing(v) and str(v) != ""))


def _restore(done: Done, s3_uuids: Mapping[int, str] | None, warnings: list[str], several: bool = False) -> dict | None:
    """The changes row that undoes one operation (None when nothing can be put back); what cannot be, is said.
    `several`: the row names its instance (the run was over several)."""
    operation, label = done.operation, done.label
    if operation.starts_backup:
        warnings.append(f"{label}: a started backup cannot be undone")
    undo_action = operation.undo_action
    if undo_action is None:
        return None
    if undo_action is not Action.UPDATE:  # undoing a create (a delete) comes with creating configurations
        warnings.append(f"{label}: undoing a {operation.action} is not supported yet")
        return None
    row: dict[str, object] = {INSTANCE: operation.ref.instance} if several else {}
    row.update(database_uuid=operation.ref.database_uuid, backup_uuid=operation.ref.backup_uuid)
    keys = len(row)
    before = operation.before
    for name in operation.payload:
        if name == BACKUP_NOW.name:
            continue
        if name == _S3:
            storage_id = before.get("s3_storage_id")
            if before.get(_S3):  # the storage it had was known when it was replaced (storage_ids)
                row[_S3] = before[_S3]
            elif s3_uuids is not None and storage_id in s3_uuids:
                row[_S3] = s3_uuids[storage_id]
            else:
                warnings.append(
                    f"{label}: s3_storage_uuid cannot be restored: the server reported only s3_storage_id "
                    f"{storage_id} and no endpoint maps it to a uuid; set it by hand or pass s3_uuids={{id: uuid}}"
                )
            continue
        if name not in before:
            warnings.append(
                f"{label}: the previous value of {name} is unknown (it was planned without reading the server)"
            )
            continue
        previous = before[name]
        if previous is None:
            if not BY_NAME[name].clearable:
                warnings.append(f"{label}: {name} was empty before and cannot be cleared again")
                continue
            previous = CLEAR
        row[name] = previous
    return row if len(row) > keys else None


def _with_deletes(
    rows: list[dict], removals: list[Operation], warnings: list[str], where: str, instances: tuple[str, ...] | None
) -> pd.DataFrame:
    """The undo as a plan frame: the restoring rows as `update` operations (rebased on the server when applied) and
    one `delete` per created configuration; of several instances, each operation names its instance."""
    operations, hashes = [], []
    keys = (INSTANCE, *KEY_COLUMNS)
    for row in rows:
        at = len(operations)
        ref = RowRef(at, at, None, row["database_uuid"], row["backup_uuid"], instance=row.get(INSTANCE))
        payload = {k: (None if v == CLEAR else v) for k, v in row.items() if k not in keys}
        operations.append(Operation(ref, Action.UPDATE, payload, diff=tuple(f"{k}: → {v}" for k, v in payload.items())))
        hashes.append(row_hash(row))
    for created in removals:
        at = len(operations)
        ref = RowRef(at, at, None, created.ref.database_uuid, created.ref.backup_uuid, instance=created.ref.instance)
        operations.append(Operation(ref, Action.DELETE, diff=(f"delete: {WHAT_GOES}",)))
        hashes.append(row_hash_of(ref.database_uuid, ref.backup_uuid, (), '{"delete":true}', ref.instance))
    planned = Plan(
        tuple(operations),
        identity_of(hashes),
        source=where,
        labels=tuple(range(len(operations))),
        instances=instances or (),
    )
    frame = render(planned)
    frame.attrs["warnings"] = warnings
    return frame


def _operation(
    position: int,
    label: Any,
    line: Any,
    key: tuple[str, str],
    payload: Mapping,
    before: Mapping,
    created=False,
    instance: str | None = None,
):
    only_backup = list(payload) == [BACKUP_NOW.name]
    action = Action.CREATE if created else Action.TRIGGER if only_backup else Action.UPDATE
    return Operation(
        RowRef(position, label, None if _missing(line) else int(line), key[0], key[1], instance=instance),
        action,
        payload=payload,
        before=before,
    )


def _no_configuration(record: Mapping) -> bool:
    """A results row without a configuration: a create that did not end `created` (nothing to put back)."""
    return _missing(record.get("backup_uuid")) or record.get("backup_uuid") == ""


def history_of_results(results: pd.DataFrame, warnings: list[str] | None = None) -> list[Done]:
    """The operations of a results frame that went out or may have: `updated`, `triggered`, `unknown`, and
    `failed` after a sent attempt (putting back a value that never changed is harmless)."""
    missing = {"status", "payload", "before", *KEY_COLUMNS} - set(results.columns)
    if missing:
        raise InputError(f"not a results frame: no {', '.join(sorted(missing))} column")
    warnings = [] if warnings is None else warnings
    done = []
    for position, (label, record) in enumerate(zip(results.index, results.to_dict("records"), strict=True)):
        instance = record.get(INSTANCE)
        instance = None if _missing(instance) or instance == "" else str(instance)
        status = str(record["status"])
        attempts = record.get("attempts")
        may_have = status in (Status.UPDATED, Status.TRIGGERED, Status.UNKNOWN) or (
            status == Status.FAILED and not _missing(attempts) and int(attempts) > 0
        )
        if status == Status.CREATED:
            key = (record["database_uuid"], record["backup_uuid"])
            operation = _operation(position, label, record.get("line"), key, {}, {}, created=True, instance=instance)
            done.append(Done(operation, _label(record.get("line"), label, key[1], status, instance)))
            continue
        if _no_configuration(record):
            if status != Status.UNKNOWN:
                continue
            warnings.append(
                f"{_label(record.get('line'), label, record['database_uuid'], status, instance)}: a create of unknown "
                f"outcome may have made a configuration on database {record['database_uuid']}: check it (GET "
                "/api/v1/databases), or resume the run with its journal, which adopts it"
            )
            continue
        if not may_have or _missing(record["payload"]) or not str(record["payload"]).strip():
            continue
        payload = json.loads(record["payload"])
        before = json.loads(record["before"]) if not _missing(record["before"]) and record["before"] else {}
        key = (record["database_uuid"], record["backup_uuid"])
        operation = _operation(position, label, record.get("line"), key, payload, before, instance=instance)
        done.append(Done(operation, _label(record.get("line"), label, key[1], status, instance)))
    return done


def history_of_journal(path: str) -> tuple[list[Done], list[str], tuple[str, ...] | None]:
    """The operations a journal's runs sent or may have sent (an intent without outcome counts), with the values
    they replaced as its first intent found them; the journal's warnings (a torn last line); and the instances of
    a journal of several (in its header's order), None for a journal of one instance."""
    state = read_journal(path)  # a damaged journal is a ConfigError naming file and line, before anything else
    done = []
    warnings: list[str] = []
    for position, ((instance, database_uuid, backup_uuid), history) in enumerate(state.rows.items()):
        on = f"{instance}: " if instance is not None else ""
        if history.action == "create":
            if history.created:
                key = (database_uuid, history.created)
                operation = _operation(position, history.created, None, key, {}, {}, created=True, instance=instance)
                done.append(Done(operation, f"{on}{history.created}"))
            elif history.pending or history.status == Status.UNKNOWN:
                warnings.append(
                    f"{on}a create on database {database_uuid} "
                    f"({'may have been sent' if history.pending else 'unknown'}) may have made a configuration: "
                    "check it, or resume the run with this journal, which adopts it"
                )
            continue
        if history.action != "update":
            continue
        payload = dict(history.changed)
        if history.backup_started:
            payload[BACKUP_NOW.name] = True
        if not payload:
            continue
        state_text = "may have been sent" if history.pending else history.status
        key = (database_uuid, backup_uuid)
        operation = _operation(position, backup_uuid, None, key, payload, history.before, instance=instance)
        done.append(Done(operation, f"{on}{backup_uuid} ({state_text})"))
    names = state.instances or {row.instance: None for row in state.rows.values() if row.instance is not None}
    return done, [*state.warnings, *warnings], tuple(names) if names else None


def _is_journal(path: str) -> bool:
    with open(path, "rb") as f:
        start = f.read(64).lstrip()
    return start.startswith(b'{"record"')


def _read_results_csv(path: str) -> pd.DataFrame:
    # bulkbackup writes commas; a spreadsheet may have saved it again with semicolons or tabs.
    problem: object = "no status, payload and before columns"
    for sep in (",", ";", "\t"):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
        except (ValueError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            problem = error
            continue
        if {"status", "payload", "before"} <= set(frame.columns):
            return frame.replace({"": None})
        problem = "no status, payload and before columns"
    raise InputError(f"not a readable results CSV: {problem}", file=path)


def _label(line: object, label: object, backup_uuid: str, status: str, instance: str | None = None) -> str:
    where = f"line {line}" if not _missing(line) else f"row {label}"
    on = f"{instance}: " if instance is not None else ""
    return f"{where} ({on}{backup_uuid}, {status})"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA
