"""apply() over several Coolify instances, against several sandboxes over real HTTP: one lane per instance.

Rows are routed by instance and never cross (uuids collide across instances seeded alike); one instance failing (a
wrong token, its server stopped) leaves the others' rows `updated`; the lanes send at the same time; the caller's
Stop stops them all.
"""

from __future__ import annotations

import _thread
import threading

import pandas as pd
import pytest
from sandbox_frames import fleet_changes, stop_after

import bulkbackup as bb
from bulkbackup._coolify.retry import RetryPolicy
from bulkbackup._core.events import RowFinished, RunStarted, Waiting
from bulkbackup.sandbox import Sandbox

FAST_RETRY = dict(attempts=2, initial=0.01, maximum=0.02, jitter=0.0)


def client_of(sandbox, token=None, **options):
    return bb.Client(sandbox.endpoint, token or sandbox.token, name=sandbox.name, timeout=(2.0, 5.0), **options)


def over(*parts):
    """The changes of several instances in one frame: each part (sandbox, changes) with its `instance` column."""
    return pd.concat([frame.assign(instance=sandbox.name) for sandbox, frame in parts], ignore_index=True)


def timeouts(sandbox, n):
    return [sandbox.config(b["backup_uuid"])["timeout"] for b in sandbox.backups[:n]]


def rows_of(results, name):
    return results[results["instance"] == name]


def test_colliding_uuids_never_cross():
    with Sandbox.many(2, databases=8, seed=[0, 0], rate_limit=100_000) as (one, two):
        assert [b["backup_uuid"] for b in one.backups] == [b["backup_uuid"] for b in two.backups]
        untouched = timeouts(two, 8)
        with client_of(one) as first, client_of(two) as second:
            # The same three configurations on both, other values; a fourth on the first instance only.
            changes = over(
                (one, fleet_changes(one, 4, timeout=[7001, 7001, 7001, 7003])),
                (two, fleet_changes(two, 3, timeout=7002)),
            )
            seen = []
            results = bb.apply(changes, [first, second], progress=False, listeners=[seen.append])
        assert results["status"].tolist() == ["updated"] * 7
        assert results["instance"].tolist() == ["sandbox-1"] * 4 + ["sandbox-2"] * 3
        assert results["verified"].tolist() == [True] * 7
        assert timeouts(one, 4) == [7001, 7001, 7001, 7003]
        assert timeouts(two, 4) == [7002, 7002, 7002, untouched[3]]
        assert timeouts(two, 8)[4:] == untouched[4:]
        # Each server got only its own rows' requests.
        assert sorted(body["timeout"] for body in one.patch_bodies) == [7001, 7001, 7001, 7003]
        assert [body["timeout"] for body in two.patch_bodies] == [7002, 7002, 7002]
        started = seen[0]
        assert isinstance(started, RunStarted) and started.endpoint is None
        assert started.instances == {"sandbox-1": one.endpoint, "sandbox-2": two.endpoint}
        sent_by = {e.row.instance for e in seen if isinstance(e, RowFinished)}
        assert sent_by == {"sandbox-1", "sandbox-2"}
        facts = results.attrs["run"]
        assert facts.stopped is None and facts.verification == "verified"
        assert facts.counts == {"updated": 7}
        assert set(facts.instances) == {"sandbox-1", "sandbox-2"}
        assert facts.instances["sandbox-1"].counts == {"updated": 4}
        assert facts.instances["sandbox-2"].counts == {"updated": 3}
        assert facts.instances["sandbox-2"].endpoint == two.endpoint
        assert all(f.stopped is None and f.verification == "verified" for f in facts.instances.values())


def test_a_row_of_an_instance_no_client_serves_is_never_sent_through_another():
    with Sandbox.many(2, databases=4, seed=[0, 0], rate_limit=100_000) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            plan = bb.plan(
                over((one, fleet_changes(one, 2, timeout=7101)), (two, fleet_changes(two, 2, timeout=7102))),
                [first, second],
            )
            results = bb.apply(plan, [first], progress=False)
        assert results["status"].tolist() == ["updated", "updated", "invalid", "invalid"]
        assert "no client serves instance 'sandbox-2'" in results.loc[2, "message"]
        assert [body["timeout"] for body in one.patch_bodies] == [7101, 7101]
        assert two.patch_bodies == []


