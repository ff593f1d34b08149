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

from bulkbackup.sandbox.shapes import CONFIG_COLUMNS, iso8601, laravel_timestamp, pg_timestamp, serialize_api_response

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
"""


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
LISTING_ORDER = ("postgresql", "redis", "mongodb", "mysql", "mariadb", "clickhouse")
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

    def __post_init__(self) -> None:
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

    def configs_for(self, database_id: int, team_id: int) -> list[BackupConfig]:
        """`ownedByCurrentTeamAPI($team)->where('database_id', $id)`: type-blind, as the server's bug has it."""
        return [c for c in self.configs_by_database_id.get(database_id, ()) if c.team_id == team_id]


# --- Seeding ---------------------------------------------------------------------------------------------------

_PROJECT_NAMES = (
    "Storefront",
    "Billing",
    "Analytics",
    "Customer Portal",
    "Internal Tools",
    "Marketing Site",
    "Mobile API",
    "Data Warehouse",
    "Auth Service",
    "Notifications",
    "Search",
    "Inventory",
    "Support Desk",
    "Payments",
    "Logistics",
    "HR Portal",
)
_DATABASE_NAMES = {
    "postgresql": ("{p}-postgres", "{p}-db", "{p}-primary", "orders", "accounts", "ledger", "events", "{p}-pg"),
    "mysql": ("{p}-mysql", "wordpress", "legacy-crm", "{p}-mysql-8", "shop"),
    "mariadb": ("{p}-mariadb", "nextcloud", "matomo", "ghost", "{p}-maria"),
    "mongodb": ("{p}-mongo", "sessions-store", "catalog", "audit-log", "{p}-documents"),
    "redis": ("{p}-cache", "{p}-redis", "queue", "sessions", "rate-limits"),
    "clickhouse": ("{p}-clickhouse", "metrics", "clickstream", "logs-olap", "{p}-events"),
}
_FREQUENCIES = (
    "daily",
    "daily",
    "0 3 * * *",
    "0 2 * * *",
    "hourly",
    "@daily",
    "weekly",
    "0 */6 * * *",
    "*/30 * * * *",
    "15 1 * * 1-5",
    "0 0 1 * *",
    "@weekly",
    "30 4 * * 0",
    "monthly",
)
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
_STORAGES = (
    # (team index, name, description, region, bucket, endpoint, usable)
    (
        0,
        "Backblaze B2 eu-central",
        "Primary off-site backups",
        "eu-central-003",
        "acme-db-backups",
        "https://s3.eu-central-003.backblazeb2.com",
        True,
    ),
    (0, "AWS S3 us-east-1", None, "us-east-1", "acme-backups-us", "https://s3.us-east-1.amazonaws.com", True),
    (
        1,
        "Globex R2",
        "Cloudflare R2",
        "auto",
        "globex-backups",
        "https://4f1e2d3c4b5a69788796a5b4c3d2e1f0.r2.cloudflarestorage.com",
        True,
    ),
    (
        0,
        "MinIO on-prem",
        "Old NAS, credentials expired",
        "us-east-1",
        "backups",
        "https://minio.acme.internal:9000",
        False,
    ),
)


class _Seeder:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.next_id = {"project": 1, "environment": 1, "database": 1, "config": 1, "execution": 1}

    def take(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] += 1
        return value

    def public_id(self) -> str:
        """new_public_id(): 24 lowercase letters and digits (drawn 2 at a time: thousands are made at start-up)."""
        number = self.rng.getrandbits(125)
        pairs = []
        for _ in range(12):
            number, pair = divmod(number, 1296)
            pairs.append(_PUBLIC_ID_PAIRS[pair])
        return "".join(pairs)

    def secret(self) -> str:
        return self.rng.randbytes(16).hex()


