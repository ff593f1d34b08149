"""One run of `apply`: send the operations, in parallel, at each server's pace, and tell the listeners row by row.

The run has one lane per Coolify instance (`lanes.py`; one for a run of one client). Each lane's workers take its
operations in input order and send them (`Operation.request()`) through the lane's client, whose limiter follows
that server's rate-limit budget, so every instance is sent at once at its own pace. Each worker tells the listeners
`RowSending` before its request goes out and `RowFinished` after, so the journal is written in the thread that
sends; events of all lanes go out one at a time. The calling thread only waits, and decides when the whole run must
stop (the caller's stop event, Ctrl-C). A 401/403, an answer that is not the API or the server gone stop their own
lane, from the worker that saw it; a failing listener or an internal error stop every lane. Whatever was not
attempted by then is `skipped`, never lost, and says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bulkbackup._coolify.retry import Outcome as Attempt
from bulkbackup._coolify.retry import Stopped
from bulkbackup._core.events import Event, Listener, RowFinished, RowSending, Waiting
from bulkbackup._core.fields import uuid_problem
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import Action, Status
from bulkbackup._engine.answered import answered, auth_stop, describe, status_of, uncertain
from bulkbackup._engine.lanes import Lane, RunSettings

__all__ = ["Run", "RunSettings", "listener_name"]

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
    stops_run: str | None = None  # why the whole run (every lane) must stop after this row, if it must
    stops_lane: str | None = None  # why this row's instance must stop (a 401/403, a page that is not the API)
    transport_failure: bool = False


def _skipped(message: str = "", stops_run: str | None = None) -> _Sent:
    return _Sent(Outcome(Status.SKIPPED, message=message), stops_run=stops_run)


def listener_name(listener: Listener) -> str:
    return getattr(listener, "__qualname__", None) or type(listener).__name__


class Run:
    """The operations of `operations` that the `lanes` send, each lane under its own settings, told to `listeners`.

    `outcomes` maps each position a lane sends to its outcome (`skipped` until it has another)."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        operations: Sequence[Operation],
        *,
        listeners: Iterable[Listener] = (),
        caller_stop: threading.Event | None = None,
    ):
        self.lanes = list(lanes)
        self.several = any(lane.name is not None for lane in self.lanes)
        self.operations = operations
        self.to_send = [i for lane in self.lanes for i in lane.to_send]
        self._lane_of = {i: lane for lane in self.lanes for i in lane.to_send}
        self.outcomes: dict[int, Outcome] = {i: Outcome(Status.SKIPPED) for i in self.to_send}
        self.listeners = list(listeners)
        self._before_request = [
            hook for hook in (getattr(x, "before_request", None) for x in self.listeners) if callable(hook)
        ]
        self.caller_stop = caller_stop
        # The whole run's stop signal: the caller's event is only read, so the same Stop button serves the next run.
        self.stop = threading.Event()
        self._halted: str | None = None  # why the whole run stopped
        self._first: str | None = None  # the first reason anything stopped (a run of one instance reports it)
        self.interrupted = False
        self._deliver = threading.Lock()  # events go out one at a time, whichever lane sends them
        self._lock = threading.Lock()  # the run's state below, and the lanes'
        self._in_flight: set[int] = set()
        self._finished: set[int] = set()
        self._announced: set[int] = set()  # rows whose RowSending was delivered
        self._went_out: dict[int, int] = {}  # attempts whose request left, per row: what a give-up reports
        self._live = 0  # workers still running, of every lane
        self._all_done = threading.Event()

    @property
    def stopped(self) -> str | None:
        """Why the run ended early, None when every row was attempted. Over several instances: each instance that
        stopped on its own, named ("staging: the server answered 401 …"), then what stopped them all."""
        if not self.several:
            return self._first
        with self._lock:
            parts = [lane.named(lane.stopped) for lane in self.lanes if lane.own and lane.stopped]
            if self._halted is not None:
                parts.append(self._halted)
        return "; ".join(parts) or None

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
        """Stop the whole run: no worker of any lane starts another request; the first reason given is reported,
        and is the reason of every lane that still had rows to send."""
        with self._lock:
            if self._halted is None:
                self._halted = reason
            if self._first is None:
                self._first = reason
            for lane in self.lanes:
                if lane.stopped is None and lane.busy:
                    lane.stopped = reason
        self._stop_all()

    def halt_lane(self, lane: Lane, reason: str) -> None:
        """Stop one instance's lane (its 401, its server gone): the other instances' rows go on. With one instance
        that is the whole run."""
        if not self.several:
            self.halt(reason)
            return
        with self._lock:
            if lane.stopped is None:
                lane.stopped, lane.own = reason, True
            if self._first is None:
                self._first = reason
        lane.stop.set()

    def lanes_stopped(self) -> list[str]:
        """The instances whose lane stopped before its rows were all attempted (for the progress bar)."""
        with self._lock:
            return [lane.name for lane in self.lanes if lane.stopped is not None and lane.name is not None]

    def _stop_all(self) -> None:
        self.stop.set()
        for lane in self.lanes:
            lane.stop.set()

    def _reason(self, lane: Lane) -> str:
        """Why a row of `lane` was not sent, as its message says it."""
        if not self.several:
            return self._first or "the run stopped"
        if lane.own and lane.stopped:
            return lane.named(lane.stopped)
        return lane.stopped or self._halted or "the run stopped"

    def _waiting(self, lane: Lane, seconds: float) -> None:
        until = time.monotonic() + seconds
        with self._lock:
            if until <= lane.wait_until + _WAIT_ANNOUNCE_SLACK:
                return
            lane.wait_until = until
        self.emit(Waiting(seconds, instance=lane.name))

    # --- running -----------------------------------------------------------------------------------------------

    def execute(self) -> None:
        """Send every row of every lane; returns when all are final, the run stopped, or a second Ctrl-C gave up."""
        if self.caller_stop is not None and self.caller_stop.is_set():
            self.halt(self._caller_reason())  # before anything went out: a pressed Stop sends nothing
        threads = []
        for lane in self.lanes:
            if not lane.to_send or lane.stop.is_set():  # a lane stopped before the run (its server unreadable)
                continue
            lane.live = min(lane.settings.workers, len(lane.to_send))
            prefix = f"bulkbackup-{lane.name}-" if lane.name is not None else "bulkbackup-"
            threads += [
                threading.Thread(target=self._work, args=(lane,), name=f"{prefix}{n}", daemon=True)
                for n in range(lane.live)
            ]
        # Waiting on an Event, not Thread.join: a Ctrl-C landing inside join() can leave the thread looking finished
        # on Python 3.11, and then a request still in flight would be reported as given up.
        self._live = len(threads)
        if not self._live:
            self._all_done.set()
        give_up = False
        try:
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
            self._stop_all()  # whatever ended the wait, no worker may start another request
            try:
                if not give_up:
                    self._all_done.wait()
            except KeyboardInterrupt:
                self.interrupted = True  # a second Ctrl-C: stop waiting; what is in flight is recorded below
                self.halt("interrupted (Ctrl-C)")
            self._give_up_in_flight()
        for i in self.to_send:
            outcome = self.outcomes[i]
            if outcome.status == Status.SKIPPED and not outcome.message:
                self.outcomes[i] = outcome.with_(message=f"not sent: {self._reason(self._lane_of[i])}")

    def _caller_reason(self) -> str:
        # A caller may name why it pressed Stop (the CLI: "interrupted (Ctrl-C)") in the event's `reason`.
        return getattr(self.caller_stop, "reason", None) or "stopped by the caller"

    def _running(self, lane: Lane) -> bool:
        if self.caller_stop is not None and self.caller_stop.is_set():
            self.halt(self._caller_reason())
        return not lane.stop.is_set()

    def _take(self, lane: Lane) -> list[int]:
        """The next rows for one worker: one, or with a durable listener (the journal) a batch announced together
        so that one fsync covers them all. A `backup_now` row goes alone, announced right before its request:
        an announced row that a kill leaves without outcome "may have been sent", which only a harmless,
        repeatable request can afford."""
        batch: list[int] = []
        with self._lock:
            # Smaller batches towards the end, so that no worker is left sending a whole batch while others idle.
            left = len(lane.to_send) - lane.next
            limit = max(1, min(_BATCH, left // lane.settings.workers)) if self._before_request else 1
            while lane.next < len(lane.to_send) and len(batch) < limit:
                i = lane.to_send[lane.next]
                unsafe = not self.operations[i].repeatable
                if batch and unsafe:
                    break
                lane.next += 1
                batch.append(i)
                if unsafe:
                    break
        return batch

    def _work(self, lane: Lane) -> None:
        try:
            while self._running(lane):
                batch = self._take(lane)
                if not batch:
                    return
                self._send_batch(lane, batch)
        finally:
            with self._lock:
                lane.live -= 1
                self._live -= 1
                if self._live <= 0:
                    self._all_done.set()

    def _send_batch(self, lane: Lane, batch: list[int]) -> None:
        ready: list[tuple[int, RowSending]] = []
        current = batch[0]
        try:
            for current in batch:
                sending = self._announce(current)
                if sending is not None:
                    ready.append((current, sending))
                elif lane.stop.is_set():
                    break
            if ready and not self._durable(ready):
                return
            for current, _ in ready:
                self._running(lane)  # a Stop pressed meanwhile: the request below then ends `skipped`, unsent
                with self._lock:
                    self._in_flight.add(current)
                self._finish(current, self._request(lane, self.operations[current], current))
        except Exception as error:  # noqa: BLE001 - our own failure: recorded on the row, every lane stops
            log.exception("worker failed on row %s", current)
            reason = f"an internal error stopped the run: {type(error).__name__}: {lane.client.redact(error)}"
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

    def _request(self, lane: Lane, operation: Operation, i: int) -> _Sent:
        request = operation.request()
        started = time.monotonic()

        def left() -> None:  # an attempt's request left: what a give-up on a request in flight reports
            with self._lock:
                self._went_out[i] = self._went_out.get(i, 0) + 1

        attempted = lane.client.attempt(
            request.method,
            request.path,
            json=None if request.json is None else dict(request.json),
            unsafe=not operation.repeatable,
            stop=lane.stop,
            policy=lane.settings.retry,
            cap=lane.settings.cap,
            on_wait=lambda seconds: self._waiting(lane, seconds),
            on_send=left,
        )
        elapsed = time.monotonic() - started
        sent = attempted.attempts  # requests that went out: a stop while waiting for the limiter sends nothing
        response = attempted.response
        # The one reading of an answer (`_coolify/answers.py`): any JSON shape, the token masked, a page that is
        # not the API recognised.
        answer = lane.client.read(response) if response is not None else None
        if answer is not None and answer.not_api:  # an HTML 200 from a web UI or login proxy changed nothing
            failed = Outcome(Status.FAILED, answer.code, answer.not_api, sent, elapsed)
            return _Sent(failed, stops_lane=answer.not_api)
        if answer is not None and attempted.outcome is Attempt.DONE:
            return _Sent(answered(answer, operation, sent, elapsed), stops_lane=auth_stop(answer))
        if isinstance(attempted.error, Stopped):
            if sent == 0:
                return _Sent(Outcome(Status.SKIPPED, attempts=0, elapsed_s=elapsed))
            # The attempt before the stop was one the policy judged safe to repeat: it changed nothing for certain,
            # or only set values that a later run sets again.
            message = f"the run stopped before a retry (after {sent} attempt{'s' * (sent != 1)})"
            return _Sent(Outcome(Status.FAILED, attempts=sent, elapsed_s=elapsed, message=message))
        what = describe(attempted, answer)
        if attempted.outcome is Attempt.UNKNOWN:
            status, message = Status.UNKNOWN, f"{what}: {uncertain(operation, request.path)}"
        else:
            status, message = Status.FAILED, f"{what} (after {sent} attempt{'s' * (sent != 1)})"
        return _Sent(
            Outcome(status, status_of(response), message, sent, elapsed),
            transport_failure=response is None,
        )

    def _finish(self, i: int, sent: _Sent) -> None:
        """Record a row's outcome and tell the listeners: once per row, whoever gets there first."""
        outcome = sent.outcome.with_(elapsed_s=round(sent.outcome.elapsed_s, 4))
        lane = self._lane_of[i]
        with self._lock:
            if i in self._finished:
                return  # the run already gave up waiting for this request and recorded it
            self._finished.add(i)
            self._in_flight.discard(i)
            self.outcomes[i] = outcome
            streak_broken = lane.streak.record(not sent.transport_failure)
        if sent.stops_run:
            self.halt(sent.stops_run)
        elif sent.stops_lane:
            self.halt_lane(lane, sent.stops_lane)  # at once: no other worker may start a request after a 401/403
        elif streak_broken:
            self.halt_lane(lane, f"{lane.settings.failure_streak} requests in a row could not reach the server")
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
                self._finish(i, _skipped(f"not sent: {self._reason(self._lane_of[i])}"))
                continue
            status = Status.FAILED if self.operations[i].repeatable else Status.UNKNOWN
            message = "interrupted while the request was in flight; check the server before re-sending"
            self._finish(i, _Sent(Outcome(status, message=message, attempts=attempts)))
        for i in announced:
            self._finish(i, _skipped(f"not sent: {self._reason(self._lane_of[i])}"))


def _listener_failure(failures: list[tuple[Listener, Exception]], event: object) -> str:
    listener, error = failures[0]
    what = event if isinstance(event, str) else type(event).__name__
    return f"the listener {listener_name(listener)} failed on {what}: {type(error).__name__}: {error}"