def test_a_token_refused_mid_run_stops_only_its_instance(capsys):
    with Sandbox.many(2, databases=6, seed=[0, 0], rate_limit=100_000) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            changes = over((one, fleet_changes(one, 4, timeout=7201)), (two, fleet_changes(two, 4, timeout=7202)))

            def revoke(event):  # after the one read of each server: the second's token is refused from now on
                if isinstance(event, RunStarted):
                    two.revoke(two.token)

            results = bb.apply(changes, [first, second], progress=True, workers=1, listeners=[revoke])
        ours, theirs = rows_of(results, "sandbox-1"), rows_of(results, "sandbox-2")
        assert ours["status"].tolist() == ["updated"] * 4
        assert theirs["status"].tolist() == ["rejected", "skipped", "skipped", "skipped"]
        assert theirs.iloc[0]["http_status"] == 401
        for message in theirs["message"].iloc[1:]:
            assert message.startswith("not sent: sandbox-2: the server answered 401")
        assert timeouts(one, 4) == [7201] * 4 and two.patch_bodies == [{"timeout": 7202}]
        facts = results.attrs["run"]
        assert facts.stopped.startswith("sandbox-2: the server answered 401")
        assert facts.instances["sandbox-1"].stopped is None
        assert facts.instances["sandbox-2"].stopped.startswith("the server answered 401")
        assert facts.instances["sandbox-2"].counts == {"rejected": 1, "skipped": 3}
        assert facts.verification == "verified"  # the second instance updated nothing: nothing to verify there
        # The progress bar counted each instance, and said which one stopped.
        shown = capsys.readouterr().err
        assert "sandbox-1 4/4" in shown and "sandbox-2 1/4 (stopped)" in shown


def test_a_wrong_token_from_the_start_stops_only_its_instance():
    with Sandbox.many(2, databases=6, seed=[0, 0], rate_limit=100_000) as (one, two):
        with client_of(one) as first, client_of(two) as second, client_of(two, token="1|wrong") as wrong:
            plan = bb.plan(
                over((one, fleet_changes(one, 3, timeout=7301)), (two, fleet_changes(two, 3, timeout=7302))),
                [first, second],
            )
            results = bb.apply(plan, [first, wrong], progress=False)
        ours, theirs = rows_of(results, "sandbox-1"), rows_of(results, "sandbox-2")
        assert ours["status"].tolist() == ["updated"] * 3 and timeouts(one, 3) == [7301] * 3
        assert theirs["status"].tolist() == ["skipped"] * 3 and two.patch_bodies == []
        for message in theirs["message"]:
            assert message.startswith("not sent: sandbox-2: could not read the server before sending:")
            assert "401" in message and "1|wrong" not in message
        facts = results.attrs["run"]
        assert facts.stopped.startswith("sandbox-2: could not read the server before sending")
        assert facts.instances["sandbox-1"].stopped is None
        assert "1|wrong" not in repr(facts)


def test_a_server_stopped_before_the_run_stops_only_its_instance():
    with Sandbox.many(2, databases=6, seed=[0, 1], rate_limit=100_000) as (one, two):
        retry = RetryPolicy(**FAST_RETRY)
        with client_of(one) as first, client_of(two, retry=retry) as second:
            plan = bb.plan(
                over((one, fleet_changes(one, 3, timeout=7401)), (two, fleet_changes(two, 3, timeout=7402))),
                [first, second],
            )
            two.stop()
            results = bb.apply(plan, [first, second], progress=False)
        ours, theirs = rows_of(results, "sandbox-1"), rows_of(results, "sandbox-2")
        assert ours["status"].tolist() == ["updated"] * 3 and timeouts(one, 3) == [7401] * 3
        assert theirs["status"].tolist() == ["skipped"] * 3
        assert all(m.startswith("not sent: sandbox-2: could not read the server") for m in theirs["message"])
        assert results.attrs["run"].instances["sandbox-2"].stopped.startswith("could not read the server")
        assert results.attrs["run"].instances["sandbox-1"].verification == "verified"


