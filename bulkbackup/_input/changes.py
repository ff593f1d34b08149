"""Reading the changes: a CSV file or any DataFrame in, the normalised changes frame out.

`read_changes()` is the one entry point through which every input reaches `plan()` and `apply()`. It never
contacts a server. It raises `InputError` only when the input as a whole cannot be used (unreadable or empty
file, a workbook instead of CSV, no header, unknown, doubled or missing key columns); every problem of a single
row goes into that row's `errors` list as a full sentence naming the place (``file:line`` or
``<DataFrame> row <label>``), the column and the value, so one bad row never loses the good ones.

The normalised changes frame has, in this order:

- ``line``: the 1-based physical line of the row in the CSV file (the header is line 1), pandas ``Int64``; NA for
  rows that did not come from a file;
- ``instance`` (only when the input has it): the Coolify instance (`client.name`) each row is for, text ("" when
  empty); the plan routes rows by it;
- ``database_uuid``, ``backup_uuid``: text ("" when the cell was empty, which is an error of the row);
- one column per setting present in the input, in `SETTINGS` order, then ``backup_now`` if present: object
  columns holding native values as `Field.read` returns them (bool, int, float, str, or `CLEAR`), None for an
  empty cell ("leave unchanged"); a cell that cannot be read keeps its original value and the row has an error;
- ``errors``: a list of message strings per row, empty when the row is fine.

``frame.attrs["source"]`` is the name used in the messages (the file's name, escaped to one printable line, or
``"<DataFrame>"``); ``frame.attrs["normalised"]`` marks a frame this module made. Reading such a frame again
re-checks every cell but does not take apostrophes off a second time (so ``plan(read_changes(x))`` reads `x`
exactly once), and keeps the problems only the file showed (extra cells, an unclosed quote).

A file with a header and no rows gives an empty frame (zero rows, the columns above); the CLI says "no rows".

The parts: `files` (bytes to records), `checks` (the header and the keys), `cells` (each cell by its field's
kind), `problems` (a problem repeated down a column said once), `safe_csv` (the formula guard, `write_csv`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import IO, Any

import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import ALL_FIELDS, KEY_COLUMNS, SERVER_TRIM, is_missing
from bulkbackup._core.gcpause import gc_paused
from bulkbackup._input.cells import Reader, RowProblem, Untouched, shown
from bulkbackup._input.checks import SHOWN_DUPLICATES, canonical, duplicates, map_columns, normalise_header
from bulkbackup._input.exported import remembering
from bulkbackup._input.files import encoding_problem, read_table, shown_separator, undecodable
from bulkbackup._input.safe_csv import write_csv

__all__ = ["FRAME_SOURCE", "read_changes", "row_changes", "row_place", "write_csv"]

FRAME_SOURCE = "<DataFrame>"
"""`attrs["source"]` of a frame read from a DataFrame, and the place named in its messages."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_NORMALISED = "normalised"  # attrs flag of a frame read_changes made
_LIKELY = "likely_encoding"  # attrs: what a file that was not all UTF-8 most likely was, for reading it again


def _read_columns(
    result: Reader, positions: dict[str, int], column: Callable[[str], list[object]], likely: str
) -> tuple[tuple[list[str], list[str]], dict[str, list[object]]]:
    """The keys and the setting columns present, each cell read by its field; a cell holding bytes that were not
    UTF-8 is an error of its row (and is not read), so such bytes only matter in a column that is used."""

    def read(name: str, reader: Callable[..., list[Any]], *args: object) -> list[Any]:
        cells = column(name)
        return reader(*args, cells, skip=_undecodable_cells(result, name, cells, likely))

    keys = (read(KEY_COLUMNS[0], result.key, KEY_COLUMNS[0]), read(KEY_COLUMNS[1], result.key, KEY_COLUMNS[1]))
    columns = {f.name: read(f.name, result.field, f) for f in ALL_FIELDS if f.name in positions}
    if INSTANCE in positions:  # kept as a column of its own: rows are routed by it, never read as a setting
        columns[INSTANCE] = read(INSTANCE, result.instance, INSTANCE)
    return keys, columns


def _undecodable_cells(result: Reader, name: str, cells: list[object], likely: str) -> set[int]:
    if not likely:  # the file was UTF-8 throughout (or a frame not read from a file that was not)
        return set()
    texts = [c for c in cells if type(c) is str]
    if not texts or undecodable("".join(texts)) is None:  # the usual case: one pass over the column
        return set()
    bad: set[int] = set()
    for i, cell in enumerate(cells):
        byte = undecodable(cell) if type(cell) is str else None
        if byte:
            bad.add(i)
            result.problem(
                i,
                name,
                cell,
                encoding_problem(byte, likely),
                kind="hold bytes that are not UTF-8 text",
                fix="save the file as 'CSV UTF-8' (or UTF-16)",
            )
    return bad


