"""The sandbox's data: teams, users, projects, environments, databases, S3 storages, backup configurations and
their executions, seeded realistically and deterministically from `random.Random(seed)`.

Seeding choices (API-RULES is silent on what a fleet looks like):
- Database ids come from one counter shared by all types, so two databases share a numeric id only where the
  fleet is built to show the server's type-blind `database_id` bug: a PostgreSQL and a MySQL database (and,
  in larger fleets, a Redis and a MongoDB one) in *different* projects. Keeping such pairs in different
  projects also keeps them clear of `Project::databases()`, which merges per-type collections by primary key.
- The second team ("other team") owns a few databases of its own, one of them sharing a numeric id with a
  first-team database, and its own S3 storage.
- Seeded timestamps are fixed (histories end at BASE_TIME); runtime changes use the real clock.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache

from bulkbackup.sandbox._shapes import iso8601, laravel_timestamp, pg_timestamp, serialize_api_response

BASE_TIME = 1787412170  # 2026-08-22T15:22:50Z, the day of the Coolify commit API-RULES describes
_PUBLIC_ID = string.ascii_lowercase + string.digits
_PUBLIC_ID_PAIRS = [a + b for a in _PUBLIC_ID for b in _PUBLIC_ID]


@dataclass(frozen=True)
class DbKind:
    """One standalone database type and how the server names and backs it up."""

    key: str
    model: str  # the morph class stored in scheduled_database_backups.database_type
    api_type: str  # the database's own appended `database_type`
    image: str
    port: int
    scheme: str
    backups: bool
    dump_prefix: str
    extension: str
    weight: int


_KIND_TABLE = """
key          image                              port   scheme      backups  dump_prefix      extension  weight
postgresql   postgres:16-alpine                 5432   postgres    yes      pg-dump          .dmp       34
mysql        mysql:8                            3306   mysql       yes      mysql-dump       .dmp       18
mariadb      mariadb:11                         3306   mysql       yes      mariadb-dump     .dmp       12
mongodb      mongo:7                            27017  mongodb     yes      mongo-dump       .tar.gz    12
redis        redis:7.2                          6379   redis       no       redis-dump       .rdb       14
clickhouse   clickhouse/clickhouse-server:25.3  9000   clickhouse  yes      clickhouse-dump  .zip       10
keydb        eqalpha/keydb:latest               6379   redis       no       keydb-dump       .rdb       0
dragonfly    dragonflydb/dragonfly:latest       6379   redis       no       dragonfly-dump   .rdb       0
"""
# KeyDB and Dragonfly weigh 0 and come last: random.choices then draws exactly as before they were added, so the
# seeded fleets stay the same; they appear only among the policy cases (`_seed.add_cases`).


def _kinds() -> dict[str, DbKind]:
    rows = [row.split() for row in _KIND_TABLE.strip().splitlines()[1:]]
    return {
        key: DbKind(
            key,
            f"App\\Models\\Standalone{key.capitalize()}",
            f"standalone-{key}",
            image,
            int(port),
            scheme,
            backups == "yes",
            dump_prefix,
            extension,
            int(weight),
        )
        for key, image, port, scheme, backups, dump_prefix, extension, weight in rows
    }


KINDS: dict[str, DbKind] = _kinds()
# Project::databases() order: postgresqls, redis, mongodbs, mysqls, mariadbs, keydbs, dragonflies, clickhouses.
LISTING_ORDER = ("postgresql", "redis", "mongodb", "mysql", "mariadb", "keydb", "dragonfly", "clickhouse")
DUMP_ALL_KINDS = frozenset({"postgresql", "mysql", "mariadb"})  # DatabaseBackupJob honours dump_all only here


@dataclass
class Team:
    id: int
    name: str


@dataclass
class User:
    id: int
    name: str
    email: str
    roles: dict[int, str]  # team id → owner | admin | member

    def is_admin(self, team_id: int) -> bool:
        return self.roles.get(team_id) in ("owner", "admin")


# Projects and environments get their timestamps from their ids, not from the seeded random stream: drawing
# from it here would change every seeded fleet that tests and benchmarks already pin down.
_PROJECT_EPOCH = BASE_TIME - 800 * 86400


@dataclass
class Project:
    id: int
    uuid: str
    name: str
    team_id: int
    description: str | None = None

    @property
    def created(self) -> int:
        return _PROJECT_EPOCH + self.id * 86400

    def columns(self) -> dict[str, object]:
        """The `projects` row in DB column order (create_projects_table, add_icon_columns_to_projects_table)."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "team_id": self.team_id,
            "created_at": laravel_timestamp(self.created),
            "updated_at": laravel_timestamp(self.created),
            "icon_path": None,
            "icon_storage_type": None,
            "icon_s3_storage_id": None,
        }

    def to_listing(self) -> dict[str, object]:
        """One item of GET /projects: `select('id', 'name', 'description', 'uuid')`, serializeApiResponse'd."""
        return serialize_api_response(
            {"id": self.id, "name": self.name, "description": self.description, "uuid": self.uuid}
        )

    def to_api(self, environments: list[Environment]) -> dict[str, object]:
        """GET /projects/{uuid}: every column plus the loaded `environments` (each in its own column order),
        then serializeApiResponse on the whole (which sorts only the top-level keys)."""
        return serialize_api_response(dict(self.columns(), environments=[e.columns() for e in environments]))


