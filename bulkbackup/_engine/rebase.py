"""Rebase a planned operation on what the server holds now: the one place that notes a plan gone stale.

`apply` re-reads the server once at the start and passes every planned operation through `rebase`: its `before`
becomes the value actually replaced, fields the server already holds as wanted are dropped, a row with nothing left
becomes unchanged, and when a plan compared with the server saw other values than the server has now, the
operation carries a note saying so (the results show it on the row; the CLI and the run panel report it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bulkbackup._coolify.state import Key
from bulkbackup._core.fields import CLEAR
from bulkbackup._core.operations import Operation
from bulkbackup._core.statuses import Action
from bulkbackup._engine.plan import operation_for

STALE = "the server changed since the plan"
NOT_CREATED = "not created"  # how the note of a create the server made unnecessary starts
KNOWN = "backup_uuids"  # a create's `before`: the database's configurations when planned (_fleet/enforce.KNOWN)
"""How a rebased operation's note starts when the server moved since its plan."""


def rebase(
    operation: Operation,
    current: Mapping[Key, dict] | None,
    *,
    version: str | None = None,
    names: Mapping[Key, tuple[str | None, str | None]] | None = None,
    compared: bool = False,
    source: str | None = None,
    storages: Mapping[int, str] | None = None,
) -> Operation:
    """`operation` as it must be sent to a server holding `current` (None: not read; only the version is checked).

    `compared`: the plan was made against the server, so a different payload or `before` now means the server
    moved since (noted); `storages`: the known s3_storage_id → uuid pairs. Operations that send nothing
    (unchanged, invalid, unsupported: a plan's own verdict) and those that are not settings (create, delete) are
    kept as planned; only their names are filled in.
    """
    if names is not None and operation.ref.database_name is None and operation.key in names:
        name, kind = names[operation.key]
        operation = operation.with_(ref=replace(operation.ref, database_name=name, database_type=kind))
    if operation.action is Action.CREATE and current is not None and not operation.errors:
        return _create_rebased(operation, current)
    if operation.action not in (Action.UPDATE, Action.TRIGGER) or operation.errors:
        return operation
    wanted = {name: CLEAR if value is None else value for name, value in operation.payload.items()}
    now = operation_for(operation.ref, wanted, [], current, _where(source, operation), version, storages)
    if current is None:
        # Nothing read: the payload stays exactly as planned (a blind run), only a too-new setting invalidates it.
        return now.with_(notes=operation.notes) if now.errors else operation
    if compared and (now.payload != operation.payload or now.before != operation.before):
        was = "; ".join(operation.diff) or "nothing to send"
        moved = f"{STALE} (planned: {was}; now: {'; '.join(now.diff) or 'nothing to send'})"
        return now.with_(notes=(*operation.notes, moved))
    return now.with_(notes=operation.notes)


def _create_rebased(operation: Operation, current: Mapping[Key, dict]) -> Operation:
    """A create whose database has a configuration now that it did not have when planned is not sent: the same plan
    applied twice (or a run that created it) must not make a second schedule. A resumed journal adopts it."""
    database = operation.ref.database_uuid
    known = set(operation.before.get(KNOWN) or ())
    there = sorted(backup for db, backup in current if db == database and backup not in known)
    if not there:
        return operation
    note = (
        f"{NOT_CREATED}: database {database} has a backup configuration now ({', '.join(there)}) that it did not "
        "have when planned; plan again (bb.enforce) to check it"
    )
    return operation.with_(action=Action.UNCHANGED, notes=(*operation.notes, note))


def _where(source: str | None, operation: Operation) -> str:
    """The place read_changes names a row by, for the messages of a row that became invalid."""
    source = source or "<DataFrame>"
    line = operation.ref.line
    return f"{source}:{line}" if line is not None else f"{source} row {operation.ref.label}"
