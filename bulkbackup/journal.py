"""The journal of a run: JSON lines written before each request goes out, so a killed run can be resumed and undone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from .changes import row_changes


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