@dataclass
class Environment:
    id: int
    uuid: str
    name: str
    project: Project
    description: str | None = None

    @property
    def created(self) -> int:
        # "production" is made with its project (Project::booted); the others some days later.
        return self.project.created + (0 if self.name == "production" else 3600 * (self.id % 97 + 1))

    def columns(self) -> dict[str, object]:
        """The `environments` row in PostgreSQL's column order: `uuid` was added later, and PostgreSQL ignores
        the migration's `->after('id')`, so it comes last."""
        return {
            "id": self.id,
            "name": self.name,
            "project_id": self.project.id,
            "created_at": laravel_timestamp(self.created),
            "updated_at": laravel_timestamp(self.created),
            "description": self.description,
            "uuid": self.uuid,
        }

    def to_listing(self) -> dict[str, object]:
        """One item of GET /projects/{uuid}/environments: `select('id', 'name', 'uuid')`, serializeApiResponse'd."""
        return serialize_api_response({"id": self.id, "name": self.name, "uuid": self.uuid})


@dataclass
class S3Storage:
    id: int
    uuid: str
    name: str
    description: str | None
    region: str
    key: str
    secret: str
    bucket: str
    endpoint: str
    is_usable: bool
    team_id: int
    created_at: int

    def to_api(self, sensitive: bool) -> dict[str, object]:
        """S3StoragesController: the model's attributes with `id` hidden, `key`/`secret` only when sensitive."""
        row = {
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "region": self.region,
            "key": self.key,
            "secret": self.secret,
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "is_usable": self.is_usable,
            "unusable_email_sent": False,
            "team_id": self.team_id,
            "created_at": laravel_timestamp(self.created_at),
            "updated_at": laravel_timestamp(self.created_at),
        }
        if not sensitive:
            del row["key"], row["secret"]
        return row

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "name": self.name,
            "bucket": self.bucket,
            "endpoint": self.endpoint,
            "region": self.region,
            "is_usable": self.is_usable,
        }


SENSITIVE_DATABASE_KEYS = frozenset(
    {
        # DatabasesController::removeSensitiveData hides exactly these without `can_read_sensitive`.
        "internal_db_url",
        "external_db_url",
        "postgres_password",
        "dragonfly_password",
        "redis_password",
        "mongo_initdb_root_password",
        "keydb_password",
        "clickhouse_admin_password",
    }
)


@dataclass
class Database:
    id: int
    uuid: str
    name: str
    kind: DbKind
    status: str
    environment: Environment
    team_id: int
    default_database: str | None  # postgres_db / mysql_database / ..., what an empty databases_to_backup means
    created: int  # epoch seconds of created_at
    attributes: dict[str, object]  # every column and appended attribute except id, as the model serializes
    _views: dict[bool, dict[str, object]] = field(default_factory=dict, repr=False)

    @property
    def is_running(self) -> bool:
        return self.status.startswith("running")

    def api_view(self, sensitive: bool) -> dict[str, object]:
        """The database as GET /databases shows it, `backup_configs` still to be filled in (a fresh copy)."""
        view = self._views.get(sensitive)
        if view is None:
            attributes = dict(self.attributes, backup_configs=None)
            if not sensitive:
                for key in SENSITIVE_DATABASE_KEYS:
                    attributes.pop(key, None)
            view = self._views[sensitive] = serialize_api_response(attributes)
        return dict(view)

    def summary(self) -> dict[str, object]:
        return {
            "uuid": self.uuid,
            "id": self.id,
            "name": self.name,
            "type": self.kind.key,
            "database_type": self.kind.api_type,
            "model": self.kind.model,
            "status": self.status,
            "project": self.environment.project.name,
            "environment": self.environment.name,
        }


