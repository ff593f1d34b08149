"""Apply's steps around the run, one per instance and all instances in parallel (`each`): the one read of each
server that its rows are rebased on before anything is sent, and the one read that verifies them after.

An instance whose server cannot be read before the run (gone, refusing the token) stops only its own lane: its
rows are not sent and say why, and the other instances' rows go on. A run of one client raises instead, as it
always has: there is nothing else to go on with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bulkbackup._coolify.clients import each
from bulkbackup._coolify.state import configs_by_key, names_by_key
from bulkbackup._core.errors import BulkBackupError
from bulkbackup._core.events import InstanceFacts
from bulkbackup._core.operations import Operation, Outcome, Plan
from bulkbackup._engine import sent
from bulkbackup._engine.lanes import Lane, counts
from bulkbackup._engine.plan import read_server
from bulkbackup._engine.rebase import rebase
from bulkbackup._engine.verify import INTERRUPTED, verification

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client
    from bulkbackup._engine.run import Run

UNREAD = "could not read the server before sending"
"""How the stop of an instance whose server could not be read at the start of the run begins."""


def rebased(planned: Plan, lanes: Sequence[Lane], *, read: bool, several: bool) -> list[Operation]:
    """The plan's operations rebased on each instance's server as it is now (each read once, all in parallel;
    `read` False: a blind run reads only the version). Rows of no lane stay as planned (they are not sent)."""
    operations = list(planned.operations)
    reading = [lane for lane in lanes if lane.rows or not several]  # an instance the plan left out is not read
    by_client = {id(lane.client): lane for lane in reading}

    def work(client: Client) -> list[Operation] | None:
        lane = by_client[id(client)]
        try:
            return _rebased(planned, [operations[i] for i in lane.rows], client, read=read)
        except BulkBackupError as error:
            if not several:
                raise
            lane.stopped, lane.own = f"{UNREAD}: {error}", True
            lane.stop.set()
            return None

    for lane, ops in zip(reading, each([lane.client for lane in reading], work), strict=True):
        for i, op in zip(lane.rows, ops or (), strict=False):
            operations[i] = op
    return operations


def _rebased(planned: Plan, operations: list[Operation], client: Client, *, read: bool) -> list[Operation]:
    wanted = any("s3_storage_uuid" in op.payload for op in operations)
    state = read_server(client, databases=read, storages_wanted=wanted)
    databases = state.databases
    current = configs_by_key(databases) if databases is not None else None
    names = names_by_key(databases) if databases is not None else None
    return [
        rebase(
            op,
            current,
            version=state.version,
            names=names,
            compared=planned.compared,
            source=planned.source,
            storages=state.storages,
        )
        for op in operations
    ]


def verified(
    lanes: Sequence[Lane],
    operations: Sequence[Operation],
    outcomes: list[Outcome],
    run: Run,
    *,
    enabled: bool,
    diff: bool,
    record: bool,
) -> tuple[dict[Lane, str], list[Outcome]]:
    """Each instance's verification (its server read once, all in parallel), and the outcomes with `verified`
    set; `record`: remember what was set (`sent.py`; not for a dry run). A Ctrl-C during the reads ends them all:
    INTERRUPTED, and `run.interrupted`."""
    checked = list(outcomes)
    by_client = {id(lane.client): lane for lane in lanes}

    def work(client: Client) -> str:
        lane = by_client[id(client)]
        mine = [operations[i] for i in lane.rows]
        text, found = verification(
            mine,
            [outcomes[i] for i in lane.rows],
            client,
            enabled=enabled,
            diff=diff,
            stopped=lane.stopped is not None or (not run.several and run.stopped is not None),
            interrupted=run.interrupted,
        )
        for i, outcome in zip(lane.rows, found, strict=True):
            checked[i] = outcome
        if record and not text.startswith(("verified", "failed")):
            # Not read back: what the server accepted (2xx) is what this machine set, so editing the same export
            # again is not a conflict with this run (sent.py); a verified run records what it read.
            sent.record(client.endpoint, mine, found, None)
        return text

    try:
        texts = each([lane.client for lane in lanes], work)
    except KeyboardInterrupt:
        texts = [INTERRUPTED] * len(lanes)
    if INTERRUPTED in texts:
        run.interrupted = True
    return dict(zip(lanes, texts, strict=True)), checked


def facts(
    lanes: Sequence[Lane], outcomes: Sequence[Outcome], verifications: dict[Lane, str], otherwise: str
) -> dict[str, InstanceFacts]:
    """name → its part of the run, for a run over several instances (`otherwise`: the verification of an instance
    that has none, because the run did not get that far)."""
    return {
        lane.client.name: InstanceFacts(
            endpoint=lane.client.endpoint,
            stopped=lane.stopped,
            verification=verifications.get(lane, otherwise),
            counts=counts(lane, outcomes),
        )
        for lane in lanes
    }
