"""Which S3 storage uuid a configuration's numeric `s3_storage_id` is, where that can be known.

The server reports only `s3_storage_id` and hides every storage's id (API-RULES §1), so a planned
`s3_storage_uuid` cannot be compared with what a configuration has — unless the pair is known:

- the team has exactly one S3 storage and its configurations use one id: that id is that storage;
- bulkbackup sent a uuid, the row was verified, and the server now reports an id for it.

Known pairs are remembered per instance in the user's cache directory (`BULKBACKUP_CACHE_DIR`, else
`$XDG_CACHE_HOME/bulkbackup`, else `~/.cache/bulkbackup`), in a file named after a hash of the endpoint, holding
the endpoint and `{id: uuid}`: nothing secret. A storage's id and uuid never change, and Coolify does not reuse
ids, so a pair stays true. Reading or writing the cache never fails a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bulkbackup._coolify.state import own_configs
from bulkbackup._core.errors import BulkBackupError
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import Status

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

CACHE_VARIABLE = "BULKBACKUP_CACHE_DIR"
S3 = "s3_storage_uuid"


def cache_dir() -> Path:
    given = os.environ.get(CACHE_VARIABLE)
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bulkbackup"


def _file(endpoint: str) -> Path:
    return cache_dir() / f"s3-storages-{hashlib.sha256(endpoint.encode()).hexdigest()[:16]}.json"


def remembered(endpoint: str) -> dict[int, str]:
    """The pairs remembered for this instance ({} when none, or the cache cannot be read)."""
    try:
        data = json.loads(_file(endpoint).read_text(encoding="utf-8"))
        pairs = data.get("storages", {}) if data.get("endpoint") == endpoint else {}
        return {int(k): v for k, v in pairs.items() if isinstance(v, str) and v}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def remember(endpoint: str, pairs: Mapping[int, str]) -> None:
    """Add pairs to this instance's memory (a pair replaces any other pair of its id or its uuid)."""
    known = remembered(endpoint)
    new = {i: u for i, u in pairs.items() if known.get(i) != u}
    if not new:
        return
    known = {i: u for i, u in known.items() if i not in new and u not in new.values()}
    known.update(new)
    text = json.dumps({"endpoint": endpoint, "storages": {str(i): u for i, u in sorted(known.items())}}, indent=1)
    write_cache(_file(endpoint), text)


def write_cache(path: Path, text: str) -> None:
    """Replace a cache file at once (a second process reads the old or the new one, never half); a cache that
    cannot be written is only a memory lost, never a failed run."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def known(client: Client, databases: Sequence[dict], wanted: bool) -> dict[int, str]:
    """id → uuid for the configurations of `databases`: the remembered pairs, and the team's only storage when that
    settles the ids still unknown. `wanted` False (no row names a storage): only what is remembered, no request."""
    pairs = remembered(client.endpoint)
    if not wanted:
        return pairs
    ids = {c.get("s3_storage_id") for c in _configs(databases)} - {None}
    unknown = ids - pairs.keys()
    if len(ids) != 1 or not unknown:
        return pairs  # two ids in use cannot be one storage: only what bulkbackup saw itself can tell them apart
    try:
        listed = [s for s in client.list_storages() if isinstance(s, dict) and s.get("uuid")]
    except BulkBackupError:
        return pairs  # an older Coolify without GET /s3-storages, or a token that cannot read it
    if len(listed) == 1:
        pair = {unknown.pop(): str(listed[0]["uuid"])}
        remember(client.endpoint, pair)
        pairs.update(pair)
    return pairs


def _configs(databases: Iterable[dict]) -> Iterable[dict]:
    for db in databases:
        yield from own_configs(db)  # not another type's configuration sharing a numeric id (the server's mix-up)


def learn(client: Client, operations: Sequence[Operation], outcomes: Sequence[Outcome], current: Mapping) -> None:
    """After a run, read back: every updated row that sent a uuid, holds every other value it sent, and now
    reports an id, pairs them. Observations that disagree with each other are not kept."""
    seen: dict[int, set[str]] = defaultdict(set)
    for op, outcome in zip(operations, outcomes, strict=True):
        uuid = op.payload.get(S3)
        if outcome.status != Status.UPDATED or not isinstance(uuid, str) or not uuid:
            continue
        config = current.get(op.key)
        if config is None or config.get("s3_storage_id") is None:
            continue
        if not _holds(op.payload, config):
            continue
        seen[int(config["s3_storage_id"])].add(uuid)
    owners: dict[str, set[int]] = defaultdict(set)
    for i, uuids in seen.items():
        for uuid in uuids:
            owners[uuid].add(i)
    pairs = {i: next(iter(u)) for i, u in seen.items() if len(u) == 1 and len(owners[next(iter(u))]) == 1}
    if pairs:
        remember(client.endpoint, pairs)


def _holds(payload: Mapping, config: Mapping) -> bool:
    """Whether the configuration holds every comparable value the payload sent."""
    for name, value in payload.items():
        field = BY_NAME[name]
        if name not in (S3, BACKUP_NOW.name) and field.comparable and not field.same(value, config.get(name)):
            return False
    return True


def uncompared(operations: Sequence[Operation]) -> tuple[str, ...]:
    """The one line a run says when rows send an s3_storage_uuid that could not be compared."""
    rows = [op for op in operations if op.sends and S3 in op.payload and op.before.get(UNKNOWN) is not None]
    if not rows:
        return ()
    return (
        f"s3_storage_uuid cannot be compared on {len(rows):,} row{'s' * (len(rows) != 1)}: the server reports only "
        "a numeric s3_storage_id, and which uuid that is is not known yet, so it is sent (verified rows teach "
        "bulkbackup which it is, for the next run)",
    )


UNKNOWN = "s3_storage_id"
"""The `before` key of an operation that sends an s3_storage_uuid it could not compare (the server's id)."""
