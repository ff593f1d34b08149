"""The backup runs of some configurations, as one frame: what a fleet-health check needs beyond the inventory.

The inventory carries only each configuration's newest run (`latest_status`, `latest_run_at`, `latest_size`); the
history, and so the sizes of recent backups or a run of failures, comes from
`GET /api/v1/databases/{uuid}/backups/{scheduled_backup_uuid}/executions`, one request per configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd

from bulkbackup._coolify.clients import Clients, clients_of, each_named, is_several, one_client
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import ApiError, ConfigError, InputError
from bulkbackup._core.fields import KEY_COLUMNS

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

# What the endpoint gives for each run (API-RULES: DC 2918-2962), newest first.
EXECUTION_COLUMNS = ("execution_uuid", "status", "created_at", "size", "filename", "message")
_CARRIED = ("project", "environment", "database_name", "database_type")


def executions(
    client_or_clients: Client | Sequence[Client] | Clients, frame: pd.DataFrame, *, last: int | None = None
) -> pd.DataFrame:
    """Every run of each configuration in `frame` (inventory rows), newest first within a configuration.

    One row per execution: the configuration's database_uuid and backup_uuid, its project, environment,
    database_name and database_type when `frame` has them, then execution_uuid, status (success, failed or
    running), created_at (a UTC Timestamp), size (bytes, Int64), filename and message. `last` keeps only the newest
    `last` runs of each configuration. One GET per configuration, `client.workers` at a time, each counted against
    the server's rate limit like any other (a spent budget is waited for, as in a run). A configuration deleted
    since the inventory (404) has no rows.

    A list of clients reads the rows of an inventory of several instances (its `instance` column), each instance
    from its own server, in parallel; the frame has the `instance` column first.
    """
    if is_several(client_or_clients):
        return _of_instances(clients_of(client_or_clients), frame, last)
    client = one_client(client_or_clients)
    missing = [c for c in KEY_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"executions needs the column {missing[0]!r} (pass inventory rows)", column=missing[0])
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
        raise InputError(f"last must be a whole number ≥ 1 or None, not {last!r}", column="last", value=last)
    carried = [c for c in _CARRIED if c in frame.columns]
    configurations = frame[[*KEY_COLUMNS, *carried]].drop_duplicates(list(KEY_COLUMNS)).to_dict("records")
    with ThreadPoolExecutor(max_workers=max(1, client.workers), thread_name_prefix="bulkbackup-executions") as pool:
        listed = list(pool.map(lambda row: _runs(client, row), configurations))
    rows = []
    for configuration, runs in zip(configurations, listed, strict=True):
        for run in runs[:last]:
            rows.append(
                {
                    **configuration,
                    "execution_uuid": run.get("uuid"),
                    "status": run.get("status"),
                    "created_at": run.get("created_at"),
                    "size": run.get("size"),
                    "filename": run.get("filename"),
                    "message": run.get("message"),
                }
            )
    result = pd.DataFrame(rows, columns=[*KEY_COLUMNS, *carried, *EXECUTION_COLUMNS])
    result["created_at"] = pd.to_datetime(result["created_at"], utc=True, format="ISO8601")
    return result.astype({"size": "Int64"})


def _of_instances(clients: Clients, frame: pd.DataFrame, last: int | None) -> pd.DataFrame:
    """The executions of the rows of several instances, each read from the client of its `instance`."""
    if INSTANCE not in frame.columns:
        raise ConfigError(
            f"executions of several instances ({clients.listed()}) need the rows' 'instance' column, to ask each "
            "row's own server (uuids repeat across instances): pass rows of bb.inventory(clients)"
        )
    unserved = [name for name in dict.fromkeys(frame[INSTANCE].tolist()) if clients.by_name(name) is None]
    if unserved:
        raise InputError(
            f"instance {unserved[0]!r}: no client serves this instance (given: {clients.listed()})",
            column=INSTANCE,
            value=unserved[0],
        )
    rows = {name: frame[frame[INSTANCE] == name].drop(columns=INSTANCE) for name in clients.names}
    found = each_named(clients, lambda client: executions(client, rows[client.name], last=last))
    named = [runs.assign(**{INSTANCE: name})[[INSTANCE, *runs.columns]] for name, runs in zip(rows, found, strict=True)]
    filled = [runs for runs in named if len(runs)] or named[:1]  # pandas warns about concatenating empty frames
    result = pd.concat(filled, ignore_index=True)
    return result.astype({"size": "Int64"})


def _runs(client: Client, configuration: dict) -> list[dict]:
    try:
        return client.list_executions(*(configuration[c] for c in KEY_COLUMNS))
    except ApiError as error:
        if error.status == 404:
            return []
        raise
