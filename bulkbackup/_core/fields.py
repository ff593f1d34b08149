"""The one table of settable fields.

Every other part of bulkbackup (reading spreadsheets, validation, diffing, payloads, the CLI, the widgets and
the sandbox's own Laravel rules) reads `SETTINGS` and `BACKUP_NOW` from here, so a field's name, type, bounds,
nullability and the way a spreadsheet cell is read are written once.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from bulkbackup._core import versions as versions
from bulkbackup._core.cron import impossible_date, is_valid_frequency

CLEAR = "<clear>"
"""Cell text that clears a nullable setting (`databases_to_backup`). Case-insensitive."""


class Kind(Enum):
    BOOL = "boolean"
    INT = "integer"
    NUMBER = "number"
    TEXT = "string"


_BOOL, _INT, _NUMBER = Kind.BOOL, Kind.INT, Kind.NUMBER


class CellError(ValueError):
    """One cell cannot be read; the message says why and what to write instead (no location: callers add it).

    `kind` and `fix` say it without the value ("use a decimal comma", "write the decimal point as '.'"), so the rows
    of one column that share the problem can be told together, once."""

    def __init__(self, message: str, *, kind: str = "", fix: str = ""):
        super().__init__(message)
        self.kind = kind
        self.fix = fix


SERVER_TRIM = (
    " \t\n\x0b\x0c\r\0\x85\xa0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200e\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""What the server strips from both ends of every string it is sent (Laravel's TrimStrings, i.e. `Str::trim`: PCRE
`\\s` with /u is Unicode white space, non-breaking spaces included, plus NUL, zero-width space, BOM and LRM). Every
cell is trimmed the same way, so a comparison sees what the server would store, and a cell holding only these
characters is empty."""


@dataclass(frozen=True)
class Column:
    """The server's database column behind a setting (API-RULES §5): a value it cannot hold is a 500, not a 422."""

    sql: str
    limit: int | None = None  # integer: -limit-1..limit; decimal: below limit once rounded to `places`; text: length
    places: int | None = None

    def problem(self, value: object) -> str | None:
        if self.limit is None or isinstance(value, bool):
            return None
        if isinstance(value, str):
            if len(value) <= self.limit:
                return None
            return f"is {len(value)} characters long; the server's {self.sql} column holds at most {self.limit}"
        if not isinstance(value, int | float):
            return None
        if self.places is None:
            if -self.limit - 1 <= value <= self.limit:
                return None
            return f"must be at most {self.limit}, the largest value the server's {self.sql} column holds"
        if abs(round(value, self.places)) < self.limit:
            return None
        return f"must be below {self.limit}: the server's {self.sql} column keeps {len(str(self.limit)) - 1} digits"


INTEGER_COLUMN = Column("integer", 2**31 - 1)
"""PostgreSQL `integer` (int4): every integer setting. 2147483648 passes Laravel's `integer` rule, then the UPDATE
fails."""
DECIMAL_COLUMN = Column("decimal(17,7)", 10**10, 7)
"""`decimal(17,7)`: the storage sizes; 10 digits before the point, so a value must round (7 places) below 10^10."""
VARCHAR_COLUMN = Column("varchar(255)", 255)
"""Laravel's `string()` column (frequency): a valid cron expression can be longer than that."""
BOOLEAN_COLUMN = Column("boolean")
TEXT_COLUMN = Column("text")

