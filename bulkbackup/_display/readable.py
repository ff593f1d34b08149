"""The displayed plan and results: who, what, then the rest — a view for a reader, built from a copy of the frame.

A plan or results frame keeps every column (it is the record, and what a user filters with pandas); what a
notebook shows is a narrower table, the way Terraform prints a plan:

    instance   database            action   diff                                   errors   uuids
    staging    orders              update   frequency: 0 3 * * * → 30 2 * * *               nd4wxbil…
               postgresql · shop            timeout: 3600 → 7200                            wuf7agsh…

- who: the instance, first and in a column of its own (in a frame of several instances the same database, with
  the same uuids, may be on each of them: which server a row goes to is what a reader checks first); the
  database's name, its type (without the `standalone-` every type carries) and, where the frame has them, the
  project and environment;
- what: one `field: old → new` line per changed field; a line is never wrapped inside a value unless it is too
  long to fit any screen (a list of 40 database names), and then it wraps rather than pushing the table wide;
- `payload` and `before` say what the diff says, so they are not shown a second time (results show their own
  `before → payload` as the diff); `line` only when some row came from a file;
- uuids shortened to their first 8 characters, the full value in the cell's tooltip (`title`);
- results' messages wrap at words in a column wide enough for a sentence, never one word per line.

Every value from the frame is HTML-escaped here, since these cells are HTML (the caller shows them unescaped).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import ALL_FIELDS
from bulkbackup._core.statuses import STATUS_INFO, Status

UUID_SHOWN = 8
"""Characters of a uuid shown in a displayed plan or results table (the full uuid is in the tooltip)."""

NOWRAP_LIMIT = 72
"""A diff line up to this many characters never wraps; a longer one (a list of names) wraps at commas/spaces."""

# The plan joins its diff parts with "; "; a value may contain "; " too, so split only before a field's name.
DIFF_SPLIT = re.compile("; (?=(?:" + "|".join(re.escape(f.name) for f in ALL_FIELDS) + "|s3_storage_id): )")
_ARROW = " → "
_MUTED = "opacity: 0.72; font-size: 0.92em;"
_KEYS = ("database_uuid", "backup_uuid")
_WHO = ("database_name", "database_type", "project", "environment", INSTANCE)
_REPLACED = {"diff", "payload", "before", "line", "http_status", "attempts", "elapsed_s", "verified", *_KEYS, *_WHO}
_MESSAGE_CSS = "white-space: normal; min-width: 14em; max-width: 32em;"
_ERRORS_CSS = f"white-space: normal; min-width: 14em; max-width: 40em; color: {STATUS_INFO[Status.INVALID].foreground};"


def reader_view(view: pd.DataFrame, what: str, source: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """(the displayed frame, its columns that hold HTML) for a plan or results frame `view` (a private copy)."""
    columns: dict[str, pd.Series] = {}
    markup: list[str] = []

    def put(name: str, values: pd.Series, is_html: bool = True) -> None:
        columns[name] = values
        if is_html:
            markup.append(name)

    rows = view.to_dict("records")
    index = view.index
    if INSTANCE in view.columns:
        put(INSTANCE, view[INSTANCE], is_html=False)
    named = any(c in view.columns for c in ("database_name", "database_type"))
    # Results carry a message column besides the diff: their uuids go under the name, so the message has room.
    keys_below = named and what == "results"
    if named:
        put("database", pd.Series([_who(row, keys_below) for row in rows], index=index, dtype=object))
    first = "action" if what == "plan" else "status"
    if first in view.columns:
        put(first, view[first], is_html=False)
    diffs = [_diff_cell(row) for row in rows]
    if any(diffs):
        put("diff", pd.Series(diffs, index=index, dtype=object))
    errors = view["errors"].map(lambda value: _errors_cell(value, source)) if "errors" in view.columns else None
    if "message" in view.columns:
        # One column for what the server said: the message, why a row was not sent (its errors) and, in a muted
        # line, the HTTP answer, attempts, time and the after-run check — a results table fits a screen.
        why = errors if errors is not None else pd.Series("", index=index)
        cells = [_message_cell(row.get("message"), e, _sent(row)) for row, e in zip(rows, why, strict=True)]
        put("message", pd.Series(cells, index=index, dtype=object))
    elif errors is not None and errors.astype(bool).any():
        put("errors", errors)
    for name in view.columns:
        if name not in _REPLACED and name not in columns and name not in ("action", "status", "errors", "message"):
            put(name, view[name], is_html=False)
    if any(c in view.columns for c in _KEYS) and not keys_below:
        put("uuids", pd.Series([_uuids(row) for row in rows], index=index, dtype=object))
    if "line" in view.columns and view["line"].map(_present).any():
        put("line", view["line"], is_html=False)
    shown = pd.DataFrame(columns, index=index)
    return shown, markup


def _present(value: object) -> bool:
    if value is None or (not isinstance(value, list | tuple | Mapping) and pd.isna(value)):
        return False
    return str(value) != ""


def _text(value: object) -> str:
    return str(value) if _present(value) else ""


def _whole(value: object) -> object:
    if isinstance(value, float) and _present(value) and value.is_integer():
        return int(value)
    return value if _present(value) else ""


def _sent(row: Mapping[str, Any]) -> str:
    """The HTTP answer, the attempts, the time and the after-run check of one result, as one muted line."""
    status, attempts, seconds = (_whole(row.get(c)) for c in ("http_status", "attempts", "elapsed_s"))
    parts = [f"HTTP {status}"] if _text(status) else []
    if _text(attempts) and attempts:
        took = f", {seconds:.1f} s" if isinstance(seconds, float) and seconds >= 1 else ""  # only when it tells
        parts.append(f"{attempts} attempt{'s' * (attempts != 1)}{took}")
    verified = row.get("verified")
    if isinstance(verified, bool | np.bool_):
        parts.append("verified" if verified else "")
    line = html.escape(" · ".join(p for p in parts if p))
    if isinstance(verified, bool | np.bool_) and not verified:
        # The server does not hold what was sent: never muted.
        line += f'{" · " if line else ""}<b style="color: {STATUS_INFO[Status.REJECTED].foreground}">not verified</b>'
    return f'<div style="{_MUTED}">{line}</div>' if line else ""


def _who(row: Mapping[str, Any], keys: bool = False) -> str:
    name = _text(row.get("database_name"))
    kind = _text(row.get("database_type")).removeprefix("standalone-")
    where = " / ".join(_text(row.get(c)) for c in ("project", "environment") if _text(row.get(c)))
    lines = [f"<b>{html.escape(name)}</b>" if name else f'<span style="{_MUTED}">(no name)</span>']
    small = " · ".join(html.escape(part) for part in (kind, where) if part)
    if small:
        lines.append(f'<span style="{_MUTED}">{small}</span>')
    if keys and (uuids := _uuids(row, " ")):
        lines.append(f'<span style="{_MUTED}">{uuids}</span>')
    # A long name wraps (in a column at most 16em wide); a short one never does.
    return f'<div style="max-width: 16em; overflow-wrap: break-word">{"<br>".join(lines)}</div>'


def _short(uuid: str) -> str:
    if len(uuid) <= UUID_SHOWN + 2:
        return f"<code>{html.escape(uuid)}</code>"
    return f'<code title="{html.escape(uuid)}">{html.escape(uuid[:UUID_SHOWN])}…</code>'


def _uuids(row: Mapping[str, Any], between: str = "<br>") -> str:
    return between.join(_short(_text(row.get(c))) for c in _KEYS if _text(row.get(c)))


# --- what: the diff ----------------------------------------------------------------------------------------------


def diff_lines(value: object) -> list[str]:
    """A plan's `diff` cell as its `field: old → new` lines."""
    return DIFF_SPLIT.split(value) if isinstance(value, str) and value else []


