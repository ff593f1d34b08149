"""The HTTP client: configuration, what goes over the wire, the 429 loop, error mapping, and the token's secrecy."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest
import requests
from local_servers import PageServer

import bulkbackup._coolify.client as client_module
from bulkbackup._coolify.client import Client, Stopped, normalise_endpoint, redact
from bulkbackup._coolify.retry import Outcome, RetryPolicy
from bulkbackup._core.errors import ApiError, AuthError, BulkBackupError, ConfigError

TOKEN = "7|Zq3rT0kenS3cretValue0123456789abcdefghij1a2b3c4d"
SECRET = TOKEN.split("|", 1)[1]
FAST = RetryPolicy(attempts=3, initial=0.001, maximum=0.002, jitter=0.0)


# --- a scripted local server ---------------------------------------------------------------------------------------


class Reply:
    def __init__(self, status: int = 200, body: object = None, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body if body is not None else {"ok": True}
        self.headers = headers or {}


class LocalServer:
    """An HTTP server on 127.0.0.1 that records every request and answers from a script (then the default)."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.requests: list[dict] = []
        self.script: list[Reply | Callable[[dict], Reply]] = []
        self.default = Reply(200, [], {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "199"})
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": self.rfile.read(length) if length else b"",
                }
                owner.requests.append(record)
                reply = owner.script.pop(0) if owner.script else owner.default
                if callable(reply):
                    reply = reply(record)
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PATCH = do_POST = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.base = "https" + self.base[4:]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = LocalServer()
    s.thread.start()
    yield s
    s.stop()


@pytest.fixture
def client(server):
    with Client(server.base, TOKEN, retry=FAST) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- endpoint ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://coolify.example.com", "https://coolify.example.com/api/v1"),
        ("https://coolify.example.com/", "https://coolify.example.com/api/v1"),
        ("https://coolify.example.com/api/v1", "https://coolify.example.com/api/v1"),
        ("https://coolify.example.com/api/v1/", "https://coolify.example.com/api/v1"),
        ("https://coolify.example.com/api", "https://coolify.example.com/api/v1"),
        ("  HTTPS://Coolify.Example.com:8443//api/v1//  ", "https://coolify.example.com:8443/api/v1"),
        ("https://example.com/coolify", "https://example.com/coolify/api/v1"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/api/v1"),
        ("http://127.1.2.3", "http://127.1.2.3/api/v1"),
        ("http://localhost:8000/api/v1", "http://localhost:8000/api/v1"),
        ("http://[::1]:8000/", "http://[::1]:8000/api/v1"),
    ],
)
def test_endpoint_is_normalised(given, expected):
    assert normalise_endpoint(given) == expected
    assert Client(given, TOKEN).endpoint == expected


@pytest.mark.parametrize(
    "endpoint", ["http://coolify.example.com", "http://192.168.1.10:8000", "http://10.0.0.1/api/v1", "http://[fe80::1]"]
)
def test_plain_http_to_another_machine_is_refused_unless_allowed(endpoint):
    with pytest.raises(ConfigError, match="http://"):
        Client(endpoint, TOKEN)
    assert Client(endpoint, TOKEN, allow_http=True).endpoint.startswith("http://")


@pytest.mark.parametrize(
    ("endpoint", "match"),
    [
        ("ftp://coolify.example.com", "http:// or https://"),
        ("coolify.example.com", "no scheme"),
        ("localhost:8000", "no scheme"),
        ("https://user:pw@coolify.example.com", "user name or password"),
        ("https://coolify.example.com/?x=1", "query"),
        ("https://", "no host"),
        ("", "empty"),
    ],
)
def test_unusable_endpoints(endpoint, match):
    with pytest.raises(ConfigError, match=match):
        Client(endpoint, TOKEN)


def test_token_problems_are_config_errors_without_the_token():
    with pytest.raises(ConfigError, match="empty"):
        Client("https://c.example.com", "  ")
    with pytest.raises(ConfigError) as caught:
        Client("https://c.example.com", "7|abc def\n")
    assert "abc" not in str(caught.value)
    assert Client("https://c.example.com", f"  {TOKEN}\n")._auth._token == TOKEN  # pasted with blanks


def test_other_arguments_are_checked():
    with pytest.raises(ConfigError):
        Client("https://c.example.com", TOKEN, workers=0)
    with pytest.raises(ConfigError):
        Client("https://c.example.com", TOKEN, timeout=(1.0, 0))
    with pytest.raises(ConfigError):
        Client("https://c.example.com", TOKEN, rate=-1)
    assert Client("https://c.example.com", TOKEN, timeout=7).timeout == (7.0, 7.0)


# --- TLS -----------------------------------------------------------------------------------------------------------


