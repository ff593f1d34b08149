"""bb.style(), the default notebook display of plan/results/inventory frames, and bb.summary() as a table."""

from __future__ import annotations

import html as html_module
import json
import re
import subprocess
import sys
import textwrap

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

import bulkbackup as bb
from bulkbackup._core.events import RunFacts
from bulkbackup._core.statuses import ACTION_COLOURS, STATUS_INFO, Action, Status
from bulkbackup._display.styling import MAX_ROWS, kind


def visible(markup: str) -> str:
    """The text a reader sees in styled HTML: a line per <div>/<br>, tags dropped, entities (and &nbsp;) read."""
    text = re.sub(r"<br>|</div>", "\n", markup)
    text = re.sub(r"<style.*?</style>|<[^>]+>", "", text, flags=re.S)
    return html_module.unescape(text).replace("\xa0", " ")


def painted(html: str, background: str, foreground: str) -> int:
    """How many style rules or inline styles pair this background with this text colour."""
    return len(re.findall(rf"background-color: {background};\s*color: {foreground};", html))


@pytest.fixture
def fleet(client):
    return bb.inventory(client)


def test_plan_diff_one_change_per_line_in_action_colours(client, fleet):
    changes = fleet[["database_uuid", "backup_uuid"]].head(3).assign(frequency="17 2 * * *", timeout=7200)
    plan = bb.plan(changes, client)
    before = plan.copy(deep=True)
    html = bb.style(plan).to_html()
    pd.testing.assert_frame_equal(plan, before)  # never changes the frame
    assert plan.attrs == before.attrs
    first = fleet.iloc[0]
    assert f"frequency: {first.frequency} → 17 2 * * *\ntimeout: {first.timeout} → 7200" in visible(html)
    assert painted(html, *ACTION_COLOURS[Action.UPDATE])


def test_the_plan_reads_who_then_what_and_says_it_once(client, fleet):
    changes = fleet[["database_uuid", "backup_uuid"]].head(2).assign(frequency="17 2 * * *")
    plan = bb.plan(changes, client)
    html = bb.style(plan).to_html()
    headers = re.findall(r'<th [^>]*class="col_heading[^"]*"[^>]*>([^<]*)</th>', html)
    assert headers == ["database", "action", "diff", "uuids"]  # no payload/before (the diff says it), no empty line
    text = visible(html)
    first = fleet.iloc[0]
    assert first.database_name in text and first.database_type.removeprefix("standalone-") in text
    assert "frequency = " not in text and '"frequency"' not in html
    # uuids shortened in the display, whole in the tooltip and in the frame
    assert first.backup_uuid not in text and f'title="{first.backup_uuid}"' in html
    assert first.backup_uuid[:8] + "…" in text and plan["backup_uuid"].iloc[0] == first.backup_uuid
    # each diff line on one line, never broken inside a value
    lines = re.findall(r'<div style="([^"]*)"><span[^>]*>frequency:</span>([^<]*)<b>([^<]*)</b>', html)
    assert lines and all("white-space: nowrap" in css for css, _, _ in lines)
    assert all(" " not in value for _, _, value in lines)  # spaces inside a cron expression are non-breaking


def test_line_is_shown_only_when_rows_came_from_a_file(client, fleet, tmp_path):
    changes = fleet[["database_uuid", "backup_uuid"]].head(2).assign(timeout=7200)
    assert "line" not in visible(bb.style(bb.plan(changes, client)).to_html()).split()
    path = tmp_path / "changes.csv"
    changes.to_csv(path, index=False)
    html = bb.style(bb.plan(path, client)).to_html()
    assert re.search(r'<th [^>]*class="col_heading[^"]*"[^>]*>line</th>', html)


def test_a_long_diff_is_never_cut(client, fleet):
    long_names = ",".join(f"database_{i:03d}" for i in range(40))
    changes = fleet[["database_uuid", "backup_uuid"]].head(1).assign(databases_to_backup=long_names)
    assert long_names in bb.style(bb.plan(changes, client)).to_html()


