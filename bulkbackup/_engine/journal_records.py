"""What each record of the journal holds (the file, its lock and its syncing are `journal.py`'s).

A run of one client writes the records it always has. A run of several instances names them: the header's
`instances` (name → endpoint, `endpoint` null), `coolify` per instance, `journal_version` 2 and a 4th element in
each `rows` entry (the row's instance); an `instance` in every intent and outcome; each instance's facts in `end`.
Text that may quote a server's answer (messages, why a run stopped) goes through `redact`, which masks the token
of every client of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bulkbackup._core.events import RunFacts, RunStarted
from bulkbackup._core.operations import Outcome, Plan, RowRef
from bulkbackup._engine.journal_read import JOURNAL_VERSION, ONE_INSTANCE
from bulkbackup._version import __version__

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

Redact = Callable[[object], str]


def server_version(client: Client) -> str | None:
    """The Coolify version for the header; None when it cannot be read (a journal never fails for lack of it)."""
    getter = getattr(client, "server_version", None) or client.version
    try:
        version = getter()
    except Exception:  # noqa: BLE001 - any failure only means "unknown"
        return None
    return None if version is None else str(version)


def header(
    plan: Plan,
    event: RunStarted,
    *,
    endpoint: str | None,
    instances: Mapping[str, str],
    coolify: str | Mapping[str, str | None] | None,
    resumed: bool,
) -> dict[str, Any]:
    """The run: its servers, input, identity (the changes' hash and one hash per row), versions and time.
    `instances` empty: a run of one client, written exactly as journals always were."""
    identity = plan.identity
    rows: list[list] = [
        [operation.ref.database_uuid, operation.ref.backup_uuid, digest]
        for operation, digest in zip(plan.operations, identity.row_hashes, strict=True)
    ]
    if instances:
        for row, operation in zip(rows, plan.operations, strict=True):
            row.append(operation.ref.instance)
    return {
        "record": "header",
        "journal_version": JOURNAL_VERSION if instances else ONE_INSTANCE,
        "endpoint": endpoint,
        **({"instances": dict(instances)} if instances else {}),
        "input": plan.source,
        "changes_hash": identity.changes_hash,
        "rows": rows,
        "resumed": resumed,
        "dry_run": event.dry_run,
        "bulkbackup": __version__,
        "coolify": dict(coolify) if isinstance(coolify, Mapping) else coolify,
        "time": event.started_at,
    }


def intent(ref: RowRef, payload: Mapping, before: Mapping, action: str | None) -> dict[str, Any]:
    """A row's payload and the values it replaces, on disk before its request leaves; `action` for no PATCH."""
    return {
        "record": "intent",
        **where(ref),
        "payload": dict(payload),
        "before": dict(before),
        **({"action": action} if action is not None else {}),
        "time": now(),
    }


def outcome(ref: RowRef, result: Outcome, redact: Redact) -> dict[str, Any]:
    return {
        "record": "outcome",
        **where(ref),
        "status": str(result.status),
        "http_status": result.http_status,
        "message": redact(result.message),
        "attempts": result.attempts,
        **({"created": result.backup_uuid} if result.backup_uuid else {}),
        "time": now(),
    }


def end(facts: RunFacts, redact: Redact, *, several: bool) -> dict[str, Any]:
    """The run's facts; of several instances, each instance's too (its endpoint, stop, verification, counts)."""
    record: dict[str, Any] = {
        "record": "end",
        "stopped": redact(facts.stopped) if facts.stopped else None,
        "interrupted": facts.interrupted,
        "verification": redact(facts.verification),
        "counts": dict(facts.counts),
    }
    if several:
        record["instances"] = {
            name: {
                "endpoint": part.endpoint,
                "stopped": redact(part.stopped) if part.stopped else None,
                "verification": redact(part.verification),
                "counts": dict(part.counts),
            }
            for name, part in facts.instances.items()
        }
    record["time"] = facts.finished_at
    return record


def where(ref: RowRef) -> dict[str, Any]:
    """Which row a record is about: its instance only when it has one (a journal of one client names none)."""
    return {
        "position": ref.position,
        "line": ref.line,
        **({"instance": ref.instance} if ref.instance is not None else {}),
        "database_uuid": ref.database_uuid,
        "backup_uuid": ref.backup_uuid,
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
