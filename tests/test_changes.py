"""read_changes(): every input rule of SPEC "Input" and every local rule of SPEC "Validation", plus write_csv."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup._core.columns import OUTPUT_COLUMNS
from bulkbackup._core.errors import InputError
from bulkbackup._core.fields import (
    BACKUP_NOW,
    CLEAR,
    INVENTORY_COLUMNS,
    KEY_ALIASES,
    KEY_COLUMNS,
    SETTINGS,
    Kind,
)
from bulkbackup._input.changes import read_changes, row_changes, write_csv
from bulkbackup._input.problems import summary

DB = "k0w4o8c4g0s8c8ws4wc0ogk8"
BK = "b1x2y3z4a5b6c7d8e9f0g1h2"


@pytest.fixture
def read(tmp_path):
    """Write `text` (or bytes) to changes.csv and read it by path."""

    def _read(content: str | bytes, name: str = "changes.csv") -> pd.DataFrame:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_bytes(content)
        return read_changes(path)

    return _read


def errors_of(frame: pd.DataFrame) -> list[list[str]]:
    return frame["errors"].tolist()


# ---------------------------------------------------------------------------------------------------------------
# Shape of the normalised frame


def test_normalised_frame_shape(read):
    frame = read(f"backup_now,timeout,database_uuid,frequency,backup_uuid,enabled\ntrue,3600,{DB},daily,{BK},no\n")
    assert list(frame.columns) == ["line", "database_uuid", "backup_uuid", "enabled", "frequency", "timeout"] + [
        "backup_now",
        "errors",
    ]
    assert isinstance(frame.index, pd.RangeIndex)
    assert str(frame["line"].dtype) == "Int64"
    for name in ("enabled", "frequency", "timeout", "backup_now", "errors"):
        assert frame[name].dtype == object, name
    assert pd.api.types.is_string_dtype(frame["database_uuid"])
    row = frame.iloc[0]
    assert (row["line"], row["database_uuid"], row["backup_uuid"]) == (2, DB, BK)
    assert row["enabled"] is False and row["backup_now"] is True
    assert row["frequency"] == "daily"
    assert row["timeout"] == 3600 and type(row["timeout"]) is int
    assert row["errors"] == []
    assert frame.attrs["source"] == "changes.csv"


def test_columns_follow_settings_order_whatever_the_file_order(read):
    names = [f.name for f in reversed(SETTINGS)]
    frame = read(",".join(["backup_now", *names, *reversed(KEY_COLUMNS)]) + "\n")
    assert list(frame.columns) == ["line", *KEY_COLUMNS, *(f.name for f in SETTINGS), BACKUP_NOW.name, "errors"]
    assert len(frame) == 0


def test_only_present_settings_become_columns(read):
    frame = read(f"database_uuid,backup_uuid\n{DB},{BK}\n")
    assert list(frame.columns) == ["line", "database_uuid", "backup_uuid", "errors"]
    assert row_changes(frame.iloc[0]) == {}


# ---------------------------------------------------------------------------------------------------------------
# Header


@pytest.mark.parametrize("alias", sorted(KEY_ALIASES))
def test_key_aliases(read, alias):
    other = next(k for k in KEY_COLUMNS if k != KEY_ALIASES[alias])
    frame = read(f"{alias},{other},timeout\nX1,Y1,60\n")
    row = frame.iloc[0]
    assert row[KEY_ALIASES[alias]] == "X1" and row[other] == "Y1"
    assert alias not in frame.columns


@pytest.mark.parametrize(
    "header",
    [
        " Database UUID , Backup UUID ,Frequency,DATABASE BACKUP RETENTION AMOUNT LOCALLY",
        "database-uuid,backup-uuid,frequency ,Database-Backup-Retention-Amount-Locally",
        "UUID,Scheduled Backup UUID,  FREQUENCY  ,database backup  retention amount locally",
        "database__uuid,backup_uuid,frequency,database_backup_retention_amount_locally",
    ],
)
def test_header_case_blanks_spaces_and_hyphens_do_not_matter(read, header):
    frame = read(f"{header}\n{DB},{BK},daily,7\n")
    assert list(frame.columns) == [
        "line",
        "database_uuid",
        "backup_uuid",
        "frequency",
        "database_backup_retention_amount_locally",
        "errors",
    ]
    assert frame.iloc[0]["database_backup_retention_amount_locally"] == 7


def test_unknown_column_names_it_and_suggests_the_nearest(read):
    with pytest.raises(InputError) as caught:
        read(f"database_uuid,backup_uuid,frequncy\n{DB},{BK},daily\n")
    assert str(caught.value) == "changes.csv:1: unknown column 'frequncy' — did you mean 'frequency'?"
    assert (caught.value.file, caught.value.line, caught.value.column) == ("changes.csv", 1, "frequncy")


@pytest.mark.parametrize(
    ("written", "suggested"),
    [
        ("timout", "timeout"),
        ("Enabeld", "enabled"),
        ("saves3", "save_s3"),
        ("backupnow", "backup_now"),
        ("scheduled_backup_uid", "scheduled_backup_uuid"),
        ("database_backup_retention_days_s", "database_backup_retention_days_s3"),
    ],
)
def test_unknown_column_suggestions(read, written, suggested):
    with pytest.raises(InputError, match=f"unknown column '{written}' — did you mean '{suggested}'\\?"):
        read(f"database_uuid,backup_uuid,{written}\n")


def test_unknown_column_without_a_close_name_has_no_suggestion(read):
    with pytest.raises(InputError) as caught:
        read("database_uuid,backup_uuid,colour,flavour\n")
    assert str(caught.value) == "changes.csv:1: unknown columns 'colour' and 'flavour'"


def test_every_unknown_column_gets_its_own_suggestion(read):
    with pytest.raises(InputError) as caught:
        read("database_uuid,backup_uuid,timout,colour,saves3\n")
    assert str(caught.value) == (
        "changes.csv:1: unknown columns 'timout' (did you mean 'timeout'?), 'colour' and 'saves3' (did you mean "
        "'save_s3'?)"
    )


def test_inventory_and_result_columns_are_accepted_and_ignored(read):
    extra = [*INVENTORY_COLUMNS, *OUTPUT_COLUMNS]
    header = ",".join(["database_uuid", "backup_uuid", "timeout", *extra])
    cells = ",".join([DB, BK, "120", *(f"v{i}" for i in range(len(extra)))])
    frame = read(f"{header}\n{cells}\n")
    assert list(frame.columns) == ["line", "database_uuid", "backup_uuid", "timeout", "errors"]
    assert frame.iloc[0]["errors"] == [] and frame.iloc[0]["line"] == 2


def test_spelled_differently_inventory_columns_are_ignored_too(read):
    frame = read(f"Project,Database Name,Latest Status,uuid,scheduled_backup_uuid\np,n,success,{DB},{BK}\n")
    assert frame.iloc[0]["errors"] == []


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("database_uuid,backup_uuid,timeout", None),
        ("backup_uuid,timeout", "database_uuid"),
        ("uuid,timeout", "backup_uuid"),
        ("timeout,enabled", "database_uuid"),
    ],
)
def test_missing_key_column(read, header, column):
    if column is None:
        assert len(read(header + "\n")) == 0
        return
    with pytest.raises(InputError) as caught:
        read(f"{header}\n1,2\n")
    assert caught.value.column == column and caught.value.line == 1
    assert f"missing key column '{column}'" in str(caught.value)
    alias = next(a for a, k in KEY_ALIASES.items() if k == column)
    assert f"'{alias}'" in str(caught.value)


@pytest.mark.parametrize(
    "header",
    [
        "uuid,database_uuid,backup_uuid",
        "database_uuid,backup_uuid,Scheduled Backup UUID",
        "database_uuid,backup_uuid,frequency,Frequency",
        "database_uuid,backup_uuid,timeout, TIMEOUT ",
    ],
)
def test_column_given_twice(read, header):
    with pytest.raises(InputError, match="is given twice") as caught:
        read(header + "\n")
    assert caught.value.line == 1


def test_no_header(read):
    with pytest.raises(InputError, match="no header") as caught:
        read(f"{DB},{BK},daily\n{DB},x,daily\n")
    assert caught.value.line == 1


@pytest.mark.parametrize("content", ["", "\n\n", "  \r\n\t\n", ",,,\n;;\n", b"\xef\xbb\xbf"])
def test_empty_file(read, content):
    with pytest.raises(InputError, match="empty") as caught:
        read(content)
    assert caught.value.file == "changes.csv"


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_changes(tmp_path / "nope.csv")


def test_not_utf8_in_a_used_column_is_an_error_of_its_row_only(read):
    frame = read(f"database_uuid,backup_uuid,databases_to_backup\n{DB},{BK},caf\xe9\n{DB},x,shop\n".encode("latin-1"))
    (message,), good = errors_of(frame)
    assert message.startswith("changes.csv:2: column 'databases_to_backup', value 'caf\\udce9': holds byte 0xe9")
    assert "not UTF-8" in message and "Windows-1252" in message and "'CSV UTF-8'" in message
    assert good == [] and frame["databases_to_backup"].tolist()[1] == "shop"


def test_not_utf8_header_refuses_the_file(read):
    with pytest.raises(InputError, match="the header is not UTF-8 text \\(byte 0xe9") as caught:
        read(f"database_uuid,backup_uuid,caf\xe9\n{DB},{BK},x\n".encode("latin-1"))
    assert caught.value.line == 1


def test_unclosed_quote_is_an_error_of_its_row_and_the_rows_after_it_are_kept(read):
    frame = read(f'database_uuid,backup_uuid,frequency\n{DB},{BK},daily\n{DB},x,"0 3 * * *\n{DB},y,daily\n')
    assert frame["line"].tolist() == [2, 3, 4]
    assert frame["backup_uuid"].tolist() == [BK, "x", "y"]
    assert frame["errors"].tolist()[0] == [] and frame["errors"].tolist()[2] == []
    (error,) = frame["errors"][1]
    assert error.startswith('changes.csv:3: a quote (") opened on this line is never closed')


def test_unsupported_source_type():
    with pytest.raises(TypeError):
        read_changes(42)


# ---------------------------------------------------------------------------------------------------------------
# File format: encoding, separators, line ends, blank lines, quoting


def test_utf8_bom(read):
    frame = read(f"\ufeffdatabase_uuid,backup_uuid,databases_to_backup\n{DB},{BK},café\n")
    assert frame.iloc[0]["database_uuid"] == DB
    assert frame.iloc[0]["databases_to_backup"] == "café"


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_separators_are_sniffed(read, separator):
    others = "".join(sep for sep in ",;\t" if sep != separator)
    rows = [
        ["database_uuid", "backup_uuid", "frequency", "database_name", "databases_to_backup", "timeout"],
        [DB, BK, "0 3 * * *", f"x{others}y", "a", "600"],
        [DB, "second", "*/5 * * * *", "z", "b", "60"],
    ]
    frame = read("\n".join(separator.join(r) for r in rows) + "\n")
    assert frame["frequency"].tolist() == ["0 3 * * *", "*/5 * * * *"]
    assert frame["databases_to_backup"].tolist() == ["a", "b"]
    assert frame["timeout"].tolist() == [600, 60]
    assert frame["errors"].tolist() == [[], []]


def test_semicolon_file_full_of_commas_is_not_taken_for_commas(read):
    # csv.Sniffer on the data would pick ',' here; the header decides.
    content = f"database_uuid;backup_uuid;databases_to_backup\n{DB};{BK};a,b,c,d,e,f\n{DB};x;g,h,i,j\n"
    frame = read(content)
    assert frame["databases_to_backup"].tolist() == ["a,b,c,d,e,f", "g,h,i,j"]


def test_crlf_line_ends(read):
    frame = read(f"database_uuid,backup_uuid,frequency\r\n{DB},{BK},daily\r\n\r\n{DB},x,hourly\r\n")
    assert frame["frequency"].tolist() == ["daily", "hourly"]
    assert frame["line"].tolist() == [2, 4]
    assert frame["errors"].tolist() == [[], []]


def test_blank_lines_are_ignored_and_line_numbers_stay_physical(read):
    content = (
        "\n"  # 1
        "   \n"  # 2
        "database_uuid,backup_uuid,timeout\n"  # 3
        "\n"  # 4
        f"{DB},a,60\n"  # 5
        ",,\n"  # 6
        " , ,\t\n"  # 7
        "\n"  # 8
        f"{DB},b,5\n"  # 9
    )
    frame = read(content)
    assert frame["line"].tolist() == [5, 9]
    assert frame["backup_uuid"].tolist() == ["a", "b"]
    assert frame["errors"].tolist()[1] == ["changes.csv:9: column 'timeout': timeout must be at least 60 (got 5)"]


def test_header_line_number_after_leading_blank_lines(read):
    with pytest.raises(InputError) as caught:
        read("\n\ndatabase_uuid,backup_uuid,frequncy\n")
    assert caught.value.line == 3


def test_quoted_multiline_cells_count_their_lines(read):
    content = (
        "database_uuid,backup_uuid,databases_to_backup,timeout\n"  # 1
        f'{DB},a,"one\ntwo\nthree",60\n'  # 2-4
        f"{DB},b,x,abc\n"  # 5
        f'"{DB}","c","quoted, with comma",60\n'  # 6
        f'{DB},d,"say ""hi""",1\n'  # 7
    )
    frame = read(content)
    assert frame["line"].tolist() == [2, 5, 6, 7]
    assert frame["databases_to_backup"].tolist() == ["one\ntwo\nthree", "x", "quoted, with comma", 'say "hi"']
    assert frame["errors"].tolist()[1] == ["changes.csv:5: column 'timeout': 'abc' is not a whole number"]
    assert frame["errors"].tolist()[3] == ["changes.csv:7: column 'timeout': timeout must be at least 60 (got 1)"]
    assert any("newline" in message for message in frame["errors"].tolist()[0])


