"""HTML for the frames the widgets show: `bb.style` when this version has it, a plain fallback otherwise.

Widgets show frames in `HTML` widgets rather than `Output` widgets: setting a value works from any thread and in
every front-end, and a headless test can read what a user would see.
"""

from __future__ import annotations

import base64
import html

import pandas as pd

from ..statuses import ACTION_COLOURS, STATUS_INFO, Action, Status

MAX_ROWS = 500  # beyond this a browser page slows down noticeably; the files and downloads have every row


def frame_html(frame: pd.DataFrame, *, max_rows: int = MAX_ROWS) -> str:
    """A plan, results or changes frame as HTML: `bb.style(frame)` when available, else `fallback_html`."""
    import bulkbackup

    style = getattr(bulkbackup, "style", None)
    if style is not None:
        return style(frame).to_html()
    return fallback_html(frame, max_rows=max_rows)


def _cell(column: str, value: object) -> str:
    if isinstance(value, list | tuple):
        value = "; ".join(map(str, value))
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return "<td></td>"
    text = html.escape(str(value))
    colours = None
    if column == "status" and str(value) in Status.__members__.values():
        info = STATUS_INFO[Status(str(value))]
        colours = (info.background, info.foreground)
    elif column == "action" and str(value) in Action.__members__.values():
        colours = ACTION_COLOURS[Action(str(value))]
    if column in ("diff", "errors"):
        text = text.replace("; ", "<br>")  # one change or error per line, never cut
    style = f"background:{colours[0]};color:{colours[1]}" if colours else "white-space:pre-wrap"
    return f'<td style="{style}">{text}</td>'


def fallback_html(frame: pd.DataFrame, *, max_rows: int = MAX_ROWS) -> str:
    """Every cell escaped, status and action cells in their colours, diffs one change per line."""
    shown = frame.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(_cell(str(c), v) for c, v in zip(shown.columns, values, strict=True)) + "</tr>"
        for values in shown.itertuples(index=False, name=None)
    )
    note = f"<p>showing {len(shown)} of {len(frame)} rows</p>" if len(frame) > len(shown) else ""
    return f'<table class="bulkbackup-frame"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'


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
