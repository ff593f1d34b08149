"""The one currency of a run, from `plan()` to the results frame: typed operations in, typed outcomes out.

    Plan ──(operations)──▶ apply: rebase on the server once ─▶ journal decisions ─▶ Run ─(outcomes)─▶ results frame

- An `Operation` is one planned row: which configuration (`ref`, a `RowRef`), what to do (`action`), the exact
  `payload` as a mapping of JSON-able values (None clears a setting), the server's values it replaces (`before`),
  and the properties the engine needs to treat it safely (`starts_backup`, `repeatable`, `request`, `undo_action`).
- An `Outcome` is what happened to one row. The run, the journal's resume and verification produce outcomes; none
  of them edits a row. The results frame is built once, from the operations and their outcomes.
- A `Plan` is the operations of one `plan()` call and what they were made from (`Identity`: the hash of the
  normalised changes, which is what a journal checks on resume). A plan frame carries its `Plan` in
  `attrs["plan"]`; a plan frame read back from a CSV file has none, and is turned into operations at that edge.

JSON text exists only at the edges: CSV cells (`payload`/`before` columns) and the journal's lines.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from bulkbackup._core.statuses import Action, Status

BACKUP_NOW = "backup_now"  # the action field: a request holding it true starts a backup (fields.BACKUP_NOW.name)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy: an operation's payload cannot be changed after planning, by anyone.

    A read-only view is kept as it is (the ones operations hold are made here, over a copy nobody else holds): a
    plan of a bulk file shares one payload between the many rows asking for the same values.
    """
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(dict(mapping)) if mapping else _EMPTY


@dataclass(frozen=True, slots=True)
class RowRef:
    """Which row of the run an event is about."""

    position: int  # 0-based position in the input
    label: Hashable  # the input frame's index label
    line: int | None  # the CSV line, when the row came from a file
    database_uuid: str
    backup_uuid: str
    database_name: str | None = None  # for display: read from the server at the start of the run
    database_type: str | None = None
    instance: str | None = None  # the client's name, when a run spans several Coolify instances


@dataclass(frozen=True)
class Request:
    """What goes over the wire for one operation: a method, a path below the API root, and a JSON body or none."""

    method: str
    path: str
    json: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Operation:
    """One planned row. Immutable: a changed view of it (rebased on the server, trimmed by resume) is a new one."""

    ref: RowRef
    action: Action
    payload: Mapping[str, Any] = field(
        default_factory=dict
    )  # exactly what is sent, JSON types; for a create, every setting
    before: Mapping[str, Any] = field(
        default_factory=dict
    )  # the server's values the payload replaces (s3_storage_id for the uuid)
    errors: tuple[str, ...] = ()  # why it is invalid (each message names file, line, column and value)
    diff: tuple[str, ...] = ()  # "field: old → new", one per field, for people
    notes: tuple[str, ...] = ()  # what a person should know that is no error (the server moved since the plan…)

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload", frozen(self.payload))
        object.__setattr__(self, "before", frozen(self.before))

    # --- what the engine needs to treat it safely -----------------------------------------------------------

    @property
    def key(self) -> tuple[str, str]:
        """The configuration on its server (the uuids): what the server's state is looked up by."""
        return (self.ref.database_uuid, self.ref.backup_uuid)

    @property
    def where(self) -> tuple[str | None, str, str]:
        """The configuration among several instances: uuids repeat across instances restored from one backup."""
        return (self.ref.instance, self.ref.database_uuid, self.ref.backup_uuid)

    @property
    def sends(self) -> bool:
        return self.action.sends and not self.errors

    @property
    def starts_backup(self) -> bool:
        """A request that starts a backup job: it must never go out twice."""
        return self.payload.get(BACKUP_NOW) is True

    @property
    def repeatable(self) -> bool:
        """May it be sent again after an uncertain outcome (a read timeout, a reset, a 5xx)?

        Setting values is idempotent. Starting a backup is not; a second POST makes a second schedule; a DELETE
        that took effect answers a repeat with 404, which would hide that it did.
        """
        return self.action in (Action.UPDATE, Action.TRIGGER) and not self.starts_backup

    @property
    def undo_action(self) -> Action | None:
        """What undoes it: an update is undone by an update (to `before`), a create by a delete; a started backup
        and a delete (the server removed the files) cannot be undone."""
        if self.action is Action.UPDATE and any(k != BACKUP_NOW for k in self.payload):
            return Action.UPDATE
        if self.action is Action.CREATE:
            return Action.DELETE
        return None

    def request(self) -> Request:
        """The HTTP request of this operation (paths below /api/v1); only for operations that send."""
        method = self.action.method
        if method is None or self.errors:
            raise ValueError(f"a {self.action} operation sends nothing")
        database = f"/databases/{self.ref.database_uuid}/backups"
        if self.action is Action.CREATE:
            return Request("POST", database, dict(self.payload))
        path = f"{database}/{self.ref.backup_uuid}"
        if self.action is Action.DELETE:
            return Request("DELETE", path, None)
        return Request("PATCH", path, dict(self.payload))

    def with_(self, **changes: Any) -> Operation:
        """A copy with some fields changed (`dataclasses.replace`, named for reading at call sites)."""
        return replace(self, **changes)

    def __deepcopy__(self, memo: dict) -> Operation:
        return self  # immutable: pandas deep-copies attrs on every derived frame, and a plan holds thousands


