"""`serve()`: sandboxes in the foreground until Ctrl-C, their endpoints and tokens printed (`bulkbackup sandbox`)."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TextIO

from bulkbackup.sandbox._api import VERSION
from bulkbackup.sandbox._faults import parse_fault
from bulkbackup.sandbox._server import Sandbox, Sandboxes

__all__ = ["serve"]


def serve(
    port: int = 0,
    databases: int = 40,
    seed: int = 0,
    rate_limit: int = 200,
    window: float = 60.0,
    faults: Mapping[object, object] | Iterable[str] | None = None,
    out: TextIO | None = None,
    version: str = VERSION,
    *,
    cases: bool = False,
    instances: int = 1,
    cli_config: str | os.PathLike | None = None,
) -> None:
    """Run a sandbox until Ctrl-C, after printing its endpoint and tokens one per line (`out`: default stdout).

    `faults` is a mapping ({"500": 0.1}) or "KEY=VALUE" strings as a command line gives them. `cases` adds the
    policy cases (see Sandbox). `instances` > 1 runs that many, seeded `seed`, `seed + 1`, … on `port`, `port + 1`,
    … (or any free ports for 0), each printed under its name. `cli_config` names a coolify-cli config file to
    write with one context per instance (see `Sandboxes.cli_config`), so that `--all-contexts` reaches them all.
    Raises PortUnavailable (an OSError whose message is one line) when a port is taken.
    """
    out = out if out is not None else sys.stdout
    if faults is not None and not isinstance(faults, Mapping):
        faults = dict(parse_fault(text) for text in faults)
    if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
        raise ValueError(f"instances must be a number >= 1, got {instances!r}")
    sandboxes = Sandboxes(
        Sandbox(
            databases,
            seed + i,
            rate_limit,
            window,
            faults,
            port=port + i if port else 0,
            version=version,
            cases=cases,
            name=f"sandbox-{i + 1}" if instances > 1 else None,
        )
        for i in range(instances)
    )
    with sandboxes:
        for sandbox in sandboxes:
            if sandbox.name:
                print(f"[{sandbox.name}]", file=out)
            _print_sandbox(sandbox, out)
        if cli_config is not None:
            written = sandboxes.cli_config(cli_config)
            print(f"coolify-cli config: {written} (contexts: {', '.join(sandboxes.names)})", file=out)
        out.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def _print_sandbox(sandbox: Sandbox, out: TextIO) -> None:
    print(f"endpoint: {sandbox.endpoint}", file=out)
    print(f"root token: {sandbox.token}", file=out)
    print(f"read token: {sandbox.read_token}", file=out)
    print(f"write token: {sandbox.write_token}", file=out)
    print(f"other team token: {sandbox.other_team_token}", file=out)
    print(f"Coolify version: {sandbox.version}", file=out)
    # Quoted for a shell: the token's "|" would otherwise start a pipeline when pasted.
    print("\nto use it from another shell, paste:", file=out)
    print(f"export COOLIFY_ENDPOINT={shlex.quote(sandbox.endpoint)}", file=out)
    print(f"export COOLIFY_TOKEN={shlex.quote(sandbox.token)}", file=out)
    print(file=out)