def test_a_server_going_away_mid_run_stops_only_its_instance():
    with Sandbox.many(2, databases=12, seed=[0, 1], rate_limit=100_000) as (one, two):
        retry = RetryPolicy(**FAST_RETRY)
        with client_of(one) as first, client_of(two, retry=retry) as second:
            changes = over((one, fleet_changes(one, 8, timeout=7501)), (two, fleet_changes(two, 8, timeout=7502)))
            stopped = threading.Event()

            def pull_the_plug(event):  # the second server goes away after its second row
                if isinstance(event, RowFinished) and event.row.instance == "sandbox-2" and not stopped.is_set():
                    if len(two.patch_bodies) == 2:
                        stopped.set()
                        two.stop()

            results = bb.apply(
                changes, [first, second], progress=False, workers=1, failure_streak=2, listeners=[pull_the_plug]
            )
        ours, theirs = rows_of(results, "sandbox-1"), rows_of(results, "sandbox-2")
        assert ours["status"].tolist() == ["updated"] * 8 and timeouts(one, 8) == [7501] * 8
        statuses = theirs["status"].tolist()
        assert statuses[:2] == ["updated", "updated"] and statuses[2:4] == ["failed", "failed"]
        assert statuses[4:] == ["skipped"] * 4
        expected = "not sent: sandbox-2: 2 requests in a row could not reach the server"
        assert theirs["message"].iloc[4:].tolist() == [expected] * 4
        facts = results.attrs["run"]
        assert facts.stopped == "sandbox-2: 2 requests in a row could not reach the server"
        assert facts.instances["sandbox-1"].stopped is None
        assert facts.instances["sandbox-1"].verification == "verified"
        assert facts.instances["sandbox-2"].verification.startswith("failed: could not verify")
        assert facts.verification.startswith("sandbox-2: failed: could not verify")


def test_the_lanes_send_at_the_same_time_each_at_its_own_pace(capsys):
    # Each server allows 5 requests a second: sent one instance after the other, the first instance's 15 rows
    # would all be on its server before the second's first; sent at once, both are part-way at some point.
    with Sandbox.many(2, databases=20, seed=[0, 1], rate_limit=5, window=1.0) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            changes = over((one, fleet_changes(one, 15, timeout=7601)), (two, fleet_changes(two, 15, timeout=7602)))
            both = []
            waits = []

            def watch(event):
                if isinstance(event, RowFinished):
                    both.append((len(one.patch_bodies), len(two.patch_bodies)))  # as each server counts them
                elif isinstance(event, Waiting):
                    waits.append(event.instance)

            results = bb.apply(changes, [first, second], progress=True, verify=False, listeners=[watch])
        assert (results["status"] == "updated").all()
        assert any(0 < a < 15 and 0 < b < 15 for a, b in both), both
        assert waits and set(waits) <= {"sandbox-1", "sandbox-2"}
        shown = capsys.readouterr().err  # the bar counts each instance, and says whose window it waits for
        assert "sandbox-1 15/15 · sandbox-2 15/15" in shown
        assert "waiting" in shown and "for its rate-limit window" in shown


def test_the_callers_stop_stops_every_lane():
    with Sandbox.many(2, databases=40, seed=[0, 0], rate_limit=100_000) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            changes = over((one, fleet_changes(one, 30, timeout=7701)), (two, fleet_changes(two, 30, timeout=7702)))
            stop, pressed = stop_after(3)
            results = bb.apply(changes, [first, second], progress=False, workers=1, stop=stop, listeners=[pressed])
        facts = results.attrs["run"]
        assert facts.stopped == "stopped by the caller"
        for name, sandbox in (("sandbox-1", one), ("sandbox-2", two)):
            rows = rows_of(results, name)
            skipped = rows[rows["status"] == "skipped"]
            assert len(skipped) > 20 and len(sandbox.patch_bodies) < 10
            assert set(skipped["message"]) == {"not sent: stopped by the caller"}
            assert facts.instances[name].stopped == "stopped by the caller"


def test_a_failing_listener_stops_every_lane():
    with Sandbox.many(2, databases=40, seed=[0, 0], rate_limit=100_000) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            changes = over((one, fleet_changes(one, 30, timeout=7751)), (two, fleet_changes(two, 30, timeout=7752)))
            finished = []

            def broken(event):  # a caller's listener failing on the third row: nothing may go on unwatched
                if isinstance(event, RowFinished):
                    finished.append(event)
                    if len(finished) == 3:
                        raise RuntimeError("the watcher broke")

            results = bb.apply(changes, [first, second], progress=False, workers=1, listeners=[broken])
        facts = results.attrs["run"]
        assert facts.stopped.startswith("the listener") and "the watcher broke" in facts.stopped
        for name, sandbox in (("sandbox-1", one), ("sandbox-2", two)):
            rows = rows_of(results, name)
            assert (rows["status"] == "skipped").sum() > 20 and len(sandbox.patch_bodies) < 10
            assert facts.instances[name].stopped == facts.stopped