@dataclass
class Execution:
    columns: dict[str, object]
    created: int  # epoch seconds, for the executions endpoint's other timestamp format

    def to_api(self) -> dict[str, object]:
        return dict(self.columns)

    def to_listing(self) -> dict[str, object]:
        """One item of GET …/executions (DC 2918-2962)."""
        c = self.columns
        return {
            "uuid": c["uuid"],
            "filename": c["filename"],
            "size": c["size"],
            "created_at": iso8601(self.created),
            "message": c["message"],
            "status": c["status"],
        }


@dataclass
class BackupConfig:
    columns: dict[str, object]  # every column, in DB column order, as the API serializes it
    database: Database  # the database it was created for (its database_id/database_type)
    executions: list[Execution] = field(default_factory=list)  # oldest first

    @property
    def id(self) -> int:
        return self.columns["id"]

    @property
    def uuid(self) -> str:
        return self.columns["uuid"]

    @property
    def team_id(self) -> int:
        return self.columns["team_id"]

    def to_api(self, relation: str | None = None) -> dict[str, object]:
        """The model's toArray(): columns, then `latest_log` (newest execution or null) or `executions`."""
        row = dict(self.columns)
        if relation == "latest_log":
            row["latest_log"] = self.executions[-1].to_api() if self.executions else None
        elif relation == "executions":
            row["executions"] = [e.to_api() for e in reversed(self.executions)]
        return row


@dataclass
class Fleet:
    teams: dict[int, Team]
    users: dict[int, User]
    projects: list[Project]
    environments: list[Environment]
    storages: list[S3Storage]
    databases: list[Database]
    configs: list[BackupConfig]
    next_execution_id: int
    databases_by_uuid: dict[str, Database] = field(init=False)
    projects_by_uuid: dict[str, Project] = field(init=False)
    environments_by_project: dict[int, list[Environment]] = field(init=False)  # project id → its, by id
    configs_by_uuid: dict[str, BackupConfig] = field(init=False)
    storages_by_uuid: dict[str, S3Storage] = field(init=False)
    # database_id → configs, newest first (ownedByCurrentTeamAPI orders by created_at desc), every team and type
    configs_by_database_id: dict[int, list[BackupConfig]] = field(init=False)
    next_config_id: int = field(init=False)
    extra_columns: dict[str, object] = field(init=False, default_factory=dict)  # later versions' columns, defaults

    def __post_init__(self) -> None:
        self.next_config_id = max((c.id for c in self.configs), default=0) + 1
        self.databases_by_uuid = {d.uuid: d for d in self.databases}
        self.projects_by_uuid = {p.uuid: p for p in self.projects}
        self.environments_by_project = {}
        for environment in sorted(self.environments, key=lambda e: e.id):
            self.environments_by_project.setdefault(environment.project.id, []).append(environment)
        self.configs_by_uuid = {c.uuid: c for c in self.configs}
        self.storages_by_uuid = {s.uuid: s for s in self.storages}
        self.configs_by_database_id = {}
        for config in sorted(self.configs, key=lambda c: (c.columns["created_at"], c.id), reverse=True):
            self.configs_by_database_id.setdefault(config.columns["database_id"], []).append(config)
        order = {key: i for i, key in enumerate(LISTING_ORDER)}
        project_order = {p.id: i for i, p in enumerate(self.projects)}
        self.databases.sort(key=lambda d: (project_order[d.environment.project.id], order[d.kind.key], d.id))

    def team_projects(self, team_id: int) -> list[Project]:
        """`Project::whereTeamId($id)->get()`: no ORDER BY, so PostgreSQL's heap order, which is id order here."""
        return sorted((p for p in self.projects if p.team_id == team_id), key=lambda p: p.id)

    def team_databases(self, team_id: int) -> list[Database]:
        return [d for d in self.databases if d.team_id == team_id]

    def add_config(self, config: BackupConfig) -> None:
        """A configuration created now: the newest of its database_id, first in `configs_for`."""
        self.configs.append(config)
        self.configs_by_uuid[config.uuid] = config
        self.configs_by_database_id.setdefault(config.columns["database_id"], []).insert(0, config)
        self.next_config_id = max(self.next_config_id, config.id + 1)

    def remove_config(self, config: BackupConfig) -> None:
        self.configs.remove(config)
        del self.configs_by_uuid[config.uuid]
        self.configs_by_database_id[config.columns["database_id"]].remove(config)

    def configs_for(self, database_id: int, team_id: int) -> list[BackupConfig]:
        """`ownedByCurrentTeamAPI($team)->where('database_id', $id)`: type-blind, as the server's bug has it."""
        return [c for c in self.configs_by_database_id.get(database_id, ()) if c.team_id == team_id]


