"""`Editor`: pick backup configurations with filters and set values with keep/set/clear controls.

All state lives in `bulkbackup.editing.EditorModel`; this module only turns widget events into model calls and
model state into widget values.
"""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.fields import Field, Kind
from bulkbackup.widgets._editing import EditorModel, Intent
from bulkbackup.widgets._render import frame_html

_ANY = "(any)"
_NONE = "—"  # what a control on "keep" shows: no value of its own
_LABEL_WIDTH = "260px"  # a long setting name breaks after an underscore: the message beside gets the room
_VALUE_WIDTH = "170px"
# A message never reflows the rows: it has a fixed box beside its control (three short lines), scrolled when
# it is longer.
_MESSAGE_HEIGHT = "44px"
_FILTER_LABELS = {"instance": "Instance", "project": "Project", "environment": "Environment", "database_type": "Type"}
# Four filters and the name box do not fit one line beside JupyterLab's file browser at 1280 px: they wrap.
_FILTER_WIDTH = "250px"
# The selected keep/set/clear button must be unmistakable (the front-ends' default barely differs).
_CSS = """<style>
.bulkbackup-editor .bulkbackup-intent .widget-toggle-button.mod-active {
    background: #1f6feb; color: #fff; box-shadow: inset 0 0 0 2px #0b3d91;
}
.bulkbackup-editor .bulkbackup-intent .widget-toggle-button:first-child.mod-active {
    background: #5a6270; box-shadow: inset 0 0 0 2px #30363d;
}
.bulkbackup-editor .bulkbackup-intent .widget-toggle-button:nth-child(3).mod-active {
    background: #b3261e; box-shadow: inset 0 0 0 2px #6e1510;
}
.bulkbackup-editor .bulkbackup-intent .widget-toggle-button:not(.mod-active) { opacity: 0.7; }
.bulkbackup-editor .bulkbackup-label code { font-size: 12px; }
.bulkbackup-editor .bulkbackup-message .widget-html-content {
    font-size: 12px; line-height: 1.2; height: auto; white-space: normal;
}
.bulkbackup-editor details.bulkbackup-help summary { cursor: pointer; line-height: 1.3; }
.bulkbackup-editor details.bulkbackup-help small { display: block; white-space: normal; line-height: 1.25; }
</style>"""


def _error(text: str) -> str:
    return f'<span class="bulkbackup-problem" style="color:#b00020">{html.escape(text)}</span>' if text else ""


