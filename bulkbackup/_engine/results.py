"""The results frame: one row per input row saying exactly what happened to it."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from bulkbackup._core.columns import RESULTS_COLUMNS
from bulkbackup._core.statuses import STATUSES, SUCCESS
from bulkbackup._display.styling import ATTR, RunSummary


def make_results(rows: list[dict], index: pd.Index) -> pd.DataFrame:
    frame = pd.DataFrame(rows, index=index, columns=list(RESULTS_COLUMNS))
    frame["status"] = [str(s) for s in frame["status"]]  # plain strings: a frame is data, not our enums
    frame.attrs[ATTR] = "results"
    return frame.astype(
        {
            "line": "Int64",
            "http_status": "Int64",
            "attempts": "int64",
            "elapsed_s": "float64",
            "verified": "boolean",
        }
    )


def summary(results: pd.DataFrame) -> RunSummary:
    """Count of rows per status, in STATUSES order, leaving out statuses no row has: a dict, with `.stopped`.

    In a notebook it displays as a small table with the run's stop reason (see `styling.RunSummary`).
    """
    counts = Counter(results["status"])
    return RunSummary.of(results, {str(status): counts[status] for status in STATUSES if counts[status]})


def format_summary(results: pd.DataFrame) -> str:
    parts = [f"{count} {status}" for status, count in summary(results).items()]
    text = ", ".join(parts) if parts else "no rows"
    stopped = results.attrs.get("stopped")
    return f"{text} (run stopped: {stopped})" if stopped else text


def all_succeeded(results: pd.DataFrame) -> bool:
    return bool(results["status"].isin(SUCCESS).all())
