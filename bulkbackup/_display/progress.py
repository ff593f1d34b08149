"""The progress bar of a run: a listener on apply's seam, like the journal and the notebook's run panel."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from bulkbackup._core.events import Event, RowFinished, RunFinished, RunStarted, Waiting
from bulkbackup._core.statuses import Status


def counts_as_done(status: str) -> bool:
    """Whether a finished row counts as done in a run's progress: a request for it went out (or may have), as
    the results' statuses say (`StatusInfo.sent`). The bar, the run panel and the results count the same rows."""
    return Status(status).info.sent


class ProgressBar:
    """A tqdm bar counting finished rows; while the run waits for the server's rate-limit window it says so.

    `show` False hides it, True shows it at once, None shows it only when the run takes more than a moment.
    tqdm is imported when a run starts, so `import bulkbackup` stays light.

    A run over several instances: `instances` gives each instance's rows to send, and the bar's postfix counts
    each ("prod 150/150 · staging 20/150 (stopped)"); `stopped()` names the instances whose part stopped early.
    """

    def __init__(
        self,
        show: bool | None = None,
        *,
        instances: Mapping[str, int] | None = None,
        stopped: Callable[[], Collection[str]] | None = None,
    ):
        self.show = show
        self.bar = None
        self._waiting = False
        self._totals = dict(instances or {})
        self._done = dict.fromkeys(self._totals, 0)
        self._waits: dict[str, float] = {}  # instance → the wait announced, until one of its rows finishes
        self._stopped = stopped

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=event.to_send,
                unit="row",
                desc="apply",
                disable=self.show is False or event.dry_run or not event.to_send,
                delay=0 if self.show else 1.0,
                # The estimate is the pace since the start, waits for the server included: a run held back by
                # the rate limit is not promised an early end after each burst (tqdm's default follows the burst).
                smoothing=0,
            )
        elif self.bar is None:
            return
        elif self._totals:
            self._per_instance(event)
        elif isinstance(event, RowFinished):
            if self._waiting:
                self._waiting = False
                self.bar.set_postfix_str("", refresh=False)
            # Done is what the results count as done: a request went out for the row (`StatusInfo.sent`). A row
            # announced and then skipped by a stop is finished for the seam, not done: it would make the bar
            # end above the results.
            if counts_as_done(event.result.status):
                self.bar.update(1)
        elif isinstance(event, Waiting):
            self._waiting = True
            self.bar.set_postfix_str(f"waiting {event.seconds:.0f}s for the server's rate-limit window")
        elif isinstance(event, RunFinished):
            self.bar.close()
            self.bar = None

    def _per_instance(self, event: Event) -> None:
        """The events of a run over several instances: the postfix counts each instance and names its waits."""
        if isinstance(event, RowFinished):
            instance = event.row.instance
            self._waits.pop(instance, None)  # type: ignore[arg-type]
            if counts_as_done(event.result.status):
                if instance in self._done:
                    self._done[instance] += 1
                self.bar.set_postfix_str(self._postfix(), refresh=False)
                self.bar.update(1)  # refreshes at tqdm's pace, with the postfix
            else:
                self.bar.set_postfix_str(self._postfix())
        elif isinstance(event, Waiting):
            self._waits[event.instance or "?"] = event.seconds
            self.bar.set_postfix_str(self._postfix())
        elif isinstance(event, RunFinished):
            self.bar.set_postfix_str(self._postfix())
            self.bar.close()
            self.bar = None

    def _postfix(self) -> str:
        stopped = set(self._stopped()) if self._stopped is not None else set()
        parts = []
        for name, total in self._totals.items():
            part = f"{name} {self._done[name]}/{total}"
            if name in stopped:
                part += " (stopped)"
            elif name in self._waits:
                part += f" (waiting {self._waits[name]:.0f}s for its rate-limit window)"
            parts.append(part)
        return " · ".join(parts)
