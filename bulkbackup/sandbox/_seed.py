"""Seeding a fleet realistically and deterministically from `random.Random(seed)` (see `_fleet` for the choices).

Every draw from the seeded stream is in a fixed order: tests, samples and benchmarks pin the fleets it makes, so
anything new is drawn after everything that was there before (see `add_cases`).
"""

from __future__ import annotations

import random

from bulkbackup.sandbox._fleet import (
    _PUBLIC_ID_PAIRS,
    BASE_TIME,
    DUMP_ALL_KINDS,
    KINDS,
    BackupConfig,
    Database,
    DbKind,
    Environment,
    Fleet,
    Project,
    S3Storage,
    Team,
    User,
    _slug,
    backup_database_names,
    make_execution,
)
from bulkbackup.sandbox._shapes import CONFIG_COLUMNS, laravel_timestamp, pg_timestamp

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
    "keydb": ("{p}-keydb",),
    "dragonfly": ("{p}-dragonfly",),
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


def build_fleet(databases: int, seed: int, *, cases: bool = False) -> Fleet:
    """A deterministic fleet: `databases` databases for the first team, a few for the second; with `cases`, also
    the project "Policy Cases" (see `add_cases`), drawn after everything else so the rest stays the same."""
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

    if cases:
        project = Project(s.take("project"), s.public_id(), "Policy Cases", 1, "Configurations that break rules")
        environment = Environment(s.take("environment"), s.public_id(), "production", project)
        projects.append(project)
        environments.append(environment)
        add_cases(s, environment, team_storages[0], fleet_dbs, configs)

    return Fleet(teams, users, projects, environments, storages, fleet_dbs, configs, s.next_id["execution"])


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
        "keydb": "default",
        "dragonfly": "default",
        "clickhouse": "default",
    }[kind.key]
    path = {
        "postgresql": f"/{db_name}",
        "mysql": f"/{db_name}",
        "mariadb": f"/{db_name}",
        "mongodb": "/?directConnection=true",
        "redis": "/0",
        "keydb": "/0",
        "dragonfly": "/0",
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
    elif kind.key == "keydb":
        attributes.update(keydb_conf=None, keydb_password=password, enable_ssl=False)
        default_database = None
    elif kind.key == "dragonfly":
        attributes.update(dragonfly_password=password, enable_ssl=False)
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


# --- Policy cases ------------------------------------------------------------------------------------------------

# What a typical policy ("daily, to S3, kept 14 days") finds wrong, one database each, named after its case.
# (case, type, configuration overrides or None for no configuration, history: newest-first runs, True = failed)
_DAILY = "0 3 * * *"  # fires at 03:00 UTC; BASE_TIME is 15:22 UTC, so the last due run was 12 hours before
_GOOD = {
    "enabled": True,
    "save_s3": True,
    "frequency": _DAILY,
    "database_backup_retention_amount_locally": 7,
    "database_backup_retention_days_locally": 0,
    "database_backup_retention_max_storage_locally": 0.0,
    "database_backup_retention_amount_s3": 14,
    "database_backup_retention_days_s3": 14,
    "database_backup_retention_max_storage_s3": 0.0,
    "timeout": 3600,
    "dump_all": False,
    "disable_local_backup": False,
}
_OK_RUNS = (False,) * 5
CASES: tuple[tuple[str, str, dict[str, object] | None, tuple[bool, ...], int], ...] = (
    # (case, type, overrides of _GOOD (None: no configuration), runs newest first (True = failed), days skipped)
    ("compliant", "postgresql", {}, _OK_RUNS, 0),
    ("disabled", "postgresql", {"enabled": False}, _OK_RUNS, 9),
    ("never-ran", "postgresql", {}, (), 0),
    ("failing", "mysql", {}, (True, True, True, False, False), 0),
    ("late", "postgresql", {}, _OK_RUNS, 6),
    ("local-only", "mariadb", {"save_s3": False, "s3_storage_id": None}, _OK_RUNS, 0),
    ("s3-no-storage", "postgresql", {"s3_storage_id": None}, (), 0),
    (
        "unlimited-retention",
        "mongodb",
        {"database_backup_retention_amount_locally": 0, "database_backup_retention_amount_s3": 0}
        | {"database_backup_retention_days_s3": 0},
        _OK_RUNS,
        0,
    ),
    ("unconfigured", "postgresql", None, (), 0),
    ("unconfigured", "mysql", None, (), 0),
    ("unsupported", "redis", None, (), 0),
    ("unsupported", "keydb", None, (), 0),
    ("unsupported", "dragonfly", None, (), 0),
)


def add_cases(
    s: _Seeder, environment: Environment, storage: S3Storage, fleet_dbs: list[Database], configs: list[BackupConfig]
) -> None:
    """One database per entry of CASES, named "<case>-<type>", running, in the "Policy Cases" project."""
    last_fire = BASE_TIME - (BASE_TIME - 3 * 3600) % 86400  # today's 03:00 UTC
    for case, kind, overrides, runs, skipped_days in CASES:
        database = _make_database(s, KINDS[kind], environment, s.take("database"), "running:healthy", 1)
        database.name = database.attributes["name"] = f"{case}-{kind}"
        fleet_dbs.append(database)
        if overrides is None:
            continue
        config = _make_config(s, database, [storage])
        config.columns.update(_GOOD, s3_storage_id=storage.id, databases_to_backup=database.default_database)
        config.columns.update(overrides)
        # The S3 case is what a POST without save_s3 leaves (API-RULES §6.1) before its first run, which would
        # switch save_s3 off: so it was created two hours ago and has not run yet.
        age = 7200 if case == "s3-no-storage" else 40 * 86400
        config.columns["created_at"] = config.columns["updated_at"] = laravel_timestamp(BASE_TIME - age)
        config.executions.clear()
        for n, failed in enumerate(runs):
            started = last_fire - (n + skipped_days) * 86400
            for name in backup_database_names(config):
                config.executions.insert(
                    0,
                    make_execution(
                        s.take("execution"),
                        s.public_id(),
                        config,
                        started,
                        failed=failed,
                        finished=started + 90,
                        rng=s.rng,
                        name=name,
                    ),
                )
        configs.append(config)
