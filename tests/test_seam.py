"""apply()'s per-row seam: the events listeners get, with the guarantees events.py promises, against the sandbox."""

from __future__ import annotations

import json
import threading

import pytest
from sandbox_frames import fleet_changes

import bulkbackup as bb
from bulkbackup._core.events import RowFinished, RowSending, RunFacts, RunFinished, RunStarted, Waiting
from bulkbackup._display.progress import ProgressBar
from bulkbackup.sandbox import Sandbox


class Recorder:
    def __init__(self):
        self.events = []
        self.threads = []

    def __call__(self, event):
        self.events.append(event)
        self.threads.append(threading.current_thread().name)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def test_events_come_in_order_one_finish_per_sending(sandbox, client):
    frame = fleet_changes(client, 12, timeout=[3100 + i for i in range(12)])
    frame.loc[3, "timeout"] = 1  # invalid: never announced as sending
    recorder = Recorder()
    results = bb.apply(frame, client, progress=False, listeners=[recorder])
    assert isinstance(recorder.events[0], RunStarted) and isinstance(recorder.events[-1], RunFinished)
    started = recorder.events[0]
    assert (started.total, started.to_send, started.endpoint) == (12, 11, client.endpoint)
    sending = recorder.of(RowSending)
    finished = recorder.of(RowFinished)
    assert sorted(e.row.position for e in sending) == [i for i in range(12) if i != 3]
    assert sorted(e.row.position for e in finished) == sorted(e.row.position for e in sending)
    for event in sending:
        # Before the request: the payload is exactly what is sent, and `before` what it replaces.
        assert event.payload == json.loads(results.loc[event.row.position, "payload"])
        assert event.before == json.loads(results.loc[event.row.position, "before"])
        assert event.row.database_name and event.row.database_type
    sent_in = [t for t, e in zip(recorder.threads, recorder.events, strict=True) if isinstance(e, RowSending)]
    assert all(name.startswith("bulkbackup-") for name in sent_in)  # in the thread that sends
    facts = recorder.events[-1].facts
    assert isinstance(facts, RunFacts) and facts is results.attrs["run"]
    assert facts.counts == {"updated": 11, "invalid": 1}
    assert facts.verification == "verified"


def test_row_sending_comes_before_the_request_goes_out(sandbox, client):
    frame = fleet_changes(client, 4, timeout=[3200 + i for i in range(4)])
    seen_on_server = []

    def look(event):
        if isinstance(event, RowSending):
            seen_on_server.append(sandbox.config(event.row.backup_uuid)["timeout"] == event.before["timeout"])

    bb.apply(frame, client, progress=False, listeners=[look])
    assert seen_on_server == [True] * 4


def test_a_listener_raising_on_row_sending_keeps_that_request_from_going_out(sandbox, client):
    frame = fleet_changes(client, 10, timeout=[3300 + i for i in range(10)])
    calls = 0

    def disk_full(event):
        nonlocal calls
        if isinstance(event, RowSending):
            calls += 1
            if calls == 3:
                raise OSError("No space left on device")

    before = len(sandbox.patch_bodies)
    recorder = Recorder()
    results = bb.apply(frame, client, progress=False, workers=1, listeners=[disk_full, recorder])
    assert len(sandbox.patch_bodies) - before == 2
    assert list(results["status"]) == ["updated"] * 2 + ["skipped"] * 8
    assert "disk_full" in results.attrs["stopped"] and "No space left" in results.attrs["stopped"]
    assert "No space left" in results.loc[2, "message"]
    assert len(recorder.of(RowFinished)) == len(recorder.of(RowSending)) == 3


def test_a_listener_failing_on_row_finished_stops_the_run_and_loses_nothing(sandbox, client):
    frame = fleet_changes(client, 10, timeout=[3413 + i for i in range(10)])

    def broken(event):
        if isinstance(event, RowFinished) and event.row.position == 1:
            raise ValueError("display went away")

    results = bb.apply(frame, client, progress=False, workers=1, listeners=[broken])
    assert len(results) == 10
    assert "broken" in results.attrs["stopped"] and "display went away" in results.attrs["stopped"]
    assert list(results["status"][:2]) == ["updated", "updated"]
    assert (results["status"][2:] == "skipped").all()
    for uuid, wanted, status in zip(frame["backup_uuid"], frame["timeout"], results["status"], strict=True):
        assert (sandbox.config(uuid)["timeout"] == wanted) == (status == "updated")


def test_a_stop_event_set_before_the_run_sends_nothing(sandbox, client):
    frame = fleet_changes(client, 6, timeout=3500)
    stop = threading.Event()
    stop.set()
    before = len(sandbox.patch_bodies)
    results = bb.apply(frame, client, progress=False, stop=stop)
    assert len(sandbox.patch_bodies) == before
    assert set(results["status"]) == {"skipped"}
    assert results.attrs["stopped"] == "stopped by the caller"


def test_an_exception_in_a_worker_is_recorded_and_stops_the_run(sandbox, client, monkeypatch):
    frame = fleet_changes(client, 8, timeout=[3613 + i for i in range(8)])
    real = client.attempt
    calls = 0

    def flaky(method, *args, **kwargs):
        nonlocal calls
        calls += method == "PATCH"
        if method == "PATCH" and calls == 3:
            raise RuntimeError("bug in our code")
        return real(method, *args, **kwargs)

    monkeypatch.setattr(client, "attempt", flaky)
    recorder = Recorder()
    results = bb.apply(frame, client, progress=False, workers=1, listeners=[recorder])
    assert list(results["status"]) == ["updated", "updated", "failed"] + ["skipped"] * 5
    assert "RuntimeError: bug in our code" in results.loc[2, "message"]
    assert "RuntimeError" in results.attrs["stopped"]
    assert isinstance(recorder.events[-1], RunFinished)