def _build(
    reader: Reader,
    columns: dict[str, list[object]],
    keys: tuple[list[str], list[str]],
    lines: list[int | None],
    index: pd.Index,
    source: str,
    likely: str = "",
) -> pd.DataFrame:
    def objects(values: list[Any]) -> pd.Series:
        return pd.Series(values, index=index, dtype=object)

    data: dict[str, pd.Series] = {"line": pd.Series(pd.array(lines, dtype="Int64"), index=index)}
    if INSTANCE in columns:
        data[INSTANCE] = pd.Series(columns[INSTANCE], index=index, dtype=str)
    data |= {
        KEY_COLUMNS[0]: pd.Series(keys[0], index=index, dtype=str),
        KEY_COLUMNS[1]: pd.Series(keys[1], index=index, dtype=str),
    }
    for field in ALL_FIELDS:
        if field.name in columns:
            data[field.name] = objects(columns[field.name])
    data["errors"] = objects(reader.errors)
    frame = pd.DataFrame(data, index=index)
    frame.attrs["source"] = source
    frame.attrs[_NORMALISED] = True
    if likely:
        frame.attrs[_LIKELY] = likely
    return frame


# ---------------------------------------------------------------------------------------------------------------
# CSV files


def _read_csv(source: object, untouched: Untouched | None) -> pd.DataFrame:
    table = read_table(source)
    name, header, starts, rows = table.name, table.header, table.starts, table.rows
    positions = map_columns(header, file=name, line=table.header_line)
    width = len(header)
    nameless = [p for p, h in enumerate(header) if not normalise_header(h)]

    def place(i: int) -> str:
        return f"{name}:{starts[i]}"

    result = Reader(len(rows), place, ref=lambda j: f"line {starts[j]}", untouched=untouched)
    for i, problem in table.problems.items():
        result.errors[i].append(RowProblem(f"{place(i)}: {problem}"))
    for i in [i for i, cells in enumerate(rows) if len(cells) != width]:
        cells = rows[i]
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            extra = cells[width:]
            listed = ", ".join(shown(c) for c in extra[:SHOWN_DUPLICATES])
            listed += f" and {len(extra) - SHOWN_DUPLICATES} more" if len(extra) > SHOWN_DUPLICATES else ""
            result.errors[i].append(
                RowProblem(
                    f"{place(i)}: the row has {len(cells)} cells but the header has {width} columns; the extra "
                    f"value(s) {listed} belong to no column (a '{shown_separator(table.separator)}' inside a "
                    "cell? put that cell in double quotes)"
                )
            )
        elif len(cells) < width:
            rows[i] = cells + [""] * (width - len(cells))
    # Every row has at least `width` cells now: one transposition gives the columns.
    by_position = list(zip(*rows, strict=False)) if rows else [()] * width
    for position in nameless:
        for i, cell in enumerate(by_position[position]):
            if cell and cell.strip(SERVER_TRIM):
                result.errors[i].append(
                    RowProblem(f"{place(i)}: column {position + 1} has no name in the header but holds {shown(cell)}")
                )

    keys, columns = _read_columns(result, positions, lambda n: list(by_position[positions[n]]), table.likely)
    duplicates(result.errors, place, keys, lambda j: f"line {starts[j]}", columns.get(INSTANCE))
    _name_swallowed_lines(result, rows, starts, positions, table.n_lines)
    return _build(result, columns, keys, starts, pd.RangeIndex(len(rows)), name, table.likely)


def _name_swallowed_lines(
    result: Reader, rows: list[list[str]], starts: list[int], positions: dict[str, int], n_lines: int
) -> None:
    """A quote left open that a later quote closed takes the lines in between into one cell. The cell is then
    invalid (no setting holds such text); say which lines it took, so the rows hidden in it can be found."""
    ends = [*starts[1:], n_lines + 1][: len(starts)]
    for i in [i for i, (start, end) in enumerate(zip(starts, ends, strict=True)) if end - start > 1]:
        for name, position in positions.items():
            breaks = len(_LINE_BREAK.findall(rows[i][position].strip(SERVER_TRIM)))
            if breaks and any(f"column '{name}'" in message for message in result.errors[i]):
                result.errors[i].append(
                    RowProblem(
                        f"{result.place(i)}: the quoted cell of column '{name}' runs over lines {starts[i]}-"
                        f"{starts[i] + breaks}: a quote left open? (the lines in between were read as part of it)"
                    )
                )
                break


# ---------------------------------------------------------------------------------------------------------------
# DataFrames


