"""Every benchmark in one command, and one table of figures with the bar beside each.

    python -m benchmarks [--quick] [NAME ...]        (or: python benchmarks/run.py ...)

NAME picks modules (`fleet`, `bench_fleet` or `bench_fleet.py`); by default every `benchmarks/bench_*.py` runs, in
sorted order, each in a fresh Python process of its own (so one module's memory, imports or threads cannot skew the
next one's figures). The exit status is 1 when a figure misses its bar or a module fails.

The protocol, for a new benchmark module `benchmarks/bench_NAME.py`:

    def figures(quick: bool = False) -> list[dict]:
        return [{"name": "inventory, client share", "value": 0.42, "unit": "s", "bar": "<= 1", "ok": True}]

Each figure is a plain dict (no import needed): `name`, `value` (a number, or text such as "yes"), `unit`, `bar`
(the target, as text, "" for a figure shown only for context), `ok` (True/False, None for context figures) and an
optional `note` (the spread, what was measured against). `quick=True` asks for a smoke-sized run: its figures are
printed but are not the targets. The module's own prints (progress, detail) go to the console as it runs. A module
without `figures()` but with `main()` is run with `main()` (and `--quick` in `sys.argv` when asked); its exit code
becomes its one figure. To run one module alone: `python benchmarks/run.py NAME`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("name", "value", "unit", "bar", "ok")


def modules(names: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if not names:
        return found
    wanted = []
    for name in names:
        stem = Path(name).stem
        stem = stem if stem.startswith("bench_") else f"bench_{stem}"
        match = [path for path in found if path.stem == stem]
        if not match:
            raise SystemExit(f"no benchmark {name!r}: there are {', '.join(p.stem for p in found)}")
        wanted.extend(match)
    return wanted


def _child(path: str, out: str, quick: bool) -> int:
    """In the fresh process: load the module by path and write its figures as JSON to `out`."""
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if hasattr(module, "figures"):
        figures = module.figures(quick=quick)
    else:
        sys.argv = [path, *(["--quick"] if quick else [])]
        code = module.main()
        code = 0 if code is None else int(code)
        figures = [{"name": "main() exit code", "value": code, "unit": "", "bar": "0", "ok": code == 0}]
    Path(out).write_text(json.dumps(figures, default=str))
    return 0


def run_module(path: Path, quick: bool) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), str(out)]
        started = time.perf_counter()
        code = subprocess.call([*command, *(["--quick"] if quick else [])])
        elapsed = time.perf_counter() - started
        if code != 0 or not out.exists():
            return [{"name": "the module ran", "value": code, "unit": "exit code", "bar": "0", "ok": False}]
        figures = json.loads(out.read_text())
    for figure in figures:
        missing = [key for key in KEYS if key not in figure]
        if missing:
            figure.update(ok=False, note=f"protocol: missing {', '.join(missing)}")
    figures.append({"name": "(module run time)", "value": elapsed, "unit": "s", "bar": "", "ok": None})
    return figures


def show(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"


def table(results: dict[str, list[dict]]) -> str:
    rows = [("benchmark", "figure", "value", "bar", "", "note")]
    for module, figures in results.items():
        for figure in figures:
            ok = figure.get("ok")
            verdict = "" if ok is None else ("ok" if ok else "MISSED")
            value = f"{show(figure.get('value'))} {figure.get('unit', '')}".strip()
            rows.append(
                (module, str(figure.get("name")), value, str(figure.get("bar", "")), verdict, figure.get("note", ""))
            )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)) + f" | {row[5]} |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|---|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child(argv[1], argv[2], "--quick" in argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke-sized runs: figures shown, not the targets")
    args = parser.parse_args(argv)
    results = {}
    for path in modules(args.names):
        print(f"== {path.stem} ==", flush=True)
        results[path.stem] = run_module(path, args.quick)
    print()
    print(table(results))
    missed = [f for figures in results.values() for f in figures if f.get("ok") is False]
    print(
        f"\n{'every bar reached' if not missed else f'{len(missed)} figure(s) missed their bar'}"
        + (" (--quick: smoke-sized runs, not the targets)" if args.quick else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
