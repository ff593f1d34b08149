"""Large input: a 200,000-row changes file read, validated and planned offline.

Targets (issue 7 §5): under 5 s and under 600 MB peak resident memory. The file has every setting column, distinct
uuids and one invalid row in a thousand; the measured part (import, read_changes, plan) runs in a fresh interpreter,
which reports its own time, CPU time and peak RSS (getrusage ru_maxrss), so nothing of this process counts.

Run: python benchmarks/bench_input.py [--quick] [--rows N], or with the others: python -m benchmarks input
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bulkbackup._core.fields import SETTING_NAMES

TIME_BAR_S = 5.0
MEMORY_BAR_MB = 600.0

CELLS = {
    "enabled": "true",
    "save_s3": "false",
    "s3_storage_uuid": "",
    "frequency": "0 3 * * *",
    "databases_to_backup": '"app,logs"',
    "dump_all": "no",
    "database_backup_retention_amount_locally": "7",
    "database_backup_retention_days_locally": "30",
    "database_backup_retention_max_storage_locally": "2.5",
    "database_backup_retention_amount_s3": "14",
    "database_backup_retention_days_s3": "60",
    "database_backup_retention_max_storage_s3": "10",
    "timeout": "3600",
    "missing_backup_notification_days": "7",
}

MEASURED = """
import json, resource, sys, time
started = time.perf_counter()
from bulkbackup import plan, read_changes
imported, cpu_before = time.perf_counter(), time.process_time()
changes = read_changes(sys.argv[1])
read = time.perf_counter()
planned = plan(changes)
done = time.perf_counter()
print(json.dumps({
    "import_s": imported - started, "read_s": read - imported, "plan_s": done - read,
    "cpu_s": time.process_time() - cpu_before,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "actions": planned["action"].value_counts().to_dict(),
}))
"""


def write_file(path: Path, rows: int) -> None:
    columns = ["database_uuid", "backup_uuid", *SETTING_NAMES, "backup_now"]
    missing = set(SETTING_NAMES) - set(CELLS)
    if missing:
        raise SystemExit(f"no sample cell for {sorted(missing)}: add one to CELLS")
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write(",".join(columns) + "\r\n")
        for i in range(rows):
            timeout = "5" if i % 1000 == 999 else CELLS["timeout"]  # one row in a thousand is invalid
            cells = [f"db{i:010d}", f"bk{i:010d}", *(CELLS[n] if n != "timeout" else timeout for n in SETTING_NAMES)]
            file.write(",".join([*cells, "false"]) + "\r\n")


def measure(rows: int) -> tuple[dict, float]:
    """(the fresh interpreter's figures, the file's size in MB) for a file of `rows` rows."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.csv"
        write_file(path, rows)
        size_mb = path.stat().st_size / 1e6
        done = subprocess.run([sys.executable, "-c", MEASURED, str(path)], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"the measured process failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout), size_mb


def figures(quick: bool = False) -> list[dict]:
    """For benchmarks/run.py: read + plan time and the peak memory of the whole process, beside their bars."""
    rows = 20_000 if quick else 200_000
    found, size_mb = measure(rows)
    total = found["read_s"] + found["plan_s"]
    where = f"{rows:,} rows, {size_mb:.1f} MB"
    return [
        {
            "name": f"large input: read_changes + plan offline, {where}",
            "value": total,
            "unit": "s",
            "bar": f"< {TIME_BAR_S:g}",
            "ok": total < TIME_BAR_S,
            "note": f"read {found['read_s']:.2f} s, plan {found['plan_s']:.2f} s, CPU {found['cpu_s']:.2f} s, "
            f"import {found['import_s']:.2f} s",
        },
        {
            "name": f"large input: peak RSS of the whole process, {where}",
            "value": found["peak_mb"],
            "unit": "MB",
            "bar": f"< {MEMORY_BAR_MB:g}",
            "ok": found["peak_mb"] < MEMORY_BAR_MB,
            "note": "",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows (a smoke test, not the targets)")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args(argv)
    rows = 20_000 if args.quick else args.rows
    found, size_mb = measure(rows)
    total = found["read_s"] + found["plan_s"]
    print(f"large input: {rows:,} rows, {size_mb:.1f} MB, planned offline: {found['actions']}")
    print(f"  read_changes   {found['read_s']:6.2f} s")
    print(f"  plan           {found['plan_s']:6.2f} s")
    print(f"  read + plan    {total:6.2f} s   (bar: < {TIME_BAR_S:.0f} s)   import {found['import_s']:.2f} s")
    # On a shared machine the wall time grows with the load; the CPU time shows the work itself.
    print(f"  CPU time       {found['cpu_s']:6.2f} s   (of read + plan)")
    print(f"  peak RSS       {found['peak_mb']:6.0f} MB  (bar: < {MEMORY_BAR_MB:.0f} MB, whole process)")
    if args.quick or rows != 200_000:
        return 0
    return 0 if total < TIME_BAR_S and found["peak_mb"] < MEMORY_BAR_MB else 1


if __name__ == "__main__":
    sys.exit(main())
