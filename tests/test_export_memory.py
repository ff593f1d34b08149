"""Editing an export must not undo anyone's work (issue 14 §3): an export remembers what it exported (its last column,
`exported`; an inventory frame's attrs), so plan and apply send only the cells changed since, and a field changed on
both sides is a conflict that is not sent unless the user says which side wins."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import requests

import bulkbackup as bb
from bulkbackup._cli.cli import main


@pytest.fixture
def env(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    monkeypatch.setenv("HOME", str(tmp_path))  # no stray coolify-cli config
    return sandbox


def export(tmp_path: Path) -> Path:
    path = tmp_path / "backups.csv"
    assert main(["export", "-o", str(path)]) == 0
    return path


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]], *, delimiter: str = ",") -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])


def someone_else_sets(client: bb.Client, row: dict, **values) -> None:
    """Another person changes the server "a day later", with another tool (curl, Coolify's UI) over the API."""
    answer = requests.patch(
        f"{client.endpoint}/databases/{row['database_uuid']}/backups/{row['backup_uuid']}",
        json=values,
        headers={"Authorization": f"Bearer {TOKEN[client.endpoint]}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


TOKEN: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _token_of(sandbox, client):
    TOKEN[client.endpoint] = sandbox.token


def server_row(client: bb.Client, key: tuple[str, str]) -> dict:
    fleet = bb.inventory(client).set_index(["database_uuid", "backup_uuid"])
    return fleet.loc[key].to_dict()


def patches(sandbox) -> list[dict]:
    return [body for body in sandbox.patch_bodies if isinstance(body, dict)]


def test_an_export_remembers_what_it_exported_in_its_last_column(env, tmp_path, client):
    header, rows = read_rows(export(tmp_path))
    assert header[-1] == "exported"
    fleet = bb.inventory(client)
    first = json.loads(rows[0][-1])
    assert first["timeout"] == fleet.loc[0, "timeout"] and first["frequency"] == fleet.loc[0, "frequency"]


def test_an_edit_sends_only_the_edited_cell_and_keeps_what_another_person_changed(env, tmp_path, client, capsys):
    path = export(tmp_path)
    header, rows = read_rows(path)
    at = {name: header.index(name) for name in ("database_uuid", "backup_uuid", "timeout", "frequency")}
    row = dict(zip(header, rows[0], strict=True))
    someone_else_sets(client, row, timeout=int(row["timeout"]) + 600)  # "a day later", on the server
    env.patch_bodies.clear()
    rows[0][at["frequency"]] = "17 3 * * *"  # the user's edit, in the spreadsheet
    write_rows(path, header, rows)

    assert main(["apply", str(path), "--yes"]) == 0
    assert patches(env) == [{"frequency": "17 3 * * *"}]  # every other row and cell sent nothing
    now = server_row(client, (row["database_uuid"], row["backup_uuid"]))
    assert now["frequency"] == "17 3 * * *"
    assert now["timeout"] == int(row["timeout"]) + 600  # the other person's change stays

    env.patch_bodies.clear()
    assert main(["apply", str(path), "--yes"]) == 0  # the same file again: nothing to send
    assert patches(env) == []


def test_the_same_field_changed_on_both_sides_is_a_conflict_until_the_user_says_which_wins(
    env, tmp_path, client, capsys
):
    path = export(tmp_path)
    header, rows = read_rows(path)
    row = dict(zip(header, rows[1], strict=True))
    exported = int(row["timeout"])
    someone_else_sets(client, row, timeout=exported + 600)
    env.patch_bodies.clear()
    rows[1][header.index("timeout")] = str(exported + 1200)
    write_rows(path, header, rows)

    assert main(["plan", str(path)]) == 1
    out = capsys.readouterr().out
    assert (
        f"conflict: timeout: exported {exported}, the server has {exported + 600} now, the file says {exported + 1200}"
    ) in out
    assert "--prefer mine or --prefer server" in out

    assert main(["apply", str(path), "--yes"]) == 1  # the conflict is not sent; nothing else changed
    assert patches(env) == []
    assert server_row(client, (row["database_uuid"], row["backup_uuid"]))["timeout"] == exported + 600

    assert main(["apply", str(path), "--yes", "--prefer", "server"]) == 0
    assert patches(env) == []

    assert main(["apply", str(path), "--yes", "--prefer", "mine"]) == 0
    assert patches(env) == [{"timeout": exported + 1200}]
    assert server_row(client, (row["database_uuid"], row["backup_uuid"]))["timeout"] == exported + 1200


def test_both_sides_making_the_same_change_is_no_conflict(env, tmp_path, client, capsys):
    path = export(tmp_path)
    header, rows = read_rows(path)
    row = dict(zip(header, rows[2], strict=True))
    someone_else_sets(client, row, frequency="5 4 * * *")
    env.patch_bodies.clear()
    rows[2][header.index("frequency")] = "5 4 * * *"
    write_rows(path, header, rows)
    assert main(["apply", str(path), "--yes"]) == 0
    assert patches(env) == []


def test_a_german_excel_save_reads_untouched_cells_as_unchanged(env, tmp_path, client, capsys):
    """`;`, decimal commas, WAHR/FALSCH: cells the user never touched are never an error and never sent."""
    path = export(tmp_path)
    header, rows = read_rows(path)
    numbers = [i for i, name in enumerate(header) if name.endswith("max_storage_s3") or name.endswith("_locally")]
    booleans = [header.index(name) for name in ("enabled", "save_s3", "dump_all")]
    for cells in rows:
        for i in numbers:
            if cells[i]:
                cells[i] = f"{float(cells[i]):.1f}".replace(".", ",")  # 50 → 50,0
        for i in booleans:
            cells[i] = {"true": "WAHR", "false": "FALSCH"}.get(cells[i], cells[i])
    rows[3][header.index("timeout")] = "7777"
    german = tmp_path / "backups-excel.csv"  # saved under another name: the memory is in the file
    write_rows(german, header, rows, delimiter=";")

    assert main(["plan", str(german)]) == 0
    out = capsys.readouterr().out
    assert "invalid" not in out.replace("plan: ", "")
    assert main(["apply", str(german), "--yes"]) == 0
    assert patches(env) == [{"timeout": 7777}]


def test_a_changed_cell_in_a_decimal_comma_is_still_an_error(env, tmp_path, capsys):
    path = export(tmp_path)
    header, rows = read_rows(path)
    at = header.index("database_backup_retention_max_storage_s3")
    rows[0][at] = "12,5"  # a change, written the German way: never read as 125
    write_rows(path, header, rows)
    assert main(["plan", str(path)]) == 1
    assert "database_backup_retention_max_storage_s3" in capsys.readouterr().out


def test_a_notebook_frame_remembers_its_inventory(sandbox, client):
    fleet = bb.inventory(client)
    mine = fleet.loc[0]
    someone_else_sets(client, mine.to_dict(), timeout=int(mine["timeout"]) + 60)
    sandbox.patch_bodies.clear()

    fleet.loc[0, "frequency"] = "11 1 * * *"  # edited in place: pandas keeps attrs["exported"]
    planned = bb.plan(fleet, client)
    assert planned["action"].tolist().count("update") == 1
    assert json.loads(planned.loc[0, "payload"]) == {"frequency": "11 1 * * *"}

    fleet.loc[0, "timeout"] = int(mine["timeout"]) + 120  # now the same field as the other person: a conflict
    conflicted = bb.plan(fleet, client)
    assert conflicted.loc[0, "action"] == "invalid" and "conflict: timeout" in conflicted.loc[0, "errors"]
    results = bb.apply(fleet, client, progress=False, prefer="mine")
    assert results.loc[0, "status"] == "updated"
    assert patches(sandbox) == [{"frequency": "11 1 * * *", "timeout": int(mine["timeout"]) + 120}]


def test_write_csv_and_read_csv_carry_the_memory(sandbox, client, tmp_path):
    fleet = bb.inventory(client)
    path = tmp_path / "fleet.csv"
    bb.write_csv(fleet, path)
    frame = bb.read_csv(path)
    assert "exported" in frame.columns
    frame.loc[2, "timeout"] = 4321
    sandbox.patch_bodies.clear()
    bb.apply(frame, client, progress=False)
    assert patches(sandbox) == [{"timeout": 4321}]
    changes = bb.read_changes(io.StringIO(path.read_text()))
    assert changes.drop(columns=["line", "database_uuid", "backup_uuid", "errors"]).isna().all().all()


def test_without_the_memory_column_every_cell_is_compared_as_before(env, tmp_path, client, capsys):
    path = export(tmp_path)
    header, rows = read_rows(path)
    row = dict(zip(header, rows[0], strict=True))
    someone_else_sets(client, row, timeout=int(row["timeout"]) + 600)
    env.patch_bodies.clear()
    write_rows(path, header[:-1], [cells[:-1] for cells in rows])  # the user deleted the column `exported`
    assert main(["apply", str(path), "--yes"]) == 0
    assert patches(env) == [{"timeout": int(row["timeout"])}]  # the file's values win, as documented


def test_editing_the_same_cell_again_after_applying_it_is_no_conflict(env, tmp_path, client, capsys):
    """The server moved since the export, but by this file's own earlier run: that is not someone else's work."""
    path = export(tmp_path)
    header, rows = read_rows(path)
    at = header.index("timeout")
    rows[0][at] = "4444"
    write_rows(path, header, rows)
    assert main(["apply", str(path), "--yes"]) == 0
    env.patch_bodies.clear()
    rows[0][at] = "5555"
    write_rows(path, header, rows)
    assert main(["apply", str(path), "--yes"]) == 0
    assert patches(env) == [{"timeout": 5555}]


def test_an_export_to_stdout_carries_its_memory_too(env, tmp_path, client, capsysbinary):
    """`bulkbackup export > backups.csv`, the usual way in: there is no room for a second file, the column goes."""
    assert main(["export"]) == 0
    path = tmp_path / "piped.csv"
    path.write_bytes(capsysbinary.readouterr().out)
    header, rows = read_rows(path)
    assert header[-1] == "exported"
    row = dict(zip(header, rows[4], strict=True))
    someone_else_sets(client, row, timeout=int(row["timeout"]) + 60)
    env.patch_bodies.clear()
    assert main(["apply", str(path), "--yes"]) == 0
    assert patches(env) == []  # nothing was edited: nothing goes, and the other person's change stays


@pytest.mark.parametrize("verify", [True, False])
def test_a_notebook_frame_applied_twice_is_no_conflict_with_its_own_first_run(sandbox, client, verify):
    fleet = bb.inventory(client)
    first = int(fleet.loc[0, "timeout"]) + 60
    fleet.loc[0, "timeout"] = first
    assert bb.apply(fleet, client, progress=False, verify=verify).loc[0, "status"] == "updated"
    # The server moved since the inventory — but to what this run set (read back or not): no one else's work.
    fleet.loc[0, "timeout"] = first + 60
    planned = bb.plan(fleet, client)
    assert planned.loc[0, "action"] == "update", planned.loc[0, "errors"]
    assert json.loads(planned.loc[0, "payload"]) == {"timeout": first + 60}
