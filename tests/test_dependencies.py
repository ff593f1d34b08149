"""What `pip install .` brings, and what `import bulkbackup` loads (nothing of the notebook side until it is used)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "ipywidgets",
    "matplotlib",
    "tqdm.notebook",
    "tqdm.auto",
    "IPython",
    "bulkbackup.sandbox",
    "bulkbackup.widgets",
)


def requirements(*where: str) -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] if not where else project["optional-dependencies"][where[0]]
    return {r.name: r for r in map(Requirement, listed)}


def test_no_requirement_is_listed_twice():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    package = [Requirement(r).name for r in project["dependencies"]]
    assert len(package) == len(set(package)), package
    for extra, listed in project["optional-dependencies"].items():
        names = [Requirement(r).name for r in listed]
        assert len(names) == len(set(names)), (extra, names)
        assert not set(names) & set(package), f"the {extra} extra repeats a requirement of the package itself"


def test_ipywidgets_is_installed_with_the_package():
    assert "ipywidgets" in requirements()


def test_the_tests_kernel_excludes_ipykernel_7_0_0():
    kernel = requirements("test")["ipykernel"]
    assert not kernel.specifier.contains("7.0.0")
    assert kernel.specifier.contains("7.0.1") and kernel.specifier.contains("6.29.5")


def test_import_bulkbackup_loads_nothing_of_the_notebook_side():
    code = f"import sys, bulkbackup; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_bulkbackup_defers_the_http_stack():
    """requests and urllib3 were about half of bulkbackup's own import time, tenacity (which imports tornado and
    asyncio where they are installed) a quarter (benchmarks/bench_import.py); reading and planning a changes file
    offline needs none of them, so they load with the first Client and the first request."""
    code = "import sys, bulkbackup; print([m for m in ('requests', 'urllib3', 'tenacity') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", "a module imports requests or tenacity at its top: import it where it is used"
    code = "import sys, bulkbackup; bulkbackup.Client('http://127.0.0.1:9', 'x'); print('requests' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "True"
    )


def test_a_run_in_a_kernel_shows_a_widget_progress_bar(tmp_path):
    """tqdm.auto falls back to text, with an "IProgress not found" warning, when ipywidgets is missing."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import bulkbackup as bb\n"
            "from bulkbackup.sandbox import Sandbox\n"
            "with Sandbox(databases=10, rate_limit=100_000) as sandbox:\n"
            "    client = bb.Client(sandbox.endpoint, sandbox.token)\n"
            "    changes = bb.inventory(client).assign(timeout=7200)\n"
            "    results = bb.apply(changes, client, progress=True)\n"
            "print(sorted(set(results['status'])))"
        )
    )
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = notebook.cells[0].outputs
    texts = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "['updated']" in texts
    assert "IProgress not found" not in texts
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs
