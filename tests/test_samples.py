"""The sample files still match the default sandbox fleet and still show what the README says they show."""

from __future__ import annotations

from pathlib import Path

import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def client():
    with Sandbox(databases=40, seed=0) as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as c:
        yield c


def test_clean_changes_are_all_valid_and_change_something(client):
    planned = bb.plan(SAMPLES / "changes.csv", client)
    assert list(planned["action"]) == ["update"] * 4 + ["trigger"]


def test_spreadsheet_export_reads_like_the_clean_file():
    raw = (SAMPLES / "spreadsheet-export.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b";" in raw and b"\r\n" in raw and b"\r\n\r\n" in raw
    frame = bb.read_changes(SAMPLES / "spreadsheet-export.csv")
    assert frame["errors"].map(len).sum() == 0
    assert list(frame["line"]) == [2, 4, 5, 7]  # blank lines skipped, numbering kept
    assert list(frame["enabled"]) == [True, False, True, None]
    assert frame.loc[0, "database_backup_retention_days_locally"] == 14
    assert frame.loc[1, "timeout"] == 3600


def test_spreadsheet_export_plans_without_errors(client):
    planned = bb.plan(SAMPLES / "spreadsheet-export.csv", client)
    assert list(planned["action"]) == ["update", "update", "update", "unchanged"]


def test_mistakes_are_each_reported_with_line_and_column_and_the_good_row_still_goes(client):
    planned = bb.plan(SAMPLES / "mistakes.csv", client).set_index("line")
    expected = {
        2: "column 'frequency': 'every day' is not a valid frequency",
        3: "column 'timeout': timeout must be at least 60 (got 30)",
        4: "column 'database_backup_retention_max_storage_s3': '1,5' is not a number",
        5: "save_s3 = true needs s3_storage_uuid",
        6: "forbidden character ';'",
        7: "column 'enabled': 'maybe' is not a yes/no value",
        8: "also targeted by line 7",
        9: "no backup configuration 'doesnotexist000000000000'",
        10: "column 'frequency': '0 5 31 2 *' can never run: February has no day 31",
    }
    for line, message in expected.items():
        assert planned.loc[line, "action"] == "invalid"
        assert f"mistakes.csv:{line}:" in planned.loc[line, "errors"]
        assert message in planned.loc[line, "errors"], planned.loc[line, "errors"]
    assert planned.loc[11, "action"] == "update"