def test_value_holding_a_semicolon_stays_on_its_line():
    plan = bb.plan(pd.DataFrame({"database_uuid": ["d1"], "backup_uuid": ["b1"], "frequency": ["0 3 * * *"]}))
    plan.loc[0, "diff"] = "databases_to_backup: a; b → c; timeout: 60 → 120"
    assert "databases_to_backup: a; b → c\ntimeout: 60 → 120" in visible(bb.style(plan).to_html())


def test_every_error_on_its_own_line():
    changes = {"database_uuid": ["d1"], "backup_uuid": ["b1"], "timeout": [5], "enabled": ["maybe"]}
    html = bb.style(bb.plan(pd.DataFrame(changes))).to_html()
    assert "(write true/false, yes/no or 1/0)\n<DataFrame> row 0: column 'timeout'" in visible(html)


def test_user_data_is_escaped(client, fleet):
    changes = (
        fleet[["database_uuid", "backup_uuid"]]
        .head(2)
        .assign(databases_to_backup=["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"])
    )
    plan = bb.plan(changes, client)
    assert (plan["action"] == "invalid").all()  # the server's shell-character rule refuses both
    html = bb.style(plan).to_html()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert painted(html, *ACTION_COLOURS[Action.INVALID])

    named = fleet.head(3).copy()
    named.loc[named.index[0], "database_name"] = "<script>alert(2)</script>"
    named.index = ["<b>label</b>", "x", "y"]
    named["<i>col</i>"] = 1
    html = bb.style(named).to_html()
    assert "<script>" not in html and "<b>label" not in html and "<i>col" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_results_status_colours_and_json_lists(client, fleet):
    changes = fleet[["database_uuid", "backup_uuid"]].head(3).assign(timeout=[7200, 10, 7200])
    results = bb.apply(changes, client, progress=False)
    assert list(results["status"]) == ["updated", "invalid", "updated"]
    html = bb.style(results).to_html()
    for status in (Status.UPDATED, Status.INVALID):
        info = STATUS_INFO[status]
        assert painted(html, info.background, info.foreground)
    first = fleet.iloc[0]
    assert f"timeout: {first.timeout} → 7200" in visible(html) and '{"timeout"' not in html
    assert "Database backup configuration updatedHTTP 200 · 1 attempt" in visible(html).replace("\n", "")
    assert "· verified" in visible(html) and "not verified" not in visible(html)
    doubted = results.copy()
    doubted.loc[0, "verified"] = False
    assert "HTTP 200 · 1 attempt · not verified" in visible(bb.style(doubted).to_html())
    # the invalid row's message and why, together
    assert "not sent: invalid row<DataFrame> row 1: column 'timeout'" in visible(html).replace("\n", "")


def test_inventory_is_styled_too(fleet):
    fleet = fleet.copy()
    fleet.loc[fleet.index[0], "enabled"] = False
    assert kind(fleet) == "inventory"
    html = bb.style(fleet).to_html()
    assert painted(html, STATUS_INFO[Status.SKIPPED].background, STATUS_INFO[Status.SKIPPED].foreground)


def test_big_frames_show_the_first_rows_with_a_note():
    rows = MAX_ROWS + 1
    plan = bb.plan(pd.DataFrame({"database_uuid": [f"d{i}" for i in range(rows)], "backup_uuid": "b", "timeout": 600}))
    html = bb.style(plan).to_html()
    assert f"showing {MAX_ROWS:,} of {rows:,} rows" in html
    assert f">d{MAX_ROWS - 1}<" in html and f">d{MAX_ROWS}<" not in html
    assert "showing" not in bb.style(plan.head(10)).to_html()
    assert "showing 3 of 10 rows" in bb.style(plan.head(10), max_rows=3).to_html()
    assert f">d{MAX_ROWS}<" in bb.style(plan, max_rows=None).to_html()


def test_duplicate_index_labels_are_shown_and_coloured():
    plan = bb.plan(pd.DataFrame({"database_uuid": ["d1", "d2"], "backup_uuid": ["b1", "b2"], "timeout": [600, 5]}))
    doubled = pd.concat([plan, plan])
    assert not doubled.index.is_unique
    html = bb.style(doubled).to_html()
    assert painted(html, *ACTION_COLOURS[Action.INVALID]) >= 1
    assert html.count(">invalid<") == 2


