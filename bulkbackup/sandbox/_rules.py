"""The server's rules for backup configurations, transcribed from coolify/API-RULES.md by the sandbox itself.

The client keeps its own table (bulkbackup._core.fields); the sandbox must not read it, or a wrong bound there
would pass on both sides. tests/test_sandbox_rules_pinned.py holds the two tables against each other.

Each row is what API-RULES says of one key: the Laravel rule string of PATCH (DC 1068-1083; POST 821-836 is the
same but `frequency` is `required|string`), the PostgreSQL column behind it (§5; a value the column cannot hold
is a 500, not a 422), and the Coolify version that first accepts it (§6.12, UPSTREAM.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCUMENTED = "4.3.11"
"""The version API-RULES describes (config/constants.php:5 at commit 379abb2): the sandbox's default."""

INT4_MAX = 2**31 - 1  # PostgreSQL `integer`
DECIMAL_17_7_LIMIT = 10**10  # `decimal(17,7)`: 10 digits before the point, 7 after
DECIMAL_17_7_PLACES = 7
VARCHAR_LIMIT = 255  # Laravel's `string()` column


@dataclass(frozen=True)
class Column:
    """A PostgreSQL column: its type as the migration makes it, and the largest value (or length) it holds."""

    sql: str
    limit: int | None = None
    places: int | None = None


INTEGER = Column("integer", INT4_MAX)
DECIMAL = Column("decimal(17,7)", DECIMAL_17_7_LIMIT, DECIMAL_17_7_PLACES)
VARCHAR = Column("varchar(255)", VARCHAR_LIMIT)
BOOLEAN = Column("boolean")
TEXT = Column("text")


@dataclass(frozen=True)
class KeyRule:
    """One key the backup endpoints validate."""

    name: str
    rules: str  # PATCH's Laravel rule string
    column: Column | None  # None: not a column of its own (s3_storage_uuid becomes s3_storage_id; backup_now)
    since: str | None = None  # older servers answer "This field is not allowed."
    absent_in: tuple[str, ...] = ()  # later releases still without it

    @property
    def type_rule(self) -> str:
        """The first rule: boolean, integer, numeric or string."""
        return self.rules.split("|", 1)[0]

    @property
    def post_rules(self) -> str:
        return "required|string" if self.name == "frequency" else self.rules

    def accepted_on(self, version: str) -> bool:
        if self.since is None:
            return True
        if older(version, self.since):
            return False
        return not any(parse_version(version) == parse_version(v) for v in self.absent_in)


# In the order bulkbackup has always listed a 422's errors (the server's own order is its rule array's; the
# sandbox keeps the order its tests pin).
KEYS: tuple[KeyRule, ...] = (
    KeyRule("enabled", "boolean", BOOLEAN),
    KeyRule("save_s3", "boolean", BOOLEAN),
    KeyRule("s3_storage_uuid", "string|exists:s3_storages,uuid|nullable", None),
    KeyRule("frequency", "string", VARCHAR),
    KeyRule("databases_to_backup", "string|nullable", TEXT),
    KeyRule("dump_all", "boolean", BOOLEAN),
    KeyRule("database_backup_retention_amount_locally", "integer|min:0", INTEGER),
    KeyRule("database_backup_retention_days_locally", "integer|min:0", INTEGER),
    KeyRule("database_backup_retention_max_storage_locally", "numeric|min:0", DECIMAL),
    KeyRule("database_backup_retention_amount_s3", "integer|min:0", INTEGER),
    KeyRule("database_backup_retention_days_s3", "integer|min:0", INTEGER),
    KeyRule("database_backup_retention_max_storage_s3", "numeric|min:0", DECIMAL),
    KeyRule("timeout", "integer|min:60|max:36000", INTEGER),
    KeyRule(
        "missing_backup_notification_days", "integer|min:0|max:365", INTEGER, since="4.3.18", absent_in=("4.4.0-rc.1",)
    ),
    KeyRule("backup_now", "boolean|nullable", None),
)
BY_NAME: dict[str, KeyRule] = {k.name: k for k in KEYS}
BACKUP_NOW = "backup_now"
S3_UUID = "s3_storage_uuid"
S3_ID_COLUMN = "s3_storage_id"
SETTING_KEYS: tuple[str, ...] = tuple(k.name for k in KEYS if k.name != BACKUP_NOW)
"""What `$request->only($backupConfigFields)` writes (s3_storage_uuid converted to s3_storage_id first)."""
SETTING_COLUMNS: tuple[str, ...] = tuple(n for n in SETTING_KEYS if n != S3_UUID)
TYPE_OF_COLUMN: dict[str, str] = {n: BY_NAME[n].type_rule for n in SETTING_COLUMNS}
COLUMN_OF: dict[str, Column] = {n: BY_NAME[n].column for n in SETTING_COLUMNS}


