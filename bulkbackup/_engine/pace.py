"""The server's pace as a person hears it: how long a run will take at its budget, and what a wait is for.

One wording for every face: the CLI prints these lines, the run panel shows them. The budget is what the client's
limiter learned from the server's `X-RateLimit-Limit` (Coolify counts it per 60-second window); the waits are the
limiter's, heard through `RateLimiter.hear_waits` (`hearing`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

__all__ = ["estimate", "hearing", "per_minute", "run_estimate", "waiting"]


def per_minute(client: Any, rate: float | None = None) -> float | None:
    """Requests a minute a run can send: the server's limit per window; `rate` (the user's cap, per second)
    lowers it. None when neither is known (no answer said its limit yet)."""
    limiter = getattr(client, "limiter", None)
    limit = getattr(limiter, "limit", None)
    pace = float(limit) if limit else None
    if rate is not None:
        pace = min(pace, rate * 60) if pace is not None else rate * 60
    return pace


def estimate(requests: int, per_minute: float | None) -> str | None:
    """Roughly how long `requests` take at `per_minute`: "4,882 requests at 200 a minute: about 25 minutes"."""
    if not requests or not per_minute:
        return None
    pace = f"{_plural(requests, 'request')} at {per_minute:,.0f} a minute"
    if requests <= per_minute:
        return f"{pace}: within one window, under a minute"
    minutes = math.ceil(requests / per_minute)
    return f"{pace}: about {_plural(minutes, 'minute')}" if minutes < 120 else f"{pace}: about {minutes / 60:.0f} hours"


def run_estimate(client: Any, requests: int, rate: float | None = None) -> str | None:
    """`estimate` at the budget `client` has learned (and the user's `rate`)."""
    return estimate(requests, per_minute(client, rate))


def waiting(seconds: float) -> str:
    """What a wait for the server's window is, and how long."""
    return f"waiting {seconds:.0f} s for the server's rate-limit window"


def hearing(client: Any, on_wait: Callable[[float], object] | None) -> contextlib.AbstractContextManager:
    """`on_wait` hears the waits of `client`'s reads inside the `with` (nothing to hear: a no-op)."""
    limiter = getattr(client, "limiter", None)
    if on_wait is None or limiter is None or not hasattr(limiter, "hear_waits"):
        return contextlib.nullcontext()
    return limiter.hear_waits(on_wait)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"
