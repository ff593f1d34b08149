"""The CLI over a directory of hostile files (issue 7 §4): one escaped line and a non-zero exit, or the right thing.

Each file is run through `python -m bulkbackup plan --offline`, `apply --dry-run` against a sandbox and `undo`, in
subprocesses whose output encoding is cp1252 (a Windows console), so an unencodable "→" or file name shows too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

HEADER = "database_uuid,backup_uuid"
UNDONE = (b"\xe9t\xe9.csv", b"new\nline.csv", b"header-only.csv", b"empty.csv", b"cp1252.csv", b"binary.csv")


def hostile_files(directory: bytes, db: str, bk: str) -> dict[bytes, bytes]:
    """{file name: content}: names and contents a spreadsheet, a shell or a careless export produce."""
    good = f"{HEADER},timeout\n{db},{bk},3700\n".encode()
    return {
        b"\xe9t\xe9.csv": good,  # not UTF-8: Python keeps the byte as a lone surrogate
        b"new\nline.csv": good,
        b"arrow.csv": f"{HEADER},frequency\n{db},{bk},0 4 * * *\n".encode(),  # the diff's → on cp1252
        b"header-only.csv": f"{HEADER},timeout\n".encode(),
        b"empty.csv": b"",
        b"header-break.csv": f'{HEADER},"time\nout"\n{db},{bk},3700\n'.encode(),
        b"cp1252.csv": f"{HEADER},databases_to_backup\n{db},{bk},caf\xe9\n".encode("cp1252"),
        b"utf16.csv": f"{HEADER},timeout\n{db},{bk},3700\n".encode("utf-16"),
        b"huge-cell.csv": f"{HEADER},frequency\n{db},{bk},{'x' * 200_000}\n".encode(),
        b"unclosed.csv": f'{HEADER},timeout\n{db},{bk},"3700\n{db},other,3700\n'.encode(),
        b"duplicates.csv": (f"{HEADER},timeout\n" + f"{db},{bk},3700\n" * 5000).encode(),
        b"limits.csv": f"{HEADER},database_backup_retention_amount_s3\n{db},{bk},9223372036854775808\n".encode(),
        b"binary.csv": bytes(range(256)) * 4,
        b"nul.csv": f"{HEADER},timeout\n{db},{bk},37\x0000\n".encode(),
        b"controls.csv": f"{HEADER},databases_to_backup\n{db},{bk},a\x1b[31mred\n".encode(),
        b"formula.csv": f"{HEADER},databases_to_backup\n{db},{bk},'=HYPERLINK(x)\n".encode(),
    }


def run(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bulkbackup", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def check(name: bytes, argv: list[str], proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    stdout, stderr = out.decode("cp1252", "replace"), err.decode("cp1252", "replace")
    shown = f"{name!r} {argv[0]}: rc={proc.returncode} stderr={stderr!r}"
    assert "Traceback" not in stderr and "Traceback" not in stdout, shown
    assert proc.returncode in (0, 1, 2), shown
    if proc.returncode == 2:
        assert len(stderr.splitlines()) == 1, shown
    for line in (stdout + stderr).splitlines():
        assert line.isprintable(), shown
    return proc.returncode, stdout, stderr


@pytest.mark.skipif(sys.platform != "linux", reason="file names as bytes are a Linux matter")
def test_every_cli_command_given_hostile_files_prints_one_line_or_does_the_right_thing(tmp_path):
    with Sandbox(databases=5, seed=1, job_delay=0.05) as sandbox:
        with bb.Client(sandbox.endpoint, sandbox.token) as client:
            first = bb.inventory(client).iloc[0]
        files = hostile_files(os.fsencode(tmp_path), first["database_uuid"], first["backup_uuid"])
        paths = {}
        for name, content in files.items():
            path = os.path.join(os.fsencode(tmp_path), name)
            with open(path, "wb") as file:
                file.write(content)
            paths[name] = os.fsdecode(path)
        env = {
            **os.environ,
            "PYTHONIOENCODING": "cp1252",
            "COOLIFY_ENDPOINT": sandbox.endpoint,
            "COOLIFY_TOKEN": sandbox.token,
            "HOME": str(tmp_path),
        }
        outcomes = {}
        names = list(paths)
        for start in range(0, len(names), 4):  # a few at a time: the machine is shared
            batch = names[start : start + 4]
            procs = [
                (name, argv, run(argv, env))
                for name in batch
                for argv in (
                    ["plan", "--offline", paths[name]],
                    ["apply", "--dry-run", paths[name]],
                    *([["undo", paths[name], "-o", os.path.join(tmp_path, "undo.csv")]] if name in UNDONE else []),
                )
            ]
            for name, argv, proc in procs:
                outcomes[name, argv[0]] = check(name, argv, proc)
        assert not sandbox.errors

    def rc(name: bytes, command: str = "plan") -> int:
        return outcomes[name, command][0]

    for good in (b"\xe9t\xe9.csv", b"new\nline.csv", b"arrow.csv", b"utf16.csv"):
        assert rc(good) == 0 and rc(good, "apply") == 0, outcomes[good, "plan"]
    assert "\\xe9t\\xe9" in outcomes[b"\xe9t\xe9.csv", "apply"][1] + outcomes[b"\xe9t\xe9.csv", "apply"][2]
    assert "\\u2192" in outcomes[b"arrow.csv", "plan"][1]  # the diff's arrow, escaped for cp1252
    for whole_file in (b"header-only.csv", b"empty.csv", b"header-break.csv", b"binary.csv"):
        assert rc(whole_file) == 2 and rc(whole_file, "apply") == 2
    assert "no rows" in outcomes[b"header-only.csv", "plan"][2]
    assert "Windows-1252" in outcomes[b"cp1252.csv", "plan"][1]  # issue 14 §3: an error of the row that uses it
    assert "time\\nout" in outcomes[b"header-break.csv", "plan"][2]
    for row_errors in (b"huge-cell.csv", b"unclosed.csv", b"duplicates.csv", b"limits.csv", b"nul.csv", b"cp1252.csv"):
        assert rc(row_errors) == 1 and rc(row_errors, "apply") == 1, outcomes[row_errors, "plan"]
    assert "never closed" in outcomes[b"unclosed.csv", "plan"][1]
    assert "1 update" in outcomes[b"unclosed.csv", "plan"][1]  # the row after the open quote is kept
    assert len(outcomes[b"duplicates.csv", "plan"][1]) < 2_000_000
    for name in UNDONE:  # none of these is a results file or a journal: undo refuses each in one line
        assert rc(name, "undo") == 2, outcomes[name, "undo"]


@pytest.mark.skipif(sys.platform != "linux", reason="file names as bytes are a Linux matter")
def test_apply_of_a_file_whose_name_is_not_utf8_records_what_it_sent(tmp_path, monkeypatch, capsys):
    from bulkbackup._cli.cli import main

    with Sandbox(databases=3, seed=2, job_delay=0.05) as sandbox:
        with bb.Client(sandbox.endpoint, sandbox.token) as client:
            first = bb.inventory(client).iloc[0]
        monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
        monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
        monkeypatch.setenv("HOME", str(tmp_path))
        path = os.path.join(os.fsencode(tmp_path), b"\xe9t\xe9.csv")
        with open(path, "wb") as file:
            file.write(f"{HEADER},timeout\n{first['database_uuid']},{first['backup_uuid']},3700\n".encode())
        assert main(["apply", "--yes", os.fsdecode(path)]) == 0
    out = capsys.readouterr().out
    assert "\\xe9t\\xe9" in out
    written = [n for n in os.listdir(os.fsencode(tmp_path)) if n.endswith(b".csv") and n != b"\xe9t\xe9.csv"]
    statuses = [
        status
        for name in written
        for status in pd.read_csv(os.path.join(tmp_path, os.fsdecode(name)))
        .get("status", pd.Series(dtype=object))
        .tolist()
    ]
    assert statuses == ["updated"]


def test_export_to_a_cp1252_console_writes_utf8_that_reads_back(tmp_path, monkeypatch):
    import io

    from bulkbackup._cli.cli import main

    with Sandbox(databases=3, seed=2) as sandbox:
        for database in sandbox.fleet.databases:
            database.name = "データ→db"  # no cp1252 console can show it; the export must keep it all the same
            database.attributes["name"] = database.name
            database._views.clear()
        monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
        monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
        monkeypatch.setenv("HOME", str(tmp_path))
        console = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
        monkeypatch.setattr(sys, "stdout", console)
        assert main(["export"]) == 0
        data = console.buffer.getvalue()
    exported = bb.read_changes(io.BytesIO(data))
    assert "データ→db" in data.decode("utf-8") and len(exported) > 0 and not any(exported["errors"])