def build_fleet(databases: int, seed: int) -> Fleet:
    """A deterministic fleet: `databases` databases for the first team, a few for the second."""
    if databases < 0:
        raise ValueError("databases must be >= 0")
    s = _Seeder(seed)
    teams = {1: Team(1, "Acme Corp"), 2: Team(2, "Globex")}
    users = {
        1: User(1, "Ada Admin", "ada@acme.test", {1: "owner"}),
        2: User(2, "Grace Globex", "grace@globex.test", {2: "owner"}),
        3: User(3, "Mel Member", "mel@acme.test", {1: "member"}),
    }
    storages = [
        S3Storage(
            i + 1,
            s.public_id(),
            name,
            description,
            region,
            "AKIA" + s.secret()[:16].upper(),
            s.secret() + s.secret()[:8],
            bucket,
            endpoint,
            usable,
            team_index + 1,
            BASE_TIME - 400 * 86400 + i * 86400,
        )
        for i, (team_index, name, description, region, bucket, endpoint, usable) in enumerate(_STORAGES)
    ]
    projects: list[Project] = []
    environments: list[Environment] = []
    project_count = max(2, min(len(_PROJECT_NAMES) * 4, databases // 8 + 1))
    for i in range(project_count):
        name = _PROJECT_NAMES[i % len(_PROJECT_NAMES)] + (f" {i // len(_PROJECT_NAMES) + 1}" if i >= 16 else "")
        project_id = s.take("project")
        # Some projects have a description, so both shapes of serializeApiResponse (which drops a falsy one
        # from the front) show up; chosen by id to keep the seeded stream as it was.
        description = f"{name} services" if project_id % 3 == 0 else None
        project = Project(project_id, s.public_id(), name, 1, description)
        projects.append(project)
        for env_name, chance in (("production", 1.0), ("staging", 0.7), ("development", 0.4)):
            if s.rng.random() < chance:
                environments.append(Environment(s.take("environment"), s.public_id(), env_name, project))
    other_project = Project(s.take("project"), s.public_id(), "Globex Platform", 2)
    projects.append(other_project)
    other_env = Environment(s.take("environment"), s.public_id(), "production", other_project)
    environments.append(other_env)
    envs_by_project: dict[int, list[Environment]] = {}
    for env in environments:
        envs_by_project.setdefault(env.project.id, []).append(env)

    team_storages = [st for st in storages if st.team_id == 1 and st.is_usable]
    fleet_dbs: list[Database] = []
    configs: list[BackupConfig] = []

    def environment_in(project: Project) -> Environment:
        envs = envs_by_project[project.id]
        weights = [{"production": 55, "staging": 30}.get(e.name, 15) for e in envs]
        return s.rng.choices(envs, weights)[0]

    def add_database(
        kind: str,
        env: Environment,
        *,
        db_id: int | None = None,
        status: str | None = None,
        config_count: int | None = None,
        team_id: int = 1,
    ) -> Database:
        database = _make_database(s, KINDS[kind], env, db_id or s.take("database"), status, team_id)
        fleet_dbs.append(database)
        if database.kind.backups:
            count = config_count if config_count is not None else s.rng.choices((0, 1, 2, 3), (15, 60, 20, 5))[0]
            usable = team_storages if team_id == 1 else [st for st in storages if st.team_id == team_id]
            for _ in range(count):
                configs.append(_make_config(s, database, usable))
        return database

    # The showcase: the databases every fleet starts with, so tests find each case whatever the seed.
    showcase = (
        ("postgresql", "running:healthy", 2),
        ("mysql", "running:healthy", 1),
        ("postgresql", "exited:unhealthy", 1),
        ("mongodb", "running:healthy", 1),
        ("redis", "running:healthy", 0),
    )
    shared_ids: dict[int, int] = {}
    first, second = projects[0], projects[1]
    for index, (kind, status, count) in enumerate(showcase[:databases]):
        project = second if index in (1, 4) else first
        # #1 (MySQL) shares the numeric id of #0 (PostgreSQL), #4 (Redis) that of #3 (MongoDB).
        db_id = shared_ids.get({1: 0, 4: 3}.get(index, -1))
        database = add_database(kind, environment_in(project), db_id=db_id, status=status, config_count=count)
        shared_ids[index] = database.id
    kinds = [k.key for k in KINDS.values()]
    weights = [k.weight for k in KINDS.values()]
    for _ in range(max(0, databases - len(showcase))):
        add_database(s.rng.choices(kinds, weights)[0], environment_in(s.rng.choice(projects[:-1])))

    # The other team: its own databases and storage; its MariaDB shares a numeric id with our first database.
    add_database("postgresql", other_env, status="running:healthy", config_count=1, team_id=2)
    add_database("mariadb", other_env, db_id=shared_ids.get(0), status="running:healthy", config_count=1, team_id=2)
    add_database("redis", other_env, status="running:healthy", team_id=2)

    return Fleet(teams, users, projects, environments, storages, fleet_dbs, configs, s.next_id["execution"])


@lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _make_database(
    s: _Seeder, kind: DbKind, env: Environment, db_id: int, status: str | None, team_id: int
) -> Database:
    rng = s.rng
    uuid = s.public_id()
    project_slug = _slug(env.project.name)
    if rng.random() < 0.2:
        name = f"{kind.key}-database-{uuid}"
    else:
        name = rng.choice(_DATABASE_NAMES[kind.key]).format(p=project_slug)
    if status is None:
        status = rng.choices(
            ("running:healthy", "running:unhealthy", "running:unknown", "exited:unhealthy", "exited"), (82, 3, 4, 6, 5)
        )[0]
    created = BASE_TIME - rng.randint(30, 700) * 86400 - rng.randint(0, 86399)
    started = BASE_TIME - rng.randint(1, 29) * 86400 - rng.randint(0, 86399)
    password = s.secret()
    is_public = rng.random() < 0.1
    public_port = rng.randint(20000, 39999) if is_public else None
    db_name = rng.choice(("app", project_slug.replace("-", "_"), "production", "default"))
    user = {
        "postgresql": "postgres",
        "mysql": "mysql",
        "mariadb": "mariadb",
        "mongodb": "root",
        "redis": "default",
        "clickhouse": "default",
    }[kind.key]
    path = {
        "postgresql": f"/{db_name}",
        "mysql": f"/{db_name}",
        "mariadb": f"/{db_name}",
        "mongodb": "/?directConnection=true",
        "redis": "/0",
        "clickhouse": "",
    }[kind.key]
    attributes: dict[str, object] = {
        "uuid": uuid,
        "name": name,
        "description": f"Primary database of {env.project.name}" if rng.random() < 0.25 else None,
        "status": status,
        "image": kind.image,
        "is_public": is_public,
        "public_port": public_port,
        "ports_mappings": None,
        "limits_memory": "0",
        "limits_memory_swap": "0",
        "limits_memory_swappiness": 60,
        "limits_memory_reservation": "0",
        "limits_cpus": "0",
        "limits_cpuset": None,
        "limits_cpu_shares": 1024,
        "started_at": pg_timestamp(started),
        "last_online_at": pg_timestamp(BASE_TIME - (0 if status.startswith("running") else 3 * 86400)),
        "destination_type": "App\\Models\\StandaloneDocker",
        "destination_id": 1,
        "environment_id": env.id,
        "is_log_drain_enabled": False,
        "is_include_timestamps": False,
        "custom_docker_run_options": None,
        "restart_count": 0,
        "last_restart_at": None,
        "last_restart_type": None,
        "deleted_at": None,
        "created_at": laravel_timestamp(created),
        "updated_at": laravel_timestamp(started),
        # appended attributes
        "internal_db_url": f"{kind.scheme}://{user}:{password}@{uuid}:{kind.port}{path}",
        "external_db_url": f"{kind.scheme}://{user}:{password}@203.0.113.10:{public_port}{path}" if is_public else None,
        "database_type": kind.api_type,
        "server_status": True,
    }
    default_database = db_name
    if kind.key == "postgresql":
        attributes.update(
            postgres_user=user,
            postgres_password=password,
            postgres_db=db_name,
            postgres_initdb_args=None,
            postgres_host_auth_method=None,
            postgres_conf=None,
            init_scripts=None,
            enable_ssl=False,
            ssl_mode=None,
        )
    elif kind.key == "mysql":
        attributes.update(
            mysql_root_password=s.secret(),
            mysql_user=user,
            mysql_password=password,
            mysql_database=db_name,
            mysql_conf=None,
            enable_ssl=False,
            ssl_mode="PREFERRED",
        )
    elif kind.key == "mariadb":
        attributes.update(
            mariadb_root_password=s.secret(),
            mariadb_user=user,
            mariadb_password=password,
            mariadb_database=db_name,
            mariadb_conf=None,
            enable_ssl=False,
        )
    elif kind.key == "mongodb":
        attributes.update(
            mongo_conf=None,
            mongo_initdb_root_username=user,
            mongo_initdb_root_password=password,
            mongo_initdb_database=db_name,
            enable_ssl=False,
            ssl_mode=None,
        )
        default_database = None  # the job backs up "*" when databases_to_backup is empty
    elif kind.key == "redis":
        attributes.update(redis_conf=None, redis_username=user, redis_password=password, enable_ssl=False)
        default_database = None
    else:
        attributes.update(clickhouse_admin_user=user, clickhouse_admin_password=password, clickhouse_db="default")
        default_database = "default"
    return Database(db_id, uuid, name, kind, status, env, team_id, default_database, created, attributes)


def _make_config(s: _Seeder, database: Database, storages: list[S3Storage]) -> BackupConfig:
    rng = s.rng
    kind = database.kind.key
    created = database.created + rng.randint(600, 30 * 86400)
    created = min(created, BASE_TIME - 86400)
    updated = rng.randint(created, BASE_TIME - 3600)
    storage = rng.choice(storages) if storages else None
    roll = rng.random()
    save_s3, s3_id = False, None
    if storage is not None and roll < 0.45:
        save_s3, s3_id = True, storage.id
    elif roll < 0.48:
        save_s3 = True  # API-RULES §6.1: POST without save_s3 leaves the DB default true and no storage
    elif storage is not None and roll < 0.58:
        s3_id = storage.id  # §6.3: save_s3=false keeps the storage id
    default = database.default_database
    if kind == "mongodb":
        to_backup = rng.choice((None, None, "app|logs:events,sessions", f"{database.name.replace('-', '_')}"))
    elif kind in DUMP_ALL_KINDS and default:
        to_backup = rng.choice((default, default, default, f"{default},analytics", None))
    else:
        to_backup = default
    values = {
        "id": s.take("config"),
        "description": None,
        "uuid": s.public_id(),
        "enabled": rng.random() < 0.9,
        "save_s3": save_s3,
        "frequency": rng.choice(_FREQUENCIES),
        "database_backup_retention_amount_locally": rng.choice((0, 7, 7, 14, 30)),
        "database_type": database.kind.model,
        "database_id": database.id,
        "s3_storage_id": s3_id,
        "team_id": database.team_id,
        "created_at": laravel_timestamp(created),
        "updated_at": laravel_timestamp(updated),
        "databases_to_backup": to_backup,
        "dump_all": kind in DUMP_ALL_KINDS and rng.random() < 0.1,
        "database_backup_retention_days_locally": rng.choice((0, 0, 7, 30, 90)),
        "database_backup_retention_max_storage_locally": rng.choice((0.0, 0.0, 2.5, 5.0, 10.0)),
        "database_backup_retention_amount_s3": rng.choice((0, 14, 30)),
        "database_backup_retention_days_s3": rng.choice((0, 30, 90, 365)),
        "database_backup_retention_max_storage_s3": rng.choice((0.0, 0.0, 50.0, 100.0)),
        "timeout": rng.choice((3600, 3600, 3600, 3600, 1800, 7200, 600, 14400)),
        "disable_local_backup": bool(s3_id and save_s3 and rng.random() < 0.15),
    }
    config = BackupConfig({column: values[column] for column in CONFIG_COLUMNS}, database)
    _seed_history(s, config, created)
    return config


def add_missing_backup_columns(fleet: Fleet) -> None:
    """The columns Coolify 4.3.18 added (shapes.MISSING_BACKUP_COLUMNS), as its migration leaves existing rows:
    alerts off, none sent, and the time of the newest execution. Added after seeding, so a fleet's seeded
    values are the same on every version."""
    for config in fleet.configs:
        latest = config.executions[-1].columns["created_at"] if config.executions else None
        config.columns.update(
            missing_backup_notification_days=0,
            missing_backup_notification_sent_at=None,
            last_execution_at=latest,
        )


_INTERVALS = {
    "hourly": 3600,
    "@hourly": 3600,
    "weekly": 7 * 86400,
    "@weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "@monthly": 30 * 86400,
    "0 0 1 * *": 30 * 86400,
    "0 */6 * * *": 6 * 3600,
    "*/30 * * * *": 1800,
    "30 4 * * 0": 7 * 86400,
}


def _seed_history(s: _Seeder, config: BackupConfig, created: int) -> None:
    rng = s.rng
    runs = rng.choices((0, 1, 3, 5, 8), (10, 15, 30, 30, 15))[0]
    interval = _INTERVALS.get(config.columns["frequency"], 86400)
    newest = BASE_TIME - rng.randint(600, interval)
    for n in reversed(range(runs)):
        started = newest - n * interval
        if started <= created:
            continue
        failed = rng.random() < 0.15
        for name in backup_database_names(config):
            config.executions.append(
                make_execution(
                    s.take("execution"),
                    s.public_id(),
                    config,
                    started,
                    failed=failed,
                    finished=started + rng.randint(2, 240),
                    rng=rng,
                    name=name,
                )
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
