"""Turn a changes frame into a plan: per row, what would be sent and why.

Only fields whose wanted value differs from the server's go into the payload, so a re-run sends nothing that
already took effect; `backup_now` is an action and always goes when true.
"""

from __future__ import annotations

import json
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkbackup._coolify.state import Key, configs_by_key, gc_paused, names_by_key
from bulkbackup._core.columns import NAME_COLUMNS, PLAN_COLUMNS
from bulkbackup._core.errors import printable
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME, CLEAR, KEY_COLUMNS, CellError, Field, uuid_problem
from bulkbackup._display.styling import ATTR
from bulkbackup._input.changes import read_changes, row_changes, row_place

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client


def plan(changes: Any, client: Client | None = None, *, diff: bool = True) -> pd.DataFrame:
    """Per row: `action` (update, trigger, unchanged, invalid), `errors`, `diff` and the exact `payload`.

    Without a client every given setting goes into the payload (nothing to compare against); with one, a single
    `GET /api/v1/databases` gives the current values and rows naming unknown configurations become invalid, and
    the frame names each row's database (`database_name`, `database_type`). `diff=False` reads no configuration
    (for a token without the read ability): every given setting goes into the payload, as without a client.
    With a client, the server's version is read once: a setting newer than the server makes its row invalid.
    """
    with gc_paused():
        return _plan(changes, client, diff)


def _plan(changes: Any, client: Client | None, diff: bool) -> pd.DataFrame:
    frame = read_changes(changes)
    current = names = None
    version = None
    if client is not None:
        version = client.server_version()
        if diff:
            databases = client.list_databases()
            current = configs_by_key(databases)
            names = names_by_key(databases)
    rows = _plan_rows(frame, current, version)
    result = pd.DataFrame(rows, index=frame.index, columns=list(PLAN_COLUMNS))
    for name in ("line", *KEY_COLUMNS):  # rows shared between equal rows lack them: from the frame, for every row
        result[name] = frame[name].to_numpy()
    if names is None:
        result = result.drop(columns=list(NAME_COLUMNS))
    else:
        keys = list(zip(result["database_uuid"], result["backup_uuid"], strict=True))
        for position, column in enumerate(NAME_COLUMNS):
            result[column] = [names.get(k, (None, None))[position] for k in keys]
    result["line"] = result["line"].astype("Int64")
    result.attrs["source"] = frame.attrs.get("source")
    result.attrs["compared"] = current is not None
    result.attrs["diff"] = diff
    result.attrs["server_version"] = version
    result.attrs[ATTR] = "plan"  # displayed styled in a notebook (styling.install)
    return result


_SHARED = ("action", "errors", "diff", "payload", "before")


def _plan_rows(frame: pd.DataFrame, current: dict[Key, dict] | None, version: str | None) -> list[dict]:
    place = row_place(frame)
    names = list(frame.columns)
    settings = [n for n in names if n in BY_NAME]
    # Without the server's state, a valid row's plan depends only on its values, and a bulk file repeats a few
    # rows many times. The values alone are a safe key: a valid row holds one type per column (bool, int, float
    # or str) or None. An invalid row is never shared: its messages name it.
    same_values: dict[object, dict] | None = {} if current is None else None
    positions = [names.index(n) for n in settings]
    key_of = itemgetter(*positions) if positions else (lambda _: ())
    errors_at = names.index("errors")
    rows = []
    for i, values in enumerate(_rows(frame)):
        key = key_of(values) if same_values is not None and not values[errors_at] else None
        planned = same_values.get(key) if key is not None else None
        if planned is None:
            planned = plan_row(dict(zip(names, values, strict=True)), current, where=f"{place(i)}: ", version=version)
            if key is not None and planned["action"] != "invalid":
                same_values[key] = {c: planned[c] for c in _SHARED}
        rows.append(planned)
    return rows