def test_cells_are_read_as_text_never_as_numbers(read):
    frame = read("database_uuid,backup_uuid,databases_to_backup,s3_storage_uuid\n007,1e3,007,0012\n")
    row = frame.iloc[0]
    assert (row["database_uuid"], row["backup_uuid"], row["databases_to_backup"], row["s3_storage_uuid"]) == (
        "007",
        "1e3",
        "007",
        "0012",
    )


def test_text_file_object(read):
    frame = read_changes(io.StringIO(f"database_uuid,backup_uuid,timeout\n{DB},{BK},60\n"))
    assert frame.iloc[0]["timeout"] == 60
    assert frame.attrs["source"] == "<stream>"


def test_binary_file_object_with_bom(tmp_path):
    data = f"\ufeffdatabase_uuid;backup_uuid;timeout\r\n{DB};{BK};7\r\n".encode()
    frame = read_changes(io.BytesIO(data))
    assert frame.iloc[0]["errors"] == ["<stream>:2: column 'timeout': timeout must be at least 60 (got 7)"]


def test_open_file_objects_use_their_file_name(tmp_path):
    path = tmp_path / "fleet.csv"
    path.write_text(f"database_uuid,backup_uuid,timeout\n{DB},{BK},1\n", encoding="utf-8")
    with open(path, "rb") as binary:
        assert read_changes(binary).iloc[0]["errors"][0].startswith("fleet.csv:2: ")
    with open(path, encoding="utf-8", newline="") as text:
        frame = read_changes(text)
    assert frame.attrs["source"] == "fleet.csv"
    assert read_changes(str(path)).attrs["source"] == "fleet.csv"