def test_ca_bundle(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert Client("https://c.example.com", TOKEN).verify is True
    assert Client("https://c.example.com", TOKEN, ca_bundle=str(bundle)).verify == str(bundle)
    assert Client("https://c.example.com", TOKEN, ca_bundle=bundle).verify == str(bundle)
    assert Client("https://c.example.com", TOKEN, verify=str(bundle)).verify == str(bundle)
    assert Client("https://c.example.com", TOKEN, verify=False).verify is False
    with pytest.raises(ConfigError, match="does not exist"):
        Client("https://c.example.com", TOKEN, ca_bundle=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="does not exist"):
        Client("https://c.example.com", TOKEN, verify=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="verify=False"):
        Client("https://c.example.com", TOKEN, ca_bundle=bundle, verify=False)


# A test CA and a certificate it issued for 127.0.0.1 (EC P-256, valid until 2126), made with openssl for these
# tests only: a self-hosted Coolify behind its own CA is what `ca_bundle` is for.
TEST_CA = """
-----BEGIN CERTIFICATE-----
MIIBoTCCAUegAwIBAgIUDUYu7cCEoje+a4ZzUQZcBpMiBW4wCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSYnVsa2JhY2t1cCB0ZXN0IENBMCAXDTI2MTEyNjE3MTkwMVoY
DzIxMjYxMTAyMTcxOTAxWjAdMRswGQYDVQQDDBJidWxrYmFja3VwIHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT9EnUyMLqEtTxrvuqpHtyv9EHwA7hs
U3mFy/aBjvzsiSg/8wSUr+3CP9/g6Cuz4zD3NzQvsWrlNJEwSPhqbRr9o2MwYTAf
BgNVHSMEGDAWgBR+uOQXnVo+Er/2ZVnd4ZW6Zqk3ZTAPBgNVHRMBAf8EBTADAQH/
MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUfrjkF51aPhK/9mVZ3eGVumapN2Uw
CgYIKoZIzj0EAwIDSAAwRQIhAPqB8vXfVUTnCZECDC8Eer1HjCva1V31YIKHb2A+
oEz1AiAqQdQCMeuEjAn0PdxQZyNeH0T9dv3seFxo0e8dhFKjWg==
-----END CERTIFICATE-----
"""
TEST_SERVER_CERT = """
-----BEGIN CERTIFICATE-----
MIIBvDCCAWOgAwIBAgIUckx1k+duooh99qkmFtiP7SwPOMswCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSYnVsa2JhY2t1cCB0ZXN0IENBMCAXDTI2MTEyNjE3MTkwMVoY
DzIxMjYxMTAyMTcxOTAxWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAASvINFpL2EKJfWR9FH7riE49EKMHgQksZa9VNX7mPmj
uRG/O41c5PrRvvZ1i0fSSBRvUu1yG8V8xFbtvqgk4cWoo4GHMIGEMAwGA1UdEwEB
/wQCMAAwDgYDVR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMA8GA1Ud
EQQIMAaHBH8AAAEwHQYDVR0OBBYEFIig++nsM5C+hQFk66cgDXhdmRnHMB8GA1Ud
IwQYMBaAFH645BedWj4Sv/ZlWd3hlbpmqTdlMAoGCCqGSM49BAMCA0cAMEQCIG4R
0nR5Zl3htHZf/rlnlWNAvjpfx66Tg5W2waiPHAtHAiAJr1TPTYQnBbS9ms/+oPfE
zHVM2UeZNotIFFz8hGW1DQ==
-----END CERTIFICATE-----
"""
TEST_SERVER_KEY = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVRbp7a43QEiW0FYA
/oT/vT5cLEBkcaqmsl6XCUbUXDahRANCAASvINFpL2EKJfWR9FH7riE49EKMHgQk
sZa9VNX7mPmjuRG/O41c5PrRvvZ1i0fSSBRvUu1yG8V8xFbtvqgk4cWo
-----END PRIVATE KEY-----
"""


@pytest.fixture
def tls_server(tmp_path):
    cert, key, ca = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.write_text(TEST_SERVER_CERT.strip() + "\n")
    key.write_text(TEST_SERVER_KEY.strip() + "\n")
    ca.write_text(TEST_CA.strip() + "\n")
    s = LocalServer(tls=(str(cert), str(key)))
    s.ca_bundle = str(ca)
    s.thread.start()
    yield s
    s.stop()


def test_an_unknown_certificate_is_refused_before_the_token_is_sent(tls_server, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with Client(tls_server.base, TOKEN, retry=FAST) as c:
        with pytest.raises(ApiError, match="(?i)certificate") as caught:
            c.list_databases()
    assert "1 attempt)" in str(caught.value)  # a bad certificate is not worth asking again
    assert tls_server.requests == []  # the handshake failed: no request, no token, went out


def test_a_ca_bundle_trusts_a_self_hosted_ca(tls_server):
    tls_server.script = [Reply(200, [{"uuid": "d1"}])]
    with Client(tls_server.base, TOKEN, ca_bundle=tls_server.ca_bundle) as c:
        assert c.list_databases() == [{"uuid": "d1"}]
    assert tls_server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


# --- the session ---------------------------------------------------------------------------------------------------


class RecordingSession(requests.Session):
    """A session that answers every prepared request itself (under the Client's one transport, the path
    production takes) and records what it was given."""

    def __init__(self, status: int = 200, body: bytes = b"[]", headers: dict[str, str] | None = None):
        super().__init__()
        self.calls: list[dict] = []
        self.status, self.body, self.headers_out = status, body, headers or {}

    def send(self, request, **kwargs):
        sent = json.loads(request.body) if request.body else None
        self.calls.append({"method": request.method, "url": request.url, "json": sent, **kwargs})
        response = requests.Response()
        response.status_code = self.status
        response._content = self.body
        response.headers.update(self.headers_out)
        response.url = request.url
        response.request = request
        return response


def test_pool_is_at_least_the_worker_count_and_urllib3_never_retries():
    for workers, expected in ((4, 10), (32, 32)):
        c = Client("https://c.example.com", TOKEN, workers=workers)
        for scheme in ("https://", "http://"):
            adapter = c.session.get_adapter(scheme + "c.example.com")
            assert adapter._pool_connections >= workers and adapter._pool_maxsize == expected
            assert adapter.max_retries.total == 0
        assert c.workers == workers


def test_timeout_verify_and_no_redirects_on_every_request(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    session = RecordingSession(body=b"4.3.11")
    c = Client("https://c.example.com", TOKEN, timeout=(3.0, 11.0), ca_bundle=bundle, session=session)
    c.send("PATCH", "/databases/a/backups/b", json={"enabled": False})
    c.attempt("PATCH", "/databases/a/backups/b", json={"backup_now": True}, unsafe=True)
    c.version()
    c.health()
    with pytest.raises(ApiError):
        c.list_databases()  # "4.3.11" is not a list
    assert len(session.calls) == 5
    for call in session.calls:
        assert call["timeout"] == (3.0, 11.0)
        assert call["verify"] == str(bundle)
        assert call["allow_redirects"] is False
    assert session.calls[0]["json"] == {"enabled": False}
    assert session.calls[0]["url"] == "https://c.example.com/api/v1/databases/a/backups/b"


def test_an_own_session_gets_timeout_verify_and_no_redirects_on_every_request(tmp_path, monkeypatch):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    c = Client("https://c.example.com", TOKEN, timeout=(3.0, 11.0), ca_bundle=bundle)
    calls = []

    def send(prepared, **kwargs):
        calls.append((prepared, kwargs))
        response = requests.Response()
        response.status_code, response._content, response.request = 200, b"{}", prepared
        return response

    monkeypatch.setattr(c.session, "send", send)
    c.send("PATCH", "/databases/a/backups/b", json={"enabled": False})
    c.verify = False  # a caller's later change applies to the next request
    c.send("PATCH", "/databases/a/backups/b", json={"enabled": True})
    assert [kwargs["verify"] for _, kwargs in calls] == [str(bundle), False]
    for prepared, kwargs in calls:
        assert kwargs["timeout"] == (3.0, 11.0) and kwargs["allow_redirects"] is False
        assert prepared.headers["Content-Type"] == "application/json"
    assert json.loads(calls[0][0].body) == {"enabled": False}


def test_headers_sent(server, client):
    client.send("PATCH", "/databases/d1/backups/b1", json={"enabled": False, "timeout": 900})
    request = server.requests[0]
    assert request["method"] == "PATCH"
    assert request["path"] == "/api/v1/databases/d1/backups/b1"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Accept"] == "application/json"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"].startswith("bulkbackup/")
    assert json.loads(request["body"]) == {"enabled": False, "timeout": 900}


def test_netrc_does_not_replace_the_bearer_token(server, client, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client.send("GET", "/databases")
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_a_proxy_from_the_environment_carries_every_request(monkeypatch):
    # The client reads requests' environment settings once, not on every request: they must still all apply.
    proxy = PageServer()
    try:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.base)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        with Client("http://192.0.2.1", TOKEN, allow_http=True, retry=FAST) as c:  # TEST-NET: only the proxy answers
            for _ in range(2):
                c.send("PATCH", "/databases/a/backups/b", json={"enabled": False})
        assert proxy.requests == [("PATCH", "http://192.0.2.1/api/v1/databases/a/backups/b")] * 2
    finally:
        proxy.stop()


class Recorder:
    """A "proxy" on another loopback address (127.0.0.2) that records every request line and header it receives."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []  # (method, target, Authorization)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
                body = b'{"message": "proxy"}'
                self.send_response(502)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PATCH = do_CONNECT = _answer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.2:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder(monkeypatch):
    proxy = Recorder()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield proxy
    proxy.stop()


def test_a_loopback_endpoint_never_goes_through_a_proxy(server, recorder):
    # requests would send http://127.0.0.1 to HTTP_PROXY (it bypasses proxies for loopback only when NO_PROXY
    # says so), and with it the token in clear text: the bytes of a loopback endpoint stay on this machine.
    for endpoint in (server.base, server.base.replace("127.0.0.1", "localhost")):
        with Client(endpoint, TOKEN, retry=FAST) as c:
            assert c.transport.proxy is None
            assert c.get_json("/databases") == []
            c.send("PATCH", "/databases/a/backups/b", json={"enabled": False})
            c.health()
    assert recorder.seen == []
    assert len(server.requests) == 6 and server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_the_cli_sends_nothing_to_a_proxy_for_a_loopback_endpoint(sandbox, recorder, monkeypatch, tmp_path, capsys):
    from bulkbackup._cli.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COOLIFY_ENDPOINT", sandbox.url)
    monkeypatch.setenv("COOLIFY_TOKEN", sandbox.token)
    assert main(["export", "--output", str(tmp_path / "fleet.csv")]) == 0
    assert (tmp_path / "fleet.csv").read_text().count("\n") >= 2
    assert recorder.seen == []


def test_the_plain_http_rule_applies_to_the_hop_to_a_proxy():
    from bulkbackup._coolify.endpoint import check_hop

    remote = "http://192.0.2.7:3128"
    with pytest.raises(ConfigError, match="plain http:// to 192.0.2.1 through the proxy 192.0.2.7"):
        check_hop("http://192.0.2.1/api/v1", remote, allow_http=False)
    check_hop("http://192.0.2.1/api/v1", remote, allow_http=True)  # allowed explicitly
    check_hop("https://c.example.com/api/v1", remote, allow_http=False)  # tunnelled with CONNECT: encrypted
    check_hop("http://192.0.2.1/api/v1", "http://127.0.0.1:3128", allow_http=False)  # a proxy on this machine
    check_hop("http://192.0.2.1/api/v1", None, allow_http=False)


def test_a_remote_http_endpoint_through_a_proxy_still_needs_allow_http(recorder):
    with pytest.raises(ConfigError, match="plain http://"):
        Client("http://192.0.2.1", TOKEN)
    with Client("http://192.0.2.1", TOKEN, allow_http=True, retry=FAST) as c:  # the user said the path is trusted
        assert c.transport.proxy == recorder.url
        c.send("GET", "/databases")
    assert recorder.seen == [("GET", "http://192.0.2.1/api/v1/databases", f"Bearer {TOKEN}")]


def test_paths_that_could_change_the_request_are_refused(client):
    for path in ("databases", "/databases?x=1", "/databases/../version", "/a b", "/a#b", "/a\nb"):
        with pytest.raises(ValueError):
            client.send("GET", path)


def test_close_leaves_a_session_passed_in_open():
    session = RecordingSession()
    with Client("https://c.example.com", TOKEN, session=session):
        pass
    assert session.calls == []
    closed = []
    own = Client("https://c.example.com", TOKEN)
    own.session.close = lambda: closed.append(True)
    own.close()
    assert closed == [True]


# --- the 429 loop --------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def too_many(retry_after: str) -> Reply:
    headers = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "Retry-After": retry_after}
    return Reply(429, {"message": "Too Many Attempts."}, headers)


