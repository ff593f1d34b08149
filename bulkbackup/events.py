"""The seam of a run: what `apply()` tells its listeners, row by row (`bb.events`).

The definitions live in `bulkbackup._core.events`; this module is their public name.
"""

from bulkbackup._core.events import (
    Event,
    InstanceFacts,
    Listener,
    Outcome,
    RowFinished,
    RowRef,
    RowResult,
    RowSending,
    RunFacts,
    RunFinished,
    RunStarted,
    Waiting,
)

__all__ = [
    "Event",
    "InstanceFacts",
    "Listener",
    "Outcome",
    "RowFinished",
    "RowRef",
    "RowResult",
    "RowSending",
    "RunFacts",
    "RunFinished",
    "RunStarted",
    "Waiting",
]