# ---------------------------------------------------------------------------------------------------------------
# Cells


BOOL_CELLS = [
    ("true", True),
    ("TRUE", True),
    ("True", True),
    ("yes", True),
    ("YES", True),
    ("1", True),
    (" y ", True),
    ("false", False),
    ("FALSE", False),
    ("no", False),
    ("No", False),
    ("0", False),
    ("n", False),
]


@pytest.mark.parametrize(("cell", "expected"), BOOL_CELLS)
def test_spreadsheet_booleans(read, cell, expected):
    row = read(f"database_uuid,backup_uuid,enabled,backup_now\n{DB},{BK},{cell},{cell}\n").iloc[0]
    assert row["enabled"] is expected and row["backup_now"] is expected
    assert row["errors"] == []


def test_bad_boolean(read):
    row = read(f"database_uuid,backup_uuid,dump_all\n{DB},{BK},maybe\n").iloc[0]
    assert row["errors"] == [
        "changes.csv:2: column 'dump_all': 'maybe' is not a yes/no value (write true/false, yes/no or 1/0)"
    ]


@pytest.mark.parametrize(
    ("cell", "expected", "error"),
    [
        ("14", 14, None),
        ("14.0", 14, None),
        (" 14 ", 14, None),
        ("1,5", None, "'1,5' is not a whole number"),
        ("14.5", None, "'14.5' is not a whole number"),
        ("abc", None, "'abc' is not a whole number"),
        ("-1", -1, "must be at least 0 (got -1)"),
    ],
)
def test_spreadsheet_integers(read, cell, expected, error):
    name = "database_backup_retention_days_s3"
    row = read(f'database_uuid,backup_uuid,{name}\n{DB},{BK},"{cell}"\n').iloc[0]
    if error is None:
        assert row[name] == expected and type(row[name]) is int
        assert row["errors"] == []
    else:
        assert len(row["errors"]) == 1
        assert row["errors"][0].startswith(f"changes.csv:2: column '{name}': ")
        assert error in row["errors"][0]
        if expected is not None:
            assert row[name] == expected


