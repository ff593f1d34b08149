"""The progress bar of a run: a listener on apply's seam, like the journal and the notebook's run panel."""

from __future__ import annotations

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
    """

    def __init__(self, show: bool | None = None):
        self.show = show
        self.bar = None
        self._waiting = False

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
