"""HTML for what the widgets show: frames through `bb.style`, counts as coloured badges, download links.

Widgets show frames in `HTML` widgets rather than `Output` widgets: setting a value works from any thread and in
every front-end, and a headless test can read what a user would see.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Mapping, Sequence

import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.statuses import Status
from bulkbackup._display.styling import style


def frame_html(frame: pd.DataFrame) -> str:
    """A plan, results or changes frame as `bb.style` shows it (status colours, one diff line per field, escaped)."""
    # Widgets' HTML boxes set a 28 px line height (one control's height): a table reads at its own.
    return f'<div class="bulkbackup-frame" style="line-height: 1.3">{style(frame).to_html()}</div>'


def with_names(frame: pd.DataFrame, names: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy of `frame` with `columns` of `names` (database name, type…) first, for display only: matched by
    (instance, backup uuid) when both frames name instances, since one backup uuid may name a database on each."""
    columns = [c for c in columns if c in names and c not in frame]
    by = [c for c in (INSTANCE, "backup_uuid") if c in names and c in frame]
    if frame.empty or not columns or "backup_uuid" not in by:
        return frame
    lookup = names.drop_duplicates(by).set_index(by)
    keys = pd.MultiIndex.from_frame(frame[by]) if len(by) > 1 else pd.Index(frame[by[0]])
    shown = frame.copy()
    for offset, column in enumerate(columns):
        shown.insert(offset, column, lookup[column].reindex(keys).to_numpy())
    return shown


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


_CELL = "padding:2px 8px;text-align:right;border-bottom:1px solid rgba(128,128,128,0.25)"


def instance_counts_html(lanes: Mapping[str, tuple[int, int, Mapping[str, int]]], notes: Mapping[str, str]) -> str:
    """A run over several instances as a small table: one row per instance (rows sent of rows to send, then the
    count of each status some row has, in the statuses' order, and what holds the instance back), and the total.

    `lanes`: instance → (sent, to send, counts by status); `notes`: instance → a wait or a stop reason.
    """
    statuses = [s for s in Status if any(counts.get(s) for _, _, counts in lanes.values())]
    head = [f'<th style="{_CELL};text-align:left">instance</th>', f'<th style="{_CELL}">sent</th>']
    for status in statuses:
        info = status.info
        head.append(
            f'<th style="{_CELL};background:{info.background};color:{info.foreground}" '
            f'title="{html.escape(info.meaning)}">{status}</th>'
        )
    if notes:
        head.append(f'<th style="{_CELL};text-align:left"></th>')

    def row(name: str, sent: int, to_send: int, counts: Mapping[str, int], total: bool = False) -> str:
        tag = "th" if total else "td"
        cells = [
            f'<{tag} style="{_CELL};text-align:left">{html.escape(name)}</{tag}>',
            f'<{tag} style="{_CELL}" class="bulkbackup-sent">{sent:,}/{to_send:,}</{tag}>',
        ]
        for status in statuses:
            n = counts.get(status, 0)
            cells.append(f'<{tag} style="{_CELL}" data-status="{status}">{f"{n:,}" if n else ""}</{tag}>')
        if notes:
            note = "" if total else notes.get(name, "")
            # A stop is this instance's rows left unsent: said in the colour of a refusal; a wait is only muted.
            colour = f"color:{Status.REJECTED.info.foreground}" if note.startswith("stopped") else "opacity:0.8"
            cells.append(
                f'<{tag} style="{_CELL};text-align:left;white-space:normal;{colour}">{html.escape(note)}</{tag}>'
            )
        who = "" if total else f' data-instance="{html.escape(name)}"'
        return f"<tr{who}>{''.join(cells)}</tr>"

    body = [row(name, *lane) for name, lane in lanes.items()]
    everything: Counter[str] = Counter()
    for _, _, counts in lanes.values():
        everything.update(counts)
    sent, to_send = (sum(lane[i] for lane in lanes.values()) for i in (0, 1))
    body.append(row("total", sent, to_send, everything, total=True))
    return (
        '<table class="bulkbackup-instance-counts" style="border-collapse:collapse;line-height:1.3;font-size:13px">'
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