def test_429_is_sent_again_after_retry_after_without_spending_an_attempt(server):
    clock = FakeClock()
    server.script = [too_many("3"), too_many("1"), Reply(200, {"message": "Database backup configuration updated"})]
    with Client(server.base, TOKEN, clock=clock, sleep=clock.sleep) as c:
        result = c.attempt("PATCH", "/databases/d/backups/b", json={"backup_now": True}, unsafe=True)
    assert (result.outcome, result.attempts, result.response.status_code) == (Outcome.DONE, 1, 200)
    assert len(server.requests) == 3
    assert clock.sleeps == pytest.approx(
        [3.0, 0.2]
    )  # the second 429 came right after the pause: rounding, probe again soon
    assert c.limiter.stats.throttled == 2
    assert c.limiter.in_flight == 0


def test_a_zero_retry_after_does_not_hammer(server):
    clock = FakeClock()
    server.script = [too_many("0"), too_many("0"), Reply(200, [])]
    with Client(server.base, TOKEN, clock=clock, sleep=clock.sleep) as c:
        response = c.send("GET", "/databases")
    assert response.status_code == 200
    assert len(server.requests) == 3
    assert sum(clock.sleeps) >= 0.4  # two waits of the probe interval (0.2 s), not back-to-back requests
    assert all(pause > 0 for pause in clock.sleeps) and len(clock.sleeps) >= 2


