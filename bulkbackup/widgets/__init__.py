"""Notebook widgets (core ipywidgets only, so they work in JupyterLab, Notebook 7, VS Code and Colab).

    editor = bb.widgets.Editor(bb.inventory(client))     # filters + keep/set/clear per setting → editor.changes
    panel = bb.widgets.RunPanel(editor, client)          # Plan → confirm → Apply → live counts → results

`import bulkbackup` does not import this package; `bb.widgets` does, on first use.
"""

from .editor import Editor
from .run_panel import RunPanel

__all__ = ["Editor", "RunPanel"]
