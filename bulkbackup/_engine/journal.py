"""The journal of a run: JSON lines written before each request goes out, so a killed run can be resumed and undone.

Records, one per line:
- `header`: the run (endpoint, input, the plan's identity: sha256 of the normalised changes and a short hash per
  row, bulkbackup and Coolify versions, time). Each run appends its own; never the token.
- `intent`: a row's payload and the previous value of every field in it, on disk before the request leaves.
- `outcome`: the row's status, HTTP status and message, once it is known.
- `end`: the run's facts, when it ends (a killed run has none).

A run over several Coolify instances (a list of clients, or a plan of several) keeps one journal: its header has
`"endpoint": null`, `"instances": {name: endpoint}`, `"coolify": {name: version}` and `"journal_version": 2`; each
entry of its `rows` is `[database, backup, hash, instance]` (a 4th element); every intent and outcome names its
`"instance"`; its `end` record holds each instance's facts under `"instances"` (endpoint, stopped, verification,
counts) besides the totals. Rows are keyed by (instance, database uuid, backup uuid) (`Operation.where`), since
uuids repeat across instances restored from one backup. A journal of one client is written exactly as before.

Reading it back (`journal_read`), an intent without an outcome means "may have been sent". Resuming (the same
changes, the same journal) sends nothing that already succeeded and never repeats a `backup_now` that went out
(`journal_resume`). The journal is held exclusively for the whole run (`journal_lock`).

    journal = Journal.open(path, clients, plan)         # a Client or a list; refuses another run's, a damaged or a
                                                        # locked journal
    decisions = journal.decisions(operations)           # {position: Decision}: what the record settles
    ... run with `journal` as a listener ...
    journal.close()                                     # journal.failure: the first record it could not write

When a record cannot be written (a full disk, a file-size limit, the file deleted), `failure` says so, naming the
file and what to do, and the journal raises on that event and every later one: a raise on `RowSending` keeps its
request from going out, a raise on any other event stops the run. No request leaves without its intent on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bulkbackup._coolify.clients import Clients, clients_of, each
from bulkbackup._coolify.state import own_configs
from bulkbackup._core.errors import BulkBackupError, ConfigError, printable
from bulkbackup._core.events import Event, RowFinished, RowSending, RunFinished, RunStarted
from bulkbackup._core.operations import Decision, Operation, Plan
from bulkbackup._engine import journal_records as records
from bulkbackup._engine import journal_resume
from bulkbackup._engine.journal_lock import JournalLock
from bulkbackup._engine.journal_read import JOURNAL_VERSION, JournalState, RowHistory, Where, read_journal
from bulkbackup._engine.plan import plan_of

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

__all__ = ["JOURNAL_VERSION", "Journal", "JournalError", "JournalState", "RowHistory", "read_journal"]

_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)  # one encoder: json.dumps with options builds one per call


class JournalError(BulkBackupError):
    """A record of the run could not be written: the run stops (`Journal.failure` holds the message)."""


class Journal:
    """A listener on apply's seam that writes the run down, and the record of earlier runs that it resumes.

    Append-only: what an earlier run wrote is never rewritten. Records go straight to the file descriptor (no
    buffer that a failed write could leave behind for `close` to fail on). An intent is on disk (fsynced) before
    its request leaves; outcomes are only written, since a lost outcome reads back as "may have been sent",
    which is the safe side.
    """

    def __init__(
        self,
        path: str,
        clients: Client | Clients,
        plan: Plan,
        prior: JournalState | None,
        lock: JournalLock,
        *,
        retry_unknown: bool = False,
    ):
        self.path = path
        self.clients = clients_of(clients)
        self.plan = plan
        # A run over several instances (a list of clients, or a plan of several): records name their instance.
        self.several = self.clients.several or bool(plan.instances)
        self.instances = {c.name: c.endpoint for c in self.clients} if self.several else {}
        self.endpoint = None if self.several else self.clients[0].endpoint
        self.prior = prior
        self.retry_unknown = retry_unknown
        self.failure: str | None = None
        self._ending = False  # RunFinished came: a failure now is after the run's last request
        self._lock = lock
        self._server_versions: dict[str, str | None] | None = None  # read when first needed: opening never sends
        self._announced: set[int] = set()
        self._adopted: list = []  # (RowRef, Outcome) of creates adopted on resume: recorded after the header
        # What each row does, for records of rows that are no PATCH (a create, a delete): undo and resume read it.
        self._actions = {
            op.ref.position: op.action for op in plan.operations if op.action.method not in (None, "PATCH")
        }
        self._needs_newline = prior is not None and not prior.ends_with_newline
        self._count_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # records written so far
        self._synced = 0  # records known to be on disk

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        clients: Client | Clients | Sequence[Client],
        plan: Plan,
        *,
        retry_unknown: bool = False,
        force: bool = False,
    ) -> Journal:
        """Check the journal before anything is sent: its folder exists, no other process holds it, it is readable
        and of this version, and an existing one is of this endpoint (these instances and their endpoints) and
        these changes (or `force`). `clients`: a Client, or several (a list or `Clients`: a run of several
        instances)."""
        path = os.fspath(path)
        clients = clients_of(clients)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ConfigError(printable(f"journal {path}: the folder {folder} does not exist"))
        if os.path.isdir(path):
            raise ConfigError(printable(f"journal {path} is a folder, not a file"))
        exists = os.path.exists(path)
        if not os.access(path if exists else folder, os.W_OK):
            raise ConfigError(printable(f"journal {path}: not writable"))
        lock = JournalLock.acquire(path)  # first: what is read below is then not being written by another run
        try:
            prior = read_journal(path) if os.fstat(lock.fd).st_size else None
            journal = cls(path, clients, plan, prior, lock, retry_unknown=retry_unknown)
            # Only a torn line (a run killed while writing its header sent nothing): nothing to check, but the
            # line must still be ended before this run's header.
            if prior is not None and prior.header is not None:
                journal_resume.check_same_run(prior, journal.endpoint, plan, force=force, instances=journal.instances)
        except BaseException:
            lock.release()
            raise
        return journal

    @property
    def server_version(self) -> str | None:
        """The Coolify version of a run of one instance (None for several: see `server_versions`)."""
        return None if self.several else self.server_versions[self.clients[0].name]

    @property
    def server_versions(self) -> dict[str, str | None]:
        """Each instance's Coolify version, by client name (read in parallel, once)."""
        if self._server_versions is None:
            if not self.several and self.plan.server_version:
                read = [self.plan.server_version]
            else:
                read = each(self.clients, records.server_version)
            self._server_versions = dict(zip(self.clients.names, read, strict=True))
        return self._server_versions

    @property
    def warnings(self) -> list[str]:
        return list(self.prior.warnings) if self.prior is not None else []

    def decisions(self, operations: Sequence[Operation]) -> dict[int, Decision]:
        """Per `op.ref.position`, what the record of earlier runs decides; positions it says nothing about are
        absent (send as planned). For a settled row the `Decision` holds the `outcome` to report and, as
        `operation`, what the earlier run sent (its payload and the values it replaced), for the results row."""
        found = journal_resume.decisions(
            self.prior, operations, self.plan, retry_unknown=self.retry_unknown, configs=self._configs
        )
        # A create adopted from the server is written down as created once this run's header is, so that undo
        # from this journal deletes it and a later resume reads it as settled.
        self._adopted = [
            (op.ref, found[op.ref.position].outcome)
            for op in operations
            if op.ref.position in found and journal_resume.adopted(found[op.ref.position])
        ]
        return found

    def _configs(self, instance: str | None) -> dict[str, list[str]]:
        """database uuid → its configuration uuids now, on the server of `instance` (None: the one client): read
        only when a create of an earlier run may have gone out, to adopt what it created instead of creating
        another. An instance no client serves has nothing to adopt (its rows are invalid)."""
        client = self.clients[0] if instance is None else self.clients.by_name(instance)
        if client is None:
            return {}
        return {db["uuid"]: [c["uuid"] for c in own_configs(db)] for db in client.list_databases()}

    def redact(self, text: object) -> str:
        """`text` with the token of every client of the run masked."""
        for client in self.clients:
            text = client.redact(text)
        return str(text)

    def settled(self) -> set[Where]:
        """The configurations an earlier run of this journal settled, as `Operation.where` (instance, database
        uuid, backup uuid; instance None for one instance): a resumed run reports them, sends nothing."""
        return journal_resume.settled(self.prior, self.plan, retry_unknown=self.retry_unknown)

    def close(self) -> None:
        """Let the journal go (and its lock); a journal that vanished meanwhile is a `failure` said here too."""
        if self._lock.fd >= 0 and self.failure is None and self._written:
            gone = self._lock.still_there()
            if gone:
                self._ending = True  # the run is over: nothing is left to stop
                with contextlib.suppress(JournalError):
                    self._fail(gone, lost=True)
        self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the listener ----------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            header = records.header(
                self.plan,
                event,
                endpoint=self.endpoint,
                instances=self.instances,
                coolify=self.server_versions if self.several else self.server_version,
                resumed=self.prior is not None,
            )
            self._write(header, sync=True)
            for ref, outcome in self._adopted:
                self._outcome(ref, outcome)
        elif isinstance(event, RowSending):
            action = self._actions.get(event.row.position)
            # fsynced by before_request(), outside the delivery lock, before the request leaves
            self._write(records.intent(event.row, event.payload, event.before, action and str(action)))
            self._announced.add(event.row.position)
        elif isinstance(event, RowFinished):
            if event.row.position not in self._announced:
                self._raise_if_failed()
                return  # nothing was announced, so nothing can have been sent
            self._outcome(event.row, event.result)
        elif isinstance(event, RunFinished):
            self._ending = True  # a failure from here on stops nothing: every request of the run is behind it
            self._write(records.end(event.facts, self.redact, several=self.several), sync=True)
        else:
            self._raise_if_failed()

    def _outcome(self, ref, result) -> None:
        self._write(records.outcome(ref, result, self.redact))

    def before_request(self, event: RowSending) -> None:
        """Group commit: the request waits until its intent is on disk, and one fsync serves every worker whose
        intent was written before it started (an fsync per intent under the delivery lock cost a third of a run)."""
        self._raise_if_failed()
        with self._count_lock:
            wanted = self._written
        with self._sync_lock:
            if self._synced < wanted:
                with self._count_lock:
                    covered = self._written
                self._sync()  # which also checks that the file is still there
                self._synced = covered
                return
        # Another worker's fsync covered this intent; the file must still be there for this request too (checked
        # outside the lock: the other workers need not queue behind a stat).
        self._still_there()

    # --- writing ---------------------------------------------------------------------------------------------

    def _write(self, record: dict, *, sync: bool = False) -> None:
        self._raise_if_failed()
        text = _ENCODER.encode(record) + "\n"
        if self._needs_newline:
            text = "\n" + text  # end the line a killed run tore, so this record starts on its own
        data = text.encode("utf-8")
        try:
            while data:
                data = data[os.write(self._lock.fd, data) :]
        except OSError as error:
            self._fail(f"could not be written ({error.strerror or error})")
        self._needs_newline = False
        with self._count_lock:
            self._written += 1
        if sync:
            self._sync()
            self._synced = self._written

    def _sync(self) -> None:
        """fsync, then check the file is still where the run's record is expected: an intent written into a file
        whose folder was deleted is on no disk anyone can read, so its request must not go out."""
        try:
            os.fsync(self._lock.fd)
        except OSError as error:
            self._fail(f"could not be written to disk ({error.strerror or error})")
        self._still_there()

    def _still_there(self) -> None:
        gone = self._lock.still_there()
        if gone:
            self._fail(gone, lost=True)

    def _fail(self, what: str, *, lost: bool = False) -> None:
        """Remember the first failure (the one the user must act on) and raise it."""
        if self.failure is None:
            if lost and self._ending:
                todo = (
                    "noticed as the run ended, after its last request, so it stopped nothing; this run's record is "
                    "lost: the results hold every row's outcome: keep them (undo works from them), and run again "
                    "with a new journal"
                )
            elif lost:
                todo = (
                    "the run stopped there and this run's record is lost; the results hold every row's outcome: "
                    "keep them (undo works from them), and run again with a new journal"
                )
            else:
                todo = (
                    "the run stopped there, and no request went out without its intent on disk; the results hold "
                    "every row's outcome. Free space on that disk (or lift the file-size limit), or move the file "
                    "to another disk, then run again with this journal to resume"
                )
            self.failure = printable(f"journal {self.path} {what}: {todo}")
        raise JournalError(self.failure)

    def _raise_if_failed(self) -> None:
        if self.failure is not None:
            raise JournalError(self.failure)


def settled_by(
    journal: str | os.PathLike[str],
    clients: Client | Clients | Sequence[Client],
    plan: Plan | Any,
    *,
    retry_unknown: bool = False,
    force: bool = False,
) -> set[Where]:
    """Before a resumed run asks for confirmation: refuse a journal of another run exactly as `apply` would, and
    return the configurations it settled, which the run will not send, as `Operation.where`: (instance,
    database_uuid, backup_uuid), the instance None for a run of one client.

    `plan` is the run's `Plan` (or anything `plan_of` takes: changes, a plan frame). The journal is let go again at
    once: the run opens (and locks) it itself."""
    if not isinstance(plan, Plan):
        plan = plan_of(plan)
    with Journal.open(journal, clients, plan, retry_unknown=retry_unknown, force=force) as opened:
        return opened.settled()
