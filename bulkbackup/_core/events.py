"""The seam of a run: what `apply()` tells its listeners, row by row.

    def listener(event):                      # any callable taking one event
        if isinstance(event, bb.events.RowFinished):
            print(event.row.label, event.result.status)

    bb.apply(changes, client, listeners=[listener])

The journal, the progress display and the notebook run panel are all listeners; so can a caller's own code be.
Like httpx's `event_hooks` and sqlite-utils' `tracer`, the seam has no opinion about what listeners do.

Guarantees (a listener may rely on them):
- Events are delivered one at a time, never concurrently: a listener needs no lock of its own.
- `RowSending` is delivered before the row's request goes out, in the thread that will send it; when a listener
  raises on it, that request is not sent, the row is `skipped` and the run stops (the record is sacred: nothing
  goes out that could not be written down first). With a journal, a worker announces up to eight settings rows
  together before sending them one by one (one fsync for all); a `backup_now` row is always announced alone.
- A listener may also have a `before_request(event)` method: called with each `RowSending` after its delivery, in
  the sending thread but outside the delivery lock, so slow work of several workers can overlap (the journal's
  group-committed fsync); the request waits for it, and a raise there counts as a raise on `RowSending`.
- Every `RowSending` is followed by exactly one `RowFinished` for the same row, unless the process dies.
- `RunStarted` comes first and `RunFinished` last, also when the run is stopped, interrupted or a worker fails.
- An exception from a listener on any other event stops the run cleanly (the reason names the listener); it is
  never swallowed silently and never loses the results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkbackup._core.operations import Outcome, RowRef

RowResult = Outcome
"""The name this seam gave a row's outcome before operations were typed; the same class."""


@dataclass(frozen=True)
class RunStarted:
    endpoint: str | None
    source: str | None  # the input's file name or "<DataFrame>"
    changes_hash: str  # the plan's identity: the hash of the normalised changes, what a journal checks on resume
    total: int  # rows in the input
    to_send: int  # rows this run will send
    dry_run: bool
    server_version: str | None
    started_at: str  # ISO 8601, UTC
    # A run over several instances: name → endpoint, in the clients' order (`endpoint` is then None). Empty for one.
    instances: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RowSending:
    """A request is about to go out: `payload` exactly as sent, `before` the values it replaces."""

    row: RowRef
    payload: Mapping[str, Any]
    before: Mapping[str, Any]


@dataclass(frozen=True)
class RowFinished:
    row: RowRef
    result: Outcome


@dataclass(frozen=True)
class Waiting:
    """The run waits for the server's rate-limit window: nothing can be sent for `seconds`."""

    seconds: float
    instance: str | None = None  # whose server's window, in a run over several instances


@dataclass(frozen=True)
class InstanceFacts:
    """One instance's part of a run over several: its own stop (a 401, its server gone) leaves the others going."""

    endpoint: str
    stopped: str | None = None
    verification: str = "not needed"
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFacts:
    """What a run's results frame cannot say row by row: why it stopped, whether it was verified."""

    stopped: str | None = None  # why the run ended early; None when every row was attempted
    interrupted: bool = False  # Ctrl-C or a kernel interrupt ended it
    verification: str = "not needed"  # "verified", "skipped: …", "failed: …" or "not needed"
    dry_run: bool = False
    journal: str | None = None  # the journal's path, when the run kept one
    started_at: str | None = None
    finished_at: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # what the user should know that is no row's status (e.g. a torn journal line)
    # The journal's first failed write, or its file gone (said in `warnings` too): this run's record is not (all)
    # on disk, whatever the rows say; `journal` is then None when the file no longer exists.
    journal_failure: str | None = None
    # A run over several instances: name → its facts (`stopped` and `verification` above then sum them up, naming
    # the instances). Empty for one instance.
    instances: Mapping[str, InstanceFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFinished:
    facts: RunFacts


Event = RunStarted | RowSending | RowFinished | Waiting | RunFinished
Listener = Callable[[Event], object]
