"""What a run was asked for: the hash of the normalised changes a plan was made from, one short hash per row.

A journal is tied to it (`Plan.identity`), so the same changes resume the same journal whether they come as changes,
as a fresh plan of them (made after the first run changed the server), from the CLI or from the run panel: the
hash is of what is asked for, never of payloads, which shrink as the server comes to hold the wanted values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from hashlib import sha256
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined] - the C encoder of a str

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.operations import Identity
from bulkbackup._input.changes import row_changes


def _plain(value: object) -> object:
    """A JSON-able form of a cell that is the same for a CSV's text and a DataFrame's numpy scalars."""
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict | str):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def row_fingerprint(row: Mapping) -> dict:
    """What a normalised changes row asks for: its keys (with its instance, when it names one), its errors, and its
    non-empty settings."""
    found = {
        "database_uuid": row.get("database_uuid"),
        "backup_uuid": row.get("backup_uuid"),
        "errors": sorted(str(e) for e in row.get("errors") or []),
        "changes": {k: _plain(v) for k, v in sorted(row_changes(row).items())},
    }
    if row.get(INSTANCE) is not None:
        found[INSTANCE] = row.get(INSTANCE)
    return found


_ENCODE = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":")).encode  # one encoder, reused


def changes_text(changes: Mapping[str, object]) -> str:
    """The settings part of a row's fingerprint: the same for every row asking for the same values, so a plan of
    a bulk file repeating a few rows writes it once per kind of row."""
    return _ENCODE({k: _plain(v) for k, v in changes.items()})


def _text(value: object) -> str:
    return encode_basestring_ascii(value) if value.__class__ is str else _ENCODE(value)


def row_hash_of(
    database_uuid: object, backup_uuid: object, errors: Iterable[object], changes: str, instance: object = None
) -> str:
    """The short hash of one row's fingerprint (`row_fingerprint` as compact, key-sorted JSON), from its parts. A
    row's instance is part of it: two instances' rows with colliding uuids are two rows."""
    problems = _ENCODE(sorted(str(e) for e in errors)) if errors else "[]"
    named = f',"{INSTANCE}":{_text(instance)}' if instance is not None else ""
    text = (
        f'{{"backup_uuid":{_text(backup_uuid)},"changes":{changes},"database_uuid":{_text(database_uuid)},'
        f'"errors":{problems}{named}}}'
    )
    return sha256(text.encode()).hexdigest()[:16]


def row_hash(row: Mapping) -> str:
    """A short hash of what one normalised changes row asks for."""
    changes = changes_text(row_changes(row))
    return row_hash_of(
        row.get("database_uuid"), row.get("backup_uuid"), row.get("errors") or (), changes, row.get(INSTANCE)
    )


def identity_of(row_hashes: Sequence[str]) -> Identity:
    """The identity of rows already hashed: the whole hash is of the row hashes in order, so the identity of a
    subset of a plan's rows (a filtered plan frame) is computed from the plan's own hashes, without the changes."""
    whole = hashlib.sha256("".join(f"{h}\n" for h in row_hashes).encode()).hexdigest()
    return Identity(whole, tuple(row_hashes))


class LazyIdentity:
    """An `Identity` computed when first asked for, from each row's parts (database uuid, backup uuid, errors, the
    settings text): a plan is looked at far more often than it is journaled or sent, and hashing 200,000 rows was
    a third of an offline plan's time. Reads like an Identity and compares equal to the same one."""

    __slots__ = ("_parts", "_found")

    def __init__(self, parts: list[tuple]):  # per row: (database uuid, backup uuid, errors, settings text[, instance])
        self._parts: list | None = parts
        self._found: Identity | None = None

    def resolved(self) -> Identity:
        found = self._found
        if found is None:  # two threads may both compute it: the same result either way
            found = self._found = identity_of([row_hash_of(*part) for part in self._parts or ()])
            self._parts = None
        return found

    @property
    def changes_hash(self) -> str:
        return self.resolved().changes_hash

    @property
    def row_hashes(self) -> tuple[str, ...]:
        return self.resolved().row_hashes

    def __eq__(self, other: object) -> bool:
        if not hasattr(other, "changes_hash") or not hasattr(other, "row_hashes"):
            return NotImplemented
        return (self.changes_hash, self.row_hashes) == (other.changes_hash, tuple(other.row_hashes))

    __hash__ = None  # type: ignore[assignment] - as Identity's, by value and mutable in its caching

    def __repr__(self) -> str:
        return repr(self.resolved())

    def __deepcopy__(self, memo: dict) -> LazyIdentity:
        return self


def identity(rows: Iterable[Mapping]) -> Identity:
    """The identity of normalised changes rows (dicts as `read_changes` gives them)."""
    return identity_of([row_hash(row) for row in rows])


def hash_rows(rows: Sequence[Mapping]) -> tuple[str, list[str]]:
    """(sha256 of the normalised changes, a short hash of each row): `identity` as a pair."""
    found = identity(rows)
    return found.changes_hash, list(found.row_hashes)
