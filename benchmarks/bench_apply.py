"""Client benchmarks against the sandbox on 127.0.0.1, measured side by side in one process.

1. overhead: 1,000 rows, 4 workers, no limit, no faults, 5 rounds, each alternating a bare requests.Session +
   ThreadPoolExecutor loop sending the same PATCH bodies, `apply` of a ready plan without verification (the
   sending phase; apply still re-reads the server first) and the whole `apply(frame, client)` (plan read, sending,
   verification read). Figures: bare median / ours median (targets: >= 0.97 sending, >= 0.90 whole);
2. rate-limited: 2,000 rows, 200 requests per 5 s window, a fresh client told nothing — elapsed vs the minimum
   the fixed window allows for every request the run makes (target: <= 1.03x, no row failing);
3. faults: 10% 503 and 5% dropped connections, 1,000 rows — every row final, no trigger doubled.

Run: python benchmarks/bench_apply.py [--quick]   (or: python benchmarks/run.py apply)
"""

from __future__ import annotations

import argparse
import math
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
    # A changes frame as a file gives it: the keys alone, not an edited inventory (which remembers what it read,
    # so that the bare loop's changes between rounds would be someone else's work and every row a conflict).
    frame = pd.DataFrame({name: fleet[name].head(rows).tolist() for name in ("database_uuid", "backup_uuid")})
    frame["timeout"] = [61 + i for i in range(rows)]  # differs from every seeded value, so every row is sent
    if trigger_every:
        frame["backup_now"] = [True if i % trigger_every == 0 else None for i in range(rows)]
    return frame


