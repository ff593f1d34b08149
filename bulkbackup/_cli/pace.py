"""The server's pace, as the terminal hears it: every wait for its rate-limit window said, once per window.

The client's limiter reports each wait of a request that passes no `on_wait` of its own (the reads of `plan`,
`export` and the start of a resumed `apply`) to what hears it (`RateLimiter.hear_waits`); a run's requests report
theirs to the run's progress bar. `watch()` lets a `Pace` hear one client for the command's life. The run's
estimate is the library's (`_engine/pace.py`), as the run panel shows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bulkbackup._cli.terminal import warn
from bulkbackup._engine.pace import waiting

SAID_AFTER = 1.0  # waits shorter than this pass unsaid


class Pace:
    """The waits of a client's reads, said: every worker waits for the same window, so each window is said once."""

    def __init__(self, say_wait: Callable[[float], object] | None = None, clock: Callable[[], float] = time.monotonic):
        self._say_wait = say_wait or said_wait
        self._clock = clock
        self._said_until = -1.0  # the end of the wait last said
        self._lock = threading.Lock()

    def say_wait(self, seconds: float) -> None:
        now = self._clock()
        with self._lock:
            if now + seconds <= self._said_until + SAID_AFTER:
                return
            self._said_until = now + seconds
        self._say_wait(seconds)


def said_wait(seconds: float, instance: str | None = None) -> None:
    """The wait, said; with several instances, whose server's window it is."""
    if seconds > SAID_AFTER:
        warn(f"{instance}: {waiting(seconds)}" if instance else waiting(seconds))


def watch(client: Any, pace: Pace) -> Pace:
    """Let `pace` hear the waits of `client`'s reads (a run's own waits go to its progress bar)."""
    client.limiter.hear_waits(pace.say_wait)  # for the command's life: the client goes with it
    return pace
