"""An export's memory: what each configuration held when it was exported, so that only the cells a person changed
since are read as changes (docs/changes-file.md, "Editing an export").

Two carriers of one memory. In a notebook, `bb.inventory` puts an `Exported` in `frame.attrs["exported"]` (pandas
keeps attrs through `.loc` edits, copies and filters). On disk, `write_csv` turns it into the last column,
`exported`, holding each row's settings as JSON: it travels with its row through a spreadsheet (sorted, filtered,
saved under another name, exported to stdout) and nothing beside the file has to be kept in step.

`remembering(source, read)` is how `read_changes` reads: when the input carries a memory, a cell that still holds
what was exported (compared as a value, so `50,0`, `WAHR` or `14400.0` of a spreadsheet in another locale still
match) is read as empty and never makes its row invalid; the exported values of the rest go with the frame
(`attrs["exported_rows"]`), for the plan to tell a change made on both sides (a conflict).
"""

from __future__ import annotations

import io
import json
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from bulkbackup._core.fields import BY_NAME, CLEAR, SERVER_TRIM, SETTING_NAMES, Kind, is_missing
from bulkbackup._input.checks import normalise_header
from bulkbackup._input.export_memory import EXPORTED, ROWS, Exported, Rows, memory_keys
from bulkbackup._input.files import read_table, source_text

__all__ = ["matches", "remembering"]

# --- reading with a memory ------------------------------------------------------------------------------------------

Reader = Callable[..., pd.DataFrame]  # changes.read(source, *, untouched=None)


def remembering(source: object, read: Reader) -> pd.DataFrame:
    """`read(source)`, with the cells still as exported read as empty when `source` carries an export's memory."""
    if isinstance(source, pd.DataFrame):
        carried = source.attrs.get(ROWS)
        if isinstance(carried, Rows) and len(carried) == len(source):
            return _carrying(read(source), carried)  # a frame read with its memory before: its cells are final
    elif hasattr(source, "read"):
        data = source.read()  # read once, twice over: a stream cannot be read again
        name = getattr(source, "name", None)
        source = _Named(data, name) if isinstance(data, bytes | bytearray) else _NamedText(data, name)
    memory = _memory_of(source)
    if memory is None:
        return read(_again(source))
    plain = read(_again(source))
    rows = _per_row(plain, memory)
    if not any(row is not None for row in rows):
        return plain
    untouched = _untouched(plain, rows)
    frame = read(_again(source), untouched=lambda column: untouched.get(column, ()))
    return _carrying(frame, Rows(rows))


def _carrying(frame: pd.DataFrame, rows: Rows) -> pd.DataFrame:
    frame.attrs[ROWS] = rows
    return frame


def _memory_of(source: object) -> Exported | list[Mapping | None] | None:
    """The memory an input carries: an `Exported` (keyed) or the `exported` column's rows; None without one."""
    if isinstance(source, pd.DataFrame):
        carried = source.attrs.get(EXPORTED)
        if isinstance(carried, Exported):
            return carried
        names = [c for c in source.columns if normalise_header(c) == EXPORTED]
        if len(names) != 1:
            return None
        return [_row_memory(cell) for cell in source[names[0]].tolist()]
    _name, text, _likely = source_text(_again(source))
    if EXPORTED not in text.lower():  # the usual changes file: not parsed a second time to learn it has no memory
        return None
    table = read_table(_again(source))
    positions = [p for p, h in enumerate(table.header) if normalise_header(h) == EXPORTED]
    if len(positions) != 1:
        return None
    at = positions[0]
    return [_row_memory(cells[at] if at < len(cells) else "") for cells in table.rows]


def _row_memory(cell: object) -> Mapping | None:
    """One `exported` cell → the settings it remembers; None for an empty or unreadable one (no memory)."""
    if isinstance(cell, Mapping):
        return cell
    if not isinstance(cell, str) or not cell.strip():
        return None
    try:
        found = json.loads(cell)
    except ValueError:
        return None
    if not isinstance(found, dict) or not all(name in BY_NAME for name in found):
        return None
    return found


def _per_row(plain: pd.DataFrame, memory: Exported | list[Mapping | None]) -> list[Mapping | None]:
    if isinstance(memory, Exported):
        return [memory.get(key) for key in memory_keys(plain)]
    return list(memory) if len(memory) == len(plain) else [None] * len(plain)


def _untouched(plain: pd.DataFrame, rows: Sequence[Mapping | None]) -> dict[str, set[int]]:
    """Per column, the row positions whose cell still holds what was exported."""
    found: dict[str, set[int]] = {}
    for name in SETTING_NAMES:
        if name not in plain.columns:
            continue
        kind = BY_NAME[name].kind
        same = found[name] = set()
        for i, (value, row) in enumerate(zip(plain[name].tolist(), rows, strict=True)):
            if row is None or name not in row:
                continue
            exported = row[name]
            # Most cells are as exported, value for value and type for type: no reading needed to say so (a text
            # cell reading "<clear>" asks for something, so it goes the long way).
            if (
                value.__class__ is exported.__class__
                and value == exported
                and (value.__class__ is not str or value.lower() != CLEAR)
            ):
                same.add(i)
            elif matches(kind, value, exported):
                same.add(i)
    # save_s3 = true goes with s3_storage_uuid (the server demands both): a storage cell left as exported is sent
    # with a changed save_s3.
    if "save_s3" in plain.columns and "s3_storage_uuid" in plain.columns:
        kept_save, kept_storage = found["save_s3"], found["s3_storage_uuid"]
        for i, value in enumerate(plain["save_s3"].tolist()):
            if i not in kept_save and value is True:
                kept_storage.discard(i)
    return found


_DECIMAL_COMMA = re.compile(r"[+-]?(?:\d{1,3}(?:[.\u00a0\u202f' ]\d{3})+|\d+)(?:,\d+)?")


def matches(kind: Kind, value: object, exported: object) -> bool:
    """Whether a cell (as read, or as given when it could not be read) still holds the exported value."""
    if value is None or (not isinstance(value, str) and is_missing(value)):
        return True  # an empty cell sends nothing either way
    if kind is Kind.TEXT:
        text = value.strip(SERVER_TRIM) if isinstance(value, str) else str(value)
        if text.lower() == CLEAR:
            return exported in (None, "")
        return (text or None) == (exported or None)
    if exported is None:
        return False
    if kind is Kind.BOOL:
        return isinstance(value, bool) and value == bool(exported)
    number = _number(value)
    return number is not None and math.isclose(number, float(exported), rel_tol=0, abs_tol=1e-7)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip(SERVER_TRIM)
    if _DECIMAL_COMMA.fullmatch(text):  # a spreadsheet's own way to write the number it was given
        text = re.sub(r"[.\u00a0\u202f' ]", "", text).replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# --- a source read more than once -----------------------------------------------------------------------------------


class _Named(io.BytesIO):
    def __init__(self, data: bytes, name: object):
        super().__init__(bytes(data))
        self.name = name


class _NamedText(io.StringIO):
    def __init__(self, data: str, name: object):
        super().__init__(data)
        self.name = name


def _again(source: object) -> object:
    """The same source, ready to be read from its start."""
    if isinstance(source, _Named):
        return _Named(source.getvalue(), source.name)
    if isinstance(source, _NamedText):
        return _NamedText(source.getvalue(), source.name)
    return source
