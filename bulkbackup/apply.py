"""Send a plan to the server: in parallel, at the server's pace, with only the retries that are safe.

Workers take rows in input order and send them through the client, whose shared limiter follows the server's
rate-limit budget. The main thread collects outcomes, drives the progress bar, and decides when the whole run
must stop (401/403, the server gone, Ctrl-C or the caller's stop event); whatever was not attempted by then is
`skipped`, never lost.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import BulkBackupError
from .fields import BACKUP_NOW, BY_NAME, uuid_problem
from .plan import is_plan, plan
from .results import make_results
from .retry import FailureStreak, Outcome, RetryPolicy, Stopped
from .state import configs_by_key

if TYPE_CHECKING:
    import requests

    from .client import Client


@dataclass
class _Sent:
    status: str
    http_status: int | None = None
    message: str = ""
    attempts: int = 0
    elapsed_s: float = 0.0
    stops_run: str | None = None  # why the whole run must stop after this row, if it must
    transport_failure: bool = False


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
) -> pd.DataFrame:
    """Apply changes (anything `read_changes` takes, or a `plan()` frame) and return the results frame.

    `workers` threads send in parallel (default: the client's, 4); `rate` caps requests per second on top of
    the server's own limit; `stop` is an Event a caller (a Stop button) may set to end the run cleanly;
    `progress` False hides the progress bar, True shows it at once, None shows it when the run takes a while.
    After the run one more GET checks that every updated row now holds the values sent (`verified`).
    """
    planned = changes if is_plan(changes) else plan(changes, client)
    rows = [_row_from_plan(r) for r in planned.to_dict("records")]
    to_send = [i for i, r in enumerate(rows) if r["action"] in ("update", "trigger")]
    stopped: str | None = None
    interrupted = False
    if dry_run:
        for i in to_send:
            rows[i].update(status="planned", message="dry run: not sent")
    else:
        client_rate = client.limiter.rate
        if rate is not None:
            client.limiter.rate = rate  # for this run only
        try:
            stopped, interrupted = _send_all(
                rows,
                to_send,
                client,
                stop,
                retry or client.retry,
                workers or client.workers,
                progress,
                failure_streak,
            )
        finally:
            client.limiter.rate = client_rate
    verification_error = None
    if verify and not dry_run and any(r["status"] == "updated" for r in rows):
        verification_error = _verify(rows, client)
    results = make_results(rows, planned.index)
    results.attrs.update(
        source=planned.attrs.get("source"),
        stopped=stopped,
        interrupted=interrupted,
        verification_error=verification_error,
        dry_run=dry_run,
    )
    return results


def _row_from_plan(p: dict) -> dict:
    action = p["action"]
    status = {"unchanged": "unchanged", "invalid": "invalid"}.get(action, "skipped")
    message = {"unchanged": "already as wanted: nothing sent", "invalid": "not sent: invalid row"}.get(action, "")
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


def _send_all(rows, to_send, client, caller_stop, policy, workers, progress, failure_streak) -> tuple[str | None, bool]:
    """Send the rows `to_send`; returns why the run stopped early (None if it did not) and whether Ctrl-C did it."""
    from tqdm.auto import tqdm

    # The run's own stop signal: the caller's event is only read, so the same Stop button serves the next run too.
    stop = threading.Event()

    tasks: queue.Queue[int] = queue.Queue()
    for i in to_send:
        tasks.put(i)
    done: queue.Queue[tuple[int, _Sent]] = queue.Queue()
    in_flight: dict[int, float] = {}
    lock = threading.Lock()
    streak = FailureStreak(failure_streak)

    def work() -> None:
        while not stop.is_set():
            try:
                i = tasks.get_nowait()
            except queue.Empty:
                return
            with lock:
                in_flight[i] = time.monotonic()
            outcome = _send_row(rows[i], client, policy, stop)
            if outcome.stops_run:
                stop.set()  # at once: no other worker may start a request after a 401/403
            with lock:
                in_flight.pop(i, None)
            done.put((i, outcome))

    threads = [
        threading.Thread(target=work, name=f"bulkbackup-{n}", daemon=True)
        for n in range(max(1, min(workers, len(to_send))))
    ]
    bar = tqdm(
        total=len(to_send),
        unit="row",
        desc="apply",
        disable=progress is False or not to_send,
        delay=0 if progress else 1.0,
    )
    stopped: str | None = None
    interrupted = False
    received = 0
    try:
        for t in threads:
            t.start()
        while received < len(to_send):
            if caller_stop is not None and caller_stop.is_set() and not stop.is_set():
                stopped = stopped or "stopped by the caller"
                stop.set()
            try:
                i, outcome = done.get(timeout=0.1)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done.empty():
                    break
                continue
            received += 1
            _record(rows[i], outcome)
            bar.update(1)
            if outcome.stops_run and stopped is None:
                stopped = outcome.stops_run
                stop.set()
            if streak.record(not outcome.transport_failure) and stopped is None:
                stopped = f"{failure_streak} requests in a row could not reach the server"
                stop.set()
    except KeyboardInterrupt:
        stopped, interrupted = "interrupted (Ctrl-C)", True
    finally:
        stop.set()  # whatever ended the loop, no worker may start another request
        try:
            for t in threads:
                t.join()
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting; what is still in flight is reported as such below
        while not done.empty():
            i, outcome = done.get_nowait()
            _record(rows[i], outcome)
            bar.update(1)
        bar.close()
    with lock:
        for i in in_flight:
            unsafe = BACKUP_NOW.name in json.loads(rows[i]["payload"])
            rows[i].update(
                status="unknown" if unsafe else "failed",
                message="interrupted while the request was in flight; check the server before re-sending",
            )
    reason = stopped or "the run stopped"
    for i in to_send:
        if rows[i]["status"] == "skipped" and not rows[i]["message"]:
            rows[i]["message"] = f"not sent: {reason}"
    return stopped, interrupted


def _record(row: dict, outcome: _Sent) -> None:
    row.update(
        status=outcome.status,
        http_status=outcome.http_status,
        message=outcome.message,
        attempts=outcome.attempts,
        elapsed_s=round(outcome.elapsed_s, 4),
    )


def _send_row(row: dict, client: Client, policy: RetryPolicy, stop: threading.Event) -> _Sent:
    problem = uuid_problem(row["database_uuid"]) or uuid_problem(row["backup_uuid"])
    if problem:
        return _Sent("invalid", message=f"not sent: {problem}")
    payload = json.loads(row["payload"])
    unsafe = BACKUP_NOW.name in payload
    path = f"/databases/{row['database_uuid']}/backups/{row['backup_uuid']}"
    started = time.monotonic()
    attempted = client.attempt("PATCH", path, json=payload, unsafe=unsafe, stop=stop, policy=policy)
    elapsed = time.monotonic() - started
    sent = attempted.attempts  # requests that went out: a stop while waiting for the limiter sends nothing
    response = attempted.response
    if response is not None and attempted.outcome is Outcome.DONE:
        return _answered(response, payload, sent, elapsed)
    if isinstance(attempted.error, Stopped):
        if sent == 0:
            return _Sent("skipped", attempts=0, elapsed_s=elapsed)
        # The attempt before the stop was one the policy judged safe to repeat: it changed nothing for certain,
        # or only set values that a later run sets again.
        return _Sent(
            "failed",
            attempts=sent,
            elapsed_s=elapsed,
            message=f"the run stopped before a retry (after {sent} attempt{'s' * (sent != 1)})",
        )
    what = _describe(attempted)
    transport = response is None
    if attempted.outcome is Outcome.UNKNOWN:
        return _Sent(
            "unknown",
            http_status=_status(response),
            attempts=sent,
            elapsed_s=elapsed,
            transport_failure=transport,
            message=(
                f"{what}: the request may have taken effect and was not re-sent because it starts a "
                f"backup; check GET /api/v1{path}/executions before triggering again"
            ),
        )
    return _Sent(
        "failed",
        http_status=_status(response),
        attempts=sent,
        elapsed_s=elapsed,
        transport_failure=transport,
        message=f"{what} (after {sent} attempt{'s' * (sent != 1)})",
    )


def _answered(response: requests.Response, payload: dict, attempts: int, elapsed: float) -> _Sent:
    code = response.status_code
    body = _json_body(response)
    server_message = _server_message(body)
    if 200 <= code < 300:
        triggered_only = list(payload) == [BACKUP_NOW.name]
        status = "triggered" if triggered_only else "updated"
        message = server_message or "OK"
        if BACKUP_NOW.name in payload:
            message += "; backup started"
        return _Sent(status, code, message, attempts, elapsed)
    detail = server_message or response.reason or ""
    if isinstance(body, dict) and isinstance(body.get("errors"), dict):
        detail += " " + "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in body["errors"].items())
    elif isinstance(body, dict) and body.get("error"):
        detail += f" {body['error']}"
    result = _Sent("rejected", code, f"{code} {detail}".strip(), attempts, elapsed)
    if code in (401, 403):
        result.stops_run = f"the server answered {code} {server_message or response.reason}".strip()
    return result


def _describe(attempted) -> str:
    if attempted.response is not None:
        text = _server_message(_json_body(attempted.response))
        return f"server error {attempted.response.status_code} {text}".strip()
    error = attempted.error
    return f"could not reach the server ({type(error).__name__})" if error else "no answer"


def _status(response: requests.Response | None) -> int | None:
    return None if response is None else response.status_code


def _server_message(body: object) -> str:
    return body.get("message") or "" if isinstance(body, dict) else ""


def _json_body(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _verify(rows: list[dict], client: Client) -> str | None:
    """Check that every updated row now holds what was sent; a mismatch is reported on the row."""
    import requests  # loaded by now: the run has sent its requests

    try:
        current = configs_by_key(client.list_databases())
    except (BulkBackupError, requests.RequestException) as error:
        return f"could not verify: {error}"
    for row in rows:
        if row["status"] != "updated":
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
