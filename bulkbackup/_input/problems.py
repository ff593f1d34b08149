"""Telling a problem repeated down a column once: "max_storage_s3: 36 rows use a decimal comma", with the fix.

The rows keep their own messages (each row of a plan or results frame says why it is invalid); this is for what
a person reads: `grouped(messages)` replaces the messages of one column that share a kind, when there are
`least` or more of them, by one line in the place of the first.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from bulkbackup._input.cells import CellProblem

_SHOWN_ROWS = 3  # rows named in a grouped line; the rest counted


def grouped(messages: Iterable[str], *, least: int = 3) -> list[str]:
    """`messages` in order, the `CellProblem`s that `least` or more rows of one column share said once."""
    messages = list(messages)
    groups: dict[tuple[str, str], list[CellProblem]] = {}
    for message in messages:
        if isinstance(message, CellProblem):
            groups.setdefault((message.column, message.kind), []).append(message)
    said: set[tuple[str, str]] = set()
    out: list[str] = []
    for message in messages:
        key = (message.column, message.kind) if isinstance(message, CellProblem) else None
        if key is None or len(groups[key]) < least:
            out.append(message)
        elif key not in said:
            said.add(key)
            out.append(_line(groups[key]))
    return out


def _line(found: list[CellProblem]) -> str:
    first = found[0]
    refs = [p.ref for p in found[:_SHOWN_ROWS] if p.ref]
    rest = len(found) - len(refs)
    if refs and all(ref.startswith("line ") for ref in refs):
        refs = [ref.removeprefix("line ") for ref in refs]
        refs[0] = f"line{'s' * (len(found) > 1)} {refs[0]}"
    where = ", ".join(refs) + (f" and {rest:,} more" if rest else "")
    head = f"{first.source}: " if first.source else ""
    example = f", e.g. {first.value}" if first.value else ""
    fix = f": {first.fix}" if first.fix else ""
    return f"{head}column '{first.column}': {len(found):,} rows {first.kind} ({where}{example}){fix}"


def column_groups(changes: pd.DataFrame, *, least: int = 3) -> tuple[list[str], set[int]]:
    """(one line per problem that `least` or more rows of a column share, the positions of the rows whose every
    problem those lines say). A listing of rows (the CLI's plan) prints the lines and leaves those rows out."""
    if "errors" not in changes.columns:
        return [], set()
    rows = [found if isinstance(found, list) else [] for found in changes["errors"].tolist()]
    groups: dict[tuple[str, str], list[CellProblem]] = {}  # in the order of their first row
    for found in rows:
        for message in found:
            if isinstance(message, CellProblem):
                groups.setdefault((message.column, message.kind), []).append(message)
    shared = {key for key, found in groups.items() if len(found) >= least}
    lines = [_line(found) for key, found in groups.items() if key in shared]
    covered = {
        i
        for i, found in enumerate(rows)
        if found and all(isinstance(m, CellProblem) and (m.column, m.kind) in shared for m in found)
    }
    return lines, covered


def summary(changes: pd.DataFrame, *, least: int = 3) -> list[str]:
    """The problems of a normalised changes frame (`read_changes`), those repeated down a column said once."""
    if "errors" not in changes.columns:
        return []
    return grouped((m for found in changes["errors"] if isinstance(found, list) for m in found), least=least)
