"""Several instances sent in parallel, each at its own server's pace (issue 16), against sandboxes on 127.0.0.1.

Three instances, each allowing 50 requests per 5 s window, 150 rows each, seeded alike (their uuids collide, as
instances restored from one backup do, so the rows are told apart by their `instance` column alone). The whole
`bb.apply(plan, [c1, c2, c3])` is measured against ONE instance's minimum time: one instance, 150 rows, the same
budget, alone — measured first in the same run, its minimum worked out from the requests it made (the fixed
window's arithmetic, as in bench_apply). Sent one after another the three would take three times that; in
parallel, one limiter and one worker pool per instance, the run takes about as long as its slowest instance
(target: <= 1.05x). Per instance: its rows, its requests (counted and answered 429), the time its last row
finished. Every row must end `updated`, on its own instance only.

Both runs start from a ready plan (its reads done) on fresh windows, as a new run would.

Run: python benchmarks/bench_instances.py [--quick]   (or: python benchmarks/run.py instances)
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time

import pandas as pd

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

NAMES = ("production", "staging", "eu")


def minimum_elapsed(requests_counted: int, limit: int, window: float) -> float:
    """The least time `requests_counted` requests can take under Laravel's fixed window (API-RULES §3): n requests
    need ceil(n / limit) windows, each opening `window` seconds after the one before at the earliest."""
    return (math.ceil(requests_counted / limit) - 1) * window


def keys(sandbox: Sandbox, rows: int) -> pd.DataFrame:
    """The first `rows` configurations' keys, as a changes file names them."""
    with bb.Client(sandbox.endpoint, sandbox.token) as reader:
        fleet = bb.inventory(reader)
    sandbox.reset_rate_limit()
    if len(fleet) < rows:
        raise SystemExit(f"fleet has only {len(fleet)} configurations, need {rows}")
    return pd.DataFrame({name: fleet[name].head(rows).tolist() for name in ("database_uuid", "backup_uuid")})


def timeouts(rows: int, place: int) -> list[int]:
    """Values that differ from every seeded one and from every other instance's: a row sent to the wrong instance
    would show there."""
    return [61 + i + 1000 * place for i in range(rows)]