@pytest.mark.parametrize(("cell", "expected"), [("1.5", 1.5), ("2", 2.0), ("0.25", 0.25), ("2.5000000", 2.5)])
def test_spreadsheet_decimals(read, cell, expected):
    name = "database_backup_retention_max_storage_locally"
    row = read(f"database_uuid,backup_uuid,{name}\n{DB},{BK},{cell}\n").iloc[0]
    assert row[name] == expected and type(row[name]) is float and row["errors"] == []


def test_decimal_comma_is_an_error_not_fifteen(read):
    name = "database_backup_retention_max_storage_s3"
    row = read(f'database_uuid,backup_uuid,{name}\n{DB},{BK},"1,5"\n').iloc[0]
    assert row[name] != 15
    assert len(row["errors"]) == 1 and "'1,5' is not a number" in row["errors"][0] and "'1.5'" in row["errors"][0]


def test_empty_cell_means_unchanged(read):
    names = [f.name for f in SETTINGS]
    frame = read(",".join(["database_uuid", "backup_uuid", *names, "backup_now"]) + f"\n{DB},{BK}" + "," * 14 + "\n")
    row = frame.iloc[0]
    assert all(row[name] is None for name in [*names, "backup_now"])
    assert row["errors"] == [] and row_changes(row) == {}


def test_short_rows_leave_the_missing_cells_unchanged(read):
    row = read(f"database_uuid,backup_uuid,timeout,frequency\n{DB},{BK},60\n").iloc[0]
    assert row["frequency"] is None and row["timeout"] == 60 and row["errors"] == []


@pytest.mark.parametrize("token", [CLEAR, CLEAR.upper(), f" {CLEAR.title()} "])
def test_clear_token_clears_databases_to_backup(read, token):
    row = read(f"database_uuid,backup_uuid,databases_to_backup\n{DB},{BK},{token}\n").iloc[0]
    assert row["databases_to_backup"] == CLEAR and row["errors"] == []
    assert row_changes(row) == {"databases_to_backup": CLEAR}


@pytest.mark.parametrize("field", [f for f in SETTINGS if not f.clearable], ids=lambda f: f.name)
def test_clear_token_is_an_error_where_it_cannot_clear(read, field):
    row = read(f"database_uuid,backup_uuid,{field.name}\n{DB},{BK},{CLEAR}\n").iloc[0]
    assert len(row["errors"]) == 1
    message = row["errors"][0]
    assert message.startswith(f"changes.csv:2: column '{field.name}'") and "cannot be cleared" in message
    assert repr(CLEAR) in message


def test_s3_storage_uuid_clear_says_the_server_cannot(read):
    row = read(f"database_uuid,backup_uuid,s3_storage_uuid\n{DB},{BK},{CLEAR}\n").iloc[0]
    assert "through the Coolify API" in row["errors"][0]


@pytest.mark.parametrize(
    ("cell", "column", "expected"),
    [
        ("'-1", "timeout", -1),
        ("'+90", "timeout", 90),
        ("'=1+2", "databases_to_backup", "=1+2"),
        ("'@daily", "frequency", "@daily"),
        ("''=x", "databases_to_backup", "'=x"),
        ("'abc", "databases_to_backup", "'abc"),
        ("it's", "databases_to_backup", "it's"),
    ],
)
def test_apostrophe_of_a_spreadsheet_safe_export_is_removed(read, cell, column, expected):
    row = read(f"database_uuid,backup_uuid,{column}\n{DB},{BK},{cell}\n").iloc[0]
    assert row[column] == expected


# ---------------------------------------------------------------------------------------------------------------
# Validation (SPEC "Validation"): every rule reaches the row's errors


RULES = [
    ("timeout", "59", "timeout must be at least 60 (got 59)"),
    ("timeout", "36001", "timeout must be at most 36000 (got 36001)"),
    ("timeout", "1.5", "'1.5' is not a whole number"),
    ("enabled", "2", "'2' is not a yes/no value"),
    ("save_s3", "sure", "'sure' is not a yes/no value"),
    ("backup_now", "now", "'now' is not a yes/no value"),
    ("frequency", "0 0 31 2 *", "'0 0 31 2 *' can never run: February has no day 31"),
    ("frequency", "@midnight", "'@midnight' is not a valid frequency"),
    ("frequency", "Daily", "'Daily' is not a valid frequency"),
    ("frequency", "0", "'0' is not a valid frequency"),
    ("frequency", "*/60 * * * *", "is not a valid frequency"),
    ("databases_to_backup", "app;rm -rf /", "forbidden character ';' (command separator)"),
    ("databases_to_backup", "a&b", "forbidden character '&'"),
    ("databases_to_backup", "$(id)", "forbidden character '$('"),
    ("databases_to_backup", "db:col>x", "Invalid collection name"),
    ("s3_storage_uuid", "abc/def", "is not a usable uuid"),
    ("s3_storage_uuid", "abc def", "is not a usable uuid"),
    ("database_uuid", "abc/../x", "is not a usable uuid"),
    ("database_uuid", "a%2Fb", "is not a usable uuid"),
    ("backup_uuid", "a?b=1", "is not a usable uuid"),
    ("backup_uuid", "a b", "is not a usable uuid"),
]


@pytest.mark.parametrize(("column", "cell", "expected"), RULES)
def test_every_validation_rule_reaches_the_errors(read, column, cell, expected):
    cells = {"database_uuid": DB, "backup_uuid": BK, column: cell}
    header = list(cells)
    frame = read(",".join(header) + "\n" + ",".join(f'"{cells[h]}"' for h in header) + "\n")
    (message,) = frame.iloc[0]["errors"]
    assert message.startswith(f"changes.csv:2: column '{column}'")
    assert expected in message
    stripped = cell.strip()
    assert repr(stripped) in message or stripped in message  # the value is named


@pytest.mark.parametrize("field", [f for f in SETTINGS if f.minimum is not None], ids=lambda f: f.name)
def test_every_lower_bound(read, field):
    below = field.minimum - 1
    row = read(f"database_uuid,backup_uuid,{field.name}\n{DB},{BK},{below:g}\n").iloc[0]
    assert row["errors"] == [
        f"changes.csv:2: column '{field.name}': {field.name} must be at least {field.minimum:g} (got {below:g})"
    ]


