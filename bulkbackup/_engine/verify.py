"""Verification after a run: one more read of an instance's server checks that every updated row holds what was sent.

One instance at a time (`instances.py` runs one per instance, in parallel). A row whose server value differs says
so on its outcome; a read that cannot be made says why in the run's verification, never on the rows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bulkbackup._coolify.state import configs_by_key
from bulkbackup._core.errors import BulkBackupError
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import Status
from bulkbackup._engine import sent, storage_ids

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

INTERRUPTED = "skipped: interrupted (Ctrl-C)"
"""The verification of a run whose read back a Ctrl-C ended."""


def verification(
    operations: Sequence[Operation],
    outcomes: list[Outcome],
    client: Client,
    *,
    enabled: bool,
    diff: bool,
    stopped: bool,
    interrupted: bool,
) -> tuple[str, list[Outcome]]:
    """("verified" | "failed: …" | "skipped: …" | "not needed", the outcomes with `verified` set).

    `stopped`: this instance's part of the run ended early (nothing may wait after a stop); `interrupted`: a Ctrl-C
    ended the run (nothing is read). A Ctrl-C during the read gives INTERRUPTED."""
    if enabled and not any(o.status == Status.UPDATED for o in outcomes):
        return "not needed", outcomes
    if not diff:  # a blind run reads nothing, also not afterwards (the token may be unable to)
        return "skipped: diff=False, nothing is read back", outcomes
    if not enabled:
        return "skipped: not asked", outcomes
    if interrupted:  # Ctrl-C (a second one, in the CLI): the user wants out now, not one more read
        return "skipped: the run was interrupted (Ctrl-C) before it could read the rows back", outcomes
    # After a stop nothing may wait for the rate limit: verified when the budget allows one read now, else skipped
    # with the wait it would have taken.
    spent = _spent(client) if stopped else None
    if spent:
        return f"skipped: the run was stopped and {spent}; nothing waits after a stop", outcomes
    try:
        unverified, outcomes = _verify(operations, outcomes, client, no_wait=stopped)
    except KeyboardInterrupt:
        return INTERRUPTED, outcomes
    if unverified:
        return unverified, outcomes
    if all(o.verified is not False for o in outcomes):
        return "verified", outcomes
    return "failed: some rows do not hold the values sent", outcomes


def _spent(client: Client) -> str | None:
    """Why one read cannot go at once (the server's budget, as the limiter knows it), or None when it can."""
    limiter = client.limiter
    decision = limiter.decision()
    if decision.action == "paused":
        return f"the server's rate-limit budget is spent (its window reopens in about {math.ceil(decision.wait)} s)"
    budget = limiter.budget
    if decision.action == "probe" and budget is not None and budget < 1:
        return "the server's rate-limit budget is spent (no request is left in its window)"
    return None


def _verify(
    operations: Sequence[Operation], outcomes: list[Outcome], client: Client, *, no_wait: bool = False
) -> tuple[str | None, list[Outcome]]:
    """Check that every updated row now holds what was sent; a mismatch is said on the row's outcome. The first
    item is None, or the verification when the read could not be made ("failed: …", "skipped: …").
    `no_wait`: after a stop, the read gives up rather than wait for the server's window."""
    import requests  # loaded by now: the run has sent its requests

    give_up = threading.Event()
    try:
        if no_wait:  # its own on_wait: no hearer announces a wait that is not made
            databases = client.get_json("/databases", stop=give_up, on_wait=lambda seconds: give_up.set())
            if not isinstance(databases, list):
                raise BulkBackupError(f"GET /databases: expected a JSON array, got {type(databases).__name__}")
        else:
            databases = client.list_databases()
        current = configs_by_key(databases)
    except (BulkBackupError, requests.RequestException) as error:
        if give_up.is_set():
            return "skipped: the run was stopped and the server's budget ran out; nothing waits after a stop", outcomes
        return f"failed: could not verify: {error}", outcomes
    storage_ids.learn(client, operations, outcomes, current)  # a uuid sent and read back as an id
    sent.record(client.endpoint, operations, outcomes, current)  # an export edited twice: not its own conflict
    checked = []
    for op, outcome in zip(operations, outcomes, strict=True):
        if outcome.status != Status.UPDATED or not op.payload:
            checked.append(outcome)
            continue
        config = current.get(op.key)
        mismatches = []
        for name, value in op.payload.items():
            field = BY_NAME[name]
            if name == BACKUP_NOW.name or not field.comparable:
                continue
            if config is None or not field.same(value, config.get(name)):
                mismatches.append(f"{name} is {None if config is None else config.get(name)!r}, sent {value!r}")
        message = outcome.message
        if mismatches:
            message += "; verification failed: " + "; ".join(mismatches)
        checked.append(outcome.with_(verified=not mismatches, message=message))
    return None, checked