def test_a_stop_while_waiting_after_a_429_raises_stopped(server):
    clock = FakeClock()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()

    server.script = [too_many("30")]
    with Client(server.base, TOKEN, clock=clock, sleep=sleep) as c:
        with pytest.raises(Stopped):
            c.send("PATCH", "/databases/d/backups/b", json={"enabled": True}, stop=stop)
        assert len(server.requests) == 1
        result = c.attempt("PATCH", "/databases/d/backups/b", json={"enabled": True}, unsafe=False, stop=stop)
    assert isinstance(result.error, Stopped) and result.attempts == 0
    assert len(server.requests) == 1
    assert issubclass(Stopped, BulkBackupError)
    assert client_module.Stopped is Stopped


def test_a_transport_error_releases_the_limiter_slot():
    c = Client(f"http://127.0.0.1:{free_port()}", TOKEN, retry=FAST)
    with pytest.raises(requests.ConnectionError):
        c.send("GET", "/databases")
    assert c.limiter.in_flight == 0
    assert c.limiter.stats.transport_errors == 1


# --- get_json and friends ------------------------------------------------------------------------------------------


def test_list_databases_version_and_health(server, client):
    server.script = [Reply(200, [{"uuid": "d1", "backup_configs": []}]), Reply(200, b"4.3.11\n")]
    assert client.list_databases() == [{"uuid": "d1", "backup_configs": []}]
    assert client.version() == "4.3.11"
    server.script = [Reply(200, b"OK", {"Content-Type": "text/html"})]
    assert client.health() is True
    assert server.requests[-1]["path"] == "/api/v1/health"
    assert "Authorization" not in server.requests[-1]["headers"]  # no need to show the token to a health check
    server.script = [Reply(503, b"down")]
    assert client.health() is False
    assert Client(f"http://127.0.0.1:{free_port()}", TOKEN).health() is False


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (401, {"message": "Unauthenticated."}, AuthError, ["401", "Unauthenticated.", "expired or revoked"]),
        (401, {"message": "Invalid token."}, AuthError, ["Invalid token.", "team"]),
        (403, {"success": True, "message": "API is disabled."}, AuthError, ["API is disabled.", "settings"]),
        (403, {"message": "Missing required permissions: read"}, AuthError, ["read ability"]),
        (403, {"success": True, "message": "You are not allowed to access the API."}, AuthError, ["allowlist"]),
        (403, {"message": "Missing required team role."}, AuthError, ["admin or owner"]),
        (400, {"message": "Invalid token.", "docs": "https://coolify.io/docs"}, AuthError, ["Invalid token."]),
        (404, {"message": "Not found.", "docs": "https://coolify.io/docs"}, ApiError, ["404", "Not found."]),
        (400, {"message": "Invalid request."}, ApiError, ["400", "Invalid request."]),
    ],
)
def test_get_json_error_mapping(server, client, status, body, kind, words):
    server.script = [Reply(status, body)]
    with pytest.raises(ApiError) as caught:
        client.get_json("/databases")
    assert type(caught.value) is kind
    assert caught.value.status == status
    for word in words:
        assert word in str(caught.value)
    assert len(server.requests) == 1  # final answers are not retried


