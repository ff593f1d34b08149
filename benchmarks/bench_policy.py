"""The fleet policy at scale: `health` and `check` of 10,000 databases from one inventory read.

The sandbox runs in its own process (as in bench_fleet), so this process holds only the client. The inventory's
own cost is bench_fleet's; here, the client time beyond it: the CPU time of `bb.health(fleet)` and of
`bb.check(policy, fleet)` on the inventory frame (`check(policy, client)` is exactly an inventory read followed by
that), median of 3. Peak memory is this fresh process's VmHWM after the inventory, health and check.

Bars (issue 15, "Show"): at most 1 s of client time beyond reading the answer for each, under 400 MB.

    python benchmarks/run.py policy [--quick]     (--quick: 2,000 databases, one run each)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fleet import peak_mb, start_sandbox, stop_sandbox  # noqa: E402 - a sibling module

import bulkbackup as bb  # noqa: E402

DATABASES = 10_000
CLIENT_BAR_S = 1.0
MEMORY_BAR_MB = 400
NOW = "2026-08-22T16:00:00Z"  # the seeded fleet's day: late runs are computed, not all of them "late"

POLICY = """
[[rule]]
id = "production"
match = { environment = "production" }
frequency = "0 3 * * *"
save_s3 = true
s3_storage_uuid = "storage-of-the-policy"
database_backup_retention_days_s3 = 14
max_age = "26h"
min_retention_days_locally = 7

[[rule]]
id = "the rest"
frequency = "@daily"
database_backup_retention_amount_locally = 10
"""


def _cpu(call) -> tuple[object, float]:
    started = time.process_time()
    result = call()
    return result, time.process_time() - started


def figures(quick: bool = False) -> list[dict]:
    databases = 2_000 if quick else DATABASES
    runs = 1 if quick else 3
    process, endpoint, token, _ = start_sandbox(databases)
    try:
        with bb.Client(endpoint, token, rate=None) as client:
            fleet = bb.inventory(client, unconfigured=True)
    finally:
        stop_sandbox(process)
    policy = bb.Policy.from_toml(POLICY)
    health_times, check_times = [], []
    for _ in range(runs):
        result, seconds = _cpu(lambda: bb.health(fleet, now=NOW))
        health_times.append(seconds)
        violations, seconds = _cpu(lambda: bb.check(policy, fleet, now=NOW))
        check_times.append(seconds)
    peak = peak_mb()
    configurations = int(fleet["backup_uuid"].notna().sum())
    health_s, check_s = statistics.median(health_times), statistics.median(check_times)
    spread = "CPU {:.3f}-{:.3f} s over {}".format
    return [
        {
            "name": f"health() of {configurations:,} configurations: client time",
            "value": round(health_s, 3),
            "unit": "s",
            "bar": f"<= {CLIENT_BAR_S:g}",
            "ok": health_s <= CLIENT_BAR_S,
            "note": f"{spread(min(health_times), max(health_times), runs)}; "
            f"{int((result['problems'] != '').sum()):,} with a problem",
        },
        {
            "name": f"check() of {len(fleet):,} rows ({fleet['database_uuid'].nunique():,} databases): client time",
            "value": round(check_s, 3),
            "unit": "s",
            "bar": f"<= {CLIENT_BAR_S:g}",
            "ok": check_s <= CLIENT_BAR_S,
            "note": f"{spread(min(check_times), max(check_times), runs)}; {len(violations):,} violations",
        },
        {
            "name": "peak memory: inventory + health + check",
            "value": round(peak, 1),
            "unit": "MB",
            "bar": f"< {MEMORY_BAR_MB}",
            "ok": peak < MEMORY_BAR_MB,
            "note": "VmHWM of this process (the sandbox runs in its own)",
        },
    ]


if __name__ == "__main__":
    for figure in figures("--quick" in sys.argv):
        print(figure)
