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

Key = tuple[str, str]
"""(database uuid, backup uuid); an export of several instances keys by (instance, database uuid, backup uuid)."""


class Exported:
    """Per configuration (database uuid, backup uuid), its settings as exported, as the server sent them.

    The memory of an inventory of several instances (`by_instance`) keys each configuration by its instance too:
    uuids repeat across instances restored from one backup, and each instance's row remembers its own values."""

    def __init__(self, values: Mapping[tuple, Mapping[str, Any]], *, by_instance: bool = False):
        self._values = dict(values)
        self.by_instance = by_instance

    @classmethod
    def of_instances(cls, memories: Mapping[str, Exported]) -> Exported:
        """One memory of the inventories of several instances, {instance name: its inventory's memory}."""
        values = {}
        for name, memory in memories.items():
            for key, settings in memory._values.items():
                values[(name, *key[-2:])] = settings
        return cls(values, by_instance=True)

    def get(self, key: tuple) -> Mapping[str, Any] | None:
        return self._values.get(key)

    def rows_of(self, frame: pd.DataFrame) -> list[Mapping[str, Any] | None]:
        """Per row of `frame`, what its configuration held when exported (None: not remembered). A memory of
        several instances finds a row by its `instance` cell too; a frame without that column has no memory then,
        rather than another instance's."""
        if not all(k in frame.columns for k in KEY_COLUMNS):
            return [None] * len(frame)
        keys = zip(frame[KEY_COLUMNS[0]].tolist(), frame[KEY_COLUMNS[1]].tolist(), strict=True)
        if not self.by_instance:
            return [self._values.get(key) for key in keys]
        if INSTANCE not in frame.columns:
            return [None] * len(frame)
        names = frame[INSTANCE].tolist()
        return [self._values.get((name, *key)) for name, key in zip(names, keys, strict=True)]

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
    """The memory of an inventory frame as it is now (what `bb.inventory` attaches to its frame); keyed by instance
    too when the frame has an `instance` column."""
    names = [n for n in SETTING_NAMES if n in frame.columns]
    keys = zip(frame[KEY_COLUMNS[0]].tolist(), frame[KEY_COLUMNS[1]].tolist(), strict=True)
    by_instance = INSTANCE in frame.columns
    instances = frame[INSTANCE].tolist() if by_instance else [None] * len(frame)
    columns = [[_native(v) for v in frame[n].tolist()] for n in names]
    values: dict[tuple, Mapping[str, Any]] = {}
    for i, key in enumerate(keys):
        if isinstance(key[0], str) and isinstance(key[1], str) and key[0] and key[1]:
            values[(instances[i], *key) if by_instance else key] = {
                n: column[i] for n, column in zip(names, columns, strict=True)
            }
    return Exported(values, by_instance=by_instance)


def column_for(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its memory written out as the last column `exported` (JSON per row), when it carries one."""
    memory = frame.attrs.get(EXPORTED)
    if not isinstance(memory, Exported) or EXPORTED in frame.columns:
        return frame
    if not all(k in frame.columns for k in KEY_COLUMNS):
        return frame
    cells = [
        json.dumps(dict(found), separators=(",", ":")) if found is not None else "" for found in memory.rows_of(frame)
    ]
    return frame.assign(**{EXPORTED: cells})


def _native(value: object) -> object:
    if value is None or (not isinstance(value, str) and is_missing(value)):
        return None
    item = getattr(value, "item", None)  # numpy scalars → Python's
    return item() if callable(item) and not isinstance(value, str) else value
