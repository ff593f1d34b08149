"""Reading a changes file into records: encodings and BOMs, the separator, physical lines and quotes.

Nothing here knows what a column means. `read_table()` turns a path or file object into the header and the rows
as lists of text cells, each with its first physical line, plus the problems only the file could show (a line
that is not CSV, a quote left open). A file as a whole that cannot be used raises `InputError`.

Bytes that are not UTF-8 do not refuse the file by themselves: they are kept as lone surrogates (Python's
``surrogateescape``) and only a cell that is really used and holds one is an error (`undecodable`), so a German
Excel's cp1252 names in an ignored column cost nothing. A header that is not UTF-8 still refuses the file.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bulkbackup._core.errors import InputError, printable
from bulkbackup._core.fields import SERVER_TRIM

SEPARATORS = (",", ";", "\t")

_BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# A spreadsheet saved in its own format instead of CSV: say so instead of "byte 0x84 is not UTF-8".
_WORKBOOKS = (
    (b"PK\x03\x04", "a spreadsheet workbook (.xlsx/.ods, a zip file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"),
)
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of a byte that is not UTF-8

UNCLOSED = (
    'a quote (") opened on this line is never closed, so the rest of the file would be one cell: this row is not '
    "used, and the lines after it are read as rows of their own (close the quote, or remove it)"
)
# The csv module refuses a cell above 131,072 characters by default; one absurd cell must not lose the file.
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


@dataclass
class Table:
    """The records of one file: its header, and its non-blank rows with their physical lines and problems."""

    name: str  # the file's name as messages show it
    separator: str
    header: list[str]
    header_line: int
    starts: list[int]  # first physical line of each row
    rows: list[list[str]]
    problems: dict[int, str] = field(default_factory=dict)  # row position → a problem only the file shows
    n_lines: int = 0
    likely: str = ""  # what the encoding most likely is, when some bytes are not UTF-8


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


def _decode(data: bytes, name: str) -> tuple[str, str]:
    """(text, likely encoding or "" when all of it is UTF-8). Undecodable UTF-8 bytes become lone surrogates."""
    for magic, what in _WORKBOOKS:
        if data.startswith(magic):
            raise InputError(
                f"this is {what}, not a CSV file: open it in the spreadsheet and save it as 'CSV UTF-8' "
                "(File › Save As › CSV UTF-8 (Comma delimited))",
                file=name,
            )
    codec, bom = _encoding(data)
    try:
        return data[bom:].decode(codec), ""
    except UnicodeDecodeError as error:
        if codec == "utf-8":
            # Not guessed: a wrong guess would change names silently. The cells that hold such bytes are errors
            # only if they are used; say which encoding it most likely is.
            try:
                data.decode("cp1252")
                likely = "it looks like Windows-1252/Latin-1, the 'CSV (Comma delimited)' of Excel on Windows"
            except UnicodeDecodeError:
                likely = "not UTF-8"
            return data[bom:].decode(codec, "surrogateescape"), likely
        position = bom + error.start
        line = data[:position].count("\n".encode(codec)) + 1
        raise InputError(
            f"the file starts like {codec.upper()} text but is not valid {codec.upper()} "
            f"(at byte {position}); save it as 'CSV UTF-8'",
            file=name,
            line=line,
        ) from None


def undecodable(cell: str) -> str | None:
    """The first byte of `cell` that was not UTF-8, as "0xfc", or None."""
    found = _UNDECODABLE.search(cell)
    return f"0x{ord(found.group()) - 0xDC00:02x}" if found else None


def encoding_problem(byte: str, likely: str) -> str:
    """The problem of a used cell holding a byte that is not UTF-8 (the file is not guessed)."""
    return f"holds byte {byte}, which is not UTF-8 text ({likely}); save the file as 'CSV UTF-8' (or UTF-16)"


def source_text(source: object) -> tuple[str, str, str]:
    """(name shown in messages, decoded text, likely encoding when not all UTF-8) of a path or file object."""
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
        text, likely = _decode(bytes(data), name)
    elif isinstance(data, str):
        text, likely = data.removeprefix("\ufeff"), ""
    else:
        raise InputError(f"the file object returned {type(data).__name__}, not text or bytes", file=name)
    return name, text, likely


def sniff(line: str) -> str:
    """The separator of the header line: the most frequent of , ; tab outside quotes (comma on a tie)."""
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(SEPARATORS, key=lambda sep: counts[sep])  # max keeps the first on a tie: ',' before ';' before tab
    return best if counts[best] else ","


def shown_separator(separator: str) -> str:
    return "\\t" if separator == "\t" else separator


def _is_blank(cells: list[str]) -> bool:
    return not "".join(cells).strip(SERVER_TRIM)


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
                problems[len(rows) - 1] = UNCLOSED
                rows[-1] = alone(lines[start - 1])
                first = start
                continue
            break
    finally:
        csv.field_size_limit(previous_limit)
    return starts, rows, problems


def empty(name: str) -> InputError:
    return InputError(
        "the file is empty: expected a header line naming the columns, e.g. database_uuid,backup_uuid,frequency",
        file=name,
    )


def read_table(source: object) -> Table:
    """The header and non-blank rows of a CSV path or file object; raises InputError for an unusable file."""
    name, text, likely = source_text(source)
    lines = io.StringIO(text, newline="").readlines()
    header_text = next((ln for ln in lines if ln.strip(" \t\r\n,;\"'")), None)
    if header_text is None:
        raise empty(name)
    separator = sniff(header_text)
    all_starts, all_rows, all_problems = _records(lines, separator)
    # The first cell's first character tells most rows from blank ones without joining them.
    kept = [
        i
        for i, cells in enumerate(all_rows)
        if (cells and cells[0] and cells[0][0] not in SERVER_TRIM) or not _is_blank(cells) or i in all_problems
    ]
    if not kept:
        raise empty(name)
    header_at, kept = kept[0], kept[1:]
    header, header_line = all_rows[header_at], all_starts[header_at]
    if header_at in all_problems:
        problem = all_problems[header_at]
        raise InputError(problem.split(",")[0] if problem == UNCLOSED else problem, file=name, line=header_line)
    if likely:
        bad = next((b for b in map(undecodable, header) if b), None)
        if bad:
            raise InputError(
                f"the header is not UTF-8 text (byte {bad}; {likely}); save the file as 'CSV UTF-8' (or UTF-16)",
                file=name,
                line=header_line,
            )
    if len(kept) == len(all_rows) - 1:  # no blank line: keep the lists as they are
        starts, rows = all_starts[1:], all_rows[1:]
        problems = {i - 1: problem for i, problem in all_problems.items()}
    else:
        starts, rows = [all_starts[i] for i in kept], [all_rows[i] for i in kept]
        problems = {j: all_problems[i] for j, i in enumerate(kept) if i in all_problems}
    return Table(name, separator, header, header_line, starts, rows, problems, len(lines), likely)
