"""Spreadsheet-safe CSV: `write_csv` writes any frame so that no cell runs as a formula, `read_csv` reads such a
file back exactly, and `unescape` is the one rule by which `read_changes` takes the guard's apostrophe off.

Cells starting with = + - @ tab or CR run as formulas in spreadsheets (OWASP "CSV injection"). `write_csv` puts one
apostrophe before such a text, after any apostrophes it already has; reading removes exactly one apostrophe from
such a cell. So "=x" → "'=x" → "=x" and "'=x" → "''=x" → "'=x": every text survives.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
import re
from pathlib import Path
from typing import IO

import pandas as pd

from bulkbackup._core.fields import SERVER_TRIM, is_missing
from bulkbackup._input.export_memory import column_for
from bulkbackup._input.files import source_text

__all__ = ["read_csv", "unescape", "write_csv"]

_ESCAPED = re.compile(r"'+[=+\-@\t\r]")
_NEEDS_ESCAPE = re.compile(r"'*[=+\-@\t\r]")
_INT_TEXT = re.compile(r"0|-?[1-9][0-9]*")  # as str(int) writes it: "-0" and "007" are not, and stay text
_SAFE_INTEGER = 2**53  # beyond it a float no longer holds every integer: write it as it is


def unescape(cell: object) -> object:
    """Remove the apostrophe a spreadsheet-safe export put before a formula character.

    Blanks before it do not count (a CSV reader skips the spaces after a separator; a DataFrame cell keeps them),
    so a file and a frame holding the same cell read the same.
    """
    if isinstance(cell, str) and cell and (cell[0] == "'" or cell[0] in SERVER_TRIM):
        text = cell.lstrip(SERVER_TRIM)
        if _ESCAPED.match(text):
            return text[1:]
    return cell


def escape(text: str) -> str:
    return "'" + text if _NEEDS_ESCAPE.match(text) else text


def _csv_text(value: object) -> str:
    """One cell of write_csv: spreadsheet-safe text."""
    kind = value.__class__  # the common cells first, by exact type: a file can have hundreds of thousands
    if kind is str:
        return escape(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return escape("; ".join(v if isinstance(v, str) else _csv_text(v) for v in value))
    if is_missing(value) and not isinstance(value, str):
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, numbers.Number) and _is_finite(value):
        return str(value)  # a finite number is no formula: "-1" stays a number in the spreadsheet
    return escape(str(value))  # "-inf" is text to a spreadsheet, and text starting with "-" can be a formula


def _is_finite(value: numbers.Number) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ArithmeticError):
        return False


def _cells(column: pd.Series) -> list[object]:
    """The values of one column to write. A column of whole numbers that pandas holds as floats (an integer column
    with an empty cell becomes float64) is written as integers: 14400, not 14400.0 — the same number."""
    values = column.tolist()
    if column.dtype.kind != "f" and column.dtype != object:
        return values
    numbers_ = [v for v in values if not (v is None or is_missing(v))]
    if not numbers_ or not all(type(v) in (float, int) for v in numbers_):
        return values
    if not any(type(v) is float for v in numbers_):
        return values
    if not all(math.isfinite(v) and v == int(v) and abs(v) < _SAFE_INTEGER for v in numbers_):
        return values
    return [v if v is None or is_missing(v) else int(v) for v in values]


def write_csv(frame: pd.DataFrame, path_or_buffer: str | os.PathLike[str] | IO[str] | IO[bytes]) -> None:
    """Write any frame (changes, plan, results) as CSV that no spreadsheet runs as formulas.

    Every text cell starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe (so does the
    header; numbers are left alone); lists become ``"; "``-joined text; None and NA become empty cells; booleans
    ``true``/``false``; a column of whole numbers is written without ``.0``. The index is not written. UTF-8
    without BOM, comma-separated, CRLF line ends. `read_changes` and `read_csv` read the file back, removing those
    apostrophes. A frame carrying its export's memory (`bb.inventory`'s) gets it as a last column, `exported`.
    """
    frame = column_for(frame)  # a frame carrying its export's memory writes it as the column `exported`
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([escape(str(c)) for c in frame.columns])
    for column_values in zip(*(_cells(frame.iloc[:, i]) for i in range(frame.shape[1])), strict=True):
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


def read_csv(path_or_buffer: str | os.PathLike[str] | IO[str] | IO[bytes]) -> pd.DataFrame:
    """Read a CSV that `write_csv` wrote (an export, a plan, results, an undo file) back into a DataFrame.

    Unlike ``pd.read_csv`` it takes the formula guard's apostrophe off (``'@daily`` reads ``@daily``), exactly once.
    A column becomes numbers or booleans only when every cell reads back to the same text (``true``/``false``,
    ``14400``, ``0.5``): ``007`` stays text. An integer or boolean column with empty cells is nullable (``Int64``,
    ``boolean``); an empty text cell is None.
    """
    _name, text, _likely = source_text(path_or_buffer)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return pd.DataFrame()
    header, body = rows[0], rows[1:]
    data = [_column([row[p] if p < len(row) else "" for row in body]) for p in range(len(header))]
    frame = pd.DataFrame(dict(enumerate(data)), index=pd.RangeIndex(len(body)))
    frame.columns = [unescape(title) for title in header]
    return frame


def _column(cells: list[str]) -> pd.Series:
    filled = [c for c in cells if c != ""]
    blanks = len(filled) < len(cells)
    if filled and all(c in ("true", "false") for c in filled):
        flags = [None if c == "" else c == "true" for c in cells]
        return pd.Series(pd.array(flags, dtype="boolean")) if blanks else pd.Series(flags, dtype=bool)
    if filled and all(_INT_TEXT.fullmatch(c) and abs(int(c)) < 2**63 for c in filled):
        ints = [None if c == "" else int(c) for c in cells]
        return pd.Series(pd.array(ints, dtype="Int64")) if blanks else pd.Series(ints, dtype="int64")
    if filled and all(_exact_float(c) for c in filled):
        return pd.Series([math.nan if c == "" else float(c) for c in cells], dtype="float64")
    return pd.Series([None if c == "" else unescape(c) for c in cells], dtype=object)


def _exact_float(text: str) -> bool:
    try:
        return str(float(text)) == text and math.isfinite(float(text))
    except ValueError:
        return False
