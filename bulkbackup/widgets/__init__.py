"""Notebook widgets (core ipywidgets only, so they work in JupyterLab, Notebook 7, VS Code and Colab).

    editor = bb.widgets.Editor(bb.inventory(client))     # filters + keep/set/clear per setting → editor.changes
    panel = bb.widgets.RunPanel(editor, client)          # Plan → confirm → Apply → live counts → results

`import bulkbackup` does not import this package; `bb.widgets` does, on first use, and ipywidgets is imported only
when a widget is first made: the editor's model (`_editing`) and the panel's logic are testable without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulkbackup.widgets._editor import Editor
    from bulkbackup.widgets._run_panel import RunPanel

__all__ = ["Editor", "RunPanel"]

_LAZY = {"Editor": "bulkbackup.widgets._editor", "RunPanel": "bulkbackup.widgets._run_panel"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bulkbackup.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