@pytest.mark.parametrize("field", [f for f in SETTINGS if f.kind is Kind.INT], ids=lambda f: f.name)
def test_every_integer_field_rejects_fractions(read, field):
    row = read(f"database_uuid,backup_uuid,{field.name}\n{DB},{BK},100.5\n").iloc[0]
    assert row["errors"] == [f"changes.csv:2: column '{field.name}': '100.5' is not a whole number"]


@pytest.mark.parametrize("column", KEY_COLUMNS)
@pytest.mark.parametrize("cell", ["", "   "])
def test_empty_key_is_an_error(read, column, cell):
    cells = {"database_uuid": DB, "backup_uuid": BK, "timeout": "60"}
    cells[column] = cell
    row = read("database_uuid,backup_uuid,timeout\n" + ",".join(cells.values()) + "\n").iloc[0]
    assert len(row["errors"]) == 1
    assert row["errors"][0].startswith(f"changes.csv:2: column '{column}' is empty")
    assert row[column] == ""


def test_save_s3_without_s3_storage_uuid_is_not_checked_here(read):
    row = read(f"database_uuid,backup_uuid,save_s3\n{DB},{BK},true\n").iloc[0]
    assert row["errors"] == [] and row["save_s3"] is True


def test_several_errors_in_one_row_are_all_reported(read):
    content = (
        "database_uuid,backup_uuid,enabled,frequency,databases_to_backup,timeout,database_backup_retention_days_s3\n"
        f"a/b,{BK},perhaps,every hour,x|y;z,5,1;5\n"
    )
    errors = read(content).iloc[0]["errors"]
    assert [e.split(": ")[1] for e in errors] == [
        "column 'database_uuid'",
        "column 'enabled'",
        "column 'frequency'",
        "column 'databases_to_backup', value 'x|y;z'",
        "column 'database_backup_retention_days_s3'",
        "column 'timeout'",
    ]  # in SETTINGS order, like the columns
    assert all(e.startswith("changes.csv:2: ") for e in errors)


def test_a_row_with_more_cells_than_the_header(read):
    frame = read(f"database_uuid,backup_uuid,databases_to_backup\n{DB},{BK},a,b\n{DB},x,c,,\n")
    first, second = frame["errors"].tolist()
    assert len(first) == 1 and first[0].startswith("changes.csv:2: the row has 4 cells but the header has 3")
    assert "'b'" in first[0]
    assert second == []  # trailing empty cells (a spreadsheet's ragged export) carry nothing


def test_a_nameless_header_column_must_stay_empty(read):
    frame = read(f"database_uuid,,backup_uuid\n{DB},,a\n{DB},oops,b\n")
    assert frame["errors"].tolist() == [[], ["changes.csv:3: column 2 has no name in the header but holds 'oops'"]]


def test_duplicates_are_all_invalid_and_name_each_other(read):
    content = (
        "database_uuid,backup_uuid,timeout\n"  # 1
        f"{DB},{BK},60\n"  # 2
        f"{DB},other,60\n"  # 3
        f" {DB} , {BK} ,120\n"  # 4
        f"other,{BK},60\n"  # 5
        f"{DB},{BK},600\n"  # 6
    )
    errors = read(content)["errors"].tolist()
    assert errors[1] == [] and errors[3] == []
    assert len(errors[0]) == 1 and "also targeted by line 4, line 6" in errors[0][0]
    assert errors[0][0].startswith("changes.csv:2: ") and DB in errors[0][0] and BK in errors[0][0]
    assert "line 2, line 6" in errors[2][0] and "line 2, line 4" in errors[4][0]


def test_good_rows_are_kept_when_others_are_bad(read):
    content = (
        "database_uuid,backup_uuid,timeout,frequency\n"
        f"{DB},a,60,daily\n"
        f"{DB},b,abc,daily\n"
        f"{DB},c,7200,0 3 * * *\n"
        f"{DB},d,60,nonsense\n"
        f"{DB},e,,\n"
    )
    frame = read(content)
    assert [bool(e) for e in frame["errors"]] == [False, True, False, True, False]
    assert frame["timeout"].tolist() == [60, "abc", 7200, 60, None]
    assert frame["frequency"].tolist() == ["daily", "daily", "0 3 * * *", "nonsense", None]


def test_ten_thousand_rows_are_fast(tmp_path):
    names = [f.name for f in SETTINGS if f.name != "s3_storage_uuid"]
    lines = [",".join(["database_uuid", "backup_uuid", *names, "backup_now"])]
    for i in range(10_000):
        cells = {
            "enabled": "yes",
            "save_s3": "0",
            "frequency": f"{i % 60} {i % 24} * * *",
            "databases_to_backup": f"app{i}",
            "dump_all": "false",
            "timeout": str(60 + i),
        }
        values = [cells.get(n, f"{i % 30}") for n in names]
        lines.append(",".join([f"db{i:05d}", f"bk{i:05d}", *values, "no"]))
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame = read_changes(path)  # its speed is measured in benchmarks/bench_input.py, not asserted here
    assert len(frame) == 10_000 and frame["line"].iloc[-1] == 10_001
    assert frame["errors"].map(len).sum() == 0


# ---------------------------------------------------------------------------------------------------------------
# DataFrame input


