"""Laravel's fixed-window rate limiter as the `api` throttle applies it (API-RULES §3).

`RateLimiter::hit()` at the first counted request t0 stores a counter and a `:timer` entry, both expiring at
t0 + window; the timer's *value* is the whole-second timestamp floor(t0 + window). A request is refused while
the counter has reached the limit and the timer still exists; the 429 then says
`Retry-After = max(0, timer - floor(now))` and `X-RateLimit-Reset = floor(now) + Retry-After`. Both are whole
seconds, so they can be up to a second off the real remaining time, and a request in the window's last
fraction of a second can be refused with `Retry-After: 0`.

Not thread-safe on its own: the sandbox calls it under its one lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Window:
    count: int
    timer: int  # the `:timer` entry's value: floor(t0 + window)
    expires: float  # when both cache entries expire: t0 + window


@dataclass(frozen=True)
class Refusal:
    """A 429: the headers ThrottleRequests::getHeaders() adds."""

    limit: int
    retry_after: int
    reset: int

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", "0"),
            ("Retry-After", str(self.retry_after)),
            ("X-RateLimit-Reset", str(self.reset)),
        ]


class FixedWindowLimiter:
    def __init__(self, window: float):
        if not window > 0:
            raise ValueError("the rate-limit window must be a positive number of seconds")
        self.window = float(window)
        self._windows: dict[str, _Window] = {}

    def _current(self, key: str, now: float) -> _Window | None:
        window = self._windows.get(key)
        if window is not None and now >= window.expires:
            del self._windows[key]
            return None
        return window

    def attempt(self, key: str, limit: int, now: float) -> Refusal | None:
        """ThrottleRequests::handle before the request: refuse (not counted), or count the hit."""
        window = self._current(key, now)
        if window is not None and window.count >= limit:
            retry_after = max(0, window.timer - math.floor(now))
            return Refusal(limit, retry_after, math.floor(now) + retry_after)
        if window is None:
            window = self._windows[key] = _Window(0, math.floor(now + self.window), now + self.window)
        window.count += 1
        return None

    def remaining(self, key: str, limit: int, now: float) -> int:
        """`X-RateLimit-Remaining`, computed after the request was handled (as ThrottleRequests does)."""
        window = self._current(key, now)
        return max(0, limit - (window.count if window else 0))

    def headers(self, key: str, limit: int, now: float) -> list[tuple[str, str]]:
        return [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", str(self.remaining(key, limit, now)))]

    def forced_refusal(self, limit: int, now: float) -> Refusal:
        """A 429 the sandbox injects as a fault: Retry-After 1, nothing counted."""
        return Refusal(limit, 1, math.floor(now) + 1)

    def reset(self) -> None:
        self._windows.clear()
