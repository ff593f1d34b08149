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

from . import events
from ._version import __version__ as __version__
from .apply import apply
from .changes import read_changes, write_csv
from .client import Client
from .credentials import connect
from .cron import is_valid_frequency
from .errors import ApiError, AuthError, BulkBackupError, ConfigError, InputError
from .executions import executions
from .fields import CLEAR, SETTINGS
from .inventory import inventory
from .plan import plan
from .results import STATUSES, summary
from .schedule import schedule_counts, schedule_map, stagger
from .styling import install as _install_display
from .styling import style
from .undo import undo

if TYPE_CHECKING:
    from . import doctor, sandbox, widgets


__all__ = [
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
    "sandbox",
    "schedule_counts",
    "schedule_map",
    "stagger",
    "style",
    "summary",
    "undo",
    "widgets",
    "write_csv",
]

_LAZY = {"doctor", "sandbox", "widgets"}

_install_display()  # inside IPython: plan, results and inventory frames display styled


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bulkbackup' has no attribute {name!r}")
