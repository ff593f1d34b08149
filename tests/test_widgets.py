"""The editor's model on its own, and the Editor and RunPanel widgets driven headless against the sandbox.

Widgets are driven as a front-end would: set `.value`, call `.click()`; assertions are on the model, the frames
built and the sandbox's state over real HTTP.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from waiting import wait_for

import bulkbackup as bb
from bulkbackup._core.events import RowFinished, RowRef, RowResult, RunStarted, Waiting
from bulkbackup._core.fields import BACKUP_NOW, SETTINGS, Kind
from bulkbackup.sandbox import Sandbox
from bulkbackup.widgets._editing import EditorModel, Intent

ipywidgets = pytest.importorskip("ipywidgets")


@pytest.fixture
def fleet(client):
    return bb.inventory(client)


INSTANCES = ("prod", "staging", "eu")


@pytest.fixture
def sandboxes():
    """Three instances; prod and staging seeded alike, so their uuids collide (restored from one backup)."""
    with Sandbox.many(3, databases=12, seed=[0, 0, 1], rate_limit=100_000, job_delay=0.2, name=list(INSTANCES)) as s:
        yield s
    for sandbox in s:
        assert not sandbox.errors, f"{sandbox.name} failed while answering: {sandbox.errors!r}"


@pytest.fixture
def clients(sandboxes):
    made = [bb.Client(s.endpoint, s.token, name=s.name) for s in sandboxes]
    yield made
    for client in made:
        client.close()


def test_import_bulkbackup_imports_no_widgets_nor_plotting():
    code = (
        "import sys, bulkbackup, bulkbackup.widgets._editing; "
        "print(*(m in sys.modules for m in ('ipywidgets', 'matplotlib', 'tqdm.notebook')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"] * 3
    code = "import sys, bulkbackup; print('bulkbackup.widgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_widgets_are_reachable_lazily():
    assert bb.widgets.Editor.__name__ == "Editor" and bb.widgets.RunPanel.__name__ == "RunPanel"


def test_editor_and_panel_display_as_their_widget(fleet, client):
    editor = bb.widgets.Editor(fleet)
    for shown in (editor, bb.widgets.RunPanel(editor, client)):
        bundle = shown._repr_mimebundle_()
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == shown.widget.model_id


# --- the model, without widgets ----------------------------------------------------------------------------------


def test_filters_by_exact_columns_and_name_text(fleet):
    frame = fleet.copy()
    frame["project"] = ["shop" if i % 3 else "intranet" for i in range(len(frame))]
    model = EditorModel(frame)
    assert model.count == len(frame)
    assert model.options("project") == ["intranet", "shop"]
    kind = fleet["database_type"].iloc[0]
    model.set_filter(database_type=kind, project="shop")
    expected = frame[(frame.database_type == kind) & (frame.project == "shop")]
    assert list(model.matching["backup_uuid"]) == list(expected["backup_uuid"])
    name = str(fleet["database_name"].iloc[0])
    model.set_filter(database_type=None, project=None, name=name[1:].upper())
    assert model.count == frame["database_name"].str.contains(name[1:], case=False, regex=False).sum() > 0
    model.set_filter(name="no such database")
    assert model.count == 0
    with pytest.raises(ValueError, match="no filter"):
        model.set_filter(colour="red")


def test_clear_is_offered_only_where_the_server_clears(fleet):
    model = EditorModel(fleet)
    for field in (*SETTINGS, BACKUP_NOW):
        assert (Intent.CLEAR in model.intents(field.name)) == field.clearable
        if not field.clearable:
            with pytest.raises(ValueError, match="cannot be cleared"):
                model.set_intent(field.name, Intent.CLEAR)


@pytest.mark.parametrize(
    ("name", "value"),
    [("frequency", "every day"), ("frequency", "0 25 * * *"), ("timeout", 30), ("databases_to_backup", "a;b")],
)
def test_validation_message_is_read_changes_own(fleet, name, value):
    model = EditorModel(fleet)
    model.set_intent(name, Intent.SET, value)
    message = model.problem(name)
    frame = fleet.head(1)[["database_uuid", "backup_uuid"]].assign(**{name: [value]})
    errors = bb.read_changes(frame)["errors"].iloc[0]
    assert message and len(errors) == 1 and errors[0].endswith(": " + message)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.add()
    assert model.batches == []
    model.set_intent(name, Intent.KEEP)
    assert model.problem(name) is None


def test_batches_later_override_earlier_field_by_field(fleet):
    model = EditorModel(fleet)
    kind = fleet["database_type"].iloc[0]
    model.set_filter(database_type=kind)
    first = set(model.matching["backup_uuid"])
    model.set_intent("frequency", Intent.SET, "0 3 * * *")
    model.set_intent("databases_to_backup", Intent.CLEAR)
    assert model.add() == len(first)
    model.set_filter(database_type=None, name=str(fleet["database_name"].iloc[0]))
    second = set(model.matching["backup_uuid"])
    model.set_intent("databases_to_backup", Intent.KEEP)
    model.set_intent("frequency", Intent.SET, "30 4 * * *")
    model.set_intent("timeout", Intent.SET, 7200)
    model.add()
    rows = model.changes.to_dict("records")
    uuids = [row["backup_uuid"] for row in rows]
    assert set(uuids) == first | second and len(uuids) == len(set(uuids))
    for row in rows:
        uuid = row["backup_uuid"]
        assert row["frequency"] == ("30 4 * * *" if uuid in second else "0 3 * * *")
        assert row["timeout"] == (7200 if uuid in second else None)
        assert row["databases_to_backup"] == (bb.CLEAR if uuid in first else None)
    read = bb.read_changes(model.changes)
    assert read["errors"].map(len).sum() == 0
    assert model.remove_last() and model.changes["frequency"].eq("0 3 * * *").all()
    assert "timeout" not in model.changes.columns
    model.clear_all()
    assert model.changes.empty and not model.remove_last()


def test_nothing_to_add_says_why(fleet):
    model = EditorModel(fleet)
    with pytest.raises(ValueError, match='every setting is on "keep"'):
        model.add()
    model.set_intent("enabled", Intent.SET, True)
    model.set_filter(name="no such database")
    with pytest.raises(ValueError, match="no configuration matches"):
        model.add()


def test_save_s3_needs_a_storage_in_the_same_batch(fleet, sandbox):
    model = EditorModel(fleet, s3_storages=sandbox.s3_storages)
    model.set_intent("save_s3", Intent.SET, True)
    with pytest.raises(ValueError, match="save_s3 = true needs s3_storage_uuid"):
        model.add()
    model.set_intent("s3_storage_uuid", Intent.SET)  # nothing chosen yet: the dropdown starts on no storage
    with pytest.raises(ValueError, match="s3_storage_uuid': empty"):
        model.add()
    model.set_value("s3_storage_uuid", sandbox.s3_storages[0]["uuid"])
    assert model.add() == len(fleet)
    assert model.changes["s3_storage_uuid"].eq(sandbox.s3_storages[0]["uuid"]).all()


def test_backup_now_set_but_unticked_starts_nothing(fleet):
    model = EditorModel(fleet)
    model.set_intent(BACKUP_NOW.name, Intent.SET, False)
    assert model.pending() == {}
    model.set_value(BACKUP_NOW.name, True)
    assert model.pending() == {BACKUP_NOW.name: True}


def test_plan_accepts_the_model_changes(client, fleet):
    model = EditorModel(fleet)
    model.set_filter(database_type=fleet["database_type"].iloc[0])
    model.set_intent("timeout", Intent.SET, 4321)
    model.add()
    planned = bb.plan(model.changes, client)
    assert (planned["action"] == "update").all() and planned["payload"].str.contains('"timeout": 4321').all()


# --- the Editor widget -------------------------------------------------------------------------------------------


def test_editor_controls_follow_the_field_table(fleet, sandbox):
    editor = bb.widgets.Editor(fleet, s3_storages=sandbox.s3_storages)
    for field in (*SETTINGS, BACKUP_NOW):
        value, intent = editor.values[field.name], editor.intents[field.name]
        assert [o[0] for o in intent.options] == [i.value for i in editor.model.intents(field.name)]
        assert value.disabled  # "keep" until the user chooses otherwise
        # A control on "keep" shows no value of its own (nothing that reads like the server's: no 0, 60 or tick).
        if field.kind is Kind.BOOL:
            assert isinstance(value, ipywidgets.Dropdown) and value.value is None and value.label == "—"
        else:
            assert value.value in ("", None)
        assert "bulkbackup-intent" in intent._dom_classes
    storage = editor.values["s3_storage_uuid"]
    assert isinstance(storage, ipywidgets.Dropdown) and storage.value is None
    expected = [(f"{s['name']} ({s['uuid']})", s["uuid"]) for s in sandbox.s3_storages]
    assert list(storage.options)[1:] == expected
    assert isinstance(bb.widgets.Editor(fleet).values["s3_storage_uuid"], ipywidgets.Text)


@pytest.mark.parametrize(
    ("name", "typed", "said"),
    [
        ("timeout", "30", "timeout must be at least 60 (got 30)"),
        ("database_backup_retention_days_s3", "-5", "must be at least 0 (got -5)"),
        ("database_backup_retention_days_s3", "99999999999", "must be at most 2147483647"),
        ("database_backup_retention_max_storage_s3", "99999999999", "must be below 10000000000"),
    ],
)
def test_the_editor_never_clamps_a_number(fleet, name, typed, said):
    editor = bb.widgets.Editor(fleet)
    editor.intents[name].value = Intent.SET
    editor.values[name].value = typed
    assert editor.values[name].value == typed  # the user's value, never changed
    assert said in html.unescape(editor.messages[name].value)
    assert editor.add() == 0 and said in html.unescape(editor.status.value)
    editor.values[name].value = "120"  # fixed: the message goes
    assert editor.messages[name].value == ""
    assert editor.add() == len(fleet) and editor.changes[name].eq(120).all()


def test_keep_shows_what_the_selection_holds_and_help_is_reachable(fleet):
    editor = bb.widgets.Editor(fleet)
    timeouts = fleet["timeout"].astype(str).unique()
    hint = editor.values["timeout"].placeholder
    assert hint == (f"now: {timeouts[0]}" if len(timeouts) == 1 else f"now: {len(timeouts)} different values")
    ids = fleet["s3_storage_id"].map(lambda v: "" if pd.isna(v) else str(v)).unique()
    storage_hint = editor.values["s3_storage_uuid"].placeholder
    assert storage_hint == (
        (f"now: storage id {ids[0]}" if ids[0] else "now: none reported")
        if len(ids) == 1
        else f"now: {len(ids)} different values"
    )
    one = fleet.iloc[0]
    editor.name.value = str(one.database_name)
    same = fleet[fleet["database_name"].str.contains(str(one.database_name), case=False, regex=False)]
    if same["timeout"].nunique() == 1:
        assert editor.values["timeout"].placeholder == f"now: {same['timeout'].iloc[0]}"
    editor.intents["timeout"].value = Intent.SET
    assert editor.values["timeout"].placeholder == "60 to 36000"
    editor.values["timeout"].value = "7200"
    editor.intents["timeout"].value = Intent.KEEP  # back on keep: the typed value is not shown as if current
    assert editor.values["timeout"].value == "" and editor.values["timeout"].disabled
    # The help: a <details> the keyboard and a click open, not a tooltip on a label.
    rows = [
        c for c in editor.widget.children if isinstance(c, ipywidgets.HBox) and editor.intents["timeout"] in c.children
    ]
    label = rows[0].children[0].value
    assert "<details" in label and "<summary><code>timeout</code></summary>" in label and "60..36000" in label
    long_label = next(
        c.children[0].value
        for c in editor.widget.children
        if isinstance(c, ipywidgets.HBox)
        and editor.intents["database_backup_retention_max_storage_locally"] in c.children
    )
    assert "database_<wbr>backup_<wbr>retention" in long_label  # breaks only after an underscore


def test_a_message_does_not_reflow_the_rows(fleet):
    editor = bb.widgets.Editor(fleet)
    message = editor.messages["timeout"]
    before = (message.layout.height, message.layout.flex, message.layout.overflow)
    editor.intents["timeout"].value = Intent.SET
    editor.values["timeout"].value = "5"
    assert message.value  # a message now, in the same fixed box
    assert (message.layout.height, message.layout.flex, message.layout.overflow) == before == ("44px", "1 1 0", "auto")


def test_the_added_preview_names_the_databases(fleet):
    editor = bb.widgets.Editor(fleet)
    editor.intents["enabled"].value = Intent.SET
    editor.values["enabled"].value = True
    editor.filters["database_type"].value = fleet["database_type"].iloc[0]
    editor.add_button.click()
    shown = html.unescape(editor.table.value)
    for name in fleet.loc[fleet["database_type"] == fleet["database_type"].iloc[0], "database_name"]:
        assert f"<b>{name}</b>" in shown
    assert fleet["backup_uuid"].iloc[0] not in re.sub(r'title="[^"]*"', "", shown)  # uuids only in tooltips


def test_editor_filters_validate_and_build_changes(fleet, sandbox):
    editor = bb.widgets.Editor(fleet, s3_storages=sandbox.s3_storages)
    for dropdown in editor.filters.values():  # shown as "(any)", not as an empty box
        assert dropdown.label == "(any)" and dropdown.value == ""
    assert set(editor.filters["project"].options[1:]) == {(p, p) for p in fleet["project"].dropna().unique()}
    kind = fleet["database_type"].iloc[0]
    editor.filters["database_type"].value = kind
    expected = int((fleet["database_type"] == kind).sum())
    assert f">{expected}</b> of {len(fleet)}" in editor.count.value
    editor.intents["frequency"].value = Intent.SET
    assert not editor.values["frequency"].disabled
    editor.values["frequency"].value = "every day"
    assert "not a valid frequency" in editor.messages["frequency"].value
    editor.add_button.click()
    assert editor.changes.empty and "nothing added" in editor.status.value
    editor.values["frequency"].value = "45 2 * * *"
    assert editor.messages["frequency"].value == ""
    editor.intents["save_s3"].value = Intent.SET
    editor.values["save_s3"].value = True
    editor.intents["s3_storage_uuid"].value = Intent.SET
    editor.values["s3_storage_uuid"].value = sandbox.s3_storages[1]["uuid"]
    editor.add_button.click()
    changes = editor.changes
    assert len(changes) == expected
    assert list(changes.columns) == ["database_uuid", "backup_uuid", "save_s3", "s3_storage_uuid", "frequency"]
    assert changes["save_s3"].eq(True).all() and changes["frequency"].eq("45 2 * * *").all()
    assert changes["s3_storage_uuid"].eq(sandbox.s3_storages[1]["uuid"]).all()
    assert changes["backup_uuid"].iloc[0] in editor.table.value  # in the tooltip of its shortened uuid
    editor.remove_button.click()
    assert editor.changes.empty and editor.table.value == ""
    editor.add_button.click()
    editor.clear_button.click()
    assert editor.changes.empty


def test_editor_escapes_what_it_shows(fleet):
    frame = fleet.copy()
    frame.loc[0, "project"] = "<b>shop</b>"
    editor = bb.widgets.Editor(frame)
    editor.intents["databases_to_backup"].value = Intent.SET
    editor.values["databases_to_backup"].value = "<script>x</script>;"
    assert "<script>" not in editor.messages["databases_to_backup"].value
    assert "&lt;script&gt;" in editor.messages["databases_to_backup"].value


# --- the RunPanel ------------------------------------------------------------------------------------------------


def timeout_changes(fleet, n, timeout=4321):
    frame = fleet.head(n)[["database_uuid", "backup_uuid"]].copy()
    frame["timeout"] = [timeout if t != timeout else timeout + 1 for t in fleet.head(n)["timeout"]]
    return frame


def test_apply_needs_a_plan_and_a_fresh_tick(client, fleet, tmp_path, sandbox):
    panel = bb.widgets.RunPanel(timeout_changes(fleet, 4), client, folder=tmp_path)
    assert panel.apply_button.disabled
    panel.confirm.value = True
    assert panel.apply_button.disabled  # no plan yet
    panel.apply_button.click()
    assert "press Plan first" in panel.status.value and not sandbox.patch_bodies
    panel.confirm.value = False
    panel.plan_button.click()
    assert panel.planned is not None and "update" in panel.plan_view.value
    assert panel.apply_button.disabled  # planned but not ticked
    panel.confirm.value = True
    assert not panel.apply_button.disabled
    panel.plan_button.click()  # a new plan resets the tick
    assert panel.confirm.value is False and panel.apply_button.disabled
    assert not sandbox.patch_bodies


def test_an_empty_editor_plans_nothing_and_stop_without_a_run_says_so(client, fleet, tmp_path):
    panel = bb.widgets.RunPanel(bb.widgets.Editor(fleet), client, folder=tmp_path)
    panel.plan_button.click()
    assert "no changes yet" in panel.status.value and panel.planned.empty
    panel.confirm.value = True
    assert panel.apply_button.disabled and panel.ready() == "the plan sends nothing"
    panel.stop_button.click()
    assert "nothing is running" in panel.status.value and not panel.stop_event.is_set()


def test_plan_error_is_shown_not_swallowed(client, tmp_path):
    panel = bb.widgets.RunPanel(pd.DataFrame({"frequency": ["0 3 * * *"]}), client, folder=tmp_path)
    panel.plan_button.click()
    assert "missing key column" in panel.status.value and panel.planned is None
    with pytest.raises(bb.InputError):
        panel.plan()


def test_apply_runs_in_the_background_and_leaves_results_and_files(client, fleet, tmp_path, sandbox):
    editor = bb.widgets.Editor(fleet)
    editor.filters["database_type"].value = fleet["database_type"].iloc[0]
    editor.intents["timeout"].value = Intent.SET
    editor.values["timeout"].value = "5432"
    editor.add_button.click()
    panel = bb.widgets.RunPanel(editor, client, folder=tmp_path)  # reads editor.changes at each Plan
    panel.plan_button.click()
    panel.confirm.value = True
    panel.apply_button.click()
    assert panel.plan_button.disabled or panel.finished.is_set()
    results = panel.wait(30)
    assert panel.error is None and results is not None
    uuids = list(editor.changes["backup_uuid"])
    assert list(results["backup_uuid"]) == uuids and (results["status"] == "updated").all()
    assert all(sandbox.config(u)["timeout"] == 5432 for u in uuids)
    assert f"updated: {len(uuids)}" in panel.counts.value
    assert panel.progress.value == panel.progress.max == len(uuids)
    assert uuids[0] in panel.results_view.value
    # The files on disk, named with the run's start time, and the same results as a data-URI download.
    results_file = panel.files["results"]
    assert results_file.parent.parent == tmp_path and re.fullmatch(r"\d{8}-\d{6}Z", results_file.parent.name)
    assert str(results_file.resolve()) in panel.downloads.value
    link = re.search(r'download="(results-[^"]+\.csv)" href="data:text/csv;base64,([^"]+)"', panel.downloads.value)
    downloaded = pd.read_csv(io.BytesIO(base64.b64decode(link.group(2))))
    assert list(downloaded["backup_uuid"]) == uuids and set(downloaded["status"]) == {"updated"}
    assert downloaded.equals(pd.read_csv(results_file))
    # The plan is spent: applying again needs a new plan and a new tick.
    assert panel.planned is None and not panel.confirm.value and panel.apply_button.disabled
    undo = bb.read_changes(panel.files["undo"])
    assert list(undo["backup_uuid"]) == uuids and list(undo["timeout"]) == list(
        fleet.set_index("backup_uuid").loc[uuids, "timeout"]
    )
    assert panel.files["journal"].parent == results_file.parent


def test_run_blocking_needs_no_clicks(client, fleet, tmp_path, sandbox):
    changes = timeout_changes(fleet, 5, timeout=6543)
    results = bb.widgets.RunPanel(changes, client, folder=tmp_path).run(blocking=True)
    assert list(results["backup_uuid"]) == list(changes["backup_uuid"])
    assert (results["status"] == "updated").all()
    assert all(sandbox.config(u)["timeout"] == 6543 for u in changes["backup_uuid"])


def test_final_counts_include_rows_never_sent(client, fleet, tmp_path):
    changes = timeout_changes(fleet, 4, timeout=2345)
    changes["timeout"] = changes["timeout"].astype(object)
    changes.loc[2, "timeout"] = int(fleet.loc[2, "timeout"])  # already so: unchanged
    changes.loc[3, "timeout"] = 30  # below the server's minimum: invalid
    panel = bb.widgets.RunPanel(changes, client, folder=tmp_path)
    results = panel.run(blocking=True)
    assert list(results["status"]) == ["updated", "updated", "unchanged", "invalid"]
    for badge in ("updated: 2", "unchanged: 1", "invalid: 1"):
        assert badge in panel.counts.value
    assert (panel.progress.value, panel.progress.max) == (2, 2)


def test_counts_come_from_the_seam(client, fleet, tmp_path):
    panel = bb.widgets.RunPanel(timeout_changes(fleet, 3), client, folder=tmp_path)
    ref = RowRef(0, 0, None, "d", "b")
    panel.listen(RunStarted(None, None, "", total=3, to_send=3, dry_run=False, server_version=None, started_at=""))
    panel.listen(RowFinished(ref, RowResult(bb.STATUSES[0])))
    panel.listen(RowFinished(ref, RowResult("rejected")))
    panel.listen(Waiting(12.0))
    panel._refresh()
    assert (panel.progress.value, panel.progress.max) == (2, 3)
    assert "updated: 1" in panel.counts.value and "rejected: 1" in panel.counts.value
    assert "waiting 12 s for the server&#x27;s rate-limit window" in panel.counts.value


def test_the_waits_and_the_time_left_are_said():
    from bulkbackup.widgets._run_panel import progress_note

    # a wait longer than a second says what for and how long; the counts line counts it down
    assert progress_note(100.0, None, 130.0, 0, 10) == " — waiting 30 s for the server's rate-limit window"
    assert progress_note(129.5, None, 130.0, 0, 10) == ""  # under a second: nothing to say
    # the estimate is the pace so far, waits included: 5 rows in 60 s (most of it waiting) leave 5 more minutes
    assert progress_note(160.0, 100.0, None, 5, 10) == " — about 60 s left"
    assert progress_note(400.0, 100.0, None, 5, 25) == " — about 20 min left"
    assert progress_note(101.0, 100.0, None, 1, 10) == ""  # too early to guess


def test_an_error_leaves_no_stale_plan_or_results(client, fleet, tmp_path, sandbox):
    changes = timeout_changes(fleet, 3, timeout=4321)
    panel = bb.widgets.RunPanel(changes, client, folder=tmp_path)
    panel.run(blocking=True)
    assert panel.results_view.value and panel.downloads.value and panel.plan_view.value
    panel.source = pd.DataFrame({"frequency": ["0 3 * * *"]})  # the next Plan fails
    panel.plan_button.click()
    assert "missing key column" in panel.status.value
    assert panel.plan_view.value == panel.results_view.value == panel.downloads.value == ""
    assert panel.planned is None and panel.apply_button.disabled


def test_a_failed_run_leaves_no_stale_plan(client, fleet, tmp_path):
    panel = bb.widgets.RunPanel(timeout_changes(fleet, 2, timeout=4322), client, folder=tmp_path / "file")
    (tmp_path / "file").write_text("a file where the run folder should go")
    panel.plan_button.click()
    assert "update" in panel.plan_view.value
    panel.confirm.value = True
    panel.apply_button.click()
    assert panel.wait(30) is None and panel.error is not None
    assert "the run failed" in panel.status.value and "press Plan" in panel.status.value
    assert panel.plan_view.value == panel.results_view.value == ""


def test_the_plan_is_shown_before_the_confirmation_and_results_name_databases(client, fleet, tmp_path):
    changes = timeout_changes(fleet, 2, timeout=4323)
    panel = bb.widgets.RunPanel(changes, client, folder=tmp_path)
    children = list(panel.widget.children)
    assert children.index(panel.plan_view) < next(
        i for i, c in enumerate(children) if panel.confirm in getattr(c, "children", ())
    )
    panel.run(blocking=True)
    name = fleet.set_index("backup_uuid").loc[changes["backup_uuid"].iloc[0], "database_name"]
    assert f"<b>{name}</b>" in panel.results_view.value


def test_stop_leaves_skipped_rows_and_a_complete_record(client, fleet, tmp_path, sandbox):
    changes = timeout_changes(fleet, len(fleet), timeout=3333)
    panel = bb.widgets.RunPanel(changes, client, folder=tmp_path, workers=1)
    sandbox.set_faults({"latency": 0.05})
    panel.plan()
    panel.confirm.value = True
    panel.apply_button.click()
    assert not panel.stop_button.disabled
    # The bar moves during the run: the seam's RowFinished events reach it through the refresh loop.
    wait_for(lambda: panel.progress.value >= 2, "two rows counted by the panel", timeout=20.0, interval=0.01)
    assert "updated:" in panel.counts.value and not panel.finished.is_set()
    panel.stop_button.click()
    results = panel.wait(30)
    assert panel.error is None and results is not None
    assert list(results["backup_uuid"]) == list(changes["backup_uuid"])  # every row, in order
    statuses = set(results["status"])
    assert "skipped" in statuses and "updated" in statuses and statuses <= {"updated", "skipped"}
    skipped = results[results["status"] == "skipped"]
    assert skipped["message"].str.contains("you pressed Stop").all()
    assert results.attrs["run"].stopped == "you pressed Stop"
    assert "run stopped: you pressed Stop" in panel.status.value and "by the caller" not in panel.status.value
    on_disk = pd.read_csv(panel.files["results"])
    assert len(on_disk) == len(changes) and (on_disk["status"] == "skipped").sum() == len(skipped)
    sent = set(results.loc[results["status"] == "updated", "backup_uuid"])
    assert all(sandbox.config(u)["timeout"] == 3333 for u in sent)
    assert all(sandbox.config(u)["timeout"] != 3333 for u in skipped["backup_uuid"])
    records = [json.loads(line) for line in panel.files["journal"].read_text().splitlines()]
    intents = [r["backup_uuid"] for r in records if r["record"] == "intent"]
    outcomes = {r["backup_uuid"]: r["status"] for r in records if r["record"] == "outcome"}
    # Every row announced has its outcome (the journal may announce a few rows ahead of sending them).
    assert set(intents) >= sent and set(outcomes) == set(intents)
    assert {u: s for u, s in outcomes.items() if u in sent} == dict.fromkeys(sent, "updated")
    assert {s for u, s in outcomes.items() if u not in sent} <= {"skipped"}
    assert records[-1]["record"] == "end" and records[-1]["stopped"]
    assert panel.stop_button.disabled and not panel.plan_button.disabled


# --- several instances -------------------------------------------------------------------------------------------


def test_editor_filters_by_instance_and_keeps_it_in_the_changes(clients, sandboxes):
    fleet = bb.inventory(clients)  # one frame, `instance` first
    prod, staging = (fleet[fleet["instance"] == name] for name in ("prod", "staging"))
    assert list(prod["backup_uuid"]) == list(staging["backup_uuid"])  # seeded alike: the uuids collide
    editor = bb.widgets.Editor(fleet)
    assert list(editor.filters) == ["instance", "project", "environment", "database_type"]
    assert [o[0] for o in editor.filters["instance"].options] == ["(any)", "eu", "prod", "staging"]
    editor.filters["instance"].value = "staging"
    assert editor.model.count == len(staging)
    assert f">{len(staging)}</b> of {len(fleet)}" in editor.count.value and "staging: " in editor.count.value
    kind = staging["database_type"].iloc[0]
    editor.filters["database_type"].value = kind
    chosen = staging[staging["database_type"] == kind]
    editor.intents["timeout"].value = Intent.SET
    editor.values["timeout"].value = "4444"
    assert editor.add() == len(chosen)
    editor.filters["instance"].value = "eu"  # a second batch on another instance: its rows stay its own
    editor.filters["database_type"].index = 0  # "(any)" picked again, as a front-end sends it
    assert editor.filters["database_type"].label == "(any)"  # shown, not a blank box
    editor.values["timeout"].value = "5555"
    eu = fleet[fleet["instance"] == "eu"]
    assert editor.add() == len(eu)
    changes = editor.changes
    assert list(changes.columns) == ["instance", "database_uuid", "backup_uuid", "timeout"]
    assert list(changes["instance"]) == ["staging"] * len(chosen) + ["eu"] * len(eu)
    assert list(changes["backup_uuid"]) == [*chosen["backup_uuid"], *eu["backup_uuid"]]
    assert list(changes["timeout"]) == [4444] * len(chosen) + [5555] * len(eu)
    # The preview names each row's database on its own instance, not the first one holding the same uuid.
    shown = editor.model.names(changes)
    keys = list(zip(changes["instance"], changes["backup_uuid"], strict=True))
    expected = fleet.set_index(["instance", "backup_uuid"]).loc[keys]
    assert list(shown["database_name"]) == list(expected["database_name"])
    assert "staging" in html.unescape(editor.table.value) and "eu" in html.unescape(editor.table.value)


def test_the_same_uuid_on_two_instances_is_two_rows():
    fleet = pd.DataFrame(
        {
            "instance": ["prod", "staging"],
            "database_uuid": ["d1", "d1"],
            "backup_uuid": ["b1", "b1"],
            "database_name": ["orders", "orders-copy"],
        }
    )
    model = EditorModel(fleet)
    model.set_intent("timeout", Intent.SET, 600)
    assert model.add() == 2
    model.set_filter(instance="prod")
    model.set_intent("timeout", Intent.SET, 900)
    model.add()  # overrides prod's row only
    assert model.changes.to_dict("records") == [
        {"instance": "prod", "database_uuid": "d1", "backup_uuid": "b1", "timeout": 900},
        {"instance": "staging", "database_uuid": "d1", "backup_uuid": "b1", "timeout": 600},
    ]
    assert list(model.names(model.changes)["database_name"]) == ["orders", "orders-copy"]


def test_a_single_inventory_has_no_instance_filter(fleet):
    editor = bb.widgets.Editor(fleet)
    assert "instance" not in editor.filters and "instance" not in editor.model.filters
    with pytest.raises(ValueError, match="no filter 'instance'"):
        editor.model.set_filter(instance="prod")
    editor.intents["timeout"].value = Intent.SET
    editor.values["timeout"].value = "700"
    editor.add()
    assert "instance" not in editor.changes.columns


def test_the_panel_counts_each_instance_from_the_seam(clients, tmp_path):
    panel = bb.widgets.RunPanel(pd.DataFrame(), clients, folder=tmp_path)
    assert panel.several and panel.clients.names == INSTANCES
    # The counts sit under the bar, where a table has its width.
    assert any(isinstance(c, ipywidgets.VBox) and panel.counts in c.children for c in panel.widget.children)
    panel.live.begin({"prod": 2, "staging": 1, "eu": 0}, INSTANCES)
    started = RunStarted(None, None, "", total=3, to_send=3, dry_run=False, server_version=None, started_at="")
    panel.listen(started)
    panel.listen(RowFinished(RowRef(0, 0, None, "d", "b", instance="prod"), RowResult("updated")))
    panel.listen(RowFinished(RowRef(1, 1, None, "d", "b", instance="staging"), RowResult("rejected")))
    panel.listen(Waiting(12.0, instance="prod"))
    panel._refresh()
    assert (panel.progress.value, panel.progress.max) == (2, 3)
    cells = instance_cells(panel.counts.value)
    assert cells["prod"] == {"sent": "1/2", "updated": "1", "rejected": "", "note": WAIT_12}
    assert cells["staging"] == {"sent": "1/1", "updated": "", "rejected": "1", "note": ""}
    assert cells["eu"] == {"sent": "0/0", "updated": "", "rejected": "", "note": ""}
    assert cells["total"] == {"sent": "2/3", "updated": "1", "rejected": "1", "note": ""}


WAIT_12 = "waiting 12 s for the server's rate-limit window"


def instance_cells(markup: str) -> dict[str, dict[str, str]]:
    """The run panel's table of instance × status as {instance: {column: text}} ("total" for the last row)."""
    table = re.search(r'<table class="bulkbackup-instance-counts".*?</table>', markup, re.S).group(0)
    heads = [
        html.unescape(re.sub("<[^>]+>", "", h)) for h in re.findall(r"<th[^>]*>.*?</th>", table.split("</thead>")[0])
    ]
    heads = ["instance", *heads[1:-1], "note"] if heads[-1] == "" else ["instance", *heads[1:]]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1], re.S):
        texts = [html.unescape(re.sub("<[^>]+>", "", c)) for c in re.findall(r"<t[dh][^>]*>.*?</t[dh]>", row)]
        rows[texts[0]] = dict(zip(heads[1:], texts[1:], strict=True))
    return rows


