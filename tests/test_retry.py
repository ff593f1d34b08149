"""The retry policy: what is safe to send again, how long to wait, when to stop. No real sleeping."""

from __future__ import annotations

import http.server
import logging
import socket
import ssl
import sys
import threading

import pytest
import requests
import tenacity
import urllib3.exceptions

from bulkbackup._coolify.retry import (
    FailureStreak,
    Outcome,
    RetryPolicy,
    Stopped,
    classify,
    retry_if_outcome_retry,
    stop_on_event,
    wait_backoff_with_retry_after_floor,
)
from bulkbackup._core.errors import BulkBackupError


def answer(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response._content = b"{}"
    return response


def refused() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/api/v1/databases", reason))


def state(attempt: int, outcome: requests.Response | BaseException) -> tenacity.RetryCallState:
    retry_state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    retry_state.attempt_number = attempt
    if isinstance(outcome, BaseException):
        retry_state.set_exception((type(outcome), outcome, None))
    else:
        retry_state.set_result(outcome)
    return retry_state


# --- classify ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "safe", "unsafe"),
    [
        (200, Outcome.DONE, Outcome.DONE),
        (201, Outcome.DONE, Outcome.DONE),
        (400, Outcome.DONE, Outcome.DONE),
        (401, Outcome.DONE, Outcome.DONE),
        (403, Outcome.DONE, Outcome.DONE),
        (404, Outcome.DONE, Outcome.DONE),
        (422, Outcome.DONE, Outcome.DONE),
        (429, Outcome.RETRY, Outcome.RETRY),
        (503, Outcome.RETRY, Outcome.RETRY),
        (500, Outcome.RETRY, Outcome.UNKNOWN),
        (502, Outcome.RETRY, Outcome.UNKNOWN),
        (504, Outcome.RETRY, Outcome.UNKNOWN),
        (501, Outcome.FAILED, Outcome.UNKNOWN),
        (520, Outcome.FAILED, Outcome.UNKNOWN),
        (301, Outcome.FAILED, Outcome.FAILED),
        (302, Outcome.FAILED, Outcome.FAILED),
    ],
)
def test_classify_answers(status, safe, unsafe):
    assert classify(answer(status), unsafe=False) is safe
    assert classify(answer(status), unsafe=True) is unsafe


@pytest.mark.parametrize(
    ("error", "safe", "unsafe"),
    [
        (refused(), Outcome.RETRY, Outcome.RETRY),
        (requests.exceptions.ConnectTimeout("connect timed out"), Outcome.RETRY, Outcome.RETRY),
        (requests.ReadTimeout("read timed out"), Outcome.RETRY, Outcome.UNKNOWN),
        (
            requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())),
            Outcome.RETRY,
            Outcome.UNKNOWN,
        ),
        (requests.exceptions.ChunkedEncodingError("truncated"), Outcome.RETRY, Outcome.UNKNOWN),
        (
            requests.exceptions.SSLError(
                urllib3.exceptions.MaxRetryError(
                    None, "/", urllib3.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
                )
            ),
            Outcome.FAILED,
            Outcome.FAILED,
        ),
        (requests.exceptions.SSLError("decryption failed or bad record mac"), Outcome.RETRY, Outcome.UNKNOWN),
        (requests.exceptions.InvalidURL("bad"), Outcome.FAILED, Outcome.FAILED),
        (ValueError("a bug of ours"), Outcome.FAILED, Outcome.FAILED),
        (Stopped("stopped"), Outcome.FAILED, Outcome.FAILED),
    ],
    ids=[
        "refused",
        "connect-timeout",
        "read-timeout",
        "reset",
        "chunked",
        "bad-certificate",
        "tls-mid-answer",
        "invalid-url",
        "bug",
        "stopped",
    ],
)
def test_classify_errors(error, safe, unsafe):
    assert classify(error, unsafe=False) is safe
    assert classify(error, unsafe=True) is unsafe


def test_classify_rejects_other_things():
    with pytest.raises(TypeError):
        classify(None, unsafe=False)


