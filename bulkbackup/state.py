"""The server's current backup configurations, keyed the way a changes row names them.

`GET /api/v1/databases` embeds every database's `backup_configs`, but matches them by numeric database id only
(API-RULES §1, "BUG"): a MySQL and a PostgreSQL database that share an id show each other's configurations. So
each database keeps only the configurations whose `database_type` is its own model class.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache

Key = tuple[str, str]


@cache
def model_class(database_type: str) -> str:
    """'standalone-postgresql' (a database's type) → 'App\\Models\\StandalonePostgresql' (a config's type)."""
    return "App\\Models\\" + "".join(part.capitalize() for part in database_type.split("-"))


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a fleet's state is decoded and turned into frames.

    GET /databases of 10,000 databases decodes into millions of objects, all alive until the frame is built, and
    every collection the allocations trigger walks them all: a third of plan()'s client time went into collections
    that found nothing to free. Reference counting still frees everything as usual; cycles wait for the end.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
