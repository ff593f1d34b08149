"""Regenerate the sample files from the default sandbox fleet (`bulkbackup sandbox`: 40 databases, seed 0).

Run: python samples/make_samples.py — tests/test_samples.py checks that the files still match the fleet and
still show what the README says they show.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

HERE = Path(__file__).resolve().parent


def fleet_rows() -> list[dict]:
    with Sandbox(databases=40, seed=0) as sandbox, bb.Client(sandbox.endpoint, sandbox.token) as client:
        fleet = bb.inventory(client)
        storage = sandbox.s3_storages[0]["uuid"]
    running = fleet[fleet["database_status"].astype(str).str.startswith("running")]
    rows = running.to_dict("records")
    for row in rows:
        row["s3"] = storage
    return rows


def write(name: str, lines: list[list[str]], *, sep: str = ",", bom: bool = False, crlf: bool = False) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\r\n" if crlf else "\n").writerows(lines)
    (HERE / name).write_bytes(("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8"))


def main() -> None:
    r = fleet_rows()
    no_s3 = next(row for row in r[17:] if not row["save_s3"])
    key = lambda row: [row["database_uuid"], row["backup_uuid"]]  # noqa: E731
    write(
        "changes.csv",
        [
            [
                "database_uuid",
                "backup_uuid",
                "frequency",
                "timeout",
                "database_backup_retention_amount_locally",
                "backup_now",
            ],
            [*key(r[0]), "0 2 * * *", "7200", "14", ""],
            [*key(r[1]), "30 2 * * *", "7200", "14", ""],
            [*key(r[2]), "daily", "", "7", ""],
            [*key(r[3]), "@weekly", "1800", "", ""],
            [*key(r[4]), "", "", "", "true"],
        ],
    )
    write(
        "spreadsheet-export.csv",
        [
            [
                "Database UUID",
                "Backup UUID",
                "Enabled",
                "Frequency",
                "Database Backup Retention Days Locally",
                "Timeout",
                "Dump All",
                "Notes",
            ][:7],
            [*key(r[5]), "Yes", "0 4 * * *", "14.0", "", "no"],
            [],
            [*key(r[6]), "NO", "", "30", "3600.0", ""],
            [*key(r[7]), "yes", "15 3 * * 1-5", "", "", "YES"],
            [],
            [*key(r[8]), "", "", "", "", ""],
        ],
        sep=";",
        bom=True,
        crlf=True,
    )
    write(
        "mistakes.csv",
        [
            [
                "database_uuid",
                "backup_uuid",
                "frequency",
                "timeout",
                "database_backup_retention_max_storage_s3",
                "save_s3",
                "databases_to_backup",
                "enabled",
            ],
            [*key(r[9]), "every day", "", "", "", "", ""],
            [*key(r[10]), "", "30", "", "", "", ""],
            [*key(r[11]), "", "", "1,5", "", "", ""],
            [*key(no_s3), "", "", "", "yes", "", ""],
            [*key(r[13]), "", "", "", "", "app; rm -rf /", ""],
            [*key(r[14]), "0 1 * * *", "", "", "", "", "maybe"],
            [*key(r[14]), "0 2 * * *", "", "", "", "", ""],
            [r[0]["database_uuid"], "doesnotexist000000000000", "", "", "", "", "", "false"],
            [*key(r[15]), "0 5 31 2 *", "", "", "", "", ""],
            [*key(r[16]), "45 23 * * *", "900", "", "", "", "true"],
        ],
    )


if __name__ == "__main__":
    main()
