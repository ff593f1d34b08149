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

``frame.attrs["source"]`` is the name used in the messages (the file's name, escaped to one printable line, or
``"<DataFrame>"``); ``frame.attrs["normalised"]`` marks a frame this module made. Reading such a frame again
re-checks every cell but does not take apostrophes off a second time (so ``plan(read_changes(x))`` reads `x`
exactly once), and keeps the problems only the file showed (extra cells, an unclosed quote).

A file with a header and no rows gives an empty frame (zero rows, the columns above); the CLI says "no rows".

`write_csv()` writes any frame so that no cell runs as a spreadsheet formula, and `read_changes()` reads such a
file back.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import numbers
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from bulkbackup._core.columns import OUTPUT_COLUMNS
from bulkbackup._core.errors import InputError, printable
from bulkbackup._core.fields import (
    _UUID,
    ALL_FIELDS,
    BACKUP_NOW,
    INVENTORY_COLUMNS,
    KEY_ALIASES,
    KEY_COLUMNS,
    SERVER_TRIM,
    SETTING_NAMES,
    CellError,
    Field,
    is_missing,
    read_text,
    uuid_problem,
)
from bulkbackup._core.gcpause import gc_paused

__all__ = ["FRAME_SOURCE", "read_changes", "row_changes", "row_place", "write_csv"]

FRAME_SOURCE = "<DataFrame>"
"""`attrs["source"]` of a frame read from a DataFrame, and the place named in its messages."""

