"""Reading the changes: a CSV file or any DataFrame in, the normalised changes frame out.

`read_changes()` is the one entry point through which every input reaches `plan()` and `apply()`. It never
contacts a server. It raises `InputError` only when the input as a whole cannot be used (unreadable or empty
file, no header, an unknown, doubled or missing key column); every problem of a single row goes into that row's
`errors` list as a full sentence naming the place (``file:line`` or ``<DataFrame> row <label>``), the column and
the value, so one bad row never loses the good ones.

The normalised changes frame has, in this order:

- ``line``: the 1-based physical line of the row in the CSV file (the header is line 1), pandas ``Int64``; NA for
  rows that did not come from a file;
- ``database_uuid``, ``backup_uuid``: text ("" when the cell was empty, which is an error of the row);
- one column per setting present in the input, in `SETTINGS` order, then ``backup_now`` if present: object
  columns holding native values as `Field.read` returns them (bool, int, float, str, or `CLEAR`), None for an
  empty cell ("leave unchanged"); a cell that cannot be read keeps its original value and the row has an error;
- ``errors``: a list of message strings per row, empty when the row is fine.

``frame.attrs["source"]`` is the name used in the messages (the file's name, or ``"<DataFrame>"``).

`write_csv()` writes any frame so that no cell runs as a spreadsheet formula, and `read_changes()` reads such a
file back.
"""

from __future__ import annotations

import csv
import difflib
import io
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from .errors import InputError
from .fields import (
    ALL_FIELDS,
    BACKUP_NOW,
    INVENTORY_COLUMNS,
    KEY_ALIASES,
    KEY_COLUMNS,
    SETTING_NAMES,
    CellError,
    Field,
    is_missing,
    read_text,
    uuid_problem,
)
from .results import OUTPUT_COLUMNS

__all__ = ["FRAME_SOURCE", "read_changes", "row_changes", "write_csv"]

FRAME_SOURCE = "<DataFrame>"
"""`attrs["source"]` of a frame read from a DataFrame, and the place named in its messages."""

_SEPARATORS = (",", ";", "\t")
# Cells starting with = + - @ tab or CR run as formulas in spreadsheets (OWASP "CSV injection"). write_csv puts
# one apostrophe before such a text, after any apostrophes it already has; read_changes removes exactly one
# apostrophe from such a cell. So "=x" → "'=x" → "=x" and "'=x" → "''=x" → "'=x": every text survives.
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")
_NEEDS_ESCAPE = re.compile(r"'*[=+\-@\t\r]")
_HEADER_JUNK = re.compile(r"[\s\-_]+")
_MISSING_KEY_HINT = {"database_uuid": "the database's uuid", "backup_uuid": "the backup configuration's uuid"}


# ---------------------------------------------------------------------------------------------------------------
# Column names


def _normalise_header(name: object) -> str:
    """Header text → canonical spelling: case, surrounding blanks and inner spaces/hyphens do not matter."""
    text = _unescape(str(name)).replace("\ufeff", "").strip().lower()
    return _HEADER_JUNK.sub("_", text).strip("_")


_SETTABLE: tuple[str, ...] = (*KEY_COLUMNS, *(f.name for f in ALL_FIELDS))
_IGNORED: frozenset[str] = frozenset(INVENTORY_COLUMNS) | frozenset(OUTPUT_COLUMNS)
_SUGGESTIONS: tuple[str, ...] = (*SETTING_NAMES, *KEY_COLUMNS, *KEY_ALIASES, BACKUP_NOW.name)


def _canonical(normalised: str) -> str | None:
    """The column a header names: a key, a field, `""` for a read-only column that is ignored, None if unknown."""
    name = KEY_ALIASES.get(normalised, normalised)
    if name in _SETTABLE:
        return name
    if normalised in _IGNORED:
        return ""
    return None


def _unknown_message(shown: str, normalised: str) -> str:
    close = difflib.get_close_matches(normalised, _SUGGESTIONS, n=1, cutoff=0.6)
    hint = f" — did you mean '{close[0]}'?" if close else ""
    return f"unknown column '{shown}'{hint}"


_PANDAS_UNNAMED = re.compile(r"unnamed:_\d+")  # what pd.read_csv calls a column without a name (e.g. an index)


