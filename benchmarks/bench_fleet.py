"""Fleet scale: inventory, plan, apply and `bulkbackup export` of 10,000 databases.

The sandbox runs in its own process (`python -m bulkbackup sandbox --databases 10000`, no rate limit), so the
benchmark process holds only the client. The client's time is the CPU time of the benchmark process during the call
(decoding the JSON, building frames, reading changes, planning, and requests' own reading of the answer, so a
little more than the client's share proper). Beside it, the wall-clock view: the call's wall time minus the time
spent inside `requests.Session.request` (the union of those intervals, as inventory reads projects in parallel).
On this shared 2-core machine the wall-clock view swings with the other tenants' load (load averages of 5-11 while
these figures were taken), the CPU time much less, hence the bar on the latter. Median of 3.

Bars (issue 8, item 2): at most 1 s of client time each for `inventory()` and for `plan()` of all rows; peak memory
(VmHWM, the peak RSS, of a fresh process) of inventory + plan + apply results under 400 MB; the same two bars for
`bulkbackup export` in a fresh process (its client time counted from the CLI's main(), after the interpreter's
start-up and imports, which are shown beside it).

    python benchmarks/run.py fleet [--quick]     (--quick: 2,000 databases, one run each)
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

import bulkbackup as bb

DATABASES = 10_000
CLIENT_BAR_S = 1.0
MEMORY_BAR_MB = 400


class TimedSession(requests.Session):
    """A session that records when each request was in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def send(self, *args, **kwargs):  # the transport prepares requests itself and sends them through here
        started = time.perf_counter()
        try:
            return super().send(*args, **kwargs)
        finally:
            with self._lock:
                self.intervals.append((started, time.perf_counter()))

    def waited(self) -> float:
        """Seconds during which at least one request was in flight."""
        total, end = 0.0, float("-inf")
        for start, stop in sorted(self.intervals):
            if stop > end:
                total += stop - max(start, end)
                end = stop
        return total


def start_sandbox(databases: int) -> tuple[subprocess.Popen, str, str, float]:
    """The sandbox in a process of its own: (process, endpoint, root token, seconds until it answered)."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "bulkbackup", "sandbox", "--port", "0", "--databases", str(databases)]
    process = subprocess.Popen([*command, "--rate-limit", str(10**9)], stdout=subprocess.PIPE, text=True)
    found = {}
    for line in process.stdout:
        name, _, value = line.partition(": ")
        found[name] = value.strip()
        if name == "root token":
            break
    if "root token" not in found:
        process.kill()
        raise SystemExit("the sandbox did not start")
    return process, found["endpoint"], found["root token"], time.perf_counter() - started


def stop_sandbox(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def client_share(call, session: TimedSession) -> tuple[object, dict]:
    session.intervals.clear()
    cpu, started = time.process_time(), time.perf_counter()
    result = call()
    total = time.perf_counter() - started
    waited = session.waited()
    return result, {"total": total, "waited": waited, "client": total - waited, "cpu": time.process_time() - cpu}


# The wrapper of a fresh `bulkbackup export` process: times its CLI with every request's flight recorded, and reads
# the process's own peak RSS (VmHWM: getrusage's maxrss of a forked child would start at the parent's size).
_EXPORT = """
import json, sys, time
started = time.perf_counter()
import requests
flights = []
original = requests.Session.send  # every request goes out through Session.send (the client's transport)
def send(self, *args, **kwargs):
    begun = time.perf_counter()
    try:
        return original(self, *args, **kwargs)
    finally:
        flights.append((begun, time.perf_counter()))
requests.Session.send = send
from bulkbackup._cli.cli import main
imported, cpu = time.perf_counter(), time.process_time()
code = main(sys.argv[2:])
done, cpu = time.perf_counter(), time.process_time() - cpu
total, end = 0.0, float("-inf")
for begin, stop in sorted(flights):
    if stop > end:
        total, end = total + stop - max(begin, end), stop
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "imports": imported - started, "run": done - imported, "waited": total, "cpu": cpu,
               "peak_mb": peak / 1024}, out)
sys.exit(code)
"""


def peak_mb() -> float:
    """This process's peak resident memory so far (VmHWM)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def run_export(endpoint: str, token: str, out: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        env = dict(os.environ, BENCH_FLEET_TOKEN=token)
        command = [sys.executable, "-c", _EXPORT, str(report), "export", "--endpoint", endpoint]
        started = time.perf_counter()
        subprocess.run([*command, "--token-env", "BENCH_FLEET_TOKEN", "--output", out], env=env, check=True)
        measured = json.loads(report.read_text())
        measured["wall"] = time.perf_counter() - started
    return measured


