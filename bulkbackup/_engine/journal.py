"""The journal of a run: JSON lines written before each request goes out, so a killed run can be resumed and undone.

Records, one per line:
- `header`: the run (endpoint, input, sha256 of the normalised changes and a short hash per row, bulkbackup and
  Coolify versions, time). Each run appends its own; never the token.
- `intent`: a row's payload and the previous value of every field in it, fsynced before the request leaves.
- `outcome`: the row's status, HTTP status and message, once it is known.
- `end`: the run's facts, when it ends (a killed run has none).

Reading it back, an intent without an outcome means "may have been sent". Resuming (the same changes, the same
journal) sends nothing that already succeeded and never repeats a `backup_now` that went out.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._core.errors import ConfigError
from bulkbackup._core.events import Event, RowFinished, RowSending, RunFinished, RunStarted
from bulkbackup._core.fields import BACKUP_NOW
from bulkbackup._core.operations import Decision, Operation, Outcome, Plan
from bulkbackup._core.statuses import Action, Status

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

JOURNAL_VERSION = 1
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)  # one encoder: json.dumps with options builds one per call


# --- reading a journal ---------------------------------------------------------------------------------------------


@dataclass
class RowHistory:
    """Everything a journal says about one configuration, over every run that wrote to it."""

    database_uuid: str
    backup_uuid: str
    payload: dict = field(default_factory=dict)  # the last intent's payload
    before: dict = field(default_factory=dict)  # per field, the value before the journal's first intent touched it
    status: str | None = None  # the last outcome; None while its last intent has no outcome
    pending: bool = False  # an intent without an outcome: the request may have been sent
    message: str = ""
    http_status: int | None = None
    changed: dict = field(default_factory=dict)  # field → the value it may have been set to (sent or maybe sent)
    backup_started: bool = False  # a backup_now that went out, or may have
    intents: int = 0

    def intent(self, payload: Mapping, before: Mapping) -> None:
        self.intents += 1
        self.payload = dict(payload)
        for name, value in before.items():
            self.before.setdefault(name, value)
        self.status, self.pending, self.message, self.http_status = None, True, "", None

    def outcome(self, status: str, message: str, http_status: int | None) -> None:
        self.status, self.pending, self.message, self.http_status = status, False, message, http_status

    def settle(self) -> None:
        """After an intent is answered (or never was): what it may have changed."""
        if not (self.pending or Status(self.status).info.sent and self.status != Status.REJECTED):
            return
        for name, value in self.payload.items():
            if name != BACKUP_NOW.name:
                self.changed[name] = value
            elif value and self.status != Status.FAILED:
                # A request that starts a backup ends `failed` only when it certainly was not processed (else it
                # is `unknown`), so only the others may have started one.
                self.backup_started = True


@dataclass
class JournalState:
    path: str
    header: dict | None = None
    rows: dict[tuple[str, str], RowHistory] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ends_with_newline: bool = True
    size: int = 0


def read_journal(path: str | os.PathLike[str]) -> JournalState:
    """Parse a journal; a line torn by a kill is reported in `warnings` and ignored, other damage is an error."""
    path = os.fspath(path)
    data = Path(path).read_bytes()
    state = JournalState(path, size=len(data), ends_with_newline=not data or data.endswith(b"\n"))
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records: list[tuple[int, dict]] = []
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or "record" not in record:
                raise ValueError("not a journal record")
        except ValueError:
            last = number == len(lines)
            next_is_header = not last and lines[number].startswith(b'{"record": "header"')
            if last or next_is_header:
                state.warnings.append(
                    f"{path}:{number}: an incomplete last line (the run writing it was killed) was ignored"
                )
                continue
            raise ConfigError(f"{path}:{number}: not a journal record ({raw[:60]!r}): the journal is damaged") from None
        records.append((number, record))
    open_rows: set[tuple[str, str]] = set()
    for number, record in records:
        kind = record["record"]
        if kind == "header":
            if state.header is None:
                state.header = record
            elif record.get("endpoint") != state.header.get("endpoint"):
                raise ConfigError(f"{path}:{number}: the journal mixes runs against two endpoints")
            for key in open_rows:
                state.rows[key].settle()
            open_rows.clear()
            continue
        if kind not in ("intent", "outcome"):
            continue
        key = (record.get("database_uuid"), record.get("backup_uuid"))
        row = state.rows.setdefault(key, RowHistory(*key))
        if kind == "intent":
            if key in open_rows:
                row.settle()
            row.intent(record.get("payload") or {}, record.get("before") or {})
            open_rows.add(key)
        else:
            row.outcome(record.get("status"), record.get("message") or "", record.get("http_status"))
            row.settle()
            open_rows.discard(key)
    for key in open_rows:
        state.rows[key].settle()
    if records and state.header is None:
        raise ConfigError(f"{path}: no header record: this is not a bulkbackup journal")
    return state


# --- writing one -----------------------------------------------------------------------------------------------------


def server_version(client: Client) -> str | None:
    """The Coolify version for the header; None when it cannot be read (a journal never fails for lack of it)."""
    getter = getattr(client, "server_version", None) or client.version
    try:
        version = getter()
    except Exception:  # noqa: BLE001 - any failure only means "unknown"
        return None
    return None if version is None else str(version)


class Journal:
    """A listener on apply's seam that writes the run down, and the resume logic that reads it back.

    Opened append-only: what an earlier run wrote is never rewritten. An intent is on disk (flushed and fsynced)
    before its request leaves; outcomes are only flushed, since a lost outcome reads back as "may have been sent",
    which is the safe side.
    """

    def __init__(self, path: str, client: Client, plan: Plan, prior: JournalState | None, *, retry_unknown: bool):
        self.path = path
        self.client = client
        self.plan = plan
        self._row_hash = dict(zip((op.ref.position for op in plan.operations), plan.identity.row_hashes, strict=True))
        self.prior = prior
        self.retry_unknown = retry_unknown
        self._server_version: str | None | bool = False  # read when first needed: opening checks, never sends
        self._file: IO[str] | None = None
        self._announced: set[int] = set()
        self._needs_newline = prior is not None and not prior.ends_with_newline
        self._count_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # records written (and flushed) so far
        self._synced = 0  # records known to be on disk

    @classmethod
    def open(cls, journal: Any, client: Client, plan: Plan, *, retry_unknown: bool = False, force: bool = False):
        """Check the journal before anything is sent: its folder exists, and an existing one is this run's."""
        path = os.fspath(journal)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ConfigError(f"journal {path}: the folder {folder} does not exist")
        if os.path.isdir(path):
            raise ConfigError(f"journal {path} is a folder, not a file")
        prior = read_journal(path) if os.path.exists(path) and os.path.getsize(path) else None
        if prior is not None and prior.header is not None:
            _check_same_run(prior, client, plan, force=force)
        if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
            raise ConfigError(f"journal {path}: not writable")
        return cls(path, client, plan, prior, retry_unknown=retry_unknown)

    @property
    def server_version(self) -> str | None:
        if self._server_version is False:
            self._server_version = server_version(self.client)
        return self._server_version

    def settled(self) -> set[tuple[str, str]]:
        """The configurations an earlier run of this journal settled: a resumed run reports them, sends nothing."""
        if self.prior is None:
            return set()
        digests = self._digests()
        return {
            key
            for key, digest in zip(self._keys(), self.plan.identity.row_hashes, strict=True)
            if key in self.prior.rows
            and _is_done(self.prior.rows[key], self.retry_unknown)
            and digests.get(key) == digest
        }

    def _digests(self) -> dict[tuple[str, str], str]:
        return {(r[0], r[1]): r[2] for r in ((self.prior.header or {}) if self.prior else {}).get("rows", [])}

    def _keys(self) -> list[tuple[str, str]]:
        return [op.key for op in self.plan.operations]

    @property
    def warnings(self) -> list[str]:
        return list(self.prior.warnings) if self.prior is not None else []

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- the listener ----------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._write(
                {
                    "record": "header",
                    "journal_version": JOURNAL_VERSION,
                    "endpoint": event.endpoint,
                    "input": self.plan.source,
                    "changes_hash": event.changes_hash,
                    "rows": [
                        [*op.key, digest]
                        for op, digest in zip(self.plan.operations, self.plan.identity.row_hashes, strict=True)
                    ],
                    "resumed": self.prior is not None,
                    "dry_run": event.dry_run,
                    "bulkbackup": _bulkbackup_version(),
                    "coolify": self.server_version,
                    "time": event.started_at,
                },
                sync=True,
            )
        elif isinstance(event, RowSending):
            self._announced.add(event.row.position)
            self._write(
                {
                    "record": "intent",
                    **_where(event.row),
                    "payload": dict(event.payload),
                    "before": dict(event.before),
                    "time": _now(),
                }
            )  # fsynced by before_request(), outside the delivery lock, before the request leaves
        elif isinstance(event, RowFinished):
            if event.row.position not in self._announced:
                return  # nothing was announced, so nothing can have been sent
            result = event.result
            self._write(
                {
                    "record": "outcome",
                    **_where(event.row),
                    "status": str(result.status),
                    "http_status": result.http_status,
                    "message": self.client.redact(result.message),
                    "attempts": result.attempts,
                    "time": _now(),
                }
            )
        elif isinstance(event, RunFinished):
            facts = event.facts
            self._write(
                {
                    "record": "end",
                    "stopped": facts.stopped,
                    "interrupted": facts.interrupted,
                    "verification": facts.verification,
                    "counts": dict(facts.counts),
                    "time": facts.finished_at,
                },
                sync=True,
            )

    def before_request(self, event: RowSending) -> None:
        """Group commit: the request waits until its intent is on disk, and one fsync serves every worker whose
        intent was written before it started (an fsync per intent under the delivery lock cost a third of a run)."""
        with self._count_lock:
            wanted = self._written
        with self._sync_lock:
            if self._synced >= wanted:
                return  # another worker's fsync covered this intent
            with self._count_lock:
                covered = self._written
                fd = self._file.fileno() if self._file is not None else None
            if fd is not None:
                os.fsync(fd)
            self._synced = covered

    def _write(self, record: dict, *, sync: bool = False) -> None:
        if self._file is None:
            # Opened when the run starts, not when checked: a run that fails before it starts leaves no empty file.
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held for the whole run
        text = _ENCODER.encode(record) + "\n"
        if self._needs_newline:
            text = "\n" + text  # end the line a killed run tore, so this record starts on its own
            self._needs_newline = False
        self._file.write(text)
        self._file.flush()
        with self._count_lock:
            self._written += 1
        if sync:
            os.fsync(self._file.fileno())
            self._synced = self._written

    # --- resuming ----------------------------------------------------------------------------------------------

    def decisions(self, operations: Sequence[Operation]) -> dict[int, Decision]:
        """What the earlier runs of this journal decide for each operation (by `op.ref.position`): settled rows
        are reported and not sent, a backup_now that went out (or may have) is not sent again. Edits nothing."""
        prior = self.prior
        if prior is None:
            return {}
        digests = self._digests()
        found = {}
        for op in operations:
            history = prior.rows.get(op.key)
            if history is None or not history.intents:
                continue
            same_row = digests.get(op.key) == self._row_hash.get(op.ref.position)
            decision = _decide(op, history, same_row=same_row, retry_unknown=self.retry_unknown)
            if decision is not None:
                found[op.ref.position] = decision
        return found


