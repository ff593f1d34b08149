"""The sandbox: `CoolifyApi` behind the HTTP transport (`_transport`) on 127.0.0.1, with faults; `Sandboxes`
runs several at once (`_serve` runs them in the foreground).

In-process (tests,
notebooks) the server shares one GIL with its client, so every microsecond it spends per request is taken from
the client too, and more than once: its work also evicts the client's code and data from the CPU caches. So
the request path does nothing that only an observer needs (PATCH bodies are decoded when `patch_bodies` is read).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from bulkbackup.sandbox._api import VERSION, ApiRequest, ApiResponse, CoolifyApi, exception_response
from bulkbackup.sandbox._auth import TokenStore
from bulkbackup.sandbox._faults import BEFORE_PROCESSING, PROBABILISTIC, draw, normalize_faults
from bulkbackup.sandbox._fleet import Fleet, add_missing_backup_columns
from bulkbackup.sandbox._rules import BY_NAME, parse_version
from bulkbackup.sandbox._seed import build_fleet
from bulkbackup.sandbox._shapes import MISSING_BACKUP_COLUMNS
from bulkbackup.sandbox._transport import PortUnavailable, Server, proxy_response, unavailable

MISSING_BACKUP_FIELD = BY_NAME[MISSING_BACKUP_COLUMNS[0]]
WRITE_METHODS = frozenset({"PATCH", "POST", "DELETE"})  # the methods faults apply to (see `_faults`)
__all__ = ["PortUnavailable", "Sandbox", "Sandboxes"]


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

    Writes: PATCH, POST (create; 201 with the new uuid) and DELETE of backup configurations, as API-RULES has
    them. What they did: `patch_bodies`, `post_bodies`, `delete_targets` (as received), `created` and `deleted`
    ((database uuid, backup uuid) pairs), `deleted_files` (("local" | "s3", path)).

    Faults (see `_faults`) hit PATCH, POST and DELETE, or only `fault_methods`; `fail_next("POST", "502")` makes
    the next POST fail after the configuration was created.

    `cases=True` adds the project "Policy Cases": one running database per thing a policy finds wrong, named
    after it (compliant-postgresql, disabled-postgresql, never-ran-postgresql, failing-mysql, late-postgresql,
    local-only-mariadb, s3-no-storage-postgresql, unlimited-retention-mongodb, unconfigured-postgresql,
    unconfigured-mysql, unsupported-redis, -keydb, -dragonfly). The rest of the fleet stays as the seed makes it.

    `name` tells instances apart; `Sandbox.many(n, ...)` runs several (see Sandboxes).
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
        fault_methods: Iterable[str] | None = None,
        cases: bool = False,
        name: str | None = None,
    ):
        if parse_version(version) is None:
            raise ValueError(f"version must be a Coolify version such as 4.3.11 or 4.3.18, got {version!r}")
        self.version = version
        self.seed = seed
        self.name = name  # how Sandboxes, tests and notebooks tell instances apart; None: its host:port
        self._port = port
        self._lock = threading.Lock()
        self._faults = normalize_faults(faults)
        self._fault_methods = _fault_methods(fault_methods)
        self._queued_faults: dict[str, list[str]] = {}
        self._fault_rng = random.Random(f"faults-{seed}")
        self.fleet: Fleet = build_fleet(databases, seed, cases=cases)
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
        self._undecoded_post_bodies: list[bytes] = []
        self._post_bodies: list[object] = []
        self.delete_targets: list[str] = []  # the request target (path and query) of every DELETE received
        self.request_count = 0
        self.errors: list[Exception] = []  # unexpected exceptions while answering (each was a 500)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        try:
            self._server = Server(self._port, self)
        except (OSError, OverflowError) as error:
            raise unavailable(self._port, error) from None
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

    @classmethod
    def many(cls, n: int, **options: object) -> Sandboxes:
        """`n` sandboxes to run at once in this process (see `Sandboxes`): each keyword is either one value for
        all, or a list of `n` values, one each. `seed` defaults to 0, 1, …, n-1 and `name` to "sandbox-1", …;
        `seed=[0, 0, 1]` makes the first two alike, so their uuids collide as restored instances' do. A list is
        always one value per sandbox: the same methods for all is `fault_methods=("PATCH", "POST")`, a tuple.

            with Sandbox.many(3, databases=20, rate_limit=[50, 50, 100]) as sandboxes:
                for sandbox in sandboxes: ...
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a number of sandboxes >= 1, got {n!r}")
        options.setdefault("seed", list(range(n)))
        options.setdefault("name", [f"sandbox-{i + 1}" for i in range(n)])
        for key, value in options.items():
            if isinstance(value, list) and len(value) != n:
                raise ValueError(f"{key}: a list gives one value per sandbox, so it needs {n} values, not {len(value)}")
        return Sandboxes(
            cls(**{key: value[i] if isinstance(value, list) else value for key, value in options.items()})
            for i in range(n)
        )

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<Sandbox {self.name or ''} {where} seed={self.seed} version={self.version}>".replace("  ", " ")

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

    def set_faults(self, faults: Mapping[object, object] | None, *, methods: Iterable[str] | None = None) -> None:
        """Replace the faults (see bulkbackup.sandbox._faults for when each one happens); `methods` limits them to
        some of PATCH, POST and DELETE (default: all three)."""
        self._faults = normalize_faults(faults)
        self._fault_methods = _fault_methods(methods)

    def fail_next(self, method: str, fault: str, times: int = 1) -> None:
        """The next `times` requests of `method` (PATCH, POST or DELETE) suffer `fault` ("503", "429", "500",
        "502" or "drop"), whatever the probabilistic faults say: e.g. `fail_next("POST", "502")` answers the next
        POST with a 502 after the configuration was created."""
        method = method.upper()
        if method not in WRITE_METHODS:
            raise ValueError(f"faults apply to PATCH, POST and DELETE, not {method!r}")
        if fault not in PROBABILISTIC:
            raise ValueError(f"unknown fault {fault!r}: expected one of {', '.join(PROBABILISTIC)}")
        with self._lock:
            self._queued_faults.setdefault(method, []).extend([fault] * int(times))

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

    @property
    def post_bodies(self) -> list[object]:
        """Every POST body received, in order, like `patch_bodies` (clear() it to start afresh)."""
        with self._lock:
            self._post_bodies.extend(map(_decoded, self._undecoded_post_bodies))
            self._undecoded_post_bodies.clear()
            return self._post_bodies

    @property
    def created(self) -> list[tuple[str, str]]:
        """(database uuid, backup uuid) of every configuration a POST created, in order."""
        with self._lock:
            return list(self.api.created)

    @property
    def deleted(self) -> list[tuple[str, str]]:
        """(database uuid, backup uuid) of every configuration a DELETE removed, in order."""
        with self._lock:
            return list(self.api.deleted)

    @property
    def deleted_files(self) -> list[tuple[str, str]]:
        """("local" | "s3", path) of every backup file a DELETE removed (S3 ones only with delete_s3)."""
        with self._lock:
            return list(self.api.deleted_files)

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
            method = request.method
            if method in WRITE_METHODS:
                if method == "PATCH":
                    self._undecoded_patch_bodies.append(request.body)
                elif method == "POST":
                    self._undecoded_post_bodies.append(request.body)
                else:
                    self.delete_targets.append(request.target)
                queued = self._queued_faults.get(method)
                if queued:
                    fault = queued.pop(0)
                elif method in self._fault_methods:
                    faults = self._faults
                    fault = draw(faults, self._fault_rng) if faults else None
        if fault in BEFORE_PROCESSING:
            if fault == "503":
                return proxy_response(503)
            return self.api.too_many_attempts(request, self.api.limiter.forced_refusal(self.rate_limit, time.time()))
        response = self.api.handle(request)
        if method not in WRITE_METHODS:
            return response
        latency = self._faults.get("latency", 0.0) if method in self._fault_methods else 0.0
        if latency:
            time.sleep(latency)
        if fault == "500":
            failed = exception_response(request, 500, "Server Error", "Server Error")
            failed.headers = [(k, v) for k, v in response.headers if k.startswith("X-RateLimit")]
            return failed
        if fault == "502":
            return proxy_response(502)
        if fault == "drop":
            return None
        return response


