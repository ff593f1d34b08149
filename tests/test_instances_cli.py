"""Several Coolify instances from coolify-cli's config: `bb.connect(all_contexts=True)`, `--context` repeated and
`--all-contexts` on the command line, against three sandboxes over real HTTP (two seeded alike: their uuids
collide, as instances restored from one backup do)."""

from __future__ import annotations

import json

import pytest

import bulkbackup as bb
from bulkbackup._cli.cli import main
from bulkbackup.sandbox import Sandbox

NAMES = ["prod", "staging", "eu"]
WRONG = "9|wrongTokenThatMustNeverShow0123456789abcdef"


@pytest.fixture(scope="module")
def three():
    with Sandbox.many(3, databases=6, seed=[0, 0, 1], rate_limit=100_000, job_delay=0.05) as sandboxes:
        yield sandboxes


def write_config(path, sandboxes, *, tokens=None):
    instances = [
        {"name": name, "fqdn": s.url, "token": (tokens or {}).get(name, s.token), "default": name == "prod"}
        for name, s in zip(NAMES, sandboxes, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"instances": instances}))
    return path


@pytest.fixture
def home(tmp_path, monkeypatch, three):
    """A HOME whose coolify-cli config holds the three contexts, and no Coolify variables."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("COOLIFY_ENDPOINT", "COOLIFY_TOKEN", "BULKBACKUP_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)
    write_config(tmp_path / ".config" / "coolify" / "config.json", three)
    return tmp_path


def config_of(home):
    return home / ".config" / "coolify" / "config.json"


# --- bb.connect ----------------------------------------------------------------------------------------------------


def test_connect_all_contexts_gives_one_client_per_context_named_after_it(home, three):
    clients = bb.connect(all_contexts=True, config_path=config_of(home))
    try:
        assert isinstance(clients, list)
        assert [c.name for c in clients] == NAMES
        assert [c.endpoint for c in clients] == [s.endpoint for s in three]
        assert all(c.server_version() for c in clients)  # each checked at connect (GET /version)
    finally:
        for client in clients:
            client.close()


def test_connect_a_list_of_contexts_gives_those_in_that_order(home, three):
    clients = bb.connect(context=["eu", "prod"], config_path=config_of(home))
    assert [(c.name, c.endpoint) for c in clients] == [("eu", three[2].endpoint), ("prod", three[0].endpoint)]
    for client in clients:
        client.close()


def test_one_context_stays_one_client_named_after_it(home, three):
    with bb.connect(context="staging", config_path=config_of(home)) as client:
        assert isinstance(client, bb.Client) and client.name == "staging" and client.endpoint == three[1].endpoint
    with bb.Client.from_env(context="eu", config_path=config_of(home)) as client:
        assert client.name == "eu"
    environ = {"HOME": str(home), "COOLIFY_ENDPOINT": three[0].url, "COOLIFY_TOKEN": three[0].token}
    with bb.connect(environ=environ) as client:
        assert client.name == f"127.0.0.1:{three[0].port}"  # not from a context: its host[:port]


def test_a_wrong_token_in_one_context_is_said_naming_that_context(home, three):
    write_config(config_of(home), three, tokens={"staging": WRONG})
    with pytest.raises(bb.AuthError) as caught:
        bb.connect(all_contexts=True, config_path=config_of(home))
    message = str(caught.value)
    assert "context 'staging'" in message and three[1].endpoint in message and "401" in message
    assert "prod" not in message and WRONG.partition("|")[2] not in message


def test_connect_refuses_all_contexts_with_a_context_and_a_context_named_twice(home):
    with pytest.raises(bb.ConfigError, match="leave out context="):
        bb.connect(all_contexts=True, context="prod", config_path=config_of(home))
    with pytest.raises(bb.ConfigError, match="'prod' is named twice"):
        bb.connect(context=["prod", "prod"], config_path=config_of(home))
    with pytest.raises(bb.ConfigError, match="no instance named 'moon'.*available: 'prod', 'staging', 'eu'"):
        bb.connect(context=["prod", "moon"], config_path=config_of(home))


# --- doctor ---------------------------------------------------------------------------------------------------------


def test_diagnose_a_list_gives_one_block_per_instance(home):
    clients = bb.connect(all_contexts=True, config_path=config_of(home))
    try:
        blocks = bb.diagnose(clients)
    finally:
        for client in clients:
            client.close()
    assert list(blocks) == NAMES
    for checks in blocks.values():
        assert checks and all(check.ok for check in checks)


def blocks_of(out: str) -> dict[str, list[str]]:
    """The doctor's output: heading line (name and address) → its indented checks."""
    blocks: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.startswith("  "):
            blocks[next(reversed(blocks))].append(line.strip())
        else:
            blocks[line.partition(" ")[0]] = []
    return blocks


def test_doctor_all_contexts_prints_a_block_per_instance(home, three, capsys):
    assert main(["doctor", "--all-contexts"]) == 0
    out = capsys.readouterr().out
    blocks = blocks_of(out)
    assert list(blocks) == NAMES
    for name, sandbox in zip(NAMES, three, strict=True):
        assert f"{name} ({sandbox.endpoint}):" in out
        assert any(line.startswith("✓ token") for line in blocks[name])


def test_doctor_says_the_wrong_token_under_its_context_only(home, three, capsys):
    write_config(config_of(home), three, tokens={"eu": WRONG})
    assert main(["doctor", "--all-contexts"]) == 1
    out = capsys.readouterr().out
    blocks = blocks_of(out)
    assert any(line.startswith("✗ token") for line in blocks["eu"])
    assert all(not line.startswith("✗") for name in ("prod", "staging") for line in blocks[name])
    assert WRONG.partition("|")[2] not in out


def test_context_repeated_takes_those_instances(home, capsys):
    assert main(["doctor", "--context", "eu", "--context", "prod"]) == 0
    assert list(blocks_of(capsys.readouterr().out)) == ["eu", "prod"]


def test_one_context_is_the_one_instance_output_of_today(home, capsys):
    assert main(["doctor", "--context", "staging"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("✓ endpoint reachable") and "staging" not in out


@pytest.mark.parametrize(
    "argv,said",
    [
        (["doctor", "--all-contexts", "--endpoint", "http://127.0.0.1:9"], "leave out --endpoint"),
        (["export", "--all-contexts", "--context", "prod"], "leave out --context"),
        (["plan", "x.csv", "--context", "prod", "--context", "eu", "--endpoint", "http://x"], "leave out --endpoint"),
        (["doctor", "--context", "prod", "--context", "prod"], "'prod' is named twice"),
    ],
)
def test_instances_named_two_ways_are_one_line_errors(home, capsys, argv, said):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and said in captured.err and "Traceback" not in captured.err


def test_apply_with_all_contexts_and_endpoint_claims_no_file_before_refusing(home, tmp_path, capsys):
    changes = tmp_path / "changes.csv"
    changes.write_text("database_uuid,backup_uuid,timeout\nd,b,3601\n")
    assert main(["apply", str(changes), "--all-contexts", "--endpoint", "http://127.0.0.1:9", "--yes"]) == 2
    assert "leave out --endpoint" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config", "changes.csv"]