def _is_done(history: RowHistory, retry_unknown: bool) -> bool:
    return (
        history.status is not None
        and Status(history.status).info.final
        and not (history.status == Status.UNKNOWN and retry_unknown)
    )


def _decide(op: Operation, history: RowHistory, *, same_row: bool, retry_unknown: bool) -> Decision | None:
    if _is_done(history, retry_unknown) and same_row:
        message = f"done in an earlier run (journal): {history.message}".rstrip(": ")
        return _from_journal(op, history, message)
    unsafe = BACKUP_NOW.name in history.payload
    if history.pending and unsafe and not retry_unknown:
        return _from_journal(
            op,
            history,
            "an earlier run was killed after this request was announced: it may have been sent, and it starts a "
            "backup, so it was not sent again (retry_unknown=True / --retry-unknown sends it)",
            status=Status.UNKNOWN,
        )
    note = ""
    if history.backup_started and not retry_unknown and BACKUP_NOW.name in op.payload:
        note = "backup_now not sent again: an earlier run of this journal started (or may have started) one"
        payload = {k: v for k, v in op.payload.items() if k != BACKUP_NOW.name}
        op = op.with_(payload=payload, action=Action.UPDATE if payload else Action.UNCHANGED)
    if op.action == Action.UNCHANGED and history.changed and (history.pending or history.status == Status.FAILED):
        # What the killed (or failed) request would have set is on the server: it took effect. Reported as updated,
        # with the journal's `before`, so undo from this run's results still knows the values it replaced.
        decided = _from_journal(
            op,
            history,
            "already as wanted: the request of an earlier run (in the journal) took effect; nothing sent",
            status=Status.UPDATED,
        )
        return Decision(decided.outcome, decided.operation, note)
    if not note:
        return None
    if op.action == Action.UNCHANGED:
        return Decision(Outcome(Status.UNCHANGED, message="nothing left to send"), op, note)
    return Decision(operation=op, note=note)


