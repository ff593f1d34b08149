"""The state of the notebook editor, without any widget: filters, per-setting intents, and the change batches.

    model = EditorModel(bb.inventory(client))
    model.set_filter(database_type="standalone-postgresql", name="prod")
    model.set_intent("frequency", Intent.SET, "30 2 * * *")
    model.add()                       # one batch: every matching configuration gets the set values
    bb.plan(model.changes, client)

`bb.widgets.Editor` is a thin view over this class, so everything it does can be tested without ipywidgets.

How batches combine: `changes` has one row per configuration, in the order configurations were first added.
Each batch holds only the settings whose intent is "set" or "clear" ("keep" writes nothing), and a later batch
overrides an earlier one field by field for the same configuration: setting the timeout in batch 2 keeps the
frequency batch 1 set, setting the frequency again in batch 2 replaces batch 1's. `remove_last()` undoes exactly
the last batch, so the earlier values come back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import BACKUP_NOW, CLEAR, KEY_COLUMNS, SETTINGS, Field, is_missing
from bulkbackup._input.changes import FRAME_SOURCE, read_changes
from bulkbackup.widgets._render import with_names

__all__ = ["FILTERS", "EditorModel", "Intent", "s3_storage_options"]

FILTERS: tuple[str, ...] = (INSTANCE, "project", "environment", "database_type")
"""Inventory columns the editor filters on by exact value (the name filter is a text search besides these); the
instance only when the inventory has that column (an inventory of several instances)."""

NAME_COLUMN = "database_name"

# A placeholder key for validating one value through read_changes: any uuid-shaped text works.
_PROBE_KEY = "editor"


class Intent(StrEnum):
    """What the editor does with one setting for the selected configurations."""

    KEEP = "keep"  # leave the setting as it is on the server (writes nothing)
    SET = "set"  # send the value beside it
    CLEAR = "clear"  # send null (only where the server really clears: `Field.clearable`)


@dataclass
class _Choice:
    intent: Intent = Intent.KEEP
    value: object = None


def s3_storage_options(storages: object) -> list[tuple[str, str]]:
    """(label, uuid) pairs from a list of uuids, of dicts or a frame with `uuid` (and `name`) columns."""
    if storages is None:
        return []
    if isinstance(storages, pd.DataFrame):
        storages = storages.to_dict("records")
    options = []
    for item in storages:  # type: ignore[union-attr]
        if isinstance(item, Mapping):
            uuid = str(item["uuid"])
            name = item.get("name")
            options.append((f"{name} ({uuid})" if name else uuid, uuid))
        else:
            options.append((str(item), str(item)))
    return options


class EditorModel:
    """Filters over an inventory frame, one intent per setting, and the batches of changes built from them."""

    def __init__(self, inventory: pd.DataFrame, *, s3_storages: object = None):
        missing = [c for c in KEY_COLUMNS if c not in inventory.columns]
        if missing:
            raise ValueError(f"the inventory frame has no {', '.join(missing)} column: pass bb.inventory(client)")
        self.inventory = inventory.reset_index(drop=True)
        self.s3_storages = s3_storage_options(s3_storages)
        self.fields: tuple[Field, ...] = (*SETTINGS, BACKUP_NOW)
        # An inventory of several instances (`bb.inventory([prod, staging])`) has an `instance` column: its rows
        # are then known by (instance, database, backup), since uuids repeat across instances restored from one
        # backup, and the changes keep the instance so each row goes back to its own server.
        self.instance = INSTANCE in self.inventory.columns
        self.keys: tuple[str, ...] = (INSTANCE, *KEY_COLUMNS) if self.instance else tuple(KEY_COLUMNS)
        self.filters: dict[str, str | None] = dict.fromkeys(c for c in FILTERS if c != INSTANCE or self.instance)
        self.name = ""
        # Every value starts empty: no control shows a value that reads like the server's.
        self.choices: dict[str, _Choice] = {f.name: _Choice() for f in self.fields}
        self.batches: list[pd.DataFrame] = []

    # --- filters -------------------------------------------------------------------------------------------

    def options(self, column: str) -> list[str]:
        """The distinct values a filter can take, sorted; empty cells are not a choice."""
        if column not in self.inventory.columns:
            return []
        return sorted({str(v) for v in self.inventory[column] if not is_missing(v)})

    def set_filter(self, **values: str | None) -> None:
        """project=, environment=, database_type= (None: any), name= (text the database name contains) and, for an
        inventory of several instances, instance=."""
        for column, value in values.items():
            if column == "name":
                self.name = value or ""
            elif column in self.filters:
                self.filters[column] = None if is_missing(value) else str(value)
            else:
                raise ValueError(f"no filter {column!r}: use one of {', '.join((*self.filters, 'name'))}")

    @property
    def matching(self) -> pd.DataFrame:
        """The inventory rows every filter accepts."""
        keep = pd.Series(True, index=self.inventory.index)
        for column, value in self.filters.items():
            if value is not None and column in self.inventory.columns:
                keep &= self.inventory[column].astype("string").fillna("") == value
        if self.name.strip() and NAME_COLUMN in self.inventory.columns:
            names = self.inventory[NAME_COLUMN].astype("string").fillna("")
            keep &= names.str.contains(self.name.strip(), case=False, regex=False)
        return self.inventory[keep]

    @property
    def count(self) -> int:
        return len(self.matching)

    # --- intents -------------------------------------------------------------------------------------------

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise ValueError(f"no setting {name!r}")

    def intents(self, name: str) -> tuple[Intent, ...]:
        """The intents a setting offers: "clear" only where the server can clear; backup_now is set or not."""
        field = self.field(name)
        if field.clearable:
            return (Intent.KEEP, Intent.SET, Intent.CLEAR)
        return (Intent.KEEP, Intent.SET)

    def set_intent(self, name: str, intent: Intent | str, value: object = None) -> None:
        """Choose keep/set/clear for a setting; `value` (when given) replaces the value beside it."""
        intent = Intent(intent)
        if intent not in self.intents(name):
            field = self.field(name)
            raise ValueError(f"{name} cannot be cleared{field.unclearable_because}")
        self.choices[name].intent = intent
        if value is not None:
            self.choices[name].value = value

    def set_value(self, name: str, value: object) -> None:
        self.field(name)
        self.choices[name].value = value

    def problem(self, name: str) -> str | None:
        """Why the value beside a "set" setting cannot be sent, in the words `read_changes` uses; else None."""
        choice = self.choices[name]
        if choice.intent is not Intent.SET:
            return None
        if is_missing(choice.value) or (isinstance(choice.value, str) and not choice.value.strip()):
            return f"column '{name}': empty: type a value, or choose keep"
        probe = pd.DataFrame({KEY_COLUMNS[0]: [_PROBE_KEY], KEY_COLUMNS[1]: [_PROBE_KEY], name: [choice.value]})
        errors = read_changes(probe)["errors"].iloc[0]
        if not errors:
            return None
        # Drop the place ("<DataFrame> row 0: "): in the editor the setting is the place.
        return "; ".join(e.removeprefix(f"{FRAME_SOURCE} row 0: ") for e in errors)

    def current(self, name: str) -> str:
        """What the selected configurations hold now for a setting, for a "keep" control to show: one value when
        they all agree, else how many differ (empty when the inventory has no such column or nothing matches)."""
        matching = self.matching
        # The server reports a configuration's storage only by its numeric id (API-RULES): say that one.
        column, prefix = ("s3_storage_id", "storage id ") if name == "s3_storage_uuid" else (name, "")
        if column not in matching.columns or matching.empty:
            return ""
        values = {("" if is_missing(v) else str(v)) for v in matching[column]}
        if len(values) == 1:
            (value,) = values
            return f"now: {prefix}{value}" if value else "now: none reported"
        return f"now: {len(values)} different values"

    def names(self, changes: pd.DataFrame) -> pd.DataFrame:
        """`changes` with each configuration's database name, type and project beside the keys (for display)."""
        return with_names(changes, self.inventory, (NAME_COLUMN, "database_type", "project", "environment"))

    def problems(self) -> dict[str, str]:
        return {name: problem for name in self.choices if (problem := self.problem(name))}

    def pending(self) -> dict[str, object]:
        """{setting: value to write} for every setting not on "keep", as `read_changes` reads it (CLEAR for clear)."""
        values: dict[str, object] = {}
        for field in self.fields:
            choice = self.choices[field.name]
            if choice.intent is Intent.CLEAR:
                values[field.name] = CLEAR
            elif choice.intent is Intent.SET:
                if field is BACKUP_NOW and not choice.value:
                    continue  # "set" with an unticked box starts nothing: it is the same as keep
                values[field.name] = field.read(choice.value)
        return values

    # --- batches -------------------------------------------------------------------------------------------

    def blockers(self) -> list[str]:
        """Why `add()` would add nothing (empty when it can add)."""
        found = list(self.problems().values())
        if found:
            return found
        if self.count == 0:
            found.append("no configuration matches the filters")
        pending = self.pending()
        if not pending:
            found.append('every setting is on "keep": choose "set" or "clear" for at least one')
        if pending.get("save_s3") is True and "s3_storage_uuid" not in pending:
            # plan() would mark every row of the batch invalid for it: say so before the batch exists.
            found.append(
                "save_s3 = true needs s3_storage_uuid in the same change (the server requires it every time): "
                "set the S3 storage too"
            )
        return found

    def add(self) -> int:
        """Add one batch: every matching configuration gets the pending values. Returns the rows added.

        Raises ValueError (with every reason) when a value is invalid, nothing matches or nothing is pending.
        """
        blockers = self.blockers()
        if blockers:
            raise ValueError("; ".join(blockers))
        pending = self.pending()
        batch = self.matching[list(self.keys)].reset_index(drop=True).copy()
        for name, value in pending.items():
            batch[name] = pd.Series([value] * len(batch), dtype=object)
        self.batches.append(batch)
        return len(batch)

    def remove_last(self) -> bool:
        """Drop the last batch; False when there was none."""
        if not self.batches:
            return False
        self.batches.pop()
        return True

    def clear_all(self) -> None:
        self.batches.clear()

    @property
    def changes(self) -> pd.DataFrame:
        """One row per configuration touched by any batch: the keys (the instance first, when the inventory has
        one) and every setting some batch wrote.

        Later batches override earlier ones field by field; a cell no batch wrote is None ("leave as it is").
        """
        rows: dict[tuple[str, ...], dict[str, object]] = {}
        written: set[str] = set()
        for batch in self.batches:
            for record in batch.to_dict("records"):
                row = rows.setdefault(tuple(record[k] for k in self.keys), {})
                for name, value in record.items():
                    if name not in self.keys:
                        row[name] = value
                        written.add(name)
        columns = [f.name for f in self.fields if f.name in written]
        data = {
            **{name: [key[i] for key in rows] for i, name in enumerate(self.keys)},
            **{name: pd.Series([row.get(name) for row in rows.values()], dtype=object) for name in columns},
        }
        return pd.DataFrame(data, columns=[*self.keys, *columns])

    def describe(self) -> str:
        """A one-line account of the batches, for the editor's status line."""
        batches = self.batches
        if not batches:
            return "no changes yet"
        rows = len(self.changes)
        return f"{len(batches)} batch{'es' * (len(batches) != 1)}, {rows} configuration{'s' * (rows != 1)}"