def test_get_json_retries_server_errors_then_reports_them(server, client):
    server.script = [Reply(502, {"message": "Bad gateway"}), Reply(200, [{"uuid": "d1"}])]
    assert client.get_json("/databases") == [{"uuid": "d1"}]
    server.script = [Reply(500, {"message": "Server Error"})] * 3
    with pytest.raises(ApiError) as caught:
        client.get_json("/databases")
    assert caught.value.status == 500 and "Server Error" in str(caught.value)
    assert len(server.requests) == 2 + 3


def test_get_json_unreachable_is_an_api_error_without_status():
    c = Client(f"http://127.0.0.1:{free_port()}", TOKEN, retry=FAST)
    with pytest.raises(ApiError) as caught:
        c.get_json("/databases")
    assert caught.value.status is None
    assert "cannot connect to 127.0.0.1:" in str(caught.value) and "(connection refused)" in str(caught.value)
    assert "3 attempts" in str(caught.value) and "Max retries" not in str(caught.value)


def test_get_json_that_is_not_json(server, client):
    server.script = [Reply(200, b"<html>login</html>", {"Content-Type": "text/html"})]
    with pytest.raises(ApiError, match="not JSON"):
        client.get_json("/databases")


def test_redirects_are_not_followed(server, client):
    server.script = [Reply(302, b"", {"Location": "https://elsewhere.example.com/api/v1/databases"})]
    with pytest.raises(ApiError, match="redirect") as caught:
        client.get_json("/databases")
    assert caught.value.status == 302
    assert len(server.requests) == 1


# --- the token stays secret ----------------------------------------------------------------------------------------


