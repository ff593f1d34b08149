"""Readable plan, results and inventory frames: `bb.style(frame)` and their default look in a notebook.

    bb.style(plan)          # a pandas Styler; the frame itself is never changed

- status and action cells in the colours of `statuses.py`, each background paired with its own text colour so
  the table reads in dark themes too;
- plans and results for a reader (`readable.py`): who (database, type, project), what (the diff, one
  `field: old → new` per line, never wrapped inside a value), then the rest; uuids shortened (whole in the
  tooltip), `payload`/`before` not repeated beside the diff, `line` only when rows came from a file;
- other frames: a `diff` one change per line, `payload`/`before` JSON as `field = value` lines;
- every cell, index label and column name HTML-escaped: a database called `<script>` shows as text;
- at most `MAX_ROWS` rows (2,000), with a "showing N of M rows" caption, so a migration's plan does not freeze the
  browser.

Frames made by `plan()`, `apply()` and `inventory()` carry `attrs["bulkbackup"]` ("plan", "results",
"inventory"). When bulkbackup is imported inside IPython it registers an HTML formatter for DataFrames that
displays such frames styled (at most `pandas.options.display.max_rows` rows) and leaves every other frame to
pandas: they stay plain DataFrames.
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import KEY_COLUMNS
from bulkbackup._core.statuses import ACTION_COLOURS, STATUS_INFO, Action, Status
from bulkbackup._display.readable import DIFF_SPLIT, json_value, reader_view

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

MAX_ROWS = 2000
"""Rows `style()` renders by default: a few thousand styled rows already take seconds in a browser."""

KINDS = ("plan", "results", "inventory", "changes")
ATTR = "bulkbackup"
"""`frame.attrs[ATTR]` names what made the frame: one of KINDS ("changes": the editor's preview)."""

_PROBLEM = STATUS_INFO[Status.INVALID]
_BAD = STATUS_INFO[Status.REJECTED]
_GOOD = STATUS_INFO[Status.UPDATED]
_MUTED = STATUS_INFO[Status.SKIPPED]
_BUSY = STATUS_INFO[Status.PLANNED]
# The plan joins its diff parts with "; "; a value may contain "; " too, so split only before a field's name.
_CELL_CSS = [
    {"selector": "td", "props": "white-space: pre-line; vertical-align: top; text-align: left; padding: 2px 8px;"},
    # Headers padded as the cells are: two short column names ("instance", "database") never run together.
    {"selector": "th", "props": "vertical-align: top; text-align: left; padding: 2px 8px;"},
    # The column names stay in sight while a long plan scrolls (in the run panel's box, or down a notebook).
    {
        "selector": "thead th",
        "props": "position: sticky; top: 0; z-index: 1; background: var(--jp-layout-color0, #fff);",
    },
    {"selector": "caption", "props": "caption-side: top; text-align: left; font-style: italic;"},
]


def kind(frame: pd.DataFrame) -> str | None:
    """What `frame` is ("plan", "results", "inventory", "changes" or None): by its mark, else by its columns."""
    marked = frame.attrs.get(ATTR)
    if marked in KINDS:
        return marked
    columns = set(frame.columns)
    if "status" in columns and "message" in columns:
        return "results"
    if "action" in columns and ("diff" in columns or "payload" in columns):
        return "plan"
    if set(KEY_COLUMNS) <= columns:
        return "inventory" if {"database_name", "database_type"} & columns else "changes"
    return None


def style(frame: pd.DataFrame, *, max_rows: int | None = MAX_ROWS) -> Styler:
    """A pandas Styler showing a plan, results, inventory or changes frame readably (see the module docstring).

    `max_rows` None renders every row (slow in a browser beyond a few thousand). Any other frame is escaped and
    shown as it is. `frame` is never modified.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"bb.style takes a DataFrame, not {type(frame).__name__}")
    total = len(frame)
    shown = frame.iloc[:max_rows] if max_rows is not None and total > max_rows else frame
    view = shown.copy(deep=True)
    view.attrs = {}
    # Styler (and column-wise rewriting) needs unique column names; a frame without them is only escaped.
    ours = view.columns.is_unique
    markup: list[str] = []
    what = kind(frame)
    if ours and what in ("plan", "results", "changes"):
        view, markup = reader_view(view, what, frame.attrs.get("source"))
    elif ours:
        if "diff" in view.columns:
            view["diff"] = view["diff"].map(_diff_lines)
        for column in ("payload", "before"):
            if column in view.columns:
                view[column] = view[column].map(_json_lines)
        if "errors" in view.columns:
            # Each error starts with where it is ("file:line: " or "<DataFrame> row 3: "): one per line.
            where = re.escape(str(frame.attrs.get("source") or "<DataFrame>"))
            split = re.compile(rf"; (?={where}(?::| row ))")
            view["errors"] = view["errors"].map(lambda value: _error_lines(value, split))
    labels = None
    if not view.index.is_unique:
        # Styler can colour cells only by unique labels: colour by position, show the frame's own labels.
        labels = [str(label) for label in view.index]
        view = view.reset_index(drop=True)
    styler = view.style.format(escape="html", na_rep="")
    if markup:
        # reader_view escaped every value of these cells itself: they are HTML.
        styler = styler.format(lambda value: "" if value is None else str(value), subset=markup, escape=None)
    if labels is None:
        styler = styler.format_index(escape="html", axis=0)
    else:
        styler = styler.format_index(lambda position: html.escape(labels[position]), axis=0)
    styler = styler.format_index(escape="html", axis=1)
    if not ours:
        return _finish(styler, len(view), total)
    for column, colour in (
        ("status", _status_css),
        ("action", _action_css),
        ("errors", _errors_css),
        ("verified", _verified_css),
        ("enabled", _enabled_css),
        ("latest_status", _latest_css),
    ):
        if column in view.columns:
            styler = styler.map(colour, subset=[column])
    return _finish(styler, len(view), total)


def _finish(styler: Styler, shown: int, total: int) -> Styler:
    styler = styler.set_table_styles(_CELL_CSS)
    if shown < total:
        styler = styler.set_caption(
            f"showing {shown:,} of {total:,} rows (bb.style(frame, max_rows=None) shows them all)"
        )
    return styler


def _pair(background: str, foreground: str) -> str:
    return f"background-color: {background}; color: {foreground};"


def _status_css(value: object) -> str:
    try:
        info = STATUS_INFO[Status(value)]
    except (ValueError, TypeError):
        return ""
    return _pair(info.background, info.foreground)


def _action_css(value: object) -> str:
    try:
        return _pair(*ACTION_COLOURS[Action(value)])
    except (ValueError, TypeError):
        return ""


def _errors_css(value: object) -> str:
    return _pair(_PROBLEM.background, _PROBLEM.foreground) if isinstance(value, str) and value else ""


def _is_false(value: object) -> bool:
    return isinstance(value, bool | np.bool_) and not value


def _verified_css(value: object) -> str:
    return _pair(_BAD.background, _BAD.foreground) if _is_false(value) else ""


def _enabled_css(value: object) -> str:
    return _pair(_MUTED.background, _MUTED.foreground) if _is_false(value) else ""


def _latest_css(value: object) -> str:
    info = {"success": _GOOD, "failed": _BAD, "running": _BUSY}.get(value) if isinstance(value, str) else None
    return _pair(info.background, info.foreground) if info else ""


def _diff_lines(value: object) -> object:
    if not isinstance(value, str):
        return value
    return "\n".join(DIFF_SPLIT.split(value))


def _error_lines(value: object, split: re.Pattern) -> object:
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    if isinstance(value, str):
        return "\n".join(split.split(value))
    return value


def _json_lines(value: object) -> object:
    """JSON object text → one `field = value` line per key; anything else as it is."""
    if not isinstance(value, str) or not value.startswith("{"):
        return value
    try:
        data = json.loads(value)
    except ValueError:
        return value
    if not isinstance(data, Mapping):
        return value
    return "\n".join(f"{name} = {json_value(v)}" for name, v in data.items())


# ---------------------------------------------------------------------------------------------------------------
# The default display in IPython


def _notebook_html(frame: pd.DataFrame, previous=None) -> str | None:
    if frame.attrs.get(ATTR) in KINDS:
        try:
            return style(frame, max_rows=pd.get_option("display.max_rows") or MAX_ROWS).to_html()
        except Exception:  # a display must never fail (no jinja2, an odd edited frame): pandas' table instead
            pass
    if previous is not None:
        return previous(frame)
    return frame._repr_html_()


def install(shell: Any = None) -> bool:
    """Display marked frames styled in this IPython shell (the running one by default). True when installed.

    Called when bulkbackup is imported; never imports IPython itself, so a plain `python` pays nothing.
    """
    if shell is None:
        ipython = sys.modules.get("IPython")
        get = getattr(ipython, "get_ipython", None)
        shell = get() if get is not None else None
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", None)
    if not formatters or "text/html" not in formatters:
        return False
    formatter = formatters["text/html"]
    chained: list = []  # whoever displayed DataFrames before us (another library, or nobody)

    def show(frame: pd.DataFrame) -> str | None:
        return _notebook_html(frame, chained[0] if chained else None)

    show._bulkbackup = True  # type: ignore[attr-defined]
    previous = formatter.for_type(pd.DataFrame, show)
    if getattr(previous, "_bulkbackup", False):
        formatter.for_type(pd.DataFrame, previous)  # already installed (a re-import): keep the first
    elif previous is not None:
        chained.append(previous)
    return True


# ---------------------------------------------------------------------------------------------------------------
# bb.summary(results)


class RunSummary(dict):
    """`bb.summary(results)`: rows per status (a plain `dict[str, int]`, in STATUSES order) and why the run stopped.

    `.stopped` is the stop reason (None when every row was attempted), `.interrupted` whether Ctrl-C or a kernel
    interrupt did it, `.verification` the after-run check ("verified", "failed: …", "skipped: …", "not needed",
    or None when the frame does not say). In a notebook it shows as a small table in the status colours.

    Results of several instances (an `instance` column) are counted per instance too: `.instances` is
    {instance: {status: rows}} in the order the rows name them (empty for one instance), and the table has a
    column per instance beside the total.
    """

    def __init__(
        self,
        counts: Mapping[str, int],
        *,
        stopped: str | None = None,
        interrupted: bool = False,
        verification: str | None = None,
        instances: Mapping[str, Mapping[str, int]] | None = None,
    ):
        super().__init__(counts)
        self.stopped = stopped
        self.interrupted = interrupted
        self.verification = verification
        self.instances: dict[str, dict[str, int]] = {k: dict(v) for k, v in (instances or {}).items()}

    @classmethod
    def of(cls, results: pd.DataFrame, counts: Mapping[str, int]) -> RunSummary:
        """Reads the run's facts from the typed `attrs["run"]` (RunFacts), the one home of a run's facts."""
        run = results.attrs.get("run")
        if run is not None and not isinstance(run, Mapping):
            run = {name: getattr(run, name, None) for name in ("stopped", "interrupted", "verification")}
        if run is None:
            run = {}
        return cls(
            counts,
            stopped=run.get("stopped"),
            interrupted=bool(run.get("interrupted")),
            verification=run.get("verification"),
            instances=_per_instance(results, counts),
        )

    def _repr_html_(self) -> str:
        rows = []
        names = list(self.instances)
        width = 3 + len(names)
        if names:  # a column per instance, then the total: which instance needs attention shows at a glance
            heads = "".join(f'<th style="text-align: right">{html.escape(n)}</th>' for n in names)
            rows.append(f'<tr><th></th>{heads}<th style="text-align: right">total</th><th></th></tr>')
        for status, count in self.items():
            try:
                info = STATUS_INFO[Status(status)]
                css, meaning = _pair(info.background, info.foreground), info.meaning
            except ValueError:
                css, meaning = "", ""
            each = "".join(f'<td style="text-align: right">{_count(self.instances[n].get(status))}</td>' for n in names)
            rows.append(
                f'<tr><td style="{css}">{html.escape(str(status))}</td>{each}'
                f'<td style="text-align: right">{count:,}</td><td>{html.escape(meaning)}</td></tr>'
            )
        if not rows:
            rows.append(f'<tr><td colspan="{width}">no rows</td></tr>')
        total = sum(self.values())
        each = "".join(f'<th style="text-align: right">{sum(self.instances[n].values()):,}</th>' for n in names)
        rows.append(f'<tr><th>total</th>{each}<th style="text-align: right">{total:,}</th><th></th></tr>')
        if self.stopped:
            how = "interrupted" if self.interrupted else "stopped"
            rows.append(
                f'<tr><td colspan="{width}" style="{_pair(_BAD.background, _BAD.foreground)}">run {how}: '
                f"{html.escape(str(self.stopped))}</td></tr>"
            )
        check = str(self.verification or "")
        if check.startswith(("failed", "skipped")):
            info = _BAD if check.startswith("failed") else _MUTED
            rows.append(
                f'<tr><td colspan="{width}" style="{_pair(info.background, info.foreground)}">after-run check '
                f"{html.escape(check)}</td></tr>"
            )
        return '<table class="bulkbackup-summary">' + "".join(rows) + "</table>"


def _count(value: int | None) -> str:
    return f"{value:,}" if value else ""


def _per_instance(results: pd.DataFrame, counts: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """{instance: {status: rows}} of results of several instances, statuses in `counts`' order; {} for one."""
    if INSTANCE not in results.columns or "status" not in results.columns:
        return {}
    names = results[INSTANCE].astype("string").fillna("")
    per: dict[str, dict[str, int]] = {}
    for (name, status), n in results.groupby([names, results["status"]], sort=False).size().items():
        per.setdefault(str(name), {})[str(status)] = int(n)
    return {name: {s: found[s] for s in counts if s in found} for name, found in per.items()}
