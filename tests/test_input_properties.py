"""Property-based tests of the input layer: random tables of cells for every column, from files and DataFrames.

Few examples in CI (the "ci" profile of tests/conftest.py); many with HYPOTHESIS_PROFILE=thorough:

    HYPOTHESIS_PROFILE=thorough python -m pytest -q -p no:cacheprovider --timeout 0 tests/test_input_properties.py
"""

from __future__ import annotations

import csv
import io
import json
import math
from decimal import Decimal

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from bulkbackup._core.errors import BulkBackupError
from bulkbackup._core.fields import ALL_FIELDS, BY_NAME, CLEAR, KEY_COLUMNS, CellError, Kind, is_missing
from bulkbackup._engine.plan import plan
from bulkbackup._input.changes import read_changes, write_csv
from bulkbackup._input.safe_csv import unescape as _unescape

UUIDS = ["k0w4o8c4g0s8c8ws4wc0ogk8", "b1x2y3z4", "a_b-c"]
EDGE_TEXT = [
    "",
    " ",
    "\xa0",
    "\u3000",
    "=1+1",
    "'=x",
    "''=x",
    "-1",
    "+1",
    "@a",
    "'",
    '"',
    ",",
    ";",
    "\t",
    "a\nb",
    CLEAR,
]
CELLS = {
    Kind.BOOL: ["true", "FALSE", "Yes", "n", "1", "0", "1.0", "on", "maybe", "2", "ｙｅｓ", "１", " yes ", "\xa0no"],
    Kind.INT: ["14", "14.0", "-1", "0", "-0", "2147483647", "2147483648", "9223372036854775808", "1,5", "1e3", "５"]
    + ["٥", "abc", "007", "+5", "60", "36000", "36001", "59"],
    Kind.NUMBER: ["2.5", "1e10", "9999999999.9999", "-0", "0", ".5", "5.", "nan", "inf", "-inf", "1,5", "1e400"]
    + ["２．５", "-0.0", "1e-9"],
}
TEXT_CELLS = {
    "frequency": ["daily", "0 3 * * *", "@hourly", "0 0 31 2 *", "every day", "* * * * *", "hourly "],
    "databases_to_backup": ["app,logs", "a;b", "a|b", "db:c1,c2", "x$(y)", "app"],
    "s3_storage_uuid": ["k0w4o8c4g0s8c8ws4wc0ogk8", "a/b", "x y", "s3"],
}


def cell_strategy(name: str) -> st.SearchStrategy[str]:
    if name in KEY_COLUMNS:
        known = [*UUIDS, "", "a/b", "=x", "'+1", " b1x2y3z4 ", "\xa0a_b-c"]
    else:
        field = BY_NAME[name]
        known = CELLS.get(field.kind) or TEXT_CELLS.get(name, [])
    return st.one_of(st.sampled_from(known + EDGE_TEXT), st.text(max_size=12))


@st.composite
def tables(draw) -> tuple[list[str], list[list[str]]]:
    fields = draw(st.lists(st.sampled_from([f.name for f in ALL_FIELDS]), unique=True, max_size=5))
    header = [*KEY_COLUMNS, *fields]
    rows = draw(st.lists(st.tuples(*(cell_strategy(n) for n in header)).map(list), max_size=6))
    return header, rows


def as_csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def is_blank(cells: list[str]) -> bool:
    return all(is_missing(c) for c in cells)


def read_file(header, rows) -> pd.DataFrame | None:
    try:
        return read_changes(io.BytesIO(as_csv(header, rows)))
    except BulkBackupError:  # only bulkbackup's own errors may escape
        return None


def bad_cell(name: str, cell: object) -> bool:
    """Whether this one cell, read on its own through the public field table, is a problem of its row."""
    cell = _unescape(cell)
    if is_missing(cell):
        return name in KEY_COLUMNS
    field = BY_NAME["s3_storage_uuid" if name in KEY_COLUMNS else name]  # a key is checked like a storage uuid
    try:
        return bool(field.problems(field.read(cell)))
    except CellError:
        return True


