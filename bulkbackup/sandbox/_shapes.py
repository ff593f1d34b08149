"""The JSON shapes the real server answers with (API-RULES §1 and §5): column order, casts, timestamp formats.

The backup configuration's *settable* columns and their types are the sandbox's own rules table (`_rules`); this
module adds what the table has on top of it: its column order, the columns no client can set, and which columns
Eloquent casts (that decides when an update really changes a row).
"""

from __future__ import annotations

import time
from functools import lru_cache

from bulkbackup.sandbox._rules import DECIMAL_17_7_LIMIT, INT4_MAX, S3_UUID, SETTING_COLUMNS

# `scheduled_database_backups` in DB column order (all migrations, API-RULES §5). The settable columns are the
# settings of `_rules` minus s3_storage_uuid (the API converts it to s3_storage_id).
CONFIG_COLUMNS: tuple[str, ...] = (
    "id",
    "description",
    "uuid",
    "enabled",
    "save_s3",
    "frequency",
    "database_backup_retention_amount_locally",
    "database_type",
    "database_id",
    "s3_storage_id",
    "team_id",
    "created_at",
    "updated_at",
    "databases_to_backup",
    "dump_all",
    "database_backup_retention_days_locally",
    "database_backup_retention_max_storage_locally",
    "database_backup_retention_amount_s3",
    "database_backup_retention_days_s3",
    "database_backup_retention_max_storage_s3",
    "timeout",
    "disable_local_backup",
)
# Coolify 4.3.18 added these after disable_local_backup (UPSTREAM.md); only the first is writable.
MISSING_BACKUP_COLUMNS: tuple[str, ...] = (
    "missing_backup_notification_days",
    "missing_backup_notification_sent_at",
    "last_execution_at",
)
S3_UUID_FIELD = S3_UUID
# The columns' ranges, from the sandbox's own rules (tests compare them with the client's field table).
COLUMN_RANGES = {"integer": INT4_MAX, "decimal(17,7)": DECIMAL_17_7_LIMIT}

# Model casts (ScheduledDatabaseBackup.php:11-18): dump_all is cast to boolean; enabled and save_s3 are not
# (they come back as PostgreSQL booleans all the same, but an update compares them uncast).
CAST_TO_BOOLEAN = frozenset({"dump_all"})

missing = set(SETTING_COLUMNS) - set(CONFIG_COLUMNS) - set(MISSING_BACKUP_COLUMNS)
assert not missing, f"the rules table has settings the backup table lacks: {sorted(missing)}"

EXECUTION_COLUMNS: tuple[str, ...] = (
    "id",
    "uuid",
    "status",
    "message",
    "size",
    "filename",
    "scheduled_database_backup_id",
    "created_at",
    "updated_at",
    "database_name",
    "finished_at",
    "local_storage_deleted",
    "s3_storage_deleted",
    "s3_uploaded",
)


# --- Timestamps ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def laravel_timestamp(epoch: int) -> str:
    """Carbon's toJSON() of a timestamp(0) column: "2026-08-22T15:22:50.000000Z"."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(epoch))


def iso8601(epoch: int) -> str:
    """Carbon's toIso8601String() in UTC, used by the executions endpoint: "2026-08-22T15:22:50+00:00"."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(epoch))


def pg_timestamp(epoch: int | None) -> str | None:
    """An uncast timestamp column as PDO returns it: "2026-08-22 15:22:50"."""
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


# --- Database objects ------------------------------------------------------------------------------------------


def serialize_api_response(attributes: dict[str, object]) -> dict[str, object]:
    """`serializeApiResponse()` (bootstrap/helpers/api.php:38-97) on one model's attributes.

    Keys sorted; created_at/updated_at moved to the end (when truthy); then name, description, uuid and id
    prepended in that order, each only when truthy (id: when not null), so they end up uuid, description, name.
    """
    d = dict(sorted(attributes.items()))
    for key in ("created_at", "updated_at"):
        if d.get(key):
            d[key] = d.pop(key)
    for key in ("name", "description", "uuid"):
        if d.get(key):
            d = {key: d.pop(key), **d}
    if d.get("id") is not None:
        d = {"id": d.pop("id"), **d}
    return d
