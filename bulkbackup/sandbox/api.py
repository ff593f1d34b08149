"""The Coolify API for database backups, request in, response out, without the HTTP transport.

`CoolifyApi.handle()` follows the server's order exactly (API-RULES §2-§4): routing (unknown /api paths and
wrong methods fall to the catch-all 404), then for protected routes auth:sanctum (401) → throttle (429) →
api.token.team (401/403) → ApiAllowed (403) → api.sensitive → api.ability (403) → the controller.

Choices where API-RULES is silent are marked "Sandbox choice" below.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus

from bulkbackup._core.cron import is_valid_frequency
from bulkbackup._core.fields import ALL_FIELDS, SETTINGS, Field, shell_problem
from bulkbackup._core.versions import DOCUMENTED
from bulkbackup.sandbox.auth import Token, TokenStore
from bulkbackup.sandbox.fleet import BackupConfig, Database, Fleet, Project
from bulkbackup.sandbox.jobs import BackupJobs
from bulkbackup.sandbox.laravel import (
    PHP_ARRAY,
    InvalidJson,
    Validator,
    bearer_token,
    clean_input,
    decoded_truthy,
    expects_json,
    is_json_request,
    json_body,
    php_json_decode,
    php_to_string,
    php_truthy,
    pretty_json_body,
    request_boolean,
    request_filled,
    request_input,
)
from bulkbackup.sandbox.limiter import FixedWindowLimiter, Refusal
from bulkbackup.sandbox.model import ColumnOverflow, prepare_update
from bulkbackup.sandbox.shapes import S3_ID_COLUMN, S3_UUID_FIELD, laravel_timestamp

VERSION = DOCUMENTED
"""The version the sandbox answers as by default: the one API-RULES describes."""
JSON = "application/json"
HTML = "text/html; charset=UTF-8"


def patch_fields(version: str) -> tuple[Field, ...]:
    """The fields update_backup accepts on that version (a field newer than it is an extra key there)."""
    return tuple(f for f in ALL_FIELDS if f.missing_on(version) is None)


# The validator of update_backup (DC 1068-1083), rule strings straight from bulkbackup._core.fields.
PATCH_RULES: dict[str, str] = {f.name: f.laravel_rules for f in patch_fields(VERSION)}
ALLOWED_KEYS = frozenset(f.name for f in patch_fields(VERSION))
SETTING_NAMES = frozenset(f.name for f in SETTINGS)
# The fields update_backup treats specially, by the server's own names.
FREQUENCY, SAVE_S3, DATABASES_TO_BACKUP, BACKUP_NOW = "frequency", "save_s3", "databases_to_backup", "backup_now"
assert {FREQUENCY, SAVE_S3, DATABASES_TO_BACKUP, BACKUP_NOW, S3_UUID_FIELD} <= ALLOWED_KEYS

# removeUnnecessaryFieldsFromRequest() (bootstrap/helpers/api.php:366-413) silently drops these from the JSON
# body. API-RULES counts 45 keys at commit 379abb2 and names 16; the others listed here are every key the
# stored versions of the helper unset. Sandbox choice: the rest of the 45 could not be found, and are
# rejected as "not allowed" like any unknown key.
DROPPED_KEYS = frozenset(
    (
        "project_uuid",
        "environment_name",
        "environment_uuid",
        "destination_uuid",
        "server_uuid",
        "type",
        "domains",
        "instant_deploy",
        "github_app_uuid",
        "private_key_uuid",
        "use_build_server",
        "use_build_secrets",
        "is_static",
        "is_spa",
        "force_domain_override",
        "autogenerate_domain",
        "use_coolify_json",
        "docker_compose_raw",
        "tags",
    )
)

PATCH_OK = json_body({"message": "Database backup configuration updated"})
NOT_FOUND = json_body({"message": "Not found.", "docs": "https://coolify.io/docs"})
_ERROR_PAGE = """<!DOCTYPE html>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{title}</title>
    </head>
    <body class="antialiased">
        <div class="flex items-center pt-8 sm:justify-start sm:pt-0">
            <div class="px-4 text-lg">{status}</div>
            <div class="ml-4 text-lg uppercase tracking-wider">{title}</div>
        </div>
    </body>
</html>
"""


@dataclass
class ApiRequest:
    method: str
    target: str  # the raw request target: path and query
    headers: Mapping[str, str]  # case-insensitive .get(), like http.client.HTTPMessage
    body: bytes = b""
    client_ip: str = "127.0.0.1"


@dataclass
class ApiResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    from_app: bool = True  # False for what a proxy in front of Laravel answers (no Laravel headers)


def json_response(status: int, payload: object) -> ApiResponse:
    return ApiResponse(status, json_body(payload))


def error_page(status: int, title: str) -> bytes:
    return _ERROR_PAGE.format(status=status, title=title).encode()


def exception_response(request: ApiRequest, status: int, message: str, title: str) -> ApiResponse:
    """An exception rendered by Laravel's handler: pretty JSON if the client expects JSON, else the HTML view."""
    if expects_json(request.headers.get("Accept"), request.headers.get("X-Requested-With")):
        return ApiResponse(status, pretty_json_body({"message": message}))
    return ApiResponse(status, error_page(status, title), HTML)