# English, and what the spreadsheets of common locales write for TRUE()/FALSE() in a CSV they save (German WAHR,
# French VRAI, Spanish VERDADERO, Italian VERO, Portuguese VERDADEIRO, Dutch WAAR): reading, not changing, a value.
_TRUE = {"true", "yes", "y", "1", "1.0", "on", "t", "wahr", "vrai", "verdadero", "vero", "verdadeiro", "waar"}
_FALSE = {"false", "no", "n", "0", "0.0", "off", "f", "falsch", "faux", "falso", "onwaar"}
# re.ASCII: \d would also match other scripts' digits, which int() accepts but the rule below does not.
_INT_TEXT = re.compile(r"[+-]?\d+(\.0*)?", re.ASCII)
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_CONTAINERS = (list, tuple, dict, set, frozenset, bytes, bytearray, memoryview)
# Characters that the server's validateShellSafePath rejects, in its own order and with its own wording.
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
# A uuid goes into the request path: anything outside this set could change which resource is addressed.
_UUID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
UUID_LIMIT = 255
"""The longest uuid Coolify can hold: its uuid columns are Laravel `string()`, varchar(255)."""
# Full-width forms (U+FF01-U+FF5E) are what a Japanese or Chinese keyboard types for ASCII: "１２" is 12. They are
# the only compatibility forms folded: NFKC would also make 104 of "10⁴" and 1 of "①", changing a value silently.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def is_missing(value: object) -> bool:
    """True for what means "no value": None, NaN, pandas NA/NaT, and text the server trims to nothing."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip(SERVER_TRIM)
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, int):  # bool too: most cells of a frame are these, and pd.isna costs 20 times as much
        return False
    if isinstance(value, _CONTAINERS):
        return False
    if isinstance(value, Decimal):
        # A signalling NaN is not "no value": reading it is an error of its row (pd.isna would raise here).
        return value.is_qnan()
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _refuse_container(value: object) -> None:
    if isinstance(value, _CONTAINERS):
        kind = type(value).__name__
        raise CellError(f"a {kind} is not a cell value: give one value per cell (it would be sent as its Python repr)")


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _plain_text(value: object) -> str:
    """The text of a yes/no or number cell: server-trimmed, full-width forms folded to ASCII.

    One rule for every number and yes/no cell: full-width "１２", "ｙｅｓ" are read; superscripts, subscripts,
    circled digits and digits of other scripts ("10⁴", "①", "١٢") are not (they are errors asking for 0-9), though
    NFKC or Python's int() would turn them into other numbers.
    """
    text = str(value)
    if not text.isascii():
        text = text.translate(_FULL_WIDTH)
    return text.strip(SERVER_TRIM)


_DIGITS_FIX = "write the digits 0-9"


def _digit_problem(text: str) -> CellError | None:
    """The error of a cell holding a digit that is not 0-9 ("10⁴", "①", "½", "١"): never read as another number."""
    odd = next((c for c in text if c.isnumeric() and not c.isascii()), None)
    if odd is None:
        return None
    name = unicodedata.name(odd, f"U+{ord(odd):04X}").lower()
    return CellError(
        f"{text!r} holds {odd!r} ({name}): write the digits 0-9 (it is not read as another number)",
        kind="use digits other than 0-9",
        fix=_DIGITS_FIX,
    )


def read_bool(value: object) -> bool:
    if _is_bool(value):
        return bool(value)
    _refuse_container(value)
    if isinstance(value, numbers.Real) and value in (0, 1):  # not complex: 1+0j is no yes/no answer
        return bool(value)
    if isinstance(value, Decimal) and value.is_finite() and value in (0, 1):
        return bool(value)
    text = _plain_text(value)
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _digit_problem(text) or CellError(
        f"{value!r} is not a yes/no value (write true/false, yes/no or 1/0)",
        kind="are not yes/no values",
        fix="write true/false, yes/no or 1/0",
    )


def read_int(value: object) -> int:
    if _is_bool(value):
        raise CellError(f"{value!r} is not a whole number")
    _refuse_container(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if math.isfinite(float(value)) and float(value).is_integer():
            return int(value)
        raise CellError(f"{value!r} is not a whole number")
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        raise CellError(f"{value!r} is not a whole number")
    text = _plain_text(value)
    if _INT_TEXT.fullmatch(text):
        return int(text.partition(".")[0])  # exact for any length: never through float
    problem = _digit_problem(text)
    if problem:
        raise problem
    if "," in text:
        raise CellError(
            f"{text!r} is not a whole number (a comma is neither a decimal point nor allowed "
            "as a thousands separator here)",
            kind="use a comma",
            fix="write whole numbers with the digits 0-9 only, no comma",
        )
    raise CellError(f"{text!r} is not a whole number", kind="are not whole numbers", fix=_DIGITS_FIX)


def read_number(value: object) -> float:
    if _is_bool(value):
        raise CellError(f"{value!r} is not a number")
    _refuse_container(value)
    if isinstance(value, numbers.Real):
        if math.isfinite(float(value)):
            return float(value) + 0.0  # + 0.0 turns -0.0 into 0.0: "-0" sends 0
        raise CellError(f"{value!r} is not a finite number")
    if isinstance(value, Decimal):
        if value.is_finite() and math.isfinite(float(value)):
            return float(value) + 0.0
        raise CellError(f"{value!r} is not a finite number")
    text = _plain_text(value)
    if _NUMBER_TEXT.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number + 0.0
        raise CellError(f"{text!r} is too large a number")
    problem = _digit_problem(text)
    if problem:
        raise problem
    if "," in text:
        raise CellError(
            f"{text!r} is not a number: write the decimal point as '.', e.g. {text.replace(',', '.')!r}",
            kind="use a decimal comma",
            fix="write the decimal point as '.' (50.0, not 50,0); the value is not changed for you",
        )
    raise CellError(f"{text!r} is not a number", kind="are not numbers", fix="write a number such as 50 or 12.5")


def read_text(value: object) -> str:
    # The server trims every string (Laravel's TrimStrings), so the comparison must see what it stores.
    _refuse_container(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip(SERVER_TRIM)


def frequency_problem(text: str) -> str | None:
    if is_valid_frequency(text):
        return None
    never = impossible_date(text)
    if never:
        # Well formed but no date matches: saying "use 5 cron fields" would send the user looking in the wrong place.
        return f"{text!r} can never run: {never}"
    return (
        f"{text!r} is not a valid frequency: use 5 cron fields (e.g. '0 3 * * *') or one of every_minute, "
        "hourly, daily, weekly, monthly, yearly, @hourly, @daily, @weekly, @monthly, @yearly"
    )


def shell_problem(text: str) -> str | None:
    """The server's validateDatabasesBackupInput, with its message, or None when the value passes."""
    for entry in (part.strip() for part in text.split("|")):
        if entry in ("", "all", "*"):
            continue
        if ":" in entry:
            db, _, cols = entry.partition(":")
            names = [(db, "database name")] + [(c, "collection name") for c in cols.split(",")]
        else:
            names = [(n, "database name") for n in entry.split(",")]
        for name, context in names:
            for char, description in _SHELL_CHARS:
                if char in name:
                    return (
                        f"Invalid {context}: contains forbidden character '{char}' ({description}). "
                        "Shell metacharacters are not allowed for security reasons."
                    )
    return None


