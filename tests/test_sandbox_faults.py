"""Injected faults: what each one answers, and whether the PATCH was processed (bulkbackup.sandbox._faults)."""

from __future__ import annotations

import math
import time

import pytest
import requests

from bulkbackup.sandbox import Sandbox, parse_fault


def running_backup(sb):
    database = next(d for d in sb.databases if d["backups"] and d["status"].startswith("running"))
    return database["uuid"], database["backups"][0]


def patch(sb, body, *, accept="application/json", timeout=10):
    database, backup = running_backup(sb)
    headers = {"Authorization": f"Bearer {sb.token}"}
    if accept:
        headers["Accept"] = accept
    return requests.patch(
        f"{sb.endpoint}/databases/{database}/backups/{backup}", json=body, headers=headers, timeout=timeout
    )


def remaining(sb):
    response = requests.get(f"{sb.endpoint}/version", headers={"Authorization": f"Bearer {sb.token}"}, timeout=10)
    return int(response.headers["X-RateLimit-Remaining"])


@pytest.fixture
def sb():
    with Sandbox(databases=10, rate_limit=50, job_delay=0.1) as sandbox:
        yield sandbox


def new_timeout(sb):
    return sb.config(running_backup(sb)[1])["timeout"] + 7


def test_503_is_refused_before_anything(sb):
    sb.set_faults({"503": 1.0})
    backup = running_backup(sb)[1]
    before = sb.config(backup)
    response = patch(sb, {"timeout": new_timeout(sb), "backup_now": True})
    assert (response.status_code, response.text) == (503, "Service Unavailable")
    assert "X-RateLimit-Limit" not in response.headers
    assert sb.config(backup) == before and sb.job_count(backup) == 0
    assert remaining(sb) == 49  # only this GET was counted


def test_forced_429_is_refused_before_anything_and_not_counted(sb):
    sb.set_faults({"429": 1.0})
    backup = running_backup(sb)[1]
    before = sb.config(backup)
    response = patch(sb, {"timeout": new_timeout(sb), "backup_now": True})
    now = math.floor(time.time())
    assert response.status_code == 429
    assert response.json() == {"message": "Too Many Attempts."}
    assert response.headers["Retry-After"] == "1"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) in (now, now + 1)
    assert patch(sb, {"enabled": True}, accept=None).headers["Content-Type"].startswith("text/html")
    assert sb.config(backup) == before and sb.job_count(backup) == 0
    assert remaining(sb) == 49


def test_500_comes_after_the_work_was_done(sb):
    sb.set_faults({"500": 1.0})
    backup = running_backup(sb)[1]
    timeout = new_timeout(sb)
    response = patch(sb, {"timeout": timeout, "backup_now": True})
    assert (response.status_code, response.json()) == (500, {"message": "Server Error"})
    assert response.headers["X-RateLimit-Remaining"] == "49"
    assert sb.config(backup)["timeout"] == timeout and sb.job_count(backup) == 1
    html = patch(sb, {"enabled": True}, accept=None)
    assert html.status_code == 500 and "Server Error" in html.text


def test_502_comes_after_the_work_was_done(sb):
    sb.set_faults({"502": 1.0})
    backup = running_backup(sb)[1]
    timeout = new_timeout(sb)
    response = patch(sb, {"timeout": timeout, "backup_now": True})
    assert (response.status_code, response.text) == (502, "Bad Gateway")
    assert "X-RateLimit-Limit" not in response.headers
    assert sb.config(backup)["timeout"] == timeout and sb.job_count(backup) == 1


def test_drop_closes_the_connection_after_the_work_was_done(sb):
    sb.set_faults({"drop": 1.0})
    backup = running_backup(sb)[1]
    timeout = new_timeout(sb)
    with pytest.raises(requests.ConnectionError):
        patch(sb, {"timeout": timeout, "backup_now": True})
    assert sb.config(backup)["timeout"] == timeout and sb.job_count(backup) == 1


def test_latency_delays_the_answer_of_a_processed_request(sb):
    sb.set_faults({"latency": 0.5})
    backup = running_backup(sb)[1]
    timeout = new_timeout(sb)
    with pytest.raises(requests.ReadTimeout):  # the answer comes 0.5 s late, the client waits 0.15 s
        patch(sb, {"timeout": timeout, "backup_now": True}, timeout=(2, 0.15))
    assert sb.config(backup)["timeout"] == timeout and sb.job_count(backup) == 1  # done before the answer
    started = time.monotonic()
    assert patch(sb, {"enabled": True}).status_code == 200
    assert time.monotonic() - started >= 0.5


def test_faults_touch_patch_only_and_change_live(sb):
    sb.set_faults({"503": 1.0, "latency": 1.0})
    assert remaining(sb) == 49  # GETs are neither refused nor delayed
    assert patch(sb, {"enabled": True}).status_code == 503
    sb.set_faults(None)
    assert patch(sb, {"enabled": True}).status_code == 200
    assert sb.faults == {}


def test_probabilities_mix_outcomes_deterministically():
    def outcomes(seed):
        with Sandbox(databases=5, seed=seed, rate_limit=1000, faults={"503": 0.3, "502": 0.3}) as sb:
            return [patch(sb, {"enabled": True}).status_code for _ in range(40)]

    first = outcomes(4)
    assert {200, 502, 503} == set(first)
    assert outcomes(4) == first


@pytest.mark.parametrize(
    "faults",
    [
        {"500": 1.5},
        {"500": -0.1},
        {"latency": -1},
        {"teapot": 0.1},
        {"500": 0.6, "503": 0.6},
        {"500": "x"},
        {"drop": True},
        {"latency": float("inf")},
    ],
)
def test_bad_faults_are_refused(faults):
    with pytest.raises(ValueError):
        Sandbox(databases=1, faults=faults)


def test_integer_keys_are_accepted(sb):
    sb.set_faults({500: 0.25, "latency": 0})
    assert sb.faults == {"500": 0.25, "latency": 0.0}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("500=0.1", ("500", 0.1)),
        ("latency=0.5", ("latency", 0.5)),
        (" drop = 1 ", ("drop", 1.0)),
        ("429=0", ("429", 0.0)),
        ("503=1e-1", ("503", 0.1)),
    ],
)
def test_parse_fault(text, parsed):
    assert parse_fault(text) == parsed


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("teapot=0.1", "unknown fault 'teapot'"),
        ("500", "KEY=VALUE"),
        ("=0.1", "KEY=VALUE"),
        ("500=", "KEY=VALUE"),
        ("500=abc", "not a number"),
        ("500=1.5", "between 0 and 1"),
        ("latency=-2", ">= 0"),
        ("500=nan", ">= 0"),
    ],
)
def test_parse_fault_explains_what_is_wrong(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_fault(text)


def test_a_body_cut_short_by_a_closed_connection_is_neither_processed_nor_recorded(sb):
    import socket

    database, backup = running_backup(sb)
    before = sb.config(backup)["timeout"]
    head = (
        f"PATCH /api/v1/databases/{database}/backups/{backup} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {sb.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as sock:
        sock.sendall(head.encode() + b'{"timeout": 1234')  # 16 of the 100 bytes announced
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b""  # closed without an answer
    assert sb.patch_bodies == []
    assert sb.config(backup)["timeout"] == before
    assert not sb.errors