class Sandboxes:
    """Several sandboxes running at once in one process: each on its own port, with its own tokens, rate-limit
    budget, seed and faults. Start and stop them together (`with`), index or iterate them like a list.

    `Sandbox.many(n, ...)` makes them alike but for what you vary; `Sandboxes([Sandbox(...), Sandbox(...)])`
    takes any you made. `cli_config(path)` writes a coolify-cli config file naming each one as a context.
    """

    def __init__(self, sandboxes: Iterable[Sandbox]):
        self._sandboxes = list(sandboxes)
        names = [s.name for s in self._sandboxes if s.name is not None]
        if len(names) != len(set(names)):
            raise ValueError(f"sandbox names must differ, got {names}")

    def start(self) -> Sandboxes:
        started = []
        try:
            for sandbox in self._sandboxes:
                started.append(sandbox.start())
        except BaseException:
            for sandbox in started:
                sandbox.stop()
            raise
        return self

    def stop(self) -> None:
        for sandbox in self._sandboxes:
            sandbox.stop()

    def __enter__(self) -> Sandboxes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __len__(self) -> int:
        return len(self._sandboxes)

    def __iter__(self):
        return iter(self._sandboxes)

    def __getitem__(self, key: int | str) -> Sandbox:
        """By position, or by name."""
        if isinstance(key, str):
            for sandbox in self._sandboxes:
                if sandbox.name == key:
                    return sandbox
            raise KeyError(f"no sandbox named {key!r}; the names are {[s.name for s in self._sandboxes]}")
        return self._sandboxes[key]

    @property
    def endpoints(self) -> list[str]:
        return [s.endpoint for s in self._sandboxes]

    @property
    def tokens(self) -> list[str]:
        return [s.token for s in self._sandboxes]

    @property
    def names(self) -> list[str]:
        """Each sandbox's name; an unnamed one is "sandbox-N" (its place, from 1), as `Sandbox.many` names them."""
        return [s.name or f"sandbox-{i + 1}" for i, s in enumerate(self._sandboxes)]

    def cli_config(self, path: str | os.PathLike, *, default: int | str = 0) -> Path:
        """Write a coolify-cli config file with one instance (context) per sandbox: its name, its URL as `fqdn`
        and its root token; `default` (a position or a name) is the default instance. Returns the path.

            sandboxes.cli_config(tmp_path / ".config" / "coolify" / "config.json")   # coolify-cli's place under HOME

        The file holds the tokens, as coolify-cli's own does: it is written readable by its owner only. A file
        already there is replaced (the sandboxes' ports and tokens change with every start).
        """
        names = self.names
        if len(names) != len(set(names)):
            raise ValueError(f"sandbox names must differ to be coolify-cli contexts, got {names}")
        chosen = names.index(default) if isinstance(default, str) and default in names else default
        if not isinstance(chosen, int) or isinstance(chosen, bool) or not 0 <= chosen < len(names):
            raise ValueError(f"default: a position from 0 to {len(names) - 1} or one of {names}, got {default!r}")
        instances = [
            {"name": name, "fqdn": sandbox.url, "token": sandbox.token, "default": i == chosen}
            for i, (name, sandbox) in enumerate(zip(names, self._sandboxes, strict=True))
        ]
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(target, 0o600)  # a file that was already there keeps its mode through os.open
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"instances": instances}, file, indent=2)
            file.write("\n")
        return target

    def __repr__(self) -> str:
        return f"Sandboxes({self._sandboxes!r})"


def _fault_methods(methods: Iterable[str] | None) -> frozenset[str]:
    if methods is None:
        return WRITE_METHODS
    chosen = frozenset(m.upper() for m in ([methods] if isinstance(methods, str) else methods))
    if not chosen <= WRITE_METHODS:
        raise ValueError(f"faults apply to PATCH, POST and DELETE, not {sorted(chosen - WRITE_METHODS)}")
    return chosen


def _job_delay(seconds: float) -> float:
    if not 0 <= float(seconds) < float("inf"):
        raise ValueError(f"job_delay must be a number of seconds >= 0, got {seconds!r}")
    return float(seconds)


def _decoded(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return body
