"""Injected faults, for testing a client's retry and "never trigger twice" logic.

Faults apply to the requests that change something: PATCH, POST and DELETE (`Sandbox(fault_methods=...)` or
`set_faults(..., methods=...)` narrows them; `Sandbox.fail_next(method, fault)` queues a certain one). Each such
request draws at most one of the probabilistic faults (their probabilities add up to at most 1); `latency`
applies to every one. When each one happens, relative to the
processing of the request, is the contract the client's tests rely on:

| key     | when             | processed? | answer                                                                  |
|---------|------------------|------------|-------------------------------------------------------------------------|
| 503     | before anything  | no         | 503 "Service Unavailable" from the proxy (text/plain), no X-RateLimit-* |
| 429     | before anything  | no         | 429 with X-RateLimit-*, `Retry-After: 1`, not counted                   |
| 500     | after processing | yes        | Laravel's 500 "Server Error" (JSON if asked for, else HTML), X-RateLimit-* |
| 502     | after processing | yes        | 502 "Bad Gateway" from the proxy (text/plain), no X-RateLimit-*         |
| drop    | after processing | yes        | the connection is closed without any answer                             |
| latency | after processing | yes        | the answer is delayed by that many seconds                              |

"Processed" means everything the request would have done happened: the rate-limit hit was counted, the
configuration was updated, created or deleted, and a `backup_now` job was started. So a client that re-sends a
`backup_now` (or a POST) after a 500, a 502, a dropped connection or a read timeout triggers a second backup
(creates a second configuration); one that re-sends after a 503 or a 429 does not.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

PROBABILISTIC = ("503", "429", "500", "502", "drop")
FAULT_KEYS = ("latency", *PROBABILISTIC)
BEFORE_PROCESSING = frozenset({"503", "429"})


def _check(key: str, value: object) -> float:
    if key not in FAULT_KEYS:
        raise ValueError(f"unknown fault {key!r}: expected one of {', '.join(FAULT_KEYS)}")
    if isinstance(value, bool):
        raise ValueError(f"fault {key}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"fault {key}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"fault {key}: {value!r} must be a finite number >= 0")
    if key != "latency" and number > 1:
        raise ValueError(f"fault {key}: {value!r} is a probability and must be between 0 and 1")
    return number


def normalize_faults(faults: Mapping[object, object] | None) -> dict[str, float]:
    """Validated faults with string keys ({500: 0.1} and {"500": 0.1} alike); raises ValueError."""
    result = {str(key): _check(str(key), value) for key, value in (faults or {}).items()}
    total = sum(value for key, value in result.items() if key != "latency")
    if total > 1 + 1e-9:
        raise ValueError(f"the fault probabilities add up to {total:g}; at most 1 is possible")
    return result


def parse_fault(text: str) -> tuple[str, float]:
    """ "500=0.1" → ("500", 0.1); "latency=0.5" → ("latency", 0.5). Raises ValueError with what is wrong."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise ValueError(
            f"fault {text!r} must read KEY=VALUE, e.g. 500=0.1 or latency=0.5 (keys: {', '.join(FAULT_KEYS)})"
        )
    return key, _check(key, value)


def draw(faults: Mapping[str, float], rng: random.Random) -> str | None:
    """The probabilistic fault this PATCH suffers, if any."""
    roll = rng.random()
    for key in PROBABILISTIC:
        probability = faults.get(key, 0.0)
        if roll < probability:
            return key
        roll -= probability
    return None
