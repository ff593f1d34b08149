"""`bulkbackup demo`: the whole job, end to end, against an in-process sandbox."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TextIO

import pandas as pd

from bulkbackup._cli.terminal import shown
from bulkbackup._coolify.client import Client
from bulkbackup._engine.apply import apply
from bulkbackup._engine.inventory import inventory
from bulkbackup._engine.results import format_summary
from bulkbackup._input.changes import write_csv


def demo_changes(fleet: pd.DataFrame) -> pd.DataFrame:
    """A changes sheet as a person would write it from `fleet`: mostly good rows, a few typical mistakes."""
    rows = fleet[fleet["database_status"].astype(str).str.startswith("running")].reset_index(drop=True)
    pick = iter(range(len(rows)))

    def target() -> dict:
        row = rows.iloc[next(pick)]
        return {"database_uuid": row["database_uuid"], "backup_uuid": row["backup_uuid"]}

    good = [
        {**target(), "frequency": "0 2 * * *", "database_backup_retention_amount_locally": "14"},
        {**target(), "frequency": "daily", "enabled": "yes"},
        {**target(), "timeout": "7200", "database_backup_retention_days_locally": "30"},
        {**target(), "enabled": "no"},
        {**target(), "database_backup_retention_max_storage_locally": "2.5"},
        {**target(), "backup_now": "yes"},
        {**target(), "frequency": "30 1 * * 1-5", "timeout": "1800.0"},
    ]
    same = rows.iloc[next(pick)]
    unchanged = {
        "database_uuid": same["database_uuid"],
        "backup_uuid": same["backup_uuid"],
        "frequency": same["frequency"],
    }
    mistakes = [
        {**target(), "frequency": "every day"},  # not a cron expression nor a keyword
        {**target(), "timeout": "30"},  # below the server's minimum of 60
        {**target(), "database_backup_retention_max_storage_s3": "1,5"},  # a decimal comma
        {**target(), "save_s3": "yes"},  # save_s3 needs s3_storage_uuid in the same row
        {**target(), "databases_to_backup": "app; rm -rf /"},  # shell characters the server refuses
        {
            "database_uuid": rows.iloc[0]["database_uuid"],
            "backup_uuid": "doesnotexist0000000000",
            "enabled": "true",
        },  # no such configuration
    ]
    return pd.DataFrame([*good, unchanged, *mistakes], dtype=object)


def run_demo(folder: str | Path | None = None, databases: int = 40, out: TextIO | None = None) -> pd.DataFrame:
    from bulkbackup.sandbox import Sandbox

    def say(text: str = "") -> None:
        print(shown(text), file=out)  # names from the server, escaped like every other line of the CLI

    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="bulkbackup-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    with Sandbox(databases=databases, seed=0) as sandbox:
        say(f"sandbox: a local Coolify-compatible server at {sandbox.endpoint}")
        with Client(sandbox.endpoint, sandbox.token) as client:
            fleet = inventory(client)
            say(f"inventory: {len(fleet)} backup configurations on {fleet['database_uuid'].nunique()} databases")
            changes_path = folder / "changes.csv"
            write_csv(demo_changes(fleet), changes_path)
            say(f"changes: {changes_path} (some rows good, some with deliberate mistakes)")
            results = apply(changes_path, client, progress=False)
    for _, row in results.iterrows():
        detail = row["errors"] or row["message"]
        say(f"  line {row['line']}: {row['status']:<9} {detail}")
    results_path = folder / "changes.results.csv"
    write_csv(results, results_path)
    say(f"results: {format_summary(results)}")
    say(f"results written to {results_path}")
    return results
