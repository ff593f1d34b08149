"""The health of every backup configuration, from the inventory alone (one `GET /api/v1/databases`).

Each configuration's newest execution (`latest_log`: `latest_status`, `latest_run_at`) and its settings say most of
what goes wrong with backups, without reading any history: `bb.executions` (one request per configuration) stays for
the history itself. The problems are one table, `PROBLEMS`; `health()` gives one row per configuration with a
boolean column per problem and a readable `problems` cell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import ConfigError
from bulkbackup._core.firing import Firing, UnschedulableError, compile_frequency

DEFAULT_GRACE = dt.timedelta(hours=1)
"""How long after a scheduled start a run may still be missing before the configuration counts as late."""

_LOOKBACK_DAYS = 400  # a yearly schedule's last firing is at most a year (and a leap day) back


@dataclass(frozen=True)
class Problem:
    name: str  # the boolean column of the health frame
    label: str  # how it reads in the `problems` cell
    meaning: str


PROBLEMS: tuple[Problem, ...] = (
    Problem("disabled", "disabled", "the configuration is switched off: the scheduler never starts it"),
    Problem("never_ran", "never ran", "enabled, but no execution was ever recorded"),
    Problem("last_failed", "last run failed", "the newest execution failed"),
    Problem("late", "late", "its schedule fired (plus the grace period) after the newest execution started"),
    Problem("unschedulable", "never fires", "the server accepted the frequency but its scheduler cannot fire it"),
    Problem("local_only", "local only", "save_s3 is off: the backups stay on the database's server"),
    Problem("s3_without_storage", "S3 on, no storage", "save_s3 is on but no S3 storage is set: uploads fail"),
    Problem("unlimited_retention", "unlimited retention", "no local retention limit: backups fill the disk"),
)
BY_NAME: dict[str, Problem] = {p.name: p for p in PROBLEMS}

_ID_COLUMNS = ("database_uuid", "backup_uuid", "project", "environment", "database_name", "database_type")
_LOCAL_RETENTION = (
    "database_backup_retention_amount_locally",
    "database_backup_retention_days_locally",
    "database_backup_retention_max_storage_locally",
)


def health(
    fleet: pd.DataFrame,
    now: dt.datetime | str | None = None,
    *,
    timezone: str = "UTC",
    grace: dt.timedelta = DEFAULT_GRACE,
) -> pd.DataFrame:
    """One row per configuration of `fleet` (a `bb.inventory()` frame): a boolean column per problem of `PROBLEMS`,
    `problems` (the labels, "; "-joined, empty when healthy), `last_run_at` and `due_since` (the newest scheduled
    start that should have run by now, for enabled, schedulable configurations).

    `now` defaults to the current time; `timezone` is the server's (Coolify fires schedules in its server timezone,
    UTC unless changed); a run counts as missing only `grace` after its scheduled start. Databases without a
    configuration (rows of `inventory(unconfigured=True)` with an empty `backup_uuid`) are left out: they have no
    health, only a policy can say they should have a backup.

    The inventory of several instances has an `instance` column: the health frame keeps it, first, so every
    problem names its instance (`timezone` is then every instance's).
    """
    zone = _zone(timezone)
    moment = _now(now, zone)
    configured = fleet[_has_config(fleet)] if "backup_uuid" in fleet.columns else fleet
    ids = (INSTANCE, *_ID_COLUMNS) if INSTANCE in fleet.columns else _ID_COLUMNS
    columns: dict[str, list] = {name: [] for name in (*ids, *(p.name for p in PROBLEMS))}
    columns.update(problems=[], last_run_at=[], due_since=[])
    get = _getter(configured)
    for i in range(len(configured)):
        row = get(i)
        found = _problems(row, moment, zone, grace)
        for name in ids:
            columns[name].append(row.get(name))
        for problem in PROBLEMS:
            columns[problem.name].append(problem.name in found.flags)
        columns["problems"].append("; ".join(BY_NAME[n].label for n in found.flags))
        columns["last_run_at"].append(found.last_run)
        columns["due_since"].append(found.due)
    frame = pd.DataFrame(columns, index=configured.index)
    frame["last_run_at"] = pd.to_datetime(frame["last_run_at"], utc=True)
    frame["due_since"] = pd.to_datetime(frame["due_since"], utc=True)
    frame.attrs["now"] = moment.isoformat()
    frame.attrs["timezone"] = timezone
    return frame


@dataclass(frozen=True)
class _Found:
    flags: tuple[str, ...]
    last_run: dt.datetime | None
    due: dt.datetime | None


def _problems(row: Mapping, now: dt.datetime, zone: ZoneInfo, grace: dt.timedelta) -> _Found:
    flags: list[str] = []
    enabled = _truthy(row.get("enabled"))
    last_run = parse_time(row.get("latest_run_at"))
    status = row.get("latest_status")
    due = None
    if not enabled:
        flags.append("disabled")
    elif last_run is None:
        flags.append("never_ran")
    if _text(status) == "failed":
        flags.append("last_failed")
    if enabled:
        try:
            due = last_due(_text(row.get("frequency")) or "", now - grace, zone)
        except UnschedulableError:
            flags.append("unschedulable")
        else:
            # A run starts within the minute it is due; its execution's created_at is a little after it.
            if due is not None and last_run is not None and last_run < due - dt.timedelta(minutes=1):
                flags.append("late")
    if not _truthy(row.get("save_s3")):
        flags.append("local_only")
    elif _missing(row.get("s3_storage_id")):
        flags.append("s3_without_storage")
    keeps_local = not _truthy(row.get("disable_local_backup"))
    limits = [_number(row.get(name)) for name in _LOCAL_RETENTION if name in row]
    if keeps_local and limits and all(limit == 0 for limit in limits):  # 0 is "no limit" for each of them
        flags.append("unlimited_retention")
    return _Found(tuple(p.name for p in PROBLEMS if p.name in flags), last_run, due)


def last_due(frequency: str, before: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """The newest minute at or before `before` at which the scheduler starts `frequency` (in UTC), or None when it
    did not fire in the last 400 days. Raises UnschedulableError when it can never fire."""
    local = before.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    found = _last_due_local(compile_frequency(frequency), local)
    return None if found is None else found.replace(tzinfo=zone).astimezone(dt.UTC)


@lru_cache(maxsize=4096)
def _last_due_local(firing: Firing, before: dt.datetime) -> dt.datetime | None:
    # Cached: a fleet shares a few frequencies, and every configuration asks with the same `before`.
    clock = sorted((h, m) for h in firing.hours for m in firing.minutes)
    if not clock:
        return None
    day = before.date()
    for _ in range(_LOOKBACK_DAYS):
        if firing.fires_on(day):
            for hour, minute in reversed(clock):
                moment = dt.datetime.combine(day, dt.time(hour, minute))
                if moment <= before:
                    return moment
        day -= dt.timedelta(days=1)
    return None


def parse_time(value: object) -> dt.datetime | None:
    """A Laravel timestamp (`2026-08-22T15:22:50.000000Z`) or a pandas/datetime value, as an aware UTC datetime."""
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = pd.Timestamp(str(value)).to_pydatetime()
        except ValueError:
            return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _has_config(fleet: pd.DataFrame) -> pd.Series:
    keys = fleet["backup_uuid"]
    return keys.notna() & (keys.astype(str).str.strip() != "")


def _getter(frame: pd.DataFrame) -> Callable[[int], dict]:
    names = list(frame.columns)
    values = [frame[name].tolist() for name in names]
    return lambda i: {name: column[i] for name, column in zip(names, values, strict=True)}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as error:
        raise ConfigError(f"timezone {name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Berlin')") from error


def _now(now: dt.datetime | str | None, zone: ZoneInfo) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    moment = parse_time(now)
    if moment is None:
        raise ConfigError(f"now={now!r} is not a time")
    if isinstance(now, dt.datetime) and now.tzinfo is None:
        moment = now.replace(tzinfo=zone).astimezone(dt.UTC)  # a naive time is the server's wall clock
    return moment


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value) or value == ""


def _truthy(value: object) -> bool:
    if _missing(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "t", "yes")
    return bool(value)


def _number(value: object) -> float | None:
    if _missing(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: object) -> str | None:
    return None if _missing(value) else str(value)
