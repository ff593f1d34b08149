"""The results frame: one row per input row saying exactly what happened to it, built once from the run's
operations and their outcomes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import pandas as pd

from bulkbackup._core.columns import INSTANCE, RESULTS_COLUMNS
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import STATUSES, SUCCESS
from bulkbackup._display.styling import ATTR, RunSummary


class CellTexts:
    """The text cells of a plan or results frame — a mapping as JSON (the one edge where JSON is written), a tuple
    of messages joined — each written once per distinct object: a bulk file's repeated rows share one payload."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}
        self._keep: list[object] = []  # the objects whose id is a key stay alive while this writer is

    def json(self, mapping: Mapping) -> str:
        found = self._texts.get(id(mapping))
        if found is None:
            found = self._texts[id(mapping)] = json.dumps(dict(mapping)) if mapping else ""
            self._keep.append(mapping)
        return found

    def joined(self, parts: tuple[str, ...]) -> str:
        found = self._texts.get(id(parts))
        if found is None:
            found = self._texts[id(parts)] = "; ".join(parts)
            self._keep.append(parts)
        return found


def make_results(
    operations: Sequence[Operation], outcomes: Sequence[Outcome], labels: Sequence[Hashable]
) -> pd.DataFrame:
    """The results frame of a run: row i is `operations[i]` (its payload as sent, and the `before` it replaced, as
    JSON text) with `outcomes[i]`; the operation's notes follow the outcome's message."""
    cells = CellTexts()  # shared payloads and errors are written once
    text, joined = cells.json, cells.joined

    pairs = list(zip(operations, outcomes, strict=True))
    several = any(op.ref.instance is not None for op in operations)  # a run over several instances
    columns = {"line": [op.ref.line for op, _ in pairs]}
    if several:
        columns[INSTANCE] = [op.ref.instance for op, _ in pairs]
    columns |= {
        "database_uuid": [op.ref.database_uuid for op, _ in pairs],
        "backup_uuid": [out.backup_uuid or op.ref.backup_uuid for op, out in pairs],
        "status": [str(out.status) for _, out in pairs],  # plain strings: a frame is data, not our enums
        "http_status": [out.http_status for _, out in pairs],
        "message": ["; ".join(m for m in (out.message, *op.notes) if m) for op, out in pairs],
        "errors": [joined(op.errors) for op, _ in pairs],
        "attempts": [out.attempts for _, out in pairs],
        "elapsed_s": [out.elapsed_s for _, out in pairs],
        "payload": ["" if op.errors else text(op.payload) for op, _ in pairs],
        "before": ["" if op.errors else text(op.before) for op, _ in pairs],
        "verified": [out.verified for _, out in pairs],
    }
    order = [RESULTS_COLUMNS[0], *([INSTANCE] if several else []), *RESULTS_COLUMNS[1:]]
    frame = pd.DataFrame(columns, index=pd.Index(list(labels)), columns=order)
    frame.attrs[ATTR] = "results"
    return frame.astype(
        {
            "line": "Int64",
            "http_status": "Int64",
            "attempts": "int64",
            "elapsed_s": "float64",
            "verified": "boolean",
        }
    )


def summary(results: pd.DataFrame) -> RunSummary:
    """Count of rows per status, in STATUSES order, leaving out statuses no row has: a dict, with `.stopped`.

    In a notebook it displays as a small table with the run's stop reason (see `styling.RunSummary`).
    """
    counts = Counter(results["status"])
    return RunSummary.of(results, {str(status): counts[status] for status in STATUSES if counts[status]})


def format_summary(results: pd.DataFrame) -> str:
    parts = [f"{count} {status}" for status, count in summary(results).items()]
    text = ", ".join(parts) if parts else "no rows"
    facts = results.attrs.get("run")
    stopped = getattr(facts, "stopped", None)
    return f"{text} (run stopped: {stopped})" if stopped else text


def all_succeeded(results: pd.DataFrame) -> bool:
    return bool(results["status"].isin(SUCCESS).all())
