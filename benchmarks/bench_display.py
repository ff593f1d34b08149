"""Display benchmarks: styled frames and schedule counts on migration-sized frames.

- bb.style() of a 10,000-row plan (2,000 rows rendered) against a bare escaping pandas Styler of the same 2,000
  rows, side by side in the same run (the ratio is the point: the machine's load swings the absolute times), and
  pandas' plain to_html for reference;
- the default notebook display of that plan (display.max_rows rows);
- schedule_counts() of 5,000 configurations after stagger(), daily (240 distinct frequencies) and weekly
  (5,000 distinct frequencies), counted over 52 weeks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import pandas as pd

import bulkbackup as bb
from bulkbackup._core.firing import compile_frequency
from bulkbackup._display.styling import MAX_ROWS, _notebook_html


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def a_plan(rows: int) -> pd.DataFrame:
    changes = pd.DataFrame(
        {
            "database_uuid": [f"db{i:06d}" for i in range(rows)],
            "backup_uuid": [f"bk{i:06d}" for i in range(rows)],
            "frequency": "17 2 * * *",
            "timeout": 7200,
            "databases_to_backup": "storefront,analytics",
        }
    )
    return bb.plan(changes)


def measure(quick: bool) -> dict[str, float]:
    rows, configurations, repeats = (3000, 1000, 1) if quick else (10_000, 5000, 3)
    print("== display benchmarks ==")
    plan = a_plan(rows)
    styled = best_of(repeats, lambda: bb.style(plan).to_html())
    bare = best_of(repeats, lambda: plan.head(MAX_ROWS).style.format(escape="html").to_html())
    plain = best_of(repeats, lambda: plan.head(MAX_ROWS).to_html())
    shown = best_of(repeats, lambda: _notebook_html(plan))
    print(
        f"style: {rows:,}-row plan, {MAX_ROWS:,} rows rendered in {styled:.2f} s; a bare escaping Styler "
        f"{bare:.2f} s, ratio {styled / bare:.2f} (target <= 2); pandas to_html {plain:.2f} s; notebook display "
        f"({pd.get_option('display.max_rows')} rows) {shown * 1000:.0f} ms (target <= 500 ms)"
    )
    fleet = pd.DataFrame(
        {
            "database_uuid": [f"db{i:06d}" for i in range(configurations)],
            "backup_uuid": [f"bk{i:06d}" for i in range(configurations)],
            "frequency": "daily",
            "enabled": True,
        }
    )
    start = dt.date(2026, 3, 2)
    daily = bb.stagger(fleet, between="01:00", and_="05:00")
    weekly = bb.stagger(fleet, between="00:00", and_="23:59", every="week")
    counted_daily = best_of(repeats, lambda: bb.schedule_counts(fleet, daily, start=start))
    compile_frequency.cache_clear()
    counted_weekly = best_of(1, lambda: bb.schedule_counts(fleet, weekly, start=start))
    print(
        f"schedule_counts: {configurations:,} configurations over 52 weeks, {daily['frequency'].nunique()} "
        f"frequencies {counted_daily:.2f} s, {weekly['frequency'].nunique():,} frequencies (none compiled before) "
        f"{counted_weekly:.2f} s (target <= 5 s)"
    )
    return {"ratio": styled / bare, "styled": styled, "bare": bare, "shown": shown, "weekly": counted_weekly}


def figures(quick: bool = False) -> list[dict]:
    """For benchmarks/run.py."""
    m = measure(quick)
    return [
        {
            "name": "bb.style of a 10,000-row plan vs a bare escaping Styler",
            "value": m["ratio"],
            "unit": "x",
            "bar": "<= 2",
            "ok": m["ratio"] <= 2,
            "note": f"{m['styled']:.2f} s vs {m['bare']:.2f} s",
        },
        {
            "name": "notebook display of a plan",
            "value": m["shown"],
            "unit": "s",
            "bar": "<= 0.5",
            "ok": m["shown"] <= 0.5,
        },
        {
            "name": "schedule_counts, 5,000 distinct frequencies, 52 weeks",
            "value": m["weekly"],
            "unit": "s",
            "bar": "<= 5",
            "ok": m["weekly"] <= 5,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test, not the targets)")
    args = parser.parse_args(argv)
    m = measure(args.quick)
    ok = m["ratio"] <= 2 and m["shown"] <= 0.5 and m["weekly"] <= 5
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