def uuid_problem(text: str) -> str | None:
    if len(text) > UUID_LIMIT:
        # The value itself is not repeated: it may be a megabyte. The caller shows it cut.
        return (
            f"is {len(text):,} characters long: no Coolify uuid is (they are short, and the server's uuid columns "
            f"hold at most {UUID_LIMIT})"
        )
    if _UUID.fullmatch(text):
        return None
    return (
        f"{text!r} is not a usable uuid: only letters, digits, '-' and '_' are allowed "
        "(a '/', '?', '%', space or '.' would change the request path)"
    )


@dataclass(frozen=True)
class Field:
    """One settable field of a scheduled database backup configuration."""

    name: str
    kind: Kind
    description: str
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False  # the server accepts JSON null for it
    clearable: bool = False  # the CLEAR token sends null and really clears the stored value
    comparable: bool = True  # the server returns the stored value under the same name
    check: Callable[[str], str | None] | None = None  # extra rule for text values
    unclearable_because: str = ""  # said when someone tries the CLEAR token on a field that can't be cleared
    column: Column | None = None  # the server's database column; None: the usual one for the kind
    since: str | None = None  # the first Coolify version that accepts it; older ones answer "not allowed"
    absent_in: tuple[str, ...] = ()  # later versions that still lack it (a release branch cut before it landed)

    def __post_init__(self):
        if self.column is None:
            default = {Kind.BOOL: BOOLEAN_COLUMN, Kind.INT: INTEGER_COLUMN, Kind.NUMBER: DECIMAL_COLUMN}
            object.__setattr__(self, "column", default.get(self.kind, TEXT_COLUMN))

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """(lowest, highest) value the server takes, its database column included: for range checks and widgets."""
        column = self.column
        low, high = self.minimum, self.maximum
        if self.kind is Kind.INT and column.limit is not None:
            low = -column.limit - 1 if low is None else max(low, -column.limit - 1)
            high = column.limit if high is None else min(high, column.limit)
        elif self.kind is Kind.NUMBER and column.limit is not None:
            largest = math.nextafter(float(column.limit), 0.0)
            while round(largest, column.places) >= column.limit:  # the largest float the column still takes
                largest = math.nextafter(largest, 0.0)
            high = largest if high is None else min(high, largest)
        return low, high

    def missing_on(self, version: str | None) -> str | None:
        """Why a server running `version` cannot take this field, or None (also when the version is unknown)."""
        if self.since is None or version is None:
            return None
        if versions.older(version, self.since) or any(versions.same(version, v) for v in self.absent_in):
            return f"{self.name} needs Coolify {self.since} or newer; this server runs {version}"
        return None

    def read(self, value: object) -> object:
        """A spreadsheet cell or DataFrame value → the JSON value to send (or CLEAR). Raises CellError."""
        if isinstance(value, str) and value.strip(SERVER_TRIM).lower() == CLEAR:
            if self.clearable:
                return CLEAR
            raise CellError(f"{self.name} cannot be cleared{self.unclearable_because}; leave the cell empty")
        return _READERS[self.kind](value)

    def problems(self, value: object) -> list[str]:
        """Every rule the server applies to this field's value that can be checked locally."""
        if value == CLEAR:
            return []
        found = []
        if self.minimum is not None and value < self.minimum:
            found.append(f"{self.name} must be at least {_num(self.minimum)} (got {_num(value)})")
        if self.maximum is not None and value > self.maximum:
            found.append(f"{self.name} must be at most {_num(self.maximum)} (got {_num(value)})")
        if not found and self.column is not None:
            problem = self.column.problem(value)
            if problem:
                found.append(f"{self.name} {problem}" + ("" if isinstance(value, str) else f" (got {_num(value)})"))
        if self.check is not None and isinstance(value, str):
            problem = self.check(value)
            if problem:
                found.append(f"{self.name}: {problem}")
        return found

    def to_json(self, value: object) -> object:
        return None if value == CLEAR else value

    def same(self, desired: object, current: object) -> bool:
        """Whether sending `desired` would leave the stored `current` value as it is."""
        if not self.comparable:
            return False
        desired = self.to_json(desired)
        kind = self.kind  # compared with module globals: an Enum member looked up on its class costs far more
        if kind is _BOOL:
            return current is not None and bool(current) == desired
        if kind is _INT:
            return current is not None and int(current) == desired
        if kind is _NUMBER:
            return current is not None and math.isclose(float(current), desired, rel_tol=0, abs_tol=1e-7)
        # The server stores "" and null alike for nullable text (ConvertEmptyStringsToNull).
        return (current or None) == (desired or None)

    @property
    def laravel_rules(self) -> str:
        """The server's validator rule string for this field (DC 1068-1083), which the sandbox enforces."""
        base = {Kind.BOOL: "boolean", Kind.INT: "integer", Kind.NUMBER: "numeric", Kind.TEXT: "string"}[self.kind]
        rules = [base]
        if self.name == "s3_storage_uuid":
            rules.append("exists:s3_storages,uuid")
        if self.minimum is not None:
            rules.append(f"min:{_num(self.minimum)}")
        if self.maximum is not None:
            rules.append(f"max:{_num(self.maximum)}")
        if self.nullable:
            rules.append("nullable")
        return "|".join(rules)


