"""The one benchmark command's protocol (benchmarks/run.py), on stand-in modules: no benchmark runs here."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"bench_{name}.py"
    path.write_text(body)
    return path


def test_figures_come_back_with_their_verdicts_and_the_module_run_time(runner, tmp_path):
    path = write(
        tmp_path,
        "two",
        "def figures(quick=False):\n"
        "    return [{'name': 'fast', 'value': 0.5, 'unit': 's', 'bar': '<= 1', 'ok': True},\n"
        "            {'name': 'slow', 'value': 3 if quick else 2, 'unit': 's', 'bar': '<= 1', 'ok': False,\n"
        "             'note': 'n'},\n"
        "            {'name': 'context', 'value': 'x', 'unit': '', 'bar': '', 'ok': None}]\n",
    )
    figures = runner.run_module(path, quick=True)
    assert [f["name"] for f in figures] == ["fast", "slow", "context", "(module run time)"]
    assert figures[1]["value"] == 3 and figures[1]["ok"] is False
    table = runner.table({"bench_two": figures})
    assert "| bench_two" in table and "MISSED" in table and "<= 1" in table and "| n |" in table


def test_a_module_with_only_main_or_a_broken_one_still_gives_a_figure(runner, tmp_path):
    only_main = write(tmp_path, "legacy", "import sys\ndef main():\n    return 0 if '--quick' in sys.argv else 3\n")
    assert runner.run_module(only_main, quick=False)[0] == {
        "name": "main() exit code",
        "value": 3,
        "unit": "",
        "bar": "0",
        "ok": False,
    }
    assert runner.run_module(only_main, quick=True)[0]["ok"] is True
    broken = write(tmp_path, "broken", "raise RuntimeError('no')\n")
    assert runner.run_module(broken, quick=False)[0]["ok"] is False
    incomplete = write(tmp_path, "incomplete", "def figures(quick=False):\n    return [{'name': 'a', 'value': 1}]\n")
    figure = runner.run_module(incomplete, quick=False)[0]
    assert figure["ok"] is False and "missing unit, bar, ok" in figure["note"]


def test_every_benchmark_module_speaks_the_protocol_and_none_is_collected_as_a_test():
    modules = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    expected = {"bench_apply", "bench_fleet", "bench_import", "bench_instances", "bench_sandbox"}
    assert expected <= {p.stem for p in modules}
    for path in modules:
        text = path.read_text()
        assert "def figures(" in text or "def main(" in text, path.name
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"] == [
        "tests"
    ]


def test_unknown_names_are_refused(runner):
    with pytest.raises(SystemExit, match="no benchmark 'nope'"):
        runner.modules(["nope"])
    assert [p.stem for p in runner.modules(["fleet", "bench_import.py"])] == ["bench_fleet", "bench_import"]


def test_every_name_a_benchmark_imports_from_bulkbackup_exists():
    """Benchmarks reach into private modules (and into code they run in child processes, as text): when a module
    moves, this fails here rather than in the lead's before/after run."""
    import importlib

    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for module, names in re.findall(r"^\s*from (bulkbackup[\w.]*) import ([\w, ]+)$", path.read_text(), re.M):
            imported = importlib.import_module(module)
            for name in (n.strip() for n in names.split(",")):
                assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), (
                    f"{path.name}: from {module} import {name}"
                )