def test_a_dry_run_over_several_instances_sends_nothing_anywhere():
    with Sandbox.many(2, databases=6, seed=[0, 0], rate_limit=100_000) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            changes = over((one, fleet_changes(one, 3, timeout=7761)), (two, fleet_changes(two, 2, timeout=7762)))
            results = bb.apply(changes, [first, second], progress=False, dry_run=True)
        assert results["status"].tolist() == ["planned"] * 5
        assert one.patch_bodies == [] and two.patch_bodies == []
        facts = results.attrs["run"]
        assert facts.dry_run and facts.stopped is None and facts.verification == "skipped: not asked"
        assert {name: dict(f.counts) for name, f in facts.instances.items()} == {
            "sandbox-1": {"planned": 3},
            "sandbox-2": {"planned": 2},
        }


def test_one_client_in_a_list_names_its_instance():
    with Sandbox.many(1, databases=4, rate_limit=100_000) as (one,):
        with client_of(one) as first:
            changes = over((one, fleet_changes(one, 2, timeout=7801)))
            results = bb.apply(changes, [first], progress=False)
        assert results["status"].tolist() == ["updated", "updated"]
        assert set(results.attrs["run"].instances) == {"sandbox-1"}


@pytest.mark.parametrize("given", ["not a client", []])
def test_apply_refuses_what_is_not_a_client(given):
    with pytest.raises(bb.ConfigError):
        bb.apply({"database_uuid": ["a"], "backup_uuid": ["b"], "timeout": [3600]}, given, progress=False)


def test_ctrl_c_stops_every_lane_and_keeps_the_frame():
    with Sandbox.many(2, databases=40, seed=[0, 0], rate_limit=100_000, faults={"latency": 0.02}) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            changes = over((one, fleet_changes(one, 30, timeout=7901)), (two, fleet_changes(two, 30, timeout=7902)))
            finished = []

            def ctrl_c(event):
                if isinstance(event, RowFinished):
                    finished.append(event)
                    if len(finished) == 3:
                        _thread.interrupt_main()

            results = bb.apply(changes, [first, second], progress=False, workers=1, verify=False, listeners=[ctrl_c])
        facts = results.attrs["run"]
        assert facts.interrupted is True and facts.stopped == "interrupted (Ctrl-C)"
        assert len(results) == 60
        for name in ("sandbox-1", "sandbox-2"):
            rows = rows_of(results, name)
            skipped = rows[rows["status"] == "skipped"]
            assert len(skipped) > 20 and skipped["message"].str.contains("Ctrl-C").all()
            assert facts.instances[name].stopped == "interrupted (Ctrl-C)"


def test_one_journal_for_several_instances_resumes_each_on_its_own(tmp_path):
    journal = tmp_path / "run.jsonl"
    with Sandbox.many(2, databases=12, seed=[0, 0], rate_limit=100_000) as (one, two):
        with client_of(one) as first, client_of(two) as second:
            changes = over((one, fleet_changes(one, 10, timeout=8001)), (two, fleet_changes(two, 10, timeout=8002)))
            stop, pressed = stop_after(4)
            stopped = bb.apply(
                changes, [first, second], journal=journal, workers=1, stop=stop, listeners=[pressed], progress=False
            )
            assert (stopped["status"] == "skipped").sum() >= 10
            resumed = bb.apply(changes, [first, second], journal=journal, progress=False)
        assert timeouts(one, 10) == [8001] * 10 and timeouts(two, 10) == [8002] * 10
        # Each row went out once, to its own server, across both runs.
        assert [body["timeout"] for body in one.patch_bodies] == [8001] * 10
        assert [body["timeout"] for body in two.patch_bodies] == [8002] * 10
        assert set(resumed["status"]) == {"updated"}
        assert resumed["instance"].tolist() == ["sandbox-1"] * 10 + ["sandbox-2"] * 10
        assert resumed.attrs["run"].journal == str(journal)
    text = journal.read_text()
    assert '"sandbox-1"' in text and '"sandbox-2"' in text and one.token not in text and two.token not in text