def parse_query(query: str) -> dict[str, object]:
    """PHP's query-string parsing ($_GET): later keys win, "." and " " in names become "_", a[]/a[k] arrays."""
    result: dict[str, object] = {}
    if not query:
        return result  # the usual case: no query string at all
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = unquote_plus(name).lstrip(" "), unquote_plus(value)
        base, bracket, rest = name.partition("[")
        base = base.replace(" ", "_").replace(".", "_")
        if not base:
            continue
        if bracket and "]" in rest:
            key = rest.split("]", 1)[0]
            container = result.get(base)
            if not isinstance(container, dict):
                container = result[base] = {}
            container[key if key else str(len(container))] = value
        else:
            result[base] = value
    return result


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
        fields = patch_fields(version)
        self.allowed_keys = frozenset(f.name for f in fields)
        self.setting_names = frozenset(f.name for f in fields if f in SETTINGS)
        self.validator = Validator({f.name: f.laravel_rules for f in fields}, self._storage_exists)
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

    def _database(self, uuid: object, team_id: int) -> Database | None:
        """queryDatabaseByUuidWithinTeam: the uuid in any standalone table, within the team."""
        if isinstance(uuid, PHP_ARRAY):
            return None
        database = self.fleet.databases_by_uuid.get(php_to_string(uuid))
        return database if database is not None and database.team_id == team_id else None

    def _config(self, database: Database, uuid: object, team_id: int) -> BackupConfig | None:
        """`ownedByCurrentTeamAPI($team)->where('database_id', $db->id)->where('uuid', $sbu)`: type-blind."""
        if isinstance(uuid, PHP_ARRAY):
            return None
        config = self.fleet.configs_by_uuid.get(php_to_string(uuid))
        if config is None or config.team_id != team_id or config.columns["database_id"] != database.id:
            return None
        return config

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
        data = _request_data(request, query)
        uuid = data.get("uuid", params["uuid"])  # Request::__get reads the input before the route parameter
        if not php_truthy(uuid):
            return json_response(404, {"message": "UUID is required."})
        database = self._database(uuid, token.team_id)
        if database is None:
            return json_response(404, {"message": "Database not found."})
        with self.lock:
            body = [c.to_api("executions") for c in self.fleet.configs_for(database.id, token.team_id)]
        return json_response(200, body)

    def list_executions(self, request, token, sensitive, params, query) -> ApiResponse:
        data = _request_data(request, query)
        database = self._database(data.get("uuid", params["uuid"]), token.team_id)
        if database is None:
            return json_response(404, {"message": "Database not found."})
        config = self._config(
            database, data.get("scheduled_backup_uuid", params["scheduled_backup_uuid"]), token.team_id
        )
        if config is None:
            return json_response(404, {"message": "Backup configuration not found."})
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
        data = _request_data(request, query)
        project = self._project(data.get("uuid", params["uuid"]), token.team_id)
        if project is None:
            return json_response(404, {"message": "Project not found."})
        with self.lock:
            body = project.to_api(self.fleet.environments_by_project.get(project.id, []))
        return json_response(200, body)

    def list_environments(self, request, token, sensitive, params, query) -> ApiResponse:
        """GET /projects/{uuid}/environments (ProjectController.php:541-560): 422 when the uuid is empty (only an
        empty `?uuid=` gets there), 404 "Project not found.", else id, uuid, name of each environment."""
        data = _request_data(request, query)
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
        return json_response(200, [s.to_api(sensitive) for s in self.fleet.storages if s.team_id == token.team_id])

    def update_backup(self, request, token, sensitive, params, query) -> ApiResponse:
        """PATCH /databases/{uuid}/backups/{scheduled_backup_uuid}: DC 1055-1201, in its order."""
        team = token.team_id
        # 2. validateIncomingRequest()
        if not is_json_request(request.headers.get("Content-Type")):
            return _invalid_request("Content-Type must be application/json.")
        try:
            decoded = php_json_decode(request.body)
        except InvalidJson:
            return _invalid_request("Invalid JSON.")
        if not decoded_truthy(decoded):
            return _invalid_request("Invalid JSON.")
        body = clean_input(request_input(decoded))
        if not body:
            return _invalid_request("Empty JSON.")
        query_input = clean_input(query)
        data = _merge(body, query_input)
        # 3. the validator, every failing rule of every field
        errors = self.validator.errors(data)
        if errors:
            return _validation_failed(errors)
        # 4. Request::__get reads the input before the route parameters: a body key `uuid` replaces the path's.
        uuid = data.get("uuid", params["uuid"])
        if not php_truthy(uuid):
            return json_response(404, {"message": "UUID is required."})
        if not php_truthy(data.get("scheduled_backup_uuid", params["scheduled_backup_uuid"])):
            return json_response(400, {"message": "Scheduled backup UUID is required."})
        # 5. removeUnnecessaryFieldsFromRequest() unsets keys of the JSON body only (query keys stay).
        if not DROPPED_KEYS.isdisjoint(body):
            body = {key: value for key, value in body.items() if key not in DROPPED_KEYS}
            data = _merge(body, query_input)
        # 6. the database, within the token's team
        database = self._database(uuid, team)
        if database is None:
            return json_response(404, {"message": "Database not found."})
        # 7. authorize('update') needs an admin or owner; api.token.team has already stopped members holding a
        #    write ability, so no token reaches this point without passing it.
        # 8. the cron check, only when frequency is filled
        frequency = data.get(FREQUENCY)
        if request_filled(frequency) and not is_valid_frequency(frequency):
            return _validation_failed({FREQUENCY: ["Invalid cron expression or frequency format."]})
        # 9-10. the S3 checks
        s3_uuid = data.get(S3_UUID_FIELD)
        if request_boolean(data.get(SAVE_S3)) and not request_filled(s3_uuid):
            return _validation_failed({S3_UUID_FIELD: ["The s3_storage_uuid field is required when save_s3 is true."]})
        storage = self.fleet.storages_by_uuid.get(s3_uuid) if isinstance(s3_uuid, str) else None
        if request_filled(s3_uuid) and (storage is None or storage.team_id != team):
            return _validation_failed({S3_UUID_FIELD: ["The selected S3 storage is invalid for this team."]})
        # 11. the configuration, by uuid AND the database's numeric id (whatever its type)
        config = self._config(database, data.get("scheduled_backup_uuid", params["scheduled_backup_uuid"]), team)
        if config is None:
            return json_response(404, {"message": "Backup config not found."})
        # 12. every other key, query-string parameters included
        extra = [key for key in data if key not in self.allowed_keys]
        if extra:
            return _validation_failed({key: ["This field is not allowed."] for key in extra})
        # 13. $request->only(fields); s3_storage_uuid → s3_storage_id when set (null or "" is silently dropped)
        values = {name: value for name, value in data.items() if name in self.setting_names}
        if values.pop(S3_UUID_FIELD, None) is not None:
            values[S3_ID_COLUMN] = storage.id
        # 14. the shell-character check of databases_to_backup
        to_backup = values.get(DATABASES_TO_BACKUP)
        if php_truthy(to_backup):
            problem = shell_problem(php_to_string(to_backup))
            if problem:
                return _validation_failed({DATABASES_TO_BACKUP: [problem]})
        # 15. update, then dispatch the job, then 200
        with self.lock:
            try:
                changes = prepare_update(config.columns, values)
            except ColumnOverflow:
                return exception_response(request, 500, "Server Error", "Server Error")
            if changes:
                config.columns.update(changes)
                config.columns["updated_at"] = laravel_timestamp(int(time.time()))
            if php_truthy(data.get(BACKUP_NOW)):
                self.jobs.dispatch(config)
        return ApiResponse(200, PATCH_OK)