def test_run_panel_over_three_instances_counts_per_instance(clients, sandboxes, tmp_path):
    """End to end over real HTTP: an editor over one inventory of three instances whose uuids collide (prod and
    staging), a change for two of them, the panel given the list of clients, live counts per instance."""
    fleet = bb.inventory(clients)  # one frame, `instance` first
    editor = bb.widgets.Editor(fleet)
    editor.filters["instance"].value = "staging"
    editor.intents["timeout"].value = Intent.SET
    editor.values["timeout"].value = "4321"
    assert editor.add() > 0
    editor.filters["instance"].value = "eu"
    assert editor.add() > 0
    staging, eu = (int((editor.changes["instance"] == n).sum()) for n in ("staging", "eu"))
    panel = bb.widgets.RunPanel(editor, clients, folder=tmp_path)
    panel.plan_button.click()
    assert panel.planned is not None, panel.status.value
    assert set(panel.planned["instance"]) == {"staging", "eu"} and "in parallel" in panel.status.value
    panel.confirm.value = True
    panel.apply_button.click()
    results = panel.wait(60)
    assert panel.error is None and results is not None, panel.status.value
    assert (results["status"] == "updated").all()
    cells = instance_cells(panel.counts.value)
    assert cells["staging"]["sent"] == f"{staging}/{staging}" and cells["staging"]["updated"] == str(staging)
    assert cells["eu"]["updated"] == str(eu) and cells["prod"]["sent"] == "0/0" and cells["prod"]["updated"] == ""
    assert cells["total"]["updated"] == str(staging + eu)
    prod, staged, europe = sandboxes
    for row in editor.changes.itertuples():
        server = {"staging": staged, "eu": europe}[row.instance]
        assert server.config(row.backup_uuid)["timeout"] == 4321
        if row.instance == "staging":  # the same uuid on prod: never touched
            assert prod.config(row.backup_uuid)["timeout"] != 4321
    assert prod.patch_bodies == []
    # The files keep the instance of every row: the undo puts each back on its own instance.
    on_disk = bb.read_changes(panel.files["undo"])
    assert list(on_disk["instance"]) == list(editor.changes["instance"])
    shown = html.unescape(panel.results_view.value)
    assert "staging" in shown and "eu" in shown


