"""bulkbackup: change the scheduled database-backup settings of a Coolify instance in bulk, safely.

    import bulkbackup as bb
    client = bb.connect()                 # environment, coolify-cli config, or (in a notebook) a hidden prompt
    frame = bb.inventory(client)          # every backup configuration, one row each
    results = bb.apply("changes.csv", client)

This module is the whole public surface (`__all__`, which is also what `dir(bulkbackup)` shows); the code lives in
private layer packages (docs/architecture.md). `bb.sandbox` (a local Coolify-compatible server), `bb.widgets` (the
notebook editor and run panel) and `bb.diagnose` (will a run work?) are imported on first use: `import bulkbackup`
never pulls in ipywidgets, nor requests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bulkbackup import events
from bulkbackup._coolify.client import Client
from bulkbackup._coolify.connect import connect
from bulkbackup._core.cron import is_valid_frequency
from bulkbackup._core.errors import ApiError, AuthError, BulkBackupError, ConfigError, InputError
from bulkbackup._core.fields import CLEAR, SETTINGS
from bulkbackup._display.styling import install as _install_display
from bulkbackup._display.styling import style
from bulkbackup._engine.apply import apply
from bulkbackup._engine.executions import executions
from bulkbackup._engine.inventory import inventory
from bulkbackup._engine.plan import plan
from bulkbackup._engine.results import STATUSES, summary
from bulkbackup._engine.storages import storages
from bulkbackup._engine.undo import undo
from bulkbackup._fleet.check import check
from bulkbackup._fleet.enforce import enforce
from bulkbackup._fleet.health import PROBLEMS as HEALTH_PROBLEMS
from bulkbackup._fleet.health import health
from bulkbackup._fleet.policy import Policy, Rule
from bulkbackup._fleet.schedule import schedule_counts, schedule_map, stagger
from bulkbackup._input.changes import read_changes, write_csv
from bulkbackup._input.safe_csv import read_csv
from bulkbackup._version import __version__ as __version__

if TYPE_CHECKING:
    from bulkbackup import sandbox, widgets
    from bulkbackup._coolify.doctor import diagnose


__all__ = [
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

# name → (module, attribute or None for the module itself): what loads only when first used.
_LAZY = {
    "diagnose": ("bulkbackup._coolify.doctor", "diagnose"),  # imports requests at its top
    "sandbox": ("bulkbackup.sandbox", None),
    "widgets": ("bulkbackup.widgets", None),
}
_RENAMED = {"doctor": "bb.doctor.diagnose(client) is now bb.diagnose(client)"}

_install_display()  # inside IPython: plan, results and inventory frames display styled


def __getattr__(name: str):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        loaded = importlib.import_module(module)
        return loaded if attribute is None else getattr(loaded, attribute)
    hint = f" ({_RENAMED[name]})" if name in _RENAMED else ""
    raise AttributeError(f"module 'bulkbackup' has no attribute {name!r}{hint}")


def __dir__() -> list[str]:
    """The contract, not the imports: `dir(bb)` lists `__all__` (and the module's dunders)."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
