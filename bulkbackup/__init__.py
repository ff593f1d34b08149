"""bulkbackup: change the scheduled database-backup settings of a Coolify instance in bulk, safely.

    import bulkbackup as bb
    client = bb.connect()                 # environment, coolify-cli config, or (in a notebook) a hidden prompt
    frame = bb.inventory(client)          # every backup configuration, one row each
    results = bb.apply("changes.csv", client)

`bb.sandbox` (a local Coolify-compatible server), `bb.doctor` (will a run work?) and `bb.widgets` (the notebook
editor and run panel) are imported on first use: `import bulkbackup` never pulls in ipywidgets.
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
from bulkbackup._fleet.health import PROBLEMS as HEALTH_PROBLEMS
from bulkbackup._fleet.health import health
from bulkbackup._fleet.policy import Policy, Rule
from bulkbackup._fleet.schedule import schedule_counts, schedule_map, stagger
from bulkbackup._input.changes import read_changes, write_csv
from bulkbackup._input.safe_csv import read_csv
from bulkbackup._version import __version__ as __version__

if TYPE_CHECKING:
    from bulkbackup import sandbox, widgets
    from bulkbackup._coolify import doctor


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
    "doctor",
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

_LAZY = {"doctor": "bulkbackup._coolify.doctor", "sandbox": "bulkbackup.sandbox", "widgets": "bulkbackup.widgets"}

_install_display()  # inside IPython: plan, results and inventory frames display styled


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    raise AttributeError(f"module 'bulkbackup' has no attribute {name!r}")
