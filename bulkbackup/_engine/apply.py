"""Apply changes to the server: take their plan, rebase it on the server once, send through a `Run`, verify, report.

`apply` takes changes or a plan and never plans a plan again: a plan's operations are rebased on what the server
holds when the run starts (`rebase.py`), so `before` is the value actually replaced whatever happened on the server
since the plan was made. The journal's resume returns decisions, the run returns outcomes, and the results frame
is built once from both. Everything that watches a run — the progress bar, the journal, a notebook panel, a
caller's own code — is a listener on the events of `events.py`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._coolify.limiter import RateCap
from bulkbackup._coolify.retry import RetryPolicy
from bulkbackup._coolify.state import configs_by_key, names_by_key
from bulkbackup._core.errors import BulkBackupError, ConfigError
from bulkbackup._core.events import Listener, RunFacts, RunFinished, RunStarted
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME
from bulkbackup._core.operations import Decision, Operation, Outcome, Plan, initial_outcome
from bulkbackup._core.statuses import Status
from bulkbackup._display.progress import ProgressBar
from bulkbackup._engine import sent, storage_ids
from bulkbackup._engine.deletes import guard
from bulkbackup._engine.journal import Journal
from bulkbackup._engine.plan import is_plan, plan_of
from bulkbackup._engine.rebase import STALE, rebase
from bulkbackup._engine.results import make_results
from bulkbackup._engine.run import Run, RunSettings, listener_name

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client


def apply(
    changes: Any,
    client: Client,
    *,
    dry_run: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
    rate: float | None = None,
    verify: bool = True,
    stop: threading.Event | None = None,
    retry: RetryPolicy | None = None,
    failure_streak: int = 8,
    listeners: Iterable[Listener] = (),
    journal: Any = None,
    retry_unknown: bool = False,
    force: bool = False,
    diff: bool = True,
    prefer: str | None = None,
    allow_delete: bool = False,
) -> pd.DataFrame:
    """Apply changes (anything `read_changes` takes, a `plan()` frame or its `Plan`) and return the results frame.

    A plan frame sends exactly its rows (filter it to send fewer), each rebased on the server as it is when the
    run starts: what the server already holds is not sent again, and a row whose server value moved since the
    plan says so in its message (and `results.attrs["run"].warnings` counts them).
    `workers` threads send in parallel (default: the client's, 4); `rate` caps requests per second for this run
    on top of the server's own limit; `stop` is an Event a caller (a Stop button) may set to end the run cleanly
    (a `reason` attribute on it, if any, is the reason reported);
    `progress` False hides the progress bar, True shows it at once, None shows it when the run takes a while.
    `listeners` are callables given every event of the run (see `bulkbackup.events`). `journal` is a path: the
    run is written down there before each request goes out, and applying the same changes (or a plan of them)
    with the same journal resumes the run (`retry_unknown`, `force`).
    After the run one more GET checks that every updated row now holds the values sent (`verified`).
    `diff=False` sends every given field without reading first (a token that cannot read); nothing is verified.
    The run's facts are in `results.attrs["run"]` (a `RunFacts`). `prefer` ("mine" or "server") settles the
    conflicts of an edited export, as in `plan`.
    The run's facts are in `results.attrs["run"]` (a `RunFacts`).
    `delete` rows (the undo of created configurations) go only with `allow_delete=True`: Coolify's DELETE also
    deletes that configuration's backup files. Without it each is `invalid`, saying so, and nothing of it is sent.
    """
    started_at = _now()
    if rate is not None and not (isinstance(rate, int | float) and rate > 0):
        raise ConfigError(f"rate must be a positive number of requests per second, not {rate!r}")
    given_plan = is_plan(changes) or isinstance(changes, Plan)
    planned = plan_of(changes) if given_plan else plan_of(changes, client, diff=diff, prefer=prefer)
    diff = diff and planned.diff
    keeper = (
        Journal.open(journal, client, planned, retry_unknown=retry_unknown, force=force)
        if journal is not None
        else None
    )
    try:
        operations = list(planned.operations)
        if given_plan:  # the one read of the server: the plan's operations rebased on what it holds now
            operations = _rebased(planned, client, read=diff)
        operations = guard(operations, allow_delete=allow_delete)
        decisions = keeper.decisions(operations) if keeper is not None else {}
        operations, settled = _decided(operations, decisions)
        to_send = [i for i, op in enumerate(operations) if op.sends and i not in settled]
        bar = ProgressBar(progress)
        run = Run(
            client,
            operations,
            to_send,
            RunSettings(
                retry=retry or client.retry,
                workers=workers or client.workers,
                failure_streak=failure_streak,
                cap=RateCap(rate) if rate is not None else None,
            ),
            listeners=[bar, *([keeper] if keeper is not None else []), *listeners],
            caller_stop=stop,
        )
        run.emit(
            RunStarted(
                endpoint=client.endpoint,
                source=planned.source,
                changes_hash=planned.identity.changes_hash,
                total=len(operations),
                to_send=0 if dry_run else len(to_send),
                dry_run=dry_run,
                server_version=keeper.server_version if keeper is not None else None,
                started_at=started_at,
            )
        )
        verification = "skipped: the run did not end"
        outcomes: list[Outcome] = []
        try:
            if dry_run:
                run.outcomes.update({i: Outcome(Status.PLANNED, message="dry run: not sent") for i in to_send})
            else:
                run.execute()
            outcomes = _outcomes(operations, settled, run.outcomes)
            verification, outcomes = _verification(
                operations, outcomes, client, run, enabled=verify and not dry_run, diff=diff
            )
            if not verification.startswith(("verified", "failed")) and not dry_run:
                # Not read back: what the server accepted (2xx) is what this machine set, so editing the same
                # export again is not a conflict with this run (sent.py); a verified run records what it read.
                sent.record(client.endpoint, operations, outcomes, None)
        finally:
            if not outcomes:
                outcomes = _outcomes(operations, settled, run.outcomes)
            results = make_results(operations, outcomes, planned.labels)
            results.attrs["source"] = planned.source
            facts = RunFacts(
                stopped=run.stopped,
                interrupted=run.interrupted,
                verification=verification,
                dry_run=dry_run,
                journal=keeper.path if keeper is not None else None,
                started_at=started_at,
                finished_at=_now(),
                counts=dict(Counter(str(o.status) for o in outcomes)),
                warnings=(
                    *(keeper.warnings if keeper is not None else ()),
                    *_stale_warning(operations),
                    *(() if given_plan else storage_ids.uncompared(operations)),  # a plan said it already
                ),
            )
            results.attrs["run"] = facts
            _attach(sys.exc_info()[1], results)
            try:
                failures = run.deliver(RunFinished(facts))
            except BaseException as error:  # a Ctrl-C in the last moment: the frame still goes with it
                _attach(error, results)
                raise
            # The journal's own failure on RunFinished is its `failure`, said once below, by file name.
            failures = [(listener, error) for listener, error in failures if listener is not keeper]
            if failures:  # too late to stop anything: said in the facts instead
                failed = f"the listener {listener_name(failures[0][0])} failed on RunFinished: {failures[0][1]!r}"
                results.attrs["run"] = replace(facts, warnings=(*facts.warnings, failed))
            if keeper is not None:
                keeper.close()
                if keeper.failure:  # the journal's first failed write, or the file gone: said once, by name
                    facts = results.attrs["run"]
                    kept = keeper.path if os.path.exists(keeper.path) else None
                    results.attrs["run"] = replace(
                        facts,
                        journal=kept,
                        journal_failure=keeper.failure,
                        warnings=(*facts.warnings, keeper.failure),
                    )
    finally:
        if keeper is not None:
            keeper.close()
    return results


def _attach(error: BaseException | None, results: pd.DataFrame) -> None:
    """Whatever escapes apply carries the partial frame as `error.results`."""
    if error is not None:
        with contextlib.suppress(AttributeError):
            error.results = results


# --- the operations of this run ----------------------------------------------------------------------------------


def _rebased(planned: Plan, client: Client, *, read: bool) -> list[Operation]:
    """The plan's operations rebased on the server as it is now (read once; `read` False: a blind run)."""
    version = client.server_version()
    databases = client.list_databases() if read else None
    current = configs_by_key(databases) if databases is not None else None
    names = names_by_key(databases) if databases is not None else None
    wanted = any("s3_storage_uuid" in op.payload for op in planned.operations)
    storages = storage_ids.known(client, databases, wanted) if databases is not None else None
    return [
        rebase(
            op,
            current,
            version=version,
            names=names,
            compared=planned.compared,
            source=planned.source,
            storages=storages,
        )
        for op in planned.operations
    ]


def _decided(operations: list[Operation], decisions: dict[int, Decision]) -> tuple[list[Operation], dict[int, Outcome]]:
    """The journal's decisions applied: the operations as they will be shown (and sent), and the settled rows'
    outcomes by index. A decision's operation replaces the planned one; a decision's note goes on the row."""
    shown, settled = [], {}
    for i, op in enumerate(operations):
        decision = decisions.get(op.ref.position)
        if decision is not None:
            if decision.operation is not None:
                op = decision.operation
            if decision.note:
                op = op.with_(notes=(*op.notes, decision.note))
            if decision.outcome is not None:
                settled[i] = decision.outcome
        shown.append(op)
    return shown, settled


def _outcomes(
    operations: Sequence[Operation], settled: dict[int, Outcome], answered: dict[int, Outcome]
) -> list[Outcome]:
    return [settled.get(i) or answered.get(i) or initial_outcome(op) for i, op in enumerate(operations)]


def _stale_warning(operations: Sequence[Operation]) -> tuple[str, ...]:
    """One line for the run's facts when rows changed on the server between the plan and the run."""
    moved = [op for op in operations if any(note.startswith(STALE) for note in op.notes)]
    if not moved:
        return ()
    named = ", ".join(f"{op.ref.database_uuid}/{op.ref.backup_uuid}" for op in moved[:5])
    more = f" and {len(moved) - 5} more" if len(moved) > 5 else ""
    return (
        f"{len(moved)} row{'s' * (len(moved) != 1)} changed on the server between the plan and the run "
        f"({named}{more}): their results say what was sent and what it replaced",
    )


# --- verification --------------------------------------------------------------------------------------------------


def _verification(
    operations: Sequence[Operation], outcomes: list[Outcome], client: Client, run: Run, *, enabled: bool, diff: bool
) -> tuple[str, list[Outcome]]:
    """("verified" | "failed: …" | "skipped: …" | "not needed", the outcomes with `verified` set)."""
    if enabled and not any(o.status == Status.UPDATED for o in outcomes):
        return "not needed", outcomes
    if not diff:  # a blind run reads nothing, also not afterwards (the token may be unable to)
        return "skipped: diff=False, nothing is read back", outcomes
    if not enabled:
        return "skipped: not asked", outcomes
    if run.interrupted:  # Ctrl-C (a second one, in the CLI): the user wants out now, not one more read
        return "skipped: the run was interrupted (Ctrl-C) before it could read the rows back", outcomes
    # After a stop nothing may wait for the rate limit: verified when the budget allows one read now, else skipped
    # with the wait it would have taken.
    spent = _spent(client) if run.stopped is not None else None
    if spent:
        return f"skipped: the run was stopped and {spent}; nothing waits after a stop", outcomes
    try:
        unverified, outcomes = _verify(operations, outcomes, client, no_wait=run.stopped is not None)
    except KeyboardInterrupt:
        run.interrupted = True
        return "skipped: interrupted (Ctrl-C)", outcomes
    if unverified:
        return unverified, outcomes
    if all(o.verified is not False for o in outcomes):
        return "verified", outcomes
    return "failed: some rows do not hold the values sent", outcomes


def _spent(client: Client) -> str | None:
    """Why one read cannot go at once (the server's budget, as the limiter knows it), or None when it can."""
    limiter = client.limiter
    decision = limiter.decision()
    if decision.action == "paused":
        return f"the server's rate-limit budget is spent (its window reopens in about {math.ceil(decision.wait)} s)"
    budget = limiter.budget
    if decision.action == "probe" and budget is not None and budget < 1:
        return "the server's rate-limit budget is spent (no request is left in its window)"
    return None


def _verify(
    operations: Sequence[Operation], outcomes: list[Outcome], client: Client, *, no_wait: bool = False
) -> tuple[str | None, list[Outcome]]:
    """Check that every updated row now holds what was sent; a mismatch is said on the row's outcome. The first
    item is None, or the verification when the read could not be made ("failed: …", "skipped: …").
    `no_wait`: after a stop, the read gives up rather than wait for the server's window."""
    import requests  # loaded by now: the run has sent its requests

    give_up = threading.Event()
    try:
        if no_wait:  # its own on_wait: no hearer announces a wait that is not made
            databases = client.get_json("/databases", stop=give_up, on_wait=lambda seconds: give_up.set())
            if not isinstance(databases, list):
                raise BulkBackupError(f"GET /databases: expected a JSON array, got {type(databases).__name__}")
        else:
            databases = client.list_databases()
        current = configs_by_key(databases)
    except (BulkBackupError, requests.RequestException) as error:
        if give_up.is_set():
            return "skipped: the run was stopped and the server's budget ran out; nothing waits after a stop", outcomes
        return f"failed: could not verify: {error}", outcomes
    storage_ids.learn(client, operations, outcomes, current)  # a uuid sent and read back as an id
    sent.record(client.endpoint, operations, outcomes, current)  # an export edited twice: not its own conflict
    checked = []
    for op, outcome in zip(operations, outcomes, strict=True):
        if outcome.status != Status.UPDATED or not op.payload:
            checked.append(outcome)
            continue
        config = current.get(op.key)
        mismatches = []
        for name, value in op.payload.items():
            field = BY_NAME[name]
            if name == BACKUP_NOW.name or not field.comparable:
                continue
            if config is None or not field.same(value, config.get(name)):
                mismatches.append(f"{name} is {None if config is None else config.get(name)!r}, sent {value!r}")
        message = outcome.message
        if mismatches:
            message += "; verification failed: " + "; ".join(mismatches)
        checked.append(outcome.with_(verified=not mismatches, message=message))
    return None, checked


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