def _map_columns(headers: list[object], *, file: str, line: int | None) -> dict[str, int]:
    """{canonical column: position} for the keys and fields present; raises InputError for a bad header.

    Read-only columns (inventory, plan and results columns) are left out. So are nameless ones: in a file their
    cells must be empty (checked per row); in a DataFrame (``Unnamed: 0`` from ``pd.read_csv``) they are ignored.
    """
    in_frame = line is None
    positions: dict[str, int] = {}
    spelled: dict[str, str] = {}
    unknown: list[tuple[int, str, str]] = []
    seen_known = False
    for position, header in enumerate(headers):
        shown = _unescape(str(header)).replace("\ufeff", "").strip()
        normalised = _normalise_header(header)
        if not normalised or (in_frame and _PANDAS_UNNAMED.fullmatch(normalised)):
            continue
        name = _canonical(normalised)
        if name is None:
            unknown.append((position, shown, normalised))
            continue
        seen_known = True
        if name == "":
            continue
        if name in positions:
            raise InputError(
                f"column '{name}' is given twice (as '{spelled[name]}' in column {positions[name] + 1} and as "
                f"'{shown}' in column {position + 1}); keep one of them",
                file=file,
                line=line,
                column=name,
            )
        positions[name] = position
        spelled[name] = shown
    if not seen_known and headers:
        first = ", ".join(f"'{_unescape(str(h)).strip()}'" for h in headers[:4]) + (", …" if len(headers) > 4 else "")
        where = "the DataFrame's column names" if in_frame else "the first line"
        raise InputError(
            f"no header: {where} ({first}) name no known column; the first line must name the columns, e.g. "
            "database_uuid,backup_uuid,frequency",
            file=file,
            line=line,
        )
    if unknown:
        _, shown, normalised = unknown[0]
        message = _unknown_message(shown, normalised)
        if len(unknown) > 1:
            message += " (also unknown: " + ", ".join(f"'{s}'" for _, s, _ in unknown[1:]) + ")"
        raise InputError(message, file=file, line=line, column=shown)
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


# ---------------------------------------------------------------------------------------------------------------
# Cells


def _unescape(cell: object) -> object:
    """Remove the apostrophe a spreadsheet-safe export put before a formula character."""
    if isinstance(cell, str) and cell.startswith("'") and _ESCAPED.match(cell):
        return cell[1:]
    return cell


def _escape(text: str) -> str:
    return "'" + text if _NEEDS_ESCAPE.match(text) else text


def _mentions(message: str, value: object) -> bool:
    """Whether a problem's text already shows the value (as repr, or as Field.problems formats numbers)."""
    shown = {repr(value)}
    if isinstance(value, str):
        shown.add(repr(value.strip()))
    elif isinstance(value, float):
        shown.add(f"(got {value:g})")
    return any(text in message for text in shown)


def _cell_message(where: str, column: str, value: object, problem: str) -> str:
    if problem.startswith(f"{column}: "):
        problem = problem[len(column) + 2 :]
    if _mentions(problem, value):
        return f"{where}: column '{column}': {problem}"
    return f"{where}: column '{column}', value {value!r}: {problem}"


# Cell types whose equal values read alike, so one reading can serve them all.
_CACHEABLE = frozenset({str, int, float, bool})


