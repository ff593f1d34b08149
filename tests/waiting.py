"""Waiting in a test for something another thread or process does: polled, bounded only against a hang."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120.0, interval: float = 0.02) -> None:
    """Return once `condition()` is true; fail naming `what` if it is not within `timeout` seconds (a hang, not a
    speed: the bound is generous for a loaded machine)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
