"""Every backup configuration of an instance, or of several, as one DataFrame, ready to edit and feed back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd

from bulkbackup._coolify.clients import Clients, clients_of, each_named, is_several, one_client
from bulkbackup._coolify.state import gc_paused, own_configs
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import ApiError
from bulkbackup._core.fields import INVENTORY_COLUMNS, KEY_COLUMNS, SETTING_NAMES
from bulkbackup._display.styling import ATTR
from bulkbackup._engine import storage_ids
from bulkbackup._engine.pace import hearing
from bulkbackup._input.export_memory import EXPORTED, remember

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

COLUMNS = (*KEY_COLUMNS, *(c for c in INVENTORY_COLUMNS if c != "backup_supported"), *SETTING_NAMES)
# environment id → (project name, environment name, project uuid, environment uuid)
Place = tuple[str | None, str | None, str | None, str | None]
_NOWHERE: Place = (None, None, None, None)


def inventory(
    client_or_clients: Client | Sequence[Client] | Clients,
    *,
    unconfigured: bool = False,
    on_wait: Callable[[float], object] | None = None,
) -> pd.DataFrame:
    """One row per backup configuration, with the project and environment each database lives in.

    Give one client, or a list of clients (`bb.connect(all_contexts=True)`): then every instance is read at once,
    in parallel, and the one frame holds their rows in the clients' order, with the column `instance` first (each
    row's `client.name`). Uuids can repeat across instances (restored from one backup): a row is its instance and
    its uuids. An instance that cannot be read fails the call with an error naming it (after the others ended),
    never a frame silently missing its rows.

    `unconfigured=True` adds one row per database that has no backup configuration: its `backup_uuid` and settings
    are empty, and the column `backup_supported` says whether Coolify can back up its type through the API at all
    (redis, keydb and dragonfly it cannot: a policy marks them, it does not count them as violations).

    Requests, each counted against the server's rate limit like any other: one `GET /api/v1/databases` (every
    database with its backup configurations and its numeric `environment_id`, but no names), one
    `GET /api/v1/projects` (ids, uuids and names), and `GET /api/v1/projects/{uuid}` (the project's environments)
    for as many projects as it takes to place every database that has a configuration: at most 1 + 1 + P for P
    projects, fetched `client.workers` at a time and stopped as soon as every environment is known. A fleet without
    backup configurations costs the one request.

    `s3_storage_uuid` is filled where bulkbackup knows which uuid the numeric `s3_storage_id` is (it learned the
    pair before: `storage_ids`), and empty otherwise: the server reports only the id. An exported file fed back
    unchanged sends nothing for it either way.

    `on_wait(seconds)` hears each wait for the server's rate-limit window while it reads (to say it); with several
    instances, each instance's waits (from the thread reading it).
    """
    if is_several(client_or_clients):
        return inventories(clients_of(client_or_clients), unconfigured=unconfigured, on_wait=on_wait)
    client = one_client(client_or_clients)
    with gc_paused(), hearing(client, on_wait):
        return _inventory(client, unconfigured)


def inventories(
    clients: Clients, *, unconfigured: bool = False, on_wait: Callable[[float], object] | None = None
) -> pd.DataFrame:
    """The inventories of several instances, read in parallel, as one frame with the `instance` column first."""

    def one(client: Client) -> pd.DataFrame:
        with hearing(client, on_wait):
            return _inventory(client, unconfigured)

    with gc_paused():  # once around all: a thread ending first must not switch collection back on for the rest
        frames = each_named(clients, one)
    return joined(clients.names, frames)


def joined(names: Sequence[str], frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One inventory frame of the inventories of several instances (named `names`, in order), `instance` first.
    The memory of what each held (`attrs["exported"]`) goes with it, keyed by instance: an edited copy sends only
    the edited cells, each to its own instance."""
    pairs = zip(names, frames, strict=True)
    named = [frame.assign(**{INSTANCE: name})[[INSTANCE, *frame.columns]] for name, frame in pairs]
    filled = [frame for frame in named if len(frame)] or named[:1]  # pandas warns about concatenating empty frames
    frame = pd.concat(filled, ignore_index=True)
    frame = frame.astype({"s3_storage_id": "Int64", "latest_size": "Int64"})
    if "backup_supported" in frame.columns:
        frame["backup_supported"] = frame["backup_supported"].astype(bool)
    frame.attrs.clear()
    frame.attrs[ATTR] = "inventory"
    frame.attrs[EXPORTED] = remember(frame)  # keyed by instance too (`memory_keys`): uuids repeat across instances
    return frame


UNSUPPORTED_TYPES = frozenset({"standalone-redis", "standalone-keydb", "standalone-dragonfly"})
"""Database types whose backups Coolify's API refuses (API-RULES, POST /databases/{uuid}/backups)."""


def _inventory(client: Client, unconfigured: bool) -> pd.DataFrame:
    databases = client.list_databases()
    found = [(db, own_configs(db)) for db in databases]
    # A database without configurations gets one row of its own, all of whose configuration cells are empty.
    found = [(db, configs or [{}]) for db, configs in found if configs or unconfigured]
    places = _places(client, {db.get("environment_id") for db, _ in found}) if found else {}
    # Columns built as lists, not as one dict per row: at fleet scale the frame is built several times faster.
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    append = {name: values.append for name, values in columns.items()}
    settings = [(name, append[name]) for name in SETTING_NAMES if name != "s3_storage_uuid"]
    storages = storage_ids.remembered(client.endpoint)  # the ids whose uuid is known (storage_ids), no request
    for db, configs in found:
        project, environment, project_uuid, environment_uuid = places.get(db.get("environment_id"), _NOWHERE)
        for config in configs:
            latest = config.get("latest_log") or {}
            for name, add in settings:
                add(config.get(name))
            append["database_uuid"](db.get("uuid"))
            append["backup_uuid"](config.get("uuid"))
            append["project"](project)
            append["environment"](environment)
            append["project_uuid"](project_uuid)
            append["environment_uuid"](environment_uuid)
            append["database_name"](db.get("name"))
            append["database_type"](db.get("database_type"))
            append["database_status"](db.get("status"))
            append["s3_storage_id"](config.get("s3_storage_id"))
            append["disable_local_backup"](config.get("disable_local_backup"))
            append["latest_status"](latest.get("status"))
            append["latest_run_at"](latest.get("created_at"))
            append["latest_size"](latest.get("size"))
            append["s3_storage_uuid"](storages.get(config.get("s3_storage_id")))
    frame = pd.DataFrame(columns) if found else pd.DataFrame(columns=list(COLUMNS), dtype=object)
    frame = frame.astype({"s3_storage_id": "Int64", "latest_size": "Int64"})
    if unconfigured:
        frame["backup_supported"] = ~frame["database_type"].isin(UNSUPPORTED_TYPES)
    frame.attrs[ATTR] = "inventory"  # displayed styled in a notebook (styling.install)
    frame.attrs[EXPORTED] = remember(frame)  # what it held: an edited copy sends only the edited cells
    return frame


def _places(client: Client, wanted: set[object]) -> dict[object, Place]:
    """The project and environment of each wanted environment id, reading only as many projects as needed."""
    wanted.discard(None)
    places: dict[object, Place] = {}
    projects = [p for p in client.list_projects() if isinstance(p, dict) and p.get("uuid")]
    batch = max(1, client.workers)
    with ThreadPoolExecutor(max_workers=batch, thread_name_prefix="bulkbackup-inventory") as pool:
        for start in range(0, len(projects), batch):
            if wanted <= places.keys():
                break
            chunk = projects[start : start + batch]
            for listed, detail in zip(chunk, pool.map(lambda p: _project(client, p["uuid"]), chunk), strict=True):
                for environment in detail.get("environments") or []:
                    places[environment.get("id")] = (
                        detail.get("name", listed.get("name")),
                        environment.get("name"),
                        detail.get("uuid", listed.get("uuid")),
                        environment.get("uuid"),
                    )
    return places


def _project(client: Client, uuid: str) -> dict:
    """The project with its environments; {} for one deleted since the listing (its databases went with it)."""
    try:
        return client.get_project(uuid)
    except ApiError as error:
        if error.status == 404:
            return {}
        raise