_SEPARATORS = (",", ";", "\t")
# Cells starting with = + - @ tab or CR run as formulas in spreadsheets (OWASP "CSV injection"). write_csv puts
# one apostrophe before such a text, after any apostrophes it already has; read_changes removes exactly one
# apostrophe from such a cell. So "=x" → "'=x" → "=x" and "'=x" → "''=x" → "'=x": every text survives.
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")
_NEEDS_ESCAPE = re.compile(r"'*[=+\-@\t\r]")
_HEADER_JUNK = re.compile(r"[\s\-_]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_NORMALISED = "normalised"  # attrs flag of a frame read_changes made


def _ascii_alnum(text: str) -> bool:
    return text.isascii() and text.isalnum()


_SHOWN_DUPLICATES = 3  # a configuration named by thousands of rows: each message names this many, then a count
_SHOWN_CHARACTERS = 80  # a value longer than this is shown cut, with its length
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
        shown = _shown_text(_unescape(str(header)).replace("\ufeff", "").strip())
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
        first = ", ".join(f"'{_shown_text(_unescape(str(h)).strip())}'" for h in headers[:4])
        first += ", …" if len(headers) > 4 else ""
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
            others = [f"'{s}'" for _, s, _ in unknown[1 : _SHOWN_DUPLICATES + 2]]
            more = len(unknown) - 1 - len(others)
            message += " (also unknown: " + ", ".join(others) + (f" and {more:,} more" if more else "") + ")"
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
    """Remove the apostrophe a spreadsheet-safe export put before a formula character.

    Blanks before it do not count (a CSV reader skips the spaces after a separator; a DataFrame cell keeps them),
    so a file and a frame holding the same cell read the same.
    """
    if isinstance(cell, str) and cell and (cell[0] == "'" or cell[0] in SERVER_TRIM):
        text = cell.lstrip(SERVER_TRIM)
        if _ESCAPED.match(text):
            return text[1:]
    return cell


def _escape(text: str) -> str:
    return "'" + text if _NEEDS_ESCAPE.match(text) else text


def _shown_text(text: str) -> str:
    """A header or cell text as it can stand in a one-line message: escaped, and cut when it is very long."""
    if len(text) > _SHOWN_CHARACTERS:
        text = f"{text[:_SHOWN_CHARACTERS]}… ({len(text):,} characters)"
    return printable(text)


def _shown(value: object) -> str:
    """repr() of a value for a message, cut when it is very long (a 100,000-character cell is still one line)."""
    try:
        text = repr(value)
    except Exception:  # an odd object's repr must not lose the row: name its type instead
        return f"<{type(value).__name__}>"
    if len(text) > _SHOWN_CHARACTERS + 2:
        return f"{text[: _SHOWN_CHARACTERS + 1]}…' ({len(text) - 2:,} characters)"
    return text


class _RowProblem(str):
    """A row error only the file could show (extra cells, an unclosed quote): kept when the frame is read again."""


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
    shown = _shown(value)
    if _mentions(problem, value):
        if len(shown) < len(repr(value)):
            problem = problem.replace(repr(value), shown)
            if isinstance(value, str):
                problem = problem.replace(repr(value.strip()), shown)
        return f"{where}: column '{column}': {problem}"
    return f"{where}: column '{column}', value {shown}: {problem}"


class _Reader:
    """Turns the cells of one input, column by column, into the normalised frame's columns and row errors.

    Bulk files repeat the same few cell texts, so each distinct cell of a column is read and checked once and its
    result shared: the cost follows the distinct values, not the row count.
    """

    def __init__(self, n_rows: int, place: Callable[[int], str], *, unescape: bool = True):
        self.place = place  # row position → "file:line" or "<DataFrame> row label"
        self.unescape = unescape  # False for a frame read before: its apostrophes were taken off already
        self.errors: list[list[str]] = [[] for _ in range(n_rows)]

    def key(self, name: str, cells: list[object]) -> list[str]:
        # Nearly every key is a plain uuid (Coolify's are letters and digits): those need no reading at all.
        def plain(cell: object) -> bool:
            return type(cell) is str and (cell.isalnum() and cell.isascii() or _UUID.fullmatch(cell) is not None)

        if all(cells) and set(map(type, cells)) == {str} and _ascii_alnum("".join(cells)):
            return list(cells)  # every key letters and digits only: the common case, checked in one go
        values: list[str | None] = [c if plain(c) else None for c in cells]
        for i, value in enumerate(values):
            if value is not None:
                continue
            cell = self._unescaped(cells[i])
            if is_missing(cell):
                values[i] = ""
                self.errors[i].append(
                    f"{self.place(i)}: column '{name}' is empty: every row needs {_MISSING_KEY_HINT[name]}"
                )
                continue
            try:
                text = read_text(cell)
            except CellError as error:
                values[i] = ""
                self.errors[i].append(_cell_message(self.place(i), name, cell, str(error)))
                continue
            values[i] = text
            problem = uuid_problem(text)
            if problem:
                self.errors[i].append(_cell_message(self.place(i), name, text, problem))
        return values  # type: ignore[return-value]

    def field(self, field: Field, cells: list[object]) -> list[object]:
        try:
            # A cell's type is part of its identity: True, 1 and 1.0 are equal keys of a dict but not one cell. So
            # the type joins the key, unless the column holds one type (and None, equal to nothing else).
            types = set(map(type, cells))
            types.discard(type(None))
            plain = len(types) <= 1
            keys: list[object] = cells if plain else list(zip(map(type, cells), cells, strict=True))
            read = {key: self._read_cell(field, key if plain else key[1]) for key in dict.fromkeys(keys)}
        except TypeError:  # an unhashable cell (a list): read every cell on its own
            return self._field_one_by_one(field, cells)
        value_of = {key: value for key, (value, _) in read.items()}
        values = list(map(value_of.__getitem__, keys))
        failing = {key for key, (_, problems) in read.items() if problems}
        if failing:
            for i, key in enumerate(keys):
                if key in failing:
                    for shown, problem in read[key][1]:
                        self.errors[i].append(_cell_message(self.place(i), field.name, shown, problem))
        return values

    def _field_one_by_one(self, field: Field, cells: list[object]) -> list[object]:
        values = []
        for i, cell in enumerate(cells):
            value, problems = self._read_cell(field, cell)
            values.append(value)
            for shown, problem in problems:
                self.errors[i].append(_cell_message(self.place(i), field.name, shown, problem))
        return values

    def _unescaped(self, cell: object) -> object:
        return _unescape(cell) if self.unescape else cell

    def _read_cell(self, field: Field, cell: object) -> tuple[object, list[tuple[object, str]]]:
        """(value to keep, [(value shown, problem)]) of one cell; (None, []) for an empty one."""
        try:
            cell = self._unescaped(cell)
            if is_missing(cell):
                return None, []
            value = field.read(cell)
            return value, [(value, problem) for problem in field.problems(value)]
        except CellError as error:
            # Keep what was given: the row is invalid, and reading this frame again reports the same error.
            return cell, [(cell, str(error))]
        except Exception as error:  # noqa: BLE001
            # A reader that trips over an absurd cell (an odd numeric type, a failing __str__) must not lose the
            # whole file: it is this row's error.
            return cell, [(cell, f"{_shown(cell)} cannot be read as {field.kind.value}: {type(error).__name__}")]

    def duplicates(self, database_uuids: list[str], backup_uuids: list[str], ref: Callable[[int], str]) -> None:
        """Every row that targets a configuration some other row targets too is invalid."""
        n_rows = len(database_uuids)
        if len(set(backup_uuids)) == n_rows or len(set(zip(database_uuids, backup_uuids, strict=True))) == n_rows:
            return  # backup uuids are unique across a server: usually the first test settles it
        rows: dict[tuple[str, str], list[int]] = {}
        for i, key in enumerate(zip(database_uuids, backup_uuids, strict=True)):
            if key[0] and key[1]:
                rows.setdefault(key, []).append(i)
        for (database_uuid, backup_uuid), found in rows.items():
            if len(found) < 2:
                continue
            for i in found:
                # Name a few of the others and count the rest, so 12,000 copies of one row stay linear in size.
                others = [j for j in found[: _SHOWN_DUPLICATES + 1] if j != i][:_SHOWN_DUPLICATES]
                rest = len(found) - 1 - len(others)
                named = ", ".join(ref(j) for j in others) + (f" and {rest:,} more rows" if rest else "")
                self.errors[i].append(
                    f"{self.place(i)}: the backup configuration database_uuid {_shown(database_uuid)}, backup_uuid "
                    f"{_shown(backup_uuid)} is also targeted by {named}: a configuration may appear only once, so "
                    "none of these rows is used"
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
    frame.attrs[_NORMALISED] = True
    return frame


# ---------------------------------------------------------------------------------------------------------------
# CSV files


_BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _encoding(data: bytes) -> tuple[str, int]:
    """(codec, BOM length) of a file: a BOM says it; without one, the NUL bytes of an ASCII header do."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    head = data[:4]
    if len(head) == 4 and b"\x00" in head:
        nul = [b == 0 for b in head]
        for pattern, codec in (
            ([False, True, True, True], "utf-32-le"),
            ([True, True, True, False], "utf-32-be"),
            ([False, True, False, True], "utf-16-le"),
            ([True, False, True, False], "utf-16-be"),
        ):
            if nul == pattern:
                return codec, 0
    return "utf-8", 0


def _decode(data: bytes, name: str) -> str:
    codec, bom = _encoding(data)
    try:
        return data[bom:].decode(codec)
    except UnicodeDecodeError as error:
        position = bom + error.start
        line = data[:position].count(b"\n" if codec == "utf-8" else "\n".encode(codec)) + 1
        if codec != "utf-8":
            raise InputError(
                f"the file starts like {codec.upper()} text but is not valid {codec.upper()} "
                f"(at byte {position}); save it as 'CSV UTF-8'",
                file=name,
                line=line,
            ) from None
        # Not guessed: a wrong guess would change names silently. Say which encoding it most likely is instead.
        try:
            data.decode("cp1252")
            likely = " (it looks like Windows-1252/Latin-1, the 'CSV (Comma delimited)' of Excel on Windows)"
        except UnicodeDecodeError:
            likely = ""
        raise InputError(
            f"the file is not UTF-8 text (byte 0x{data[position]:02x}){likely}; save it as 'CSV UTF-8' (or UTF-16)",
            file=name,
            line=line,
        ) from None


def _source_text(source: object) -> tuple[str, str]:
    """(name shown in messages, decoded text) of a path or file object."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        name = printable(path.name or str(path))
        try:
            data: bytes | str = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read the file: {error.strerror or error}", file=str(path)) from None
    elif hasattr(source, "read"):
        raw_name = getattr(source, "name", None)
        name = printable(Path(raw_name).name) if isinstance(raw_name, str) and raw_name else "<stream>"
        try:
            data = source.read()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read the file: {error}", file=name) from None
    else:
        raise TypeError(f"read_changes() takes a path, a file object or a DataFrame, not {type(source).__name__}")
    if isinstance(data, bytes | bytearray):
        text = _decode(bytes(data), name)
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
    return not "".join(cells).strip(SERVER_TRIM)


_UNCLOSED = (
    'a quote (") opened on this line is never closed, so the rest of the file would be one cell: this row is not '
    "used, and the lines after it are read as rows of their own (close the quote, or remove it)"
)
# The csv module refuses a cell above 131,072 characters by default; one absurd cell must not lose the file.
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


def _records(lines: list[str], separator: str) -> tuple[list[int], list[list[str]], dict[int, str]]:
    """(first physical line of each record, its cells, {record position: problem}), blank records included.

    An unclosed quote makes the csv module read everything after it as one cell. Such a record becomes one row of
    its own line with the problem, and reading starts again on the next line, so the rows after it are kept.
    """

    def alone(line: str) -> list[str]:
        return next(csv.reader([line], delimiter=separator, skipinitialspace=True), [])

    starts: list[int] = []
    rows: list[list[str]] = []
    problems: dict[int, str] = {}
    first = 0  # index of the first line still to read
    previous_limit = csv.field_size_limit(_FIELD_LIMIT)
    try:
        while first < len(lines):
            reader = csv.reader(lines[first:] if first else lines, delimiter=separator, skipinitialspace=True)
            end = first
            try:
                for cells in reader:
                    starts.append(end + 1)
                    rows.append(cells)
                    end = first + reader.line_num
            except csv.Error as error:
                start = end + 1
                problems[len(rows)] = f"the line cannot be read as CSV: {error}"
                starts.append(start)
                rows.append(alone(lines[start - 1]))
                first = start
                continue
            start = starts[-1] if starts else 0
            if start > first and end > start and "".join(lines[start - 1 : end]).count('"') % 2:
                problems[len(rows) - 1] = _UNCLOSED
                rows[-1] = alone(lines[start - 1])
                first = start
                continue
            break
    finally:
        csv.field_size_limit(previous_limit)
    return starts, rows, problems


def _read_csv(source: object) -> pd.DataFrame:
    name, text = _source_text(source)
    lines = io.StringIO(text, newline="").readlines()
    header_text = next((ln for ln in lines if ln.strip(" \t\r\n,;\"'")), None)
    if header_text is None:
        raise _empty(name)
    separator = _sniff(header_text)
    all_starts, all_rows, all_problems = _records(lines, separator)
    # The first cell's first character tells most rows from blank ones without joining them.
    kept = [
        i
        for i, cells in enumerate(all_rows)
        if (cells and cells[0] and cells[0][0] not in SERVER_TRIM) or not _is_blank(cells) or i in all_problems
    ]
    if not kept:
        raise _empty(name)
    header_at, kept = kept[0], kept[1:]
    header, header_line = all_rows[header_at], all_starts[header_at]
    if header_at in all_problems:
        problem = all_problems[header_at]
        raise InputError(problem.split(",")[0] if problem == _UNCLOSED else problem, file=name, line=header_line)
    if len(kept) == len(all_rows) - 1:  # no blank line: keep the lists as they are
        starts, rows = all_starts[1:], all_rows[1:]
        problems = {i - 1: problem for i, problem in all_problems.items()}
    else:
        starts, rows = [all_starts[i] for i in kept], [all_rows[i] for i in kept]
        problems = {j: all_problems[i] for j, i in enumerate(kept) if i in all_problems}
    del all_starts, all_rows
    positions = _map_columns(header, file=name, line=header_line)

    width = len(header)
    nameless = [p for p, h in enumerate(header) if not _normalise_header(h)]

    def place(i: int) -> str:
        return f"{name}:{starts[i]}"

    result = _Reader(len(rows), place)
    for i, problem in problems.items():
        result.errors[i].append(_RowProblem(f"{place(i)}: {problem}"))
    for i in [i for i, cells in enumerate(rows) if len(cells) != width]:
        cells = rows[i]
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            extra = cells[width:]
            shown = ", ".join(_shown(c) for c in extra[:_SHOWN_DUPLICATES])
            shown += f" and {len(extra) - _SHOWN_DUPLICATES} more" if len(extra) > _SHOWN_DUPLICATES else ""
            result.errors[i].append(
                _RowProblem(
                    f"{place(i)}: the row has {len(cells)} cells but the header has {width} columns; the extra "
                    f"value(s) {shown} belong to no column (a '{_shown_sep(separator)}' inside a cell? put that "
                    "cell in double quotes)"
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
                    _RowProblem(f"{place(i)}: column {position + 1} has no name in the header but holds {_shown(cell)}")
                )

    def column(position: int) -> list[object]:
        return list(by_position[position])

    keys = (
        result.key(KEY_COLUMNS[0], column(positions[KEY_COLUMNS[0]])),
        result.key(KEY_COLUMNS[1], column(positions[KEY_COLUMNS[1]])),
    )
    columns = {f.name: result.field(f, column(positions[f.name])) for f in ALL_FIELDS if f.name in positions}
    result.duplicates(*keys, lambda j: f"line {starts[j]}")
    _name_swallowed_lines(result, rows, starts, positions, len(lines))
    return _build(result, columns, keys, starts, pd.RangeIndex(len(rows)), name)


def _name_swallowed_lines(
    result: _Reader, rows: list[list[str]], starts: list[int], positions: dict[str, int], n_lines: int
) -> None:
    """A quote left open that a later quote closed takes the lines in between into one cell. The cell is then
    invalid (no setting holds such text); say which lines it took, so the rows hidden in it can be found."""
    ends = [*starts[1:], n_lines + 1][: len(starts)]
    for i in [i for i, (start, end) in enumerate(zip(starts, ends, strict=True)) if end - start > 1]:
        for name, position in positions.items():
            breaks = len(_LINE_BREAK.findall(rows[i][position].strip(SERVER_TRIM)))
            if breaks and any(f"column '{name}'" in message for message in result.errors[i]):
                result.errors[i].append(
                    _RowProblem(
                        f"{result.place(i)}: the quoted cell of column '{name}' runs over lines {starts[i]}-"
                        f"{starts[i] + breaks}: a quote left open? (the lines in between were read as part of it)"
                    )
                )
                break


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
    result = _Reader(len(frame), place, unescape=not normalised)
    if normalised and "errors" in frame.columns and isinstance(frame.loc[:, "errors"], pd.Series):
        for i, found in enumerate(frame.loc[:, "errors"].tolist()):
            if found and isinstance(found, list):
                result.errors[i].extend(e for e in found if isinstance(e, _RowProblem))
    keys = (result.key(KEY_COLUMNS[0], column(KEY_COLUMNS[0])), result.key(KEY_COLUMNS[1], column(KEY_COLUMNS[1])))
    columns = {f.name: result.field(f, column(f.name)) for f in ALL_FIELDS if f.name in positions}
    result.duplicates(*keys, ref)
    return _build(result, columns, keys, lines, frame.index, shown_source)


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
    ``errors`` list instead. See the module docstring for the frame's columns.
    """
    # Millions of cells become lists and tuples, none of them garbage yet: see state.gc_paused.
    with gc_paused():
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
    if isinstance(value, numbers.Number) and _is_finite(value):
        return str(value)  # a finite number is no formula: "-1" stays a number in the spreadsheet
    return _escape(str(value))  # "-inf" is text to a spreadsheet, and text starting with "-" can be a formula


def _is_finite(value: numbers.Number) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ArithmeticError):
        return False


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
    # backslashreplace: a lone surrogate (a DataFrame cell made from an undecodable file name) must not lose the
    # record being written; that cell was invalid anyway.
    if isinstance(path_or_buffer, str | os.PathLike):
        Path(path_or_buffer).write_bytes(text.encode("utf-8", "backslashreplace"))
        return
    if _is_binary(path_or_buffer):
        path_or_buffer.write(text.encode("utf-8", "backslashreplace"))
    else:
        path_or_buffer.write(text)


def _is_binary(buffer: object) -> bool:
    if isinstance(buffer, io.RawIOBase | io.BufferedIOBase):
        return True
    if isinstance(buffer, io.TextIOBase):
        return False
    return "b" in getattr(buffer, "mode", "")
