"""`RunPanel`: Plan, confirm, Apply in the background with live counts, Stop, then results and their files.

The panel listens to apply's per-row seam (`bulkbackup.events`): a listener only bumps counters under a lock
(`_counts.LiveCounts`), and a refresh loop copies them into the widgets four times a second, so a fast run does not
flood the front-end with one message per row and a slow one still moves. Given a list of clients, the panel plans
and applies over all those instances at once and counts each instance apart (a table of instance × status).
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from bulkbackup._coolify.clients import clients_of
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.statuses import Action
from bulkbackup._engine.apply import apply
from bulkbackup._engine.pace import estimate, hearing, per_minute, run_estimate, waiting
from bulkbackup._engine.plan import plan
from bulkbackup._engine.results import summary
from bulkbackup._engine.undo import undo
from bulkbackup._input.changes import write_csv
from bulkbackup.widgets._counts import LiveCounts, progress_note
from bulkbackup.widgets._render import download_link, frame_html, with_names

__all__ = ["RunPanel", "progress_note"]

REFRESH_S = 0.25
DEFAULT_FOLDER = "bulkbackup-runs"
STOP_REASON = "you pressed Stop"
"""The run's stop reason when the panel's Stop ended it (the engine reads it from the stop event's `reason`)."""


def _error(text: str) -> str:
    return f'<span class="bulkbackup-problem" style="color:#b00020">{html.escape(text)}</span>'


class RunPanel:
    """Plan → confirm → Apply (in a background thread) → live counts → results, with Stop and downloads.

        panel = bb.widgets.RunPanel(editor, client)        # or a changes frame, a path, a plan
        panel                                              # shows the widget
        results = panel.run(blocking=True)                 # the same flow without clicks (papermill, scripts)

    `changes` is anything `bb.plan` takes, or an object with a `.changes` frame (an `Editor`), read again at
    every Plan so the panel can sit below an editor that is still being used. Each run writes its results, undo
    file and journal into `folder/<UTC start time>/` (default `bulkbackup-runs/` in the working directory, which
    in a notebook is the notebook's folder); `journal=PATH` keeps the journal there instead, to resume a run.

    `client` may be a list of clients (`[prod, staging, eu]`): the changes then need an `instance` column (an
    editor over `bb.inventory([prod, staging, eu])` keeps it), each row goes to its own instance, all instances
    are sent in parallel, and the live counts are a table of instance × status.
    """

    def __init__(
        self,
        changes: Any,
        client: Any,
        journal: str | Path | None = None,
        *,
        folder: str | Path = DEFAULT_FOLDER,
        workers: int | None = None,
        rate: float | None = None,
    ):
        self.source = changes
        self.client = client  # as given: one Client or a list, which is what plan and apply are passed
        self.clients = clients_of(client)  # two clients of one name fail here, before anything is planned
        self.several = self.clients.several
        self.journal = Path(journal) if journal is not None else None
        self.folder = Path(folder)
        self.options = {"workers": workers, "rate": rate}
        self.planned: pd.DataFrame | None = None
        self.results: pd.DataFrame | None = None
        self.files: dict[str, Path] = {}
        self.error: BaseException | None = None
        self.stop_event = threading.Event()
        self.finished = threading.Event()
        self.finished.set()  # nothing is running yet
        self._thread: threading.Thread | None = None
        self.live = LiveCounts()
        self._names: pd.DataFrame | None = None  # the plan's database names, for the results' display

        self.plan_button = w.Button(description="Plan", icon="list", button_style="info")
        self.confirm = w.Checkbox(value=False, description="I have read the plan: send it", indent=False)
        self.apply_button = w.Button(description="Apply", icon="play", button_style="danger", disabled=True)
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="sent", layout=w.Layout(width="420px"))
        self.counts = w.HTML()
        self.status = w.HTML()
        # Long frames scroll inside the panel instead of pushing the buttons off screen.
        self.plan_view = w.HTML(layout=w.Layout(max_height="420px", overflow="auto"))
        self.results_view = w.HTML(layout=w.Layout(max_height="420px", overflow="auto"))
        self.downloads = w.HTML()
        self.plan_button.on_click(lambda _: self._guard(self.plan))
        self.confirm.observe(lambda _: self._update_buttons(), names="value")
        self.apply_button.on_click(lambda _: self._guard(self.start))
        self.stop_button.on_click(lambda _: self.stop())
        # Plan, then the plan itself, then the confirmation below it: a person reads the diff before the tick.
        self.widget = w.VBox(
            [
                self.plan_button,
                self.status,
                self.plan_view,
                w.HBox([self.confirm, self.apply_button, self.stop_button]),
                # Several instances' counts are a table: under the bar, where it has the width it needs.
                (w.VBox if self.several else w.HBox)([self.progress, self.counts]),
                self.downloads,
                self.results_view,
            ]
        )
        self.widget.add_class("bulkbackup-run-panel")

    # --- the flow ------------------------------------------------------------------------------------------

    def changes(self) -> Any:
        source = self.source
        if not isinstance(source, pd.DataFrame) and isinstance(getattr(source, "changes", None), pd.DataFrame):
            return source.changes
        return source

    def plan(self) -> pd.DataFrame:
        """What Plan does: plan against the server, show the diff, and ask for a fresh confirmation."""
        if not self.finished.is_set():
            raise RuntimeError("a run is going on: wait for it or press Stop before planning again")
        # Whatever happens next, the last plan and results are no longer current: never show them beside an error.
        self._forget()
        self.status.value = html.escape("planning: reading the server…")
        planned = plan(self.changes(), self.client, on_wait=self._planning_wait)
        self.planned = planned
        self._names = planned[[c for c in (INSTANCE, "backup_uuid", "database_name", "database_type") if c in planned]]
        self.confirm.value = False  # a new plan needs its own confirmation
        actions = Counter(planned["action"])
        if planned.empty:
            self.status.value = html.escape("no changes yet: add some (in the editor), then press Plan")
        else:
            self.status.value = html.escape(
                "plan: " + ", ".join(f"{n} {a}" for a, n in actions.items()) + self._sending_note()
            )
        self.plan_view.value = frame_html(planned) if len(planned) else ""
        self._update_buttons()
        return planned

    def _to_send(self) -> int:
        return sum(self._to_send_by_instance().values())

    def _to_send_by_instance(self) -> dict[str | None, int]:
        """Rows the plan sends, per instance (the key None: the one instance)."""
        if self.planned is None:
            return {}
        sends = self.planned["action"].isin([a.value for a in Action if a.sends])
        if not self.several or INSTANCE not in self.planned:
            return {None: int(sends.sum())}
        per = self.planned.loc[sends, INSTANCE].value_counts()
        return {name: int(per.get(name, 0)) for name in self.clients.names}

    def _sending_note(self) -> str:
        n = self._to_send()
        if not n:
            return " — nothing to send"
        # Before the tick: roughly how long the run takes at each server's budget, as the CLI says it. Instances
        # are sent in parallel: the run takes about as long as the slowest one.
        note = f" — {n} request{'s' * (n != 1)} to send"
        if not self.several:
            how_long = run_estimate(self.client, n, self.options["rate"])
            return note + (f" ({how_long})" if how_long else "")
        per = self._to_send_by_instance()
        note += f" to {len(per)} instances in parallel ({', '.join(f'{name}: {n}' for name, n in per.items())})"
        # The run takes about as long as its slowest instance: say that one's time at its server's budget.
        paces = {name: per_minute(self.clients.by_name(name), self.options["rate"]) for name, n in per.items() if n}
        known = {name: per[name] / pace for name, pace in paces.items() if pace}
        if not known:
            return note
        slowest = max(known, key=lambda name: known[name])
        return note + f"; the slowest, {slowest}: {estimate(per[slowest], paces[slowest])}"

    def _planning_wait(self, seconds: float) -> None:
        """Plan's reads wait for the server's window: say what for and how long, never a silent 'reading'."""
        if seconds > 1:
            self.status.value = html.escape(f"planning: {waiting(seconds)} before it can read the server…")

    def _hearing(self) -> contextlib.ExitStack:
        """The waits of apply's reads before the run starts (a resumed run's rebase), heard per instance and
        shown like a run's own waits."""
        stack = contextlib.ExitStack()
        for client in self.clients:
            name = client.name if self.several else None
            stack.enter_context(hearing(client, lambda seconds, name=name: self.live.wait_heard(seconds, name)))
        return stack

    def ready(self) -> str | None:
        """Why Apply cannot start now (None when it can)."""
        if not self.finished.is_set():
            return "a run is going on"
        if self.planned is None:
            return "press Plan first"
        if not self._to_send():
            return "the plan sends nothing"
        if not self.confirm.value:
            return "tick the confirmation first"
        return None

    def _update_buttons(self) -> None:
        self.apply_button.disabled = self.ready() is not None
        self.plan_button.disabled = not self.finished.is_set()
        self.stop_button.disabled = self.finished.is_set()

    def start(self) -> threading.Thread:
        """What Apply does: start the run in a background thread (the kernel stays free)."""
        reason = self.ready()
        if reason:
            raise RuntimeError(f"cannot apply: {reason}")
        self._begin()
        self._thread = threading.Thread(target=self._execute, kwargs={"reraise": False}, name="bulkbackup-panel")
        self._thread.daemon = True
        self._thread.start()
        return self._thread

    def run(self, blocking: bool = True) -> pd.DataFrame | None:
        """Plan when not planned yet, then apply: in this thread (returns the results) or in the background.

        Calling it is the confirmation, so no tick is needed; for papermill and scripts.
        """
        if self.planned is None:
            self.plan()
        if not blocking:
            self.confirm.value = True
            self.start()
            return None
        self._begin()
        return self._execute(reraise=True)

    def wait(self, timeout: float | None = None) -> pd.DataFrame | None:
        """Wait for a background run to end; its results (None on timeout or when it failed: see `.error`)."""
        self.finished.wait(timeout)
        return self.results if self.finished.is_set() else None

    def stop(self) -> None:
        """What Stop does: in-flight requests finish, nothing more is sent, the rest is `skipped`."""
        if self.finished.is_set():
            self.status.value = html.escape("nothing is running")
            return
        self.stop_event.reason = STOP_REASON  # type: ignore[attr-defined]  # the run reports it as its stop reason
        self.stop_event.set()
        self.status.value = html.escape("stopping: waiting for the requests in flight")

    # --- the run -------------------------------------------------------------------------------------------

    def _begin(self) -> None:
        self.finished.clear()
        self.stop_event.clear()
        self.error = None
        self.results = None
        self.files = {}
        self.live.begin(self._to_send_by_instance(), self.clients.names if self.several else ())
        self.downloads.value = ""
        self.results_view.value = ""
        self.status.value = html.escape("running…")
        self._refresh()
        self._update_buttons()

    def listen(self, event: object) -> None:
        """The panel's listener on apply's seam: only counts (the refresh loop shows them)."""
        self.live.listen(event)

    def _refresh(self, final: bool = False) -> None:
        sent, total = self.live.sent, self.live.total
        self.progress.max = max(total, 1)
        self.progress.value = min(sent, total)
        self.progress.description = f"{sent}/{total}"
        self.counts.value = self.live.html(final=final)

    def _refresh_loop(self, done: threading.Event) -> None:
        while not done.wait(REFRESH_S):
            self._refresh()

    def _run_folder(self, started: datetime) -> Path:
        base = self.folder / started.strftime("%Y%m%d-%H%M%SZ")
        folder, n = base, 1
        while folder.exists():
            n += 1
            folder = base.with_name(f"{base.name}-{n}")
        folder.mkdir(parents=True)
        return folder

    def _execute(self, reraise: bool) -> pd.DataFrame | None:
        done = threading.Event()
        refresher = threading.Thread(target=self._refresh_loop, args=(done,), name="bulkbackup-refresh", daemon=True)
        refresher.start()
        try:
            folder = self._run_folder(datetime.now(UTC))
            journal = self.journal or folder / "journal.jsonl"
            try:
                with self._hearing():
                    results = apply(
                        self.planned,
                        self.client,
                        stop=self.stop_event,
                        listeners=[self.listen],
                        journal=journal,
                        progress=False,
                        **{k: v for k, v in self.options.items() if v is not None},
                    )
            finally:
                # No refresh may land after the final counts below: the listener saw only the rows sent.
                done.set()
                refresher.join()
            self.results = results
            self.files = self._write(results, folder, journal)
            self._show_results(results)
            return results
        except Exception as error:
            self.error = error
            self._forget()  # the plan shown was spent on a run that failed: no stale plan or results beside the error
            self.status.value = _error(f"the run failed: {type(error).__name__}: {error} (press Plan to plan again)")
            if reraise:
                raise
            return None
        finally:
            done.set()
            refresher.join()  # already stopped unless the run failed before apply was called
            # The plan is spent: another run needs a new plan and a new tick.
            self.planned = None
            self.confirm.value = False
            self.finished.set()
            self._update_buttons()

    def _write(self, results: pd.DataFrame, folder: Path, journal: Path) -> dict[str, Path]:
        files = {"results": folder / "results.csv"}
        write_csv(results, files["results"])
        files["undo"] = folder / "undo.csv"
        write_csv(undo(results), files["undo"])
        if journal.exists():
            files["journal"] = journal
        return files

    def _show_results(self, results: pd.DataFrame) -> None:
        # The frame is the record: the bar and counts end on what it says, whatever the listener saw.
        self.live.settle(results)
        self._refresh(final=True)
        counts = summary(results)
        stopped = counts.stopped
        self.status.value = html.escape(
            "done: "
            + ", ".join(f"{n} {s}" for s, n in counts.items())
            + (f" (run stopped: {stopped})" if stopped else "")
        )
        failure = getattr(results.attrs.get("run"), "journal_failure", None)
        if failure:  # the record of the run is not (all) on disk: said as the error it is, whatever the rows say
            self.status.value += "<br>" + _error(failure)
        links = []
        stamp = self.files["results"].parent.name
        for name, path in self.files.items():
            if name != "journal":
                links.append(download_link(path.read_text(encoding="utf-8"), f"{name}-{stamp}.csv", f"⬇ {name}.csv"))
        written = "".join(
            f"<li>{html.escape(n)}: <code>{html.escape(str(p.resolve()))}</code></li>" for n, p in self.files.items()
        )
        self.downloads.value = " &nbsp; ".join(links) + f'<ul style="line-height: 1.4">{written}</ul>'
        # The plan's database names beside the results, for display only (the record has none).
        named = results if self._names is None else with_names(results, self._names, ("database_name", "database_type"))
        self.results_view.value = frame_html(named)

    def _forget(self) -> None:
        """Drop the shown plan, results and downloads: what the panel shows is current or nothing."""
        self.planned = None
        self.confirm.value = False
        self.plan_view.value = ""
        self.results_view.value = ""
        self.downloads.value = ""
        self._update_buttons()

    # --- display -------------------------------------------------------------------------------------------

    def _guard(self, action: Any) -> None:
        """A click handler's wrapper: the front-end swallows exceptions, so say them in the status line."""
        try:
            action()
        except Exception as error:
            self.status.value = _error(str(error))

    def _repr_mimebundle_(self, **kwargs):
        # The widget's own view bundle: a cell ending in `editor` or `panel` shows the widget in every front-end.
        return self.widget._repr_mimebundle_(**kwargs)