class _Reader:
    """Turns the cells of one input, column by column, into the normalised frame's columns and row errors."""

    def __init__(self, n_rows: int, places: list[str]):
        self.places = places
        self.errors: list[list[str]] = [[] for _ in range(n_rows)]

    def key(self, name: str, cells: list[object]) -> list[str]:
        values: list[str] = []
        for i, cell in enumerate(cells):
            cell = _unescape(cell)
            if is_missing(cell):
                values.append("")
                self.errors[i].append(
                    f"{self.places[i]}: column '{name}' is empty: every row needs {_MISSING_KEY_HINT[name]}"
                )
                continue
            text = read_text(cell)
            values.append(text)
            problem = uuid_problem(text)
            if problem:
                self.errors[i].append(_cell_message(self.places[i], name, text, problem))
        return values

    def field(self, field: Field, cells: list[object]) -> list[object]:
        values: list[object] = []
        # Bulk inputs repeat the same few cells: read and check each distinct one once. Keyed by type too, as
        # 1, 1.0 and True are equal keys but not the same cell (True is no integer).
        seen: dict[tuple[type, object], tuple[object, list[tuple[object, str]]]] = {}
        for i, cell in enumerate(cells):
            cell = _unescape(cell)
            if is_missing(cell):
                values.append(None)
                continue
            key = (cell.__class__, cell) if cell.__class__ in _CACHEABLE else None
            known = seen.get(key) if key is not None else None
            if known is None:
                known = self._read_cell(field, cell)
                if key is not None:
                    seen[key] = known
            value, problems = known
            values.append(value)
            for shown, problem in problems:
                self.errors[i].append(_cell_message(self.places[i], field.name, shown, problem))
        return values

    @staticmethod
    def _read_cell(field: Field, cell: object) -> tuple[object, list[tuple[object, str]]]:
        """(value to keep, [(value shown, problem)]) of one non-empty cell."""
        try:
            value = field.read(cell)
        except CellError as error:
            # Keep what was given: the row is invalid, and reading this frame again reports the same error.
            return cell, [(cell, str(error))]
        except (ArithmeticError, ValueError, TypeError) as error:
            # A reader that trips over an absurd cell must not lose the whole file: it is this row's error.
            return cell, [(cell, f"{cell!r} cannot be read as {field.kind.value}: {error}")]
        return value, [(value, problem) for problem in field.problems(value)]

    def duplicates(self, database_uuids: list[str], backup_uuids: list[str], refs: list[str]) -> None:
        """Every row that targets a configuration some other row targets too is invalid."""
        rows: dict[tuple[str, str], list[int]] = {}
        for i, key in enumerate(zip(database_uuids, backup_uuids, strict=True)):
            if key[0] and key[1]:
                rows.setdefault(key, []).append(i)
        for (database_uuid, backup_uuid), found in rows.items():
            if len(found) < 2:
                continue
            for i in found:
                others = [refs[j] for j in found if j != i]
                self.errors[i].append(
                    f"{self.places[i]}: the backup configuration database_uuid '{database_uuid}', backup_uuid "
                    f"'{backup_uuid}' is also targeted by {', '.join(others)}: a configuration may appear only "
                    "once, so none of these rows is used"
                )


def _build(
    reader: _Reader,
    columns: dict[str, list[object]],
    keys: tuple[list[str], list[str]],
    lines: list[int | None],
    index: pd.Index,
    source: str,
) -> pd.DataFrame:
    def objects(values: list[Any]) -> pd.Series:
        return pd.Series(values, index=index, dtype=object)

    data: dict[str, pd.Series] = {
        "line": pd.Series(pd.array(lines, dtype="Int64"), index=index),
        KEY_COLUMNS[0]: pd.Series(keys[0], index=index, dtype=str),
        KEY_COLUMNS[1]: pd.Series(keys[1], index=index, dtype=str),
    }
    for field in ALL_FIELDS:
        if field.name in columns:
            data[field.name] = objects(columns[field.name])
    data["errors"] = objects(reader.errors)
    frame = pd.DataFrame(data, index=index)
    frame.attrs["source"] = source
    return frame


# ---------------------------------------------------------------------------------------------------------------
# CSV files


