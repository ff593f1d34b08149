"""One run of `apply`: send the operations, in parallel, at the server's pace, and tell the listeners row by row.

Workers take operations in input order and send them (`Operation.request()`) through the client, whose shared
limiter follows the server's rate-limit budget. Each worker tells the listeners `RowSending` before its request goes
out and `RowFinished` after, so the journal is written in the thread that sends. The calling thread only waits, and
decides when the whole run must stop (the caller's stop event, Ctrl-C); a 401/403, the server gone or a failing
listener stop it from the worker that saw it. Whatever was not attempted by then is `skipped`, never lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bulkbackup._coolify.answers import Answer
from bulkbackup._coolify.connection import describe_transport_error
from bulkbackup._coolify.limiter import RateCap
from bulkbackup._coolify.retry import FailureStreak, RetryPolicy, Stopped
from bulkbackup._coolify.retry import Outcome as Attempt
from bulkbackup._core.events import Event, Listener, RowFinished, RowSending, Waiting
from bulkbackup._core.fields import uuid_problem
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import Action, Status

if TYPE_CHECKING:
    import requests  # for annotations only: requests loads with the first Client (see retry.py)

    from bulkbackup._coolify.client import Client

log = logging.getLogger(__name__)

# A wait for the server's window is announced again only when it ends this much later than the one announced: every
# worker blocked on the same pause reports it, and one event per pause is what a display needs.
_WAIT_ANNOUNCE_SLACK = 0.5
# Rows a worker announces together when a listener makes announcements durable (the journal): one fsync for all.
_BATCH = 8


@dataclass(frozen=True)
class _Sent:
    """A row's outcome and what it means for the run as a whole."""

    outcome: Outcome
    stops_run: str | None = None  # why the whole run must stop after this row, if it must
    transport_failure: bool = False


def _skipped(message: str = "", stops_run: str | None = None) -> _Sent:
    return _Sent(Outcome(Status.SKIPPED, message=message), stops_run=stops_run)


@dataclass(frozen=True)
class RunSettings:
    """What one run needs besides its rows; derived for the run, never written into the shared client."""

    retry: RetryPolicy
    workers: int
    failure_streak: int
    cap: RateCap | None = None


def listener_name(listener: Listener) -> str:
    return getattr(listener, "__qualname__", None) or type(listener).__name__


