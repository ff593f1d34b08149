"""Several Coolify instances from coolify-cli's config: `bb.connect(all_contexts=True)`, `--context` repeated and
`--all-contexts` on the command line, against three sandboxes over real HTTP (two seeded alike: their uuids
collide, as instances restored from one backup do)."""

from __future__ import annotations

import json
import re
import shlex
import sys

import pandas as pd
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


def write_config(path, sandboxes, *, tokens=None, names=NAMES):
    instances = [
        {"name": name, "fqdn": s.url, "token": (tokens or {}).get(name, s.token), "default": name == "prod"}
        for name, s in zip(names, sandboxes, strict=True)
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
    with bb.connect(environ={"HOME": str(home)}) as client:  # coolify-cli's default instance: named after it too
        assert client.name == "prod" and client.endpoint == three[0].endpoint
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


def test_an_address_refused_in_one_context_is_said_naming_it(home, three, capsys):
    config = json.loads(config_of(home).read_text())
    config["instances"][2]["fqdn"] = "http://coolify.example.com"  # plain http to another machine
    config_of(home).write_text(json.dumps(config))
    with pytest.raises(bb.ConfigError, match=r"^context 'eu': .*http"):
        bb.connect(all_contexts=True, config_path=config_of(home))
    assert main(["doctor", "--all-contexts"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bulkbackup doctor: error: context 'eu': ") and err.count("\n") == 1


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
        (["doctor", "--context", "prod", "--endpoint", "http://127.0.0.1:9"], "--context names"),
        (["doctor", "--context", "prod", "--token-env", "MY_TOKEN"], "leave out --token-env MY_TOKEN"),
        (["export", "--all-contexts", "--token-env", "MY_TOKEN"], "each with its own token"),
    ],
)
def test_instances_named_two_ways_are_one_line_errors(home, capsys, argv, said):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and said in captured.err and "Traceback" not in captured.err


def test_undo_of_one_instance_refuses_several_and_carries_one_context(home, three, capsys):
    frame = exported(home, capsys, "--context", "eu").head(1)
    assert "instance" not in frame.columns  # one context: the frame of one instance, as ever
    frame.assign(timeout="4242")[["database_uuid", "backup_uuid", "timeout"]].to_csv(home / "c.csv", index=False)
    assert main(["apply", str(home / "c.csv"), "--context", "eu", "--yes", "-o", str(home / "r.csv")]) == 0
    hint = re.search(r"^to undo this run: (.*)$", capsys.readouterr().out, re.MULTILINE).group(1)
    assert shlex.split(hint)[3:] == ["--context", "eu"]  # back to eu, not to whatever the environment names
    assert main(["undo", str(home / "r.csv"), "-o", str(home / "u.csv"), "--all-contexts"]) == 2
    assert "records a run of one instance" in capsys.readouterr().err
    assert main(["undo", str(home / "r.csv"), "-o", str(home / "u.csv"), "--context", "eu"]) == 0
    hint = re.search(r"^to put them back: (.*)$", capsys.readouterr().out, re.MULTILINE).group(1)
    assert shlex.split(hint)[3:] == ["--context", "eu"]
    assert main([*shlex.split(hint)[1:], "--yes", "-o", str(home / "r2.csv")]) == 0
    assert three[2].config(frame.backup_uuid.iloc[0])["timeout"] == int(frame.timeout.iloc[0])  # put back


def test_apply_with_all_contexts_and_endpoint_claims_no_file_before_refusing(home, tmp_path, capsys):
    changes = tmp_path / "changes.csv"
    changes.write_text("database_uuid,backup_uuid,timeout\nd,b,3601\n")
    assert main(["apply", str(changes), "--all-contexts", "--endpoint", "http://127.0.0.1:9", "--yes"]) == 2
    assert "leave out --endpoint" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config", "changes.csv"]


# --- export, plan, apply over several instances ----------------------------------------------------------------------


def exported(home, capsys, *argv) -> pd.DataFrame:
    out = home / "fleet.csv"
    assert main(["export", "-o", str(out), *argv]) == 0
    capsys.readouterr()
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def test_export_all_contexts_has_an_instance_column_with_the_three_names(home, three, capsys):
    frame = exported(home, capsys, "--all-contexts")
    assert "instance" in frame.columns
    assert list(dict.fromkeys(frame["instance"])) == NAMES
    for name, sandbox in zip(NAMES, three, strict=True):
        assert len(frame[frame["instance"] == name]) == len(sandbox.backups)


def test_export_of_two_contexts_has_those_two(home, capsys):
    frame = exported(home, capsys, "--context", "staging", "--context", "eu")
    assert list(dict.fromkeys(frame["instance"])) == ["staging", "eu"]


def changes_for_all(home, capsys, three, rows: int = 2):
    """An edited export of the three instances: `rows` timeouts changed on each."""
    frame = exported(home, capsys, "--all-contexts")
    picked = frame.groupby("instance", sort=False).head(rows).copy()
    picked["timeout"] = [str(4001 + i) for i in range(len(picked))]
    path = home / "changes.csv"
    picked[["instance", "database_uuid", "backup_uuid", "timeout"]].to_csv(path, index=False)
    return path, picked


def test_plan_of_two_contexts_routes_each_row_and_refuses_the_third_instance_s(home, three, capsys):
    path, _ = changes_for_all(home, capsys, three)
    assert main(["plan", str(path), "--context", "prod", "--context", "staging", "-o", str(home / "p.csv")]) == 1
    out = capsys.readouterr().out
    assert "plan: 4 update, 2 invalid" in out and "  eu: 2 invalid" in out
    assert re.search(r"^  line 6: eu: invalid .*no client serves this instance", out, re.MULTILINE)
    planned = pd.read_csv(home / "p.csv", dtype=str, keep_default_na=False)
    assert planned.groupby("instance", sort=False)["action"].agg(set).to_dict() == {
        "prod": {"update"},
        "staging": {"update"},
        "eu": {"invalid"},
    }


def test_the_prompt_names_each_instance_and_its_count(home, three, capsys, monkeypatch):
    path, _ = changes_for_all(home, capsys, three)
    asked, before = [], [len(s.patch_bodies) for s in three]
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "n")
    assert main(["apply", str(path), "--all-contexts"]) == 2
    assert len(asked) == 1
    question = asked[0]
    assert question.startswith("Send 6 requests to 3 instances: ")
    for name, sandbox in zip(NAMES, three, strict=True):
        assert f"{name} 2 rows ({sandbox.endpoint})" in question
    assert [len(s.patch_bodies) for s in three] == before  # nothing sent