def _request_data(request: ApiRequest, query: dict[str, object]) -> dict[str, object]:
    """`$request->all()`: the JSON body when the request is JSON, plus the query string, cleaned."""
    body: dict[str, object] = {}
    if request.body and is_json_request(request.headers.get("Content-Type")):
        try:
            body = request_input(php_json_decode(request.body))
        except InvalidJson:
            body = {}
    return _merge(clean_input(body), clean_input(query))


def _merge(body: dict[str, object], query: dict[str, object]) -> dict[str, object]:
    """PHP's `$input + $query`: body keys win, query keys are added after them."""
    merged = dict(body)
    for key, value in query.items():
        merged.setdefault(key, value)
    return merged


def _invalid_request(error: str) -> ApiResponse:
    return json_response(400, {"message": "Invalid request.", "error": error})


def _validation_failed(errors: dict[str, list[str]]) -> ApiResponse:
    return json_response(422, {"message": "Validation failed.", "errors": errors})


_UUID = r"(?P<uuid>[^/]+)"
_SBU = r"(?P<scheduled_backup_uuid>[^/]+)"
ROUTES = (
    Route("GET", re.compile(r"/api/v1/version"), "read", CoolifyApi.version),
    Route("GET", re.compile(r"/api/v1/databases"), "read", CoolifyApi.list_databases),
    Route("GET", re.compile(rf"/api/v1/databases/{_UUID}/backups"), "read", CoolifyApi.list_backups),
    Route(
        "GET", re.compile(rf"/api/v1/databases/{_UUID}/backups/{_SBU}/executions"), "read", CoolifyApi.list_executions
    ),
    Route("PATCH", re.compile(rf"/api/v1/databases/{_UUID}/backups/{_SBU}"), "write", CoolifyApi.update_backup),
    Route("GET", re.compile(r"/api/v1/s3-storages"), "read", CoolifyApi.list_storages),
    # routes/api.php:96-98. Sandbox choice: the environment-details route (/projects/{uuid}/{name_or_uuid},
    # api.php:107) is not served; it falls to the catch-all 404.
    Route("GET", re.compile(r"/api/v1/projects"), "read", CoolifyApi.list_projects),
    Route("GET", re.compile(rf"/api/v1/projects/{_UUID}"), "read", CoolifyApi.get_project),
    Route("GET", re.compile(rf"/api/v1/projects/{_UUID}/environments"), "read", CoolifyApi.list_environments),
)