def memory_job(endpoint: str, token: str) -> None:
    """In a fresh process: inventory, plan and apply results of every row, all kept alive; prints the peak."""
    with bb.Client(endpoint, token) as client:
        fleet = bb.inventory(client)
        changes = fleet.assign(timeout=7200)
        planned = bb.plan(changes, client)
        results = bb.apply(planned, client, progress=False)
    statuses = results["status"].value_counts().to_dict()
    print(json.dumps({"rows": len(fleet), "plan_rows": len(planned), "statuses": statuses, "peak_mb": peak_mb()}))


def figures(quick: bool = False) -> list[dict]:
    databases, repeats = (2_000, 1) if quick else (DATABASES, 3)
    process, endpoint, token, ready = start_sandbox(databases)
    try:
        session = TimedSession()
        with bb.Client(endpoint, token, session=session) as client:
            answer = session.get(client.url("/databases"), headers=client._headers, auth=client._auth, timeout=60)
            size_mb = len(answer.content) / 1e6
            inventories, plans = [], []
            for _ in range(repeats):
                fleet, measured = client_share(lambda: bb.inventory(client), session)
                inventories.append(measured)
                changes = fleet.assign(timeout=7200)
                planned, measured = client_share(lambda: bb.plan(changes, client), session)  # noqa: B023
                plans.append(measured)
            rows, updates = len(fleet), int((planned["action"] == "update").sum())
        with tempfile.TemporaryDirectory() as folder:
            out = str(Path(folder) / "backups.csv")
            export = run_export(endpoint, token, out)
            with open(out, encoding="utf-8") as written:
                exported = sum(1 for _ in written) - 1
        started = time.perf_counter()
        job = [sys.executable, __file__, "--memory", endpoint, token]
        memory = json.loads(subprocess.run(job, capture_output=True, text=True, check=True).stdout)
        memory_wall = time.perf_counter() - started
    finally:
        stop_sandbox(process)

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    def spread(runs: list[dict]) -> str:
        cpu = [run["cpu"] for run in runs]
        return (
            f"CPU {min(cpu):.2f}–{max(cpu):.2f} s over {len(runs)}; wall {median(runs, 'total'):.2f} s of which "
            f"waiting {median(runs, 'waited'):.2f} s, so {median(runs, 'client'):.2f} s beyond the answer"
        )

    inventory_s, plan_s = median(inventories, "cpu"), median(plans, "cpu")
    export_s = export["cpu"]
    return [
        {
            "name": f"sandbox of {databases:,} databases: ready",
            "value": ready,
            "unit": "s",
            "bar": "",
            "ok": None,
            "note": f"GET /databases answers {size_mb:.1f} MB; {rows:,} backup configurations",
        },
        {
            "name": f"inventory() of {rows:,} rows: client time",
            "value": inventory_s,
            "unit": "s",
            "bar": f"<= {CLIENT_BAR_S:g}",
            "ok": inventory_s <= CLIENT_BAR_S,
            "note": spread(inventories),
        },
        {
            "name": f"plan() of {rows:,} rows ({updates:,} updates): client time",
            "value": plan_s,
            "unit": "s",
            "bar": f"<= {CLIENT_BAR_S:g}",
            "ok": plan_s <= CLIENT_BAR_S,
            "note": spread(plans),
        },
        {
            "name": "peak memory: inventory + plan + apply results",
            "value": memory["peak_mb"],
            "unit": "MB",
            "bar": f"< {MEMORY_BAR_MB}",
            "ok": memory["peak_mb"] < MEMORY_BAR_MB,
            "note": f"VmHWM of a fresh process, which ran {memory_wall:.0f} s: {memory['statuses']}",
        },
        {
            "name": f"bulkbackup export of {rows:,} rows: client time",
            "value": export_s,
            "unit": "s",
            "bar": f"<= {CLIENT_BAR_S:g}",
            "ok": export_s <= CLIENT_BAR_S,
            "note": f"CPU from main() to the file; wall {export['run']:.2f} s of which waiting "
            f"{export['waited']:.2f} s; before it {export['imports']:.2f} s of imports; {export['wall']:.2f} s the "
            f"whole process; {exported:,} rows",
        },
        {
            "name": "bulkbackup export: peak memory",
            "value": export["peak_mb"],
            "unit": "MB",
            "bar": f"< {MEMORY_BAR_MB}",
            "ok": export["peak_mb"] < MEMORY_BAR_MB,
            "note": "VmHWM of the process",
        },
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        memory_job(*sys.argv[2:4])
        sys.exit(0)
    from run import main

    sys.exit(main([__file__, *sys.argv[1:]]))