def test_a_dry_run_of_several_instances_writes_the_plan_with_its_instance_column(home, three, capsys):
    path, picked = changes_for_all(home, capsys, three)
    before = [len(s.patch_bodies) for s in three]
    assert main(["apply", str(path), "--all-contexts", "--dry-run", "-o", str(home / "plan.csv")]) == 0
    out = capsys.readouterr().out
    assert "dry run: 6 requests would be sent (nothing was sent)" in out
    assert [line.split(":")[0] for line in out.splitlines() if "requests at" in line] == NAMES  # one estimate each
    planned = pd.read_csv(home / "plan.csv", dtype=str, keep_default_na=False)
    assert planned["instance"].tolist() == picked["instance"].tolist() and set(planned["action"]) == {"update"}
    assert [len(s.patch_bodies) for s in three] == before


def test_apply_all_contexts_changes_all_three_and_says_each(home, three, capsys):
    path, picked = changes_for_all(home, capsys, three)
    exported_timeouts = [
        {uuid: sandbox.config(uuid)["timeout"] for uuid in picked[picked["instance"] == name]["backup_uuid"]}
        for name, sandbox in zip(NAMES, three, strict=True)
    ]
    results_path, before = home / "results.csv", [len(s.patch_bodies) for s in three]
    assert main(["apply", str(path), "--all-contexts", "--yes", "--results", str(results_path)]) == 0
    out = capsys.readouterr().out
    for name, sandbox, sent in zip(NAMES, three, before, strict=True):
        mine = picked[picked["instance"] == name]
        assert len(sandbox.patch_bodies) == sent + 2
        for row in mine.itertuples():
            assert sandbox.config(row.backup_uuid)["timeout"] == int(row.timeout)
        assert f"  {name} ({sandbox.endpoint}): 2 updated" in out
    results = pd.read_csv(results_path, dtype=str, keep_default_na=False)
    assert sorted(results["instance"]) == sorted(picked["instance"]) and set(results["status"]) == {"updated"}

    # The undo it hints at goes back to the same instances, each row to its own (uuids collide on prod/staging).
    hint = re.search(r"^to undo this run: (.*)$", out, re.MULTILINE).group(1)
    argv = shlex.split(hint)
    assert argv[:2] == ["bulkbackup", "apply"] and argv[-1] == "--all-contexts"
    assert main([*argv[1:], "--yes"]) == 0
    for sandbox, old in zip(three, exported_timeouts, strict=True):
        assert {uuid: sandbox.config(uuid)["timeout"] for uuid in old} == old


