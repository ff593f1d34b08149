"""Apply changes to the server: plan against its current state, send through a `Run`, verify, report row by row.

`apply` always reads the server at the start, also when given a plan frame: `before` must be the value actually
replaced, whatever happened on the server since the plan was made. Everything that watches a run — the progress
bar, the journal, a notebook panel, a caller's own code — is a listener on the events of `events.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._coolify.limiter import RateCap
from bulkbackup._coolify.retry import RetryPolicy
from bulkbackup._coolify.state import configs_by_key, names_by_key
from bulkbackup._core.errors import BulkBackupError, ConfigError
from bulkbackup._core.events import Listener, RowRef, RunFacts, RunFinished, RunStarted
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME, CLEAR
from bulkbackup._core.operations import Operation
from bulkbackup._core.statuses import Action, Status
from bulkbackup._display.progress import ProgressBar
from bulkbackup._engine.journal import Journal
from bulkbackup._engine.journal_identity import hash_rows, skeleton
from bulkbackup._engine.plan import _where, is_plan, plan_row
from bulkbackup._engine.results import make_results
from bulkbackup._engine.run import Run, RunSettings, listener_name
from bulkbackup._input.changes import read_changes

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
) -> pd.DataFrame:
    """Apply changes (anything `read_changes` takes, or a `plan()` frame) and return the results frame.

    `workers` threads send in parallel (default: the client's, 4); `rate` caps requests per second for this run
    on top of the server's own limit; `stop` is an Event a caller (a Stop button) may set to end the run cleanly
    (a `reason` attribute on it, if any, is the reason reported);
    `progress` False hides the progress bar, True shows it at once, None shows it when the run takes a while.
    `listeners` are callables given every event of the run (see `bulkbackup.events`). `journal` is a path: the
    run is written down there before each request goes out, and applying the same changes with the same journal
    resumes the run (see `bulkbackup.journal`; `retry_unknown`, `force`).
    After the run one more GET checks that every updated row now holds the values sent (`verified`).
    `diff=False` sends every given field without reading first (a token that cannot read); nothing is verified.
    The run's facts are in `results.attrs["run"]` (a `RunFacts`).
    """
    started_at = _now()
    if rate is not None and not (isinstance(rate, int | float) and rate > 0):
        raise ConfigError(f"rate must be a positive number of requests per second, not {rate!r}")
    inputs = _inputs(changes)
    keeper = _open_journal(journal, client, inputs, retry_unknown=retry_unknown, force=force)
    try:
        diff = diff and inputs.diff
        databases = client.list_databases() if diff else None
        rows, refs, notes = _plan(inputs, databases, client.server_version())
        if keeper is not None:
            _resume(keeper, rows, refs, notes)
        to_send = [i for i, r in enumerate(rows) if Action(r["action"]).sends and r["status"] == Status.SKIPPED]
        bar = ProgressBar(progress)
        run = Run(
            client,
            rows,
            refs,
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
                source=inputs.source,
                changes_hash=inputs.changes_hash,
                total=len(rows),
                to_send=0 if dry_run else len(to_send),
                dry_run=dry_run,
                server_version=keeper.server_version if keeper is not None else None,
                started_at=started_at,
            )
        )
        verification, verification_error = "skipped: the run did not end", None
        try:
            if dry_run:
                for i in to_send:
                    rows[i].update(status=Status.PLANNED, message="dry run: not sent")
            else:
                run.execute()
            verification, verification_error = _verification(
                rows, client, run, enabled=verify and not dry_run, diff=diff
            )
        finally:
            for i, note in notes.items():
                rows[i]["message"] = f"{rows[i]['message']}; {note}" if rows[i]["message"] else note
            results = make_results(rows, inputs.index)
            facts = RunFacts(
                stopped=run.stopped,
                interrupted=run.interrupted,
                verification=verification,
                dry_run=dry_run,
                journal=keeper.path if keeper is not None else None,
                started_at=started_at,
                finished_at=_now(),
                counts=dict(Counter(str(s) for s in results["status"])),
                warnings=tuple(keeper.warnings) if keeper is not None else (),
            )
            results.attrs.update(
                source=inputs.source,
                stopped=facts.stopped,
                interrupted=facts.interrupted,
                verification_error=verification_error,
                dry_run=dry_run,
                run=facts,
            )
            _attach(sys.exc_info()[1], results)
            try:
                failures = run.deliver(RunFinished(facts))
            except BaseException as error:  # a Ctrl-C in the last moment: the frame still goes with it
                _attach(error, results)
                raise
            failures = [(listener, error) for listener, error in failures if listener is not keeper]
            if failures:  # too late to stop anything: said in the facts instead
                failed = f"the listener {listener_name(failures[0][0])} failed on RunFinished: {failures[0][1]!r}"
                results.attrs["run"] = replace(facts, warnings=(*facts.warnings, failed))
            if keeper is not None:
                keeper.close()
                if keeper.failure:  # the journal's first failed write, or the file gone: said once, by name
                    facts = results.attrs["run"]
                    kept = keeper.path if os.path.exists(keeper.path) else None
                    results.attrs["run"] = replace(facts, journal=kept, warnings=(*facts.warnings, keeper.failure))
    finally:
        if keeper is not None:
            keeper.close()
    return results


def _attach(error: BaseException | None, results: pd.DataFrame) -> None:
    """Whatever escapes apply carries the partial frame as `error.results`."""
    if error is not None:
        with contextlib.suppress(AttributeError):
            error.results = results


# --- the input -----------------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """The changes of a run, normalised: one dict per row as `plan_row` takes it, and what identifies them."""

    rows: list[dict]
    index: pd.Index
    source: str | None
    planned: list[dict] | None  # the plan frame's rows, when a plan was given: to say what changed since
    diff: bool = True  # False for a plan made with diff=False: it was never compared, so neither is the run
    compared: bool = False  # that plan was made against the server (an offline plan has no diff to compare)
    changes_hash: str = ""
    row_hashes: list[str] | None = None


def _inputs(changes: Any) -> Inputs:
    if is_plan(changes):
        planned = changes.to_dict("records")
        rows = [_wanted_from_plan(p) for p in planned]
        inputs = Inputs(
            rows,
            changes.index,
            changes.attrs.get("source"),
            planned,
            changes.attrs.get("diff", True),
            changes.attrs.get("compared", True),
        )
    else:
        frame = read_changes(changes)
        inputs = Inputs(frame.to_dict("records"), frame.index, frame.attrs.get("source"), None)
    inputs.changes_hash, inputs.row_hashes = hash_rows(inputs.rows)
    return inputs


def _wanted_from_plan(p: dict) -> dict:
    """A plan row back as a changes row: what it would send is what is wanted (a JSON null is a CLEAR)."""
    row = {"line": p.get("line"), "database_uuid": p["database_uuid"], "backup_uuid": p["backup_uuid"], "errors": []}
    if p["action"] == Action.INVALID:
        row["errors"] = [p.get("errors") or "invalid row"]
    elif p.get("payload"):
        for name, value in json.loads(p["payload"]).items():
            row[name] = CLEAR if value is None else value
    return row


# --- planning against the server as it is now --------------------------------------------------------------------


def _plan(
    inputs: Inputs, databases: list[dict] | None, version: str | None
) -> tuple[list[dict], list[RowRef], dict[int, str]]:
    current = configs_by_key(databases) if databases is not None else None
    names = names_by_key(databases or ())
    source = inputs.source or "<DataFrame>"
    rows, refs, notes = [], [], {}
    for position, (label, wanted) in enumerate(zip(inputs.index, inputs.rows, strict=True)):
        if inputs.planned is not None and inputs.planned[position]["action"] == Action.INVALID:
            p = dict(inputs.planned[position])  # a plan's own verdict: its errors cannot be re-derived
        else:
            p = plan_row(wanted, current, where=_where(source, label, wanted.get("line")), version=version)
        if inputs.planned is not None and inputs.compared:
            note = _stale_note(inputs.planned[position], p)
            if note:
                notes[position] = note
        rows.append(_row_from_plan(p))
        name, kind = names.get((p["database_uuid"], p["backup_uuid"]), (None, None))
        line = p.get("line")
        refs.append(
            RowRef(
                position=position,
                label=label,
                line=None if line is None or pd.isna(line) else int(line),
                database_uuid=p["database_uuid"],
                backup_uuid=p["backup_uuid"],
                database_name=name,
                database_type=kind,
            )
        )
    return rows, refs, notes


def _stale_note(planned: dict, now: dict) -> str:
    if (planned.get("payload") or "") == now["payload"] and (planned.get("before") or "") == now["before"]:
        return ""
    was = planned.get("diff") or "nothing to send"
    return f"the server changed since the plan (planned: {was}; now: {now['diff'] or 'nothing to send'})"


def _row_from_plan(p: dict) -> dict:
    action = Action(p["action"])
    status = {Action.UNCHANGED: Status.UNCHANGED, Action.INVALID: Status.INVALID}.get(action, Status.SKIPPED)
    message = {
        Action.UNCHANGED: "already as wanted: nothing sent",
        Action.INVALID: "not sent: invalid row",
    }.get(action, "")
    return {
        "line": p.get("line"),
        "database_uuid": p["database_uuid"],
        "backup_uuid": p["backup_uuid"],
        "status": status,
        "http_status": None,
        "message": message,
        "errors": p.get("errors") or "",
        "attempts": 0,
        "elapsed_s": 0.0,
        "payload": p.get("payload") or "",
        "before": p.get("before") or "",
        "verified": None,
        "action": action,
    }


# --- the journal ---------------------------------------------------------------------------------------------------


def _open_journal(journal: Any, client: Client, inputs: Inputs, *, retry_unknown: bool, force: bool):
    if journal is None:
        return None
    # A bridge until the engine's typed apply lands: the journal takes a Plan; this one carries its identity.
    plan = skeleton(inputs.rows, list(inputs.index), inputs.source)
    return Journal.open(journal, client, plan, retry_unknown=retry_unknown, force=force)


def _resume(keeper: Journal, rows: list[dict], refs: list[RowRef], notes: dict[int, str]) -> None:
    """The journal's decisions written onto the rows (a bridge until the engine's typed apply lands)."""
    operations = [
        Operation(
            ref,
            Action(row["action"]),
            payload=json.loads(row["payload"]) if row["payload"] else {},
            before=json.loads(row["before"]) if row["before"] else {},
            errors=(row["errors"],) if row["errors"] else (),
        )
        for row, ref in zip(rows, refs, strict=True)
    ]
    for position, decision in keeper.decisions(operations).items():
        row = rows[position]
        if decision.operation is not None:
            operation = decision.operation
            row.update(
                action=operation.action,
                payload=json.dumps(dict(operation.payload)) if operation.payload else "",
                before=json.dumps(dict(operation.before)) if operation.before else "",
            )
        if decision.outcome is not None:
            outcome = decision.outcome
            row.update(status=outcome.status, http_status=outcome.http_status, message=outcome.message, attempts=0)
        if decision.note:
            notes[position] = decision.note


# --- verification --------------------------------------------------------------------------------------------------


def _verification(rows: list[dict], client: Client, run: Run, *, enabled: bool, diff: bool) -> tuple[str, str | None]:
    """("verified" | "failed: …" | "skipped: …" | "not needed", the old `verification_error` attr)."""
    if enabled and not any(r["status"] == Status.UPDATED for r in rows):
        return "not needed", None
    if not diff:  # a blind run reads nothing, also not afterwards (the token may be unable to)
        skipped = "skipped: diff=False, nothing is read back"
        return skipped, f"verification {skipped}"
    if not enabled:
        return "skipped: not asked", None
    if run.stopped is not None and (run.interrupted or client.limiter.decision().action != "go"):
        # After a stop nothing may wait for the rate limit: a stopped run ends now, unverified, and says so.
        return "skipped: the run was stopped and the server's rate-limit budget is spent", None
    try:
        error = _verify(rows, client)
    except KeyboardInterrupt:
        run.interrupted = True
        return "skipped: interrupted (Ctrl-C)", None
    if error:
        return f"failed: {error}", error
    if all(r["verified"] is not False for r in rows):
        return "verified", None
    return "failed: some rows do not hold the values sent", None


def _verify(rows: list[dict], client: Client) -> str | None:
    """Check that every updated row now holds what was sent; a mismatch is reported on the row."""
    import requests  # loaded by now: the run has sent its requests

    try:
        current = configs_by_key(client.list_databases())
    except (BulkBackupError, requests.RequestException) as error:
        return f"could not verify: {error}"
    for row in rows:
        if row["status"] != Status.UPDATED or not row["payload"]:
            continue
        config = current.get((row["database_uuid"], row["backup_uuid"]))
        payload = json.loads(row["payload"])
        mismatches = []
        for name, value in payload.items():
            field = BY_NAME[name]
            if name == BACKUP_NOW.name or not field.comparable:
                continue
            if config is None or not field.same(value, config.get(name)):
                mismatches.append(f"{name} is {None if config is None else config.get(name)!r}, sent {value!r}")
        row["verified"] = not mismatches
        if mismatches:
            row["message"] += "; verification failed: " + "; ".join(mismatches)
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
