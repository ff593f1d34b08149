"""Client benchmarks against the sandbox on 127.0.0.1, measured side by side in one run.

1. throughput: 1,000 rows, 4 workers, no limit, no faults — bulkbackup vs a bare requests.Session +
   ThreadPoolExecutor loop sending the same bodies (target: ratio >= 0.85);
2. rate-limited: limit 100 per 10 s window, 400 rows, the client told nothing — total time vs the minimum the
   limit allows (target: <= 1.10x, no row failing);
3. faults: 10% 503 and 5% dropped connections, 1,000 rows — every row final, no trigger doubled, share updated.

Run: python benchmarks/bench_apply.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import requests
from requests.adapters import HTTPAdapter

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

FINAL = {"updated", "triggered", "unchanged", "invalid", "rejected", "failed", "unknown"}


def changes_for(client: bb.Client, rows: int, *, trigger_every: int = 0) -> pd.DataFrame:
    fleet = bb.inventory(client)
    if len(fleet) < rows:
        raise SystemExit(f"fleet has only {len(fleet)} configurations, need {rows}")
    frame = fleet.head(rows)[["database_uuid", "backup_uuid"]].reset_index(drop=True)
    frame["timeout"] = [61 + i for i in range(rows)]  # differs from every seeded value, so every row is sent
    if trigger_every:
        frame["backup_now"] = [True if i % trigger_every == 0 else None for i in range(rows)]
    return frame


def bare_loop(endpoint: str, token: str, planned: pd.DataFrame, workers: int) -> float:
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=workers, pool_maxsize=workers))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"}
    jobs = [
        (f"{endpoint}/databases/{r.database_uuid}/backups/{r.backup_uuid}", json.loads(r.payload))
        for r in planned.itertuples()
    ]

    def send(job):
        return session.patch(job[0], json=job[1], headers=headers, timeout=(5, 30)).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        codes = list(pool.map(send, jobs))
    elapsed = time.perf_counter() - started
    assert codes.count(200) == len(jobs), "bare loop: not every request succeeded"
    return elapsed


def bench_throughput(rows: int, repeats: int) -> dict:
    with Sandbox(databases=2 * rows, seed=0, rate_limit=10**9) as sb, bb.Client(sb.endpoint, sb.token) as client:
        frame = changes_for(client, rows)
        planned = bb.plan(frame, client)
        # apply() checks a plan against the server before sending, and sends nothing already in place: so the bare
        # loop sets one set of values and apply() another, and each run changes every row.
        other = bb.plan(frame.assign(timeout=frame["timeout"] + 5000), client)
        ours, bare = [], []
        for _ in range(repeats):
            bare.append(bare_loop(sb.endpoint, sb.token, planned, 4))
            started = time.perf_counter()
            results = bb.apply(other, client, workers=4, progress=False, verify=False)
            ours.append(time.perf_counter() - started)
            assert (results["status"] == "updated").all()
    ours_s, bare_s = statistics.median(ours), statistics.median(bare)
    return {
        "rows": rows,
        "bulkbackup_rows_per_s": rows / ours_s,
        "bare_rows_per_s": rows / bare_s,
        "ratio": bare_s / ours_s,
    }


def bench_rate_limited(rows: int, limit: int, window: float) -> dict:
    with Sandbox(databases=2 * rows, seed=0, rate_limit=limit, window=window) as sb:
        with bb.Client(sb.endpoint, sb.token) as client:
            planned = bb.plan(changes_for(client, rows), client)
            sb.reset_rate_limit()  # the measured run starts on a fresh window, as a new run would
            started = time.perf_counter()
            results = bb.apply(planned, client, progress=False, verify=False)
            elapsed = time.perf_counter() - started
            stats = dict(vars(client.limiter.stats)) if hasattr(client.limiter.stats, "__dict__") else {}
    # apply() reads the server once at the start (the plan may be stale), so the run needs rows + 1 requests; every
    # window but the last must be waited out.
    full_windows = -(-(rows + 1) // limit) - 1
    minimum = full_windows * window
    return {
        "rows": rows,
        "elapsed_s": elapsed,
        "minimum_s": minimum,
        "ratio": elapsed / minimum if minimum else float("nan"),
        "not_updated": int((results["status"] != "updated").sum()),
        "limiter": stats,
    }


def bench_faults(rows: int) -> dict:
    with Sandbox(databases=2 * rows, seed=0, rate_limit=10**9) as sb, bb.Client(sb.endpoint, sb.token) as client:
        frame = changes_for(client, rows, trigger_every=10)
        planned = bb.plan(frame, client)
        sb.set_faults({"503": 0.10, "drop": 0.05})
        started = time.perf_counter()
        results = bb.apply(planned, client, progress=False, verify=False)
        elapsed = time.perf_counter() - started
        sb.set_faults({})
        doubled = sum(1 for uuid in frame["backup_uuid"] if sb.job_count(uuid) > 1)
    counts = results["status"].value_counts().to_dict()
    return {
        "rows": rows,
        "elapsed_s": elapsed,
        "all_final": bool(results["status"].isin(FINAL).all()),
        "doubled_triggers": doubled,
        "statuses": counts,
        "share_updated_or_triggered": float(results["status"].isin(["updated", "triggered"]).mean()),
    }


def figures(quick: bool = False) -> list[dict]:
    """The three benchmarks as figures for benchmarks/run.py (the same runs and targets as main())."""
    rows, repeats = (200, 1) if quick else (1000, 3)
    t = bench_throughput(rows, repeats)
    r = bench_rate_limited(rows=40, limit=10, window=2.0) if quick else bench_rate_limited(400, 100, 10.0)
    f = bench_faults(rows)
    return [
        {
            "name": f"apply vs bare requests loop, {rows} rows, 4 workers",
            "value": t["ratio"],
            "unit": "x",
            "bar": ">= 0.85",
            "ok": t["ratio"] >= 0.85,
            "note": f"{t['bulkbackup_rows_per_s']:.0f} vs {t['bare_rows_per_s']:.0f} rows/s, median of {repeats}",
        },
        {
            "name": f"rate-limited, {r['rows']} rows: elapsed / minimum",
            "value": r["ratio"],
            "unit": "x",
            "bar": "<= 1.10",
            "ok": r["ratio"] <= 1.10,
            "note": f"{r['elapsed_s']:.1f} s for {r['minimum_s']:.0f} s",
        },
        {
            "name": "rate-limited: rows not updated",
            "value": r["not_updated"],
            "unit": "",
            "bar": "0",
            "ok": r["not_updated"] == 0,
        },
        {
            "name": f"faults (10% 503, 5% drop), {rows} rows: every row final",
            "value": "yes" if f["all_final"] else "no",
            "unit": "",
            "bar": "yes",
            "ok": f["all_final"],
            "note": f"{f['share_updated_or_triggered']:.1%} updated or triggered",
        },
        {
            "name": "faults: backup_now sent twice",
            "value": f["doubled_triggers"],
            "unit": "",
            "bar": "0",
            "ok": f["doubled_triggers"] == 0,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test, not the targets)")
    args = parser.parse_args(argv)
    rows, repeats = (200, 1) if args.quick else (1000, 3)
    print("== client benchmarks (127.0.0.1 sandbox) ==")
    t = bench_throughput(rows, repeats)
    print(
        f"throughput: bulkbackup {t['bulkbackup_rows_per_s']:.0f} rows/s, bare requests loop "
        f"{t['bare_rows_per_s']:.0f} rows/s, ratio {t['ratio']:.2f} (target >= 0.85)"
    )
    if args.quick:
        r = bench_rate_limited(rows=40, limit=10, window=2.0)
    else:
        r = bench_rate_limited(rows=400, limit=100, window=10.0)
    print(
        f"rate-limited: {r['rows']} rows in {r['elapsed_s']:.1f} s, minimum {r['minimum_s']:.0f} s, ratio "
        f"{r['ratio']:.3f} (target <= 1.10), rows not updated: {r['not_updated']}, limiter {r['limiter']}"
    )
    f = bench_faults(rows)
    print(
        f"faults (10% 503, 5% drop): {f['rows']} rows in {f['elapsed_s']:.1f} s, all final: {f['all_final']}, "
        f"doubled triggers: {f['doubled_triggers']}, updated or triggered: {f['share_updated_or_triggered']:.1%}, "
        f"statuses {f['statuses']}"
    )
    ok = t["ratio"] >= 0.85 and r["ratio"] <= 1.10 and r["not_updated"] == 0 and f["all_final"]
    ok = ok and f["doubled_triggers"] == 0
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
