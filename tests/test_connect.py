"""bb.connect(): the environment, then coolify-cli's config, then (only in a notebook) a hidden prompt."""

from __future__ import annotations

import json
import os
import sys
import types

import pytest

import bulkbackup as bb
import bulkbackup._coolify.credentials as credentials

SECRET = "7|s3cr3tT0kenValueThatMustNeverShow0123456789"


@pytest.fixture
def home(tmp_path):
    """An environment with a HOME of its own and no Coolify variables: nothing configured."""
    return {"HOME": str(tmp_path)}


@pytest.fixture
def prompts(monkeypatch):
    """input() and getpass.getpass() answered from lists; every prompt text recorded."""
    asked: dict[str, list[str]] = {"input": [], "getpass": []}
    answers: dict[str, list[str]] = {"input": [], "getpass": []}

    def answer(kind):
        def reply(text=""):
            asked[kind].append(text)
            return answers[kind].pop(0)

        return reply

    monkeypatch.setattr("builtins.input", answer("input"))
    monkeypatch.setattr("getpass.getpass", answer("getpass"))
    return types.SimpleNamespace(asked=asked, answers=answers)


@pytest.fixture
def notebook(monkeypatch):
    monkeypatch.setattr(credentials, "in_notebook", lambda: True)


def assert_hidden(client):
    for text in (repr(client), str(client), repr(client.__dict__), repr(client._auth), str(client._auth)):
        assert SECRET not in text and SECRET.partition("|")[2] not in text


def test_environment_comes_first(home, prompts, notebook, sandbox):
    env = {**home, "COOLIFY_ENDPOINT": sandbox.url, "COOLIFY_TOKEN": sandbox.token}
    with bb.connect(environ=env) as client:
        assert client.endpoint == sandbox.endpoint
        assert len(client.list_projects()) >= 2
    assert prompts.asked == {"input": [], "getpass": []}


def test_coolify_cli_config_comes_next(home, prompts, notebook, tmp_path, sandbox):
    config = tmp_path / ".config" / "coolify" / "config.json"
    config.parent.mkdir(parents=True)
    instance = {"name": "local", "fqdn": sandbox.url, "token": sandbox.token, "default": True}
    config.write_text(json.dumps({"instances": [instance]}))
    with bb.connect(environ=home) as client:
        assert client.endpoint == sandbox.endpoint and client.version()
    assert prompts.asked == {"input": [], "getpass": []}


def test_in_a_notebook_it_asks_for_the_endpoint_and_a_hidden_token(home, prompts, notebook, sandbox):
    prompts.answers["input"].append(sandbox.url)
    prompts.answers["getpass"].append(sandbox.token)
    with bb.connect(environ=home) as client:
        assert client.endpoint == sandbox.endpoint
        assert len(bb.inventory(client)) == len(sandbox.backups)
    assert len(prompts.asked["input"]) == 1 and "token" not in prompts.asked["input"][0].lower()
    assert len(prompts.asked["getpass"]) == 1 and "token" in prompts.asked["getpass"][0].lower()


def test_the_prompted_token_is_in_no_repr(home, prompts, notebook, sandbox):
    prompts.answers["getpass"].append(SECRET)
    client = bb.connect(sandbox.url, environ=home, check=False)
    assert client.endpoint == sandbox.endpoint and prompts.asked["input"] == []
    assert_hidden(client)
    with pytest.raises(bb.AuthError) as caught:
        client.list_databases()
    assert SECRET.partition("|")[2] not in str(caught.value)
    client.close()


def test_a_wrong_token_is_said_at_connect(home, prompts, notebook, sandbox):
    # One cheap request (GET /version) at connect: the first thing a user learns is that the token is wrong.
    prompts.answers["getpass"].append(SECRET)
    with pytest.raises(bb.AuthError, match=r"connect: GET /version: 401 .*token is unknown") as caught:
        bb.connect(sandbox.url, environ=home)
    assert SECRET.partition("|")[2] not in str(caught.value) and caught.value.status == 401


def test_connect_checks_the_token_with_one_request_and_keeps_the_version(home, sandbox, monkeypatch):
    sent = []
    real = bb.Client.send

    def send(self, method, path, **kwargs):
        sent.append((method, path))
        return real(self, method, path, **kwargs)

    monkeypatch.setattr(bb.Client, "send", send)
    env = {**home, "COOLIFY_ENDPOINT": sandbox.url, "COOLIFY_TOKEN": sandbox.token}
    with bb.connect(environ=env) as client:
        assert sent == [("GET", "/version")]
        assert client.server_version()  # read at connect, not asked again
        assert sent == [("GET", "/version")]


def test_under_papermill_nothing_configured_is_the_script_error_not_a_stdin_error(home, monkeypatch):
    # nbclient and papermill run cells with allow_stdin off: getpass would raise StdinNotImplementedError.
    kernel = types.SimpleNamespace(_allow_stdin=False)
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: types.SimpleNamespace(kernel=kernel)
    monkeypatch.setitem(sys.modules, "IPython", fake)

    def no_stdin(*args, **kwargs):
        raise RuntimeError("StdinNotImplementedError: raw_input was called, but this frontend does not support input")

    monkeypatch.setattr("builtins.input", no_stdin)
    monkeypatch.setattr("getpass.getpass", no_stdin)
    assert credentials.in_notebook() is True and credentials.can_prompt() is False
    with pytest.raises(bb.ConfigError, match="no Coolify instance configured: COOLIFY_ENDPOINT and COOLIFY_TOKEN"):
        bb.connect(environ=home)
    kernel._allow_stdin = True  # a person at JupyterLab: asked
    with pytest.raises(RuntimeError, match="StdinNotImplementedError"):
        bb.connect(environ=home)