def test_the_final_counts_per_instance_are_the_results_and_name_a_stopped_instance():
    from bulkbackup._core.events import InstanceFacts, RunFacts
    from bulkbackup.widgets._counts import LiveCounts

    live = LiveCounts()
    live.begin({"prod": 2, "staging": 2}, ("prod", "staging"))
    live.listen(RowFinished(RowRef(0, 0, None, "d", "b", instance="prod"), RowResult("updated")))  # one heard
    results = pd.DataFrame(
        {"instance": ["prod", "prod", "staging", "staging"], "status": ["updated", "updated", "rejected", "skipped"]}
    )
    staging = InstanceFacts("http://127.0.0.1:1/api/v1", stopped="401 <Unauthenticated.>")
    results.attrs["run"] = RunFacts(instances={"prod": InstanceFacts("http://127.0.0.1:2/api/v1"), "staging": staging})
    live.settle(results)
    markup = live.html(final=True)
    cells = instance_cells(markup)
    assert cells["prod"] == {"sent": "2/2", "updated": "2", "rejected": "", "skipped": "", "note": ""}
    assert cells["staging"] == {
        "sent": "1/2",  # the rejected row went out; the skipped one did not
        "updated": "",
        "rejected": "1",
        "skipped": "1",
        "note": "stopped: 401 <Unauthenticated.>",
    }
    assert "&lt;Unauthenticated.&gt;" in markup and "<Unauthenticated" not in markup
    assert cells["total"]["sent"] == "3/4" and live.sent == 3
