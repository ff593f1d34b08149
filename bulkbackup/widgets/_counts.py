"""The run panel's live counts: a listener on apply's seam that only counts, and what the panel shows of them.

A run over several instances is counted per instance (the row's `RowRef.instance`), each with its own rows to
send, its own wait for its server's rate-limit window and, at the end, its own stop: one instance held back or
stopped (a 401, its server gone) must be visible beside the others going on.
"""

from __future__ import annotations

import html
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.events import RowFinished, RunFinished, RunStarted, Waiting
from bulkbackup._display.progress import counts_as_done
from bulkbackup._engine.pace import waiting
from bulkbackup.widgets._render import counts_html, instance_counts_html

__all__ = ["LiveCounts", "Lane", "progress_note"]


@dataclass
class Lane:
    """One instance's part of the counts (the whole run's, for one instance)."""

    to_send: int = 0
    sent: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    waiting_until: float | None = None  # time.monotonic() when the wait for this server's window ends
    stopped: str | None = None  # why this instance's rows stopped early (known when the run ends)


class LiveCounts:
    """Counts fed by apply's seam (`listen`, called in the run's threads) and read by the panel's refresh loop.

    `instances` names the lanes of a run over several instances, in the clients' order; () for one instance.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.instances: tuple[str, ...] = ()
        self.lanes: dict[str | None, Lane] = {None: Lane()}
        self.total = 0
        self.started: float | None = None  # time.monotonic() at the start: the estimate counts the waits too

    def begin(self, to_send: Mapping[str | None, int], instances: tuple[str, ...] = ()) -> None:
        """A new run: `to_send` rows per instance (None: the one instance), every count at zero."""
        with self._lock:
            self.instances = tuple(instances)
            keys = self.instances or (None,)
            self.lanes = {key: Lane(to_send=int(to_send.get(key, 0))) for key in keys}
            self.total = sum(lane.to_send for lane in self.lanes.values())
            self.started = time.monotonic()

    def _lane(self, instance: str | None) -> Lane:
        key = instance if self.instances else None
        return self.lanes.setdefault(key, Lane())

    def listen(self, event: object) -> None:
        """The listener on apply's seam: only counts (the refresh loop shows them)."""
        with self._lock:
            if isinstance(event, RunStarted):
                self.total = event.to_send  # the run's own count (a resumed run sends fewer than planned)
            elif isinstance(event, RowFinished):
                lane = self._lane(event.row.instance)
                lane.counts[event.result.status] += 1
                # As the results count it: a skipped row is not done.
                lane.sent += counts_as_done(event.result.status)
                lane.waiting_until = None
            elif isinstance(event, Waiting):
                until = time.monotonic() + event.seconds
                if self.instances and event.instance is None:  # a wait of no one instance holds them all
                    for lane in self.lanes.values():
                        lane.waiting_until = until
                else:
                    self._lane(event.instance).waiting_until = until
            elif isinstance(event, RunFinished):
                for lane in self.lanes.values():
                    lane.waiting_until = None

    def wait_heard(self, seconds: float, instance: str | None = None) -> None:
        """A wait of apply's reads before the run starts (a resumed run's rebase): shown like a run's own waits."""
        self.listen(Waiting(seconds, instance))

    def settle(self, results: pd.DataFrame) -> None:
        """The final counts, from the results frame: the record, whatever the listener saw."""
        facts = getattr(results.attrs.get("run"), "instances", None) or {}
        with self._lock:
            groups = results.groupby(INSTANCE, sort=False) if self.instances and INSTANCE in results else None
            rows = {None: results} if groups is None else {str(name): frame for name, frame in groups}
            for key, lane in self.lanes.items():
                frame = rows.get(key, results.iloc[:0])
                lane.counts = Counter({str(s): int(n) for s, n in frame["status"].value_counts(sort=False).items()})
                lane.sent = sum(counts_as_done(s) for s in frame["status"])
                lane.waiting_until = None
                lane.stopped = getattr(facts.get(key), "stopped", None) if key is not None else None
            self.total = max(self.total, sum(lane.sent for lane in self.lanes.values()))

    @property
    def sent(self) -> int:
        with self._lock:
            return sum(lane.sent for lane in self.lanes.values())

    def html(self, now: float | None = None, *, final: bool = False) -> str:
        """What the panel shows: badges for one instance, a table of instance × status for several; then the
        wait for the server and the time left (not once the run has ended)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            lanes = {
                key: Lane(lane.to_send, lane.sent, Counter(lane.counts), lane.waiting_until, lane.stopped)
                for key, lane in self.lanes.items()
            }
            total, started = self.total, self.started
        sent = sum(lane.sent for lane in lanes.values())
        if not self.instances:
            lane = lanes[None]
            note = "" if final else progress_note(now, started, lane.waiting_until, sent, total)
            return counts_html(dict(lane.counts)) + html.escape(note)
        notes = {}
        for key, lane in lanes.items():
            if lane.stopped:
                notes[key] = f"stopped: {lane.stopped}"
            elif not final and lane.waiting_until is not None and lane.waiting_until - now > 1:
                notes[key] = waiting(lane.waiting_until - now)
        table = instance_counts_html(
            {str(key): (lane.sent, lane.to_send, dict(lane.counts)) for key, lane in lanes.items()}, notes
        )
        note = "" if final else progress_note(now, started, None, sent, total).removeprefix(" — ")
        return table + (f'<div class="bulkbackup-note">{html.escape(note)}</div>' if note else "")


def progress_note(now: float, started: float | None, waiting_until: float | None, sent: int, total: int) -> str:
    """What the counts line adds: the wait for the server (what for and how long) and the time left at this pace.

    The estimate is the run's own pace so far (rows per second since it started, waits included), so a run held
    back by the server's budget is not promised an early end.
    """
    parts = []
    if waiting_until is not None and waiting_until - now > 1:
        parts.append(waiting(waiting_until - now))
    if started is not None and 0 < sent < total and now - started >= 2:
        left = (now - started) / sent * (total - sent)
        parts.append(f"about {_duration(left)} left")
    return "".join(f" — {p}" for p in parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
