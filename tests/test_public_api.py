"""The public surface is small and pinned: a change to it must be a deliberate change to this test."""

from __future__ import annotations

import subprocess
import sys

import bulkbackup as bb


def test_all_is_pinned():
    assert sorted(bb.__all__) == sorted(
        [
            "CLEAR",
            "SETTINGS",
            "STATUSES",
            "ApiError",
            "AuthError",
            "BulkBackupError",
            "Client",
            "ConfigError",
            "InputError",
            "apply",
            "connect",
            "doctor",
            "events",
            "executions",
            "inventory",
            "is_valid_frequency",
            "plan",
            "read_changes",
            "read_csv",
            "sandbox",
            "schedule_counts",
            "schedule_map",
            "stagger",
            "storages",
            "style",
            "summary",
            "undo",
            "widgets",
            "write_csv",
        ]
    )
    for name in bb.__all__:
        assert getattr(bb, name) is not None


def test_every_error_derives_from_one_base():
    for error in (bb.InputError, bb.ConfigError, bb.ApiError, bb.AuthError):
        assert issubclass(error, bb.BulkBackupError)
    assert issubclass(bb.AuthError, bb.ApiError)


def test_import_is_light():
    code = "import sys, bulkbackup; print('ipywidgets' in sys.modules, 'bulkbackup.sandbox' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_import_pulls_in_no_drawing_or_notebook_code():
    heavy = ("matplotlib", "ipywidgets", "IPython", "jinja2", "tqdm.notebook", "tqdm.auto")
    code = f"import sys, bulkbackup; print([m for m in sys.modules if m.startswith({heavy!r})])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_sandbox_is_reachable_lazily():
    assert bb.sandbox.Sandbox.__name__ == "Sandbox"


def test_statuses_are_the_specified_ones():
    assert set(bb.STATUSES) == {
        "updated",
        "triggered",
        "unchanged",
        "invalid",
        "rejected",
        "failed",
        "unknown",
        "skipped",
        "planned",
        "created",
        "deleted",
        "unsupported",
    }
