"""Turn changes into a plan: per row, an `Operation` saying what would be sent and why.

Only fields whose wanted value differs from the server's go into the payload, so a re-run sends nothing that
already took effect; `backup_now` is an action and always goes when true. `plan()` builds the typed `Plan` once and
renders its frame from it once; the frame carries the `Plan` in `attrs["plan"]`, which is what `apply` sends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._coolify.clients import Clients, clients_of, each, is_several
from bulkbackup._coolify.connection import describe_transport_error
from bulkbackup._coolify.state import Key, configs_by_key, gc_paused, names_by_key
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import BulkBackupError, printable
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME, CLEAR, CellError, Field, uuid_problem
from bulkbackup._core.operations import Operation, Plan, RowRef
from bulkbackup._core.statuses import Action
from bulkbackup._engine import sent, storage_ids
from bulkbackup._engine.conflicts import checked_prefer, settle
from bulkbackup._engine.identity import LazyIdentity, changes_text
from bulkbackup._engine.pace import hearing
from bulkbackup._engine.plan_frame import PLAN_ATTR, from_frame, missing, render, selected
from bulkbackup._engine.route import merged, route, stray, unread
from bulkbackup._input.changes import read_changes, row_changes, row_place
from bulkbackup._input.export_memory import ROWS, Rows

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client


def plan(
    changes: Any,
    client: Client | None = None,
    *,
    diff: bool = True,
    prefer: str | None = None,
    on_wait: Callable[[float], object] | None = None,
) -> pd.DataFrame:
    """Per row: `action` (update, trigger, unchanged, invalid), `errors`, `diff` and the exact `payload`.

    Without a client every given setting goes into the payload (nothing to compare against); with one, a single
    `GET /api/v1/databases` gives the current values and rows naming unknown configurations become invalid, and
    the frame names each row's database (`database_name`, `database_type`). `diff=False` reads no configuration
    (for a token without the read ability): every given setting goes into the payload, as without a client.
    With a client, the server's version is read once: a setting newer than the server makes its row invalid.
    The frame carries its typed plan in `attrs["plan"]`: `bb.apply(frame, client)` sends exactly its rows.
    An edited export (its `exported` column, or an inventory frame's memory) sends only the cells changed since
    the export; a field changed on the server too is a conflict, not sent unless `prefer` is "mine" or "server".
    `attrs["warnings"]` says what a reader should know once, not per row (an S3 storage that cannot be compared).
    `on_wait(seconds)` hears each wait for the server's rate-limit window while it reads (to say it).
    """
    return render(plan_of(changes, client, diff=diff, prefer=prefer, on_wait=on_wait))


def plan_of(
    changes: Any,
    client: Client | None = None,
    *,
    diff: bool = True,
    prefer: str | None = None,
    on_wait: Callable[[float], object] | None = None,
) -> Plan:
    """The `Plan` of anything `plan` or `apply` takes.

    - a plan frame carrying its `Plan` (`attrs["plan"]`): its operations for the frame's index labels, in the
      frame's order (so a plan frame a user filtered sends only its rows); nothing is read;
    - a plan frame without one (read back from a CSV file), or one whose action or payload cells were edited: its
      rows turned into operations here (the JSON cells parsed once), identified by what they ask for;
    - a `Plan`: itself;
    - anything else: `read_changes`, then planned (against the server when a client is given).
    """
    prefer = checked_prefer(prefer)
    if isinstance(changes, Plan):
        return changes
    if is_plan(changes):
        carried = changes.attrs.get(PLAN_ATTR)
        kept = selected(changes, carried) if isinstance(carried, Plan) else None
        return kept if kept is not None else from_frame(changes)
    clients = clients_of(client) if client is not None and is_several(client) else None  # checked before reading
    with gc_paused():
        frame = read_changes(changes)
        if client is not None and (clients is not None or INSTANCE in frame.columns):
            return _routed(frame, clients or clients_of(client), diff=diff, prefer=prefer, on_wait=on_wait)
        state = _read(client, frame, diff=diff, on_wait=on_wait) if client is not None else ServerState()
        return build(
            frame, state.databases, state.version, diff=diff, prefer=prefer, storages=state.storages, ours=state.ours
        )


@dataclass(frozen=True)
class ServerState:
    """What a plan (and a rebase of one) reads of one server: its version, its configurations (None: not read),
    the known S3 storage ids, and what bulkbackup last set there (for an edited export; None: not asked)."""

    version: str | None = None
    databases: list[dict] | None = None
    storages: Mapping[int, str] = field(default_factory=dict)
    ours: Mapping[Key, Mapping[str, object]] | None = None


def read_server(
    client: Client,
    *,
    databases: bool,
    storages_wanted: bool,
    ours: bool = False,
    on_wait: Callable[[float], object] | None = None,
) -> ServerState:
    """One server's state: its version always, its configurations when `databases` (one `GET /databases`), which
    S3 storage id is which uuid when some row names a storage, and, with `ours`, what bulkbackup last set there."""
    storages: Mapping[int, str] = {}
    found = None
    with hearing(client, on_wait):
        version = client.server_version()
        if databases:
            found = client.list_databases()
            storages = storage_ids.known(client, found, wanted=storages_wanted)
    return ServerState(version, found, storages, sent.last_sent(client.endpoint) if ours else None)


def _read(client: Client, frame: pd.DataFrame, *, diff: bool, on_wait: Callable[[float], object] | None) -> ServerState:
    return read_server(
        client, databases=diff, storages_wanted=_names_storage(frame), ours=ROWS in frame.attrs, on_wait=on_wait
    )


def _routed(
    frame: pd.DataFrame,
    clients: Clients,
    *,
    diff: bool,
    prefer: str | None,
    on_wait: Callable[[float], object] | None,
) -> Plan:
    """The plan of rows routed by instance (`route.py`): each instance's server read once, all in parallel, each
    row planned against its own instance's state only; rows no client serves are invalid."""
    routing = route(frame, clients)
    place = row_place(frame)
    memory = frame.attrs.get(ROWS)

    def share(client: Client) -> tuple[list[Operation], list[tuple]]:
        positions = routing.shares[client.name]
        part = frame.iloc[positions]
        if isinstance(memory, tuple) and len(memory) == len(frame):
            part.attrs[ROWS] = Rows(memory[p] for p in positions)
        try:
            state = _read(client, part, diff=diff, on_wait=on_wait)
        except (BulkBackupError, OSError) as error:  # OSError: requests' errors, a server gone
            if len(clients) == 1:
                raise
            return unread(frame, positions, client.name, _named(error, client), place)
        return build_rows(
            part,
            state.databases,
            state.version,
            prefer=prefer,
            storages=state.storages,
            ours=state.ours,
            instances=[client.name] * len(positions),
            positions=positions,
        )

    pieces = each([c for c in clients if routing.shares[c.name]], share)
    strays = [stray(frame, i, routing.names[i], clients, place) for i in routing.strays]
    operations, parts = merged(len(frame), [*pieces, ([op for op, _ in strays], [p for _, p in strays])])
    return Plan(
        tuple(operations),
        LazyIdentity(parts),
        source=frame.attrs.get("source"),
        compared=diff,
        diff=diff,
        server_version=clients.only.server_version() if clients.only is not None else None,
        labels=tuple(frame.index),
        instances=clients.names if clients.several or INSTANCE in frame.columns else (),
    )


def _named(error: BaseException, client: Client) -> str:
    """What went wrong reading an instance, as one line with its token masked."""
    text = str(error) if isinstance(error, BulkBackupError) else describe_transport_error(error)
    return client.redact(text or type(error).__name__)


def is_plan(frame: object) -> bool:
    return (
        isinstance(frame, pd.DataFrame)
        and {"action", "payload"} <= set(frame.columns)
        and ("status" not in frame.columns)
    )


# --- planning changes ------------------------------------------------------------------------------------------


def build(
    frame: pd.DataFrame,
    databases: list[dict] | None,
    version: str | None,
    *,
    diff: bool = True,
    prefer: str | None = None,
    storages: Mapping[int, str] | None = None,
    ours: Mapping[Key, Mapping[str, object]] | None = None,
) -> Plan:
    """The plan of a normalised changes frame against `databases` (None: not read, nothing to compare with).

    `prefer`: which side wins a conflict of an edited export (None: the row is not sent); `storages`: the known
    s3_storage_id → uuid pairs (`storage_ids`); `ours`: what bulkbackup last set per configuration (`sent`).
    An `instance` column is carried into each row's `RowRef.instance` (nothing routed: no client to route to)."""
    instances = frame[INSTANCE].tolist() if INSTANCE in frame.columns else None
    operations, parts = build_rows(
        frame, databases, version, prefer=prefer, storages=storages, ours=ours, instances=instances
    )
    return Plan(
        tuple(operations),
        LazyIdentity(parts),
        source=frame.attrs.get("source"),
        compared=databases is not None,
        diff=diff,
        server_version=version,
        labels=tuple(frame.index),
        instances=tuple(dict.fromkeys(n for n in instances if n)) if instances is not None else (),
    )


def build_rows(
    frame: pd.DataFrame,
    databases: list[dict] | None,
    version: str | None,
    *,
    prefer: str | None = None,
    storages: Mapping[int, str] | None = None,
    ours: Mapping[Key, Mapping[str, object]] | None = None,
    instances: Sequence[str | None] | None = None,
    positions: Sequence[int] | None = None,
) -> tuple[list[Operation], list[tuple]]:
    """The operations of `frame`'s rows against one server's `databases`, and each row's identity parts.

    `instances`: each row's instance (its `RowRef.instance`, part of its identity); `positions`: each row's
    position in the whole input, when `frame` is one instance's share of it (`route.py`)."""
    current = configs_by_key(databases) if databases is not None else None
    names = names_by_key(databases) if databases is not None else {}
    place = row_place(frame)
    columns = list(frame.columns)
    settings = [n for n in columns if n in BY_NAME]
    # Without the server's state, a valid row's plan depends only on its values, and a bulk file repeats a few
    # rows many times. The values alone are a safe key: a valid row holds one type per column (bool, int, float
    # or str) or None. An invalid row is never shared: its messages name it.
    shared: dict[object, tuple[Operation, str]] | None = {} if current is None else None
    at = [columns.index(n) for n in settings]
    key_of = itemgetter(*at) if at else (lambda _: ())
    errors_at, line_at = columns.index("errors"), columns.index("line")
    db_at, backup_at = columns.index("database_uuid"), columns.index("backup_uuid")
    labels = tuple(frame.index)
    exported = frame.attrs.get(ROWS)
    exported = exported if isinstance(exported, tuple) and len(exported) == len(frame) else None
    operations, parts = [], []
    for i, values in enumerate(_rows(frame)):
        line = values[line_at]
        key = (values[db_at], values[backup_at])
        name, kind = names.get(key, (None, None))
        instance = instances[i] if instances is not None else None
        position = positions[i] if positions is not None else i
        ref = RowRef(position, labels[i], None if missing(line) else int(line), key[0], key[1], name, kind, instance)
        value_key = key_of(values) if shared is not None and not values[errors_at] else None
        found = shared.get(value_key) if value_key is not None else None
        if found is not None:
            # The same values: the same operation (its payload shared, not copied) for another configuration.
            model, asked = found
            operation = Operation(ref, model.action, model.payload, model.before, model.errors, model.diff)
        else:
            row = dict(zip(columns, values, strict=True))
            wanted = row_changes(row)
            asked = changes_text(wanted)
            errors, notes = list(row.get("errors") or []), []
            if exported is not None and current is not None:
                mine = ours.get(key) if ours else None
                wanted, conflicts, notes = settle(wanted, exported[i], current.get(key), prefer, place(i), mine)
                errors += conflicts
            operation = operation_for(ref, wanted, errors, current, place(i), version, storages)
            if notes:
                operation = operation.with_(notes=(*operation.notes, *notes))
            if value_key is not None and operation.action is not Action.INVALID:
                shared[value_key] = (operation, asked)
        operations.append(operation)
        # hashed when the identity is asked for
        part = (key[0], key[1], values[errors_at] or (), asked)
        parts.append(part if instance is None else (*part, instance))
    return operations, parts


def operation_for(
    ref: RowRef,
    wanted: Mapping[str, object],
    errors: list[str],
    current: Mapping[Key, dict] | None,
    where: str,
    version: str | None,
    storages: Mapping[int, str] | None = None,
) -> Operation:
    """The operation that makes `ref`'s configuration hold `wanted`: the one comparison of planning and rebasing.

    `current` None: the server was not read, so every wanted setting is sent and nothing is known of before.
    `storages`: the known s3_storage_id → uuid pairs, by which an s3_storage_uuid is compared.
    """
    if errors:
        # An invalid row is still compared with the server, but only through its readable cells, so that what
        # is reported besides the bad cells is a real problem (not, say, a save_s3 the server already has).
        wanted = {name: value for name, value in wanted.items() if _readable(BY_NAME[name], value)}
    prefix = f"{where}: " if where else ""
    for name in wanted:
        too_new = BY_NAME[name].missing_on(version)
        if too_new:
            errors.append(f"{prefix}{too_new}")
    key = (ref.database_uuid, ref.backup_uuid)
    config = None
    if current is not None:
        config = current.get(key)
        if config is None and not (uuid_problem(str(key[0])) or uuid_problem(str(key[1]))):
            errors.append(
                f"{prefix}no backup configuration {key[1]!r} on database {key[0]!r} "
                "(or this token's team cannot see it)"
            )
    payload: dict[str, object] = {}
    before: dict[str, object] = {}
    diff: list[str] = []
    same_storage: dict[str, object] = {}
    for name, value in wanted.items():
        if name == BACKUP_NOW.name:
            continue
        field = BY_NAME[name]
        if config is not None and field.same(value, config.get(name)):
            continue
        if config is not None and not field.comparable:
            # Reads return only the numeric s3_storage_id (API-RULES §1): compared where its uuid is known.
            held = config.get("s3_storage_id")
            uuid = (storages or {}).get(held) if held is not None else None
            if uuid is not None and uuid == value:
                same_storage[name] = value  # sent only with save_s3 = true, which the server demands it with
                continue
            payload[name] = field.to_json(value)
            if held is None:
                before["s3_storage_id"] = None
                diff.append(f"{name}: (none) → {_show(value)}")
            elif uuid is not None:
                before[name] = uuid
                diff.append(f"{name}: {_show(uuid)} → {_show(value)}")
            else:
                before["s3_storage_id"] = held  # said once for the plan (storage_ids.uncompared), not per row
                diff.append(f"{name}: ? (storage id {_show(held)}) → {_show(value)}")
            continue
        payload[name] = field.to_json(value)
        if config is not None:
            before[name] = config.get(name)
            diff.append(f"{name}: {_show(config.get(name))} → {_show(value)}")
        else:
            diff.append(f"{name}: → {_show(value)}")
    if wanted.get(BACKUP_NOW.name) is True:
        payload[BACKUP_NOW.name] = True
        diff.append("backup_now: start a backup")
    if payload.get("save_s3") is True and "s3_storage_uuid" not in payload and same_storage:
        payload.update(same_storage)  # the storage it already has, because the server wants it with save_s3
    if payload.get("save_s3") is True and "s3_storage_uuid" not in payload:
        # The server demands the uuid whenever save_s3 is true, even if the config already has a storage.
        errors.append(
            f"{prefix}save_s3 = true needs s3_storage_uuid in the same row (the server requires it every time)"
        )
    if errors:
        return Operation(ref, Action.INVALID, errors=tuple(errors))
    if not payload:
        action = Action.UNCHANGED
    elif list(payload) == [BACKUP_NOW.name]:
        action = Action.TRIGGER
    else:
        action = Action.UPDATE
    return Operation(ref, action, payload, before, diff=tuple(diff))


def _names_storage(frame: pd.DataFrame) -> bool:
    """Whether any row asks for an S3 storage (only then is it worth a request to learn which id is which)."""
    return "s3_storage_uuid" in frame.columns and frame["s3_storage_uuid"].notna().any()


def _readable(field: Field, value: object) -> bool:
    """Whether a normalised cell holds a value that passes every local rule (a row with errors keeps bad cells raw)."""
    try:
        read = field.read(value)
    except CellError:
        return False
    return not field.problems(read)


# --- reading the frame fast ------------------------------------------------------------------------------------


def _rows(frame: pd.DataFrame):
    """The rows of `frame` as tuples of the values `to_dict` would give, in column order."""
    return zip(*(_values(frame[name]) for name in frame.columns), strict=True)


def _values(column: pd.Series) -> list:
    values = column.tolist()
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and column.hasnans:
        values = [None if value is pd.NA else value for value in values]  # as to_dict gives a masked array's NA
    return values


def _show(value: object) -> str:
    if value == CLEAR or value is None:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return printable(str(value))  # a control character in a value must not reach a terminal raw
