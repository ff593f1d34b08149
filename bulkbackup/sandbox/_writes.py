"""The three controllers that change backup configurations: PATCH (update_backup, DC 1055-1201), POST
(create_backup, DC 806-975) and DELETE (delete_backup_by_uuid, DC 2664-2732), each in the server's check order
(API-RULES §1 and §2). Each is called as a route handler: `(api, request, token, sensitive, params, query)`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bulkbackup.sandbox._cron import valid_frequency
from bulkbackup.sandbox._fleet import BackupConfig, Database, S3Storage
from bulkbackup.sandbox._http import (
    CONFIG_NOT_FOUND,
    ApiRequest,
    ApiResponse,
    exception_response,
    invalid_request,
    json_response,
    merge,
    request_data,
    validation_failed,
)
from bulkbackup.sandbox._laravel import (
    InvalidJson,
    clean_input,
    decoded_truthy,
    is_json_request,
    json_body,
    php_json_decode,
    php_to_string,
    php_truthy,
    request_boolean,
    request_filled,
    request_input,
)
from bulkbackup.sandbox._model import ColumnOverflow, prepare_update, stored_value
from bulkbackup.sandbox._rules import (
    BACKUP_NOW,
    COLUMN_DEFAULTS,
    DEFAULT_DATABASE_COLUMN,
    DROPPED_KEYS,
    S3_ID_COLUMN,
    S3_UUID,
    UNSUPPORTED_TYPES,
    older,
)
from bulkbackup.sandbox._shapes import CONFIG_COLUMNS, laravel_timestamp

if TYPE_CHECKING:
    from bulkbackup.sandbox._api import CoolifyApi
    from bulkbackup.sandbox._auth import Token

FREQUENCY, SAVE_S3, DATABASES_TO_BACKUP = "frequency", "save_s3", "databases_to_backup"
CRON_MESSAGE = "Invalid cron expression or frequency format."
PATCH_OK = json_body({"message": "Database backup configuration updated"})
CREATED_MESSAGE = "Backup configuration created successfully."
DELETED_OK = json_body({"message": "Backup configuration and all executions deleted."})
EXECUTION_DELETED_OK = json_body({"message": "Backup execution deleted."})
UNSUPPORTED_MESSAGE = "Scheduled backups are not supported for this database type."
_PUBLIC_ID = "abcdefghijklmnopqrstuvwxyz0123456789"
# validateShellSafePath (shared.php:136-164): the characters it refuses, in its order and with its words.
_SHELL_CHARS = (
    ("`", "backtick (command substitution)"),
    ("$(", "command substitution"),
    ("${", "variable substitution with potential command injection"),
    ("|", "pipe operator"),
    ("&", "background/AND operator"),
    (";", "command separator"),
    ("\n", "newline (command separator)"),
    ("\r", "carriage return"),
    ("\t", "tab (token separator)"),
    (">", "output redirection"),
    ("<", "input redirection"),
)


def databases_input_problem(text: str) -> str | None:
    """validateDatabasesBackupInput (shared.php:438-475): entries split on "|", `db:col,col` or `a,b`."""
    for entry in (part.strip() for part in text.split("|")):
        if entry in ("", "all", "*"):
            continue
        if ":" in entry:
            database, _, collections = entry.partition(":")
            names = [(database, "database name")] + [(c, "collection name") for c in collections.split(",")]
        else:
            names = [(name, "database name") for name in entry.split(",")]
        for name, what in names:
            for char, description in _SHELL_CHARS:
                if char in name:
                    return (
                        f"Invalid {what}: contains forbidden character '{char}' ({description}). "
                        "Shell metacharacters are not allowed for security reasons."
                    )
    return None


def _json_input(request: ApiRequest) -> dict[str, object] | ApiResponse:
    """validateIncomingRequest() (api.php:341-364): the cleaned JSON body, or its 400."""
    if not is_json_request(request.headers.get("Content-Type")):
        return invalid_request("Content-Type must be application/json.")
    try:
        decoded = php_json_decode(request.body)
    except InvalidJson:
        return invalid_request("Invalid JSON.")
    if not decoded_truthy(decoded):
        return invalid_request("Invalid JSON.")
    body = clean_input(request_input(decoded))
    if not body:
        return invalid_request("Empty JSON.")
    return body


def _s3_problem(api: CoolifyApi, data: dict[str, object], team: int) -> ApiResponse | S3Storage | None:
    """Steps 9-10: save_s3 needs a storage of this team in the same request (even if the config has one)."""
    s3_uuid = data.get(S3_UUID)
    if request_boolean(data.get(SAVE_S3)) and not request_filled(s3_uuid):
        return validation_failed({S3_UUID: ["The s3_storage_uuid field is required when save_s3 is true."]})
    storage = api.fleet.storages_by_uuid.get(s3_uuid) if isinstance(s3_uuid, str) else None
    if request_filled(s3_uuid) and (storage is None or storage.team_id != team):
        return validation_failed({S3_UUID: ["The selected S3 storage is invalid for this team."]})
    return storage


def _settings(api: CoolifyApi, data: dict[str, object], storage: S3Storage | None) -> dict[str, object]:
    """`$request->only($backupConfigFields)`, s3_storage_uuid → s3_storage_id when set (null or "" is dropped)."""
    values = {name: value for name, value in data.items() if name in api.setting_names}
    if values.pop(S3_UUID, None) is not None and storage is not None:
        values[S3_ID_COLUMN] = storage.id
    return values


def _shell_check(values: dict[str, object]) -> ApiResponse | None:
    to_backup = values.get(DATABASES_TO_BACKUP)
    if php_truthy(to_backup):
        problem = databases_input_problem(php_to_string(to_backup))
        if problem:
            return validation_failed({DATABASES_TO_BACKUP: [problem]})
    return None


def update_backup(api: CoolifyApi, request, token: Token, sensitive, params, query) -> ApiResponse:
    """PATCH /databases/{uuid}/backups/{scheduled_backup_uuid}: DC 1055-1201, in its order."""
    team = token.team_id
    # 2. validateIncomingRequest()
    body = _json_input(request)
    if isinstance(body, ApiResponse):
        return body
    query_input = clean_input(query)
    data = merge(body, query_input)
    # 3. the validator, every failing rule of every field
    errors = api.validator.errors(data)
    if errors:
        return validation_failed(errors)
    # 4. Request::__get reads the input before the route parameters: a body key `uuid` replaces the path's.
    uuid = data.get("uuid", params["uuid"])
    if not php_truthy(uuid):
        return json_response(404, {"message": "UUID is required."})
    if not php_truthy(data.get("scheduled_backup_uuid", params["scheduled_backup_uuid"])):
        return json_response(400, {"message": "Scheduled backup UUID is required."})
    # 5. removeUnnecessaryFieldsFromRequest() unsets keys of the JSON body only (query keys stay).
    if not DROPPED_KEYS.isdisjoint(body):
        body = {key: value for key, value in body.items() if key not in DROPPED_KEYS}
        data = merge(body, query_input)
    # 6. the database, within the token's team
    database = api.find_database(uuid, team)
    if database is None:
        return json_response(404, {"message": "Database not found."})
    # 7. authorize('update') needs an admin or owner; api.token.team has already stopped members holding a
    #    write ability, so no token reaches this point without passing it.
    # 8. the cron check, only when frequency is filled
    frequency = data.get(FREQUENCY)
    if request_filled(frequency) and not valid_frequency(frequency):
        return validation_failed({FREQUENCY: [CRON_MESSAGE]})
    # 9-10. the S3 checks
    storage = _s3_problem(api, data, team)
    if isinstance(storage, ApiResponse):
        return storage
    # 11. the configuration, by uuid AND the database's numeric id (whatever its type)
    config = api.find_config(database, data.get("scheduled_backup_uuid", params["scheduled_backup_uuid"]), team)
    if config is None:
        return json_response(404, {"message": "Backup config not found."})
    # 12. every other key, query-string parameters included
    extra = [key for key in data if key not in api.allowed_keys]
    if extra:
        return validation_failed({key: ["This field is not allowed."] for key in extra})
    # 13. $request->only(fields)
    values = _settings(api, data, storage)
    # 14. the shell-character check of databases_to_backup
    problem = _shell_check(values)
    if problem:
        return problem
    # 15. update, then dispatch the job, then 200
    with api.lock:
        try:
            changes = prepare_update(config.columns, values)
        except ColumnOverflow:
            return exception_response(request, 500, "Server Error", "Server Error")
        if changes:
            config.columns.update(changes)
            config.columns["updated_at"] = laravel_timestamp(int(time.time()))
        if php_truthy(data.get(BACKUP_NOW)):
            api.jobs.dispatch(config)
    return ApiResponse(200, PATCH_OK)


def create_backup(api: CoolifyApi, request, token: Token, sensitive, params, query) -> ApiResponse:
    """POST /databases/{uuid}/backups: DC 806-975. Validator → 404 database → authorize('manageBackups') →
    unsupported type → cron → S3 → extra keys (no key is silently dropped here) → default databases_to_backup →
    the shell check → create → 201 with the new uuid."""
    team = token.team_id
    body = _json_input(request)
    if isinstance(body, ApiResponse):
        return body
    data = merge(body, clean_input(query))
    errors = api.post_validator.errors(data)
    if errors:
        return validation_failed(errors)
    uuid = data.get("uuid", params["uuid"])
    if not php_truthy(uuid):
        return json_response(404, {"message": "UUID is required."})
    database = api.find_database(uuid, team)
    if database is None:
        return json_response(404, {"message": "Database not found."})
    # authorize('manageBackups') (403 "You are not authorized to perform this action."): as with PATCH's policy,
    # api.token.team has already stopped every token that would fail it.
    if database.kind.key in UNSUPPORTED_TYPES and not older(api.version, "4.2.0"):
        return json_response(422, {"message": UNSUPPORTED_MESSAGE})
    if not valid_frequency(data.get(FREQUENCY)):
        return validation_failed({FREQUENCY: [CRON_MESSAGE]})
    storage = _s3_problem(api, data, team)
    if isinstance(storage, ApiResponse):
        return storage
    extra = [key for key in data if key not in api.allowed_keys]
    if extra:
        return validation_failed({key: ["This field is not allowed."] for key in extra})
    values = _settings(api, data, storage)
    if not php_truthy(values.get(DATABASES_TO_BACKUP)):
        default = _default_databases(api, database)
        if default is not None:
            values[DATABASES_TO_BACKUP] = default
    problem = _shell_check(values)
    if problem:
        return problem
    with api.lock:
        try:
            stored = {column: stored_value(column, value) for column, value in values.items()}
        except ColumnOverflow:
            return exception_response(request, 500, "Server Error", "Server Error")
        config = _new_config(api, database, stored)
        api.fleet.add_config(config)
        api.created.append((database.uuid, config.uuid))
        if php_truthy(data.get(BACKUP_NOW)):
            api.jobs.dispatch(config)
    return json_response(201, {"uuid": config.uuid, "message": CREATED_MESSAGE})


def _default_databases(api: CoolifyApi, database: Database) -> str | None:
    """DC 921-931: the database's own name column; MongoDB stays null. ClickHouse's default came with v4.2.0."""
    column = DEFAULT_DATABASE_COLUMN.get(database.kind.key)
    if column is None or (database.kind.key == "clickhouse" and older(api.version, "4.2.0")):
        return None
    value = database.attributes.get(column)
    return value if isinstance(value, str) and value else None


def _new_config(api: CoolifyApi, database: Database, stored: dict[str, object]) -> BackupConfig:
    now = laravel_timestamp(int(time.time()))
    uuid = "".join(api.ids.choices(_PUBLIC_ID, k=24))
    while uuid in api.fleet.configs_by_uuid:
        uuid = "".join(api.ids.choices(_PUBLIC_ID, k=24))
    columns: dict[str, object] = {}
    for column in (*CONFIG_COLUMNS, *api.fleet.extra_columns):
        if column in stored:
            columns[column] = stored[column]
        else:
            columns[column] = COLUMN_DEFAULTS.get(column)
    columns.update(
        id=api.fleet.next_config_id,
        uuid=uuid,
        database_type=database.kind.model,
        database_id=database.id,
        team_id=database.team_id,
        created_at=now,
        updated_at=now,
    )
    if "enabled" not in stored:
        columns["enabled"] = True  # DC 951-953: the one default set in code
    return BackupConfig(columns, database)


def delete_backup(api: CoolifyApi, request, token: Token, sensitive, params, query) -> ApiResponse:
    """DELETE /databases/{uuid}/backups/{scheduled_backup_uuid}?delete_s3=: DC 2664-2732. 404 database →
    authorize('update') → 404 configuration → delete the executions and the local files (and the S3 files with
    delete_s3, when the configuration still has a storage) → 200. A second DELETE is a 404."""
    data = request_data(request, query)
    target = api.find_target(data, params, token)
    if isinstance(target, ApiResponse):
        return target
    database, config = target
    delete_s3 = request_boolean(data.get("delete_s3"))
    with api.lock:
        if api.fleet.configs_by_uuid.get(config.uuid) is not config:  # a concurrent DELETE got there first
            return json_response(404, CONFIG_NOT_FOUND)
        api.deleted_files.extend(
            ("local", e.columns["filename"])
            for e in config.executions
            if e.columns["filename"] and not e.columns["local_storage_deleted"]
        )
        if delete_s3 and config.columns[S3_ID_COLUMN] is not None:
            api.deleted_files.extend(
                ("s3", e.columns["filename"])
                for e in config.executions
                if e.columns["filename"] and e.columns["s3_uploaded"] and not e.columns["s3_storage_deleted"]
            )
        api.fleet.remove_config(config)
        api.deleted.append((database.uuid, config.uuid))
    return ApiResponse(200, DELETED_OK)


def delete_execution(api: CoolifyApi, request, token: Token, sensitive, params, query) -> ApiResponse:
    """DELETE …/backups/{scheduled_backup_uuid}/executions/{execution_uuid}?delete_s3=: DC 2796-2860, the same
    order as deleting a configuration, then 404 "Backup execution not found."; removes its local file (and its S3
    file with delete_s3, when the configuration still has a storage)."""
    data = request_data(request, query)
    target = api.find_target(data, params, token)
    if isinstance(target, ApiResponse):
        return target
    database, config = target
    wanted = data.get("execution_uuid", params["execution_uuid"])
    delete_s3 = request_boolean(data.get("delete_s3"))
    with api.lock:
        execution = next((e for e in config.executions if e.columns["uuid"] == wanted), None)
        if execution is None:
            return json_response(404, {"message": "Backup execution not found."})
        columns = execution.columns
        if columns["filename"] and not columns["local_storage_deleted"]:
            api.deleted_files.append(("local", columns["filename"]))
        if delete_s3 and config.columns[S3_ID_COLUMN] is not None and columns["filename"] and columns["s3_uploaded"]:
            api.deleted_files.append(("s3", columns["filename"]))
        config.executions.remove(execution)
    return ApiResponse(200, EXECUTION_DELETED_OK)