# --- Executions and the fleet's life after seeding ------------------------------------------------------------

_FAILURES = {
    "postgresql": (
        'pg_dump: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
        "No such file or directory",
        "Local backup file is empty or was not created",
    ),
    "mysql": (
        "mysqldump: Got error: 2002: Can't connect to local MySQL server through socket "
        "'/var/run/mysqld/mysqld.sock' (2) when trying to connect",
    ),
    "mariadb": ("mariadb-dump: Got error: 1045: \"Access denied for user 'root'@'localhost' (using password: YES)\"",),
    "mongodb": ("Failed: error connecting to db server: server returned error on SASL authentication step",),
    "clickhouse": ("Code: 210. DB::NetException: Connection refused (localhost:9000)",),
}
_MYSQL_WARNING = "mysqldump: [Warning] Using a password on the command line interface can be insecure."


@lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def add_missing_backup_columns(fleet: Fleet) -> None:
    """The columns Coolify 4.3.18 added (shapes.MISSING_BACKUP_COLUMNS), as its migration leaves existing rows:
    alerts off, none sent, and the time of the newest execution. Added after seeding, so a fleet's seeded
    values are the same on every version."""
    fleet.extra_columns = {
        "missing_backup_notification_days": 0,
        "missing_backup_notification_sent_at": None,
        "last_execution_at": None,
    }
    for config in fleet.configs:
        latest = config.executions[-1].columns["created_at"] if config.executions else None
        config.columns.update(
            missing_backup_notification_days=0,
            missing_backup_notification_sent_at=None,
            last_execution_at=latest,
        )


def backup_database_names(config: BackupConfig) -> list[str]:
    """The names DatabaseBackupJob creates one execution for (DatabaseBackupJob.php:268-282)."""
    database = config.database
    kind = database.kind.key
    if config.columns["dump_all"] and kind in DUMP_ALL_KINDS:
        return ["all"]
    text = config.columns["databases_to_backup"] or database.default_database
    if not text:
        return ["*"]
    separator = "|" if kind == "mongodb" else ","
    names = [part.strip().split(":", 1)[0] for part in text.split(separator) if part.strip()]
    return names or ["*"]


def backup_filename(config: BackupConfig, database_name: str, started: int) -> str:
    database = config.database
    team = "acme-corp-1" if database.team_id == 1 else "globex-2"
    directory = f"/data/coolify/backups/databases/{team}/{_slug(database.name)}-{database.uuid}"
    return f"{directory}/{database.kind.dump_prefix}-{database_name}-{started}{database.kind.extension}"


def make_execution(
    execution_id: int,
    uuid: str,
    config: BackupConfig,
    started: int,
    *,
    failed: bool,
    finished: int | None,
    rng: random.Random,
    name: str | None = None,
) -> Execution:
    """An execution row; `finished=None` makes a running one (size, message, finished_at still null)."""
    name = name or backup_database_names(config)[0]
    columns = {
        "id": execution_id,
        "uuid": uuid,
        "status": "running",
        "message": None,
        "size": None,
        "filename": backup_filename(config, name, started),
        "scheduled_database_backup_id": config.id,
        "created_at": laravel_timestamp(started),
        "updated_at": laravel_timestamp(started),
        "database_name": name,
        "finished_at": None,
        "local_storage_deleted": False,
        "s3_storage_deleted": False,
        "s3_uploaded": None,
    }
    execution = Execution(columns, started)
    if finished is not None:
        finish_execution(execution, config, finished, failed=failed, rng=rng)
    return execution


def finish_execution(
    execution: Execution, config: BackupConfig, finished: int, *, failed: bool, rng: random.Random
) -> None:
    """What DatabaseBackupJob writes when a run ends (success: size, output; failure: message, no file)."""
    columns = execution.columns
    kind = config.database.kind.key
    if failed:
        columns.update(status="failed", message=rng.choice(_FAILURES[kind]), size=0, filename=None, s3_uploaded=None)
    else:
        uploads = bool(config.columns["save_s3"] and config.columns["s3_storage_id"])
        columns.update(
            status="success",
            message=_MYSQL_WARNING if kind in ("mysql", "mariadb") else None,
            size=rng.randint(40_000, 6_000_000_000) if kind != "redis" else rng.randint(10_000, 50_000_000),
            s3_uploaded=True if uploads else None,
            local_storage_deleted=bool(uploads and config.columns["disable_local_backup"]),
        )
    columns["updated_at"] = laravel_timestamp(finished)
    columns["finished_at"] = pg_timestamp(finished)