def plan_row(row: dict, current: dict[Key, dict] | None, *, where: str = "", version: str | None = None) -> dict:
    errors = list(row.get("errors") or [])
    wanted = row_changes(row)
    if errors:
        # An invalid row is still compared with the server, but only through its readable cells, so that what
        # is reported besides the bad cells is a real problem (not, say, a save_s3 the server already has).
        wanted = {name: value for name, value in wanted.items() if _readable(BY_NAME[name], value)}
    for name in wanted:
        too_new = BY_NAME[name].missing_on(version)
        if too_new:
            errors.append(f"{where}{too_new}")
    key = (row["database_uuid"], row["backup_uuid"])
    config = None
    if current is not None:
        config = current.get(key)
        if config is None and not (uuid_problem(str(key[0])) or uuid_problem(str(key[1]))):
            errors.append(
                f"{where}no backup configuration {key[1]!r} on database {key[0]!r} (or this token's team cannot see it)"
            )
    payload: dict[str, object] = {}
    before: dict[str, object] = {}
    diff: list[str] = []
    for name, value in wanted.items():
        if name == BACKUP_NOW.name:
            continue
        field = BY_NAME[name]
        if config is not None and field.same(value, config.get(name)):
            continue
        payload[name] = field.to_json(value)
        if config is not None:
            if field.comparable:
                before[name] = config.get(name)
                diff.append(f"{name}: {_show(config.get(name))} → {_show(value)}")
            else:
                # Reads only return the numeric s3_storage_id; no endpoint maps it to a uuid (API-RULES §1).
                before["s3_storage_id"] = config.get("s3_storage_id")
                diff.append(
                    f"{name}: ? (server reports only s3_storage_id {_show(config.get('s3_storage_id'))}, "
                    f"cannot compare) → {_show(value)}"
                )
        else:
            diff.append(f"{name}: → {_show(value)}")
    if wanted.get(BACKUP_NOW.name) is True:
        payload[BACKUP_NOW.name] = True
        diff.append("backup_now: start a backup")
    if payload.get("save_s3") is True and "s3_storage_uuid" not in payload:
        # The server demands the uuid whenever save_s3 is true, even if the config already has a storage.
        errors.append(
            f"{where}save_s3 = true needs s3_storage_uuid in the same row (the server requires it every time)"
        )
    if errors:
        action = "invalid"
    elif not payload:
        action = "unchanged"
    elif list(payload) == [BACKUP_NOW.name]:
        action = "trigger"
    else:
        action = "update"
    return {
        "line": row.get("line"),
        "database_uuid": key[0],
        "backup_uuid": key[1],
        "action": action,
        "errors": "; ".join(errors),
        "diff": "; ".join(diff) if not errors else "",
        "payload": json.dumps(payload) if payload and not errors else "",
        "before": json.dumps(before) if before and not errors else "",
    }


def _readable(field: Field, value: object) -> bool:
    """Whether a normalised cell holds a value that passes every local rule (a row with errors keeps bad cells raw)."""
    try:
        read = field.read(value)
    except CellError:
        return False
    return not field.problems(read)


def _records(frame: pd.DataFrame) -> list[dict]:
    """`frame.to_dict("records")`, column by column: the same Python values, in a fraction of the time."""
    names = list(frame.columns)
    return [dict(zip(names, values, strict=True)) for values in _rows(frame)] if names else [{} for _ in frame.index]


def _rows(frame: pd.DataFrame):
    """The rows of `frame` as tuples of the values `to_dict` would give, in column order."""
    return zip(*(_values(frame[name]) for name in frame.columns), strict=True)


def _values(column: pd.Series) -> list:
    values = column.tolist()
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and column.hasnans:
        values = [None if value is pd.NA else value for value in values]  # as to_dict gives a masked array's NA
    return values


def is_plan(frame: object) -> bool:
    return (
        isinstance(frame, pd.DataFrame)
        and {"action", "payload"} <= set(frame.columns)
        and ("status" not in frame.columns)
    )


def _where(source: str, label: object, line: object) -> str:
    """The same location prefix read_changes puts on its messages (for apply's re-diff of one row)."""
    if line is None or pd.isna(line):
        return f"{source} row {label}: "
    return f"{source}:{line}: "


def _show(value: object) -> str:
    if value == CLEAR or value is None:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return printable(str(value))  # a control character in a value must not reach a terminal raw