_READERS = {Kind.BOOL: read_bool, Kind.INT: read_int, Kind.NUMBER: read_number, Kind.TEXT: read_text}


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _retention(name: str, kind: Kind, what: str) -> Field:
    return Field(name, kind, what, minimum=0)


SETTINGS: tuple[Field, ...] = (
    Field("enabled", Kind.BOOL, "Whether the schedule runs."),
    Field("save_s3", Kind.BOOL, "Upload each backup to S3 (needs s3_storage_uuid in the same change)."),
    Field(
        "s3_storage_uuid",
        Kind.TEXT,
        "UUID of the S3 storage to upload to (the server reports only its id).",
        nullable=True,
        comparable=False,
        check=uuid_problem,
        unclearable_because=" through the Coolify API (the server silently ignores null)",
    ),
    Field(
        "frequency",
        Kind.TEXT,
        "Cron expression (5 fields) or every_minute/hourly/daily/weekly/monthly/yearly.",
        check=frequency_problem,
        column=VARCHAR_COLUMN,
    ),
    Field(
        "databases_to_backup",
        Kind.TEXT,
        f"Comma-separated database names; {CLEAR} clears it.",
        nullable=True,
        clearable=True,
        check=shell_problem,
    ),
    Field("dump_all", Kind.BOOL, "Dump all databases (postgres, mysql, mariadb)."),
    _retention("database_backup_retention_amount_locally", Kind.INT, "Backups kept locally (0 = no limit)."),
    _retention("database_backup_retention_days_locally", Kind.INT, "Days backups are kept locally (0 = no limit)."),
    _retention("database_backup_retention_max_storage_locally", Kind.NUMBER, "GB kept locally (0 = no limit)."),
    _retention("database_backup_retention_amount_s3", Kind.INT, "Backups kept in S3 (0 = no limit)."),
    _retention("database_backup_retention_days_s3", Kind.INT, "Days backups are kept in S3 (0 = no limit)."),
    _retention("database_backup_retention_max_storage_s3", Kind.NUMBER, "GB kept in S3 (0 = no limit)."),
    Field("timeout", Kind.INT, "Backup job timeout in seconds (60..36000).", minimum=60, maximum=36000),
    Field(
        "missing_backup_notification_days",
        Kind.INT,
        "Alert when no backup ran for this many days (0 = off; Coolify 4.3.18 and newer).",
        minimum=0,
        maximum=365,
        since="4.3.18",
        absent_in=("4.4.0-rc.1",),
    ),
)
"""The settings PATCH accepts, in the column order of SPEC "Input" (the order users see); those with `since` only
on servers of that version or newer."""

BACKUP_NOW = Field(
    "backup_now",
    Kind.BOOL,
    "Start a backup now (an action, not a setting: always sent when true).",
    nullable=True,
    unclearable_because=": it is an action, not a setting (false or empty starts nothing)",
)
"""The action column. It is not state: a true value always sends, false or empty sends nothing."""

ALL_FIELDS: tuple[Field, ...] = (*SETTINGS, BACKUP_NOW)
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in SETTINGS)
BY_NAME: dict[str, Field] = {f.name: f for f in ALL_FIELDS}
KEY_COLUMNS: tuple[str, str] = ("database_uuid", "backup_uuid")
KEY_ALIASES: dict[str, str] = {"uuid": "database_uuid", "scheduled_backup_uuid": "backup_uuid"}

INVENTORY_COLUMNS: tuple[str, ...] = (
    "project",
    "environment",
    "database_name",
    "database_type",
    "database_status",
    "s3_storage_id",
    "disable_local_backup",
    "latest_status",
    "latest_run_at",
    "backup_supported",
    "latest_size",
    "project_uuid",
    "environment_uuid",
)
"""Read-only columns of `inventory()`: accepted back as input and ignored, so an export can be edited and fed back."""
