"""Apply changes to the servers: take their plan, rebase it on each server once, send through a `Run`, verify, report.

`apply` takes changes or a plan and never plans a plan again: a plan's operations are rebased on what each server
holds when the run starts (`instances.py`, `rebase.py`), so `before` is the value actually replaced whatever
happened on the server since the plan was made. A run over several instances has one lane per instance
(`lanes.py`): the same steps, each instance at its own pace, all at once. The journal's resume returns decisions,
the run returns outcomes, and the results frame is built once from both. Everything that watches a run — the
progress bar, the journal, a notebook panel, a caller's own code — is a listener on the events of `events.py`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._coolify.clients import clients_of
from bulkbackup._coolify.limiter import RateCap
from bulkbackup._coolify.retry import RetryPolicy
from bulkbackup._core.errors import ConfigError
from bulkbackup._core.events import Listener, RunFacts, RunFinished, RunStarted
from bulkbackup._core.operations import Decision, Operation, Outcome, Plan, initial_outcome
from bulkbackup._core.statuses import Status
from bulkbackup._display.progress import ProgressBar
from bulkbackup._engine import storage_ids
from bulkbackup._engine.deletes import guard
from bulkbackup._engine.instances import facts as instance_facts
from bulkbackup._engine.instances import rebased, verified
from bulkbackup._engine.journal import Journal
from bulkbackup._engine.lanes import Lane, RunSettings, assign, lanes_of, summed_verification
from bulkbackup._engine.plan import is_plan, plan_of
from bulkbackup._engine.rebase import STALE
from bulkbackup._engine.results import make_results
from bulkbackup._engine.run import Run, listener_name

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client


def apply(
    changes: Any,
    client: Client | Sequence[Client],
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

    `client` is one Client, or a list of them (one per Coolify instance): rows are then routed by their `instance`
    column, and every instance is sent at once, each at its own server's pace (its own limiter, workers, retry,
    failure streak and stop), so the run takes about as long as its slowest instance. A 401/403, an answer that is
    not the API or an instance's server gone stops only that instance's rows; `stop`, Ctrl-C and a failing journal
    stop them all. `results.attrs["run"].instances` says how each instance went.
    A plan frame sends exactly its rows (filter it to send fewer), each rebased on the server as it is when the
    run starts: what the server already holds is not sent again, and a row whose server value moved since the
    plan says so in its message (and `results.attrs["run"].warnings` counts them).
    `workers` threads send in parallel per instance (default: the client's, 4); `rate` caps requests per second
    per instance for this run on top of the server's own limit; `stop` is an Event a caller (a Stop button) may
    set to end the run cleanly (a `reason` attribute on it, if any, is the reason reported);
    `progress` False hides the progress bar, True shows it at once, None shows it when the run takes a while.
    `listeners` are callables given every event of the run (see `bulkbackup.events`). `journal` is a path: the
    run is written down there before each request goes out, and applying the same changes (or a plan of them)
    with the same journal resumes the run (`retry_unknown`, `force`).
    After the run one more GET checks that every updated row now holds the values sent (`verified`).
    `diff=False` sends every given field without reading first (a token that cannot read); nothing is verified.
    `prefer` ("mine" or "server") settles the conflicts of an edited export, as in `plan`.
    The run's facts are in `results.attrs["run"]` (a `RunFacts`).
    `delete` rows (the undo of created configurations) go only with `allow_delete=True`: Coolify's DELETE also
    deletes that configuration's backup files. Without it each is `invalid`, saying so, and nothing of it is sent.
    """
    started_at = _now()
    if rate is not None and not (isinstance(rate, int | float) and rate > 0):
        raise ConfigError(f"rate must be a positive number of requests per second, not {rate!r}")
    clients = clients_of(client)
    several = clients.several
    one = clients if several else clients[0]  # what plan and the journal take: as given
    given_plan = is_plan(changes) or isinstance(changes, Plan)
    planned = plan_of(changes) if given_plan else plan_of(changes, one, diff=diff, prefer=prefer)
    diff = diff and planned.diff
    keeper = (
        Journal.open(journal, one, planned, retry_unknown=retry_unknown, force=force) if journal is not None else None
    )
    try:

        def settings(c: Client) -> RunSettings:  # each lane its own: a RateCap is a pace, not to be shared
            return RunSettings(
                retry=retry or c.retry,
                workers=workers or c.workers,
                failure_streak=failure_streak,
                cap=RateCap(rate) if rate is not None else None,
            )

        lanes = lanes_of(clients, planned.operations, settings)
        operations = list(planned.operations)
        if given_plan:  # the one read of each server: the plan's operations rebased on what it holds now
            operations = rebased(planned, lanes, read=diff, several=several)
        operations = guard(operations, allow_delete=allow_delete)
        decisions = keeper.decisions(operations) if keeper is not None else {}
        operations, settled = _decided(operations, decisions)
        to_send = [i for i, op in enumerate(operations) if op.sends and i not in settled]
        settled.update(assign(lanes, to_send, operations))  # a row no client serves: never sent
        to_send = [i for i in to_send if i not in settled]
        bar = ProgressBar(
            progress,
            instances={lane.name: len(lane.to_send) for lane in lanes if lane.name is not None},
            stopped=lambda: run.lanes_stopped(),
        )
        run = Run(
            lanes,
            operations,
            listeners=[bar, *([keeper] if keeper is not None else []), *listeners],
            caller_stop=stop,
        )
        run.emit(
            RunStarted(
                endpoint=None if several else clients[0].endpoint,
                source=planned.source,
                changes_hash=planned.identity.changes_hash,
                total=len(operations),
                to_send=0 if dry_run else len(to_send),
                dry_run=dry_run,
                server_version=keeper.server_version if keeper is not None else None,
                started_at=started_at,
                instances={c.name: c.endpoint for c in clients} if several else {},
            )
        )
        verification = "skipped: the run did not end"
        verifications: dict[Lane, str] = {}
        outcomes: list[Outcome] = []
        try:
            if dry_run:
                run.outcomes.update({i: Outcome(Status.PLANNED, message="dry run: not sent") for i in to_send})
            else:
                run.execute()
            outcomes = _outcomes(operations, settled, run.outcomes)
            verifications, outcomes = verified(
                lanes, operations, outcomes, run, enabled=verify and not dry_run, diff=diff, record=not dry_run
            )
            by_name = {lane.client.name: text for lane, text in verifications.items()}
            verification = summed_verification(by_name) if several else verifications[lanes[0]]
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
                instances=instance_facts(lanes, outcomes, verifications, verification) if several else {},
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
    named = ", ".join(
        f"{op.ref.instance + ': ' if op.ref.instance else ''}{op.ref.database_uuid}/{op.ref.backup_uuid}"
        for op in moved[:5]
    )
    more = f" and {len(moved) - 5} more" if len(moved) > 5 else ""
    return (
        f"{len(moved)} row{'s' * (len(moved) != 1)} changed on the server between the plan and the run "
        f"({named}{more}): their results say what was sent and what it replaced",
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