def test_a_run_rate_cap_does_not_touch_the_shared_client(sandbox, client):
    frame = fleet_changes(client, 3, timeout=[3700 + i for i in range(3)])
    rates = []

    def look(event):
        if isinstance(event, RowSending):
            rates.append(client.limiter.rate)

    results = bb.apply(frame, client, progress=False, rate=50.0, listeners=[look])
    assert (results["status"] == "updated").all()
    assert rates == [None] * 3


def test_waiting_for_the_rate_limit_window_is_told_and_shown():
    with Sandbox(databases=40, seed=3, rate_limit=6, window=1.0, job_delay=0.05) as sb:
        with bb.Client(sb.endpoint, sb.token) as client:
            frame = fleet_changes(sb, 14, timeout=[3800 + i for i in range(14)])
            recorder = Recorder()
            shown = []

            def postfix(event):
                if isinstance(event, Waiting | RowFinished):
                    shown.append(str(bar.bar))

            bar = ProgressBar(show=True)
            results = bb.apply(frame, client, progress=False, listeners=[recorder, bar, postfix])
    assert (results["status"] == "updated").all()
    waits = recorder.of(Waiting)
    assert waits and all(0 < w.seconds <= 1.5 for w in waits)
    assert any("waiting" in text and "rate-limit window" in text for text in shown)


def test_a_stale_plan_is_diffed_again_and_before_is_what_was_replaced(sandbox, client):
    frame = fleet_changes(client, 3, timeout=[3900, 3901, 3902])
    planned = bb.plan(frame, client)
    uuid = frame.loc[1, "backup_uuid"]
    other = frame.loc[2, "backup_uuid"]
    # Meanwhile someone else changes two of them on the server.
    client.send("PATCH", f"/databases/{frame.loc[1, 'database_uuid']}/backups/{uuid}", json={"timeout": 777})
    client.send("PATCH", f"/databases/{frame.loc[2, 'database_uuid']}/backups/{other}", json={"timeout": 3902})
    results = bb.apply(planned, client, progress=False)
    assert list(results["status"]) == ["updated", "updated", "unchanged"]
    assert json.loads(results.loc[1, "before"]) == {"timeout": 777}
    assert "changed since the plan" in results.loc[1, "message"]
    assert "changed since the plan" in results.loc[2, "message"]
    assert "changed since the plan" not in results.loc[0, "message"]


def test_after_a_stop_nothing_waits_for_the_rate_limit():
    # 6 requests per 60 s window: the run soon waits a whole minute; Stop pressed then must end it now, unverified.
    with Sandbox(databases=40, seed=3, rate_limit=6, window=60.0, job_delay=0.05) as sb:
        with bb.Client(sb.endpoint, sb.token) as client:
            frame = fleet_changes(sb, 12, timeout=[3950 + i for i in range(12)])
            stop = threading.Event()

            def press_stop_on_wait(event):
                if isinstance(event, Waiting):
                    stop.set()

            results = bb.apply(frame, client, progress=False, stop=stop, listeners=[press_stop_on_wait])
    facts = results.attrs["run"]
    assert facts.stopped == "stopped by the caller"
    assert facts.verification.startswith("skipped") and "rate-limit" in facts.verification
    assert {"updated", "skipped"} <= set(results["status"])
    assert results["verified"].isna().all()


def test_an_offline_plan_is_diffed_against_the_server_without_false_alarms(sandbox, client):
    fleet = bb.inventory(client).head(3)
    frame = fleet_changes(client, 3, timeout=[3961, 3962, 3963])
    offline = bb.plan(frame)  # no client: every given value is in the payload, nothing to compare
    assert (offline["before"] == "").all()
    results = bb.apply(offline, client, progress=False)
    assert list(results["status"]) == ["updated"] * 3
    assert not results["message"].str.contains("changed since the plan").any()
    assert [json.loads(b)["timeout"] for b in results["before"]] == fleet["timeout"].tolist()


def test_whatever_escapes_apply_carries_the_partial_frame(sandbox, client):
    frame = fleet_changes(client, 4, timeout=[3971 + i for i in range(4)])

    def interrupt_at_the_end(event):
        if isinstance(event, RunFinished):
            raise KeyboardInterrupt  # a kernel interrupt landing in the last moment

    with pytest.raises(KeyboardInterrupt) as escaped:
        bb.apply(frame, client, progress=False, listeners=[interrupt_at_the_end])
    results = escaped.value.results
    assert list(results["status"]) == ["updated"] * 4
    assert results.attrs["run"].counts == {"updated": 4}


def test_a_listener_failing_on_run_finished_is_said_in_the_facts(sandbox, client):
    frame = fleet_changes(client, 2, timeout=[3981, 3982])

    def broken_at_the_end(event):
        if isinstance(event, RunFinished):
            raise RuntimeError("panel closed")

    results = bb.apply(frame, client, progress=False, listeners=[broken_at_the_end])
    assert list(results["status"]) == ["updated"] * 2
    assert any("broken_at_the_end" in w and "panel closed" in w for w in results.attrs["run"].warnings)
