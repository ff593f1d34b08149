"""The one table of a run's row statuses and a plan's actions, as `fields.py` is for the settings.

Everything that names a status or an action — apply, the results frame, the CLI's summary and exit code, the
journal, undo, the styled frames and the run panel — reads it from here. The enums are `StrEnum`s, so a frame
cell holding the plain string "updated" compares equal to `Status.UPDATED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What a plan row will do."""

    UPDATE = "update"  # send the settings that differ (and backup_now if asked)
    TRIGGER = "trigger"  # send only backup_now
    UNCHANGED = "unchanged"  # nothing differs: nothing is sent
    INVALID = "invalid"  # a local rule fails: never sent
    CREATE = "create"  # POST a new backup configuration, every setting explicit (the fleet policy)
    DELETE = "delete"  # DELETE a configuration (and, on the server, its local backup files): undo of a create
    UNSUPPORTED = "unsupported"  # a database type Coolify cannot back up through the API: never sent

    @property
    def sends(self) -> bool:
        return self in (Action.UPDATE, Action.TRIGGER, Action.CREATE, Action.DELETE)

    @property
    def method(self) -> str | None:
        """The HTTP method the action sends, None when it sends nothing."""
        return _METHODS.get(self)


_METHODS = {Action.UPDATE: "PATCH", Action.TRIGGER: "PATCH", Action.CREATE: "POST", Action.DELETE: "DELETE"}


class Status(StrEnum):
    """What happened to a results row, in the order summaries list them."""

    UPDATED = "updated"
    TRIGGERED = "triggered"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    PLANNED = "planned"
    CREATED = "created"
    DELETED = "deleted"
    UNSUPPORTED = "unsupported"

    @property
    def info(self) -> StatusInfo:
        return STATUS_INFO[self]


@dataclass(frozen=True)
class StatusInfo:
    meaning: str
    success: bool  # needs no attention: the CLI exits 0 only when every row has such a status
    sent: bool  # a request for the row went out (or may have)
    final: bool  # re-applying with the same journal sends nothing for the row
    background: str  # colours for styled frames: a background always paired with its own text colour,
    foreground: str  # so the pair reads in light and dark themes alike


STATUS_INFO: dict[Status, StatusInfo] = {
    Status.UPDATED: StatusInfo("the server accepted the new values", True, True, True, "#d4edda", "#155724"),
    Status.TRIGGERED: StatusInfo("only backup_now was sent: a backup started", True, True, True, "#d1ecf1", "#0c5460"),
    Status.UNCHANGED: StatusInfo("already as wanted: nothing sent", True, False, True, "#e2e3e5", "#383d41"),
    Status.INVALID: StatusInfo("a local rule fails: never sent", False, False, False, "#fff3cd", "#856404"),
    Status.REJECTED: StatusInfo("the server said no (4xx)", False, True, False, "#f8d7da", "#721c24"),
    Status.FAILED: StatusInfo(
        "no answer or a server error, after the retries that were safe", False, True, False, "#f8d7da", "#721c24"
    ),
    Status.UNKNOWN: StatusInfo(
        "a request that must not be repeated may or may not have taken effect", False, True, True, "#ffe5b4", "#7a4100"
    ),
    Status.SKIPPED: StatusInfo("never attempted: the run stopped first", False, False, False, "#e2e3e5", "#383d41"),
    Status.PLANNED: StatusInfo("dry run: would be sent", True, False, False, "#cce5ff", "#004085"),
    Status.CREATED: StatusInfo(
        "a new configuration was made: its backup_uuid is filled in", True, True, True, "#d4edda", "#155724"
    ),
    Status.DELETED: StatusInfo(
        "the configuration (and its local backup files) was deleted", True, True, True, "#e2d4ed", "#3d1a5c"
    ),
    Status.UNSUPPORTED: StatusInfo(
        "Coolify cannot back up this database type: never sent", False, False, False, "#e2e3e5", "#383d41"
    ),
}

ACTION_COLOURS: dict[Action, tuple[str, str]] = {
    Action.UPDATE: ("#cce5ff", "#004085"),
    Action.TRIGGER: ("#d1ecf1", "#0c5460"),
    Action.UNCHANGED: ("#e2e3e5", "#383d41"),
    Action.INVALID: ("#fff3cd", "#856404"),
    Action.CREATE: ("#d4edda", "#155724"),
    Action.DELETE: ("#f8d7da", "#721c24"),
    Action.UNSUPPORTED: ("#e2e3e5", "#383d41"),
}
"""(background, text colour) of each plan action in styled frames."""

STATUSES: tuple[str, ...] = tuple(Status)
"""Every status a results row can have, in the order summaries list them."""

SUCCESS: frozenset[str] = frozenset(s for s in Status if s.info.success and s is not Status.PLANNED)
"""Statuses that need no attention after a real run."""