# Real transport errors, made by requests against sockets on 127.0.0.1.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server(threading.Thread):
    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]):
        super().__init__(daemon=True)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def run(self) -> None:
        self.httpd.serve_forever(poll_interval=0.05)

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Silent(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_a_real_connection_refused_is_always_safe():
    with pytest.raises(requests.ConnectionError) as caught:
        requests.patch(f"http://127.0.0.1:{free_port()}/", json={"backup_now": True}, timeout=2)
    assert classify(caught.value, unsafe=True) is Outcome.RETRY


def test_a_real_read_timeout_is_unknown_for_an_unsafe_request():
    release = threading.Event()

    class Slow(_Silent):
        def do_PATCH(self):
            release.wait(2)

    with _Server(Slow) as server:
        with pytest.raises(requests.ReadTimeout) as caught:
            requests.patch(server.url, json={"backup_now": True}, timeout=(2, 0.1))
        release.set()
    assert classify(caught.value, unsafe=True) is Outcome.UNKNOWN
    assert classify(caught.value, unsafe=False) is Outcome.RETRY


def test_a_real_dropped_connection_is_unknown_for_an_unsafe_request():
    class Drop(_Silent):
        def do_PATCH(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.close_connection = True  # processed, then gone without an answer

    with _Server(Drop) as server:
        with pytest.raises(requests.ConnectionError) as caught:
            requests.patch(server.url, json={"backup_now": True}, timeout=2)
    assert classify(caught.value, unsafe=True) is Outcome.UNKNOWN
    assert classify(caught.value, unsafe=False) is Outcome.RETRY


# --- the strategies as pure functions ------------------------------------------------------------------------------


def test_retry_strategy_follows_classify():
    assert retry_if_outcome_retry(unsafe=True)(state(1, answer(503))) is True
    assert retry_if_outcome_retry(unsafe=True)(state(1, answer(502))) is False
    assert retry_if_outcome_retry(unsafe=False)(state(1, answer(502))) is True
    assert retry_if_outcome_retry(unsafe=False)(state(1, requests.ReadTimeout())) is True
    assert retry_if_outcome_retry(unsafe=False)(state(1, answer(200))) is False


def test_wait_doubles_with_jitter_up_to_the_maximum():
    wait = wait_backoff_with_retry_after_floor(0.5, 8.0, 0.5, random=lambda: 0.5)
    waits = [wait(state(n, answer(502))) for n in range(1, 8)]
    assert waits == [0.75, 1.25, 2.25, 4.25, 8.0, 8.0, 8.0]
    no_jitter = wait_backoff_with_retry_after_floor(0.5, 8.0, 0.5, random=lambda: 0.0)
    assert no_jitter(state(1, refused())) == 0.5


def test_retry_after_is_the_floor_of_the_wait():
    wait = wait_backoff_with_retry_after_floor(0.5, 8.0, 0.5, random=lambda: 0.0)
    assert wait(state(1, answer(503, {"Retry-After": "3"}))) == 3.0
    assert wait(state(5, answer(503, {"Retry-After": "3"}))) == 8.0  # the back-off is longer already
    assert wait(state(1, answer(503, {"Retry-After": "20"}))) == 20.0  # beyond the maximum: the server knows best
    assert wait(state(1, answer(503, {"Retry-After": "0"}))) == 0.5


def test_a_huge_retry_after_is_bounded():
    wait = wait_backoff_with_retry_after_floor(0.5, 8.0, 0.0, max_retry_after=60.0)
    assert wait(state(1, answer(503, {"Retry-After": "3600"}))) == 60.0


def test_stop_on_event():
    event = threading.Event()
    stop = stop_on_event(event)
    assert stop(state(1, answer(503))) is False
    event.set()
    assert stop(state(1, answer(503))) is True
    assert stop_on_event(None)(state(9, answer(503))) is False


# --- RetryPolicy.run -----------------------------------------------------------------------------------------------


class Script:
    """A call that returns (or raises) the given outcomes in turn."""

    def __init__(self, *outcomes: requests.Response | BaseException):
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> requests.Response:
        item = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(item, BaseException):
            raise item
        return item


def policy(sleeps: list[float], **kwargs) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, random=lambda: 0.5, **kwargs)


def test_safe_failures_are_retried_until_an_answer():
    sleeps: list[float] = []
    call = Script(answer(502), requests.ReadTimeout(), answer(200))
    result = policy(sleeps).run(call, unsafe=False)
    assert (result.outcome, result.attempts, result.response.status_code, result.error) == (
        Outcome.DONE,
        3,
        200,
        None,
    )
    assert sleeps == [0.75, 1.25]


def test_each_retry_is_logged_with_the_attempt_before_it(caplog):
    # The first attempt is made before tenacity is entered, and handed to it: its wait and its log line are the same.
    sleeps: list[float] = []
    with caplog.at_level(logging.INFO, logger="bulkbackup._coolify.retry"):
        result = policy(sleeps).run(Script(answer(503), requests.ReadTimeout(), answer(200)), unsafe=False)
        assert result.attempts == 3
        policy(sleeps).run(Script(answer(200)), unsafe=False)
    assert [r.getMessage() for r in caplog.records] == [
        "attempt 1 got HTTP 503; retrying in 0.75 s",
        "attempt 2 got ReadTimeout; retrying in 1.25 s",
    ]
    assert sleeps == [0.75, 1.25]


def test_an_unsafe_request_is_not_repeated_after_an_ambiguous_failure():
    sleeps: list[float] = []
    for failure in (answer(502), answer(500), answer(504), requests.ReadTimeout()):
        call = Script(failure, answer(200))
        result = policy(sleeps).run(call, unsafe=True)
        assert (result.outcome, result.attempts, call.calls) == (Outcome.UNKNOWN, 1, 1)
    assert sleeps == []


def test_an_unsafe_request_is_repeated_when_it_certainly_was_not_processed():
    sleeps: list[float] = []
    call = Script(refused(), answer(503, {"Retry-After": "2"}), answer(200))
    result = policy(sleeps).run(call, unsafe=True)
    assert (result.outcome, result.attempts) == (Outcome.DONE, 3)
    assert sleeps == [0.75, 2.0]


def test_final_answers_are_not_retried():
    sleeps: list[float] = []
    for status in (401, 403, 404, 422, 400):
        result = policy(sleeps).run(Script(answer(status)), unsafe=False)
        assert (result.outcome, result.attempts) == (Outcome.DONE, 1)
    assert sleeps == []


def test_out_of_attempts_is_failed_with_the_last_result():
    sleeps: list[float] = []
    last = answer(503)
    result = policy(sleeps, attempts=3).run(Script(answer(503), answer(503), last), unsafe=False)
    assert (result.outcome, result.attempts, result.response) == (Outcome.FAILED, 3, last)
    assert sleeps == [0.75, 1.25]
    error = refused()
    result = policy([], attempts=2).run(Script(refused(), error), unsafe=True)
    assert (result.outcome, result.attempts, result.error, result.response) == (Outcome.FAILED, 2, error, None)


def test_a_stop_before_the_first_attempt_sends_nothing():
    stop = threading.Event()
    stop.set()
    call = Script(answer(200))
    result = policy([]).run(call, unsafe=False, stop=stop)
    assert call.calls == 0
    assert isinstance(result.error, Stopped)
    assert (result.outcome, result.attempts, result.response) == (Outcome.FAILED, 0, None)


def test_a_stop_during_the_back_off_ends_the_retries():
    stop = threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        stop.set()

    first = answer(503)
    call = Script(first, answer(200))
    result = RetryPolicy(sleep=sleep, random=lambda: 0.0).run(call, unsafe=True, stop=stop)
    assert call.calls == 1
    assert isinstance(result.error, Stopped)
    assert (result.outcome, result.attempts, result.response) == (Outcome.FAILED, 1, first)


def test_a_stop_set_during_an_attempt_keeps_its_result():
    stop = threading.Event()
    last = answer(502)

    def call() -> requests.Response:
        stop.set()
        return last

    result = policy([]).run(call, unsafe=False, stop=stop)
    assert (result.outcome, result.attempts, result.response, result.error) == (Outcome.FAILED, 1, last, None)


def test_stopped_raised_by_the_call_is_reported_not_raised():
    sleeps: list[float] = []
    result = policy(sleeps).run(Script(answer(503), Stopped("waiting for the limiter")), unsafe=False)
    assert isinstance(result.error, Stopped)
    assert result.attempts == 1
    assert result.response.status_code == 503


def test_a_real_sleep_is_cut_short_by_the_stop_event():
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    # Without the stop, the sleep would last 300 s (max_retry_after): the suite's timeout fails the test.
    call = Script(answer(503, {"Retry-After": "3600"}), answer(200))
    result = RetryPolicy(random=lambda: 0.0).run(call, unsafe=False, stop=stop)
    assert isinstance(result.error, Stopped)
    assert call.calls == 1


def test_keyboard_interrupt_is_not_swallowed():
    with pytest.raises(KeyboardInterrupt):
        policy([]).run(Script(KeyboardInterrupt()), unsafe=False)


def test_policy_arguments_are_checked():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(initial=-1)
    assert issubclass(Stopped, BulkBackupError)


# --- FailureStreak -------------------------------------------------------------------------------------------------


def test_failure_streak_counts_consecutive_transport_failures():
    streak = FailureStreak(limit=3)
    assert [streak.record(False), streak.record(False)] == [False, False]
    assert streak.record(True) is False  # any HTTP answer resets it
    assert [streak.record(False), streak.record(False), streak.record(False)] == [False, False, True]
    assert streak.record(False) is True
    assert streak.count == 4
    streak.reset()
    assert streak.count == 0


def test_failure_streak_is_thread_safe():
    streak = FailureStreak(limit=10**9)
    threads = [threading.Thread(target=lambda: [streak.record(False) for _ in range(2000)]) for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert streak.count == 16000
