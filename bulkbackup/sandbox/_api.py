"""The Coolify API for database backups, request in, response out, without the HTTP transport.

`CoolifyApi.handle()` follows the server's order exactly (API-RULES §2-§4): routing (unknown /api paths and
wrong methods fall to the catch-all 404), then for protected routes auth:sanctum (401) → throttle (429) →
api.token.team (401/403) → ApiAllowed (403) → api.sensitive → api.ability (403) → the controller.

Choices where API-RULES is silent are marked "Sandbox choice" below.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from bulkbackup.sandbox import _writes
from bulkbackup.sandbox._auth import Token, TokenStore
from bulkbackup.sandbox._fleet import BackupConfig, Database, Fleet, Project
from bulkbackup.sandbox._http import (
    CONFIG_NOT_FOUND,
    HTML,
    NOT_FOUND,
    ApiRequest,
    ApiResponse,
    error_page,
    exception_response,
    json_response,
    parse_query,
    request_data,
)
from bulkbackup.sandbox._jobs import BackupJobs
from bulkbackup.sandbox._laravel import PHP_ARRAY, Validator, bearer_token, php_to_string, php_truthy
from bulkbackup.sandbox._limiter import FixedWindowLimiter, Refusal
from bulkbackup.sandbox._rules import DOCUMENTED, DROPPED_KEYS, keys_on, older, patch_rules, post_rules

VERSION = DOCUMENTED
"""The version the sandbox answers as by default: the one API-RULES describes."""
__all__ = ["DROPPED_KEYS", "VERSION", "ApiRequest", "ApiResponse", "CoolifyApi", "exception_response"]

Handler = Callable[["CoolifyApi", ApiRequest, Token, bool, dict[str, str], dict[str, object]], ApiResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    ability: str
    handler: Handler


class CoolifyApi:
    def __init__(
        self,
        fleet: Fleet,
        tokens: TokenStore,
        *,
        rate_limit: int,
        window: float,
        job_delay: float,
        seed: int,
        lock: threading.Lock,
        version: str = VERSION,
    ):
        if rate_limit < 1:
            raise ValueError("rate_limit must be at least 1 request per window")
        self.fleet = fleet
        self.tokens = tokens
        self.lock = lock
        self.rate_limit = int(rate_limit)
        self.limiter = FixedWindowLimiter(window)
        self.jobs = BackupJobs(fleet, lock, job_delay, seed)
        self.version = version
        # The rules of this version: a key newer than it is an extra key there ("This field is not allowed.").
        self.allowed_keys = frozenset(k.name for k in keys_on(version))
        self.setting_names = self.allowed_keys - {"backup_now"}
        self.validator = Validator(patch_rules(version), self._storage_exists)
        self.post_validator = Validator(post_rules(version), self._storage_exists)
        self.ids = random.Random(f"created-{seed}")  # uuids of created configurations: alike when seeded alike
        self.created: list[tuple[str, str]] = []  # (database uuid, backup uuid) of every POST that created one
        self.deleted: list[tuple[str, str]] = []  # ... of every DELETE that deleted one
        self.deleted_files: list[tuple[str, str]] = []  # ("local" | "s3", path) of every backup file deleted
        self.api_enabled = True  # Sandbox choice: on, where a fresh Coolify install starts with the API off
        self.allowed_ips: frozenset[str] | None = None  # the API IP allow-list; None (or 0.0.0.0 in it) allows all

    # --- routing ---------------------------------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> ApiResponse:
        raw_path, _, query = request.target.partition("?")
        path = unquote(raw_path).rstrip("/") or "/"  # Laravel matches the decoded path, trailing slash ignored
        method = "GET" if request.method == "HEAD" else request.method
        if path == "/api/health" and method == "GET":
            # The exact path api/health has its own 1000/min limit by IP (same counter as other IP hits).
            return self._by_ip(request, 1000, lambda: ApiResponse(200, b"OK", HTML))
        if path != "/api" and not path.startswith("/api/"):
            # Sandbox choice: outside /api the real server shows its web UI; here a plain 404 page.
            return ApiResponse(404, error_page(404, "Not Found"), HTML)
        if path == "/api/v1/health" and method == "GET":
            return self._by_ip(request, self.rate_limit, lambda: ApiResponse(200, b"OK", HTML))
        for route in ROUTES:
            # The method first: it is cheaper than the pattern, and a match under another method is skipped anyway.
            match = route.method == method and route.pattern.fullmatch(path)
            if match:
                return self._protected(request, route, match.groupdict(), query)
        # The catch-all route (api.php:431-433) has no auth, so the throttle keys it by IP.
        return self._by_ip(request, self.rate_limit, lambda: ApiResponse(404, NOT_FOUND))

    def _by_ip(self, request: ApiRequest, limit: int, respond: Callable[[], ApiResponse]) -> ApiResponse:
        return self._throttled(request, f"ip:{request.client_ip}", limit, respond)

    def _throttled(self, request: ApiRequest, key: str, limit: int, respond: Callable[[], ApiResponse]) -> ApiResponse:
        with self.lock:
            refusal = self.limiter.attempt(key, limit, time.time())
        if refusal is not None:
            return self.too_many_attempts(request, refusal)
        response = respond()
        with self.lock:
            response.headers.extend(self.limiter.headers(key, limit, time.time()))
        return response

    def too_many_attempts(self, request: ApiRequest, refusal: Refusal) -> ApiResponse:
        response = exception_response(request, 429, "Too Many Attempts.", "Too Many Requests")
        response.headers.extend(refusal.headers())
        return response

    # --- middleware ------------------------------------------------------------------------------------------

    def _protected(self, request: ApiRequest, route: Route, params: dict[str, str], query: str) -> ApiResponse:
        token = self.tokens.find(bearer_token(request.headers.get("Authorization")), time.time())
        if token is None:
            return json_response(401, {"message": "Unauthenticated."})
        # The bucket is per user: every token of that user shares it (API-RULES §3).
        return self._throttled(
            request,
            f"user:{token.user.id}",
            self.rate_limit,
            lambda: self._after_throttle(request, route, token, params, query),
        )

    def _after_throttle(
        self, request: ApiRequest, route: Route, token: Token, params: dict[str, str], query: str
    ) -> ApiResponse:
        role = token.user.roles.get(token.team_id)
        if role is None:
            return json_response(401, {"message": "Invalid token."})
        if role == "member" and any(
            token.can(a) for a in ("root", "write", "write:sensitive", "deploy", "read:sensitive")
        ):
            return json_response(403, {"message": "Missing required team role."})
        if not self.api_enabled:
            return json_response(403, {"success": True, "message": "API is disabled."})
        allowed = self.allowed_ips
        if allowed is not None and "0.0.0.0" not in allowed and request.client_ip not in allowed:
            return json_response(403, {"success": True, "message": "You are not allowed to access the API."})
        sensitive = (token.can("root") or token.can("read:sensitive")) and token.user.is_admin(token.team_id)
        if not (token.can("root") or token.can(route.ability)):
            return json_response(403, {"message": f"Missing required permissions: {route.ability}"})
        return route.handler(self, request, token, sensitive, params, parse_query(query))

    # --- lookups ---------------------------------------------------------------------------------------------

    def find_database(self, uuid: object, team_id: int) -> Database | None:
        """queryDatabaseByUuidWithinTeam: the uuid in any standalone table, within the team."""
        if isinstance(uuid, PHP_ARRAY):
            return None
        database = self.fleet.databases_by_uuid.get(php_to_string(uuid))
        return database if database is not None and database.team_id == team_id else None

    def find_config(self, database: Database, uuid: object, team_id: int) -> BackupConfig | None:
        """`ownedByCurrentTeamAPI($team)->where('database_id', $db->id)->where('uuid', $sbu)`: type-blind."""
        if isinstance(uuid, PHP_ARRAY):
            return None
        config = self.fleet.configs_by_uuid.get(php_to_string(uuid))
        if config is None or config.team_id != team_id or config.columns["database_id"] != database.id:
            return None
        return config

    def find_target(
        self, data: dict, params: dict[str, str], token: Token
    ) -> tuple[Database, BackupConfig] | ApiResponse:
        """The database and the backup configuration a request names (a body key overrides the path, as on the
        server), or the 404 the server answers first: the database, then the configuration."""
        database = self.find_database(data.get("uuid", params["uuid"]), token.team_id)
        if database is None:
            return json_response(404, {"message": "Database not found."})
        config = self.find_config(
            database, data.get("scheduled_backup_uuid", params["scheduled_backup_uuid"]), token.team_id
        )
        if config is None:
            return json_response(404, CONFIG_NOT_FOUND)
        return database, config

    def _storage_exists(self, table: str, column: str, value: object) -> bool:
        """The `exists:s3_storages,uuid` rule: a storage with that uuid in *any* team."""
        return (
            (table, column) == ("s3_storages", "uuid")
            and isinstance(value, str)
            and (value in self.fleet.storages_by_uuid)
        )

    # --- controllers -----------------------------------------------------------------------------------------

    def version(self, request, token, sensitive, params, query) -> ApiResponse:
        return ApiResponse(200, self.version.encode(), HTML)

    def list_databases(self, request, token, sensitive, params, query) -> ApiResponse:
        team = token.team_id
        with self.lock:
            body = []
            for database in self.fleet.team_databases(team):
                view = database.api_view(sensitive)
                view["backup_configs"] = [c.to_api("latest_log") for c in self.fleet.configs_for(database.id, team)]
                body.append(view)
        return json_response(200, body)

    def list_backups(self, request, token, sensitive, params, query) -> ApiResponse:
        data = request_data(request, query)
        uuid = data.get("uuid", params["uuid"])  # Request::__get reads the input before the route parameter
        if not php_truthy(uuid):
            return json_response(404, {"message": "UUID is required."})
        database = self.find_database(uuid, token.team_id)
        if database is None:
            return json_response(404, {"message": "Database not found."})
        with self.lock:
            body = [c.to_api("executions") for c in self.fleet.configs_for(database.id, token.team_id)]
        return json_response(200, body)

    def list_executions(self, request, token, sensitive, params, query) -> ApiResponse:
        target = self.find_target(request_data(request, query), params, token)
        if isinstance(target, ApiResponse):
            return target
        _, config = target
        with self.lock:
            body = {"executions": [e.to_listing() for e in reversed(config.executions)]}
        return json_response(200, body)

    def list_projects(self, request, token, sensitive, params, query) -> ApiResponse:
        """GET /projects (ProjectController.php:47-57): id, uuid, name, description of every team project."""
        with self.lock:
            body = [p.to_listing() for p in self.fleet.team_projects(token.team_id)]
        return json_response(200, body)

    def _project(self, uuid: object, team_id: int) -> Project | None:
        """`Project::whereTeamId($teamId)->whereUuid($uuid)->first()`."""
        if uuid is None or isinstance(uuid, PHP_ARRAY):
            return None
        project = self.fleet.projects_by_uuid.get(php_to_string(uuid))
        return project if project is not None and project.team_id == team_id else None

    def get_project(self, request, token, sensitive, params, query) -> ApiResponse:
        """GET /projects/{uuid} (ProjectController.php:90-107): 404 "Project not found.", else the project with
        its environments. `authorize('view')` only asks that the user be in the project's team: always true here."""
        data = request_data(request, query)
        project = self._project(data.get("uuid", params["uuid"]), token.team_id)
        if project is None:
            return json_response(404, {"message": "Project not found."})
        with self.lock:
            body = project.to_api(self.fleet.environments_by_project.get(project.id, []))
        return json_response(200, body)

    def list_environments(self, request, token, sensitive, params, query) -> ApiResponse:
        """GET /projects/{uuid}/environments (ProjectController.php:541-560): 422 when the uuid is empty (only an
        empty `?uuid=` gets there), 404 "Project not found.", else id, uuid, name of each environment."""
        data = request_data(request, query)
        uuid = data.get("uuid", params["uuid"])
        if not php_truthy(uuid):
            return json_response(422, {"message": "Project UUID is required."})
        project = self._project(uuid, token.team_id)
        if project is None:
            return json_response(404, {"message": "Project not found."})
        with self.lock:
            body = [e.to_listing() for e in self.fleet.environments_by_project.get(project.id, [])]
        return json_response(200, body)

    def list_storages(self, request, token, sensitive, params, query) -> ApiResponse:
        """GET /s3-storages (since v4.3.0): the team's storages, `id` hidden, key/secret only when sensitive."""
        if older(self.version, "4.3.0"):
            return json_response(404, {"message": "Not found.", "docs": "https://coolify.io/docs"})
        return json_response(200, [s.to_api(sensitive) for s in self.fleet.storages if s.team_id == token.team_id])

    def get_storage(self, request, token, sensitive, params, query) -> ApiResponse:
        """GET /s3-storages/{uuid} (since v4.3.0). Sandbox choice: API-RULES does not quote the not-found answer;
        a 404 "Storage not found." as the other controllers word theirs."""
        if older(self.version, "4.3.0"):
            return json_response(404, {"message": "Not found.", "docs": "https://coolify.io/docs"})
        storage = self.fleet.storages_by_uuid.get(params["uuid"])
        if storage is None or storage.team_id != token.team_id:
            return json_response(404, {"message": "Storage not found."})
        return json_response(200, storage.to_api(sensitive))


