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


def demo_changes(fleet: pd.DataFrame, *, mistakes: bool = True) -> pd.DataFrame:
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
    wrong = [
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
    return pd.DataFrame([*good, unchanged, *(wrong if mistakes else [])], dtype=object)


# The demo's instances: the first two seeded alike, so their uuids collide as restored instances' do.
INSTANCE_NAMES = ("prod", "staging", "eu", "us", "asia")


def run_demo(
    folder: str | Path | None = None, databases: int = 40, out: TextIO | None = None, instances: int = 1
) -> pd.DataFrame:
    """The whole job against a sandbox; `instances` > 1: against that many at once, one change sent to all."""
    from bulkbackup.sandbox import Sandbox

    def say(text: str = "") -> None:
        print(shown(text), file=out)  # names from the server, escaped like every other line of the CLI

    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="bulkbackup-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    names = list(INSTANCE_NAMES[:instances])
    seeds = [0, *range(instances - 1)]
    with Sandbox.many(instances, databases=databases, seed=seeds, name=names) as sandboxes:
        clients = [Client(s.endpoint, s.token, name=s.name) for s in sandboxes]
        try:
            for sandbox in sandboxes:
                say(f"sandbox: a local Coolify-compatible server at {sandbox.endpoint}" + _named(sandbox, instances))
            given = clients if instances > 1 else clients[0]
            fleet = inventory(given)
            said = f"{len(fleet)} backup configurations on {fleet['database_uuid'].nunique()} databases"
            if instances > 1:
                said += f" of {instances} instances (prod and staging alike: their uuids collide)"
            say(f"inventory: {said}")
            changes_path = folder / "changes.csv"
            write_csv(_changes(fleet, names if instances > 1 else None), changes_path)
            say(f"changes: {changes_path} (some rows good, some with deliberate mistakes)")
            results = apply(changes_path, given, progress=False)
        finally:
            for client in clients:
                client.close()
    for _, row in results.iterrows():
        detail = row["errors"] or row["message"]
        where = f"{row['instance']}: " if "instance" in results.columns else ""
        say(f"  line {row['line']}: {where}{row['status']:<9} {detail}")
    results_path = folder / "changes.results.csv"
    write_csv(results, results_path)
    say(f"results: {format_summary(results)}")
    for name, part in getattr(results.attrs.get("run"), "instances", {}).items():
        say(f"  {name}: {', '.join(f'{n} {status}' for status, n in part.counts.items())}")
    say(f"results written to {results_path}")
    return results


def _named(sandbox, instances: int) -> str:
    return f" (instance {sandbox.name!r})" if instances > 1 else ""


def _changes(fleet: pd.DataFrame, names: list[str] | None) -> pd.DataFrame:
    """The demo's changes; with several instances, a sheet for each, its `instance` column naming it (the mistakes
    in the first one's only: once is enough to see them)."""
    if names is None:
        return demo_changes(fleet)
    sheets = []
    for name in names:
        sheet = demo_changes(fleet[fleet["instance"] == name].drop(columns="instance"), mistakes=name == names[0])
        sheet.insert(0, "instance", name)
        sheets.append(sheet)
    return pd.concat(sheets, ignore_index=True)
