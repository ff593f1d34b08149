"""Undo a run: a changes frame that puts back the previous value of every field a run changed (or may have).

    undo = bb.undo("changes.results.csv")      # or a results frame, or a journal — even of a killed run
    bb.apply(undo, client)

Which rows count: every row whose request went out or may have — `updated`, and also `unknown`, `failed` after a
sent attempt and (in a journal) an intent without an outcome, since putting back a value that never changed is
harmless and the plan of the undo run sends only what differs. A `rejected` row changed nothing.

What cannot be undone is said in `attrs["warnings"]`, never skipped silently: a started backup, and an S3 storage
reference (the server reports only its numeric `s3_storage_id`; pass `s3_uuids={id: uuid}` to map it).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from bulkbackup._core.errors import InputError
from bulkbackup._core.fields import ALL_FIELDS, BACKUP_NOW, BY_NAME, CLEAR, KEY_COLUMNS
from bulkbackup._core.statuses import Status
from bulkbackup._engine.journal import read_journal

_S3 = "s3_storage_uuid"


def undo(source: Any, *, s3_uuids: Mapping[int, str] | None = None) -> pd.DataFrame:
    """The changes that restore what `source` (a results frame, a results CSV path, or a journal path) changed."""
    if isinstance(source, pd.DataFrame):
        changed, where = _from_results(source), "results"
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise InputError("no such file", file=path)
        if _is_journal(path):
            changed, where = _from_journal(path), path
        else:
            changed, where = _from_results(_read_results_csv(path)), path
    else:
        raise InputError(f"undo() takes a results frame, a results CSV or a journal path, not {type(source).__name__}")
    rows, warnings = [], list(changed.warnings)
    for item in changed.rows:
        row = {"database_uuid": item["database_uuid"], "backup_uuid": item["backup_uuid"]}
        label = item["label"]
        for name, value in item["payload"].items():
            if name == BACKUP_NOW.name:
                if value:
                    warnings.append(f"{label}: a started backup cannot be undone")
                continue
            before = item["before"]
            if name == _S3:
                storage_id = before.get("s3_storage_id")
                if s3_uuids is not None and storage_id in s3_uuids:
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
        if len(row) > 2:
            rows.append(row)
    columns = [*KEY_COLUMNS, *(f.name for f in ALL_FIELDS if f is not BACKUP_NOW and any(f.name in r for r in rows))]
    frame = pd.DataFrame(rows, columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    frame.attrs["warnings"] = warnings
    frame.attrs["source"] = where
    return frame


class _Changed:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.warnings: list[str] = []


def _from_results(results: pd.DataFrame) -> _Changed:
    missing = {"status", "payload", "before", *KEY_COLUMNS} - set(results.columns)
    if missing:
        raise InputError(f"not a results frame: no {', '.join(sorted(missing))} column")
    changed = _Changed()
    for label, record in zip(results.index, results.to_dict("records"), strict=True):
        status = str(record["status"])
        attempts = record.get("attempts")
        may_have = status in (Status.UPDATED, Status.TRIGGERED, Status.UNKNOWN) or (
            status == Status.FAILED and not _missing(attempts) and int(attempts) > 0
        )
        if not may_have or _missing(record["payload"]) or not str(record["payload"]).strip():
            continue
        line = record.get("line")
        changed.rows.append(
            {
                "database_uuid": record["database_uuid"],
                "backup_uuid": record["backup_uuid"],
                "payload": json.loads(record["payload"]),
                "before": json.loads(record["before"]) if not _missing(record["before"]) and record["before"] else {},
                "label": _label(line, label, record["backup_uuid"], status),
            }
        )
    return changed


def _from_journal(path: str) -> _Changed:
    state = read_journal(path)
    changed = _Changed()
    changed.warnings.extend(state.warnings)
    for (database_uuid, backup_uuid), history in state.rows.items():
        payload = dict(history.changed)
        if history.backup_started:
            payload[BACKUP_NOW.name] = True
        if not payload:
            continue
        state_text = "may have been sent" if history.pending else history.status
        changed.rows.append(
            {
                "database_uuid": database_uuid,
                "backup_uuid": backup_uuid,
                "payload": payload,
                "before": history.before,
                "label": f"{backup_uuid} ({state_text})",
            }
        )
    return changed


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


def _label(line: object, label: object, backup_uuid: str, status: str) -> str:
    where = f"line {line}" if not _missing(line) else f"row {label}"
    return f"{where} ({backup_uuid}, {status})"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA
