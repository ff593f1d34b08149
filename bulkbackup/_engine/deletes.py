"""Deleting a configuration is never silent: a `delete` row goes out only when the caller allowed deletes.

Coolify's DELETE of a backup configuration also deletes that configuration's local backup files on the server
(and its S3 files when `delete_s3` is asked). So `apply` without `allow_delete=True` (`--allow-delete`) turns every
delete row into an `invalid` one saying what would go, and sends the other rows: the project's rule for bad input
(the good rows still go), and the results then list every refused delete, where an error before the run would
hide the updates an undo also holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from bulkbackup._core.operations import Operation
from bulkbackup._core.statuses import Action

WHAT_GOES = (
    "Coolify's DELETE also deletes that configuration's local backup files on the server (and its S3 files with "
    "delete_s3)"
)


def refused(operation: Operation) -> str:
    """Why a delete row was not sent."""
    ref = operation.ref
    return (
        f"delete of backup configuration {ref.backup_uuid} on database {ref.database_uuid} refused: {WHAT_GOES}; "
        "apply with allow_delete=True (--allow-delete) to delete it"
    )


def guard(operations: Sequence[Operation], *, allow_delete: bool) -> list[Operation]:
    """The operations as they may be sent: without `allow_delete`, every delete row is invalid (never sent)."""
    if allow_delete:
        return list(operations)
    return [
        op.with_(action=Action.INVALID, errors=(refused(op),)) if op.action is Action.DELETE and op.sends else op
        for op in operations
    ]


def deletes(operations: Sequence[Operation]) -> list[Operation]:
    """The delete rows that would be sent: what a prompt must list."""
    return [op for op in operations if op.action is Action.DELETE and op.sends]
