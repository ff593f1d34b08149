"""Which failures may be sent again, and when: the retry policy, built from tenacity strategy objects.

The one question that matters is whether the server may have processed the request. A request that certainly was
not processed (the connection was never made, 503, 429) can always be sent again. One that may have been processed
(a read timeout, a connection dropped after sending, 500/502/504) can be sent again only when repeating it is
harmless: setting values is idempotent, starting a backup (`backup_now`) is not, so such a request ends `UNKNOWN`.

The strategies are small callables of tenacity's kinds (retry, wait, stop), each a pure function of a
`RetryCallState`, so they can be tested without sleeping. tenacity itself is imported when a first attempt may be
retried (see RetryPolicy._retry), not with bulkbackup: with tornado installed (as in any Jupyter environment)
tenacity imports it and asyncio, a quarter of the package's import time.
"""

from __future__ import annotations

import enum
import logging
import random as _random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from bulkbackup._coolify.connection import causes, describe_transport_error
from bulkbackup._coolify.limiter import header, parse_retry_after
from bulkbackup._core.errors import BulkBackupError

if TYPE_CHECKING:
    import requests
    import tenacity
    from tenacity.stop import stop_base

# requests (and urllib3 under it) is imported where it is first needed, not with bulkbackup: it is about half of
# the package's import time, and reading, validating and planning a changes file offline never needs it.

__all__ = [
    "Attempted",
    "FailureStreak",
    "Outcome",
    "RetryPolicy",
    "Stopped",
    "classify",
    "retry_if_outcome_retry",
    "stop_on_event",
    "wait_backoff_with_retry_after_floor",
]

log = logging.getLogger(__name__)


class Stopped(BulkBackupError):
    """The run was stopped (Ctrl-C, a Stop button, a fatal answer elsewhere) before this request could be sent."""


class Outcome(enum.Enum):
    DONE = "done"  # a final answer: 2xx, or a 4xx other than 429 (the caller maps those to rejected)
    RETRY = "retry"  # not final, and safe to send again
    UNKNOWN = "unknown"  # may have taken effect and must not be repeated
    FAILED = "failed"  # not final, and sending it again would not help (or the retries are used up)


# Statuses that prove the request was not processed.
_ALWAYS_RETRY = frozenset({429, 503})
# Statuses after which the request may or may not have been processed.
_AMBIGUOUS_STATUS = frozenset({500, 502, 504})


# Errors that can only happen before the request is written: the connection was never made.
@cache
def _not_connected() -> tuple[type[BaseException], ...]:
    import urllib3.exceptions

    return (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError)


def _not_sent(error: BaseException) -> bool:
    """True when the error proves the request never reached the server."""
    import requests

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    not_connected = _not_connected()
    return any(isinstance(e, not_connected) for e in causes(error))


def classify(response_or_exception: requests.Response | BaseException, *, unsafe: bool) -> Outcome:
    """The outcome of ONE attempt. `unsafe`: repeating the request could do harm (the payload has `backup_now`)."""
    import requests

    item = response_or_exception
    ambiguous = Outcome.UNKNOWN if unsafe else Outcome.RETRY
    if isinstance(item, BaseException):
        if isinstance(item, Stopped) or not isinstance(item, requests.RequestException):
            return Outcome.FAILED  # our own code failed before sending, or the run is being stopped
        if _not_sent(item):
            return Outcome.RETRY
        if isinstance(item, requests.exceptions.SSLError):
            if any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(item)):
                return Outcome.FAILED  # refused at the handshake, and asking again will not change the certificate
            return ambiguous  # other TLS failures can also happen mid-answer
        if isinstance(
            item,
            requests.exceptions.InvalidURL
            | requests.exceptions.InvalidHeader
            | requests.exceptions.MissingSchema
            | requests.exceptions.InvalidSchema
            | requests.exceptions.InvalidJSONError
            | requests.exceptions.TooManyRedirects,
        ):
            return Outcome.FAILED  # rejected locally, before anything was sent
        # Read timeouts, resets, aborted or dropped connections, truncated bodies: it may have been processed.
        return ambiguous
    if not isinstance(item, requests.Response):
        raise TypeError(f"classify() takes a requests.Response or an exception, not {type(item).__name__}")
    code = item.status_code
    if code in _ALWAYS_RETRY:
        return Outcome.RETRY
    if 200 <= code < 300 or 400 <= code < 500:
        return Outcome.DONE
    if code in _AMBIGUOUS_STATUS:
        return ambiguous
    if code >= 500:
        # An unusual 5xx (from a proxy, say): no promise either way, so never repeat it, and never claim an
        # unsafe request did nothing.
        return Outcome.UNKNOWN if unsafe else Outcome.FAILED
    # 1xx or 3xx: redirects are not followed (a redirected PATCH can turn into a GET), so nothing was processed.
    return Outcome.FAILED


