"""Resuming from a journal: is it this run's, and what does its record decide for each operation.

Decisions, never edits: for each operation the journal knows, either the row is settled (an `Outcome`, with the
operation the earlier run sent, so the results row shows what it replaced and undo can restore it), or another
operation is sent instead (the same without a `backup_now` that already went out), or it is sent as planned.

The one rule about backups: a `backup_now` the server answered 2xx is never sent again, whatever the flags;
`retry_unknown` only re-sends one whose outcome is `unknown` (or that a kill left without outcome).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bulkbackup._core.errors import ConfigError, printable
from bulkbackup._core.fields import BACKUP_NOW
from bulkbackup._core.operations import Decision, Operation, Outcome, Plan
from bulkbackup._core.statuses import Action, Status
from bulkbackup._engine.journal_read import JournalState, RowHistory

SETTLED = "done in an earlier run (journal)"
ADOPTED = "adopted"  # how the message of a create adopted on resume starts
KNOWN = "backup_uuids"  # a create's `before`: the database's configurations before its POST (_fleet/enforce.KNOWN)


def is_done(history: RowHistory, retry_unknown: bool) -> bool:
    return (
        history.status is not None
        and Status(history.status).info.final
        and not (history.status == Status.UNKNOWN and retry_unknown)
    )


def adopted(decision: Decision) -> bool:
    """Whether a decision adopts a configuration an earlier attempt created (the journal records it as created)."""
    outcome = decision.outcome
    return outcome is not None and outcome.status == Status.CREATED and outcome.message.startswith(ADOPTED)


def decide_create(
    operation: Operation, history: RowHistory, *, same_row: bool, configs: Callable[[], dict[str, list[str]]]
) -> Decision | None:
    """A create the journal knows: answered 201 → settled with its uuid; sent or maybe sent (killed, unknown) →
    the database's configurations are read, and one that is not among those known before the POST is the one an
    earlier attempt created: adopted, never created twice. Nothing new there: the POST made nothing; send it."""
    if history.status == Status.CREATED and same_row:
        outcome = Outcome(
            Status.CREATED,
            history.http_status,
            f"{SETTLED}: {history.message}".rstrip(": "),
            backup_uuid=history.created,
        )
        return Decision(outcome=outcome, operation=operation.with_(action=Action.CREATE, notes=()))
    if not (history.pending or history.status == Status.UNKNOWN):
        return None
    known = set(history.before.get(KNOWN) or ())
    new = [uuid for uuid in configs().get(operation.ref.database_uuid, []) if uuid not in known]
    if not new:
        return None
    message = (
        f"{ADOPTED} {new[0]}: an earlier attempt of this run (in the journal) created it on "
        f"{operation.ref.database_uuid}; not created again"
    )
    if len(new) > 1:
        message += f" ({len(new)} new configurations there: {', '.join(new)}; check which to keep)"
    planned = operation.with_(action=Action.CREATE, notes=())  # as planned, whatever the rebase noted
    return Decision(outcome=Outcome(Status.CREATED, message=message, backup_uuid=new[0]), operation=planned)


def decide(operation: Operation, history: RowHistory, *, same_row: bool, retry_unknown: bool) -> Decision | None:
    """What the journal decides for one operation; None: send it as planned."""
    if is_done(history, retry_unknown) and same_row:
        message = f"{SETTLED}: {history.message}".rstrip(": ")
        return _settled(operation, history, Status(history.status), message)
    starts_backup = history.payload.get(BACKUP_NOW.name) is True
    if history.pending and starts_backup and not retry_unknown:
        return _settled(
            operation,
            history,
            Status.UNKNOWN,
            "an earlier run was killed after this request was announced: it may have been sent, and it starts a "
            "backup, so it was not sent again (retry_unknown=True / --retry-unknown sends it)",
        )
    decided: Decision | None = None
    if operation.starts_backup and (history.backup_certain or history.backup_started and not retry_unknown):
        operation, decided = _without_backup_now(operation, history)
    if (
        operation.action is Action.UNCHANGED
        and history.changed
        and (history.pending or history.status == Status.FAILED)
    ):
        # What the killed (or failed) request would have set is on the server: it took effect. Reported as updated,
        # with the journal's `before`, so undo from this run's results still knows the values it replaced.
        return _settled(
            operation,
            history,
            Status.UPDATED,
            "already as wanted: the request of an earlier run (in the journal) took effect; nothing sent",
        )
    return decided


def _without_backup_now(operation: Operation, history: RowHistory) -> tuple[Operation, Decision]:
    certain = "started one" if history.backup_certain else "started (or may have started) one"
    note = f"backup_now not sent again: an earlier run of this journal {certain}"
    payload = {k: v for k, v in operation.payload.items() if k != BACKUP_NOW.name}
    diff = tuple(d for d in operation.diff if not d.startswith(f"{BACKUP_NOW.name}:"))
    if not payload:
        trimmed = operation.with_(action=Action.UNCHANGED, payload={}, diff=diff)
        nothing = Outcome(Status.UNCHANGED, message="nothing left to send")
        return trimmed, Decision(outcome=nothing, operation=trimmed, note=note)
    trimmed = operation.with_(action=Action.UPDATE, payload=payload, diff=diff)
    return trimmed, Decision(operation=trimmed, note=note)


def _settled(operation: Operation, history: RowHistory, status: Status, message: str) -> Decision:
    """Settled by the journal: its outcome, and the operation the earlier run sent (its payload, and the values it
    replaced as the journal's first intent found them)."""
    payload = dict(history.payload)
    before = {k: history.before[k] for k in payload if k in history.before}
    if "s3_storage_uuid" in payload and "s3_storage_id" in history.before:
        before["s3_storage_id"] = history.before["s3_storage_id"]
    sent = operation.with_(payload=payload, before=before)
    return Decision(outcome=Outcome(status, http_status=history.http_status, message=message), operation=sent)


def decisions(
    prior: JournalState | None,
    operations: Sequence[Operation],
    plan: Plan,
    *,
    retry_unknown: bool,
    configs: Callable[[], dict[str, list[str]]] | None = None,
) -> dict[int, Decision]:
    if prior is None:
        return {}
    read: dict[str, list[str]] | None = None

    def current() -> dict[str, list[str]]:  # read once, and only when a create needs it
        nonlocal read
        if read is None:
            read = configs() if configs is not None else {}
        return read

    hashes = plan.identity.row_hashes
    found = {}
    for operation in operations:
        history = prior.rows.get(operation.key)
        if history is None or not history.intents:
            continue
        position = operation.ref.position
        same_row = position < len(hashes) and history.digest == hashes[position]
        if operation.action is Action.CREATE or history.action == "create":
            created = decide_create(operation, history, same_row=same_row, configs=current)
            if created is not None:
                found[position] = created
            continue
        decision = decide(operation, history, same_row=same_row, retry_unknown=retry_unknown)
        if decision is not None:
            found[position] = decision
    return found


def settled(prior: JournalState | None, plan: Plan, *, retry_unknown: bool) -> set[tuple[str, str]]:
    if prior is None:
        return set()
    return {
        operation.key
        for operation, digest in zip(plan.operations, plan.identity.row_hashes, strict=True)
        if operation.key in prior.rows
        and is_done(prior.rows[operation.key], retry_unknown)
        and prior.rows[operation.key].digest == digest
    }


def check_same_run(prior: JournalState, endpoint: str | None, plan: Plan, *, force: bool) -> None:
    """Refuse a journal of another endpoint always, and of other changes unless forced, naming the differences."""
    header = prior.last_header or {}
    if header.get("endpoint") != endpoint:
        raise ConfigError(
            printable(
                f"journal {prior.path} is of a run against {header.get('endpoint')}, not {endpoint}: "
                "use another journal file"
            )
        )
    if header.get("changes_hash") == plan.identity.changes_hash or force:
        return
    differences = _differences(header.get("rows") or [], plan)
    shown = "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
    raise ConfigError(
        printable(
            f"journal {prior.path} was written for different changes ({header.get('input') or 'unknown input'}): "
            f"{shown or 'the rows are in another order'}. Use another journal file for these changes, or force=True "
            "(--force) to resume it anyway"
        )
    )


def _differences(journal_rows: list, plan: Plan) -> list[str]:
    theirs = {(r[0], r[1]): r[2] for r in journal_rows}
    ours = {
        operation.key: (digest, operation.ref.line)
        for operation, digest in zip(plan.operations, plan.identity.row_hashes, strict=True)
    }
    found = []
    for key, (digest, line) in ours.items():
        where = f"line {line}" if line is not None else f"{key[0]}/{key[1]}"
        if key not in theirs:
            found.append(f"{where} ({key[1]}) is new")
        elif theirs[key] != digest:
            found.append(f"{where} ({key[1]}) asks for other values")
    found.extend(f"{key[1]} is no longer in the changes" for key in theirs if key not in ours)
    return found
