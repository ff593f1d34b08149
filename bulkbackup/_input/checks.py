"""The checks of a table as a whole: which column each header names, the key columns, columns given twice or
unknown (each with its "did you mean"), and rows that target the same configuration."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from bulkbackup._core.columns import INSTANCE, OUTPUT_COLUMNS
from bulkbackup._core.errors import InputError
from bulkbackup._core.fields import ALL_FIELDS, BACKUP_NOW, INVENTORY_COLUMNS, KEY_ALIASES, KEY_COLUMNS, SETTING_NAMES
from bulkbackup._input.cells import shown, shown_text
from bulkbackup._input.safe_csv import unescape

SHOWN_DUPLICATES = 3  # a configuration named by thousands of rows: each message names this many, then a count
_SHOWN_UNKNOWN = 8  # unknown columns named one by one, each with its suggestion; the rest counted
_HEADER_JUNK = re.compile(r"[\s\-_]+")
_PANDAS_UNNAMED = re.compile(r"unnamed:_\d+")  # what pd.read_csv calls a column without a name (e.g. an index)

_SETTABLE: tuple[str, ...] = (INSTANCE, *KEY_COLUMNS, *(f.name for f in ALL_FIELDS))
# "exported": an export's memory (exported.py), read apart from the changes.
_IGNORED: frozenset[str] = frozenset(INVENTORY_COLUMNS) | frozenset(OUTPUT_COLUMNS) | {"exported"}
_SUGGESTIONS: tuple[str, ...] = (*SETTING_NAMES, *KEY_COLUMNS, *KEY_ALIASES, BACKUP_NOW.name)


def normalise_header(name: object) -> str:
    """Header text → canonical spelling: case, surrounding blanks and inner spaces/hyphens do not matter."""
    text = str(unescape(str(name))).replace("\ufeff", "").strip().lower()
    return _HEADER_JUNK.sub("_", text).strip("_")


def canonical(normalised: str) -> str | None:
    """The column a header names: a key, a field, `""` for a read-only column that is ignored, None if unknown."""
    name = KEY_ALIASES.get(normalised, normalised)
    if name in _SETTABLE:
        return name
    if normalised in _IGNORED:
        return ""
    return None


def _suggested(shown_name: str, normalised: str) -> str:
    close = difflib.get_close_matches(normalised, _SUGGESTIONS, n=1, cutoff=0.6)
    return f"'{shown_name}' (did you mean '{close[0]}'?)" if close else f"'{shown_name}'"


def _unknown_message(unknown: list[tuple[str, str]]) -> str:
    """Every unknown column with its own "did you mean", not only the first."""
    named = [_suggested(s, n) for s, n in unknown[:_SHOWN_UNKNOWN]]
    more = len(unknown) - len(named)
    if more:
        named.append(f"{more:,} more")
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    if len(unknown) == 1:
        shown_name, normalised = unknown[0]
        close = difflib.get_close_matches(normalised, _SUGGESTIONS, n=1, cutoff=0.6)
        return f"unknown column '{shown_name}'" + (f" — did you mean '{close[0]}'?" if close else "")
    return f"unknown columns {listed}"


def _header_text(header: object) -> str:
    return shown_text(str(unescape(str(header))).replace("\ufeff", "").strip())


def map_columns(headers: list[object], *, file: str, line: int | None) -> dict[str, int]:
    """{canonical column: position} for the keys and fields present; raises InputError for a bad header.

    Read-only columns (inventory, plan and results columns) are left out. So are nameless ones: in a file their
    cells must be empty (checked per row); in a DataFrame (``Unnamed: 0`` from ``pd.read_csv``) they are ignored.
    """
    in_frame = line is None
    positions: dict[str, int] = {}
    spelled: dict[str, str] = {}
    unknown: list[tuple[str, str]] = []
    seen_known = False
    for position, header in enumerate(headers):
        shown_name = _header_text(header)
        normalised = normalise_header(header)
        if not normalised or (in_frame and _PANDAS_UNNAMED.fullmatch(normalised)):
            continue
        name = canonical(normalised)
        if name is None:
            unknown.append((shown_name, normalised))
            continue
        seen_known = True
        if name == "":
            continue
        if name in positions:
            raise InputError(
                f"column '{name}' is given twice (as '{spelled[name]}' in column {positions[name] + 1} and as "
                f"'{shown_name}' in column {position + 1}); keep one of them",
                file=file,
                line=line,
                column=name,
            )
        positions[name] = position
        spelled[name] = shown_name
    if not seen_known and headers:
        first = ", ".join(f"'{shown_text(str(unescape(str(h))).strip())}'" for h in headers[:4])
        first += ", …" if len(headers) > 4 else ""
        where = "the DataFrame's column names" if in_frame else "the first line"
        raise InputError(
            f"no header: {where} ({first}) name no known column; the first line must name the columns, e.g. "
            "database_uuid,backup_uuid,frequency",
            file=file,
            line=line,
        )
    if unknown:
        raise InputError(_unknown_message(unknown), file=file, line=line, column=unknown[0][0])
    missing = [key for key in KEY_COLUMNS if key not in positions]
    if missing:
        aliases = {canonical: alias for alias, canonical in KEY_ALIASES.items()}
        described = " and ".join(f"'{key}' (or '{aliases[key]}')" if key in aliases else f"'{key}'" for key in missing)
        raise InputError(
            f"missing key column {described}: every row must say which backup configuration it changes",
            file=file,
            line=line,
            column=missing[0],
        )
    return positions


def duplicates(
    errors: list[list[str]],
    place: Callable[[int], str],
    keys: tuple[list[str], list[str]],
    ref: Callable[[int], str],
    instances: list[str] | None = None,
) -> None:
    """Every row that targets a configuration some other row targets too is invalid (its error is added). With an
    `instance` column a configuration is its instance's: uuids repeat across instances restored from one backup."""
    database_uuids, backup_uuids = keys
    n_rows = len(database_uuids)
    if len(set(backup_uuids)) == n_rows or len(set(zip(database_uuids, backup_uuids, strict=True))) == n_rows:
        return  # backup uuids are unique across a server: usually the first test settles it
    rows: dict[tuple[str, str, str], list[int]] = {}
    for i, key in enumerate(zip(database_uuids, backup_uuids, instances or [""] * n_rows, strict=True)):
        if key[0] and key[1]:
            rows.setdefault(key, []).append(i)
    for (database_uuid, backup_uuid, instance), found in rows.items():
        if len(found) < 2:
            continue
        for i in found:
            # Name a few of the others and count the rest, so 12,000 copies of one row stay linear in size.
            others = [j for j in found[: SHOWN_DUPLICATES + 1] if j != i][:SHOWN_DUPLICATES]
            rest = len(found) - 1 - len(others)
            named = ", ".join(ref(j) for j in others) + (f" and {rest:,} more rows" if rest else "")
            errors[i].append(
                f"{place(i)}: the backup configuration database_uuid {shown(database_uuid)}, backup_uuid "
                f"{shown(backup_uuid)}{f' of instance {shown(instance)}' if instance else ''} is also targeted by "
                f"{named}: a configuration may appear only once, so "
                "none of these rows is used"
            )
