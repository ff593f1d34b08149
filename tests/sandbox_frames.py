"""Changes frames built from a sandbox's fleet, and a Stop button, shared by the tests of the run, its seam and its
journal."""

from __future__ import annotations

import threading

import pandas as pd

import bulkbackup as bb
from bulkbackup._core.events import RowFinished
from bulkbackup.sandbox import Sandbox


def fleet_changes(source, n, **settings):
    """The first `n` configurations of a fleet, with `settings` as columns (a value, or one value per row).

    `source` is a `Sandbox` or a client. A sandbox lists its own configurations without a request, in the order
    `bb.inventory` gives them: a test of the rate limit then starts its run with the whole budget (read through a
    client of a 6-per-minute sandbox, the inventory alone used to wait out a whole window). A client reads the
    inventory once.
    """
    if isinstance(source, Sandbox):
        keys = pd.DataFrame(source.backups[:n], columns=["database_uuid", "backup_uuid"])
    else:
        keys = bb.inventory(source).head(n)
    frame = keys[["database_uuid", "backup_uuid"]].reset_index(drop=True)
    for name, value in settings.items():
        frame[name] = value
    return frame


def stop_after(n):
    """A Stop button pressed when the n-th row has finished: (the event to pass as `stop=`, the listener)."""
    stop = threading.Event()
    finished = 0

    def listener(event):
        nonlocal finished
        if isinstance(event, RowFinished):
            finished += 1
            if finished == n:
                stop.set()

    return stop, listener