def test_odd_frames_are_escaped_not_refused():
    doubled = pd.DataFrame([["<a>", "update", "x"]], columns=["diff", "action", "action"])
    html = bb.style(doubled).to_html()
    assert "&lt;a&gt;" in html and "<a>" not in html
    odd = pd.DataFrame({"status": [None, float("nan"), "nonsense"], "message": ["", "", ""]})
    assert bb.style(odd).to_html().count(">nonsense<") == 1


def test_kind_by_mark_or_columns(fleet):
    assert fleet.attrs["bulkbackup"] == "inventory"
    plan = bb.plan(fleet.head(2))
    assert plan.attrs["bulkbackup"] == "plan" and kind(plan) == "plan"
    unmarked = pd.DataFrame(plan)
    unmarked.attrs = {}
    assert kind(unmarked) == "plan"
    assert kind(pd.DataFrame({"a": [1]})) is None
    assert "&lt;x&gt;" in bb.style(pd.DataFrame({"a": ["<x>"]})).to_html()
    with pytest.raises(TypeError):
        bb.style([1, 2])


def test_summary_is_a_dict_with_the_stop_reason():
    results = pd.DataFrame({"status": ["updated", "skipped", "updated", "invalid"]})
    results.attrs["run"] = RunFacts(stopped="401 <Unauthenticated.>")
    summary = bb.summary(results)
    assert summary == {"updated": 2, "invalid": 1, "skipped": 1}
    assert list(summary) == ["updated", "invalid", "skipped"]
    assert isinstance(summary, dict) and summary.stopped == "401 <Unauthenticated.>"
    html = summary._repr_html_()
    assert "401 &lt;Unauthenticated.&gt;" in html and "<Unauthenticated" not in html
    info = STATUS_INFO[Status.SKIPPED]
    assert painted(html, info.background, info.foreground) and ">4<" in html

    results.attrs["run"] = RunFacts(stopped="the stop button", interrupted=False)
    assert bb.summary(results).stopped == "the stop button"
    results.attrs["run"] = RunFacts()
    assert bb.summary(results).stopped is None
    assert "run stopped:" not in bb.summary(results)._repr_html_()
    results.attrs["run"] = RunFacts(verification="failed: 1 row does not hold what was sent")
    summary = bb.summary(results)
    assert summary.verification.startswith("failed") and "after-run check failed: 1 row" in summary._repr_html_()


