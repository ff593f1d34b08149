"""How many PATCH requests a second the sandbox sustains, next to a bare http.server baseline.

    python benchmarks/bench_sandbox.py [--seconds 3] [--threads 4]

Each measurement is a bounded run of `--seconds` with `--threads` client threads, on 127.0.0.1 only, first
against the sandbox (every PATCH goes through the whole pipeline and updates a configuration), then against a
bare `http.server` handler (HTTP/1.1 keep-alive, Nagle off, one fixed answer) measured in the same run:
- requests, in-process: each thread with its own requests.Session, in the server's own process (sharing one
  GIL with it, as the test suite does). Requirement: 700/s.
- requests, separate process: the same client in a subprocess. A requests client spends well over a
  millisecond of CPU per call, so one such process tops out near 800/s against the bare server too: this
  line measures the client, and is shown for comparison.
- http.client, separate process: the same PATCHes over bare keep-alive connections from a subprocess, a
  client cheap enough to measure the server. Requirement: 1,000/s.
The ratio column is sandbox / bare. The exit status is 1 if a requirement is missed or an answer was not 200.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import requests

from bulkbackup.sandbox import Sandbox

# (where the client runs, which client) → PATCH/s the sandbox must sustain.
REQUIRED = {("in-process", "requests"): 700, ("separate process", "http.client"): 1000}


def _requests_worker(
    endpoint: str, token: str, targets: list[tuple[str, str]], deadline: float, offset: int, step: int
) -> dict[int, int]:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    counts: dict[int, int] = {}
    n = offset
    while time.perf_counter() < deadline:
        database, backup = targets[n % len(targets)]
        response = session.patch(
            f"{endpoint}/databases/{database}/backups/{backup}",
            headers=headers,
            json={"enabled": n % 2 == 0, "timeout": 3600 + n % 100},
            timeout=10,
        )
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
        n += step
    session.close()
    return counts


def _raw_worker(
    endpoint: str, token: str, targets: list[tuple[str, str]], deadline: float, offset: int, step: int
) -> dict[int, int]:
    """The same requests over a bare http.client keep-alive connection: almost no client-side cost."""
    url = urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"}
    counts: dict[int, int] = {}
    n = offset
    while time.perf_counter() < deadline:
        database, backup = targets[n % len(targets)]
        body = json.dumps({"enabled": n % 2 == 0, "timeout": 3600 + n % 100})
        connection.request("PATCH", f"{url.path}/databases/{database}/backups/{backup}", body, headers)
        response = connection.getresponse()
        response.read()
        counts[response.status] = counts.get(response.status, 0) + 1
        n += step
    connection.close()
    return counts


WORKERS = {"requests": _requests_worker, "http.client": _raw_worker}


def run_client(
    endpoint: str, token: str, targets: list[tuple[str, str]], seconds: float, threads: int, kind: str = "requests"
) -> dict:
    """PATCH the targets round-robin from `threads` threads for `seconds`; count the answers by status."""
    deadline = time.perf_counter() + seconds
    counts: dict[int, int] = {}
    lock = threading.Lock()

    def worker(offset: int) -> None:
        local = WORKERS[kind](endpoint, token, targets, deadline, offset, threads)
        with lock:
            for status, count in local.items():
                counts[status] = counts.get(status, 0) + count

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"counts": counts, "elapsed": elapsed, "per_second": sum(counts.values()) / elapsed}


def run_client_process(
    endpoint: str, token: str, targets: list[tuple[str, str]], seconds: float, threads: int, kind: str = "requests"
) -> dict:
    command = [sys.executable, __file__, "--client", json.dumps([endpoint, token, targets, seconds, threads, kind])]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    result = json.loads(output)
    result["counts"] = {int(status): count for status, count in result["counts"].items()}
    return result


class _BareHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = b'{"message":"Database backup configuration updated"}'

    def do_PATCH(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(self.body), self.body)
        )

    def log_message(self, format: str, *args: object) -> None:
        pass


def bare_server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BareHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


STARTUP_LIMIT_S = 3.0  # a 5,000-database fleet must be ready for a notebook user in a moment
SCENARIOS = (("in-process", "requests"), ("separate process", "requests"), ("separate process", "http.client"))


def measure_all(seconds: float, threads: int) -> tuple[dict, dict]:
    """Every scenario against the sandbox, then against the bare server: (sandbox results, bare results)."""

    def measure(endpoint: str, token: str, targets: list[tuple[str, str]]) -> dict:
        results = {}
        for where, kind in SCENARIOS:
            run = run_client if where == "in-process" else run_client_process
            results[where, kind] = run(endpoint, token, targets, seconds, threads, kind)
        return results

    with Sandbox(databases=200, rate_limit=10**9) as sandbox:
        targets = [(b["database_uuid"], b["backup_uuid"]) for b in sandbox.backups]
        sandbox_results = measure(sandbox.endpoint, sandbox.token, targets)
    bare = bare_server()
    try:
        bare_results = measure(f"http://127.0.0.1:{bare.server_address[1]}/api/v1", "x", targets)
    finally:
        bare.shutdown()
        bare.server_close()
    return sandbox_results, bare_results


def figures(quick: bool = False) -> list[dict]:
    """PATCH/s per scenario for benchmarks/run.py, 4 threads, 3 s a run (1 s with quick)."""
    started = time.perf_counter()
    with Sandbox(databases=5000, seed=3):
        startup = time.perf_counter() - started
    result = [
        {
            "name": "Sandbox(databases=5000) starts",
            "value": startup,
            "unit": "s",
            "bar": f"< {STARTUP_LIMIT_S:g}",
            "ok": startup < STARTUP_LIMIT_S,
        }
    ]
    sandbox_results, bare_results = measure_all(1.0 if quick else 3.0, 4)
    for where, kind in SCENARIOS:
        measured = sandbox_results[where, kind]
        rate, bare_rate = measured["per_second"], bare_results[where, kind]["per_second"]
        required = REQUIRED.get((where, kind))
        result.append(
            {
                "name": f"sandbox PATCH/s, {kind} client, {where}",
                "value": rate,
                "unit": "/s",
                "bar": f">= {required}" if required else "",
                "ok": (rate >= required and set(measured["counts"]) == {200}) if required else None,
                "note": f"bare http.server: {bare_rate:.0f}/s (ratio {rate / bare_rate:.2f})",
            }
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(run_client(*json.loads(args.client))))
        return 0

    sandbox_results, bare_results = measure_all(args.seconds, args.threads)
    ok = True
    started = time.perf_counter()
    with Sandbox(databases=5000, seed=3):
        startup = time.perf_counter() - started
    ok &= startup < STARTUP_LIMIT_S
    verdict = "ok" if startup < STARTUP_LIMIT_S else "FAIL"
    print(f"Sandbox(databases=5000) starts in {startup:.2f} s (requirement < {STARTUP_LIMIT_S:g} s: {verdict})")
    print(f"PATCH/s, {args.threads} client threads, {args.seconds:g} s per run, 127.0.0.1")
    print(f"  {'client':32} {'sandbox':>9} {'bare':>9} {'ratio':>6}  requirement")
    for where, kind in SCENARIOS:
        result = sandbox_results[where, kind]
        rate, bare_rate = result["per_second"], bare_results[where, kind]["per_second"]
        required = REQUIRED.get((where, kind))
        verdict = ""
        if required:
            passed = rate >= required and set(result["counts"]) == {200}
            ok &= passed
            verdict = f">= {required}: {'ok' if passed else 'FAIL'}"
        print(f"  {kind + ', ' + where:32} {rate:9.0f} {bare_rate:9.0f} {rate / bare_rate:6.2f}  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