def test_dataframe_input_with_numeric_dtypes_and_nan():
    source = pd.DataFrame(
        {
            "uuid": ["d1", "d2", "d3"],
            "scheduled_backup_uuid": ["b1", "b2", "b3"],
            "timeout": [3600.0, np.nan, 5.0],
            "enabled": [True, False, True],
            "save_s3": pd.array([True, None, False], dtype="boolean"),
            "database_backup_retention_amount_s3": pd.array([1, None, 3], dtype="Int64"),
            "database_backup_retention_max_storage_s3": [1.5, np.nan, 2.0],
            "dump_all": [1, 0, 1],
            "frequency": pd.array(["daily", None, "0 3 * * *"], dtype="str"),
            "databases_to_backup": [None, "007", np.nan],
            "project": ["p", "q", "r"],
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    frame = read_changes(source)
    assert frame.index.equals(source.index)
    assert frame["line"].isna().all() and str(frame["line"].dtype) == "Int64"
    assert frame.attrs["source"] == "<DataFrame>"
    assert frame["database_uuid"].tolist() == ["d1", "d2", "d3"]
    assert frame["timeout"].tolist() == [3600, None, 5]
    assert [type(v) for v in frame["timeout"]] == [int, type(None), int]
    assert frame["enabled"].tolist() == [True, False, True]
    assert all(type(v) is bool for v in frame["enabled"])
    assert frame["save_s3"].tolist() == [True, None, False]
    assert frame["database_backup_retention_amount_s3"].tolist() == [1, None, 3]
    assert frame["database_backup_retention_max_storage_s3"].tolist() == [1.5, None, 2.0]
    assert frame["dump_all"].tolist() == [True, False, True]
    assert frame["frequency"].tolist() == ["daily", None, "0 3 * * *"]
    assert frame["databases_to_backup"].tolist() == [None, "007", None]
    assert frame["errors"].tolist() == [
        [],
        [],
        ["<DataFrame> row r3: column 'timeout': timeout must be at least 60 (got 5)"],
    ]


def test_dataframe_errors_name_the_index_label_and_duplicates():
    source = pd.DataFrame({"database_uuid": ["d", "d", "e"], "backup_uuid": ["b", "b", "b"]}, index=[10, 20, 30])
    errors = read_changes(source)["errors"].tolist()
    assert errors[0][0].startswith("<DataFrame> row 10: ") and "row 20" in errors[0][0]
    assert errors[1][0].startswith("<DataFrame> row 20: ") and "row 10" in errors[1][0]
    assert errors[2] == []


def test_dataframe_unknown_and_missing_columns_raise():
    with pytest.raises(InputError, match="unknown column 'timeuot' — did you mean 'timeout'") as caught:
        read_changes(pd.DataFrame({"database_uuid": ["d"], "backup_uuid": ["b"], "timeuot": [60]}))
    assert caught.value.file == "<DataFrame>" and caught.value.line is None
    with pytest.raises(InputError, match="missing key column 'database_uuid'"):
        read_changes(pd.DataFrame())
    with pytest.raises(InputError, match="given twice"):
        read_changes(pd.DataFrame([["d", "d2", "b"]], columns=["database_uuid", "uuid", "backup_uuid"]))


def test_dataframe_keys_may_be_in_the_index():
    source = pd.DataFrame({"database_uuid": ["d1", "d2"], "backup_uuid": ["b1", "b2"], "timeout": [60, 90]})
    indexed = source.set_index(["database_uuid", "backup_uuid"])
    frame = read_changes(indexed)
    assert frame["database_uuid"].tolist() == ["d1", "d2"] and frame["timeout"].tolist() == [60, 90]
    assert frame.index.equals(indexed.index)


def test_dataframe_pandas_unnamed_index_column_is_ignored():
    source = pd.read_csv(io.StringIO(",database_uuid,backup_uuid\n0,d,b\n"), dtype=str)
    assert read_changes(source).iloc[0]["errors"] == []


def test_empty_dataframe_with_columns():
    frame = read_changes(pd.DataFrame({"database_uuid": [], "backup_uuid": [], "frequency": []}))
    assert list(frame.columns) == ["line", "database_uuid", "backup_uuid", "frequency", "errors"] and len(frame) == 0


def test_edited_inventory_like_frame():
    inventory = pd.DataFrame(
        {
            "project": ["p"] * 2,
            "database_name": ["n1", "n2"],
            "database_uuid": ["d1", "d2"],
            "backup_uuid": ["b1", "b2"],
            **{f.name: [None, None] for f in SETTINGS},
            "latest_status": ["success", None],
        }
    )
    inventory.loc[0, "timeout"] = 120
    frame = read_changes(inventory)
    assert [row_changes(r) for _, r in frame.iterrows()] == [{"timeout": 120}, {}]


def test_reading_twice_changes_nothing(read):
    content = (
        "uuid,scheduled_backup_uuid,enabled,databases_to_backup,timeout,backup_now,frequency\n"
        f"{DB},{BK},yes,{CLEAR},60,1,@daily\n"
        f"{DB},x,maybe,a;b,5,,\n"
        f"{DB},x,,,1,5,0\n"
    )
    first = read(content)
    second = read_changes(first)
    pd.testing.assert_frame_equal(second, first)
    assert second.attrs == first.attrs
    source = pd.DataFrame({"database_uuid": ["d", "d"], "backup_uuid": ["b", "c"], "timeout": ["x", 60]})
    once = read_changes(source)
    pd.testing.assert_frame_equal(read_changes(once), once)


# ---------------------------------------------------------------------------------------------------------------
# row_changes and write_csv


def test_row_changes():
    assert row_changes({"database_uuid": "d", "timeout": 60, "enabled": None, "backup_now": False, "errors": []}) == {
        "timeout": 60,
        "backup_now": False,
    }
    assert row_changes(pd.Series({"frequency": np.nan, "databases_to_backup": CLEAR, "line": 3})) == {
        "databases_to_backup": CLEAR
    }


def _cells(text: str) -> list[str]:
    return [cell for row in text.splitlines() for cell in row.split(",")]


def test_write_csv_results_frame_is_spreadsheet_safe_and_readable(tmp_path):
    results = pd.DataFrame(
        {
            "database_uuid": ["d1", "d2", "d3"],
            "backup_uuid": ["b1", "b2", "b3"],
            "status": ["updated", "rejected", "invalid"],
            "http_status": pd.array([200, 422, None], dtype="Int64"),
            "message": ['=HYPERLINK("http://evil","x")', "+1 attempts", "@SUM(A1)"],
            "errors": [[], ["-bad", "second"], ["=cmd|' /C calc'!A0"]],
            "attempts": [1, 2, 0],
            "elapsed_s": [0.25, 1.5, np.nan],
            "payload": ['{"timeout": 60}', None, "\tx"],
            "before": ['{"timeout": 3600}', "", "\rx"],
            "timeout": [60, None, 7200],
        }
    )
    path = tmp_path / "results.csv"
    write_csv(results, path)
    text = path.read_bytes().decode("utf-8")
    assert "'=HYPERLINK" in text and "'+1 attempts" in text and "'@SUM(A1)" in text
    assert "'-bad; second" in text and "'\tx" in text and "'\rx" in text
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    back = read_changes(path)
    assert back["database_uuid"].tolist() == ["d1", "d2", "d3"]
    assert back["timeout"].tolist() == [60, None, 7200]
    assert back["errors"].tolist() == [[], [], []]
    assert list(back.columns) == ["line", "database_uuid", "backup_uuid", "timeout", "errors"]


def test_write_csv_round_trips_a_changes_frame(tmp_path):
    source = pd.DataFrame(
        {
            "database_uuid": ["d1", "d2", "d3"],
            "backup_uuid": ["b1", "b2", "b3"],
            "enabled": [True, None, False],
            "frequency": ["@daily", "0 3 * * *", None],
            "databases_to_backup": [CLEAR, "-leading-dash", "'=quoted"],
            "database_backup_retention_max_storage_s3": [2.5, 1e-07, None],
            "timeout": [60, None, 36000],
            "backup_now": [None, True, False],
        }
    )
    changes = read_changes(source)
    assert changes["errors"].map(len).sum() == 0
    buffer = io.StringIO()
    write_csv(changes, buffer)
    back = read_changes(io.StringIO(buffer.getvalue()))
    for name in changes.columns:
        if name not in ("line", "errors"):
            assert back[name].tolist() == changes[name].tolist(), name
    assert back["errors"].map(len).sum() == 0
    binary = io.BytesIO()
    write_csv(changes, binary)
    assert binary.getvalue().decode("utf-8") == buffer.getvalue()


def test_a_stray_quote_inside_an_unquoted_cell_is_kept(read):
    frame = read(f'database_uuid,backup_uuid,databases_to_backup\n{DB},{BK},ab"c\n\n\n')
    assert frame["databases_to_backup"].tolist() == ['ab"c'] and frame["errors"].tolist() == [[]]


def test_dataframe_without_column_names():
    with pytest.raises(InputError, match="no header"):
        read_changes(pd.DataFrame([[DB, BK, "daily"]]))


def test_an_absurd_number_is_a_row_error_not_a_crash(read):
    huge = "1" + "0" * 400
    frame = read(f"database_uuid,backup_uuid,timeout\n{DB},{BK},{huge}.0\n{DB},x,60\n")
    assert len(frame["errors"].iloc[0]) == 1 and frame["errors"].iloc[0][0].startswith(
        "changes.csv:2: column 'timeout'"
    )
    assert frame["errors"].iloc[1] == []


# ---------------------------------------------------------------------------------------------------------------
# Issue 14 §3: a file saved by a German, French, Spanish or Italian Excel

_LOCALES = {
    "de": ("WAHR", "FALSCH"),
    "fr": ("VRAI", "FAUX"),
    "es": ("VERDADERO", "FALSO"),
    "it": ("VERO", "FALSO"),
}


def _excel_file(tmp_path, locale: str, rows: int = 36, storage: str = "50,0") -> Path:
    """What that Excel saves as 'CSV (semicolon)': ';', its booleans, a decimal comma, cp1252 names."""
    yes, no = _LOCALES[locale]
    lines = ["database_uuid;backup_uuid;project;database_name;enabled;save_s3;database_backup_retention_max_storage_s3"]
    lines += [f"db{i:03d};bk{i:03d};Büro;Müller-Straße {i} àéñ;{yes};{no};{storage}" for i in range(rows)]
    path = tmp_path / f"export-{locale}.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


@pytest.mark.parametrize("locale", sorted(_LOCALES))
def test_an_excel_file_of_a_common_locale_is_read_and_its_decimal_comma_explained_once(tmp_path, locale):
    path = _excel_file(tmp_path, locale)
    frame = bb.read_changes(path)  # cp1252 only in ignored columns: the file is not refused
    assert frame["enabled"].tolist() == [True] * 36 and frame["save_s3"].tolist() == [False] * 36
    column = "database_backup_retention_max_storage_s3"
    assert frame[column].tolist() == ["50,0"] * 36  # never changed: still an error
    assert all(len(found) == 1 and f"column '{column}'" in found[0] for found in errors_of(frame))
    assert errors_of(frame)[0][0].startswith(f"export-{locale}.csv:2: column '{column}'")
    (line,) = summary(frame)
    assert line == (
        f"export-{locale}.csv: column '{column}': 36 rows use a decimal comma (lines 2, 3, 4 and 33 more, e.g. "
        "'50,0'): write the decimal point as '.' (50.0, not 50,0); the value is not changed for you"
    )


def test_the_cli_groups_a_problem_repeated_down_a_column_and_lists_the_rest(tmp_path):
    path = _excel_file(tmp_path, "de")
    text = (
        path.read_bytes()
        .decode("cp1252")
        .replace("db000;bk000;Büro;Müller-Straße 0 àéñ;WAHR;FALSCH;50,0", "db000;bk000;;;WAHR;FALSCH;50.5")
    )
    text = text.replace("db001;bk001;Büro;Müller-Straße 1 àéñ;WAHR;FALSCH;50,0", "db001;bk001;;;JEIN;FALSCH;50,0")
    path.write_bytes(text.encode("cp1252"))
    done = subprocess.run(
        [sys.executable, "-m", "bulkbackup", "plan", "--offline", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout.splitlines()
    assert out[0] == "plan: 1 update, 35 invalid" and done.stderr == ""
    grouped = [line for line in out if "rows use a decimal comma" in line]
    assert grouped == [
        "  invalid: export-de.csv: column 'database_backup_retention_max_storage_s3': 35 rows use a decimal comma "
        "(lines 3, 4, 5 and 32 more, e.g. '50,0'): write the decimal point as '.' (50.0, not 50,0); the value is not "
        "changed for you"
    ]
    # Line 3 has a problem of its own too, so it is still listed with both; the 34 others are said by the group.
    invalid = [line for line in out if line.startswith("  line ")]
    assert len(invalid) == 2 and "line 2: update db000/bk000" in invalid[0] and "'JEIN'" in invalid[1]
    assert len(out) < 10


def test_a_used_cell_that_is_not_utf8_is_an_error_of_its_row_and_the_good_rows_go(tmp_path):
    path = tmp_path / "changes.csv"
    path.write_bytes(
        f"database_uuid,backup_uuid,databases_to_backup\n{DB},{BK},Müller\n{DB},b2,shop\n".encode("cp1252")
    )
    planned = bb.plan(path)
    assert planned["action"].tolist() == ["invalid", "update"]
    assert "changes.csv:2: column 'databases_to_backup', value 'M\\udcfcller': holds byte 0xfc" in planned["errors"][0]
    assert "Windows-1252" in planned["errors"][0] and "'CSV UTF-8'" in planned["errors"][0]


@pytest.mark.parametrize(("cell", "expected"), [("Wahr", True), ("faux", False), ("VERDADERO", True), ("falso", False)])
def test_locale_booleans_read_in_any_case(read, cell, expected):
    frame = read(f"database_uuid,backup_uuid,enabled\n{DB},{BK},{cell}\n")
    assert errors_of(frame) == [[]] and frame["enabled"].tolist() == [expected]


# ---------------------------------------------------------------------------------------------------------------
# Issue 14 §3 and §6: reading an export back, workbooks, whole numbers


def test_read_csv_reads_an_export_back_exactly_where_pd_read_csv_keeps_the_apostrophes(tmp_path):
    frame = pd.DataFrame(
        {
            "database_uuid": [DB, "007"],
            "database_name": ["=HYPERLINK(1)", "'=quoted"],
            "frequency": ["@daily", "-1 * * * *"],
            "timeout": [14400, None],
            "enabled": [True, False],
            "save_s3": [True, None],
            "database_backup_retention_max_storage_s3": [0.5, 12.25],
            "errors": [[], ["a", "b"]],
        }
    )
    path = tmp_path / "export.csv"
    bb.write_csv(frame, path)
    assert pd.read_csv(path)["frequency"].tolist() == ["'@daily", "'-1 * * * *"]  # the surprise
    back = bb.read_csv(path)
    assert list(back.columns) == list(frame.columns)
    assert back["database_uuid"].tolist() == [DB, "007"]
    assert back["database_name"].tolist() == ["=HYPERLINK(1)", "'=quoted"]
    assert back["frequency"].tolist() == ["@daily", "-1 * * * *"]
    assert back["timeout"].tolist() == [14400, pd.NA] and str(back["timeout"].dtype) == "Int64"
    assert back["enabled"].tolist() == [True, False] and back["save_s3"].tolist() == [True, pd.NA]
    assert back["database_backup_retention_max_storage_s3"].tolist() == [0.5, 12.25]
    assert back["errors"].tolist() == [None, "a; b"]
    assert "read_csv" in bb.__all__


@pytest.mark.parametrize(
    ("data", "name", "what"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "changes.xlsx", "a spreadsheet workbook (.xlsx/.ods"),
        (b"PK\x03\x04\x14\x00\x06\x00\x84\x00", "changes.csv", "a spreadsheet workbook (.xlsx/.ods"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "changes.xls", "an Excel 97-2003 workbook"),
    ],
)
def test_a_workbook_is_named_as_one_with_the_way_to_save_it(tmp_path, data, name, what):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        bb.read_changes(path)
    assert str(caught.value).startswith(f"{name}: this is {what}") and "save it as 'CSV UTF-8'" in str(caught.value)
    done = subprocess.run(
        [sys.executable, "-m", "bulkbackup", "plan", "--offline", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "CSV UTF-8" in done.stderr


def test_write_csv_writes_whole_numbers_of_float_columns_without_a_point(tmp_path):
    frame = pd.DataFrame(
        {
            "timeout": [14400.0, np.nan],  # an integer column with an empty cell: float64
            "amount": pd.Series([7.0, None], dtype=object),
            "size": [0.5, 2.0],  # a real decimal column: written as it is
            "big": [2.0**60, 1.0],  # beyond what a float holds exactly: not made an integer
        }
    )
    path = tmp_path / "undo.csv"
    bb.write_csv(frame, path)
    assert path.read_text().splitlines() == ["timeout,amount,size,big", f"14400,7,0.5,{2.0**60}", ",,2.0,1.0"]


def test_the_export_memory_seam_reads_untouched_cells_as_unchanged(tmp_path):
    """The seam the export's memory plugs into: a cell still as exported never makes its row invalid."""
    from bulkbackup._input.changes import read

    path = _excel_file(tmp_path, "de", rows=3)
    column = "database_backup_retention_max_storage_s3"
    frame = read(path, untouched=lambda name: {0, 1} if name == column else ())
    assert errors_of(frame)[:2] == [[], []] and frame[column].tolist()[:2] == [None, None]
    assert frame[column].tolist()[2] == "50,0" and len(errors_of(frame)[2]) == 1
    assert errors_of(bb.read_changes(path)) != [[], [], []]  # read_changes itself passes no memory


def test_a_read_frame_pickles_with_its_grouped_problems(tmp_path):
    frame = bb.read_changes(_excel_file(tmp_path, "fr", rows=4))
    path = tmp_path / "frame.pkl"
    frame.to_pickle(path)
    assert summary(pd.read_pickle(path)) == summary(frame) and len(summary(frame)) == 1