def test_repr_and_str_hide_the_token():
    c = Client("http://127.0.0.1:1234", TOKEN)
    assert repr(c) == "Client(name='127.0.0.1:1234', endpoint='http://127.0.0.1:1234/api/v1', token='***')"
    assert str(c) == repr(c)
    assert SECRET not in repr(vars(c))
    assert SECRET not in repr(c.session.headers)


def test_redact():
    assert redact(f"x {TOKEN} y {SECRET} z", TOKEN) == "x *** y *** z"
    assert redact("nothing here", TOKEN) == "nothing here"
    assert redact("abc", None) == "abc"


def test_the_token_is_in_no_exception_or_log_line(server, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    texts: list[str] = []
    # The server echoes the token back in its message: our error must not repeat it.
    server.script = [
        too_many("0"),
        Reply(500, {"message": "boom"}),
        Reply(200, []),
        Reply(401, {"message": f"Unauthenticated. token {TOKEN}"}),
    ]
    with Client(server.base, TOKEN, retry=FAST) as c:
        assert c.get_json("/databases") == []
        with pytest.raises(AuthError) as caught:
            c.get_json("/databases")
        texts += [str(caught.value), repr(caught.value)]
        response = c.send("GET", "/databases")
        texts.append(repr(response.request.headers))
    down = Client(f"http://127.0.0.1:{free_port()}", TOKEN, retry=FAST)
    with pytest.raises(requests.ConnectionError) as transport:
        down.send("PATCH", "/databases/d/backups/b", json={"enabled": True})
    texts += [str(transport.value), repr(transport.value), repr(transport.value.request.headers)]
    with pytest.raises(ApiError) as unreachable:
        down.list_databases()
    texts += [str(unreachable.value), str(unreachable.value.__cause__)]
    texts.append(caplog.text)
    assert "urllib3" in caplog.text and "bulkbackup._coolify.client" in caplog.text  # the logs were really captured
    for text in texts:
        assert SECRET not in text, text


def test_a_transport_error_that_quotes_the_token_is_masked():
    class Leaky(requests.Session):
        def send(self, request, **kwargs):
            raise requests.ConnectionError(f"proxy said: bad header Bearer {TOKEN}", request=request)

    c = Client("https://c.example.com", TOKEN, session=Leaky(), retry=FAST)
    with pytest.raises(requests.ConnectionError) as caught:
        c.send("GET", "/databases")
    assert SECRET not in str(caught.value) and "***" in str(caught.value)
    assert caught.value.request.headers["Authorization"] == "Bearer ***"
    with pytest.raises(ApiError) as wrapped:
        c.list_databases()
    assert SECRET not in str(wrapped.value)


def test_config_errors_never_show_the_token(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"instances": [{"name": "lan", "fqdn": "http://192.168.1.5:8000", "token": TOKEN, "default": True}]})
    )
    with pytest.raises(ConfigError) as caught:
        Client.from_env(environ={}, config_path=config)
    assert SECRET not in str(caught.value) and "http://" in str(caught.value)
    assert Client.from_env(environ={}, config_path=config, allow_http=True).endpoint == "http://192.168.1.5:8000/api/v1"
    config.write_text('{"instances": [{"name": "x", "token": "' + TOKEN + '" ')
    with pytest.raises(ConfigError, match="not valid JSON") as caught:
        Client.from_env(environ={}, config_path=config)
    assert SECRET not in str(caught.value)


# --- from_env ------------------------------------------------------------------------------------------------------


def cli_config(tmp_path, instances: list[dict]):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"instances": instances}))
    return path


INSTANCES = [
    {"name": "cloud", "fqdn": "https://app.coolify.io", "token": "1|cloudtoken"},
    {"name": "home", "fqdn": "https://coolify.home.example/", "token": "2|hometoken", "default": True},
    {"name": "local", "fqdn": "http://localhost:8000", "token": "3|localtoken"},
]


def test_from_env_reads_the_terraform_variables(tmp_path):
    env = {"COOLIFY_ENDPOINT": "https://coolify.example.com/", "COOLIFY_TOKEN": TOKEN}
    c = Client.from_env(environ=env, config_path=tmp_path / "none.json", workers=7)
    assert c.endpoint == "https://coolify.example.com/api/v1"
    assert c._auth._token == TOKEN
    assert c.workers == 7


def test_from_env_falls_back_to_the_default_cli_instance(tmp_path):
    c = Client.from_env(environ={}, config_path=cli_config(tmp_path, INSTANCES))
    assert (c.endpoint, c._auth._token) == ("https://coolify.home.example/api/v1", "2|hometoken")


def test_from_env_default_path_is_under_home(tmp_path):
    folder = tmp_path / ".config" / "coolify"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"instances": INSTANCES}))
    assert client_module.default_config_path({"HOME": str(tmp_path)}) == folder / "config.json"
    assert Client.from_env(environ={"HOME": str(tmp_path)}).endpoint == "https://coolify.home.example/api/v1"


