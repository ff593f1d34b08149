"""The lanes of a run: one per Coolify instance, each sent at its own server's pace.

A run over several instances sends each instance's rows through that instance's own client (so its own limiter and
connection pool), its own workers, retry policy, failure streak, rate cap and stop signal. What is about one
instance — a 401/403, a page that is not the API, its server gone — stops only its lane and the other instances'
rows go on; what is about the whole run — the caller's Stop, Ctrl-C, a listener (the journal) failing, an internal
error — stops every lane (`run.py`). A run of one client has one lane: there is one code path, not two.

Rows are routed by their instance (`RowRef.instance`), never guessed: uuids repeat across instances restored from
one backup, so a row meant for staging must never go out through production's client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bulkbackup._coolify.limiter import RateCap
from bulkbackup._coolify.retry import FailureStreak, RetryPolicy
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import Status

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client
    from bulkbackup._coolify.clients import Clients


@dataclass(frozen=True)
class RunSettings:
    """What one lane needs besides its rows; derived for the run, never written into the shared client."""

    retry: RetryPolicy
    workers: int
    failure_streak: int
    cap: RateCap | None = None


class Lane:
    """One instance's part of a run: its client, its rows (`rows`: every row of the instance; `to_send`: those this
    run sends, in input order), its settings, and its own stop. `name` is the instance's, None for a run of one
    client (its messages then name no instance, as before there were several)."""

    def __init__(self, name: str | None, client: Client, settings: RunSettings):
        self.name = name
        self.client = client
        self.settings = settings
        self.rows: list[int] = []
        self.to_send: list[int] = []
        self.stop = threading.Event()  # set: no worker of this lane starts another request
        self.stopped: str | None = None  # why this lane stopped (its own reason, or the whole run's)
        self.own = False  # stopped by what happened on its own instance, not by the whole run
        self.streak = FailureStreak(settings.failure_streak)
        self.next = 0  # position in to_send of the next row a worker takes
        self.live = 0  # workers still running
        self.wait_until = 0.0  # the end of the last rate-limit wait announced

    def __repr__(self) -> str:
        return f"Lane({self.name or self.client.name!r}, {len(self.to_send)} to send, stopped={self.stopped!r})"

    @property
    def busy(self) -> bool:
        """Rows are left to take, or a worker is still at them: a stop now stops something."""
        return self.live > 0 or self.next < len(self.to_send)

    def named(self, reason: str) -> str:
        """A reason as a run over several instances says it: "staging: the server answered 401 …"."""
        return f"{self.name}: {reason}" if self.name is not None else reason


def lanes_of(
    clients: Clients, operations: Sequence[Operation], settings: Callable[[Client], RunSettings]
) -> list[Lane]:
    """One lane per client, in the clients' order, holding the rows of its instance (`rows`)."""
    lanes = [Lane(c.name if clients.several else None, c, settings(c)) for c in clients]
    by_name = {lane.client.name: lane for lane in lanes}
    for i, op in enumerate(operations):
        lane = _lane_for(op.ref.instance, lanes, by_name)
        if lane is not None:
            lane.rows.append(i)
    return lanes


def assign(lanes: Sequence[Lane], to_send: Sequence[int], operations: Sequence[Operation]) -> dict[int, Outcome]:
    """Give each lane the rows it sends (`to_send`, in input order); the outcome of each row to send that no client
    serves: never sent (a plan of several instances has it invalid already; this is the last guard)."""
    sending = set(to_send)
    for lane in lanes:
        lane.to_send = [i for i in lane.rows if i in sending]
    served = {i for lane in lanes for i in lane.to_send}
    given = ", ".join(repr(lane.client.name) for lane in lanes)
    return {
        i: Outcome(
            Status.INVALID,
            message=f"not sent: no client serves instance {operations[i].ref.instance!r} (given: {given})",
        )
        for i in to_send
        if i not in served
    }


def _lane_for(instance: str | None, lanes: list[Lane], by_name: dict[str, Lane]) -> Lane | None:
    """The lane of a row: its instance's; a row naming no instance goes to the only client when there is one."""
    if instance is None:
        return lanes[0] if len(lanes) == 1 else None
    return by_name.get(instance)


def counts(lane: Lane, outcomes: Sequence[Outcome]) -> dict[str, int]:
    """Rows per status of one instance."""
    found: dict[str, int] = {}
    for i in lane.rows:
        status = str(outcomes[i].status)
        found[status] = found.get(status, 0) + 1
    return found


def summed_verification(verifications: dict[str, str]) -> str:
    """One verification for a run over several instances: "verified" when every instance was verified (or needed
    none), the same words when all say the same, else each instance that was not verified, named."""
    said = set(verifications.values())
    if said <= {"verified", "not needed"}:
        return "verified" if "verified" in said else "not needed"
    if len(said) == 1:
        return said.pop()
    return "; ".join(
        f"{name}: {text}" for name, text in verifications.items() if text not in ("verified", "not needed")
    )
