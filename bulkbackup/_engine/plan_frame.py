"""A plan frame and its `Plan`: the frame rendered once from the plan (carrying it in `attrs["plan"]`), and a plan
frame turned back into its plan — the one it carries (for the rows a user kept), or, for a frame read back from a
CSV file, operations read from its cells (the JSON parsed once, at this edge).
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from dataclasses import replace

import pandas as pd

from bulkbackup._core.columns import INSTANCE, NAME_COLUMNS, PLAN_COLUMNS
from bulkbackup._core.errors import InputError, printable
from bulkbackup._core.fields import BY_NAME, CLEAR
from bulkbackup._core.operations import Operation, Plan, RowRef
from bulkbackup._core.statuses import Action
from bulkbackup._display.styling import ATTR
from bulkbackup._engine import storage_ids
from bulkbackup._engine.identity import identity_of, row_hash
from bulkbackup._engine.results import CellTexts
from bulkbackup._input.changes import FRAME_SOURCE

PLAN_ATTR = "plan"
"""`frame.attrs[PLAN_ATTR]`: the `Plan` a plan frame was rendered from."""


# --- the frame: rendered once from the plan ----------------------------------------------------------------------


def render(planned: Plan) -> pd.DataFrame:
    """The plan frame of `planned` (PLAN_COLUMNS; payload and before as JSON text), carrying it in attrs["plan"]."""
    operations = planned.operations
    # What a bulk file's repeated rows share (one payload, one diff) is written once and shared by their cells.
    cells = CellTexts()
    text, joined = cells.json, cells.joined

    columns: dict[str, list] = {"line": [op.ref.line for op in operations]}
    if planned.instances:
        columns[INSTANCE] = [op.ref.instance for op in operations]
    columns |= {
        "database_uuid": [op.ref.database_uuid for op in operations],
        "backup_uuid": [op.ref.backup_uuid for op in operations],
    }
    if planned.compared:
        columns["database_name"] = [op.ref.database_name for op in operations]
        columns["database_type"] = [op.ref.database_type for op in operations]
    columns["action"] = [op.action.value for op in operations]
    columns["errors"] = [joined(op.errors) for op in operations]
    columns["diff"] = ["" if op.errors else joined(op.diff) for op in operations]
    columns["payload"] = ["" if op.errors else text(op.payload) for op in operations]
    columns["before"] = ["" if op.errors else text(op.before) for op in operations]
    index = pd.Index(planned.labels) if len(planned.labels) == len(operations) else None
    order = [c for c in PLAN_COLUMNS if c in columns or c not in NAME_COLUMNS]
    if planned.instances:
        order.insert(1, INSTANCE)
    result = pd.DataFrame(columns, index=index, columns=order)
    result["line"] = result["line"].astype("Int64")
    result.attrs["source"] = planned.source
    result.attrs["compared"] = planned.compared
    result.attrs["diff"] = planned.diff
    result.attrs["server_version"] = planned.server_version
    result.attrs["warnings"] = list(storage_ids.uncompared(operations))
    result.attrs[ATTR] = "plan"  # displayed styled in a notebook (styling.install)
    result.attrs[PLAN_ATTR] = planned
    return result


def payload_text(operation: Operation) -> str:
    """The payload cell of an operation's plan row."""
    return "" if operation.errors or not operation.payload else json.dumps(dict(operation.payload))


# --- a plan frame back to its plan --------------------------------------------------------------------------------


