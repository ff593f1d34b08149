"""Which instance each row of a changes frame is for: rows are routed by their `instance` cell, never guessed.

Uuids repeat across Coolify instances restored from one backup, so a row goes only to the client its `instance`
names; a row naming no given client (or none at all) is `invalid` and goes nowhere. Without an `instance` column the
rows are one instance's only when one client is given; with several that is a question to the user, not a guess.

`plan.py` reads each instance's server (in parallel) and plans its share of the rows; this module decides the
shares and puts the pieces back together in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from bulkbackup._coolify.clients import Clients
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import ConfigError, printable
from bulkbackup._core.operations import Operation, RowRef
from bulkbackup._core.statuses import Action
from bulkbackup._engine.identity import changes_text
from bulkbackup._input.changes import row_changes

__all__ = ["Routing", "merged", "route", "stray", "unread"]


@dataclass(frozen=True)
class Routing:
    """The row positions each client serves (every client named, in the clients' order), the positions no client
    serves, and every row's instance name."""

    shares: dict[str, list[int]]
    strays: list[int]
    names: list[str]


def route(frame: pd.DataFrame, clients: Clients) -> Routing:
    """The rows of a normalised changes frame by the client that serves them; ConfigError when rows cannot be
    routed at all (several clients and no `instance` column)."""
    if INSTANCE in frame.columns:
        names = [str(n) for n in frame[INSTANCE].tolist()]
    elif len(clients) == 1:
        names = [clients[0].name] * len(frame)
    else:
        raise ConfigError(
            f"these changes have no '{INSTANCE}' column, but {len(clients)} clients were given "
            f"({clients.listed()}): uuids can repeat across instances, so every row must name its instance. Add an "
            f"'{INSTANCE}' column (bb.inventory(clients) and `bulkbackup export` of several contexts write one), or "
            "give the one client these rows are for"
        )
    shares: dict[str, list[int]] = {name: [] for name in clients.names}
    strays: list[int] = []
    for i, name in enumerate(names):
        share = shares.get(name)
        (share if share is not None else strays).append(i)
    return Routing(shares, strays, names)


def stray(frame: pd.DataFrame, i: int, name: str, clients: Clients, place: Callable[[int], str]) -> tuple:
    """(the invalid operation, its identity parts) of row `i`, whose instance no client serves."""
    given = f"given: {clients.listed()}"
    if name:
        problem = f"column {INSTANCE}: {printable(name)!r} — no client serves this instance ({given})"
    else:
        problem = f"column {INSTANCE} is empty: name the instance this row is for ({given})"
    return unsent(frame, i, name, problem, place)


def unread(
    frame: pd.DataFrame, positions: list[int], name: str, error: BaseException, place: Callable[[int], str]
) -> tuple[list[Operation], list[tuple]]:
    """The rows of an instance whose server could not be read for the plan: invalid, saying why, so that the other
    instances' rows still go (a server gone or a token refused is about one instance, not the whole run)."""
    problem = f"instance {printable(name)!r} could not be read, so nothing is planned or sent for it: {error}"
    found = [unsent(frame, i, name, problem, place) for i in positions]
    return [op for op, _ in found], [part for _, part in found]


def unsent(frame: pd.DataFrame, i: int, name: str, problem: str, place: Callable[[int], str]) -> tuple:
    """(the invalid operation, its identity parts) of row `i` of instance `name`, which goes nowhere: `problem`."""
    row = {column: frame.iat[i, k] for k, column in enumerate(frame.columns)}
    line = row.get("line")
    ref = RowRef(
        i,
        frame.index[i],
        None if line is None or line is pd.NA else int(line),
        str(row["database_uuid"]),
        str(row["backup_uuid"]),
        instance=name,
    )
    errors = list(row.get("errors") or [])
    operation = Operation(ref, Action.INVALID, errors=(*errors, f"{place(i)}: {problem}"))
    # The identity is of what the row asks for, not of which clients were given: its own errors only.
    return operation, (ref.database_uuid, ref.backup_uuid, errors, changes_text(row_changes(row)), name)


def merged(size: int, pieces: Iterable[tuple[list[Operation], list[tuple]]]) -> tuple[list[Operation], list[tuple]]:
    """The operations and identity parts of every piece, in input order (each operation knows its position)."""
    operations: list[Operation | None] = [None] * size
    parts: list[tuple | None] = [None] * size
    for piece_operations, piece_parts in pieces:
        for operation, part in zip(piece_operations, piece_parts, strict=True):
            operations[operation.ref.position] = operation
            parts[operation.ref.position] = part
    missing = [i for i, op in enumerate(operations) if op is None]
    if missing:  # every row is in exactly one piece: a hole is this module's bug, never a row silently dropped
        raise AssertionError(f"rows {missing[:5]} were routed nowhere")
    return operations, parts  # type: ignore[return-value]
