"""Hostile input (issue 7): every file, cell and DataFrame ends in a clear one-line row error or a correct value.

Each test is the regression test of one case: the file names, cells and frames below are the ones spreadsheets,
shells and odd DataFrames really produce.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup._core.errors import InputError, printable
from bulkbackup._core.fields import (
    BY_NAME,
    DECIMAL_COLUMN,
    INTEGER_COLUMN,
    KEY_COLUMNS,
    SERVER_TRIM,
    SETTINGS,
    CellError,
    Kind,
)
from bulkbackup._engine.plan import plan
from bulkbackup._input.changes import read_changes, write_csv

DB = "k0w4o8c4g0s8c8ws4wc0ogk8"
BK = "b1x2y3z4a5b6c7d8e9f0g1h2"
HEADER = "database_uuid,backup_uuid"


def write(tmp_path, content: str | bytes, name: str | bytes = "changes.csv"):
    path = os.path.join(os.fsencode(tmp_path), name if isinstance(name, bytes) else os.fsencode(name))
    with open(path, "wb") as file:
        file.write(content.encode("utf-8") if isinstance(content, str) else content)
    return os.fsdecode(path)


def errors(frame: pd.DataFrame) -> list[list[str]]:
    return frame["errors"].tolist()


def one_line(text: str) -> bool:
    return "\n" not in text and "\r" not in text and text.isprintable()


# ---------------------------------------------------------------------------------------------------------------
# §1 File names that are not UTF-8, or hold a line break


@pytest.mark.skipif(sys.platform != "linux", reason="Linux file names are bytes")
def test_a_file_name_that_is_not_utf8_is_shown_escaped_and_its_outputs_are_written(tmp_path):
    path = write(tmp_path, f"{HEADER},timeout\n{DB},{BK},6\n{DB}x,{BK},600\n", b"\xe9t\xe9.csv")
    frame = read_changes(path)
    assert frame.attrs["source"] == "\\xe9t\\xe9.csv"
    (message,) = errors(frame)[0]
    assert message.startswith("\\xe9t\\xe9.csv:2: column 'timeout'") and one_line(message)
    out = os.path.join(os.path.dirname(path), os.fsdecode(b"\xe9t\xe9.plan.csv"))
    write_csv(plan(frame), out)  # the plan (or results) next to the input: no UnicodeEncodeError
    assert read_changes(out)["database_uuid"].tolist() == [DB, f"{DB}x"]


@pytest.mark.skipif(sys.platform != "linux", reason="Linux file names are bytes")
def test_input_errors_of_odd_file_names_are_one_line(tmp_path):
    for name in (b"new\nline.csv", b"\xff\xfe.csv", b"tab\there\r.csv"):
        path = write(tmp_path, "", name)
        with pytest.raises(InputError) as caught:
            read_changes(path)
        assert one_line(str(caught.value)), str(caught.value)


def test_printable_escapes_line_breaks_controls_and_undecodable_bytes():
    assert printable("a\nb\r\x00\u2028") == "a\\nb\\r\\x00\\u2028"
    assert printable(os.fsdecode(b"\xe9t\xe9")) == "\\xe9t\\xe9"
    assert printable("café, ok") == "café, ok"


def test_a_header_cell_with_a_line_break_gives_a_one_line_error(tmp_path):
    path = write(tmp_path, f'{HEADER},"time\nout"\n{DB},{BK},600\n')
    with pytest.raises(InputError, match="unknown column 'time\\\\nout' — did you mean 'timeout'") as caught:
        read_changes(path)
    assert one_line(str(caught.value))


def test_thousands_of_unknown_columns_give_a_short_message(tmp_path):
    header = ",".join(f"col{i}" for i in range(5000))
    with pytest.raises(InputError, match="and 4,992 more$") as caught:
        read_changes(write(tmp_path, f"{HEADER},{header}\n{DB},{BK}\n"))
    assert len(str(caught.value)) < 300


# ---------------------------------------------------------------------------------------------------------------
# §1 The limits of the server's database columns


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("database_backup_retention_amount_locally", "9223372036854775808", "at most 2147483647"),
        ("database_backup_retention_days_locally", "2147483648", "at most 2147483647"),
        ("database_backup_retention_amount_s3", "99999999999999999999999", "at most 2147483647"),
        ("database_backup_retention_max_storage_s3", "1e10", "below 10000000000"),
        ("database_backup_retention_max_storage_locally", "9999999999.99999999", "below 10000000000"),
        ("timeout", "2147483648", "at most 36000"),
    ],
)
def test_values_beyond_the_server_columns_are_invalid_before_anything_is_sent(tmp_path, name, value, problem):
    frame = read_changes(write(tmp_path, f"{HEADER},{name}\n{DB},{BK},{value}\n"))
    (message,) = errors(frame)[0]
    assert f"column '{name}'" in message and problem in message
    assert plan(frame)["action"].tolist() == ["invalid"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("database_backup_retention_amount_locally", "2147483647"),
        ("database_backup_retention_max_storage_s3", "9999999999.9999"),
    ],
)
def test_the_largest_values_the_columns_hold_are_valid(tmp_path, name, value):
    frame = read_changes(write(tmp_path, f"{HEADER},{name}\n{DB},{BK},{value}\n"))
    assert errors(frame) == [[]]


def test_the_column_limits_live_in_the_field_table_and_the_sandbox_reads_them():
    from bulkbackup.sandbox import _shapes as shapes

    assert (shapes.INT4_MAX, shapes.DECIMAL_17_7_LIMIT) == (INTEGER_COLUMN.limit, DECIMAL_COLUMN.limit)
    assert INTEGER_COLUMN.limit == 2147483647 and DECIMAL_COLUMN.limit == 10**10
    for field in SETTINGS:
        low, high = field.bounds
        if field.kind is Kind.INT:
            assert high <= 2147483647
        if field.kind is Kind.NUMBER:
            assert high < 10**10 and round(high, 7) < 10**10


def test_the_sandbox_takes_the_largest_valid_values_and_refuses_one_more(sandbox):
    client = bb.Client(sandbox.endpoint, sandbox.token)
    config = client.list_databases()[0]
    database_uuid, backup_uuid = config["uuid"], config["backup_configs"][0]["uuid"]
    days = BY_NAME["database_backup_retention_days_s3"].bounds[1]
    size = BY_NAME["database_backup_retention_max_storage_s3"].bounds[1]
    good = pd.DataFrame(
        [[database_uuid, backup_uuid, days, size]],
        columns=[
            *KEY_COLUMNS,
            "database_backup_retention_days_s3",
            "database_backup_retention_max_storage_s3",
        ],
    )
    assert bb.apply(good, client)["status"].tolist() == ["updated"]
    bad = good.assign(database_backup_retention_days_s3=days + 1)
    result = bb.apply(bad, client)
    assert result["status"].tolist() == ["invalid"] and "at most 2147483647" in result["errors"][0]


# ---------------------------------------------------------------------------------------------------------------
# §1 Filled-down duplicates, huge cells, unclosed quotes


def test_filled_down_duplicates_name_a_few_rows_and_a_count(tmp_path):
    rows = 12_000
    frame = read_changes(write(tmp_path, f"{HEADER},timeout\n" + f"{DB},{BK},600\n" * rows))
    messages = [m for found in errors(frame) for m in found]
    assert len(messages) == rows
    assert "is also targeted by line 3, line 4, line 5 and 11,996 more rows" in messages[0]
    assert "is also targeted by line 2, line 3, line 4 and 11,996 more rows" in messages[-1]
    assert max(len(m) for m in messages) < 300  # each message is short, so the output grows with the row count


def test_a_cell_beyond_the_csv_modules_field_limit_is_its_rows_error_only(tmp_path):
    huge = "x" * 200_000
    frame = read_changes(write(tmp_path, f"{HEADER},frequency\n{DB},{BK},daily\n{DB},b2,{huge}\n{DB},b3,hourly\n"))
    assert frame["frequency"].tolist()[::2] == ["daily", "hourly"]
    good, bad, last = errors(frame)
    assert good == [] and last == []
    assert all(len(m) < 600 and "200,000 characters" in m for m in bad)


def test_an_unclosed_quote_in_the_header_names_line_1(tmp_path):
    with pytest.raises(InputError, match="never closed") as caught:
        read_changes(write(tmp_path, f'{HEADER},"frequency\n{DB},{BK},daily\n'))
    assert caught.value.line == 1


def test_a_quote_left_open_until_the_next_quote_names_the_lines_it_took(tmp_path):
    text = (
        f'{HEADER},frequency\n{DB},a,"daily\n{DB},b,daily\n{DB},c,"hourly\n{DB},d,weekly\n{DB},e,"daily\n{DB},f,daily\n'
    )
    frame = read_changes(write(tmp_path, text))
    assert frame["backup_uuid"].tolist() == ["a", "d", "e", "f"]
    first, second, third, fourth = errors(frame)
    assert "changes.csv:2: the quoted cell of column 'frequency' runs over lines 2-4" in first[-1]
    assert second == [] and "changes.csv:6: a quote" in third[0] and fourth == []
    assert plan(frame)["action"].tolist() == ["invalid", "update", "invalid", "update"]


# ---------------------------------------------------------------------------------------------------------------
# §1 Reading is idempotent; odd numbers


def test_plan_of_a_read_frame_does_not_remove_protecting_apostrophes_twice(tmp_path):
    # An export wrote the stored value '=x as ''=x; fed back unchanged it must stay '=x.
    path = write(tmp_path, f"{HEADER},databases_to_backup\n{DB},{BK},''=x\n")
    once = read_changes(path)
    assert once["databases_to_backup"].tolist() == ["'=x"]
    twice = read_changes(once)
    pd.testing.assert_frame_equal(twice, once)
    assert json.loads(plan(once)["payload"][0]) == {"databases_to_backup": "'=x"}


def test_errors_only_the_file_showed_survive_reading_the_frame_again(tmp_path):
    path = write(tmp_path, f'{HEADER},timeout\n{DB},{BK},600,surplus\n{DB},b2,"600\n{DB},b3,600\n')
    planned = plan(read_changes(path))
    assert planned["action"].tolist() == ["invalid", "invalid", "update"]
    assert "extra value(s) 'surplus'" in planned["errors"][0] and "never closed" in planned["errors"][1]


def test_an_edited_read_frame_is_checked_again():
    frame = read_changes(pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], "enabled": ["yes"]}))
    frame.loc[0, "enabled"] = "maybe"
    assert plan(frame)["action"].tolist() == ["invalid"]


@pytest.mark.parametrize("value", [Decimal("sNaN"), Decimal("-sNaN"), Decimal("Infinity"), 1 + 2j, object()])
def test_odd_numeric_types_in_a_frame_are_row_errors(value):
    for name, good in (("timeout", 600), ("enabled", 1), ("database_backup_retention_max_storage_s3", 1)):
        cells = pd.Series([value, good], dtype=object)  # a complex column would make 600 complex too
        read = read_changes(pd.DataFrame({"database_uuid": [DB, DB], "backup_uuid": [BK, "b2"], name: cells}))
        first, second = errors(read)
        assert first and all(f"column '{name}'" in m for m in first)
        assert second == []


def test_decimal_values_read_like_numbers():
    frame = pd.DataFrame(
        {
            "database_uuid": [DB, DB, DB],
            "backup_uuid": ["a", "b", "c"],
            "timeout": [Decimal("600"), Decimal("NaN"), Decimal("600.5")],
            "database_backup_retention_max_storage_s3": [Decimal("2.5"), None, Decimal("-0")],
        }
    )
    read = read_changes(frame)
    assert read["timeout"].tolist()[:2] == [600, None] and errors(read)[2]
    assert read["database_backup_retention_max_storage_s3"].tolist()[0] == 2.5


def test_write_csv_protects_non_finite_numbers_from_running_as_formulas():
    buffer = io.StringIO()
    write_csv(
        pd.DataFrame({"n": [float("-inf"), float("inf"), -1.5, np.float64("-inf"), Decimal("-Infinity")]}), buffer
    )
    assert buffer.getvalue().split("\r\n")[1:6] == ["'-inf", "inf", "-1.5", "'-inf", "'-Infinity"]


def test_write_csv_never_fails_on_a_lone_surrogate(tmp_path):
    name = os.fsdecode(b"\xe9.csv")
    frame = pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], "databases_to_backup": [name]})
    write_csv(read_changes(frame), tmp_path / "out.csv")
    assert "\\udce9.csv" in (tmp_path / "out.csv").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# §2 Rules decided where the README was silent


@pytest.mark.parametrize("cell", [["a", "b"], {"a": 1}, ("x",), {1, 2}, b"daily"])
def test_list_and_dict_cells_are_refused_never_sent_as_a_repr(cell):
    frame = pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], "databases_to_backup": [cell]})
    (message,) = errors(read_changes(frame))[0]
    assert "is not a cell value: give one value per cell" in message
    assert plan(frame)["payload"].tolist() == [""]
    for field in SETTINGS:
        with pytest.raises(CellError, match="not a cell value"):
            field.read(cell)


@pytest.mark.parametrize(
    ("name", "cell", "value"),
    [
        ("timeout", "６００", 600),
        ("timeout", "\u3000600\u3000", 600),
        ("database_backup_retention_max_storage_s3", "２．５", 2.5),
        ("enabled", "ｙｅｓ", True),
        ("enabled", "１", True),
        ("dump_all", "０", False),
    ],
)
def test_full_width_digits_and_letters_read_alike_in_numbers_and_yes_no_cells(name, cell, value):
    frame = read_changes(pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], name: [cell]}))
    assert errors(frame) == [[]] and frame[name].tolist() == [value]


@pytest.mark.parametrize(("name", "cell"), [("timeout", "٦٠٠"), ("enabled", "١"), ("timeout", "६००")])
def test_digits_of_other_scripts_are_refused_with_a_hint(name, cell):
    (message,) = errors(read_changes(pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], name: [cell]})))[0]
    assert "write the digits 0-9" in message


@pytest.mark.parametrize(
    ("name", "cell", "value"),
    [
        ("database_backup_retention_amount_s3", "-0", 0),
        ("database_backup_retention_max_storage_s3", "-0", 0.0),
        ("database_backup_retention_max_storage_s3", "-0.0", 0.0),
        ("database_backup_retention_max_storage_s3", -0.0, 0.0),
    ],
)
def test_minus_zero_is_zero(name, cell, value):
    planned = plan(pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], name: [cell]}))
    assert planned["payload"][0] == json.dumps({name: value}) and "-" not in planned["payload"][0]


TEXT = f"{HEADER},frequency,databases_to_backup\n{DB},{BK},daily,café\n"


@pytest.mark.parametrize(
    "encoded",
    [
        TEXT.encode("utf-16"),  # with BOM
        TEXT.encode("utf-16-le"),
        TEXT.encode("utf-16-be"),
        b"\xfe\xff" + TEXT.encode("utf-16-be"),
        TEXT.encode("utf-32"),
        TEXT.encode("utf-32-le"),
        TEXT.encode("utf-32-be"),
        TEXT.encode("utf-8-sig"),
    ],
    ids=["utf16-bom", "utf16le", "utf16be", "utf16be-bom", "utf32-bom", "utf32le", "utf32be", "utf8-bom"],
)
def test_utf16_and_utf32_files_with_or_without_bom_are_read(tmp_path, encoded):
    frame = read_changes(write(tmp_path, encoded))
    assert errors(frame) == [[]]
    assert frame["databases_to_backup"].tolist() == ["café"] and frame["line"].tolist() == [2]


@pytest.mark.parametrize("codec", ["cp1252", "latin-1"])
def test_windows_1252_files_get_a_message_naming_the_encoding_to_save_as(tmp_path, codec):
    (message,) = errors(read_changes(write(tmp_path, TEXT.encode(codec))))[0]
    assert message.startswith("changes.csv:2: column 'databases_to_backup'")
    assert "not UTF-8" in message and "Windows-1252" in message and "save the file as 'CSV UTF-8'" in message


def test_duplicate_index_labels_still_point_at_one_row():
    frame = pd.DataFrame(
        {"database_uuid": [DB, DB, DB], "backup_uuid": ["a", "b", "c"], "timeout": [600, 5, 7]}, index=[0, 0, 1]
    )
    first, second, third = errors(read_changes(frame))
    assert first == []
    assert second[0].startswith("<DataFrame> row 0 (position 1): column 'timeout'")
    assert third[0].startswith("<DataFrame> row 1 (position 2): column 'timeout'")
    duplicated = pd.DataFrame({"database_uuid": [DB, DB], "backup_uuid": [BK, BK]}, index=["x", "x"])
    assert "also targeted by row x (position 1)" in errors(read_changes(duplicated))[0][0]


def test_the_trimmed_characters_are_the_servers():
    from bulkbackup.sandbox._laravel import _STR_TRIM

    assert set(SERVER_TRIM) == set(_STR_TRIM)


@pytest.mark.parametrize(
    ("name", "cell", "value"),
    [
        ("frequency", "\xa0daily\u3000", "daily"),
        ("frequency", "\x00 daily\t\x0b", "daily"),
        ("databases_to_backup", "\ufeffapp\u200b", "app"),
        ("s3_storage_uuid", f"\xa0{DB} ", DB),
        ("timeout", "\xa0600\r\n", 600),
        ("enabled", "\u2003yes\x00", True),
        ("database_backup_retention_max_storage_s3", " 2.5\xa0", 2.5),
        ("backup_now", "\xa0true", True),
    ],
)
def test_every_kind_of_cell_is_trimmed_like_the_server_trims(name, cell, value):
    frame = read_changes(pd.DataFrame({"database_uuid": [f"\xa0{DB}"], "backup_uuid": [f"{BK}\u3000"], name: [cell]}))
    assert errors(frame) == [[]]
    assert frame[name].tolist() == [value] and frame["database_uuid"].tolist() == [DB]


@pytest.mark.parametrize("cell", ["\xa0", "\xa0\xa0 ", "\u3000", "\x00", "\u200b\ufeff"])
def test_a_cell_of_only_non_breaking_or_other_trimmed_spaces_is_empty(tmp_path, cell):
    frame = read_changes(write(tmp_path, f"{HEADER},frequency,timeout\n{DB},{BK},{cell},600\n"))
    assert errors(frame) == [[]] and frame["frequency"].tolist() == [None]


def test_inner_non_breaking_spaces_are_kept_as_the_server_keeps_them():
    frame = read_changes(pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], "databases_to_backup": ["a\xa0b"]}))
    assert frame["databases_to_backup"].tolist() == ["a\xa0b"]


# ---------------------------------------------------------------------------------------------------------------
# Issue 9: a header-only file says "no rows"


def test_a_header_only_file_gives_an_empty_frame_and_an_empty_plan(tmp_path):
    frame = read_changes(write(tmp_path, f"{HEADER},timeout\n\n"))
    assert len(frame) == 0 and list(frame.columns) == ["line", "database_uuid", "backup_uuid", "timeout", "errors"]
    assert len(plan(frame)) == 0


# ---------------------------------------------------------------------------------------------------------------
# Issue 13 item 11: only full-width forms are folded; other compatibility digits are errors, never other numbers

_ODD_DIGITS = [
    ("database_backup_retention_amount_locally", "10⁴", "⁴"),  # NFKC: 104
    ("enabled", "①", "①"),  # NFKC: 1, true
    ("database_backup_retention_days_s3", "⁴", "⁴"),  # NFKC: 4
    ("timeout", "6₀₀", "₀"),  # subscripts
    ("database_backup_retention_max_storage_s3", "𝟏𝟐.5", "𝟏"),  # mathematical bold digits
    ("save_s3", "⓪", "⓪"),  # circled zero: false
    ("missing_backup_notification_days", "½", "½"),  # a vulgar fraction
    ("dump_all", "¹", "¹"),  # superscript one: true
]


@pytest.mark.parametrize(("name", "cell", "odd"), _ODD_DIGITS)
def test_compatibility_digits_are_an_error_asking_for_0_to_9_in_files_frames_and_plans(tmp_path, name, cell, odd):
    good = {"timeout": "600", "enabled": "true", "save_s3": "false", "dump_all": "true"}.get(name, "12")
    path = write(tmp_path, f"{HEADER},{name}\n{DB},{BK},{cell}\n{DB},{BK}x,{good}\n")
    for frame in (
        read_changes(path),
        read_changes(pd.DataFrame({"database_uuid": [DB], "backup_uuid": [BK], name: [cell]})),
    ):
        (message,) = errors(frame)[0]
        assert f"column '{name}'" in message and repr(cell) in message and repr(odd) in message
        assert "write the digits 0-9" in message and one_line(message)
        assert frame[name].tolist()[0] == cell  # kept as given, never another number
    assert read_changes(path)["errors"].tolist()[1] == []  # the good row still goes
    assert bb.plan(path)["action"].tolist() == ["invalid", "update"]


@pytest.mark.parametrize(
    ("name", "cell", "value"),
    [
        ("timeout", "３６００", 3600),
        ("enabled", "ｙｅｓ", True),
        ("database_backup_retention_max_storage_s3", "１．５", 1.5),
    ],
)
def test_full_width_forms_are_still_read(tmp_path, name, cell, value):
    frame = read_changes(write(tmp_path, f"{HEADER},{name}\n{DB},{BK},{cell}\n"))
    assert errors(frame) == [[]] and frame[name].tolist() == [value]


def test_the_cli_refuses_a_superscript_and_sends_nothing_of_it(tmp_path):
    path = write(tmp_path, f"{HEADER},database_backup_retention_amount_s3\n{DB},{BK},10⁴\n")
    done = subprocess.run(
        [sys.executable, "-m", "bulkbackup", "plan", "--offline", path], capture_output=True, text=True, timeout=120
    )
    assert "changes.csv:2: column 'database_backup_retention_amount_s3'" in done.stdout
    assert "'10⁴'" in done.stdout and "104" not in done.stdout and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------------------------------
# Issue 13 item 12: every pandas dtype a user can build is read, NA as an empty cell


def _dtype_frame(label: str) -> pd.DataFrame:
    base = pd.DataFrame(
        {
            "database_uuid": [DB, None, DB, DB],
            "backup_uuid": [BK, f"{BK}b", None, f"{BK}d"],
            "frequency": ["daily", None, "hourly", "@weekly"],
            "enabled": [True, None, False, True],
            "timeout": [3600, None, 600, 60],
            "database_backup_retention_max_storage_s3": [1.5, None, 2.0, 0.25],
        }
    )
    typed = {
        "database_uuid": "string",
        "backup_uuid": "string",
        "frequency": "string",
        "enabled": "boolean",
        "timeout": "Int64",
        "database_backup_retention_max_storage_s3": "Float64",
    }
    if label == "nullable":
        return base.astype(typed)
    if label == "convert_dtypes":
        return base.convert_dtypes()
    if label == "categorical":
        return base.astype(dict.fromkeys(typed, "category"))
    if label == "str":
        return base.astype(dict.fromkeys(("database_uuid", "backup_uuid", "frequency"), "str"))
    pytest.importorskip("pyarrow")
    return base.convert_dtypes(dtype_backend="pyarrow")


@pytest.mark.parametrize("label", ["nullable", "convert_dtypes", "categorical", "str", "pyarrow"])
def test_nullable_categorical_and_arrow_dtypes_read_na_as_an_empty_cell(label):
    frame = _dtype_frame(label)
    read = bb.read_changes(frame)
    first, second, third, fourth = errors(read)
    assert first == [] and fourth == []
    assert second == ["<DataFrame> row 1: column 'database_uuid' is empty: every row needs the database's uuid"]
    assert third == [
        "<DataFrame> row 2: column 'backup_uuid' is empty: every row needs the backup configuration's uuid"
    ]
    assert read["database_uuid"].tolist() == [DB, "", DB, DB]
    assert read["frequency"].tolist() == ["daily", None, "hourly", "@weekly"]
    assert read["enabled"].tolist() == [True, None, False, True]
    assert read["timeout"].tolist() == [3600, None, 600, 60]
    assert read["database_backup_retention_max_storage_s3"].tolist() == [1.5, None, 2.0, 0.25]
    assert bb.plan(frame)["action"].tolist() == ["update", "invalid", "invalid", "update"]


def test_an_export_read_with_nullable_dtypes_plans_against_the_server(client):
    fleet = bb.inventory(client).head(3)
    frame = fleet[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [3600, None, 7200]
    frame = frame.convert_dtypes()
    assert str(frame["timeout"].dtype) == "Int64" and str(frame["database_uuid"].dtype).startswith("string")
    planned = bb.plan(frame, client)
    assert planned["errors"].tolist() == ["", "", ""]
    assert planned["action"].tolist()[1] == "unchanged"


# ---------------------------------------------------------------------------------------------------------------
# Issue 13 item 13: a key no Coolify can hold is invalid locally, with a short message


@pytest.mark.parametrize("column", ["database_uuid", "backup_uuid"])
def test_a_key_longer_than_coolify_holds_is_invalid_with_a_short_message(tmp_path, column):
    huge = "a" * 1_000_000
    keys = {"database_uuid": DB, "backup_uuid": BK} | {column: huge}
    path = write(tmp_path, f"{HEADER},timeout\n{keys['database_uuid']},{keys['backup_uuid']},600\n{DB},{BK}2,600\n")
    for frame in (
        read_changes(path),
        read_changes(pd.DataFrame({**{k: [v] for k, v in keys.items()}, "timeout": [600]})),
    ):
        (message,) = errors(frame)[0]
        assert f"column '{column}'" in message and "1,000,000 characters" in message and "255" in message
        assert len(message) < 400 and one_line(message)
    planned = bb.plan(path)
    assert planned["action"].tolist() == ["invalid", "update"] and len(planned["errors"][0]) < 400


def test_a_key_of_255_characters_is_accepted_and_256_is_not(tmp_path):
    frame = read_changes(write(tmp_path, f"{HEADER}\n{'a' * 255},{BK}\n{'a' * 256},{BK}\n"))
    assert errors(frame)[0] == [] and "256 characters" in errors(frame)[1][0]


def test_an_s3_storage_uuid_longer_than_coolify_holds_is_invalid(tmp_path):
    frame = read_changes(write(tmp_path, f"{HEADER},s3_storage_uuid\n{DB},{BK},{'s' * 5000}\n"))
    (message,) = errors(frame)[0]
    assert "5,000 characters" in message and len(message) < 400