def bare_loop(endpoint: str, token: str, bodies: list[tuple[str, dict]], workers: int) -> float:
    """The yardstick: a requests.Session and a thread pool sending the same PATCH bodies, nothing else."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=workers, pool_maxsize=workers))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"}
    jobs = [(f"{endpoint}/databases/{path}", body) for path, body in bodies]

    def send(job):
        return session.patch(job[0], json=job[1], headers=headers, timeout=(5, 30)).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        codes = list(pool.map(send, jobs))
    elapsed = time.perf_counter() - started
    session.close()
    assert codes.count(200) == len(jobs), "bare loop: not every request succeeded"
    return elapsed


def _bodies(frame: pd.DataFrame) -> list[tuple[str, dict]]:
    return [(f"{r.database_uuid}/backups/{r.backup_uuid}", {"timeout": int(r.timeout)}) for r in frame.itertuples()]


def bench_overhead(rows: int, repeats: int, workers: int = 4) -> dict:
    """Per round, alternating: the bare loop; `apply` of a ready plan without verification (the sending phase);
    the whole `apply(frame, client)` with its plan read and verification read. Every run changes every row (each
    run its own values), so nothing is `unchanged`. Figures: bare median / ours median."""
    timings: dict[str, list[float]] = {"bare": [], "sending": [], "whole": []}
    # A fleet just large enough for the rows (~1.04 configurations a database): the reads are of the fleet changed.
    with (
        Sandbox(databases=rows + rows // 20 + 20, seed=0, rate_limit=10**9) as sb,
        bb.Client(sb.endpoint, sb.token) as client,
    ):
        frame = changes_for(client, rows)
        for k in range(repeats):
            values = {name: [1000 + i + rows * (3 * k + n) for i in range(rows)] for n, name in enumerate(timings)}
            frame["timeout"] = values["bare"]
            timings["bare"].append(bare_loop(sb.endpoint, sb.token, _bodies(frame), workers))
            frame["timeout"] = values["sending"]
            planned = bb.plan(frame, client)
            started = time.perf_counter()
            results = bb.apply(planned, client, workers=workers, progress=False, verify=False)
            timings["sending"].append(time.perf_counter() - started)
            assert (results["status"] == "updated").all(), results["status"].value_counts()
            frame["timeout"] = values["whole"]
            started = time.perf_counter()
            results = bb.apply(frame, client, workers=workers, progress=False)
            timings["whole"].append(time.perf_counter() - started)
            assert (results["status"] == "updated").all() and results["verified"].all()
    medians = {name: statistics.median(t) for name, t in timings.items()}
    return {
        "rows": rows,
        "repeats": repeats,
        "timings": timings,
        "medians": medians,
        "sending_ratio": medians["bare"] / medians["sending"],
        "whole_ratio": medians["bare"] / medians["whole"],
        "sending_ratios": [b / s for b, s in zip(timings["bare"], timings["sending"], strict=True)],
        "whole_ratios": [b / s for b, s in zip(timings["bare"], timings["whole"], strict=True)],
    }


def minimum_elapsed(requests_counted: int, limit: int, window: float) -> float:
    """The least time `requests_counted` requests can take under Laravel's fixed window (API-RULES §3): a window
    opens at its first counted request and lasts `window` seconds, so n requests need ceil(n / limit) windows and
    the last one opens `window` seconds after the one before, at the earliest. 429-answered requests are not
    counted; a window a client wastes by coming late is its own loss."""
    return (math.ceil(requests_counted / limit) - 1) * window


def bench_rate_limited(rows: int, limit: int, window: float) -> dict:
    """The whole `apply(frame, client)` with a fresh client (so GET /version too), verification included."""
    with Sandbox(databases=rows + rows // 20 + 20, seed=0, rate_limit=limit, window=window) as sb:
        with bb.Client(sb.endpoint, sb.token) as reader:
            sb.reset_rate_limit()
            frame = changes_for(reader, rows)
        sb.reset_rate_limit()  # the measured run starts on a fresh window, as a new run would
        before = sb.request_count
        with bb.Client(sb.endpoint, sb.token) as client:
            started = time.perf_counter()
            results = bb.apply(frame, client, progress=False)
            elapsed = time.perf_counter() - started
            stats = client.limiter.stats
        sent = sb.request_count - before
    counted = sent - stats.throttled  # every request but the 429-answered ones counted against the budget
    minimum = minimum_elapsed(counted, limit, window)
    return {
        "rows": rows,
        "limit": limit,
        "window": window,
        "elapsed_s": elapsed,
        "minimum_s": minimum,
        "ratio": elapsed / minimum if minimum else float("nan"),
        "requests": sent,
        "counted": counted,
        "throttled": stats.throttled,
        "not_updated": int((results["status"] != "updated").sum()),
        "verification": results.attrs["run"].verification,
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


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def figures(quick: bool = False) -> list[dict]:
    """The benchmarks as figures for benchmarks/run.py."""
    rows, repeats = (200, 3) if quick else (1000, 5)
    o = bench_overhead(rows, repeats)
    r = bench_rate_limited(300, 100, 2.0) if quick else bench_rate_limited(2000, 200, 5.0)
    f = bench_faults(rows)
    m = o["medians"]
    return [
        {
            "name": f"sending: apply(plan, verify=False) / bare loop, {rows} rows, 4 workers",
            "value": o["sending_ratio"],
            "unit": "x",
            "bar": ">= 0.97",
            "ok": o["sending_ratio"] >= 0.97,
            "note": f"medians of {repeats} alternating: bare {m['bare']:.2f} s, apply {m['sending']:.2f} s (with its "
            f"stale-plan read); per-round ratios {_spread(o['sending_ratios'])}",
        },
        {
            "name": f"whole apply(frame) / bare loop, {rows} rows, 4 workers",
            "value": o["whole_ratio"],
            "unit": "x",
            "bar": ">= 0.90",
            "ok": o["whole_ratio"] >= 0.90,
            "note": f"apply {m['whole']:.2f} s with plan read and verification read; per-round ratios "
            f"{_spread(o['whole_ratios'])}",
        },
        {
            "name": f"rate-limited, {r['rows']} rows, {r['limit']} per {r['window']:g} s: elapsed / minimum",
            "value": r["ratio"],
            "unit": "x",
            "bar": "<= 1.03",
            "ok": r["ratio"] <= 1.03,
            "note": f"{r['elapsed_s']:.1f} s for {r['minimum_s']:.0f} s: {r['counted']} requests counted, "
            f"{math.ceil(r['counted'] / r['limit'])} windows; {r['throttled']} answered 429; {r['verification']}",
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
    results = figures(quick=args.quick)
    for figure in results:
        verdict = "" if figure["ok"] is None else ("ok" if figure["ok"] else "MISSED")
        print(f"{figure['name']}: {figure['value']} {figure['unit']} (bar {figure['bar']}) {verdict}")
        if figure.get("note"):
            print(f"    {figure['note']}")
    return 0 if all(f["ok"] is not False for f in results) else 1


if __name__ == "__main__":
    sys.exit(main())
