"""What a run was asked for, as a journal checks it: the hash of the normalised changes and one per row.

A private copy: the engine moves `hash_rows` to `_engine/identity.py`, where the plan's `Identity` is made. Until
that lands, the journal (and `settled_by` given changes instead of a `Plan`) uses this one. Both must hash alike,
or every journal written before the move would be refused as "different changes".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from bulkbackup._core.operations import Identity, Operation, Plan, RowRef
from bulkbackup._core.statuses import Action
from bulkbackup._input.changes import read_changes, row_changes


def _plain(value: object) -> object:
    """A JSON-able form of a cell that is the same for a CSV's text and a DataFrame's numpy scalars."""
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict | str):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def row_fingerprint(row: Mapping) -> dict:
    """What a normalised changes row asks for: its keys, its errors, and its non-empty settings."""
    return {
        "database_uuid": row.get("database_uuid"),
        "backup_uuid": row.get("backup_uuid"),
        "errors": sorted(str(e) for e in row.get("errors") or []),
        "changes": {k: _plain(v) for k, v in sorted(row_changes(row).items())},
    }


def hash_rows(rows: Sequence[Mapping]) -> tuple[str, list[str]]:
    """(sha256 of the normalised changes, a short hash of each row): what a journal checks on resume."""
    whole = hashlib.sha256()
    per_row = []
    for row in rows:
        text = json.dumps(row_fingerprint(row), sort_keys=True, default=str, separators=(",", ":"))
        whole.update(text.encode() + b"\n")
        per_row.append(hashlib.sha256(text.encode()).hexdigest()[:16])
    return whole.hexdigest(), per_row


def skeleton(rows: Sequence[Mapping], labels: Sequence[Hashable], source: str | None) -> Plan:
    """A `Plan` with what a journal needs of it (each row's target and line, the identity), for callers that
    still hand over changes rows instead of a plan. Its operations are placeholders: they send nothing."""
    changes_hash, row_hashes = hash_rows(rows)
    operations = tuple(
        Operation(
            RowRef(
                position=position,
                label=label,
                line=_line(row.get("line")),
                database_uuid=row.get("database_uuid"),
                backup_uuid=row.get("backup_uuid"),
            ),
            Action.UNCHANGED,
        )
        for position, (label, row) in enumerate(zip(labels, rows, strict=True))
    )
    return Plan(operations, Identity(changes_hash, tuple(row_hashes)), source=source, labels=tuple(labels))


def skeleton_of(changes: Any) -> Plan:
    """`skeleton` of anything `read_changes` takes (the CLI's `settled_by(journal, client, changes)`)."""
    frame = read_changes(changes)
    return skeleton(frame.to_dict("records"), list(frame.index), frame.attrs.get("source"))


def _line(value: object) -> int | None:
    try:
        return None if value is None or value != value else int(value)  # NaN / NA: no line
    except (TypeError, ValueError):
        return None