@dataclass(frozen=True)
class Outcome:
    """What happened to one row. Made by the run, the journal's resume decisions and verification; never edited."""

    status: Status
    http_status: int | None = None
    message: str = ""
    attempts: int = 0  # requests that went out for the row in this run
    elapsed_s: float = 0.0
    verified: bool | None = None  # after the run, the server holds what was sent (None: not checked)
    backup_uuid: str | None = None  # a create's new configuration, from the server's 201 (or adopted on resume)

    def with_(self, **changes: Any) -> Outcome:
        return replace(self, **changes)

    def __deepcopy__(self, memo: dict) -> Outcome:
        return self


def initial_outcome(operation: Operation) -> Outcome:
    """The outcome of a row before the run: final for rows that send nothing, `skipped` (not yet sent) otherwise."""
    if operation.errors or operation.action is Action.INVALID:
        return Outcome(Status.INVALID, message="not sent: invalid row")
    if operation.action is Action.UNCHANGED:
        return Outcome(Status.UNCHANGED, message="already as wanted: nothing sent")
    if operation.action is Action.UNSUPPORTED:
        return Outcome(Status.UNSUPPORTED, message="not sent: Coolify cannot back up this database type")
    return Outcome(Status.SKIPPED)


@dataclass(frozen=True)
class Identity:
    """What a run was asked for: the hash of the normalised changes (or policy) a plan was made from, and one short
    hash per row. A journal is tied to it, so the same changes resume the same journal whether they come as
    changes, as a fresh plan of them, from the CLI or from the run panel — however the server moved meanwhile."""

    changes_hash: str
    row_hashes: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The operations of one plan, in input order, and what they were made from."""

    operations: tuple[Operation, ...]
    identity: Identity
    source: str | None = None  # the input's name, or "<DataFrame>"
    compared: bool = False  # made against the server's state (there is a `before` to check for staleness)
    diff: bool = True  # False: planned with diff=False, so the run reads nothing either
    server_version: str | None = None
    labels: tuple[Hashable, ...] = field(default=())  # the input frame's index labels, in order
    # The instances (client names) a plan of several instances was made for, in the clients' order; () for one
    # instance. Every operation of such a plan names its instance in `ref.instance`.
    instances: tuple[str, ...] = ()

    def __deepcopy__(self, memo: dict) -> Plan:
        return self

    def __len__(self) -> int:
        return len(self.operations)


@dataclass(frozen=True)
class Decision:
    """What the record of an earlier run (the journal) decides for one operation before this run sends anything.

    Resume returns decisions; it edits no row. One of three:
    - `outcome` set: the row is settled; report this outcome and send nothing. An `operation` beside it is the row
      as the journal recorded it (the payload sent, the `before` it replaced), shown in the results so that undo
      from them still restores those values;
    - only `operation` set: send this operation instead (e.g. the same one without a `backup_now` that already
      went out);
    - neither: send the operation as planned.
    """

    outcome: Outcome | None = None
    operation: Operation | None = None
    note: str = ""  # said on the row's message (e.g. "backup_now not sent again: …")