def test_from_env_context_picks_an_instance_and_wins_over_the_variables(tmp_path):
    path = cli_config(tmp_path, INSTANCES)
    env = {"COOLIFY_ENDPOINT": "https://coolify.example.com", "COOLIFY_TOKEN": TOKEN}
    c = Client.from_env(context="local", environ=env, config_path=path)
    assert (c.endpoint, c._auth._token) == ("http://localhost:8000/api/v1", "3|localtoken")


def test_from_env_unknown_context_lists_the_names(tmp_path):
    with pytest.raises(ConfigError) as caught:
        Client.from_env(context="work", environ={}, config_path=cli_config(tmp_path, INSTANCES))
    assert "'work'" in str(caught.value)
    for name in ("cloud", "home", "local"):
        assert name in str(caught.value)


def test_from_env_without_a_default_instance_lists_the_names(tmp_path):
    instances = [{**i, "default": False} for i in INSTANCES]
    with pytest.raises(ConfigError, match="no default instance") as caught:
        Client.from_env(environ={}, config_path=cli_config(tmp_path, instances))
    assert "'cloud', 'home', 'local'" in str(caught.value)
    with pytest.raises(ConfigError, match="several default"):
        Client.from_env(environ={}, config_path=cli_config(tmp_path, [{**i, "default": True} for i in INSTANCES]))


def test_from_env_instance_without_token(tmp_path):
    path = cli_config(tmp_path, [{"name": "cloud", "fqdn": "https://app.coolify.io", "token": "", "default": True}])
    with pytest.raises(ConfigError, match="'cloud'.*no token"):
        Client.from_env(environ={}, config_path=path)


def test_from_env_with_nothing_configured_names_what_is_missing(tmp_path):
    missing = tmp_path / "nope" / "config.json"
    with pytest.raises(ConfigError) as caught:
        Client.from_env(environ={}, config_path=missing)
    text = str(caught.value)
    assert "COOLIFY_ENDPOINT" in text and "COOLIFY_TOKEN" in text and str(missing) in text
    with pytest.raises(ConfigError, match="context 'home'"):
        Client.from_env(context="home", environ={}, config_path=missing)
    with pytest.raises(ConfigError, match='no "instances" list'):
        path = tmp_path / "odd.json"
        path.write_text("[]")
        Client.from_env(environ={}, config_path=path)


def test_from_env_half_set_variables(tmp_path, caplog):
    missing = tmp_path / "none.json"
    with pytest.raises(ConfigError) as caught:
        Client.from_env(environ={"COOLIFY_TOKEN": TOKEN}, config_path=missing)
    assert "COOLIFY_ENDPOINT" in str(caught.value) and "COOLIFY_TOKEN not" not in str(caught.value)
    assert SECRET not in str(caught.value)
    # With a coolify-cli config the instance is used whole (never an endpoint from one place and a token from
    # another), and the ignored variable is named in a warning.
    caplog.set_level(logging.WARNING)
    c = Client.from_env(environ={"COOLIFY_TOKEN": TOKEN}, config_path=cli_config(tmp_path, INSTANCES))
    assert (c.endpoint, c._auth._token) == ("https://coolify.home.example/api/v1", "2|hometoken")
    assert "COOLIFY_TOKEN is set but COOLIFY_ENDPOINT is not" in caplog.text
    assert SECRET not in caplog.text


def test_from_env_never_reads_coolify_url(tmp_path):
    env = {"COOLIFY_URL": "https://my-app.example.com", "COOLIFY_TOKEN": TOKEN}
    with pytest.raises(ConfigError) as caught:
        Client.from_env(environ=env, config_path=tmp_path / "none.json")
    assert "COOLIFY_URL is set but not used" in str(caught.value)
    # Even with a config file to fall back on, COOLIFY_URL does not become the endpoint.
    c = Client.from_env(environ=env, config_path=cli_config(tmp_path, INSTANCES))
    assert "my-app" not in c.endpoint
    assert c.endpoint == "https://coolify.home.example/api/v1"


# --- against the sandbox (a local Coolify-compatible server) -------------------------------------------------------


@pytest.fixture
def sandbox():
    from bulkbackup.sandbox import Sandbox

    with Sandbox(databases=12, seed=3, job_delay=0.01) as sb:
        yield sb


def running_backup(sb) -> dict:
    return next(b for b in sb.backups if str(b["database_status"]).startswith("running"))


def test_sandbox_list_databases_version_health(sandbox):
    with Client(sandbox.endpoint, sandbox.token) as c:
        databases = c.list_databases()
        assert c.version() == "4.3.11"
        assert c.health() is True
        assert c.limiter.budget == sandbox.rate_limit - 2  # learned from the headers
    assert {d["uuid"] for d in databases} == {d["uuid"] for d in sandbox.databases}
    assert all(isinstance(d["backup_configs"], list) for d in databases)