class Run:
    """The operations at positions `to_send` of `operations` sent under `settings`, told to `listeners`.

    `outcomes` maps each of those positions to its outcome (`skipped` until it has another)."""

    def __init__(
        self,
        client: Client,
        operations: Sequence[Operation],
        to_send: list[int],
        settings: RunSettings,
        *,
        listeners: Iterable[Listener] = (),
        caller_stop: threading.Event | None = None,
    ):
        self.client = client
        self.operations = operations
        self.to_send = list(to_send)
        self.outcomes: dict[int, Outcome] = {i: Outcome(Status.SKIPPED) for i in self.to_send}
        self.settings = settings
        self.listeners = list(listeners)
        self._before_request = [
            hook for hook in (getattr(x, "before_request", None) for x in self.listeners) if callable(hook)
        ]
        self.caller_stop = caller_stop
        # The run's own stop signal: the caller's event is only read, so the same Stop button serves the next run.
        self.stop = threading.Event()
        self.stopped: str | None = None
        self.interrupted = False
        self._deliver = threading.Lock()  # events go out one at a time
        self._lock = threading.Lock()  # the run's state below
        self._in_flight: set[int] = set()
        self._finished: set[int] = set()
        self._announced: set[int] = set()  # rows whose RowSending was delivered
        self._went_out: dict[int, int] = {}  # attempts whose request left, per row: what a give-up reports
        self._streak = FailureStreak(settings.failure_streak)
        self._wait_until = 0.0
        self._live = 0  # workers still running
        self._next = 0  # position in to_send of the next row a worker takes
        self._all_done = threading.Event()

    # --- the seam ----------------------------------------------------------------------------------------------

    def deliver(self, event: Event) -> list[tuple[Listener, Exception]]:
        """Give `event` to every listener, one event at a time; the listeners that raised, with what they raised."""
        failures = []
        with self._deliver:
            for listener in self.listeners:
                try:
                    listener(event)
                except Exception as error:  # noqa: BLE001 - a listener's failure is reported, never swallowed
                    failures.append((listener, error))
        return failures

    def emit(self, event: Event) -> None:
        """Deliver an event after which a failing listener stops the run (every event but `RowSending`)."""
        failures = self.deliver(event)
        if failures:
            self.halt(_listener_failure(failures, event))

    def halt(self, reason: str) -> None:
        """Stop the run: no worker starts another request; the first reason given is the one reported."""
        with self._lock:
            if self.stopped is None:
                self.stopped = reason
        self.stop.set()

    def _waiting(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        with self._lock:
            if until <= self._wait_until + _WAIT_ANNOUNCE_SLACK:
                return
            self._wait_until = until
        self.emit(Waiting(seconds))

    # --- running -----------------------------------------------------------------------------------------------

    def execute(self) -> None:
        """Send every row `to_send`; returns when all are final, the run stopped, or a second Ctrl-C gave up."""
        if self.caller_stop is not None and self.caller_stop.is_set():
            self.halt(self._caller_reason())  # before anything went out: a pressed Stop sends nothing
        threads = [
            threading.Thread(target=self._work, name=f"bulkbackup-{n}", daemon=True)
            for n in range(max(1, min(self.settings.workers, len(self.to_send))))
        ]
        # Waiting on an Event, not Thread.join: a Ctrl-C landing inside join() can leave the thread looking finished
        # on Python 3.11, and then a request still in flight would be reported as given up.
        self._live = len(threads) if not self.stop.is_set() else 0
        if not self._live:
            self._all_done.set()
        give_up = False
        try:
            if self._live:
                for t in threads:
                    t.start()
            while not self._all_done.wait(0.05):
                if self.caller_stop is not None and self.caller_stop.is_set() and not self.stop.is_set():
                    self.halt(self._caller_reason())
        except KeyboardInterrupt:
            # A Ctrl-C while the run was already stopping (a first Ctrl-C the CLI turned into the stop event, a
            # Stop button) is the second one: stop waiting for what is in flight.
            give_up = self.stop.is_set() or (self.caller_stop is not None and self.caller_stop.is_set())
            self.interrupted = True
            self.halt("interrupted (Ctrl-C)")
        finally:
            self.stop.set()  # whatever ended the wait, no worker may start another request
            try:
                if not give_up:
                    self._all_done.wait()
            except KeyboardInterrupt:
                self.interrupted = True  # a second Ctrl-C: stop waiting; what is in flight is recorded below
                self.halt("interrupted (Ctrl-C)")
            self._give_up_in_flight()
        reason = self.stopped or "the run stopped"
        for i in self.to_send:
            outcome = self.outcomes[i]
            if outcome.status == Status.SKIPPED and not outcome.message:
                self.outcomes[i] = outcome.with_(message=f"not sent: {reason}")

    def _caller_reason(self) -> str:
        # A caller may name why it pressed Stop (the CLI: "interrupted (Ctrl-C)") in the event's `reason`.
        return getattr(self.caller_stop, "reason", None) or "stopped by the caller"

    def _running(self) -> bool:
        if self.caller_stop is not None and self.caller_stop.is_set():
            self.halt(self._caller_reason())
        return not self.stop.is_set()

    def _take(self) -> list[int]:
        """The next rows for one worker: one, or with a durable listener (the journal) a batch announced together
        so that one fsync covers them all. A `backup_now` row goes alone, announced right before its request:
        an announced row that a kill leaves without outcome "may have been sent", which only a harmless,
        repeatable request can afford."""
        batch: list[int] = []
        with self._lock:
            # Smaller batches towards the end, so that no worker is left sending a whole batch while others idle.
            left = len(self.to_send) - self._next
            limit = max(1, min(_BATCH, left // self.settings.workers)) if self._before_request else 1
            while self._next < len(self.to_send) and len(batch) < limit:
                i = self.to_send[self._next]
                unsafe = not self.operations[i].repeatable
                if batch and unsafe:
                    break
                self._next += 1
                batch.append(i)
                if unsafe:
                    break
        return batch

    def _work(self) -> None:
        try:
            while self._running():
                batch = self._take()
                if not batch:
                    return
                self._send_batch(batch)
        finally:
            with self._lock:
                self._live -= 1
                if self._live <= 0:
                    self._all_done.set()

    def _send_batch(self, batch: list[int]) -> None:
        ready: list[tuple[int, RowSending]] = []
        current = batch[0]
        try:
            for current in batch:
                sending = self._announce(current)
                if sending is not None:
                    ready.append((current, sending))
                elif self.stop.is_set():
                    break
            if ready and not self._durable(ready):
                return
            for current, _ in ready:
                self._running()  # a Stop pressed meanwhile: the request below then ends `skipped`, unsent
                with self._lock:
                    self._in_flight.add(current)
                self._finish(current, self._request(self.operations[current], current))
        except Exception as error:  # noqa: BLE001 - our own failure: recorded on the row, the run stops
            log.exception("worker failed on row %s", current)
            reason = f"an internal error stopped the run: {type(error).__name__}: {self.client.redact(error)}"
            sent = current in self._in_flight
            repeatable = self.operations[current].repeatable
            status = Status.SKIPPED if not sent else Status.FAILED if repeatable else Status.UNKNOWN
            self._finish(current, _Sent(Outcome(status, message=reason), stops_run=reason))
            for i, _ in ready:  # announced, never sent
                self._finish(i, _skipped(f"not sent: {reason}"))

    def _announce(self, i: int) -> RowSending | None:
        """Tell the listeners a row's request is about to go out; None when it must not (then it is finished)."""
        operation = self.operations[i]
        ref = operation.ref
        problem = uuid_problem(ref.database_uuid) or (
            operation.action is not Action.CREATE and uuid_problem(ref.backup_uuid)
        )
        if problem:
            # Never announced as sending: no request goes out for it.
            outcome = Outcome(Status.INVALID, message=f"not sent: {problem}")
            with self._lock:
                self._finished.add(i)
                self.outcomes[i] = outcome
            self.emit(RowFinished(ref, outcome))
            return None
        sending = RowSending(ref, operation.payload, operation.before)
        failures = self.deliver(sending)
        if failures:
            reason = _listener_failure(failures, "RowSending")
            self._finish(i, _skipped(f"not sent: {reason}", stops_run=reason))
            return None
        with self._lock:
            self._announced.add(i)
        return sending

    def _durable(self, ready: list[tuple[int, RowSending]]) -> bool:
        """Run the listeners' before_request hooks for the rows announced; on a failure none of them is sent."""
        for hook in self._before_request:
            try:
                for _, sending in ready:
                    hook(sending)  # after the first, a group commit finds the rest already on disk
            except Exception as error:  # noqa: BLE001 - as a raise on RowSending: the requests must not go out
                reason = _listener_failure([(hook, error)], "RowSending")
                for i, _ in ready:
                    self._finish(i, _skipped(f"not sent: {reason}", stops_run=reason))
                return False
        return True

    def _request(self, operation: Operation, i: int) -> _Sent:
        request = operation.request()
        started = time.monotonic()

        def left() -> None:  # an attempt's request left: what a give-up on a request in flight reports
            with self._lock:
                self._went_out[i] = self._went_out.get(i, 0) + 1

        attempted = self.client.attempt(
            request.method,
            request.path,
            json=None if request.json is None else dict(request.json),
            unsafe=not operation.repeatable,
            stop=self.stop,
            policy=self.settings.retry,
            cap=self.settings.cap,
            on_wait=self._waiting,
            on_send=left,
        )
        elapsed = time.monotonic() - started
        sent = attempted.attempts  # requests that went out: a stop while waiting for the limiter sends nothing
        response = attempted.response
        # The one reading of an answer (`_coolify/answers.py`): any JSON shape, the token masked, a page that is
        # not the API recognised.
        answer = self.client.read(response) if response is not None else None
        if answer is not None and answer.not_api:  # an HTML 200 from a web UI or login proxy changed nothing
            failed = Outcome(Status.FAILED, answer.code, answer.not_api, sent, elapsed)
            return _Sent(failed, stops_run=answer.not_api)
        if answer is not None and attempted.outcome is Attempt.DONE:
            return _Sent(_answered(answer, operation, sent, elapsed), stops_run=_auth_stop(answer))
        if isinstance(attempted.error, Stopped):
            if sent == 0:
                return _Sent(Outcome(Status.SKIPPED, attempts=0, elapsed_s=elapsed))
            # The attempt before the stop was one the policy judged safe to repeat: it changed nothing for certain,
            # or only set values that a later run sets again.
            message = f"the run stopped before a retry (after {sent} attempt{'s' * (sent != 1)})"
            return _Sent(Outcome(Status.FAILED, attempts=sent, elapsed_s=elapsed, message=message))
        what = _describe(attempted, answer)
        if attempted.outcome is Attempt.UNKNOWN:
            status, message = Status.UNKNOWN, f"{what}: {_uncertain(operation, request.path)}"
        else:
            status, message = Status.FAILED, f"{what} (after {sent} attempt{'s' * (sent != 1)})"
        return _Sent(
            Outcome(status, _status(response), message, sent, elapsed),
            transport_failure=response is None,
        )

    def _finish(self, i: int, sent: _Sent) -> None:
        """Record a row's outcome and tell the listeners: once per row, whoever gets there first."""
        outcome = sent.outcome.with_(elapsed_s=round(sent.outcome.elapsed_s, 4))
        with self._lock:
            if i in self._finished:
                return  # the run already gave up waiting for this request and recorded it
            self._finished.add(i)
            self._in_flight.discard(i)
            self.outcomes[i] = outcome
            streak_broken = self._streak.record(not sent.transport_failure)
        if sent.stops_run:
            self.halt(sent.stops_run)  # at once: no other worker may start a request after a 401/403
        elif streak_broken:
            self.halt(f"{self.settings.failure_streak} requests in a row could not reach the server")
        self.emit(RowFinished(self.operations[i].ref, outcome))

    def _give_up_in_flight(self) -> None:
        """After a second Ctrl-C: the requests still out are recorded as such, without waiting for them, and the
        rows announced but not sent yet as skipped (every RowSending gets its RowFinished)."""
        with self._lock:
            in_flight = sorted(self._in_flight - self._finished)
            announced = sorted(self._announced - self._finished - self._in_flight)
        for i in in_flight:
            with self._lock:
                attempts = self._went_out.get(i, 0)
            if not attempts:  # still waiting for the server's window or its turn: nothing of it went out
                self._finish(i, _skipped(f"not sent: {self.stopped or 'the run stopped'}"))
                continue
            status = Status.FAILED if self.operations[i].repeatable else Status.UNKNOWN
            message = "interrupted while the request was in flight; check the server before re-sending"
            self._finish(i, _Sent(Outcome(status, message=message, attempts=attempts)))
        for i in announced:
            self._finish(i, _skipped(f"not sent: {self.stopped or 'the run stopped'}"))


def _listener_failure(failures: list[tuple[Listener, Exception]], event: object) -> str:
    listener, error = failures[0]
    what = event if isinstance(event, str) else type(event).__name__
    return f"the listener {listener_name(listener)} failed on {what}: {type(error).__name__}: {error}"


def _answered(answer: Answer, operation: Operation, attempts: int, elapsed: float) -> Outcome:
    if answer.ok:
        status = {Action.TRIGGER: Status.TRIGGERED, Action.CREATE: Status.CREATED, Action.DELETE: Status.DELETED}
        message = answer.message or "OK"
        if operation.starts_backup:
            message += "; backup started"
        body = answer.body
        created = body.get("uuid") if operation.action is Action.CREATE and isinstance(body, dict) else None
        return Outcome(
            status.get(operation.action, Status.UPDATED),
            answer.code,
            message,
            attempts,
            elapsed,
            backup_uuid=created if isinstance(created, str) else None,
        )
    message = answer.summary
    if answer.code in (401, 403):
        message += f" ({answer.auth_hint})"  # what a 403 means: a read-only token, the IP allowlist…
    return Outcome(Status.REJECTED, answer.code, message, attempts, elapsed)


def _auth_stop(answer: Answer) -> str | None:
    """Why a 401/403 answer stops the whole run (None for any other answer)."""
    if answer.code not in (401, 403):
        return None
    return f"the server answered {answer.code} {answer.message or answer.reason} ({answer.auth_hint})"


def _describe(attempted, answer: Answer | None) -> str:
    if answer is not None:
        return f"server error {answer.code} {answer.message}".strip()
    error = attempted.error
    return describe_transport_error(error) if error else "no answer"


def _uncertain(operation: Operation, path: str) -> str:
    """Why a request with an uncertain outcome was not sent again, and how to find out what it did."""
    if operation.action is Action.CREATE:
        return (
            "the configuration may have been created and the request was not re-sent, because a second POST makes "
            f"a second schedule; check GET /api/v1/databases for a new configuration on {operation.ref.database_uuid}"
        )
    if operation.action is Action.DELETE:
        return f"the configuration may have been deleted; check GET /api/v1{path} (404: it is gone)"
    return (
        "the request may have taken effect and was not re-sent because it starts a backup; "
        f"check GET /api/v1{path}/executions before triggering again"
    )


def _status(response: requests.Response | None) -> int | None:
    return None if response is None else response.status_code
