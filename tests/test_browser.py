"""The notebooks in a real browser: JupyterLab and Notebook 7, driven by Playwright with Chromium.

The sandbox runs in this process; the Jupyter server (and so the notebook's kernel) gets its endpoint and token
through COOLIFY_ENDPOINT/COOLIFY_TOKEN, so the notebooks take their configured-instance path. In
notebooks/03-widgets.ipynb the test clicks through the editor and the run panel as a user would, then checks the
sandbox's state and the downloaded results; notebooks/04-migration.ipynb runs all, draws its schedule maps and,
on a configured instance, sends nothing. Waits are on elements and kernel state, never on sleeps.

Screenshots (editor, run panel, schedule map) go to pytest's temporary folder, so a test run leaves the work tree
clean; with BULKBACKUP_SCREENSHOTS=1 they go to docs/screenshots/, where the README shows them:
`BULKBACKUP_SCREENSHOTS=1 python -m pytest tests/test_browser.py` refreshes the committed ones.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import bulkbackup as bb
from bulkbackup.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "03-widgets.ipynb"
QUICKSTART = ROOT / "notebooks" / "01-quickstart.ipynb"
MIGRATION = ROOT / "notebooks" / "04-migration.ipynb"
INSTANCES = ROOT / "notebooks" / "07-instances.ipynb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # Debian's Chromium only: never download one

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser extra is not installed (playwright)")
pytest.importorskip("jupyterlab", reason="the browser extra is not installed (jupyterlab)")
pytest.importorskip("notebook", reason="the browser extra is not installed (notebook 7)")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's chromium (.ci/run does) to run the browser tests",
        allow_module_level=True,
    )

pytestmark = pytest.mark.timeout(600)

# What each front-end sets through the editor: a different frequency each, so each run changes the sandbox.
FRONT_ENDS = {
    "jupyterlab": ("/lab/tree/{path}", "15 1 * * *"),
    "notebook7": ("/notebooks/{path}", "45 4 * * *"),
}
DATABASE_TYPE = "standalone-mysql"


FORGET_INSTANCE = 'import os\nos.environ.pop("COOLIFY_ENDPOINT", None)\nos.environ.pop("COOLIFY_TOKEN", None)'


# The run panel over three instances: eu's server allows 4 requests per 4-second window, so its rows wait for it
# while prod's and staging's are done — the counts per instance show both.
SEVERAL_PANEL = [
    textwrap.dedent(
        """
        import bulkbackup as bb

        sandboxes = bb.sandbox.Sandbox.many(
            3, databases=20, seed=[0, 0, 1], name=["prod", "staging", "eu"],
            rate_limit=[100_000, 100_000, 4], window=[60, 60, 4],
        ).start()
        clients = [bb.Client(s.endpoint, s.token, name=s.name) for s in sandboxes]
        fleet = bb.inventory(clients)
        editor = bb.widgets.Editor(fleet)
        editor
        """
    ).strip(),
    "panel = bb.widgets.RunPanel(editor, clients)\npanel",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_settings(folder: Path) -> None:
    """User settings both front-ends read: every cell in the DOM (windowing off), no news or update prompts."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": (
            '{"fetchNews": "false", "checkForUpdates": false}'
        ),
    }
    for name, text in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """docs/screenshots/ with BULKBACKUP_SCREENSHOTS=1, else a temporary folder (the work tree stays clean)."""
    if os.environ.get("BULKBACKUP_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def sandbox():
    # The fleet 04-migration is written for (80 databases, seed 0): its schedule map shows ten daily backups moved.
    with Sandbox(databases=80, seed=0, rate_limit=100_000, job_delay=0.05) as running:
        yield running


@pytest.fixture(scope="module")
def jupyter(sandbox, tmp_path_factory):
    """A Jupyter server on 127.0.0.1 serving a folder with one copy of the notebook per front-end."""
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    for front_end in FRONT_ENDS:
        (root / front_end).mkdir(parents=True)
        shutil.copy(NOTEBOOK, root / front_end / NOTEBOOK.name)
    (root / "migration").mkdir()
    shutil.copy(MIGRATION, root / "migration" / MIGRATION.name)
    (root / "quickstart").mkdir()
    shutil.copy(QUICKSTART, root / "quickstart" / QUICKSTART.name)
    # 03-widgets on its own sandbox, as a user without a Coolify runs it: the server's COOLIFY_* are dropped first.
    (root / "interactive").mkdir()
    own = nbformat.read(NOTEBOOK, as_version=4)
    own.cells.insert(0, nbformat.v4.new_code_cell(FORGET_INSTANCE))
    nbformat.write(own, root / "interactive" / NOTEBOOK.name)
    # 07-instances and the run panel over several instances on their own three sandboxes (in the kernel).
    (root / "instances").mkdir()
    several = nbformat.read(INSTANCES, as_version=4)
    several.cells.insert(0, nbformat.v4.new_code_cell(FORGET_INSTANCE))
    nbformat.write(several, root / "instances" / INSTANCES.name)
    panel = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in SEVERAL_PANEL])
    panel.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(panel, root / "instances" / "panel.ipynb")
    write_settings(base / "settings")
    port = free_port()
    config = base / "jupyter_server_config.py"
    config.write_text(
        textwrap.dedent(
            f"""
            from jupyterlab.galata import configure_jupyter_server

            configure_jupyter_server(c)
            c.ServerApp.ip = "127.0.0.1"
            c.ServerApp.port = {port}
            c.ServerApp.root_dir = {str(root)!r}
            c.LabServerApp.user_settings_dir = {str(base / "settings")!r}
            c.ServerApp.allow_root = True  # CI runs as root
            c.LabApp.news_url = None
            c.LabApp.extension_manager = "readonly"  # the default one asks PyPI: nothing leaves 127.0.0.1
            c.JupyterNotebookApp.expose_app_in_browser = True
            """
        )
    )
    env = dict(
        os.environ,
        COOLIFY_ENDPOINT=sandbox.endpoint,
        COOLIFY_TOKEN=sandbox.token,
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    log = (base / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", f"--config={config}"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, base / "server.log")
        yield url, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def wait_for_server(url: str, server: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    import requests

    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 only: no proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the Jupyter server exited:\n{log.read_text()[-3000:]}"
        try:
            if session.get(f"{url}/api/status", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)  # polling the condition "the server answers": no other event says it is up
    raise AssertionError(f"the Jupyter server did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


ALL_CELLS_RAN = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""
KERNEL_IDLE = """() => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = widget && widget.sessionContext && widget.sessionContext.session
        && widget.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}"""


# The reader: a 1280 px screen, JupyterLab with its file browser open.
READER = {"width": 1280, "height": 900}
OPEN_FILE_BROWSER = """() => {
    window.jupyterapp.shell.activateById('filebrowser');
    return !window.jupyterapp.shell.leftCollapsed;
}"""
# Where the diff of a styled frame's first row is, against the box that should show it (an output area, or the run
# panel's plan view), and in how many visual lines its first `field: old → new` line is laid out.
FIRST_DIFF = """(area) => {
    const table = area.querySelector('table');
    const heads = [...table.querySelectorAll('thead tr:last-child th')].map(th => th.textContent.trim());
    const cell = table.querySelector('tbody tr').children[heads.indexOf('diff')];
    const range = document.createRange();
    const div = cell.querySelector('div');
    if (div) {
        range.selectNodeContents(div);
    } else {  // a plain text cell: its first line ends at the first newline
        const text = cell.firstChild;
        const end = text.textContent.indexOf('\\n');
        range.setStart(text, 0);
        range.setEnd(text, end < 0 ? text.textContent.length : end);
    }
    const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top).sort((a, b) => a - b);
    const lines = tops.filter((top, i) => i === 0 || top - tops[i - 1] > 6).length;
    const box = cell.getBoundingClientRect(), shown = area.getBoundingClientRect();
    return {
        headers: heads, first_line: range.toString(), lines: lines,
        cell: [Math.round(box.left), Math.round(box.right)], area: [Math.round(shown.left), Math.round(shown.right)],
        table: Math.round(table.getBoundingClientRect().width), viewport: window.innerWidth,
    };
}"""


# The results table of the run panel: its right edge, and in how many lines the first row's message is laid out.
RESULTS_FIT = """(table) => {
    const heads = [...table.querySelectorAll('thead tr:last-child th')].map(th => th.textContent.trim());
    const cell = table.querySelector('tbody tr').children[heads.indexOf('message')];
    if (!cell) return {headers: heads, html: table.outerHTML.slice(0, 3000)};
    const range = document.createRange();
    range.selectNodeContents(cell.querySelector('div').firstChild);
    const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top).sort((a, b) => a - b);
    const area = table.closest('.jp-OutputArea-output, .output_subarea') || document.body;
    return {
        message_lines: tops.filter((top, i) => i === 0 || top - tops[i - 1] > 6).length,
        table_right: Math.round(table.getBoundingClientRect().right),
        area_right: Math.round(area.getBoundingClientRect().right), headers: heads,
    };
}"""


def assert_first_diff_readable(area) -> dict:
    """The first plan row's diff is inside `area` (no horizontal scrolling to find it) and its first line is whole."""
    seen = area.evaluate(FIRST_DIFF)
    print("first diff:", seen)  # the before/after of issue 14 §1 (pytest -s shows it)
    assert seen["area"][0] <= seen["cell"][0] and seen["cell"][1] <= seen["area"][1] <= seen["viewport"], seen
    assert seen["lines"] == 1 and "→" in seen["first_line"], seen
    return seen


def setting_row(page, name: str):
    return page.locator(".bulkbackup-editor .widget-hbox").filter(has=page.locator(f"code:text-is('{name}')"))


@pytest.mark.parametrize("front_end", list(FRONT_ENDS))
def test_notebook_widgets_in_a_real_browser(front_end, jupyter, sandbox, browser, tmp_path, screenshots):
    url, root = jupyter
    route, frequency = FRONT_ENDS[front_end]
    client = bb.Client(sandbox.endpoint, sandbox.token)
    targets = bb.inventory(client)
    targets = targets[targets["database_type"] == DATABASE_TYPE]
    assert len(targets) and (targets["frequency"] != frequency).all()
    expect = sync_api.expect

    context = browser.new_context(viewport=READER, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(
            url + route.format(path=f"{front_end}/{NOTEBOOK.name}") + ("?reset" if front_end == "jupyterlab" else "")
        )
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        if front_end == "jupyterlab":
            assert page.evaluate(OPEN_FILE_BROWSER)
        # The settings took: every cell stays in the DOM (no virtual scrolling hides the widgets off screen).
        windowing = page.evaluate("window.jupyterapp.shell.currentWidget.content.notebookConfig.windowingMode")
        assert windowing == "none"
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(ALL_CELLS_RAN, timeout=180_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        editor = page.locator(".bulkbackup-editor")
        panel = page.locator(".bulkbackup-run-panel")
        expect(editor).to_be_visible(timeout=60_000)
        expect(panel).to_be_visible(timeout=60_000)
        assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()

        # The editor: a filter, a value, add to changes.
        editor.locator(".widget-dropdown").filter(has_text="Type").locator("select").select_option(DATABASE_TYPE)
        expect(editor.locator("b.bulkbackup-count")).to_have_text(str(len(targets)))
        row = setting_row(page, "frequency")
        row.locator("button", has_text="set").click()
        row.locator("input[type='text']").fill("every day")
        expect(row.locator(".bulkbackup-problem")).to_contain_text("not a valid frequency")
        row.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.screenshot(path=str(screenshots / f"editor-message-{front_end}.png"))
        row.locator("input[type='text']").fill(frequency)
        expect(row.locator(".bulkbackup-problem")).to_have_count(0)
        editor.locator("button", has_text="Add to changes").click()
        expect(editor).to_contain_text(f"added {len(targets)} configuration")
        editor.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(screenshots / f"editor-{front_end}.png"))

        # The run panel: Plan, tick, Apply, counts and results.
        apply_button = panel.locator("button", has_text="Apply")
        panel.locator("button", has_text="Plan").click()
        expect(panel).to_contain_text(f"{len(targets)} update")
        expect(apply_button).to_be_disabled()
        # The plan a person confirms is readable where they confirm it: its diff beside nothing off-screen.
        plan_view = panel.locator(".widget-html").filter(has=page.locator("table")).first
        expect(plan_view).to_contain_text("→")
        seen = assert_first_diff_readable(plan_view.element_handle())
        assert seen["first_line"].startswith("frequency:"), seen
        output = page.locator(".jp-OutputArea-output").filter(has=panel)
        assert_first_diff_readable(output.element_handle())
        panel.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(screenshots / f"run-panel-plan-{front_end}.png"))
        panel.locator("input[type='checkbox']").check()
        expect(apply_button).to_be_enabled()
        apply_button.click()
        expect(panel.locator(".bulkbackup-count[data-status='updated']")).to_have_text(
            f"updated: {len(targets)}", timeout=60_000
        )
        expect(panel.locator("table").last).to_contain_text(targets["backup_uuid"].iloc[0][:8] + "…")
        expect(panel.locator("table").last).to_contain_text(targets["database_name"].iloc[0])
        expect(panel).to_contain_text("done:")
        expect(panel.locator("table").last.locator("th", has_text="message")).to_have_count(1)
        # The results fit beside the file browser, and a short message is not wrapped over four lines.
        fit = panel.locator("table").last.evaluate(RESULTS_FIT)
        print("results:", fit)
        assert fit["message_lines"] <= 2 and fit["table_right"] <= fit["area_right"], fit
        panel.locator("table").last.evaluate("e => e.scrollIntoView({block: 'end'})")
        page.screenshot(path=str(screenshots / f"run-panel-{front_end}.png"))

        # The sandbox's state changed, and the results download has one row per configuration.
        for uuid in targets["backup_uuid"]:
            assert sandbox.config(uuid)["frequency"] == frequency
        with page.expect_download() as download:
            panel.locator("a.bulkbackup-download", has_text="results").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        results = pd.read_csv(saved)
        assert saved.name.startswith("results-") and saved.suffix == ".csv"
        assert sorted(results["backup_uuid"]) == sorted(targets["backup_uuid"])
        assert set(results["status"]) == {"updated"}
        written = list((root / front_end / "bulkbackup-runs").glob("*/results.csv"))
        assert len(written) == 1 and pd.read_csv(written[0]).equals(results)
        assert (written[0].parent / "journal.jsonl").exists()
        with page.expect_download() as download:
            panel.locator("a.bulkbackup-download", has_text="undo").click()
        undo = bb.read_changes(download.value.path())  # spreadsheet-safe CSV: read it back the way it was written
        assert sorted(undo["backup_uuid"]) == sorted(targets["backup_uuid"])
        assert sorted(undo["frequency"]) == sorted(targets["frequency"])
    finally:
        context.close()
        client.close()


def test_migration_notebook_draws_the_schedule_map_in_jupyterlab(jupyter, sandbox, browser, screenshots):
    """04-migration runs all in JupyterLab: the plan and both schedule maps render, and nothing is sent (on a
    configured instance it stops before applying)."""
    url, _ = jupyter
    expect = sync_api.expect
    sent_before, requests_before = len(sandbox.patch_bodies), sandbox.request_count
    context = browser.new_context(viewport={"width": 1700, "height": 1100})
    page = context.new_page()
    try:
        # ?reset: JupyterLab would otherwise restore the workspace of the widgets test, with its notebook open.
        page.goto(f"{url}/lab/tree/migration/{MIGRATION.name}?reset")
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(ALL_CELLS_RAN, timeout=180_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        maps = page.locator(".jp-OutputArea-output[data-mime-type='image/png'] img")
        expect(maps).to_have_count(2, timeout=60_000)
        assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
        expect(page.locator(".jp-OutputArea-output").filter(has_text="not applied")).to_have_count(1)
        expect(page.locator("table").filter(has_text="update").first).to_be_visible()
        rescheduled = maps.last
        rescheduled.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=rescheduled.element_handle())
        assert rescheduled.evaluate("img => img.naturalWidth") >= 1000
        rescheduled.screenshot(path=str(screenshots / "schedule-map.png"))
        assert sandbox.request_count > requests_before  # it read the configured instance
        assert len(sandbox.patch_bodies) == sent_before  # and sent it nothing
    finally:
        context.close()


def test_quickstart_plan_is_readable_at_1280_with_the_file_browser_open(jupyter, browser, screenshots):
    """issue 14 §1: 01-quickstart's plan, as JupyterLab shows it to a reader on a 1280 px screen."""
    url, _ = jupyter
    context = browser.new_context(viewport=READER)
    page = context.new_page()
    try:
        page.goto(f"{url}/lab/tree/quickstart/{QUICKSTART.name}?reset")
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        assert page.evaluate(OPEN_FILE_BROWSER)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(ALL_CELLS_RAN, timeout=180_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
        planned = page.locator(".jp-Cell").filter(has=page.locator(".jp-InputArea", has_text="planned = bb.plan"))
        output = planned.locator(".jp-OutputArea-output").filter(has=page.locator("table")).first
        sync_api.expect(output).to_contain_text("update")
        seen = assert_first_diff_readable(output.element_handle())
        assert seen["headers"][:4] == ["", "database", "action", "diff"], seen
        assert "payload" not in seen["headers"] and "before" not in seen["headers"] and "line" not in seen["headers"]
        planned.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(screenshots / "plan-quickstart.png"))
    finally:
        context.close()


def test_widgets_notebook_on_its_sandbox_stays_alive_after_run_all(jupyter, browser):
    """issue 13 item 14: Run All in JupyterLab, then the buttons: the notebook's own sandbox is still serving."""
    url, root = jupyter
    expect = sync_api.expect
    context = browser.new_context(viewport=READER)
    page = context.new_page()
    try:
        page.goto(f"{url}/lab/tree/interactive/{NOTEBOOK.name}?reset")
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(ALL_CELLS_RAN, timeout=180_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
        assert not (root / "interactive" / "bulkbackup-runs").exists()  # Run All applied nothing
        editor, panel = page.locator(".bulkbackup-editor"), page.locator(".bulkbackup-run-panel")
        editor.locator(".widget-dropdown").filter(has_text="Type").locator("select").select_option(DATABASE_TYPE)
        row = setting_row(page, "timeout")
        row.locator("button", has_text="set").click()
        row.locator("input[type='text']").fill("5400")
        editor.locator("button", has_text="Add to changes").click()
        expect(editor).to_contain_text("added")
        panel.locator("button", has_text="Plan").click()
        expect(panel).to_contain_text(" update")
        expect(panel.locator(".bulkbackup-problem")).to_have_count(0)
        panel.locator("input[type='checkbox']").check()
        panel.locator("button", has_text="Apply").click()
        expect(panel).to_contain_text("done:", timeout=60_000)
        expect(panel.locator(".bulkbackup-count[data-status='updated']")).to_be_visible()
        assert "connection refused" not in panel.inner_text()
    finally:
        context.close()


def run_all_in_jupyterlab(page, url: str, path: str) -> None:
    page.goto(f"{url}/lab/tree/{path}?reset")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    assert page.evaluate(OPEN_FILE_BROWSER)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(ALL_CELLS_RAN, timeout=180_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()


def test_instances_notebook_is_readable_at_1280_with_the_file_browser_open(jupyter, browser, screenshots):
    """07-instances on three sandboxes: its plan shows each row's instance first and the diff in view; the summary
    of the run counts per instance."""
    url, _ = jupyter
    context = browser.new_context(viewport=READER)
    page = context.new_page()
    try:
        run_all_in_jupyterlab(page, url, f"instances/{INSTANCES.name}")
        planned = page.locator(".jp-Cell").filter(has=page.locator(".jp-InputArea", has_text="plan = bb.plan"))
        output = planned.locator(".jp-OutputArea-output").filter(has=page.locator("table")).last
        sync_api.expect(output).to_contain_text("update")
        seen = assert_first_diff_readable(output.element_handle())
        assert seen["headers"][:5] == ["", "instance", "database", "action", "diff"], seen
        planned.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(screenshots / "instances-plan-jupyterlab.png"))
        applied = page.locator(".jp-Cell").filter(has=page.locator(".jp-InputArea", has_text="results = bb.apply"))
        summary = applied.locator("table.bulkbackup-summary")
        sync_api.expect(summary).to_contain_text("staging")
        heads = summary.locator("tr").first.locator("th").all_inner_texts()
        assert [h.strip() for h in heads] == ["", "prod", "staging", "eu", "total", ""], heads
        fits = summary.evaluate(
            "t => t.getBoundingClientRect().right <= t.closest('.jp-OutputArea-output').getBoundingClientRect().right"
        )
        assert fits
        applied.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(screenshots / "instances-results-jupyterlab.png"))
    finally:
        context.close()


def test_run_panel_counts_each_instance_at_1280_with_the_file_browser_open(jupyter, browser, screenshots):
    """The editor filters by instance; the run panel over three instances shows a table of instance × status while
    the run goes on (eu waiting for its server's window) and when it is done."""
    url, _ = jupyter
    expect = sync_api.expect
    context = browser.new_context(viewport=READER)
    page = context.new_page()
    try:
        run_all_in_jupyterlab(page, url, "instances/panel.ipynb")
        editor, panel = page.locator(".bulkbackup-editor"), page.locator(".bulkbackup-run-panel")
        expect(editor).to_be_visible(timeout=60_000)
        instance = editor.locator(".widget-dropdown").filter(has_text="Instance").locator("select")
        instance.select_option("staging")
        expect(editor.locator(".widget-html").filter(has_text="match")).to_contain_text("staging:")
        instance.select_option(label="(any)")  # picked again after another choice: shown, not a blank box
        page.wait_for_function("e => e.selectedIndex === 0", arg=instance.element_handle())
        editor.locator(".widget-dropdown").filter(has_text="Type").locator("select").select_option(DATABASE_TYPE)
        row = setting_row(page, "timeout")
        row.locator("button", has_text="set").click()
        row.locator("input[type='text']").fill("5400")
        editor.locator("button", has_text="Add to changes").click()
        expect(editor).to_contain_text("added")
        # The filters wrap beside the file browser: every one is inside the output area.
        area = page.locator(".jp-OutputArea-output").filter(has=editor)
        right = area.evaluate("e => e.getBoundingClientRect().right")
        for select in editor.locator(".widget-dropdown select").all():
            assert select.evaluate("e => e.getBoundingClientRect().right") <= right
        editor.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(screenshots / "editor-instances-jupyterlab.png"))

        panel.locator("button", has_text="Plan").click()
        expect(panel).to_contain_text("in parallel", timeout=120_000)
        panel.locator("input[type='checkbox']").check()
        panel.locator("button", has_text="Apply").click()
        counts = panel.locator("table.bulkbackup-instance-counts")
        expect(counts.locator("tr[data-instance='eu']")).to_contain_text("waiting", timeout=60_000)
        counts.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.screenshot(path=str(screenshots / "run-panel-instances-running-jupyterlab.png"))
        expect(panel).to_contain_text("done:", timeout=120_000)
        for name in ("prod", "staging", "eu"):
            expect(counts.locator(f"tr[data-instance='{name}'] [data-status='updated']")).not_to_have_text("")
        assert counts.evaluate("t => t.getBoundingClientRect().right") <= right
        results = panel.locator("table").last
        expect(results.locator("th", has_text="instance")).to_have_count(1)
        counts.evaluate("e => e.scrollIntoView({block: 'start'})")  # the counts, the files, the results
        page.screenshot(path=str(screenshots / "run-panel-instances-jupyterlab.png"))
    finally:
        context.close()