def _diff_cell(row: Mapping[str, Any]) -> str:
    lines = diff_lines(row.get("diff"))
    if not lines:
        lines = _lines_from_json(row.get("payload"), row.get("before"))
    return "".join(_diff_line(line) for line in lines)


def _lines_from_json(payload: object, before: object) -> list[str]:
    """`field: old → new` for each field a payload sends (results frames carry payload and before, not a diff)."""
    sent, was = _mapping(payload), _mapping(before)
    if not sent:
        return []
    return [
        f"{name}: {json_value(was.get(name)) if name in was else ''}{_ARROW}{json_value(v)}" for name, v in sent.items()
    ]


def _mapping(value: object) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            return {}
        return data if isinstance(data, Mapping) else {}
    return {}


def _diff_line(line: str) -> str:
    """One `field: old → new` line as HTML: the field muted, the new value bold, kept on one line when it fits."""
    wrap = "white-space: nowrap" if len(line) <= NOWRAP_LIMIT else "white-space: normal; min-width: 28em"
    name, colon, change = line.partition(": ")
    if not colon:
        return f'<div style="{wrap}">{html.escape(line)}</div>'
    old, arrow, new = change.rpartition(_ARROW.strip())
    if not arrow or len(line) > NOWRAP_LIMIT:
        body = html.escape(change)
    else:
        # Non-breaking spaces inside a value: a cron expression is never split across lines, even when copied.
        old = _keep(old.strip())
        body = f"{old + ' ' if old else ''}→ <b>{_keep(new.strip())}</b>"
    return f'<div style="{wrap}"><span style="{_MUTED}">{html.escape(name)}:</span> {body}</div>'


def _keep(value: str) -> str:
    return html.escape(value).replace(" ", "&nbsp;")


# --- the rest ----------------------------------------------------------------------------------------------------


def _errors_cell(value: object, source: str | None) -> str:
    if isinstance(value, list | tuple):
        parts = [str(v) for v in value]
    elif isinstance(value, str) and value:
        where = re.escape(str(source or "<DataFrame>"))
        parts = re.split(rf"; (?={where}(?::| row ))", value)
    else:
        return ""
    return (
        f'<div class="bulkbackup-errors" style="{_ERRORS_CSS}">' + "<br>".join(html.escape(p) for p in parts) + "</div>"
    )


def _message_cell(value: object, errors: str, sent: str) -> str:
    text = _text(value)
    if not text and not errors and not sent:
        return ""
    return f'<div style="{_MESSAGE_CSS}">{html.escape(text)}{errors}{sent}</div>'


def json_value(value: Any) -> str:
    """A setting's value as a person reads it: `(empty)` for null, whole numbers without `.0`."""
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)
