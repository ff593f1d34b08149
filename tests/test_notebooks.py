"""Every notebook runs top to bottom against the sandbox, and is committed without outputs.

The kernel inherits this process's environment: COOLIFY_ENDPOINT/COOLIFY_TOKEN are removed first, so a developer's
real instance is never what a notebook runs against in the suite (with them set, the notebooks connect to it).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs: clear them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.delenv("COOLIFY_ENDPOINT", raising=False)
    monkeypatch.delenv("COOLIFY_TOKEN", raising=False)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_against_a_configured_instance_sends_nothing(path, tmp_path, monkeypatch, sandbox):
    """With COOLIFY_ENDPOINT/COOLIFY_TOKEN set a notebook works on that instance, and there it only reads and
    plans: a change needs its parameter set (here the "instance" is a sandbox, which counts what it receives)."""
    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert sandbox.request_count > 0  # it did read the configured instance
    assert sandbox.patch_bodies == [] and sandbox.jobs_started == {}