def _source_text(source: object) -> tuple[str, str]:
    """(name shown in messages, decoded text) of a path or file object."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        name = path.name or str(path)
        try:
            data: bytes | str = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read the file: {error.strerror or error}", file=str(path)) from None
    elif hasattr(source, "read"):
        raw_name = getattr(source, "name", None)
        name = Path(raw_name).name if isinstance(raw_name, str) and raw_name else "<stream>"
        try:
            data = source.read()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read the file: {error}", file=name) from None
    else:
        raise TypeError(f"read_changes() takes a path, a file object or a DataFrame, not {type(source).__name__}")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            raise InputError(
                f"the file is not UTF-8 text (byte 0x{data[error.start]:02x}); save it as 'CSV UTF-8'",
                file=name,
                line=line,
            ) from None
    elif isinstance(data, str):
        text = data.removeprefix("\ufeff")
    else:
        raise InputError(f"the file object returned {type(data).__name__}, not text or bytes", file=name)
    return name, text


def _sniff(line: str) -> str:
    """The separator of the header line: the most frequent of , ; tab outside quotes (comma on a tie)."""
    counts = dict.fromkeys(_SEPARATORS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_SEPARATORS, key=lambda sep: counts[sep])  # max keeps the first on a tie: ',' before ';' before tab
    return best if counts[best] else ","


def _is_blank(cells: list[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def _read_csv(source: object) -> pd.DataFrame:
    name, text = _source_text(source)
    lines = io.StringIO(text, newline="").readlines()
    header_text = next((ln for ln in lines if ln.strip(" \t\r\n,;\"'")), None)
    if header_text is None:
        raise _empty(name)
    separator = _sniff(header_text)
    reader = csv.reader(lines, delimiter=separator, skipinitialspace=True)
    records: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    header_line = 0
    start = previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if _is_blank(cells):
                continue
            if header is None:
                header, header_line = cells, start
            else:
                records.append((start, cells))
    except csv.Error as error:
        raise InputError(
            f"the file cannot be read as CSV: {error} (an unclosed quote?)", file=name, line=previous_end + 1
        ) from None
    # The csv module lets an unclosed quote swallow the rest of the file into one cell: say so instead.
    if previous_end > start and "".join(lines[start - 1 : previous_end]).count('"') % 2:
        raise InputError("a quote opened on this line is never closed", file=name, line=start)
    if header is None:
        raise _empty(name)
    positions = _map_columns(header, file=name, line=header_line)

    width = len(header)
    nameless = [p for p, h in enumerate(header) if not _normalise_header(h)]
    places = [f"{name}:{start}" for start, _ in records]
    rows = [cells for _, cells in records]
    result = _Reader(len(rows), places)
    for i, cells in enumerate(rows):
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            extra = cells[width:]
            result.errors[i].append(
                f"{places[i]}: the row has {len(cells)} cells but the header has {width} columns; the extra "
                f"value(s) {', '.join(repr(c) for c in extra)} belong to no column (a '{_shown_sep(separator)}' "
                "inside a cell? put that cell in double quotes)"
            )
        for position in nameless:
            if position < len(cells) and cells[position].strip():
                result.errors[i].append(
                    f"{places[i]}: column {position + 1} has no name in the header but holds {cells[position]!r}"
                )

    def column(position: int) -> list[object]:
        return [cells[position] if position < len(cells) else "" for cells in rows]

    keys = (
        result.key(KEY_COLUMNS[0], column(positions[KEY_COLUMNS[0]])),
        result.key(KEY_COLUMNS[1], column(positions[KEY_COLUMNS[1]])),
    )
    columns = {f.name: result.field(f, column(positions[f.name])) for f in ALL_FIELDS if f.name in positions}
    result.duplicates(*keys, [f"line {start}" for start, _ in records])
    return _build(result, columns, keys, [start for start, _ in records], pd.RangeIndex(len(rows)), name)


def _empty(name: str) -> InputError:
    return InputError(
        "the file is empty: expected a header line naming the columns, e.g. database_uuid,backup_uuid,frequency",
        file=name,
    )


def _shown_sep(separator: str) -> str:
    return "\\t" if separator == "\t" else separator


# ---------------------------------------------------------------------------------------------------------------
# DataFrames


def _frame_lines(frame: pd.DataFrame, source: object) -> list[object] | None:
    """The file lines of a frame that read_changes (or plan/apply after it) made from a file, else None."""
    if not isinstance(source, str) or source == FRAME_SOURCE or "line" not in frame.columns:
        return None
    column = frame.loc[:, "line"]
    if isinstance(column, pd.DataFrame):
        return None
    lines: list[object] = []
    for value in column.tolist():
        if is_missing(value):
            lines.append(None)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if not number.is_integer() or number < 1:
            return None
        lines.append(int(number))
    return lines


def _read_frame(frame: pd.DataFrame) -> pd.DataFrame:
    headers = list(frame.columns)
    # Keys that were moved into the index (frame.set_index(["database_uuid", "backup_uuid"])) still count.
    index_names = [n if n is not None else "" for n in frame.index.names]
    from_index = {}
    for level, index_name in enumerate(index_names):
        canonical = _canonical(_normalise_header(index_name)) if index_name != "" else None
        if canonical in KEY_COLUMNS and all(_canonical(_normalise_header(h)) != canonical for h in headers):
            from_index[canonical] = level
    positions = _map_columns([*headers, *from_index], file=FRAME_SOURCE, line=None)

    source = frame.attrs.get("source")
    lines = _frame_lines(frame, source)
    labels = frame.index.tolist()
    if lines is None:
        lines = [None] * len(frame)
        shown_source = FRAME_SOURCE
    else:
        shown_source = source
    places = [
        f"{source}:{ln}" if ln is not None else f"{FRAME_SOURCE} row {label}"
        for ln, label in zip(lines, labels, strict=True)
    ]
    refs = [f"line {ln}" if ln is not None else f"row {label}" for ln, label in zip(lines, labels, strict=True)]

    def column(name: str) -> list[object]:
        if name in from_index:
            return list(frame.index.get_level_values(from_index[name]))
        return frame.iloc[:, positions[name]].tolist()

    result = _Reader(len(frame), places)
    keys = (result.key(KEY_COLUMNS[0], column(KEY_COLUMNS[0])), result.key(KEY_COLUMNS[1], column(KEY_COLUMNS[1])))
    columns = {f.name: result.field(f, column(f.name)) for f in ALL_FIELDS if f.name in positions}
    result.duplicates(*keys, refs)
    return _build(result, columns, keys, lines, frame.index, shown_source)


# ---------------------------------------------------------------------------------------------------------------
# Public API


def read_changes(source: str | os.PathLike[str] | IO[str] | IO[bytes] | pd.DataFrame) -> pd.DataFrame:
    """Read the changes from a CSV file (path or file object) or any DataFrame into the normalised changes frame.

    Raises `InputError` when the input as a whole cannot be used; problems of single rows go into their row's
    ``errors`` list instead. See the module docstring for the frame's columns.
    """
    if isinstance(source, pd.DataFrame):
        return _read_frame(source)
    return _read_csv(source)


def row_changes(row: Mapping[str, object] | pd.Series) -> dict[str, object]:
    """{field name: value} of the settings and ``backup_now`` one normalised row sets (its non-empty cells).

    ``backup_now`` is included when it is False too (it is not None); keys, ``line`` and ``errors`` are not. A row
    with errors may hold unreadable raw cells: check ``errors`` first.
    """
    changes: dict[str, object] = {}
    for field in ALL_FIELDS:
        if field.name not in row:
            continue
        value = row[field.name]
        if value is None:  # what a normalised frame holds for an empty cell: the usual case, decided at once
            continue
        if isinstance(value, list | tuple | dict) or not is_missing(value):
            changes[field.name] = value
    return changes


def _csv_text(value: object) -> str:
    """One cell of write_csv: spreadsheet-safe text."""
    kind = value.__class__  # the common cells first, by exact type: a file can have hundreds of thousands
    if kind is str:
        return _escape(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return _escape("; ".join(v if isinstance(v, str) else _csv_text(v) for v in value))
    if is_missing(value) and not isinstance(value, str):
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, numbers.Number):
        return str(value)  # a number is no formula: "-1" stays a number in the spreadsheet
    return _escape(str(value))


def write_csv(frame: pd.DataFrame, path_or_buffer: str | os.PathLike[str] | IO[str] | IO[bytes]) -> None:
    """Write any frame (changes, plan, results) as CSV that no spreadsheet runs as formulas.

    Every text cell starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe (so does the
    header; numbers are left alone); lists become ``"; "``-joined text; None and NA become empty cells; booleans
    ``true``/``false``. The index is not written. UTF-8 without BOM, comma-separated, CRLF line ends.
    `read_changes` reads the file back, removing those apostrophes.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_escape(str(c)) for c in frame.columns])
    for column_values in zip(*(frame.iloc[:, i].tolist() for i in range(frame.shape[1])), strict=True):
        writer.writerow([_csv_text(v) for v in column_values])
    text = buffer.getvalue()
    if isinstance(path_or_buffer, str | os.PathLike):
        Path(path_or_buffer).write_bytes(text.encode("utf-8"))
        return
    if _is_binary(path_or_buffer):
        path_or_buffer.write(text.encode("utf-8"))
    else:
        path_or_buffer.write(text)


def _is_binary(buffer: object) -> bool:
    if isinstance(buffer, io.RawIOBase | io.BufferedIOBase):
        return True
    if isinstance(buffer, io.TextIOBase):
        return False
    return "b" in getattr(buffer, "mode", "")
