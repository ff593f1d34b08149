"""HTML for what the widgets show: frames through `bb.style`, counts as coloured badges, download links.

Widgets show frames in `HTML` widgets rather than `Output` widgets: setting a value works from any thread and in
every front-end, and a headless test can read what a user would see.
"""

from __future__ import annotations

import base64
import html

import pandas as pd

from bulkbackup._core.statuses import Status
from bulkbackup._display.styling import style


def frame_html(frame: pd.DataFrame) -> str:
    """A plan, results or changes frame as `bb.style` shows it (status colours, one diff line per field, escaped)."""
    # Widgets' HTML boxes set a 28 px line height (one control's height): a table reads at its own.
    return f'<div class="bulkbackup-frame" style="line-height: 1.3">{style(frame).to_html()}</div>'


def counts_html(counts: dict[str, int]) -> str:
    """Counts per status as coloured badges, in the statuses' own order."""
    badges = []
    for status in Status:
        if counts.get(status):
            info = status.info
            badges.append(
                f'<span class="bulkbackup-count" data-status="{status}" style="background:{info.background};'
                f'color:{info.foreground};padding:2px 8px;margin-right:6px;border-radius:4px">'
                f"{status}: {counts[status]}</span>"
            )
    return "".join(badges) or "<span>no rows yet</span>"


def download_link(text: str, filename: str, label: str) -> str:
    """A link that downloads `text` as a CSV file from a data URI (works where FileLink does not: VS Code, Colab)."""
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return (
        f'<a download="{html.escape(filename)}" href="data:text/csv;base64,{data}" '
        'class="bulkbackup-download" style="padding:2px 10px;border:1px solid #888;border-radius:4px">'
        f"{html.escape(label)}</a>"
    )