def test_an_endpoint_from_the_environment_is_not_asked_again(home, prompts, notebook, sandbox):
    prompts.answers["getpass"].append(sandbox.token)
    with bb.connect(environ={**home, "COOLIFY_ENDPOINT": sandbox.url}) as client:
        assert client.version()
    assert prompts.asked["input"] == [] and len(prompts.asked["getpass"]) == 1


def test_outside_a_notebook_nothing_configured_is_the_usual_error(home, prompts, monkeypatch):
    monkeypatch.setattr(credentials, "in_notebook", lambda: False)
    with pytest.raises(bb.ConfigError, match="no Coolify instance configured: COOLIFY_ENDPOINT and COOLIFY_TOKEN"):
        bb.connect(environ=home)
    with pytest.raises(bb.ConfigError, match="no API token for https://coolify.example.com: set COOLIFY_TOKEN"):
        bb.connect("https://coolify.example.com", environ=home)
    assert prompts.asked == {"input": [], "getpass": []}


def test_a_broken_config_or_a_named_context_is_reported_not_prompted(home, prompts, notebook, tmp_path):
    with pytest.raises(bb.ConfigError, match="context 'prod' was asked for"):
        bb.connect(context="prod", environ=home)
    config = tmp_path / ".config" / "coolify" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text("{not json")
    with pytest.raises(bb.ConfigError, match="is not valid JSON"):
        bb.connect(environ=home)
    assert prompts.asked == {"input": [], "getpass": []}


def test_empty_or_unusable_answers_are_clear_errors(home, prompts, notebook):
    prompts.answers["input"].extend(["", "http://coolify.example.com"])
    with pytest.raises(bb.ConfigError, match="no Coolify address given"):
        bb.connect(environ=home)
    with pytest.raises(bb.ConfigError, match="refusing to send the API token over plain http"):
        bb.connect(environ=home)
    assert prompts.asked["getpass"] == []  # a bad address is reported before the token is asked for
    prompts.answers["getpass"].extend(["  ", "has space " + SECRET])
    with pytest.raises(bb.ConfigError, match="no API token given"):
        bb.connect("https://coolify.example.com", environ=home)
    with pytest.raises(bb.ConfigError, match="spaces") as caught:
        bb.connect("https://coolify.example.com", environ=home)
    assert SECRET not in str(caught.value)


def test_prompt_can_be_forced_on_and_off(home, prompts, monkeypatch, sandbox):
    monkeypatch.setattr(credentials, "in_notebook", lambda: True)
    with pytest.raises(bb.ConfigError):
        bb.connect(environ=home, prompt=False)
    monkeypatch.setattr(credentials, "in_notebook", lambda: False)
    prompts.answers["input"].append(sandbox.url)
    prompts.answers["getpass"].append(sandbox.token)
    with bb.connect(environ=home, prompt=True) as client:
        assert client.version()


class _Shell:
    def __init__(self, kernel):
        self.kernel = kernel


def test_notebook_detection_needs_a_kernel_and_never_imports_ipython(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert credentials.in_notebook() is False and "IPython" not in sys.modules
    fake = types.ModuleType("IPython")
    monkeypatch.setitem(sys.modules, "IPython", fake)
    fake.get_ipython = lambda: None  # imported, but no shell running
    assert credentials.in_notebook() is False
    fake.get_ipython = lambda: _Shell(kernel=None)  # terminal IPython
    assert credentials.in_notebook() is False
    fake.get_ipython = lambda: _Shell(kernel=object())  # a Jupyter kernel
    assert credentials.in_notebook() is True


def test_in_a_real_kernel_the_token_prompt_is_a_password_field_and_never_shows(sandbox, tmp_path):
    """ipykernel turns getpass into an input_request with password=True: the front-end masks it, and it is no output."""
    from jupyter_client.manager import start_new_kernel

    env = {key: value for key, value in os.environ.items() if not key.startswith("COOLIFY_")}
    env["HOME"] = str(tmp_path)  # no coolify-cli config there
    manager, kernel = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        code = "import bulkbackup as bb\nclient = bb.connect()\nprint(len(bb.inventory(client)), repr(client))"
        message_id = kernel.execute(code, allow_stdin=True)
        requests = []
        for answer in (sandbox.url, sandbox.token):
            request = kernel.get_stdin_msg(timeout=60)["content"]
            requests.append(request)
            kernel.input(answer)
        reply = kernel.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != message_id:  # a late kernel_info_reply from the start-up
            reply = kernel.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "ok", reply
        assert [r["password"] for r in requests] == [False, True]
        assert "token" in requests[1]["prompt"].lower()
        shown = []
        while True:
            message = kernel.get_iopub_msg(timeout=10)
            if message["parent_header"].get("msg_id") != message_id:
                continue
            shown.append(json.dumps(message["content"]))
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
        outputs = "".join(shown)
        assert f"{len(sandbox.backups)} Client(name=" in outputs
        assert sandbox.token.partition("|")[2] not in outputs
    finally:
        kernel.stop_channels()
        manager.shutdown_kernel(now=True)


def test_under_nbclient_a_real_kernel_gives_the_config_error(tmp_path, monkeypatch):
    # What papermill does: a real kernel, cells run with allow_stdin off.
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("COOLIFY_ENDPOINT", "COOLIFY_TOKEN", "COOLIFY_URL"):
        monkeypatch.delenv(name, raising=False)
    code = (
        "import bulkbackup as bb\n"
        "try:\n"
        "    bb.connect()\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in notebook.cells[0].outputs)
    assert text.startswith("ConfigError no Coolify instance configured"), text
    assert "Stdin" not in text