def keys_on(version: str) -> tuple[KeyRule, ...]:
    return tuple(k for k in KEYS if k.accepted_on(version))


def patch_rules(version: str) -> dict[str, str]:
    return {k.name: k.rules for k in keys_on(version)}


def post_rules(version: str) -> dict[str, str]:
    return {k.name: k.post_rules for k in keys_on(version)}


# removeUnnecessaryFieldsFromRequest() (bootstrap/helpers/api.php:366-413) silently drops these from a PATCH body
# (POST never calls it, so there they are "not allowed"). API-RULES counts 45 keys at commit 379abb2 and names 16;
# the others here are every key the stored versions of the helper unset. Sandbox choice: the rest of the 45 could
# not be found, and are rejected as "not allowed" like any unknown key.
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

# POST: the types create_backup refuses (422, no `errors` key; since v4.2.0), and the column that holds what an
# empty `databases_to_backup` defaults to (DC 921-931; MongoDB stays null and the job backs up "*").
UNSUPPORTED_TYPES = frozenset({"redis", "keydb", "dragonfly"})
DEFAULT_DATABASE_COLUMN = {
    "postgresql": "postgres_db",
    "mysql": "mysql_database",
    "mariadb": "mariadb_database",
    "clickhouse": "clickhouse_db",
}
# The migration defaults of the columns a POST does not send (§5); `enabled` is defaulted in code (DC 951-953) and
# `save_s3` is NOT (its DB default is true: §6.1).
COLUMN_DEFAULTS: dict[str, object] = {
    "description": None,
    "enabled": True,
    "save_s3": True,
    "database_backup_retention_amount_locally": 0,
    "s3_storage_id": None,
    "databases_to_backup": None,
    "dump_all": False,
    "database_backup_retention_days_locally": 0,
    "database_backup_retention_max_storage_locally": 0.0,
    "database_backup_retention_amount_s3": 0,
    "database_backup_retention_days_s3": 0,
    "database_backup_retention_max_storage_s3": 0.0,
    "timeout": 3600,
    "disable_local_backup": False,
    "missing_backup_notification_days": 0,
    "missing_backup_notification_sent_at": None,
    "last_execution_at": None,
}


# --- Coolify versions --------------------------------------------------------------------------------------------

_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?")


def parse_version(text: object) -> tuple[tuple[int, int, int], tuple[object, ...]] | None:
    """ "4.0.0-beta.471" → ((4, 0, 0), (0, "beta", 471)); a release sorts after its pre-releases: (1,)."""
    match = _VERSION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    numbers = (int(major), int(minor or 0), int(patch or 0))
    if not pre:
        return numbers, (1,)
    return numbers, (0, *(int(p) if p.isdigit() else p for p in re.split(r"[.-]", pre)))


def older(version: str, than: str) -> bool:
    a, b = parse_version(version), parse_version(than)
    if a is None or b is None:
        return False
    try:
        return a < b
    except TypeError:  # "rc" against a number at the same place: neither is older
        return False
