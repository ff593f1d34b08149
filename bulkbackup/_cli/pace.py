"""The server's pace, as the terminal hears it: every wait for its rate-limit window said, and its budget known.

ADAPTER (until the client offers them): the client's limiter reports a wait through `on_wait`, but only for the
requests of a run; the reads of `plan`, `export` and a resumed `apply` pass none, and the first answer's
`X-RateLimit-Limit` is not kept. `watch()` wraps the two limiter calls of one client — acquire and observe — to
hear both, changing nothing of what the limiter decides. When the client takes an `on_wait` of its own and keeps the
limit, this module shrinks to the two callbacks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from bulkbackup._cli.terminal import warn

SAID_AFTER = 1.0  # waits shorter than this pass unsaid


class Pace:
    """What the CLI learns of a client's pace: the first `X-RateLimit-Limit` the server sent, and its waits."""

    def __init__(self, say_wait: Callable[[float], object] | None = None, clock: Callable[[], float] = time.monotonic):
        self.limit: int | None = None
        self._say_wait = say_wait or said_wait
        self._clock = clock
        self._said_until = -1.0  # the end of the wait last said: every worker waits for the same window, say it once
        self._lock = threading.Lock()

    def say_wait(self, seconds: float) -> None:
        now = self._clock()
        with self._lock:
            if now + seconds <= self._said_until + SAID_AFTER:
                return
            self._said_until = now + seconds
        self._say_wait(seconds)

    def per_minute(self, rate: float | None = None) -> float | None:
        """Requests a minute a run can send: Coolify counts its limit per 60-second window; `rate` (the user's
        cap, per second) lowers it."""
        pace = float(self.limit) if self.limit else None
        if rate is not None:
            pace = min(pace, rate * 60) if pace is not None else rate * 60
        return pace

    def heard(self, headers: Mapping[str, str] | None) -> None:
        if self.limit is not None or not headers:
            return
        value = headers.get("X-RateLimit-Limit")
        try:
            limit = int(str(value).strip())
        except (TypeError, ValueError):
            return
        if limit > 0:
            with self._lock:
                self.limit = self.limit or limit


def said_wait(seconds: float) -> None:
    if seconds > SAID_AFTER:
        warn(f"waiting {seconds:.0f} s for the server's rate-limit window")


def watch(client: Any, pace: Pace) -> Pace:
    """Let `pace` hear `client`'s limiter (see the module's docstring). A run's own `on_wait` wins over ours."""
    limiter = client.limiter
    acquire, observe = limiter.acquire, limiter.observe

    def acquire_said(stop=None, *, on_wait=None):
        return acquire(stop, on_wait=on_wait if on_wait is not None else pace.say_wait)

    def observe_heard(status, headers):
        pace.heard(headers)
        return observe(status, headers)

    limiter.acquire, limiter.observe = acquire_said, observe_heard
    return pace
