"""What bulkbackup itself set on an instance, so that an export edited twice is not a conflict with its own first run.

An edited export is applied, then the same cell is edited again and applied: the server moved since the export —
but to the value this machine's bulkbackup sent and verified, not because of someone else. `record` keeps, per
instance in the cache directory (beside `storage_ids`' pairs), the last verified value of each field bulkbackup
sent to each configuration; `conflicts.settle` does not count a server value that is one of those as another
person's work. Nothing secret is kept; reading or writing never fails a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from bulkbackup._core.fields import BY_NAME
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import Status
from bulkbackup._engine.storage_ids import cache_dir, write_cache

Key = tuple[str, str]


def _file(endpoint: str) -> Path:
    return cache_dir() / f"sent-{hashlib.sha256(endpoint.encode()).hexdigest()[:16]}.json"


def last_sent(endpoint: str) -> dict[Key, dict[str, object]]:
    """(database uuid, backup uuid) → {field: the last value bulkbackup set and verified}; {} when none."""
    try:
        data = json.loads(_file(endpoint).read_text(encoding="utf-8"))
        if data.get("endpoint") != endpoint:
            return {}
        return {tuple(key.split("/", 1)): dict(values) for key, values in data.get("rows", {}).items()}  # type: ignore[misc]
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def record(
    endpoint: str, operations: Sequence[Operation], outcomes: Sequence[Outcome], current: Mapping | None
) -> None:
    """The values of every updated row as this machine set them: after verification, those the server now holds
    (`current`, its configurations read back); without a read (`current` None), those the server accepted."""
    found: dict[Key, dict[str, object]] = {}
    for op, outcome in zip(operations, outcomes, strict=True):
        config = current.get(op.key) if current is not None else {}
        if outcome.status != Status.UPDATED or config is None:
            continue
        held = {
            name: value
            for name, value in op.payload.items()
            if name in BY_NAME
            and BY_NAME[name].comparable
            and (current is None or BY_NAME[name].same(value, config.get(name)))
        }
        if held:
            found[op.key] = held
    if not found:
        return
    rows = last_sent(endpoint)
    for key, values in found.items():
        rows.setdefault(key, {}).update(values)
    try:
        text = json.dumps({"endpoint": endpoint, "rows": {f"{d}/{b}": v for (d, b), v in rows.items()}})
    except (TypeError, ValueError):
        return  # a value JSON cannot hold: nothing remembered, nothing failed
    write_cache(_file(endpoint), text)