def test_undo_of_several_instances_says_to_apply_it_to_each_context(home, three, capsys):
    path, _ = changes_for_all(home, capsys, three, rows=1)
    assert (
        main(["apply", str(path), "--context", "eu", "--context", "staging", "--yes", "-o", str(home / "r.csv")]) == 1
    )
    capsys.readouterr()  # prod's row names no instance given: invalid, the others updated
    assert main(["undo", str(home / "r.csv"), "-o", str(home / "undo.csv")]) == 0
    out = capsys.readouterr().out
    hint = re.search(r"^to put them back: (.*)$", out, re.MULTILINE).group(1)
    assert shlex.split(hint)[3:] == ["--context", "staging", "--context", "eu"]

    # --context keeps that instance's rows, and the hint names it; --all-contexts says to apply to all.
    assert main(["undo", str(home / "r.csv"), "-o", str(home / "undo-eu.csv"), "--context", "eu"]) == 0
    out = capsys.readouterr().out
    assert "1 row of other instances left out" in out
    assert shlex.split(re.search(r"^to put them back: (.*)$", out, re.MULTILINE).group(1))[3:] == ["--context", "eu"]
    assert set(pd.read_csv(home / "undo-eu.csv", dtype=str)["instance"]) == {"eu"}
    assert main(["undo", str(home / "r.csv"), "-o", str(home / "undo-all.csv"), "--all-contexts"]) == 0
    assert re.search(r"^to put them back: .* --all-contexts$", capsys.readouterr().out, re.MULTILINE)
    # prod's row was invalid, so nothing of prod is undone: naming it is a mistake said in one line.
    assert main(["undo", str(home / "r.csv"), "-o", str(home / "undo-prod.csv"), "--context", "prod"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "records no row of that instance (it has 'staging', 'eu')" in err
    assert not (home / "undo-prod.csv").exists()


def test_check_all_contexts_groups_violations_by_instance(home, capsys):
    policy = home / "policy.toml"
    policy.write_text('[[rule]]\nid = "weekly"\nmatch = {}\nfrequency = "0 4 * * 0"\n')
    assert main(["check", str(policy), "--all-contexts"]) == 1
    heads = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith((" ", policy.name))]
    places = [line.split(" / ")[0] for line in heads if " / " in line]
    assert set(places) == set(NAMES)
    assert main(["check", str(policy), "--context", "eu", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)["violations"]
    assert found and all("instance" not in v for v in found)  # one context: the frame of one instance


def test_storages_of_two_contexts_lists_each_under_its_name(home, three, capsys):
    assert main(["storages", "--context", "eu", "--context", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.index(f"eu ({three[2].endpoint}):") < out.index(f"prod ({three[0].endpoint}):")


def test_a_wrong_token_in_one_context_leaves_the_others_rows_updated(home, three, capsys):
    path, picked = changes_for_all(home, capsys, three)
    write_config(config_of(home), three, tokens={"eu": WRONG})
    before = [len(s.patch_bodies) for s in three]
    assert main(["apply", str(path), "--all-contexts", "--yes", "-o", str(home / "r.csv")]) == 1
    out = capsys.readouterr().out
    assert [len(s.patch_bodies) - n for s, n in zip(three, before, strict=True)] == [2, 2, 0]
    assert re.search(r"^  line \d+: eu: invalid .*401", out, re.MULTILINE)  # said before the question, naming eu
    assert "  eu: 2 invalid" in out and f"  eu ({three[2].endpoint}): 2 invalid" in out  # the plan's, the run's
    results = pd.read_csv(home / "r.csv", dtype=str, keep_default_na=False)
    assert results.groupby("instance")["status"].agg(set).to_dict() == {
        "prod": {"updated"},
        "staging": {"updated"},
        "eu": {"invalid"},
    }
    assert WRONG.partition("|")[2] not in out


def test_an_instance_refusing_its_token_at_the_run_stops_alone_and_the_finish_names_the_instances(
    tmp_path, monkeypatch, capsys
):
    import bulkbackup._engine.apply as engine

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("COOLIFY_ENDPOINT", "COOLIFY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with Sandbox.many(3, databases=6, seed=[0, 0, 1], rate_limit=100_000, job_delay=0.05) as fresh:
        write_config(config_of(tmp_path), fresh)
        path, picked = changes_for_all(tmp_path, capsys, fresh)
        real = engine.apply

        def revoking(*args, **kwargs):  # after the plan and the question: staging refuses the token from now on
            fresh[1].revoke(fresh[1].token)
            return real(*args, **kwargs)

        monkeypatch.setattr(engine, "apply", revoking)
        results_path = tmp_path / "results.csv"
        assert main(["apply", str(path), "--all-contexts", "--yes", "-o", str(results_path)]) == 1  # a partial run
        out = capsys.readouterr().out
        assert fresh[1].patch_bodies == []
        for name, sandbox in zip(NAMES, fresh, strict=True):
            line = next(line for line in out.splitlines() if line.startswith(f"  {name} ({sandbox.endpoint}): "))
            if name == "staging":
                assert "stopped: " in line and "401" in line and "updated" not in line
            else:
                assert line.endswith(": 2 updated")
        results = pd.read_csv(results_path, dtype=str, keep_default_na=False)
        assert results.groupby("instance")["status"].agg(set).to_dict() == {
            "prod": {"updated"},
            "staging": {"skipped"},
            "eu": {"updated"},
        }
        finish = shlex.split(re.search(r"^to finish this run: (.*)$", out, re.MULTILINE).group(1))
        assert finish[:3] == ["bulkbackup", "apply", str(path)] and "--all-contexts" in finish
        assert fresh[1].token.partition("|")[2] not in out

        # A new token for staging in the config; the finishing command sends staging's rows, and only those:
        # prod and eu settled theirs (their uuids are staging's too: the journal keys rows by instance).
        monkeypatch.setattr(engine, "apply", real)
        write_config(config_of(tmp_path), fresh, tokens={"staging": fresh[1].create_token()})
        sent = [len(s.patch_bodies) for s in fresh]
        assert main([*finish[1:], "-o", str(tmp_path / "finished.csv")]) == 0
        out = capsys.readouterr().out
        assert "4 rows it settled are not sent again" in out
        assert [len(s.patch_bodies) - n for s, n in zip(fresh, sent, strict=True)] == [0, 2, 0]
        for row in picked[picked["instance"] == "staging"].itertuples():
            assert fresh[1].config(row.backup_uuid)["timeout"] == int(row.timeout)


def test_a_wait_for_a_server_s_window_names_its_instance(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("COOLIFY_ENDPOINT", "COOLIFY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # prod's budget is two requests per 6 s window, staging's is ample: only prod waits (its third read, for most of
    # the window: said, being over a second even on a loaded machine), and says so.
    with Sandbox.many(2, databases=3, rate_limit=[2, 100_000], window=6.0) as two:
        write_config(config_of(tmp_path), two, names=["prod", "staging"])
        assert main(["export", "--context", "prod", "--context", "staging", "-o", str(tmp_path / "f.csv")]) == 0
    err = capsys.readouterr().err
    assert re.search(r"^prod: waiting \d+ s for the server's rate-limit window$", err, re.MULTILINE)
    assert "staging: waiting" not in err


def test_enforce_of_two_contexts_plans_and_asks_per_instance(home, three, capsys, monkeypatch):
    policy = home / "weekly.toml"
    policy.write_text('[[rule]]\nid = "weekly"\nmatch = {}\nfrequency = "0 4 * * 0"\n')
    dry = ["enforce", str(policy), "--context", "eu", "--context", "prod", "--dry-run", "-o", str(home / "p.csv")]
    assert main(dry) == 0
    planned = pd.read_csv(home / "p.csv", dtype=str, keep_default_na=False)
    assert list(dict.fromkeys(planned["instance"])) == ["eu", "prod"]
    asked = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "n")
    assert main(["enforce", str(policy), "--context", "eu", "--context", "prod"]) == 2
    counts = planned[planned["action"].isin(["update", "create"])]["instance"].value_counts()
    assert asked == [
        f"Send {counts.sum()} requests to 2 instances: eu {counts['eu']} rows ({three[2].endpoint}), "
        f"prod {counts['prod']} rows ({three[0].endpoint})? [y/N] "
    ]
