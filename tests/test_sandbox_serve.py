"""serve(): a sandbox in the foreground that prints its endpoint and tokens and stops on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests

SCRIPT = "from bulkbackup.sandbox import serve; serve(databases=5, seed=2, rate_limit=50, faults=['503=1'])"
LABELS = ["endpoint", "root token", "read token", "write token", "other team token"]


def test_serve_prints_endpoint_and_tokens_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = [process.stdout.readline().rstrip("\n") for _ in LABELS]
        values = {}
        for label, line in zip(LABELS, lines, strict=True):
            assert line.startswith(f"{label}: "), lines
            values[label] = line.split(": ", 1)[1]
        endpoint = values["endpoint"]
        assert endpoint.startswith("http://127.0.0.1:") and endpoint.endswith("/api/v1")
        for label in ("root token", "read token", "other team token"):
            response = requests.get(
                f"{endpoint}/version", headers={"Authorization": f"Bearer {values[label]}"}, timeout=5
            )
            assert (response.status_code, response.text) == (200, "4.3.11"), label
        denied = requests.get(
            f"{endpoint}/version", headers={"Authorization": f"Bearer {values['write token']}"}, timeout=5
        )
        assert denied.status_code == 403
        refused = requests.patch(
            f"{endpoint}/databases/x/backups/y",
            json={},
            headers={"Authorization": f"Bearer {values['root token']}"},
            timeout=5,
        )
        assert refused.status_code == 503  # faults given as KEY=VALUE strings
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_runs_several_instances_each_under_its_name(tmp_path):
    config = tmp_path / "config.json"
    script = (
        "from bulkbackup.sandbox import serve; "
        f"serve(databases=3, seed=4, instances=2, cases=True, cli_config={str(config)!r})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        blocks: dict[str, dict[str, str]] = {}
        current = written = None
        while written is None:  # the blocks, then the config file's line once every instance runs
            line = process.stdout.readline()
            assert line, process.stderr.read()
            line = line.rstrip("\n")
            if line.startswith("coolify-cli config: "):
                written = line
            elif line.startswith("["):
                current = line.strip("[]")
                blocks[current] = {}
            elif ": " in line and current:
                label, value = line.split(": ", 1)
                blocks[current][label] = value
        assert list(blocks) == ["sandbox-1", "sandbox-2"]
        one, two = blocks.values()
        assert one["endpoint"] != two["endpoint"] and one["root token"] != two["root token"]
        names = []
        for block in (one, two):
            response = requests.get(
                f"{block['endpoint']}/databases", headers={"Authorization": f"Bearer {block['root token']}"}, timeout=5
            )
            assert response.status_code == 200
            names.append({d["name"] for d in response.json()})
        assert all("unconfigured-postgresql" in n for n in names)  # cases=True
        # The coolify-cli config written once both run: one context per instance, the first the default.
        assert written == f"coolify-cli config: {config} (contexts: sandbox-1, sandbox-2)"
        contexts = json.loads(config.read_text())["instances"]
        assert [(c["name"], c["fqdn"] + "/api/v1", c["token"], c["default"]) for c in contexts] == [
            ("sandbox-1", one["endpoint"], one["root token"], True),
            ("sandbox-2", two["endpoint"], two["root token"], False),
        ]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
