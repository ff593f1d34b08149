"""The one table of the columns bulkbackup puts in its plan and results frames (the settings' are `fields.py`'s)."""

from __future__ import annotations

from bulkbackup._core.fields import KEY_COLUMNS

INSTANCE = "instance"
"""The column naming each row's Coolify instance (`client.name`) in frames of several instances: the first column
after `line` in changes, plan, results and inventory frames, and a key of every row with the two uuids."""

NAME_COLUMNS = ("database_name", "database_type")
"""What names a row's configuration for people: in plan frames made with a client (uuids alone say nothing)."""

PLAN_COLUMNS = ("line", "database_uuid", "backup_uuid", *NAME_COLUMNS, "action", "errors", "diff", "payload", "before")

RESULTS_COLUMNS = (
    "line",
    "database_uuid",
    "backup_uuid",
    "status",
    "http_status",
    "message",
    "errors",
    "attempts",
    "elapsed_s",
    "payload",
    "before",
    "verified",
)


OUTPUT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(c for c in (*PLAN_COLUMNS, *RESULTS_COLUMNS) if c not in KEY_COLUMNS)
)
"""Columns bulkbackup adds to plan and results frames: accepted back as input and ignored."""