def _frame_lines(frame: pd.DataFrame, source: object) -> list[object] | None:
    """The file lines of a frame that read_changes (or plan/apply after it) made from a file, else None."""
    if not isinstance(source, str) or source == FRAME_SOURCE or "line" not in frame.columns:
        return None
    column = frame.loc[:, "line"]
    if isinstance(column, pd.DataFrame):
        return None
    if pd.api.types.is_integer_dtype(column.dtype):  # the Int64 column read_changes made: no per-value parsing
        if (column.dropna() < 1).any():
            return None
        return [None if value is pd.NA else int(value) for value in column.tolist()]
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


def _read_frame(frame: pd.DataFrame, untouched: Untouched | None) -> pd.DataFrame:
    headers = list(frame.columns)
    # Keys that were moved into the index (frame.set_index(["database_uuid", "backup_uuid"])) still count.
    index_names = [n if n is not None else "" for n in frame.index.names]
    from_index = {}
    for level, index_name in enumerate(index_names):
        named = canonical(normalise_header(index_name)) if index_name != "" else None
        if named in KEY_COLUMNS and all(canonical(normalise_header(h)) != named for h in headers):
            from_index[named] = level
    positions = map_columns([*headers, *from_index], file=FRAME_SOURCE, line=None)

    source = frame.attrs.get("source")
    lines = _frame_lines(frame, source)
    if lines is None:
        lines = [None] * len(frame)
        shown_source = FRAME_SOURCE
    else:
        shown_source = source
    place = _placer(frame.index, lines, shown_source, prefix="")
    ref = _placer(frame.index, lines, shown_source, prefix="ref")

    def column(name: str) -> list[object]:
        if name in from_index:
            return list(frame.index.get_level_values(from_index[name]))
        return frame.iloc[:, positions[name]].tolist()

    # A frame this module made holds values already read: reading them again must not unescape them twice.
    normalised = bool(frame.attrs.get(_NORMALISED))
    result = Reader(len(frame), place, ref=ref, unescape=not normalised, untouched=untouched)
    if normalised and "errors" in frame.columns and isinstance(frame.loc[:, "errors"], pd.Series):
        for i, found in enumerate(frame.loc[:, "errors"].tolist()):
            if isinstance(found, list) and found:
                result.errors[i].extend(e for e in found if isinstance(e, RowProblem))
    likely = str(frame.attrs.get(_LIKELY) or "") if normalised else ""
    keys, columns = _read_columns(result, positions, column, likely)
    duplicates(result.errors, place, keys, ref, columns.get(INSTANCE))
    return _build(result, columns, keys, lines, frame.index, shown_source, likely)


def _placer(index: pd.Index, lines: list, source: str, *, prefix: str) -> Callable[[int], str]:
    """Row position → its place in messages ("file:line", "<DataFrame> row label") or, with prefix "ref", the short
    form other rows' messages use ("line 3", "row label"). With duplicate index labels the position is added, so a
    message still points at one row."""
    labels = index
    unique = index.is_unique

    def place(i: int) -> str:
        line = lines[i]
        label = labels[i]
        at = "" if unique else f" (position {i})"
        if prefix == "ref":
            return f"line {line}" if line is not None else f"row {label}{at}"
        return f"{source}:{line}" if line is not None else f"{FRAME_SOURCE} row {label}{at}"

    return place


def row_place(frame: pd.DataFrame) -> Callable[[int], str]:
    """Row position → the place read_changes names that row of a normalised frame by (for plan's own messages)."""
    source = frame.attrs.get("source") or FRAME_SOURCE
    lines = _frame_lines(frame, source)
    if lines is None:
        lines, source = [None] * len(frame), FRAME_SOURCE
    return _placer(frame.index, lines, source, prefix="")


# ---------------------------------------------------------------------------------------------------------------
# Public API


def read_changes(source: str | os.PathLike[str] | IO[str] | IO[bytes] | pd.DataFrame) -> pd.DataFrame:
    """Read the changes from a CSV file (path or file object) or any DataFrame into the normalised changes frame.

    Raises `InputError` when the input as a whole cannot be used; problems of single rows go into their row's
    ``errors`` list instead. See the module docstring for the frame's columns. An export's memory (its `exported`
    column, or an inventory frame's `attrs["exported"]`) is honoured: a cell still as exported is read as empty.
    """
    return remembering(source, read)


def read(source: object, *, untouched: Untouched | None = None) -> pd.DataFrame:
    """`read_changes`, with the seam for an export's memory: `untouched(row, column, cell)` says which cells are
    still what was exported; those are read as empty ("leave unchanged") and never make their row invalid."""
    # Millions of cells become lists and tuples, none of them garbage yet: see gcpause.gc_paused.
    with gc_paused():
        if isinstance(source, pd.DataFrame):
            return _read_frame(source, untouched)
        return _read_csv(source, untouched)


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