def _attempt_of(retry_state: tenacity.RetryCallState) -> requests.Response | BaseException:
    outcome = retry_state.outcome
    if outcome is None:
        raise ValueError("the retry state has no outcome yet")
    return outcome.exception() if outcome.failed else outcome.result()


class retry_if_outcome_retry:  # noqa: N801 - named like tenacity's own strategies
    """Retry exactly when `classify()` says RETRY."""

    def __init__(self, *, unsafe: bool):
        self.unsafe = unsafe

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return classify(_attempt_of(retry_state), unsafe=self.unsafe) is Outcome.RETRY


class wait_backoff_with_retry_after_floor:  # noqa: N801
    """Exponential back-off with jitter (tenacity's `wait_exponential_jitter` formula), never shorter than the
    answer's `Retry-After`: `max(min(initial * 2**(n-1) + jitter * random(), maximum), retry_after)`.

    `max_retry_after` bounds what a server may ask for (a 503 in maintenance mode can say an hour).
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 8.0,
        jitter: float = 0.5,
        *,
        random: Callable[[], float] = _random.random,
        max_retry_after: float = 300.0,
    ):
        self.initial, self.maximum, self.jitter = initial, maximum, jitter
        self.random = random
        self.max_retry_after = max_retry_after

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exponent = max(0, retry_state.attempt_number - 1)
        try:
            backoff = self.initial * 2**exponent
        except OverflowError:
            backoff = self.maximum
        backoff = min(backoff + self.jitter * self.random(), self.maximum)
        floor = 0.0
        attempt = _attempt_of(retry_state) if retry_state.outcome is not None else None
        headers = None if isinstance(attempt, BaseException) else getattr(attempt, "headers", None)
        if headers is not None:  # an answer, which may say how long to wait
            floor = parse_retry_after(header(headers, "Retry-After")) or 0.0
        return max(backoff, min(floor, self.max_retry_after))


def stop_on_event(event: threading.Event | None) -> stop_base:
    """Stop retrying once `event` is set (tenacity's `stop_when_event_set`; never, for None)."""
    import tenacity

    return tenacity.stop_never if event is None else tenacity.stop_when_event_set(event)


@dataclass
class Attempted:
    """The end of a request's retries.

    `response` is the last answer and `error` the last exception (a `Stopped` when the run was stopped before an
    attempt could be sent; `response` then still holds the answer before it, if there was one). `attempts` counts
    the attempts actually made; 429s re-sent by the client do not count.
    """

    response: requests.Response | None
    error: BaseException | None
    outcome: Outcome
    attempts: int


class RetryPolicy:
    """How often and how patiently a request is sent again: `attempts` in all, back-off from `initial` doubling up
    to `maximum` seconds plus up to `jitter` seconds, never sooner than the server's `Retry-After`."""

    def __init__(
        self,
        attempts: int = 5,
        initial: float = 0.5,
        maximum: float = 8.0,
        jitter: float = 0.5,
        *,
        sleep: Callable[[float], object] = time.sleep,
        random: Callable[[], float] = _random.random,
        max_retry_after: float = 300.0,
    ):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if initial < 0 or maximum < 0 or jitter < 0:
            raise ValueError("initial, maximum and jitter must not be negative")
        self.attempts = attempts
        self.wait = wait_backoff_with_retry_after_floor(
            initial, maximum, jitter, random=random, max_retry_after=max_retry_after
        )
        self._sleep = sleep

    def __repr__(self) -> str:
        w = self.wait
        return f"RetryPolicy(attempts={self.attempts}, initial={w.initial}, maximum={w.maximum}, jitter={w.jitter})"

    def run(
        self,
        call: Callable[[], requests.Response],
        *,
        unsafe: bool,
        stop: threading.Event | None = None,
    ) -> Attempted:
        """Call `call` until its outcome is final, the attempts are used up, or `stop` is set.

        Exceptions from `call` are results, not errors, except BaseExceptions such as KeyboardInterrupt.
        """
        tries: list[tuple[requests.Response | None, BaseException | None]] = []

        def attempt() -> requests.Response:
            if stop is not None and stop.is_set():
                raise Stopped("the run was stopped before this request was sent")
            try:
                response = call()
            except Stopped:
                raise
            except Exception as error:
                tries.append((None, error))
                raise
            tries.append((response, None))
            return response

        stopped: Stopped | None = None
        first: requests.Response | BaseException | None = None
        try:
            first = attempt()
        except Stopped as error:
            stopped = error
        except Exception as error:  # noqa: BLE001 - a result, as tenacity would take it
            first = error
        if stopped is None and classify(first, unsafe=unsafe) is Outcome.RETRY:
            stopped = self._retry(attempt, first, unsafe=unsafe, stop=stop)
        last_response, last_error = tries[-1] if tries else (None, None)
        if stopped is not None:
            return Attempted(last_response, stopped, Outcome.FAILED, len(tries))
        outcome = classify(last_response if last_error is None else last_error, unsafe=unsafe)
        if outcome is Outcome.RETRY:
            outcome = Outcome.FAILED  # out of attempts, or stopped: what could have been retried has failed
        return Attempted(last_response, last_error, outcome, len(tries))

    def _retry(
        self,
        attempt: Callable[[], requests.Response],
        first: requests.Response | BaseException,
        *,
        unsafe: bool,
        stop: threading.Event | None,
    ) -> Stopped | None:
        """The attempts after a first one that may be retried, under tenacity; the Stopped that ended them, if any.

        tenacity is entered only now (its machinery was over a quarter of our own CPU per request, and almost every
        first attempt succeeds). It is handed the first attempt's outcome again as its own first
        attempt, so its stops, waits and logging are exactly what they are when it makes every attempt itself.
        """
        replay = [first]

        def again() -> requests.Response:
            if replay:
                item = replay.pop()
                if isinstance(item, BaseException):
                    raise item
                return item
            return attempt()

        import tenacity  # see the module docstring

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts) | stop_on_event(stop),
            wait=self.wait,
            retry=retry_if_outcome_retry(unsafe=unsafe),
            sleep=self._sleeper(stop),
            before_sleep=_log_retry,
            retry_error_callback=lambda state: None,  # out of attempts: the last entry of `tries` is the result
        )
        try:
            retrying(again)
        except Stopped as error:
            return error
        except Exception:  # noqa: BLE001
            pass  # a final exception (classified FAILED/UNKNOWN): it is in `tries`
        return None

    def _sleeper(self, stop: threading.Event | None) -> Callable[[float], object]:
        if stop is not None and self._sleep is time.sleep:
            return stop.wait  # a real sleep that a stop ends at once
        return self._sleep


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    attempt = _attempt_of(retry_state)
    code = None if isinstance(attempt, BaseException) else getattr(attempt, "status_code", None)
    what = type(attempt).__name__ if code is None else f"HTTP {code}"
    log.info("attempt %d got %s; retrying in %.2f s", retry_state.attempt_number, what, retry_state.upcoming_sleep)
    if isinstance(attempt, BaseException) and retry_state.attempt_number == 1:
        _say_retrying(attempt, retry_state.upcoming_sleep)


_said: dict[str, float] = {}
_said_lock = threading.Lock()
_SAY_AGAIN_AFTER = 30.0  # seconds: one line for an outage, not one per row and worker


def _say_retrying(error: BaseException, wait: float) -> None:
    """The first request that could not connect says so at once, and that it is being retried: a terminal that
    stays silent through the back-off looks hung."""
    text = describe_transport_error(error)
    now = time.monotonic()
    with _said_lock:
        if now - _said.get(text, -_SAY_AGAIN_AFTER) < _SAY_AGAIN_AFTER:
            return
        _said[text] = now
    log.warning("%s; retrying in %.1f s", text.partition(" — ")[0], wait)


class FailureStreak:
    """Counts transport failures in a row across a run; `limit` of them mean the server is down.

    Any HTTP answer (even a 5xx) proves the server is there and resets the count.
    """

    def __init__(self, limit: int = 8):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def record(self, ok: bool) -> bool:
        """Record one request (`ok`: it got an HTTP answer); True when the streak has reached the limit."""
        with self._lock:
            self._count = 0 if ok else self._count + 1
            return self._count >= self.limit

    def reset(self) -> None:
        with self._lock:
            self._count = 0