def _from_journal(op: Operation, history: RowHistory, message: str, status: str | None = None) -> Decision:
    """A settled row: its outcome from the journal, shown with what the journal says was sent and replaced."""
    payload = dict(history.payload)
    before = {k: history.before[k] for k in payload if k in history.before}
    if "s3_storage_uuid" in payload and "s3_storage_id" in history.before:
        before["s3_storage_id"] = history.before["s3_storage_id"]
    outcome = Outcome(Status(status or history.status), history.http_status, message, attempts=0)
    return Decision(outcome=outcome, operation=op.with_(payload=payload, before=before, diff=()))


def _check_same_run(prior: JournalState, client: Client, plan: Plan, *, force: bool) -> None:
    header = prior.header or {}
    if header.get("endpoint") != client.endpoint:
        raise ConfigError(
            f"journal {prior.path} is of a run against {header.get('endpoint')}, not {client.endpoint}: "
            "use another journal file"
        )
    if header.get("changes_hash") == plan.identity.changes_hash or force:
        return
    differences = _differences(header.get("rows") or [], plan)
    shown = "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
    raise ConfigError(
        f"journal {prior.path} was written for different changes ({header.get('input') or 'unknown input'}): "
        f"{shown or 'the rows are in another order'}. Use another journal file for these changes, or force=True "
        "(--force) to resume it anyway"
    )