class LastRow:
    """A listener: when each instance's last row finished, seconds after `started`."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.finished: dict[str | None, float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: object) -> None:
        if isinstance(event, bb.events.RowFinished):
            with self._lock:
                self.finished[event.row.instance] = time.perf_counter() - self.started


def fleet_size(rows: int) -> int:
    return rows + rows // 20 + 20  # ~1.04 configurations a database: just large enough for the rows


def alone(rows: int, limit: int, window: float) -> dict:
    """One instance, `rows` rows, the budget: the yardstick."""
    with Sandbox(databases=fleet_size(rows), seed=0, rate_limit=limit, window=window, name="alone") as sandbox:
        frame = keys(sandbox, rows)
        frame["timeout"] = timeouts(rows, 0)
        with bb.Client(sandbox.endpoint, sandbox.token) as client:
            planned = bb.plan(frame, client)
            sandbox.reset_rate_limit()  # the measured run starts on a fresh window
            before = sandbox.request_count
            started = time.perf_counter()
            results = bb.apply(planned, client, progress=False)
            elapsed = time.perf_counter() - started
            throttled = client.limiter.stats.throttled
        sent = sandbox.request_count - before
    counted = sent - throttled
    return {
        "rows": rows,
        "elapsed_s": elapsed,
        "requests": sent,
        "counted": counted,
        "throttled": throttled,
        "minimum_s": minimum_elapsed(counted, limit, window),
        "updated": int((results["status"] == "updated").sum()),
        "verification": results.attrs["run"].verification,
    }


def together(rows: int, limit: int, window: float, n: int = 3) -> dict:
    """`n` instances seeded alike, `rows` rows each, one `apply(plan, clients)`."""
    names = list(NAMES[:n]) if n <= len(NAMES) else [f"instance-{i + 1}" for i in range(n)]
    sandboxes = Sandbox.many(n, databases=fleet_size(rows), seed=0, rate_limit=limit, window=window, name=names)
    with sandboxes:
        shared = keys(sandboxes[0], rows)  # seeded alike: every instance has these uuids
        frames = []
        for place, name in enumerate(names):
            frame = shared.copy()
            frame.insert(0, "instance", name)
            frame["timeout"] = timeouts(rows, place)
            frames.append(frame)
        changes = pd.concat(frames, ignore_index=True)
        clients = [bb.Client(s.endpoint, s.token, name=s.name) for s in sandboxes]
        try:
            planned = bb.plan(changes, clients)
            for sandbox in sandboxes:
                sandbox.reset_rate_limit()
            before = [s.request_count for s in sandboxes]
            last_row = LastRow()
            started = last_row.started
            results = bb.apply(planned, clients, progress=False, listeners=[last_row])
            elapsed = time.perf_counter() - started
            throttled = [c.limiter.stats.throttled for c in clients]
        finally:
            for client in clients:
                client.close()
        per_instance = {}
        for place, (name, sandbox) in enumerate(zip(names, sandboxes, strict=True)):
            mine = results[results["instance"] == name]
            sent = sandbox.request_count - before[place]
            counted = sent - throttled[place]
            # Routed right: this instance holds its own values, and received no other instance's.
            expected = dict(zip(shared["backup_uuid"], timeouts(rows, place), strict=True))
            held = {uuid: sandbox.config(uuid)["timeout"] for uuid in expected}
            own = set(expected.values())
            per_instance[name] = {
                "rows": len(mine),
                "updated": int((mine["status"] == "updated").sum()),
                "requests": sent,
                "counted": counted,
                "throttled": throttled[place],
                # No PATCH carried another instance's value (a 429-answered one, sent again, is received twice).
                "foreign": sum(body.get("timeout") not in own for body in sandbox.patch_bodies),
                "routed_right": held == expected,
                "last_row_s": last_row.finished.get(name, float("nan")),
                "minimum_s": minimum_elapsed(counted, limit, window),
            }
    facts = results.attrs["run"]
    return {
        "instances": per_instance,
        "elapsed_s": elapsed,
        "verification": facts.verification,
        "stopped": facts.stopped,
    }


def figures(quick: bool = False) -> list[dict]:
    """The benchmark as figures for benchmarks/run.py."""
    rows, limit, window = (40, 20, 2.0) if quick else (150, 50, 5.0)
    one = alone(rows, limit, window)
    many = together(rows, limit, window)
    n = len(many["instances"])
    ratio = many["elapsed_s"] / one["minimum_s"] if one["minimum_s"] else float("nan")
    measured = many["elapsed_s"] / one["elapsed_s"]
    budget = f"{limit} per {window:g} s"
    result = [
        {
            "name": f"{n} instances, {rows} rows each, {budget} each: whole run / one instance's minimum",
            "value": ratio,
            "unit": "x",
            "bar": "<= 1.05",
            "ok": ratio <= 1.05,
            "note": f"{many['elapsed_s']:.2f} s for {one['minimum_s']:.0f} s (one instance alone: {one['counted']} "
            f"requests counted, {math.ceil(one['counted'] / limit)} windows); one after another: "
            f"{n * one['minimum_s']:.0f} s; {many['verification']}",
        },
        {
            "name": f"{n} instances / one instance alone, measured in the same run",
            "value": measured,
            "unit": "x",
            "bar": "<= 1.05",
            "ok": measured <= 1.05,
            "note": f"alone: {one['elapsed_s']:.2f} s ({one['elapsed_s'] / one['minimum_s']:.3f}x its minimum), "
            f"{one['requests']} requests, {one['throttled']} answered 429, {one['updated']} rows updated",
        },
    ]
    for name, facts in many["instances"].items():
        result.append(
            {
                "name": f"instance {name}: {facts['rows']} rows, {facts['requests']} requests, last row finished",
                "value": facts["last_row_s"],
                "unit": "s",
                "bar": "",
                "ok": None,
                "note": f"{facts['updated']} updated, {facts['counted']} requests counted "
                f"({math.ceil(facts['counted'] / limit)} windows, minimum {facts['minimum_s']:.0f} s), "
                f"{facts['throttled']} answered 429",
            }
        )
    wrong = sum(rows - f["updated"] + f["foreign"] + (not f["routed_right"]) for f in many["instances"].values())
    result.append(
        {
            "name": f"{n} instances: rows not updated, or not on their own instance",
            "value": wrong,
            "unit": "",
            "bar": "0",
            "ok": wrong == 0 and one["updated"] == rows and many["stopped"] is None,
            "note": f"{n} x {rows} rows, the same uuids on every instance; each holds its own values, and no PATCH "
            f"carried another's; stopped: {many['stopped']}",
        }
    )
    return result


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