def selected(frame: pd.DataFrame, planned: Plan) -> Plan | None:
    """The plan's operations for the frame's rows, in its order; None when the frame is not (any more) of it."""
    operations = planned.operations
    if len(planned.labels) != len(operations):
        return None
    if frame.index.equals(pd.Index(planned.labels)):
        chosen = list(range(len(operations)))
    else:
        by_label: dict[Hashable, list[int]] = {}
        for position, label in enumerate(planned.labels):
            by_label.setdefault(label, []).append(position)
        chosen = []
        for label in frame.index:
            left = by_label.get(label)
            if not left:
                return None
            chosen.append(left.pop(0))
    # An edited action or payload cell is what the user now asks for: then the frame is read as it is.
    actions, payloads = frame["action"].tolist(), frame["payload"].tolist()
    for k, position in enumerate(chosen):
        op = operations[position]
        if str(actions[k]) != op.action.value or _cell_text(payloads[k]) != payload_text(op):
            return None
    if len(chosen) == len(operations):
        return planned
    return replace(
        planned,
        operations=tuple(operations[p] for p in chosen),
        identity=identity_of([planned.identity.row_hashes[p] for p in chosen]),
        labels=tuple(planned.labels[p] for p in chosen),
    )


def from_frame(frame: pd.DataFrame) -> Plan:
    """A plan frame without its `Plan` (read back from a CSV file): each row an operation, as the frame says."""
    source = frame.attrs.get("source") or FRAME_SOURCE
    records = frame.to_dict("records")
    operations, hashes = [], []
    for position, (label, record) in enumerate(zip(frame.index, records, strict=True)):
        line = record.get("line")
        line = None if missing(line) else int(line)
        where = f"{source}:{line}" if line is not None else f"{source} row {label}"
        try:
            action = Action(str(record.get("action")).strip())
        except ValueError:
            raise InputError(
                f"{where}: action {printable(str(record.get('action')))!r} is not one of "
                f"{', '.join(a.value for a in Action)}"
            ) from None
        payload = _json_cell(record.get("payload"), "payload", where)
        before = _json_cell(record.get("before"), "before", where)
        errors = _cell_text(record.get("errors"))
        errors_tuple = (errors,) if errors else (("invalid row",) if action is Action.INVALID else ())
        diff = _cell_text(record.get("diff"))
        ref = RowRef(
            position,
            label,
            line,
            _cell_text(record.get("database_uuid")),
            _cell_text(record.get("backup_uuid")),
            _optional_text(record.get("database_name")),
            _optional_text(record.get("database_type")),
            _cell_text(record.get(INSTANCE)) if INSTANCE in record else None,
        )
        operations.append(
            Operation(
                ref,
                action,
                {} if errors_tuple else payload,
                {} if errors_tuple else before,
                errors=errors_tuple,
                diff=(diff,) if diff else (),
            )
        )
        # What the row asks for: its payload as wanted values (a JSON null clears), or its errors.
        asked: dict[str, object] = {"database_uuid": ref.database_uuid, "backup_uuid": ref.backup_uuid}
        if ref.instance is not None:
            asked[INSTANCE] = ref.instance
        if errors_tuple:
            asked["errors"] = list(errors_tuple)
        else:
            asked.update({name: CLEAR if value is None else value for name, value in payload.items()})
        hashes.append(row_hash(asked))
    compared = frame.attrs.get("compared")
    if compared is None:
        compared = any(op.before for op in operations)
    return Plan(
        tuple(operations),
        identity_of(hashes),
        source=frame.attrs.get("source"),
        compared=bool(compared),
        diff=frame.attrs.get("diff", True) is not False,
        server_version=frame.attrs.get("server_version"),
        labels=tuple(frame.index),
        instances=tuple(dict.fromkeys(op.ref.instance for op in operations if op.ref.instance))
        if INSTANCE in frame.columns
        else (),
    )


def _json_cell(value: object, column: str, where: str) -> dict:
    text = _cell_text(value)
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or any(name not in BY_NAME and name != "s3_storage_id" for name in parsed):
        raise InputError(f"{where}: column {column}: {printable(text[:80])!r} is not a payload of settings (JSON)")
    return parsed


def _cell_text(value: object) -> str:
    return "" if missing(value) else str(value)


def _optional_text(value: object) -> str | None:
    return None if missing(value) or value == "" else str(value)


def missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