_UUID = r"(?P<uuid>[^/]+)"
_SBU = r"(?P<scheduled_backup_uuid>[^/]+)"
ROUTES = (
    Route("GET", re.compile(r"/api/v1/version"), "read", CoolifyApi.version),
    Route("GET", re.compile(r"/api/v1/databases"), "read", CoolifyApi.list_databases),
    Route("GET", re.compile(rf"/api/v1/databases/{_UUID}/backups"), "read", CoolifyApi.list_backups),
    Route(
        "GET", re.compile(rf"/api/v1/databases/{_UUID}/backups/{_SBU}/executions"), "read", CoolifyApi.list_executions
    ),
    Route("POST", re.compile(rf"/api/v1/databases/{_UUID}/backups"), "write", _writes.create_backup),
    Route("PATCH", re.compile(rf"/api/v1/databases/{_UUID}/backups/{_SBU}"), "write", _writes.update_backup),
    Route("DELETE", re.compile(rf"/api/v1/databases/{_UUID}/backups/{_SBU}"), "write", _writes.delete_backup),
    Route(
        "DELETE",
        re.compile(rf"/api/v1/databases/{_UUID}/backups/{_SBU}/executions/(?P<execution_uuid>[^/]+)"),
        "write",
        _writes.delete_execution,
    ),
    Route("GET", re.compile(r"/api/v1/s3-storages"), "read", CoolifyApi.list_storages),
    Route("GET", re.compile(rf"/api/v1/s3-storages/{_UUID}"), "read", CoolifyApi.get_storage),
    # routes/api.php:96-98. Sandbox choice: the environment-details route (/projects/{uuid}/{name_or_uuid},
    # api.php:107) is not served; it falls to the catch-all 404.
    Route("GET", re.compile(r"/api/v1/projects"), "read", CoolifyApi.list_projects),
    Route("GET", re.compile(rf"/api/v1/projects/{_UUID}"), "read", CoolifyApi.get_project),
    Route("GET", re.compile(rf"/api/v1/projects/{_UUID}/environments"), "read", CoolifyApi.list_environments),
)
