"""Every backup configuration of the instance as one DataFrame, ready to edit and feed back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .fields import INVENTORY_COLUMNS, KEY_COLUMNS, SETTING_NAMES
from .state import own_configs
from .styling import ATTR

if TYPE_CHECKING:
    from .client import Client

COLUMNS = (*KEY_COLUMNS, *INVENTORY_COLUMNS, *SETTING_NAMES)


def inventory(client: Client) -> pd.DataFrame:
    """One row per backup configuration, from a single `GET /api/v1/databases`.

    `s3_storage_uuid` stays empty: the server reports only the numeric `s3_storage_id` and no endpoint maps it to
    a uuid, so an exported file fed back unchanged sends nothing for it.
    """
    rows = []
    for db in client.list_databases():
        for config in own_configs(db):
            latest = config.get("latest_log") or {}
            row = {name: config.get(name) for name in SETTING_NAMES}
            row.update(
                database_uuid=db.get("uuid"),
                backup_uuid=config.get("uuid"),
                project=_name(db, "project"),
                environment=_name(db, "environment"),
                database_name=db.get("name"),
                database_type=db.get("database_type"),
                database_status=db.get("status"),
                s3_storage_id=config.get("s3_storage_id"),
                disable_local_backup=config.get("disable_local_backup"),
                latest_status=latest.get("status"),
                latest_run_at=latest.get("created_at"),
                latest_size=latest.get("size"),
                s3_storage_uuid=None,
            )
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype({"s3_storage_id": "Int64", "latest_size": "Int64"})
    frame.attrs[ATTR] = "inventory"  # displayed styled in a notebook (styling.install)
    return frame


def _name(db: dict, what: str) -> str | None:
    nested = db.get(what)
    if isinstance(nested, dict):
        return nested.get("name")
    return db.get(f"{what}_name")