SHELL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    import pandas as pd
    import bulkbackup as bb
    changes = {"database_uuid": ["d1", "d2"], "backup_uuid": ["b1", "<b2>"], "timeout": [7200, 7200]}
    plan = bb.plan(pd.DataFrame(changes))
    plain = pd.DataFrame({"a": ["<x>"]})
    out = {
        "plan": shell.display_formatter.format(plan)[0],
        "plain": shell.display_formatter.format(plain)[0],
        "pandas": plain._repr_html_(),
        "type": type(plan).__name__,
        "matplotlib": "matplotlib" in sys.modules,
    }
    print(json.dumps(out))
    """
)


def test_ipython_displays_marked_frames_styled_and_others_as_pandas_does():
    done = subprocess.run([sys.executable, "-c", SHELL_SCRIPT], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    plan_html = out["plan"]["text/html"]
    assert painted(plan_html, *ACTION_COLOURS[Action.UPDATE]) and "timeout: → 7200" in visible(plan_html)
    assert "&lt;b2&gt;" in plan_html and "<b2>" not in plan_html
    assert "text/plain" in out["plan"]  # still a DataFrame for every other front-end
    assert out["plain"]["text/html"] == out["pandas"]
    assert out["type"] == "DataFrame" and out["matplotlib"] is False


NOTEBOOK_CELLS = [
    "import pandas as pd\nimport bulkbackup as bb\n"
    "sandbox = bb.sandbox.Sandbox(databases=5, seed=0)\nsandbox.__enter__()\n"
    "client = bb.Client(sandbox.endpoint, sandbox.token)",
    "fleet = bb.inventory(client)\n"
    "plan = bb.plan(fleet[['database_uuid', 'backup_uuid']].head(3).assign(timeout=7200), client)\nplan",
    "pd.DataFrame({'a': [1, 2]})",
    "results = bb.apply(plan, client, progress=False)\nbb.summary(results)",
    "bb.schedule_map(fleet, bb.stagger(fleet))",
    "sandbox.__exit__(None, None, None)",
]


def test_a_notebook_shows_plans_styled(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [cell.outputs for cell in notebook.cells]
    assert not [o for cell in outputs for o in cell if o.output_type == "error"]
    plan_html = outputs[1][0]["data"]["text/html"]
    assert painted(plan_html, *ACTION_COLOURS[Action.UPDATE]) and "→ 7200" in visible(plan_html)
    plain_html = outputs[2][0]["data"]["text/html"]
    assert 'class="dataframe"' in plain_html and "background-color" not in plain_html
    summary_html = outputs[3][0]["data"]["text/html"]
    assert "bulkbackup-summary" in summary_html and ">updated<" in summary_html
    # The figure shows once, as the cell's result (schedule_map closes it so the inline backend does not repeat it).
    assert [o.output_type for o in outputs[4]] == ["execute_result"] and "image/png" in outputs[4][0]["data"]


def test_the_progress_bar_says_what_it_waits_for_and_counts_the_waits_in_its_estimate():
    from bulkbackup._core.events import RowFinished, RowRef, RowResult, RunStarted, Waiting
    from bulkbackup._display.progress import ProgressBar

    bar = ProgressBar(show=True)
    bar(RunStarted(None, None, "", total=3, to_send=3, dry_run=False, server_version=None, started_at=""))
    assert bar.bar.smoothing == 0  # the average since the start: waits included
    bar(Waiting(28.0))
    assert "waiting 28s for the server's rate-limit window" in str(bar.bar)
    bar(RowFinished(RowRef(0, 0, None, "d", "b"), RowResult("updated")))
    assert "waiting" not in str(bar.bar) and bar.bar.n == 1
    bar.bar.close()


# --- several instances: the `instance` column (after `line`, as plan and results frames of several place it) ---------


def with_instances(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    out = frame.copy()
    out.insert(int("line" in out.columns), "instance", names)
    out.attrs = frame.attrs
    return out


def test_a_plan_of_several_instances_shows_the_instance_first(client, fleet):
    changes = fleet[["database_uuid", "backup_uuid"]].head(2).assign(frequency="17 2 * * *")
    plan = with_instances(bb.plan(changes, client), ["prod", "<b>staging</b>"])
    html = bb.style(plan).to_html()
    headers = re.findall(r'<th [^>]*class="col_heading[^"]*"[^>]*>([^<]*)</th>', html)
    assert headers == ["instance", "database", "action", "diff", "uuids"]
    text = visible(html)
    assert "prod" in text and "<b>staging</b>" in text and "<b>staging" not in html  # escaped, as every value
    # once: in its own column, not again under the database's name
    assert text.count("prod") == 1


def test_results_of_several_instances_show_the_instance_and_count_per_instance(client, fleet):
    changes = fleet[["database_uuid", "backup_uuid"]].head(3).assign(timeout=[4000, 4000, 30])
    results = bb.apply(changes, client, progress=False)
    results = with_instances(results, ["prod", "staging", "staging"])
    results.attrs["run"] = RunFacts(stopped="staging: 401 Unauthenticated.")
    html = bb.style(results).to_html()
    headers = re.findall(r'<th [^>]*class="col_heading[^"]*"[^>]*>([^<]*)</th>', html)
    assert headers[:2] == ["instance", "status"] and "staging" in visible(html)
    summary = bb.summary(results)
    assert summary == {"updated": 2, "invalid": 1}
    assert summary.instances == {"prod": {"updated": 1}, "staging": {"updated": 1, "invalid": 1}}
    table = summary._repr_html_()
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table.split("</tr>")[0])
    assert heads == ["", "prod", "staging", "total", ""]
    invalid = re.search(r"<tr><td[^>]*>invalid</td>(.*?)</tr>", table).group(1)
    assert re.findall(r">([^<]*)</td>", invalid)[:3] == ["", "1", "1"]  # none on prod, one on staging, one in all
    assert "run stopped: staging: 401 Unauthenticated." in table and 'colspan="5"' in table
    assert bb.summary(results.drop(columns="instance")).instances == {}
