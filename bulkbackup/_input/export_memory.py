"""The memory an export carries: `Exported` (per configuration, its settings as exported), how an inventory frame
makes it (`remember`) and how a written export carries it (`column_for`: the last column, `exported`, JSON per row).
Reading with it is `exported.py`'s; this module imports nothing else of the input layer, so `write_csv` can use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import KEY_COLUMNS, SETTING_NAMES, is_missing

EXPORTED = "exported"
"""The column of a written export, and the `attrs` key of a frame that carries its export's memory."""
ROWS = "exported_rows"
"""`attrs` key of a normalised frame read with a memory: per row, its settings as exported (None: no memory)."""

Key = tuple[str, ...]  # (database uuid, backup uuid), with the instance first in a frame of several instances


def memory_keys(frame: pd.DataFrame) -> list[Key]:
    """Each row's key in an export's memory: uuids repeat across instances, so with an `instance` column it is
    part of the key (a memory made of several instances is read by frames that name them)."""
    keys = [frame[KEY_COLUMNS[0]].tolist(), frame[KEY_COLUMNS[1]].tolist()]
    if INSTANCE in frame.columns:
        keys.insert(0, ["" if is_missing(v) else str(v) for v in frame[INSTANCE].tolist()])
    return list(zip(*keys, strict=True))


class Exported:
    """Per configuration (database uuid, backup uuid), its settings as exported, as the server sent them."""

    def __init__(self, values: Mapping[Key, Mapping[str, Any]]):
        self._values = dict(values)

    def get(self, key: Key) -> Mapping[str, Any] | None:
        return self._values.get(key)

    def __len__(self) -> int:
        return len(self._values)

    def __deepcopy__(self, memo: dict) -> Exported:  # immutable: pandas copies attrs on every operation
        return self

    def __repr__(self) -> str:
        return f"<the memory of an export of {len(self._values):,} configurations>"


class Rows(tuple):
    """Per row of a normalised frame, its exported settings or None; shared, not copied, by pandas."""

    def __deepcopy__(self, memo: dict) -> Rows:
        return self


def remember(frame: pd.DataFrame) -> Exported:
    """The memory of an inventory frame as it is now (what `bb.inventory` attaches to its frame)."""
    names = [n for n in SETTING_NAMES if n in frame.columns]
    keys = memory_keys(frame)
    columns = [[_native(v) for v in frame[n].tolist()] for n in names]
    values = {}
    for i, key in enumerate(keys):
        if isinstance(key[-2], str) and isinstance(key[-1], str) and key[-2] and key[-1]:
            values[key] = {n: column[i] for n, column in zip(names, columns, strict=True)}
    return Exported(values)


def column_for(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its memory written out as the last column `exported` (JSON per row), when it carries one."""
    memory = frame.attrs.get(EXPORTED)
    if not isinstance(memory, Exported) or EXPORTED in frame.columns:
        return frame
    if not all(k in frame.columns for k in KEY_COLUMNS):
        return frame
    cells = []
    for key in memory_keys(frame):
        found = memory.get(key)
        cells.append(json.dumps(dict(found), separators=(",", ":")) if found is not None else "")
    return frame.assign(**{EXPORTED: cells})


def _native(value: object) -> object:
    if value is None or (not isinstance(value, str) and is_missing(value)):
        return None
    item = getattr(value, "item", None)  # numpy scalars → Python's
    return item() if callable(item) and not isinstance(value, str) else value
