"""The server's current backup configurations, keyed the way a changes row names them.

`GET /api/v1/databases` embeds every database's `backup_configs`, but matches them by numeric database id only
(API-RULES §1, "BUG"): a MySQL and a PostgreSQL database that share an id show each other's configurations. So
each database keeps only the configurations whose `database_type` is its own model class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from bulkbackup._core.gcpause import gc_paused as gc_paused  # re-exported: plan and inventory take it from here

Key = tuple[str, str]


@cache
def model_class(database_type: str) -> str:
    """'standalone-postgresql' (a database's type) → 'App\\Models\\StandalonePostgresql' (a config's type)."""
    return "App\\Models\\" + "".join(part.capitalize() for part in database_type.split("-"))


def own_configs(database: Mapping) -> list[dict]:
    wanted = model_class(str(database.get("database_type", "")))
    return [c for c in database.get("backup_configs") or [] if c.get("database_type") == wanted]


def configs_by_key(databases: Iterable[Mapping]) -> dict[Key, dict]:
    """(database_uuid, backup_uuid) → the configuration as the server reports it."""
    return {(db["uuid"], cfg["uuid"]): cfg for db in databases for cfg in own_configs(db)}


def names_by_key(databases: Iterable[Mapping]) -> dict[Key, tuple[str | None, str | None]]:
    """(database_uuid, backup_uuid) → (database name, database type): what names a row for people."""
    return {
        (db.get("uuid"), cfg.get("uuid")): (db.get("name"), db.get("database_type"))
        for db in databases
        for cfg in own_configs(db)
    }