def test_sandbox_revoked_token_is_an_auth_error(sandbox):
    with Client(sandbox.endpoint, sandbox.token) as c:
        c.list_databases()
        sandbox.revoke(sandbox.token)
        with pytest.raises(AuthError, match="Unauthenticated") as caught:
            c.list_databases()
    assert caught.value.status == 401


def test_sandbox_api_disabled_is_an_auth_error_but_health_still_answers(sandbox):
    sandbox.set_api_enabled(False)
    with Client(sandbox.endpoint, sandbox.token) as c:
        with pytest.raises(AuthError, match="API is disabled") as caught:
            c.list_databases()
        assert caught.value.status == 403
        assert c.health() is True


def test_sandbox_missing_abilities(sandbox):
    with Client(sandbox.endpoint, sandbox.write_token) as c:
        with pytest.raises(AuthError, match="read ability"):
            c.version()
    with Client(sandbox.endpoint, sandbox.read_token) as c:
        assert c.version() == "4.3.11"
        backup = running_backup(sandbox)
        response = c.send(
            "PATCH", f"/databases/{backup['database_uuid']}/backups/{backup['backup_uuid']}", json={"enabled": True}
        )
    assert response.status_code == 403 and "write" in response.json()["message"]


def test_sandbox_a_dropped_trigger_is_unknown_and_never_sent_twice(sandbox):
    backup = running_backup(sandbox)
    path = f"/databases/{backup['database_uuid']}/backups/{backup['backup_uuid']}"
    sandbox.set_faults({"drop": 1.0})
    with Client(sandbox.endpoint, sandbox.token, retry=FAST) as c:
        unsafe = c.attempt("PATCH", path, json={"backup_now": True}, unsafe=True)
        safe = c.attempt("PATCH", path, json={"timeout": 1234}, unsafe=False)
        sandbox.set_faults({"503": 1.0})
        refused_trigger = c.attempt("PATCH", path, json={"backup_now": True}, unsafe=True)
    assert (unsafe.outcome, unsafe.attempts) == (Outcome.UNKNOWN, 1)
    assert (safe.outcome, safe.attempts) == (Outcome.FAILED, 3)
    assert (refused_trigger.outcome, refused_trigger.attempts) == (Outcome.FAILED, 3)
    sandbox.wait_for_jobs(5.0)
    assert sandbox.job_count(backup["backup_uuid"]) == 1  # the dropped one ran; the 503s never did
    assert sandbox.config(backup["backup_uuid"])["timeout"] == 1234


def test_sandbox_forced_429s_cost_no_attempt(sandbox):
    backup = running_backup(sandbox)
    path = f"/databases/{backup['database_uuid']}/backups/{backup['backup_uuid']}"
    sandbox.set_faults({"429": 0.5})
    with Client(sandbox.endpoint, sandbox.token, retry=FAST) as c:
        results = [c.attempt("PATCH", path, json={"timeout": 600 + i}, unsafe=False) for i in range(5)]
        throttled = c.limiter.stats.throttled
    assert [(r.outcome, r.attempts, r.response.status_code) for r in results] == [(Outcome.DONE, 1, 200)] * 5
    assert throttled >= 1  # seed 3 draws at least one 429 in the first few PATCHes
    assert sandbox.config(backup["backup_uuid"])["timeout"] == 604


def test_sandbox_rate_limit_is_followed_by_four_threads():
    from bulkbackup.sandbox import Sandbox

    with Sandbox(databases=3, seed=4, rate_limit=6, window=1.0) as sb:
        with Client(sb.endpoint, sb.token, workers=4) as c:
            answers: list[int] = []
            lock = threading.Lock()

            def worker() -> None:
                for _ in range(4):
                    status = c.send("GET", "/version").status_code
                    with lock:
                        answers.append(status)

            started = time.monotonic()
            threads = [threading.Thread(target=worker) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            elapsed = time.monotonic() - started
            stats = c.limiter.stats
    assert answers == [200] * 16
    # 16 requests at 6 per window need three windows: two full ones must pass (no upper bound: a loaded machine
    # may take any time).
    assert elapsed >= 1.9
    # Each spent window costs one refused probe, plus a few re-probes in the last fraction of a second: a handful per
    # window that passed, however loaded the machine (one that hammers would be refused hundreds of times).
    windows = int(elapsed // 1.0) + 1
    assert stats.throttled <= 4 * windows, (stats, elapsed)


def test_nginx_answering_plain_http_on_its_tls_port_suggests_https(server, client):
    page = b"<html><body><center>The plain HTTP request was sent to HTTPS port</center></body></html>"
    server.script = [Reply(400, page, {"Content-Type": "text/html"})]
    with pytest.raises(ApiError) as caught:
        client.list_databases()
    assert str(caught.value).startswith(
        f"GET /databases: the port speaks TLS: use {server.base.replace('http', 'https')}"
    )
