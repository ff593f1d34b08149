"""A change made on both sides since an export: the file's new value and the server's new value for one field.

Planning an edited export compares three values per changed cell: what was exported, what the server holds now,
and what the file says. When the server still holds what was exported, the file's value is a change like any
other; when both moved to different values, the row is a conflict: not sent, unless the caller said which side
wins (`prefer="mine"` sends the file's value, `prefer="server"` keeps the server's).
"""

from __future__ import annotations

from collections.abc import Mapping

from bulkbackup._core.errors import ConfigError
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME, CLEAR

PREFER = ("mine", "server")
CONFLICT = "conflict"
"""How a conflict's row error says what it is (after the row's place)."""


def checked_prefer(prefer: str | None) -> str | None:
    if prefer is not None and prefer not in PREFER:
        raise ConfigError(f"prefer must be 'mine' or 'server' (or None: a conflict is not sent), not {prefer!r}")
    return prefer


def settle(
    wanted: Mapping[str, object],
    exported: Mapping[str, object] | None,
    config: Mapping[str, object] | None,
    prefer: str | None,
    where: str,
    ours: Mapping[str, object] | None = None,
) -> tuple[dict[str, object], list[str], list[str]]:
    """(what to ask for, conflict errors, notes) of one row: `wanted` (the cells changed since the export) against
    `exported` (the row's exported settings) and `config` (the server now). `ours`: what bulkbackup last set on
    this configuration from this machine (`sent`) — a server that moved to that did not move by someone else."""
    kept = dict(wanted)
    errors: list[str] = []
    notes: list[str] = []
    if exported is None or config is None:
        return kept, errors, notes
    prefix = f"{where}: " if where else ""
    for name, value in wanted.items():
        field = BY_NAME[name]
        if name == BACKUP_NOW.name or name not in exported or not field.comparable:
            continue
        was, now = exported[name], config.get(name)
        if was is None and now is None:
            continue
        if (was is not None and field.same(was, now)) or field.same(value, now):
            continue  # the server did not move, or moved to what the file says
        if ours and name in ours and field.same(ours[name], now):
            continue  # it moved by bulkbackup's own hand (an earlier run of this export, most likely)
        said = f"{name}: exported {_show(was)}, the server has {_show(now)} now, the file says {_show(value)}"
        if prefer == "server":
            del kept[name]
            notes.append(f"{CONFLICT} kept the server's value ({said})")
        elif prefer == "mine":
            notes.append(f"{CONFLICT} sent the file's value ({said})")
        else:
            errors.append(
                f"{prefix}{CONFLICT}: {said} — changed on the server since the export and in the file; say which "
                "wins: --prefer mine or --prefer server (prefer='mine' or 'server' in Python)"
            )
    return kept, errors, notes


def _show(value: object) -> str:
    if value is None or value == CLEAR:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)
