"""All benchmarks in one command: python benchmarks/run.py [--quick]

Runs the sandbox's own throughput benchmark, then the client, journal, display and large-input
benchmarks, each printing its figures and the ratios measured side by side in the same run. Exit code 1
when a target is missed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    extra = sys.argv[1:]
    codes = [
        subprocess.call([sys.executable, str(HERE / name), *extra])
        for name in ("bench_sandbox.py", "bench_apply.py", "bench_display.py", "bench_journal.py", "bench_input.py")
    ]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
