"""The team's S3 storages as one DataFrame: which to name in `s3_storage_uuid`, and which configurations use each.

Never `key` or `secret`: the server sends them to tokens with `read:sensitive` or `root`, and the client drops them
where the answer is read (`Client.list_storages`), before anything else sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from bulkbackup._coolify.clients import Clients, clients_of, each_named, is_several, one_client
from bulkbackup._coolify.state import own_configs
from bulkbackup._core.columns import INSTANCE

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

__all__ = ["STORAGE_COLUMNS", "storages"]

STORAGE_COLUMNS = ("name", "uuid", "bucket", "endpoint", "region", "is_usable", "configurations", "used_by")

UNKNOWN_USE = (
    "which configurations use each storage cannot be known from the server: it reports a configuration's numeric "
    "s3_storage_id only, and hides every storage's id"
)


def storages(client_or_clients: Client | Sequence[Client] | Clients) -> pd.DataFrame:
    """One row per S3 storage of the token's team: name, uuid, bucket, endpoint, region, is_usable, and where it
    can be known, `configurations` (how many backup configurations use it) and `used_by` (their database names
    and backup uuids). Known when no configuration uses S3, or the team has one storage; otherwise both are
    empty and `attrs["note"]` says why. Two requests: `GET /api/v1/s3-storages` (Coolify 4.3.0 and later) and
    `GET /api/v1/databases`.

    A list of clients: every instance read in parallel, one frame with the `instance` column first (a storage's
    uuid is its own instance's: name it in that instance's rows only); `attrs["note"]` names the instances it is
    about."""
    if not is_several(client_or_clients):
        return _storages(one_client(client_or_clients))
    clients = clients_of(client_or_clients)
    frames = each_named(clients, _storages)
    pairs = list(zip(clients.names, frames, strict=True))
    named = [f.assign(**{INSTANCE: name})[[INSTANCE, *STORAGE_COLUMNS]] for name, f in pairs]
    frame = pd.concat(named, ignore_index=True).astype({"configurations": "Int64"})
    unknown = [name for name, f in pairs if f.attrs.get("note")]
    if unknown:
        frame.attrs["note"] = f"{', '.join(unknown)}: {UNKNOWN_USE}"
    return frame


def _storages(client: Client) -> pd.DataFrame:
    listed = [s for s in client.list_storages() if isinstance(s, dict)]
    users = [
        f"{db.get('name') or db.get('uuid')} ({config.get('uuid')})"
        for db in client.list_databases()
        for config in own_configs(db)
        if config.get("s3_storage_id") is not None
    ]
    known = not users or len(listed) == 1
    rows = [
        {
            "name": s.get("name"),
            "uuid": s.get("uuid"),
            "bucket": s.get("bucket"),
            "endpoint": s.get("endpoint"),
            "region": s.get("region"),
            "is_usable": s.get("is_usable"),
            "configurations": len(users) if known else None,
            "used_by": ", ".join(users) if known else None,
        }
        for s in listed
    ]
    frame = pd.DataFrame(rows, columns=list(STORAGE_COLUMNS)).astype({"configurations": "Int64"})
    if not known:
        frame.attrs["note"] = UNKNOWN_USE
    return frame