def _differences(journal_rows: list, plan: Plan) -> list[str]:
    theirs = {(r[0], r[1]): r[2] for r in journal_rows}
    ours = {op.key: (digest, op.ref.line) for op, digest in zip(plan.operations, plan.identity.row_hashes, strict=True)}
    found = []
    for key, (digest, line) in ours.items():
        where = f"line {line}" if line is not None and not pd.isna(line) else f"{key[0]}/{key[1]}"
        if key not in theirs:
            found.append(f"{where} ({key[1]}) is new")
        elif theirs[key] != digest:
            found.append(f"{where} ({key[1]}) asks for other values")
    found.extend(f"{key[1]} is no longer in the changes" for key in theirs if key not in ours)
    return found


def _where(ref) -> dict:
    return {
        "position": ref.position,
        "line": ref.line,
        "database_uuid": ref.database_uuid,
        "backup_uuid": ref.backup_uuid,
    }


def _bulkbackup_version() -> str:
    from bulkbackup._version import __version__

    return __version__


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def settled_by(
    journal: str | os.PathLike[str], client: Client, plan: Plan, *, retry_unknown: bool = False, force: bool = False
) -> set[tuple[str, str]]:
    """Before a resumed run asks for confirmation: refuse a journal of another run exactly as `apply` would, and
    return the (database_uuid, backup_uuid) of the configurations it settled, which the run will not send."""
    return Journal.open(journal, client, plan, retry_unknown=retry_unknown, force=force).settled()
