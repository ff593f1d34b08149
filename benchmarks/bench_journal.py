"""Journal benchmark: the same 1,000-row run with and without a journal, against the in-process sandbox.

Runs alternate (off, on, off, on, …) so drift of the machine's load hits both alike; each run changes every row
(two value sets, alternating), and the journal-on run writes a fresh journal: header, an fsynced intent before
every request, an outcome after. Prints the medians and their ratio (target: the journal costs at most 10%).

Run: python benchmarks/bench_journal.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

TARGET = 1.10


def measure(rows: int, pairs: int) -> dict[bool, list[float]]:
    """Seconds of every run, by whether the journal was on; runs alternate."""
    timings: dict[bool, list[float]] = {False: [], True: []}
    with (
        Sandbox(databases=2 * rows, seed=0, rate_limit=10**9) as sb,
        bb.Client(sb.endpoint, sb.token) as client,
        tempfile.TemporaryDirectory() as folder,
    ):
        fleet = bb.inventory(client)
        if len(fleet) < rows:
            raise SystemExit(f"fleet has only {len(fleet)} configurations, need {rows}")
        frame = pd.DataFrame({name: fleet[name].head(rows).tolist() for name in ("database_uuid", "backup_uuid")})
        run = 0
        for pair in range(pairs):
            for journal_on in (False, True) if pair % 2 == 0 else (True, False):
                frame["timeout"] = [61 + i + (run % 2) * 5000 for i in range(rows)]  # every row differs each run
                journal = Path(folder) / f"run-{run}.jsonl" if journal_on else None
                started = time.perf_counter()
                results = bb.apply(frame, client, workers=4, progress=False, verify=False, journal=journal)
                timings[journal_on].append(time.perf_counter() - started)
                assert (results["status"] == "updated").all(), results["status"].value_counts()
                if journal_on:
                    assert journal.read_text().count('"record": "intent"') == rows
                run += 1
    return timings


def figures(quick: bool = False) -> list[dict]:
    """For benchmarks/run.py: the journal's cost as the ratio of the medians."""
    rows, pairs = (200, 3) if quick else (1000, 7)
    timings = measure(rows, pairs)
    off, on = statistics.median(timings[False]), statistics.median(timings[True])
    return [
        {
            "name": f"journal on/off, {rows} rows, 4 workers (median of {pairs} alternating)",
            "value": on / off,
            "unit": "x",
            "bar": f"<= {TARGET:.2f}",
            "ok": on / off <= TARGET,
            "note": f"off {off:.2f} s, on {on:.2f} s",
        }
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 rows, 3 pairs of runs")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    rows, pairs = (200, 3) if args.quick else (args.rows, args.pairs)
    timings = measure(rows, pairs)
    off, on = statistics.median(timings[False]), statistics.median(timings[True])
    ratio = on / off
    print(f"journal benchmark: {rows} rows, {pairs} runs each, 4 workers, alternating")
    print(f"  journal off: median {off:.3f} s ({rows / off:.0f} rows/s)")
    print(f"  journal on:  median {on:.3f} s ({rows / on:.0f} rows/s)")
    print(f"  ratio on/off: {ratio:.3f} (target <= {TARGET:.2f}) {'OK' if ratio <= TARGET else 'MISSED'}")
    for journal_on in (False, True):
        print(
            f"  every run, journal {'on ' if journal_on else 'off'} (s): "
            + " ".join(f"{t:.2f}" for t in timings[journal_on])
        )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
