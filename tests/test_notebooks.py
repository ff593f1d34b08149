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
# What papermill would pass: the suite is not an interactive session (03-widgets then runs its sample and cleans up).
NON_INTERACTIVE = {"03-widgets.ipynb": {"blocking": True}}


def with_parameters(notebook, values: dict) -> None:
    """Insert a cell setting `values` after the cell tagged "parameters", as papermill's `-p name value` does."""
    if not values:
        return
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert tagged, "a notebook taking parameters has a cell tagged 'parameters'"
    code = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(code))


def run(notebook, tmp_path) -> list:
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


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
    with_parameters(notebook, NON_INTERACTIVE.get(path.name, {}))
    assert not run(notebook, tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_against_a_configured_instance_sends_nothing(path, tmp_path, monkeypatch, sandbox):
    """With COOLIFY_ENDPOINT/COOLIFY_TOKEN set a notebook works on that instance, and there it only reads and
    plans: a change needs its parameter set (here the "instance" is a sandbox, which counts what it receives)."""
    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    notebook = nbformat.read(path, as_version=4)
    with_parameters(notebook, NON_INTERACTIVE.get(path.name, {}))
    assert not run(notebook, tmp_path)
    assert sandbox.request_count > 0  # it did read the configured instance
    assert sandbox.patch_bodies == [] and sandbox.jobs_started == {}
    assert sandbox.created == [] and sandbox.deleted == []  # no POST, no DELETE either (06-policy)


# After Run All in an interactive session (no parameters), what a user then clicks must still work.
AFTER_RUN_ALL = """
assert sandbox is not None
editor.filters["database_type"].value = "standalone-mysql"
editor.intents["timeout"].value = "set"
editor.values["timeout"].value = "7200"
assert editor.add() > 0
panel.plan_button.click()
assert panel.planned is not None and "bulkbackup-problem" not in panel.status.value, panel.status.value
assert "update" in panel.plan_view.value
sandbox.stop()  # the session ends; a click now fails, and the panel shows no stale plan beside the error
panel.plan_button.click()
assert "bulkbackup-problem" in panel.status.value and panel.planned is None
assert panel.plan_view.value == "" and panel.results_view.value == ""
client.close()
"""


def test_widgets_notebook_stays_alive_after_run_all(tmp_path, monkeypatch):
    """issue 13 item 14: Run All in JupyterLab (no parameters) sends nothing and stops nothing the buttons need."""
    monkeypatch.delenv("COOLIFY_ENDPOINT", raising=False)
    monkeypatch.delenv("COOLIFY_TOKEN", raising=False)
    notebook = nbformat.read(NOTEBOOKS[0].parent / "03-widgets.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(AFTER_RUN_ALL))
    errors = run(notebook, tmp_path)
    assert not errors, errors[0]["evalue"] if errors else ""
    assert not (tmp_path / "bulkbackup-runs").exists()  # Run All applied nothing
