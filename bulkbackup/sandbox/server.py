"""The sandbox server: `CoolifyApi` behind a threaded HTTP/1.1 keep-alive server on 127.0.0.1, with faults.

Speed matters (a bulk client is benchmarked against it), so the transport is lean: http.server's
ThreadingHTTPServer with daemon threads, keep-alive, Nagle off (otherwise every keep-alive request waits
~40 ms for a delayed ACK), one `write` of headers and body per response, no logging. In-process (tests,
notebooks) the server shares one GIL with its client, so every microsecond it spends per request is taken from
the client too, and more than once: its work also evicts the client's code and data from the CPU caches. So
the request path does nothing that only an observer needs (PATCH bodies are decoded when `patch_bodies` is read).
"""

from __future__ import annotations

import json
import random
import shlex
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

from bulkbackup.sandbox._rules import BY_NAME, parse_version
from bulkbackup.sandbox._seed import build_fleet
from bulkbackup.sandbox.api import VERSION, ApiRequest, ApiResponse, CoolifyApi, exception_response
from bulkbackup.sandbox.auth import TokenStore
from bulkbackup.sandbox.faults import BEFORE_PROCESSING, draw, normalize_faults, parse_fault
from bulkbackup.sandbox.fleet import Fleet, add_missing_backup_columns
from bulkbackup.sandbox.shapes import MISSING_BACKUP_COLUMNS

MISSING_BACKUP_FIELD = BY_NAME[MISSING_BACKUP_COLUMNS[0]]
_REASONS = {status.value: status.phrase for status in HTTPStatus}
_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def _proxy_response(status: int) -> ApiResponse:
    """What the reverse proxy in front of Coolify answers by itself (Traefik's plain-text pages)."""
    return ApiResponse(status, _REASONS[status].encode(), "text/plain; charset=utf-8", from_app=False)