class Editor:
    """Filters, one keep/set/clear control per setting, and the changes frame built with "Add to changes".

        editor = bb.widgets.Editor(bb.inventory(client), s3_storages=sandbox.s3_storages)
        editor                     # shows the widget
        editor.changes             # the changes frame, ready for bb.plan / bb.widgets.RunPanel

    `s3_storages` (uuids, dicts or a frame with `uuid` and `name`) turns the S3 storage into a dropdown; without
    it the uuid is typed (the inventory only knows the storages' numeric ids).

    An inventory of several instances (`bb.inventory([prod, staging])`, with its `instance` column) adds an
    Instance filter, the count says how many match in each instance, and `changes` keeps the `instance` column,
    so `bb.plan(editor.changes, [prod, staging])` sends each row to its own instance.
    """

    def __init__(self, inventory: pd.DataFrame, *, s3_storages: object = None):
        self.model = EditorModel(inventory, s3_storages=s3_storages)
        self.filters: dict[str, w.Dropdown] = {}
        for column in self.model.filters:  # the instance first, when the inventory has several
            dropdown = w.Dropdown(
                # "(any)" is the empty text, not None: ipywidgets 8 reads a value of None as "nothing selected"
                # and shows a blank box, also when a user picks "(any)" again after another choice.
                options=[(_ANY, ""), *((v, v) for v in self.model.options(column))],
                index=0,
                description=_FILTER_LABELS[column],
                style={"description_width": "initial"},
                layout=w.Layout(width=_FILTER_WIDTH),
            )
            dropdown.observe(self._on_filter, names="value")
            self.filters[column] = dropdown
        self.name = w.Text(
            description="Name", placeholder="contains…", continuous_update=True, style={"description_width": "initial"}
        )
        self.name.observe(self._on_filter, names="value")
        self.count = w.HTML()
        self.intents: dict[str, w.ToggleButtons] = {}
        self.values: dict[str, w.ValueWidget] = {}
        self.messages: dict[str, w.HTML] = {}
        rows = [self._setting_row(field) for field in self.model.fields]
        self.add_button = w.Button(description="Add to changes", button_style="primary", icon="plus")
        self.remove_button = w.Button(description="Remove last", icon="undo")
        self.clear_button = w.Button(description="Clear all", icon="trash")
        self.add_button.on_click(lambda _: self.add())
        self.remove_button.on_click(lambda _: self.remove_last())
        self.clear_button.on_click(lambda _: self.clear_all())
        self.status = w.HTML()
        self.table = w.HTML(layout=w.Layout(max_height="420px", overflow="auto"))
        self.widget = w.VBox(
            [
                w.HTML(_CSS),
                w.HBox([*self.filters.values(), self.name], layout=w.Layout(flex_flow="row wrap")),
                self.count,
                *rows,
                w.HBox([self.add_button, self.remove_button, self.clear_button]),
                self.status,
                self.table,
            ]
        )
        self.widget.add_class("bulkbackup-editor")
        self._show_count()
        self._show_changes()

    # --- building ------------------------------------------------------------------------------------------

    def _value_widget(self, field: Field) -> w.ValueWidget:
        # Numbers are typed as text and judged by read_changes: a number box would clamp 30 to 60 or -5 to 0
        # without a word. Yes/no and storages are a choice that starts on "nothing chosen".
        if field.kind is Kind.BOOL:
            return w.Dropdown(
                options=[(_NONE, None), ("true", True), ("false", False)], index=0, layout=w.Layout(width=_VALUE_WIDTH)
            )
        if field.name == "s3_storage_uuid" and self.model.s3_storages:
            return w.Dropdown(
                options=[(_NONE, None), *self.model.s3_storages], index=0, layout=w.Layout(width=_VALUE_WIDTH)
            )
        return w.Text(value="", continuous_update=True, layout=w.Layout(width=_VALUE_WIDTH))

    def _hint(self, field: Field) -> str:
        """The placeholder of a typed value: on "keep", what the selection holds now; on "set", what it takes."""
        if self.model.choices[field.name].intent is not Intent.SET:
            return self.model.current(field.name)
        if field.minimum is not None and field.maximum is not None:
            return f"{field.minimum:g} to {field.maximum:g}"
        if field.minimum is not None:
            return f"{field.minimum:g} or more"
        return ""

    def _setting_row(self, field: Field) -> w.HBox:
        intent = w.ToggleButtons(
            options=[(i.value, i) for i in self.model.intents(field.name)],
            value=Intent.KEEP,
            style={"button_width": "56px"},
            layout=w.Layout(width="186px"),
        )
        intent.add_class("bulkbackup-intent")
        value = self._value_widget(field)
        value.disabled = True
        message = w.HTML(layout=w.Layout(flex="1 1 0", min_width="0", height=_MESSAGE_HEIGHT, overflow="auto"))
        message.add_class("bulkbackup-message")
        intent.observe(lambda change, name=field.name: self._on_intent(name, change["new"]), names="value")
        value.observe(lambda change, name=field.name: self._on_value(name, change["new"]), names="value")
        self.intents[field.name], self.values[field.name], self.messages[field.name] = intent, value, message
        # The help is a click (or Enter) away on every front-end; a tooltip on a label is not.
        label = w.HTML(
            f'<details class="bulkbackup-help"><summary><code>{field.name.replace("_", "_<wbr>")}</code></summary>'
            f"<small>{html.escape(field.description)}</small></details>",
            layout=w.Layout(width=_LABEL_WIDTH),
        )
        label.add_class("bulkbackup-label")
        row = w.HBox([label, intent, value, message], layout=w.Layout(align_items="flex-start"))
        self._show_hint(field.name)
        return row

    # --- events --------------------------------------------------------------------------------------------

    def _on_filter(self, _change: object = None) -> None:
        self.model.set_filter(**{c: d.value or None for c, d in self.filters.items()}, name=self.name.value)
        self._show_count()
        for name in self.values:
            self._show_hint(name)

    def _on_intent(self, name: str, intent: Intent | str) -> None:
        intent = Intent(intent)  # code may set the plain text ("set"); a front-end sends the option's Intent
        self.model.set_intent(name, intent)
        control = self.values[name]
        control.disabled = intent is not Intent.SET
        if intent is not Intent.SET:  # a control on keep/clear shows no value of its own
            control.value = "" if isinstance(control, w.Text) else None
        self._show_hint(name)
        self._show_problem(name)

    def _on_value(self, name: str, value: object) -> None:
        self.model.set_value(name, value)
        self._show_problem(name)

    def add(self) -> int:
        """What "Add to changes" does: add a batch, or say in the status line why nothing was added."""
        try:
            added = self.model.add()
        except ValueError as error:
            self.status.value = _error(f"nothing added: {error}")
            return 0
        self.status.value = html.escape(f"added {added} configuration{'s' * (added != 1)}; {self.model.describe()}")
        self._show_changes()
        return added

    def remove_last(self) -> None:
        removed = self.model.remove_last()
        self.status.value = html.escape(("removed the last batch; " if removed else "") + self.model.describe())
        self._show_changes()

    def clear_all(self) -> None:
        self.model.clear_all()
        self.status.value = html.escape(self.model.describe())
        self._show_changes()

    # --- showing state -------------------------------------------------------------------------------------

    def _show_count(self) -> None:
        count = self.model.count
        self.count.value = (
            f'<b class="bulkbackup-count">{count}</b> of {len(self.model.inventory)} '
            f"configuration{'s' * (len(self.model.inventory) != 1)} match"
        )
        if self.model.instance and count:
            # Which instances the selection reaches: a change meant for one must visibly not reach another.
            per = self.model.matching[INSTANCE].astype("string").fillna("").value_counts(sort=False)
            self.count.value += html.escape(" — " + ", ".join(f"{name}: {n}" for name, n in per.items()))

    def _show_hint(self, name: str) -> None:
        control = self.values.get(name)
        if isinstance(control, w.Text):
            control.placeholder = self._hint(self.model.field(name))

    def _show_problem(self, name: str) -> None:
        # Beside its own control the column's name goes without saying; the status line keeps it.
        problem = (self.model.problem(name) or "").removeprefix(f"column '{name}': ")
        self.messages[name].value = _error(problem)

    def _show_changes(self) -> None:
        changes = self.changes
        if not len(changes):
            self.table.value = ""
            return
        shown = self.model.names(changes)  # the databases by name: a list of uuids says nothing to a reader
        shown.attrs["bulkbackup"] = "changes"
        self.table.value = frame_html(shown)

    @property
    def changes(self) -> pd.DataFrame:
        """The changes frame built so far (keys and every setting some batch wrote); see `EditorModel.changes`."""
        return self.model.changes

    def _repr_mimebundle_(self, **kwargs):
        # The widget's own view bundle: a cell ending in `editor` or `panel` shows the widget in every front-end.
        return self.widget._repr_mimebundle_(**kwargs)
