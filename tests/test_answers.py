"""Reading an answer (`read_answer`): any JSON shape gives readable strings, and a token the server quotes back is
masked where server text enters bulkbackup, so no output of a run (results CSV, journal, stdout, stderr,
exceptions) ever holds it."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import requests
from sandbox_frames import fleet_changes

import bulkbackup as bb
from bulkbackup._cli.cli import main
from bulkbackup._coolify.answers import Answer, read_answer
from bulkbackup._coolify.retry import RetryPolicy
from bulkbackup.sandbox import Sandbox


def response(
    status: int, body: object, *, content_type: str = "application/json", reason: str = ""
) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.reason = reason or ("Unprocessable Content" if status == 422 else http.HTTPStatus(status).phrase)
    answer._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer.headers["Content-Type"] = content_type
    return answer


# --- read_answer: every shape -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "message", "detail"),
    [
        (200, {"message": "Database backup configuration updated"}, "Database backup configuration updated", None),
        (200, {"message": 1}, "1", "1"),
        (422, {"message": 5}, "5", "5"),
        (401, {"message": 401}, "401", "401"),
        (200, {"message": None}, "", "OK"),
        (200, {"message": True}, "true", "true"),
        (422, {"message": {"nested": ["x"]}}, '{"nested": ["x"]}', None),
        (422, {"message": ["a", "b"]}, '["a", "b"]', None),
        (200, [1, 2], "", "OK [1, 2]"),
        (422, [1, 2], "", "Unprocessable Content [1, 2]"),
        (200, None, "", "OK"),
        (422, "a bare string", "", "Unprocessable Content a bare string"),
        (422, 7, "", "Unprocessable Content 7"),
        (422, {"message": "Validation failed.", "errors": "must be at least 60"}, None, None),
        (422, {"errors": {"timeout": "must be at least 60"}}, "", "Unprocessable Content timeout: must be at least 60"),
        (
            422,
            {"message": "Validation failed.", "errors": {"timeout": ["must be", "an integer"], "x": 3}},
            "Validation failed.",
            "Validation failed. timeout: must be an integer; x: 3",
        ),
        (422, {"errors": ["one", "two"]}, "", "Unprocessable Content one two"),
        (400, {"error": {"code": 9}}, "", 'Bad Request {"code": 9}'),
    ],
)
def test_any_json_shape_reads_as_strings(status, body, message, detail):
    answer = read_answer(response(status, body))
    assert isinstance(answer, Answer) and answer.code == status
    for text in (answer.message, answer.detail, answer.summary):
        assert isinstance(text, str)
    if message is not None:
        assert answer.message == message
    if detail is not None:
        assert answer.detail == detail
    assert answer.summary == f"{status} {answer.detail}".strip()


def test_errors_given_as_a_string_are_not_spelled_letter_by_letter():
    answer = read_answer(response(422, {"message": "Validation failed.", "errors": "must be at least 60"}))
    assert answer.detail == "Validation failed. must be at least 60"
    assert "m u s t" not in answer.detail
    keyed = read_answer(response(422, {"errors": {"timeout": "must be at least 60"}}))
    assert "m u s t" not in keyed.detail and "timeout: must be at least 60" in keyed.detail


def test_auth_hint_for_any_message_shape():
    assert read_answer(response(401, {"message": 401})).auth_hint == "the token was not accepted"
    assert read_answer(response(401, [1])).auth_hint == "the token was not accepted"
    assert "read ability" in read_answer(response(403, {"message": "Missing required permissions: read"})).auth_hint
    assert read_answer(response(403, {"message": None})).auth_hint == "the token is not allowed to do this"
    assert read_answer(response(422, {"message": "Unauthenticated."})).auth_hint is None


def test_not_api_for_pages_and_redirects_and_none_for_json():
    page = read_answer(response(200, b"<html>Sign in</html>", content_type="text/html"), endpoint="https://x/api/v1")
    assert page.not_api and "https://x/api/v1 does not look like the Coolify API" in page.not_api
    moved = response(302, b"")
    moved.headers["Location"] = "https://sso.example.test/login"
    assert "redirect to https://sso.example.test/login" in read_answer(moved).not_api
    assert read_answer(response(200, {"message": 1})).not_api is None
    assert read_answer(response(500, b"<html>", content_type="text/html")).not_api is None  # the status says it
    assert read_answer(response(200, b"4.3.11", content_type="text/html"), text=True).not_api is None


def test_read_answer_masks_a_token_it_is_given():
    token = "3|EchoedT0kenValue0123456789"
    body = {"message": f"bad {token}", "errors": {"x": [f"Bearer {token.partition('|')[2]}"]}}
    answer = read_answer(response(422, body, reason=f"Nope {token}"), token=token)
    for text in (answer.message, answer.detail, answer.summary, answer.reason):
        assert "EchoedT0ken" not in text and "***" in text


# --- a proxy in front of the sandbox that quotes the token back -----------------------------------------------------


class Echo:
    """A reverse proxy on 127.0.0.1 in front of a sandbox: GETs pass through; each PATCH is answered by `answer`
    (given the Authorization header the client sent), the way a server or a proxy that quotes it back would."""

    def __init__(self, upstream: str, answer: Callable[[str, dict], tuple[int, object]]):
        owner = self
        self.patches = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                upstream_answer = requests.get(upstream + self.path, headers={"Authorization": self.auth()})
                self._reply(
                    upstream_answer.status_code, upstream_answer.content, upstream_answer.headers["Content-Type"]
                )

            def do_PATCH(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                owner.patches += 1
                status, body = answer(self.auth(), payload)
                self._reply(status, json.dumps(body).encode())

            def auth(self) -> str:
                return self.headers.get("Authorization", "")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def small():
    with Sandbox(databases=6, seed=5, rate_limit=100_000, job_delay=0.05) as running:
        yield running


def echo_every_kind(auth: str, payload: dict) -> tuple[int, object]:
    """A 200, a 422 and a 500 that each quote the header, in turn by timeout value."""
    kind = payload.get("timeout", 0) % 3
    if kind == 0:
        return 200, {"message": f"updated for {auth}"}
    if kind == 1:
        return 422, {"message": f"rejected {auth}", "errors": {"timeout": [f"token {auth} is odd"]}}
    return 500, {"message": f"boom {auth}", "error": auth}


def echo_200_and_422(auth: str, payload: dict) -> tuple[int, object]:
    """As above without the 500 (the command line retries it with its real back-off)."""
    return echo_every_kind(auth, {"timeout": payload.get("timeout", 0) % 2})


FAST = RetryPolicy(attempts=2, initial=0.001, maximum=0.002, jitter=0.0)


def secrets_of(token: str) -> list[str]:
    return [token, token.partition("|")[2]]


def assert_nowhere(token: str, texts: dict[str, str]) -> None:
    assert texts, "nothing was read"
    for where, text in texts.items():
        for secret in secrets_of(token):
            assert secret not in text, f"the token is in {where}"


def files_under(folder: Path) -> dict[str, str]:
    return {str(p): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}


def test_a_quoted_token_reaches_no_output_of_a_python_run(small, tmp_path):
    echo = Echo(small.url, echo_every_kind)
    try:
        with bb.Client(echo.url, small.token) as client:
            changes = fleet_changes(client, 6)
            changes["timeout"] = [3600 + i for i in range(6)]  # 0, 1, 2 mod 3: a 200, a 422, a 500, twice
            journal = tmp_path / "run.jsonl"
            results = bb.apply(changes, client, journal=journal, retry=FAST)
        assert echo.patches >= 6
        assert set(results["status"]) >= {"updated", "rejected", "failed"}, results[["status", "message"]]
        results.to_csv(tmp_path / "results.csv", index=False)
        texts = {"results frame": results.to_string(), **files_under(tmp_path)}
        texts["messages"] = "\n".join(map(str, results["message"]))
        assert "***" in texts["messages"]
        assert_nowhere(small.token, texts)
    finally:
        echo.stop()


def test_a_quoted_token_reaches_no_output_of_the_cli(small, tmp_path, monkeypatch, capsys):
    echo = Echo(small.url, echo_200_and_422)
    try:
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("COOLIFY_ENDPOINT", echo.url)
        monkeypatch.setenv("COOLIFY_TOKEN", small.token)
        with bb.Client(small.url, small.token) as client:
            changes = fleet_changes(client, 6)
        changes["timeout"] = [3600 + i for i in range(6)]
        work = tmp_path / "work"
        work.mkdir()
        changes.to_csv(work / "changes.csv", index=False)
        code = main(
            [
                "apply",
                str(work / "changes.csv"),
                "--yes",
                "--results",
                str(work / "results.csv"),
                "--journal",
                str(work / "run.jsonl"),
            ]
        )
        out, err = capsys.readouterr()
        assert code != 0  # rows were rejected and failed
        assert "***" in (work / "results.csv").read_text()
        assert_nowhere(small.token, {"stdout": out, "stderr": err, **files_under(work)})
    finally:
        echo.stop()


def test_a_401_that_quotes_the_token_stops_the_run_without_it(small, tmp_path, monkeypatch, capsys):
    def unauthorised(auth: str, payload: dict) -> tuple[int, object]:
        return 401, {"message": f"Unauthenticated. You sent {auth}"}

    echo = Echo(small.url, unauthorised)
    try:
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("COOLIFY_ENDPOINT", echo.url)
        monkeypatch.setenv("COOLIFY_TOKEN", small.token)
        with bb.Client(small.url, small.token) as client:
            changes = fleet_changes(client, 4, timeout=3700)
        work = tmp_path / "work"
        work.mkdir()
        changes.to_csv(work / "changes.csv", index=False)
        argv = ["apply", str(work / "changes.csv"), "--yes", "--results", str(work / "r.csv")]
        code = main([*argv, "--journal", str(work / "run.jsonl")])
        out, err = capsys.readouterr()
        assert code != 0 and "401" in out + err
        assert_nowhere(small.token, {"stdout": out, "stderr": err, **files_under(work)})
    finally:
        echo.stop()


# --- odd shapes through a run -----------------------------------------------------------------------------------


def odd(status: int, body: object) -> Callable[[str, dict], tuple[int, object]]:
    return lambda auth, payload: (status, body)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"message": 1}, {"updated", "triggered"}),
        (422, {"message": "Invalid.", "errors": {"timeout": "must be at least 60"}}, {"rejected"}),
        (422, {"message": 5}, {"rejected"}),
        (422, {"message": "Validation failed.", "errors": "must be at least 60"}, {"rejected"}),
        (200, [1, 2], {"updated", "triggered"}),
        (200, None, {"updated", "triggered"}),
    ],
)
def test_odd_shapes_give_every_row_an_outcome_and_a_readable_message(small, status, body, expected):
    echo = Echo(small.url, odd(status, body))
    try:
        with bb.Client(echo.url, small.token) as client:
            changes = fleet_changes(client, 2, timeout=3700)
            changes["backup_now"] = [True, False]  # a trigger too: a clear 422 to it is rejected, not unknown
            results = bb.apply(changes, client, retry=FAST)
        assert set(results["status"]) <= expected, results[["status", "message"]]
        assert all(isinstance(m, str) and m for m in results["message"])
        assert not any("m u s t" in m for m in results["message"])
    finally:
        echo.stop()


def test_a_numeric_401_message_stops_the_run_with_a_readable_reason(small, tmp_path, monkeypatch, capsys):
    echo = Echo(small.url, odd(401, {"message": 401}))
    try:
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("COOLIFY_ENDPOINT", echo.url)
        monkeypatch.setenv("COOLIFY_TOKEN", small.token)
        with bb.Client(small.url, small.token) as client:
            changes = fleet_changes(client, 2, timeout=3700)
        changes.to_csv(tmp_path / "c.csv", index=False)
        code = main(["apply", str(tmp_path / "c.csv"), "--yes", "--results", str(tmp_path / "r.csv")])
        out, err = capsys.readouterr()
        assert code != 0 and "Traceback" not in out + err and "the token was not accepted" in out + err
        assert set(pd.read_csv(tmp_path / "r.csv")["status"]) <= {"rejected", "skipped"}
    finally:
        echo.stop()