class Headers(dict):
    """Request headers by lower-case name; the first of repeated headers wins, as with HTTPMessage.get()."""

    def get(self, name: str, default: str | None = None) -> str | None:
        return dict.get(self, name.lower(), default)  # not super(): this runs several times per request


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    headers: Headers

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle_one_request(self) -> None:
        """BaseHTTPRequestHandler's, with a lean header parser: http.client.parse_headers (the email package)
        costs more than the whole API call."""
        try:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            self.raw_requestline = line
            words = line.decode("latin-1").split()
            if not words:
                return  # a stray CRLF between requests
            if len(line) > 65536 or len(words) != 3 or not words[2].startswith("HTTP/1."):
                self.close_connection = True
                self._write(ApiResponse(400, b"Bad Request", "text/plain; charset=utf-8", from_app=False))
                return
            self.command, self.path, self.request_version = words
            headers = Headers()
            for _ in range(101):
                field = self.rfile.readline(65537)
                if field in (b"\r\n", b"\n", b""):
                    break
                name, _, value = field.decode("latin-1").partition(":")
                headers.setdefault(name.strip().lower(), value.strip())
            else:
                self.close_connection = True
                self._write(ApiResponse(431, b"Request Header Fields Too Large", "text/plain", from_app=False))
                return
            self.headers = headers
            connection = headers.get("connection", "").lower()
            self.close_connection = connection == "close" or (
                self.request_version == "HTTP/1.0" and connection != "keep-alive"
            )
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._serve()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.strip().isdigit():
            return None
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            # The connection closed mid-body (the sandbox stopping under a client): no request to answer or record.
            raise ConnectionError("the connection closed before the whole body arrived")
        return body

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            self._write(ApiResponse(400, b"Bad Request", "text/plain; charset=utf-8", from_app=False))
            return
        request = ApiRequest(self.command, self.path, self.headers, body, self.client_address[0])
        try:
            response = self.server.sandbox._respond(request)
        except Exception as error:  # a sandbox bug: answer as Laravel would, and keep it for the tests to see
            self.server.sandbox.errors.append(error)
            traceback.print_exc()
            response = exception_response(request, 500, "Server Error", "Server Error")
        if response is None:  # the "drop" fault: close without a word
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: ApiResponse) -> None:
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}",
            f"Date: {_http_date()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        if response.from_app:
            lines.append("Cache-Control: no-cache, private")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + response.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, sandbox: Sandbox):
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def close_connections(self) -> None:
        for connection in list(self.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Sandbox:
    """A local server that behaves like the Coolify API for database backups (see API-RULES.md).

        with Sandbox(databases=40, seed=0) as sandbox:
            requests.get(f"{sandbox.endpoint}/databases", headers={"Authorization": f"Bearer {sandbox.token}"})

    Tokens: `token` (root), `read_token`, `write_token`, `other_team_token` (root on a second team with its own
    databases and S3 storage), `member_token` (write, held by a team member who is not an admin: every request
    gets 403 "Missing required team role."). All but the other team's belong to one user, so they share one
    rate-limit bucket.

    `version` is what `GET /version` answers and decides which Coolify it behaves like: before 4.3.18 (the
    default, 4.3.11) `missing_backup_notification_days` is "not allowed" and the configurations lack its columns;
    from 4.3.18 it is a setting, and starting a backup stamps `last_execution_at` (see coolify/UPSTREAM.md).
    """

    def __init__(
        self,
        databases: int = 40,
        seed: int = 0,
        rate_limit: int = 200,
        window: float = 60.0,
        faults: Mapping[object, object] | None = None,
        *,
        port: int = 0,
        job_delay: float = 0.3,
        version: str = VERSION,
    ):
        if parse_version(version) is None:
            raise ValueError(f"version must be a Coolify version such as 4.3.11 or 4.3.18, got {version!r}")
        self.version = version
        self.seed = seed
        self._port = port
        self._lock = threading.Lock()
        self._faults = normalize_faults(faults)
        self._fault_rng = random.Random(f"faults-{seed}")
        self.fleet: Fleet = build_fleet(databases, seed)
        if MISSING_BACKUP_FIELD.accepted_on(version):
            add_missing_backup_columns(self.fleet)
        self._tokens = TokenStore()
        owner, other_owner, member = (self.fleet.users[i] for i in (1, 2, 3))
        self.token = self._tokens.create(owner, 1, ("root",)).plain
        self.read_token = self._tokens.create(owner, 1, ("read",)).plain
        self.write_token = self._tokens.create(owner, 1, ("write",)).plain
        self.other_team_token = self._tokens.create(other_owner, 2, ("root",)).plain
        self.member_token = self._tokens.create(member, 1, ("write",)).plain
        self.api = CoolifyApi(
            self.fleet,
            self._tokens,
            rate_limit=rate_limit,
            window=window,
            job_delay=_job_delay(job_delay),
            seed=seed,
            lock=self._lock,
            version=version,
        )
        # PATCH bodies as received, decoded into `patch_bodies` only when someone reads it: only tests do, and
        # parsing each one on the request path cost more than the rest of reading the request.
        self._undecoded_patch_bodies: list[bytes] = []
        self._patch_bodies: list[object] = []
        self.request_count = 0
        self.errors: list[Exception] = []  # unexpected exceptions while answering (each was a 500)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._server = _Server(self._port, self)
        self._port = self._server.server_address[1]  # a restart keeps the endpoint
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        self.api.jobs.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        self.api.jobs.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: use it as a context manager or call start()")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.url}/api/v1"

    # --- controls --------------------------------------------------------------------------------------------

    def set_api_enabled(self, enabled: bool) -> None:
        """The instance's API switch: off → every protected route answers 403 "API is disabled."."""
        self.api.api_enabled = bool(enabled)

    def set_allowed_ips(self, addresses: Iterable[str] | None) -> None:
        """The instance's API IP allow-list: requests from other addresses get 403 "You are not allowed to access
        the API." (ApiAllowed, after the API switch). None, or "0.0.0.0" in the list, allows every address."""
        self.api.allowed_ips = None if addresses is None else frozenset(addresses)

    def revoke(self, token: str) -> bool:
        """Delete a token: it gets 401 Unauthenticated. afterwards. False if it was unknown."""
        with self._lock:
            return self._tokens.revoke(token)

    def create_token(
        self,
        abilities: Iterable[str] = ("root",),
        *,
        other_team: bool = False,
        member: bool = False,
        expires_at: float | None = None,
    ) -> str:
        """A further token: of the first team's owner (or, with `member`, of its non-admin member, or with
        `other_team` of the second team's owner), with these abilities and an optional expiry (epoch seconds)."""
        user = self.fleet.users[2 if other_team else 3 if member else 1]
        with self._lock:
            return self._tokens.create(user, 2 if other_team else 1, tuple(abilities), expires_at).plain

    def set_faults(self, faults: Mapping[object, object] | None) -> None:
        """Replace the faults (see bulkbackup.sandbox.faults for when each one happens)."""
        self._faults = normalize_faults(faults)

    @property
    def faults(self) -> dict[str, float]:
        return dict(self._faults)

    def reset_rate_limit(self) -> None:
        with self._lock:
            self.api.limiter.reset()

    @property
    def rate_limit(self) -> int:
        return self.api.rate_limit

    @property
    def window(self) -> float:
        return self.api.limiter.window

    @property
    def job_delay(self) -> float:
        return self.api.jobs.delay

    @job_delay.setter
    def job_delay(self, seconds: float) -> None:
        self.api.jobs.delay = _job_delay(seconds)

    # --- what happened ---------------------------------------------------------------------------------------

    @property
    def patch_bodies(self) -> list[object]:
        """Every PATCH body received, in order: the decoded JSON, or the raw bytes where it is not JSON. The same
        list each time, brought up to date on each read (so clear() it to start afresh)."""
        with self._lock:
            self._patch_bodies.extend(map(_decoded, self._undecoded_patch_bodies))
            self._undecoded_patch_bodies.clear()
            return self._patch_bodies

    @patch_bodies.setter
    def patch_bodies(self, bodies: list[object]) -> None:
        with self._lock:
            self._undecoded_patch_bodies.clear()
            self._patch_bodies = bodies

    def job_count(self, backup_uuid: str) -> int:
        """Backup jobs started for that configuration (a trigger dropped by WithoutOverlapping does not count)."""
        with self._lock:
            return self.api.jobs.started.get(backup_uuid, 0)

    @property
    def jobs_started(self) -> dict[str, int]:
        with self._lock:
            return dict(self.api.jobs.started)

    def wait_for_jobs(self, timeout: float = 10.0) -> bool:
        """Wait until no backup job runs; False on timeout."""
        return self.api.jobs.wait_idle(timeout)

    def config(self, backup_uuid: str) -> dict[str, object]:
        """The stored configuration as the API serializes it (every column, in column order)."""
        with self._lock:
            return self.fleet.configs_by_uuid[backup_uuid].to_api()

    def executions(self, backup_uuid: str) -> list[dict[str, object]]:
        """That configuration's executions, newest first, as GET …/backups shows them."""
        with self._lock:
            return [e.to_api() for e in reversed(self.fleet.configs_by_uuid[backup_uuid].executions)]

    # --- the seeded data -------------------------------------------------------------------------------------

    @property
    def databases(self) -> list[dict[str, object]]:
        """This team's databases: uuid, id, name, type, database_type, model, status, project, environment,
        and `backups`, the uuids of the configurations created for it (of its own type)."""
        return [self._summary(d) for d in self.fleet.team_databases(1)]

    @property
    def other_team_databases(self) -> list[dict[str, object]]:
        return [self._summary(d) for d in self.fleet.team_databases(2)]

    def _summary(self, database) -> dict[str, object]:
        summary = database.summary()
        summary["backups"] = [
            c.uuid for c in self.fleet.configs_for(database.id, database.team_id) if c.database is database
        ]
        return summary

    @property
    def backups(self) -> list[dict[str, object]]:
        """One row per configuration of this team: database_uuid, backup_uuid, database_type, database_status."""
        return [
            {
                "database_uuid": c.database.uuid,
                "backup_uuid": c.uuid,
                "database_type": c.database.kind.api_type,
                "database_status": c.database.status,
            }
            for d in self.fleet.team_databases(1)
            for c in self.fleet.configs_for(d.id, 1)
            if c.database is d
        ]

    @property
    def s3_storages(self) -> list[dict[str, object]]:
        return [s.summary() for s in self.fleet.storages if s.team_id == 1]

    @property
    def other_team_s3_uuid(self) -> str:
        return next(s.uuid for s in self.fleet.storages if s.team_id == 2)

    # --- the request path ------------------------------------------------------------------------------------

    def _respond(self, request: ApiRequest) -> ApiResponse | None:
        """Count, record, inject faults around CoolifyApi.handle(); None means "drop the connection"."""
        fault = None
        with self._lock:
            self.request_count += 1
            if request.method == "PATCH":
                self._undecoded_patch_bodies.append(request.body)
                faults = self._faults
                fault = draw(faults, self._fault_rng) if faults else None
        if fault in BEFORE_PROCESSING:
            if fault == "503":
                return _proxy_response(503)
            return self.api.too_many_attempts(request, self.api.limiter.forced_refusal(self.rate_limit, time.time()))
        response = self.api.handle(request)
        if request.method != "PATCH":
            return response
        latency = self._faults.get("latency", 0.0)
        if latency:
            time.sleep(latency)
        if fault == "500":
            failed = exception_response(request, 500, "Server Error", "Server Error")
            failed.headers = [(k, v) for k, v in response.headers if k.startswith("X-RateLimit")]
            return failed
        if fault == "502":
            return _proxy_response(502)
        if fault == "drop":
            return None
        return response


def _job_delay(seconds: float) -> float:
    if not 0 <= float(seconds) < float("inf"):
        raise ValueError(f"job_delay must be a number of seconds >= 0, got {seconds!r}")
    return float(seconds)


def _decoded(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return body


def serve(
    port: int = 0,
    databases: int = 40,
    seed: int = 0,
    rate_limit: int = 200,
    window: float = 60.0,
    faults: Mapping[object, object] | Iterable[str] | None = None,
    out: TextIO | None = None,
    version: str = VERSION,
) -> None:
    """Run a sandbox until Ctrl-C, after printing its endpoint and tokens one per line (`out`: default stdout).

    `faults` is a mapping ({"500": 0.1}) or "KEY=VALUE" strings as a command line gives them.
    """
    out = out if out is not None else sys.stdout
    if faults is not None and not isinstance(faults, Mapping):
        faults = dict(parse_fault(text) for text in faults)
    with Sandbox(databases, seed, rate_limit, window, faults, port=port, version=version) as sandbox:
        print(f"endpoint: {sandbox.endpoint}", file=out)
        print(f"root token: {sandbox.token}", file=out)
        print(f"read token: {sandbox.read_token}", file=out)
        print(f"write token: {sandbox.write_token}", file=out)
        print(f"other team token: {sandbox.other_team_token}", file=out)
        print(f"Coolify version: {sandbox.version}", file=out)
        # Quoted for a shell: the token's "|" would otherwise start a pipeline when pasted.
        print("\nto use it from another shell, paste:", file=out)
        print(f"export COOLIFY_ENDPOINT={shlex.quote(sandbox.endpoint)}", file=out)
        print(f"export COOLIFY_TOKEN={shlex.quote(sandbox.token)}", file=out)
        out.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
