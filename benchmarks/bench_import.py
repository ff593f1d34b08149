"""Import time: `import bulkbackup` against pandas' own import time, in fresh processes.

Each measurement is a new interpreter timing one import statement (interpreter start-up excluded), pandas and
bulkbackup alternating, median of 15 each after one warm-up of each (which fills the bytecode caches). Bar: bulkbackup
at most pandas + 0.15 s, in CPU time of the importing process: on this shared 2-core machine the wall time of an
import swings by a factor of 3 with the other tenants' load (the wall-clock medians are shown beside it). Also shown:
the same with a `Client` made right after (requests loads with the first Client, not with the package), and which
heavy modules `import bulkbackup` leaves unloaded.

    python benchmarks/run.py import   (or python benchmarks/bench_import.py)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

BAR_S = 0.15
LAZY = ("bulkbackup.sandbox", "bulkbackup.widgets", "ipywidgets", "matplotlib", "tqdm.notebook", "IPython")
PROBES = {
    "pandas": "import pandas",
    "bulkbackup": "import bulkbackup",
    "bulkbackup + Client": "import bulkbackup; bulkbackup.Client('http://127.0.0.1:9', 'x')",
}


# numpy's BLAS starts a thread pool when pandas imports it, and those threads' spinning CPU time (more than the
# import's wall time on a busy machine) would swamp the difference measured; one thread each keeps the import's work.
_ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def measure(statement: str) -> tuple[float, float]:
    """(wall, CPU) seconds of `statement` in a fresh interpreter."""
    code = (
        "import time; w, c = time.perf_counter(), time.process_time(); "
        f"{statement}; print(time.perf_counter() - w, time.process_time() - c)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_ENV).stdout
    wall, cpu = map(float, out.split())
    return wall, cpu


def loaded_after_import() -> list[str]:
    code = f"import sys, json, bulkbackup; print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def figures(quick: bool = False) -> list[dict]:
    repeats = 3 if quick else 15
    for statement in PROBES.values():
        measure(statement)  # warm-up: bytecode caches, the OS's file cache
    wall: dict[str, list[float]] = {name: [] for name in PROBES}
    cpu: dict[str, list[float]] = {name: [] for name in PROBES}
    for _ in range(repeats):
        for name, statement in PROBES.items():
            w, c = measure(statement)
            wall[name].append(w)
            cpu[name].append(c)
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    wall_median = {name: statistics.median(values) for name, values in wall.items()}

    def note(name: str) -> str:
        return (
            f"CPU median of {repeats}, {min(cpu[name]):.3f}–{max(cpu[name]):.3f} s; "
            f"wall {wall_median[name]:.3f} s ({min(wall[name]):.3f}–{max(wall[name]):.3f})"
        )

    over = cpu_median["bulkbackup"] - cpu_median["pandas"]
    loaded = loaded_after_import()
    return [
        {
            "name": "import pandas",
            "value": cpu_median["pandas"],
            "unit": "s",
            "bar": "",
            "ok": None,
            "note": note("pandas"),
        },
        {
            "name": "import bulkbackup",
            "value": cpu_median["bulkbackup"],
            "unit": "s",
            "bar": "",
            "ok": None,
            "note": note("bulkbackup"),
        },
        {
            "name": "import bulkbackup beyond pandas",
            "value": over,
            "unit": "s",
            "bar": f"<= {BAR_S}",
            "ok": over <= BAR_S,
            "note": f"wall: {wall_median['bulkbackup'] - wall_median['pandas']:+.3f} s",
        },
        {
            "name": "import + first Client beyond pandas",
            "value": cpu_median["bulkbackup + Client"] - cpu_median["pandas"],
            "unit": "s",
            "bar": "",
            "ok": None,
            "note": note("bulkbackup + Client"),
        },
        {
            "name": "heavy modules loaded by the import",
            "value": ", ".join(loaded) or "none",
            "unit": "",
            "bar": "none",
            "ok": not loaded,
            "note": ", ".join(LAZY),
        },
    ]


if __name__ == "__main__":
    from run import main

    sys.exit(main([__file__, *sys.argv[1:]]))