def assert_strict_payloads(planned: pd.DataFrame) -> None:
    for action, payload in zip(planned["action"], planned["payload"], strict=True):
        if action not in ("update", "trigger"):
            assert payload == ""
            continue
        body = json.loads(payload)
        assert body and json.dumps(body, allow_nan=False)
        for name, value in body.items():
            field = BY_NAME[name]
            if field.kind is Kind.BOOL:
                assert type(value) is bool
            elif field.kind is Kind.INT:
                assert type(value) is int
                low, high = field.bounds
                assert low <= value <= high
            elif field.kind is Kind.NUMBER:
                assert type(value) in (int, float) and math.isfinite(value) and str(value)[0] != "-"
                assert value <= field.bounds[1]
            else:
                assert value is None or (type(value) is str and value == value.strip() and value)


@given(tables())
def test_a_file_reads_into_row_errors_naming_their_columns_and_strict_payloads(table):
    header, rows = table
    frame = read_file(header, rows)
    if frame is None:
        return
    kept = [r for r in rows if not is_blank(r)]
    assert len(frame) == len(kept)
    for errors, row in zip(frame["errors"], kept, strict=True):
        for name, cell in zip(header, row, strict=True):
            if bad_cell(name, cell.lstrip(" ")):  # the csv reader skips spaces after a separator
                assert any(f"column '{name}'" in message for message in errors), (name, cell, errors)
    assert_strict_payloads(plan(frame))


@given(tables())
def test_file_and_dataframe_input_of_the_same_table_agree(table):
    header, rows = table
    from_file = read_file(header, rows)
    kept = [r for r in rows if not is_blank(r)]
    try:
        from_frame = read_changes(pd.DataFrame(kept, columns=header, dtype=object))
    except BulkBackupError:
        assert from_file is None or not kept
        return
    if from_file is None:
        return
    valid = [not e for e in from_file["errors"]]
    assert valid == [not e for e in from_frame["errors"]]
    settings = [c for c in from_file.columns if c in BY_NAME]
    for column in [*KEY_COLUMNS, *settings]:
        got = [v for v, ok in zip(from_file[column], valid, strict=True) if ok]
        want = [v for v, ok in zip(from_frame[column], valid, strict=True) if ok]
        assert got == want and [type(v) for v in got] == [type(v) for v in want]


@given(tables())
def test_what_write_csv_writes_reads_back_to_the_same_changes(table):
    header, rows = table
    frame = read_file(header, rows)
    if frame is None or frame.empty:
        return
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    again = read_changes(io.BytesIO(buffer.getvalue()))
    valid = [not e for e in frame["errors"]]
    assert valid == [not e for e in again["errors"]]
    for column in [c for c in frame.columns if c in BY_NAME or c in KEY_COLUMNS]:
        for before, after, ok in zip(frame[column], again[column], valid, strict=True):
            if ok:
                assert before == after and type(before) is type(after)
    # Line numbers may differ: a cell with a line break takes two lines of the written file.
    pd.testing.assert_frame_equal(
        plan(again).drop(columns=["line", "errors"]), plan(frame).drop(columns=["line", "errors"])
    )


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.just(Decimal("sNaN")),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.binary(max_size=3),
    st.complex_numbers(max_magnitude=1e6),
    st.text(max_size=8),
)


@given(
    st.lists(st.sampled_from([f.name for f in ALL_FIELDS]), unique=True, min_size=1, max_size=4).flatmap(
        lambda names: st.tuples(
            st.just(names),
            st.lists(
                st.tuples(st.sampled_from([*UUIDS, "", None]), st.sampled_from(UUIDS), *([ODD_VALUES] * len(names))),
                max_size=5,
            ),
        )
    )
)
def test_any_python_values_in_a_dataframe_end_in_row_errors_or_strict_payloads(table):
    names, rows = table
    frame = pd.DataFrame(rows, columns=[*KEY_COLUMNS, *names], dtype=object)
    changes = read_changes(frame)
    for errors, row in zip(changes["errors"], rows, strict=True):
        for name, cell in zip([*KEY_COLUMNS, *names], row, strict=True):
            if bad_cell(name, cell):
                assert any(f"column '{name}'" in message for message in errors), (name, cell, errors)
    assert_strict_payloads(plan(changes))
