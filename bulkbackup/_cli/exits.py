"""The exit codes, in one table: what a script calling `bulkbackup` can rely on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bulkbackup._core.statuses import Action

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK = 0  # every row went as asked (updated, triggered, unchanged), or every check passed
EXIT_NOT_ALL_OK = 1  # some row did not (invalid, failed, unknown …), or a check failed
EXIT_USAGE = 2  # a usage error, an error before anything was sent, an aborted or interrupted run


def of_plan(planned: pd.DataFrame) -> int:
    """`plan`, a dry run and `apply --strict`: 1 when any row is invalid."""
    return EXIT_NOT_ALL_OK if (planned["action"] == Action.INVALID).any() else EXIT_OK


def of_run(results: pd.DataFrame, *, stopped: bool) -> int:
    """`apply`: a run the user stopped is an aborted run (2) whatever its rows; otherwise 0 only when every row
    succeeded and the journal holds the whole run (a journal that failed or vanished is 1, whatever the rows)."""
    from bulkbackup._engine.results import all_succeeded

    if stopped:
        return EXIT_USAGE
    if getattr(results.attrs.get("run"), "journal_failure", None):
        return EXIT_NOT_ALL_OK
    return EXIT_OK if all_succeeded(results) else EXIT_NOT_ALL_OK
