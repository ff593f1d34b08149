"""The journal and undo of a run over several Coolify instances: one journal for the whole run, every record naming
its instance, rows keyed by (instance, database, backup) so that two instances restored from one backup (the same
uuids) never share a row's history — against sandboxes over real HTTP on 127.0.0.1.

Two kinds of tests:
- the journal on its own seam: a `Plan` of several instances built as `plan()` makes one (every operation's
  `ref.instance` set), sent by `send_as_apply_does`, which delivers the events to the `Journal` listener in the
  order `apply` does (the intent on disk before its request leaves) and can die mid-run like a killed process;
- end to end through `bb.apply(changes, [clients])` and `bb.undo`, the public contract (the `*_end_to_end` tests).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pandas as pd
import pytest
from sandbox_frames import stop_after

import bulkbackup as bb
from bulkbackup._core.events import InstanceFacts, RowFinished, RowSending, RunFacts, RunFinished, RunStarted
from bulkbackup._core.operations import Operation, Outcome, Plan, RowRef
from bulkbackup._core.statuses import Action, Status
from bulkbackup._engine.identity import identity_of
from bulkbackup._engine.journal import Journal, read_journal, settled_by
from bulkbackup.sandbox import Sandbox

ROWS = 6  # per instance
BASE = 7300  # each row asks for its own timeout, so a body sent twice shows its value twice
SETTLED = "done in an earlier run (journal)"


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def client_of(sandbox):
    return bb.Client(sandbox.endpoint, sandbox.token, name=sandbox.name)


@pytest.fixture
def twins():
    """Two sandboxes seeded alike (their uuids collide) and a client of each, named after them."""
    with Sandbox.many(2, databases=12, seed=[0, 0], rate_limit=100_000, job_delay=0.2) as sandboxes:
        clients = [client_of(s) for s in sandboxes]
        yield sandboxes, clients
        for client in clients:
            client.close()
    for sandbox in sandboxes:
        assert not sandbox.errors, sandbox.errors


def timeout_of(i, j):
    return BASE + 100 * i + j


def plan_over(sandboxes, clients, rows=ROWS, backups=(1,)):
    """`bb.plan` of the first `rows` configurations of every sandbox, each row naming its instance, rows interleaved
    (a0, b0, a1, b1, …), each asking for its own timeout; row j also starts a backup when j % 3 is in `backups`.
    With one Client (not a list), the rows name no instance: a plan of one instance."""
    several = isinstance(clients, list)
    rows_asked = []
    for j in range(rows):
        for i, sandbox in enumerate(sandboxes):
            key = sandbox.backups[j]
            rows_asked.append(
                {
                    **({"instance": sandbox.name} if several else {}),
                    "database_uuid": key["database_uuid"],
                    "backup_uuid": key["backup_uuid"],
                    "timeout": timeout_of(i, j),
                    "backup_now": True if j % 3 in backups else None,
                }
            )
    return bb.plan(pd.DataFrame(rows_asked), clients).attrs["plan"]


class Killed(Exception):
    """The process died here (no more records, no RunFinished)."""


def send_as_apply_does(journal, clients, plan, *, die_after=None, in_flight=False, stop_after_rows=None):
    """Send a plan through `journal` as apply does: its decisions first, RunStarted, then per row RowSending (and
    `before_request`, the intent on disk) before the request leaves and RowFinished after; RunFinished with each
    instance's facts. `die_after` rows: the process dies (raises Killed) — with `in_flight`, after the next row's
    request went out but before its outcome was written. `stop_after_rows`: a clean stop, RunFinished written.
    Returns the outcome of every row by position (the settled ones from the journal's decisions)."""
    by_name = {c.name: c for c in clients}
    decisions = journal.decisions(plan.operations)
    outcomes = {p: d.outcome for p, d in decisions.items() if d.outcome is not None}
    operations = [
        decisions[op.ref.position].operation
        if op.ref.position in decisions and decisions[op.ref.position].operation is not None
        else op
        for op in plan.operations
    ]
    to_send = [op for op in operations if op.sends and op.ref.position not in outcomes]
    journal(
        RunStarted(
            endpoint=None,
            source=plan.source,
            changes_hash=plan.identity.changes_hash,
            total=len(operations),
            to_send=len(to_send),
            dry_run=False,
            server_version=None,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            instances={c.name: c.endpoint for c in clients},
        )
    )
    stopped = None
    for done, op in enumerate(to_send):
        if done == stop_after_rows:
            stopped = "stopped by the caller"
            break
        if done == die_after and not in_flight:
            raise Killed
        event = RowSending(op.ref, op.payload, op.before)
        journal(event)
        journal.before_request(event)
        request = op.request()
        response = by_name[op.ref.instance].send(
            request.method, request.path, json=None if request.json is None else dict(request.json)
        )
        if done == die_after:
            raise Killed  # the request went out; its outcome was never written
        outcome = _outcome(op, response)
        outcomes[op.ref.position] = outcome
        journal(RowFinished(op.ref, outcome))
    per_instance = {}
    for client in clients:
        mine = [outcomes.get(op.ref.position) for op in operations if op.ref.instance == client.name]
        counts = Counter(str(o.status) if o is not None else "skipped" for o in mine)
        per_instance[client.name] = InstanceFacts(client.endpoint, stopped=stopped, counts=dict(counts))
    totals = sum((Counter(f.counts) for f in per_instance.values()), Counter())
    journal(RunFinished(RunFacts(stopped=stopped, counts=dict(totals), instances=per_instance)))
    return outcomes


def _outcome(op, response):
    if response.status_code >= 300:
        return Outcome(Status.REJECTED, response.status_code, response.text[:80], attempts=1)
    if op.action is Action.CREATE:
        return Outcome(Status.CREATED, response.status_code, attempts=1, backup_uuid=response.json()["uuid"])
    status = Status.TRIGGERED if list(op.payload) == ["backup_now"] else Status.UPDATED
    return Outcome(status, response.status_code, attempts=1)


def sent_timeouts(sandbox):
    return Counter(body.get("timeout") for body in sandbox.patch_bodies if isinstance(body, dict))


# --- what the journal of several instances holds ---------------------------------------------------------------


def test_the_records_of_a_run_over_two_instances_name_their_instance(twins, tmp_path):
    sandboxes, clients = twins
    path = tmp_path / "run.jsonl"
    plan = plan_over(sandboxes, clients, rows=2, backups=())
    with Journal.open(path, clients, plan) as journal:
        send_as_apply_does(journal, clients, plan)
        # A message quoting a token (a server echoing it back) is masked for every instance's token.
        leak = plan.operations[1]
        journal(RowSending(leak.ref, leak.payload, leak.before))
        journal(RowFinished(leak.ref, Outcome(Status.REJECTED, 401, f"bad token {sandboxes[1].token}")))
    written = records(path)
    header = written[0]
    names = [s.name for s in sandboxes]
    assert header["endpoint"] is None
    assert header["instances"] == {s.name: s.endpoint for s in sandboxes}
    assert header["coolify"] == {s.name: s.version for s in sandboxes}
    assert header["journal_version"] == 2
    assert [row[3] for row in header["rows"]] == names * 2  # the 4th element: each row's instance
    assert header["rows"][0][:2] == header["rows"][1][:2]  # the twins' uuids collide
    intents = [r for r in written if r["record"] == "intent"]
    outcomes = [r for r in written if r["record"] == "outcome"]
    assert [r["instance"] for r in intents] == [*names * 2, names[1]]
    assert [(r["instance"], r["position"]) for r in outcomes] == [(r["instance"], r["position"]) for r in intents]
    end = written[-3]  # the masked intent and outcome came after the end
    assert end["record"] == "end" and end["counts"] == {"updated": 4}
    assert end["instances"] == {
        s.name: {"endpoint": s.endpoint, "stopped": None, "verification": "not needed", "counts": {"updated": 2}}
        for s in sandboxes
    }
    text = path.read_text()
    for sandbox in sandboxes:
        assert sandbox.token.split("|", 1)[1] not in text
    assert "bad token ***" in written[-1]["message"]


def test_a_journal_of_one_client_is_written_as_before(twins, tmp_path):
    """A Client (not a list): no instance anywhere, version 1, rows of three — what every earlier journal is."""
    sandboxes, clients = twins
    path = tmp_path / "run.jsonl"
    plan = plan_over(sandboxes[:1], clients[0], rows=2, backups=())
    with Journal.open(path, clients[0], plan) as journal:
        journal(RunStarted(clients[0].endpoint, plan.source, plan.identity.changes_hash, 2, 2, False, None, "now"))
        for op in plan.operations:
            journal(RowSending(op.ref, op.payload, op.before))
            journal(RowFinished(op.ref, Outcome(Status.UPDATED, 200)))
        journal(RunFinished(RunFacts()))
    header, *rest = records(path)
    assert header["endpoint"] == clients[0].endpoint and "instances" not in header
    assert header["journal_version"] == 1 and isinstance(header["coolify"], str)
    assert all(len(row) == 3 for row in header["rows"])
    assert not any("instance" in r for r in rest)
    with Journal.open(path, clients[0], plan) as journal:
        assert journal.settled() == {(None, *op.key) for op in plan.operations}


# --- resume: each row on its own instance -------------------------------------------------------------------------


def test_colliding_uuids_of_two_instances_resume_each_row_on_its_own_instance(twins, tmp_path):
    """Killed with a backup_now of the first instance in flight: on resume that row is not sent again, while the
    second instance's row with the very same uuids (never sent) is; every body goes once to each server, every
    asked backup starts once on each."""
    sandboxes, clients = twins
    path = tmp_path / "run.jsonl"
    plan = plan_over(sandboxes, clients)
    first = plan.operations[2]  # a1: the first instance's row 1 starts a backup; b1 shares its uuids
    assert first.starts_backup and first.ref.instance == sandboxes[0].name
    twin = plan.operations[3]
    assert twin.key == first.key and twin.where != first.where
    with Journal.open(path, clients, plan) as journal, pytest.raises(Killed):
        send_as_apply_does(journal, clients, plan, die_after=2, in_flight=True)
    assert sum(sent_timeouts(s).total() for s in sandboxes) == 3

    with Journal.open(path, clients, plan) as journal:
        decisions = journal.decisions(plan.operations)
        assert decisions[2].outcome.status is Status.UNKNOWN  # may have started a backup: never again
        assert 3 not in decisions  # its twin on the other instance: send as planned
        assert journal.settled() == {plan.operations[0].where, plan.operations[1].where}
        outcomes = send_as_apply_does(journal, clients, plan, stop_after_rows=4)
    assert outcomes[0].message.startswith(SETTLED) and outcomes[1].message.startswith(SETTLED)

    assert settled_by(path, clients, plan) == {op.where for op in plan.operations[:2] + plan.operations[3:7]}
    with Journal.open(path, clients, plan) as journal:
        outcomes = send_as_apply_does(journal, clients, plan)
    assert outcomes[2].status is Status.UNKNOWN
    assert all(outcomes[p].status in (Status.UPDATED, Status.TRIGGERED) for p in range(len(plan)) if p != 2)

    for i, sandbox in enumerate(sandboxes):
        wanted = [timeout_of(i, j) for j in range(ROWS)]
        assert {t: sent_timeouts(sandbox)[t] for t in wanted} == dict.fromkeys(wanted, 1), sandbox.name
        assert [sandbox.config(b["backup_uuid"])["timeout"] for b in sandbox.backups[:ROWS]] == wanted
        assert sandbox.wait_for_jobs()
        jobs = [sandbox.job_count(b["backup_uuid"]) for b in sandbox.backups[:ROWS]]
        assert jobs == [1 if j % 3 == 1 else 0 for j in range(ROWS)], sandbox.name


def test_a_create_is_adopted_from_the_server_of_its_own_instance(twins, tmp_path):
    """A create killed in flight on the second instance: the resumed run reads that instance's server and adopts
    what it made; the first instance (the same database uuid, nothing created) is not where it looks."""
    sandboxes, clients = twins
    path = tmp_path / "run.jsonl"
    database = sandboxes[0].databases[0]
    known = list(database["backups"])
    assert known == sandboxes[1].databases[0]["backups"]
    payload = {"frequency": "0 3 * * *", "save_s3": False, "enabled": True}
    ref = RowRef(0, 0, None, database["uuid"], "", instance=sandboxes[1].name)
    create = Operation(ref, Action.CREATE, payload, {"backup_uuids": known})
    plan = Plan((create,), identity_of(["create-1"]), source="<policy>", instances=tuple(s.name for s in sandboxes))
    with Journal.open(path, clients, plan) as journal, pytest.raises(Killed):
        send_as_apply_does(journal, clients, plan, die_after=0, in_flight=True)
    made = [b for b in sandboxes[1].databases[0]["backups"] if b not in known]
    assert len(made) == 1 and sandboxes[0].databases[0]["backups"] == known
    with Journal.open(path, clients, plan) as journal:
        outcomes = send_as_apply_does(journal, clients, plan)
    assert outcomes[0].status is Status.CREATED and outcomes[0].backup_uuid == made[0]
    assert outcomes[0].message.startswith("adopted")
    assert len(sandboxes[1].post_bodies) == 1 and not sandboxes[0].post_bodies  # never created twice
    undo = bb.undo(path)  # the adopted create is in the journal: its undo deletes it, on its own instance
    assert undo["instance"].tolist() == [sandboxes[1].name] and undo["backup_uuid"].tolist() == made


# --- resume refuses a journal of other instances ------------------------------------------------------------------


def test_resume_refuses_a_journal_of_other_instances_naming_the_difference(twins, tmp_path):
    sandboxes, clients = twins
    path = tmp_path / "run.jsonl"
    plan = plan_over(sandboxes, clients, rows=2, backups=())
    with Journal.open(path, clients, plan) as journal:
        send_as_apply_does(journal, clients, plan, stop_after_rows=1)
    first, second = (s.name for s in sandboxes)
    with Sandbox(databases=4, seed=5, name="sandbox-3") as third:
        other = client_of(third)
        with pytest.raises(bb.ConfigError, match=rf"'{second}' is not in this run; 'sandbox-3' is new"):
            Journal.open(path, [clients[0], other], plan)
        moved = bb.Client(third.endpoint, third.token, name=second)  # the same name, another server
        with pytest.raises(bb.ConfigError, match=rf"'{second}' was {sandboxes[1].endpoint}, now {third.endpoint}"):
            Journal.open(path, [clients[0], moved], plan)
        with pytest.raises(bb.ConfigError, match="use another journal file"):
            settled_by(path, [clients[0], moved], plan)  # what the CLI asks before its question
    with pytest.raises(bb.ConfigError, match=rf"over the instances '{first}' .* not against .* alone"):
        Journal.open(path, clients[0], plan_over(sandboxes[:1], clients[0], rows=2, backups=()))  # one Client
    reordered = Journal.open(path, clients[::-1], plan)  # the same instances, given in another order: the same run
    reordered.close()

    alone = tmp_path / "alone.jsonl"
    single = plan_over(sandboxes[:1], clients[0], rows=1, backups=())
    with Journal.open(alone, clients[0], single) as journal:
        journal(RunStarted(clients[0].endpoint, None, single.identity.changes_hash, 1, 1, False, None, "now"))
    with pytest.raises(bb.ConfigError, match=r"\(one instance\), not over the instances"):
        Journal.open(alone, [clients[0]], single)


def test_a_header_row_naming_no_instance_by_name_is_damaged(twins, tmp_path):
    sandboxes, clients = twins
    path = tmp_path / "run.jsonl"
    plan = plan_over(sandboxes, clients, rows=1, backups=())
    with Journal.open(path, clients, plan) as journal:
        send_as_apply_does(journal, clients, plan)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["rows"][1][3] = 2
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(
        bb.ConfigError, match=r"run\.jsonl:1: the header.s rows hold .*, not \[database, backup, hash\(, instance\)\]"
    ):
        Journal.open(path, clients, plan)


def test_a_journal_mixing_runs_of_other_instances_is_damaged(twins, tmp_path):
    sandboxes, clients = twins
    path = tmp_path / "run.jsonl"
    plan = plan_over(sandboxes, clients, rows=1, backups=())
    with Journal.open(path, clients, plan) as journal:
        send_as_apply_does(journal, clients, plan)
    header = records(path)[0]
    header["instances"] = {"elsewhere": "https://coolify.example/api/v1"}
    with path.open("a") as f:
        f.write(json.dumps(header) + "\n")
    with pytest.raises(bb.ConfigError, match=r"run\.jsonl:\d+: the journal mixes runs over different instances"):
        read_journal(path)


# --- undo of several instances ----------------------------------------------------------------------------------


def originals(sandboxes, rows=ROWS):
    return [[s.config(b["backup_uuid"])["timeout"] for b in s.backups[:rows]] for s in sandboxes]


def apply_undo(undo, clients):
    """The undo sent as a user sends it: each row to the client of its instance."""
    results = bb.apply(undo, clients, progress=False)
    assert set(results["status"]) <= {"updated", "unchanged"}, results[["instance", "status", "message"]]
    assert results["instance"].tolist() == undo["instance"].tolist()


def test_undo_from_a_journal_of_two_instances_restores_each(twins, tmp_path):
    sandboxes, clients = twins
    before = originals(sandboxes)
    path = tmp_path / "run.jsonl"
    plan = plan_over(sandboxes, clients, backups=())
    with Journal.open(path, clients, plan) as journal, pytest.raises(Killed):
        send_as_apply_does(journal, clients, plan, die_after=7, in_flight=True)  # a killed run undoes too
    undo = bb.undo(path)
    names = [s.name for s in sandboxes]
    assert list(undo.columns) == ["instance", "database_uuid", "backup_uuid", "timeout"]
    assert undo["instance"].tolist() == [*names * 4]  # 7 answered, 1 in flight: 8 rows, twins never merged
    assert undo["timeout"].tolist() == [before[i][j] for j in range(4) for i in range(2)]
    apply_undo(undo, clients)
    assert originals(sandboxes) == before


def test_undo_from_results_of_several_instances_names_each_rows_instance(twins, tmp_path):
    """A results CSV of several instances (as a spreadsheet gives it back): the undo keeps each row's instance, the
    colliding rows apart."""
    sandboxes, clients = twins
    before = originals(sandboxes, rows=2)
    plan = plan_over(sandboxes, clients, rows=2, backups=())
    path = tmp_path / "run.jsonl"
    with Journal.open(path, clients, plan) as journal:
        send_as_apply_does(journal, clients, plan)
    results = pd.DataFrame(
        {
            "line": [op.ref.line for op in plan.operations],
            "instance": [op.ref.instance for op in plan.operations],
            "database_uuid": [op.ref.database_uuid for op in plan.operations],
            "backup_uuid": [op.ref.backup_uuid for op in plan.operations],
            "status": "updated",
            "attempts": 1,
            "payload": [json.dumps(dict(op.payload)) for op in plan.operations],
            "before": [json.dumps(dict(op.before)) for op in plan.operations],
        }
    )
    results.to_csv(tmp_path / "results.csv", index=False)
    for source in (results, tmp_path / "results.csv"):
        undo = bb.undo(source)
        assert list(undo.columns)[:3] == ["instance", "database_uuid", "backup_uuid"]
        assert undo["instance"].tolist() == results["instance"].tolist()
        assert undo["timeout"].tolist() == [before[i][j] for j in range(2) for i in range(2)]
    apply_undo(undo, clients)
    assert originals(sandboxes, rows=2) == before
    one = bb.undo(results.drop(columns="instance"))  # a run of one instance: no instance column, as before
    assert "instance" not in one.columns


# --- end to end: bb.apply over a list of clients (the engine's side of several instances) -----------------------


@pytest.fixture
def three():
    with Sandbox.many(3, databases=12, seed=[0, 0, 1], rate_limit=100_000, job_delay=0.2) as sandboxes:
        clients = [client_of(s) for s in sandboxes]
        yield sandboxes, clients
        for client in clients:
            client.close()


def changes_over(sandboxes, rows=ROWS, backups=True):
    """The first `rows` configurations of each sandbox, with their instance, each asking for its own timeout (and
    a backup every third row)."""
    frames = []
    for i, sandbox in enumerate(sandboxes):
        frame = pd.DataFrame(sandbox.backups[:rows])[["database_uuid", "backup_uuid"]]
        frame.insert(0, "instance", sandbox.name)
        frame["timeout"] = [timeout_of(i, j) for j in range(rows)]
        if backups:
            frame["backup_now"] = [True if j % 3 == 1 else None for j in range(rows)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_a_change_to_three_instances_is_undone_on_each_end_to_end(three, tmp_path):
    sandboxes, clients = three
    before = originals(sandboxes)
    changes = changes_over(sandboxes, backups=False)
    for source in ("results", "journal"):
        journal = tmp_path / f"{source}.jsonl"
        results = bb.apply(changes, clients, progress=False, journal=journal)
        assert set(results["status"]) == {"updated"}, results[["instance", "status", "message"]]
        assert results["instance"].tolist() == changes["instance"].tolist()
        written = records(journal)
        assert [r.get("instance") for r in written if r["record"] == "intent"].count(None) == 0
        end = written[-1]
        assert end["record"] == "end" and list(end["instances"]) == [s.name for s in sandboxes]
        assert [part["counts"] for part in end["instances"].values()] == [{"updated": ROWS}] * 3
        undo = bb.undo(results if source == "results" else journal)
        assert sorted(undo["instance"]) == sorted(changes["instance"])  # colliding uuids: rows of their own
        restored = bb.apply(undo, clients, progress=False)
        assert set(restored["status"]) == {"updated"}, restored[["instance", "status", "message"]]
        assert originals(sandboxes) == before


def test_two_colliding_instances_stopped_and_resumed_send_each_row_once_end_to_end(twins, tmp_path):
    sandboxes, clients = twins
    changes = changes_over(sandboxes)
    journal = tmp_path / "run.jsonl"
    stop, press = stop_after(3)
    first = bb.apply(changes, clients, progress=False, workers=1, journal=journal, stop=stop, listeners=[press])
    assert "skipped" in set(first["status"])
    second = bb.apply(changes, clients, progress=False, journal=journal)
    assert set(second["status"]) <= {"updated", "triggered"}, second[["instance", "status", "message"]]
    done = (first["status"] != "skipped").to_numpy()
    assert second.loc[done, "message"].str.startswith(SETTLED).all()
    for i, sandbox in enumerate(sandboxes):
        wanted = [timeout_of(i, j) for j in range(ROWS)]
        assert {t: sent_timeouts(sandbox)[t] for t in wanted} == dict.fromkeys(wanted, 1), sandbox.name
        assert sandbox.wait_for_jobs()
        jobs = [sandbox.job_count(b["backup_uuid"]) for b in sandbox.backups[:ROWS]]
        assert jobs == [1 if j % 3 == 1 else 0 for j in range(ROWS)], sandbox.name
    with pytest.raises(bb.ConfigError, match="use another journal file"):
        bb.apply(changes[changes["instance"] == sandboxes[0].name], clients[:1], progress=False, journal=journal)
