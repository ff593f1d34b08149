"""The public surface is small and pinned: a change to it must be a deliberate change to this test."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import bulkbackup as bb


def test_all_is_pinned():
    assert sorted(bb.__all__) == sorted(
        [
            "CLEAR",
            "HEALTH_PROBLEMS",
            "SETTINGS",
            "STATUSES",
            "ApiError",
            "AuthError",
            "BulkBackupError",
            "Client",
            "ConfigError",
            "InputError",
            "Policy",
            "Rule",
            "apply",
            "check",
            "connect",
            "diagnose",
            "enforce",
            "events",
            "executions",
            "health",
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


def test_dir_shows_the_contract():
    code = "import bulkbackup as bb; print(' '.join(n for n in dir(bb) if not n.startswith('_')))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert fresh == sorted(bb.__all__)
    for lazy in ("sandbox", "widgets", "diagnose"):  # loading the lazy names adds nothing either
        getattr(bb, lazy)
    importlib.import_module("bulkbackup._engine.apply")
    assert [n for n in dir(bb) if not n.startswith("_")] == sorted(bb.__all__)


def test_no_public_name_hides_a_module():
    """`bb.apply` is the function; its module lives in a private package, so no import can replace the one with
    the other. The only public modules are the three the contract names."""
    modules = {info.name for info in pkgutil.iter_modules(bb.__path__)}
    assert {name for name in modules if not name.startswith("_")} == {"events", "sandbox", "widgets"}
    for name in bb.__all__:
        if name in modules:
            assert getattr(bb, name) is importlib.import_module(f"bulkbackup.{name}")
        else:
            assert not inspect.ismodule(getattr(bb, name)), name


def test_diagnose_is_a_function_and_doctor_points_to_it(client):
    assert inspect.isfunction(bb.diagnose)
    checks = bb.diagnose(client)
    assert checks and all(check.ok for check in checks), [str(check) for check in checks]
    with pytest.raises(AttributeError, match=r"bb\.diagnose\(client\)"):
        bb.doctor  # noqa: B018


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
