"""Resuming from a journal: is it this run's, and what does its record decide for each operation.

Decisions, never edits: for each operation the journal knows, either the row is settled (an `Outcome`, with the
operation the earlier run sent, so the results row shows what it replaced and undo can restore it), or another
operation is sent instead (the same without a `backup_now` that already went out), or it is sent as planned.

The one rule about backups: a `backup_now` the server answered 2xx is never sent again, whatever the flags;
`retry_unknown` only re-sends one whose outcome is `unknown` (or that a kill left without outcome).

Rows are matched by `Operation.where` (instance, database uuid, backup uuid): in a run over several instances a row
of one instance never settles, nor adopts for, a row of another holding the same uuids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from bulkbackup._core.errors import ConfigError, printable
from bulkbackup._core.fields import BACKUP_NOW
from bulkbackup._core.operations import Decision, Operation, Outcome, Plan
from bulkbackup._core.statuses import Action, Status
from bulkbackup._engine.journal_read import JournalState, RowHistory, Where, header_where

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
    configs: Callable[[str | None], dict[str, list[str]]] | None = None,
) -> dict[int, Decision]:
    """`configs(instance)`: that instance's database uuid → configuration uuids now (None: the one instance)."""
    if prior is None:
        return {}
    read: dict[str | None, dict[str, list[str]]] = {}

    def current(instance: str | None) -> dict[str, list[str]]:  # each server read once, only when a create needs it
        if instance not in read:
            read[instance] = configs(instance) if configs is not None else {}
        return read[instance]

    hashes = plan.identity.row_hashes
    found = {}
    for operation in operations:
        history = prior.rows.get(operation.where)
        if history is None or not history.intents:
            continue
        position = operation.ref.position
        same_row = position < len(hashes) and history.digest == hashes[position]
        if operation.action is Action.CREATE or history.action == "create":
            of_its_server = partial(current, operation.ref.instance)
            created = decide_create(operation, history, same_row=same_row, configs=of_its_server)
            if created is not None:
                found[position] = created
            continue
        decision = decide(operation, history, same_row=same_row, retry_unknown=retry_unknown)
        if decision is not None:
            found[position] = decision
    return found


def settled(prior: JournalState | None, plan: Plan, *, retry_unknown: bool) -> set[Where]:
    """The rows (`Operation.where`) an earlier run of the journal settled."""
    if prior is None:
        return set()
    return {
        operation.where
        for operation, digest in zip(plan.operations, plan.identity.row_hashes, strict=True)
        if operation.where in prior.rows
        and is_done(prior.rows[operation.where], retry_unknown)
        and prior.rows[operation.where].digest == digest
    }


def check_same_run(
    prior: JournalState,
    endpoint: str | None,
    plan: Plan,
    *,
    force: bool,
    instances: Mapping[str, str] | None = None,
) -> None:
    """Refuse a journal of another endpoint (or, for a run of several instances, `instances`: name → endpoint,
    with `endpoint` None) always, and of other changes unless forced, naming the differences."""
    header = prior.last_header or {}
    problem = _other_servers(header, endpoint, dict(instances or {}))
    if problem:
        raise ConfigError(printable(f"journal {prior.path} is of a run {problem}: use another journal file"))
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


def _other_servers(header: Mapping, endpoint: str | None, instances: dict[str, str]) -> str | None:
    """How the servers of the journal's last run differ from this run's, or None when they are the same."""
    theirs = dict(header.get("instances") or {})
    if not theirs and not instances:
        if header.get("endpoint") == endpoint:
            return None
        return f"against {header.get('endpoint')}, not {endpoint}"
    if not theirs:
        return f"against {header.get('endpoint')} (one instance), not over the instances {_named(instances)}"
    if not instances:
        return (
            f"over the instances {_named(theirs)}, not against {endpoint} alone (give the clients as a list, as "
            "that run did, to resume it)"
        )
    found = [f"{name!r} is not in this run" for name in theirs if name not in instances]
    found += [
        f"{name!r} was {theirs[name]}, now {url}" for name, url in instances.items() if theirs.get(name, url) != url
    ]
    found += [f"{name!r} is new" for name in instances if name not in theirs]
    return f"over other instances ({_named(theirs)}): {'; '.join(found)}" if found else None


def _named(instances: Mapping[str, str]) -> str:
    """The instances for messages: 'a' (http://…) and 'b' (http://…)."""
    named = [f"{name!r} ({url})" for name, url in instances.items()]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _differences(journal_rows: list, plan: Plan) -> list[str]:
    theirs = {header_where(r): r[2] for r in journal_rows}
    ours = {
        operation.where: (digest, operation.ref.line)
        for operation, digest in zip(plan.operations, plan.identity.row_hashes, strict=True)
    }
    found = []
    for key, (digest, line) in ours.items():
        instance, database, backup = key
        where = f"line {line}" if line is not None else f"{database}/{backup}"
        named = f"{instance}: {backup}" if instance is not None else backup
        if key not in theirs:
            found.append(f"{where} ({named}) is new")
        elif theirs[key] != digest:
            found.append(f"{where} ({named}) asks for other values")
    found.extend(
        f"{f'{key[0]}: ' if key[0] is not None else ''}{key[2]} is no longer in the changes"
        for key in theirs
        if key not in ours
    )
    return found
