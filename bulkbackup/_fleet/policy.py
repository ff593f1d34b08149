"""A backup policy: which databases must be backed up how, written as TOML `[[rule]]` tables.

    [[rule]]
    id = "production PostgreSQL"                      # how violations name the rule (default: "rule 1", …)
    match = { project = "shop-*", environment = "production", database_type = "postgresql" }
    frequency = "0 3 * * *"                          # any setting of the field table, with its own rules
    save_s3 = true
    s3_storage_uuid = "…"
    database_backup_retention_days_s3 = 14
    max_age = "26h"                                  # limits: the newest successful run at most this old,
    min_retention_days_s3 = 7                        # … and retention at least this much (0 = unlimited counts)

    [[rule]]
    id = "development: no backups needed"
    match = { environment = "dev*" }
    ignore = true                                    # the databases it matches are not checked

    [[rule]]
    match = { instance = "staging*" }                # the Coolify instance (the client's name), for a policy
    frequency = "@weekly"                            # over several

The first rule whose `match` globs all fit a database wins; a database no rule matches is reported, not guessed.
A rule wants `enabled = true` unless it says otherwise: a policy is about backups that run. Every mistake in the
file is one `InputError` naming the file, the line and the key, with "did you mean" for a misspelt key.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkbackup._core.errors import InputError
from bulkbackup._core.fields import BACKUP_NOW, BY_NAME, CellError

MATCH_KEYS = ("project", "environment", "database_type", "name", "instance")
"""What a rule's `match` table may hold: globs (fnmatch, case-insensitive) on the inventory's columns; `instance`
is the Coolify instance's name (`client.name`, a coolify-cli context's), known when a client or clients are checked
and in the inventory of several instances."""

LIMITS: dict[str, str] = {
    "max_age": 'the newest successful run is at most this old (e.g. "26h", "2d", "90m")',
    "min_retention_amount_locally": "database_backup_retention_amount_locally at least this (0 = unlimited is fine)",
    "min_retention_days_locally": "database_backup_retention_days_locally at least this (0 = unlimited is fine)",
    "min_retention_amount_s3": "database_backup_retention_amount_s3 at least this (0 = unlimited is fine)",
    "min_retention_days_s3": "database_backup_retention_days_s3 at least this (0 = unlimited is fine)",
}
"""Limits a rule may set, and what each means."""

SETTING_KEYS = tuple(name for name in BY_NAME if name != BACKUP_NOW.name)
_RULE_KEYS = ("id", "match", "ignore", *SETTING_KEYS, *LIMITS)
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*", re.I)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_TYPE_ALIASES = {"postgres": "postgresql"}  # what people call it; the inventory says standalone-postgresql


@dataclass(frozen=True)
class Rule:
    """One `[[rule]]`: the databases it matches and what must hold for them."""

    id: str
    match: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)  # field name → wanted value, read by the field table
    max_age: dt.timedelta | None = None
    minimums: Mapping[str, float] = field(default_factory=dict)  # setting name → minimum value
    line: int | None = None  # where it starts in its file
    ignore: bool = False  # the databases it matches need no backup: they are not checked

    def matches(self, database: Mapping[str, Any]) -> bool:
        for key, pattern in self.match.items():
            column = "database_name" if key == "name" else key
            value = database.get(column)
            if value is None or (isinstance(value, float) and value != value):
                return False
            if key == "database_type":
                value = str(value).removeprefix("standalone-")
                pattern = _TYPE_ALIASES.get(pattern.lower(), pattern).removeprefix("standalone-")
            if not fnmatch.fnmatchcase(str(value).lower(), pattern.lower()):
                return False
        return True


@dataclass(frozen=True)
class Policy:
    """Rules in order: the first that matches a database decides what must hold for it."""

    rules: tuple[Rule, ...]
    source: str = "<policy>"

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> Policy:
        """A policy from a TOML file's path, or from TOML text (anything holding a newline or `[[rule]]`)."""
        text, name = _text_of(source)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            line = _decode_error_line(error)
            raise InputError(f"not valid TOML: {error}", file=name, line=line) from None
        lines = _rule_lines(text)
        unknown = set(data) - {"rule"}
        if unknown:
            key = sorted(unknown)[0]
            raise InputError(_unknown(key, ("rule",), "top-level key"), file=name, line=_key_line(text, key, None))
        tables = data.get("rule")
        if not isinstance(tables, list) or not tables:
            raise InputError("no [[rule]] tables: a policy needs at least one rule", file=name, line=1)
        rules = []
        for number, table in enumerate(tables):
            start = lines[number] if number < len(lines) else None
            rules.append(_rule(table, number, name, text, start))
        return cls(tuple(rules), name)

    @classmethod
    def of(cls, *rules: Rule | Mapping[str, Any]) -> Policy:
        """A policy built in Python: `Policy.of({"match": {...}, "frequency": "@daily"}, ...)` or `Rule`s."""
        built = [r if isinstance(r, Rule) else _rule(dict(r), i, "<python>", "", None) for i, r in enumerate(rules)]
        return cls(tuple(built), "<python>")

    def rule_for(self, database: Mapping[str, Any]) -> Rule | None:
        return next((rule for rule in self.rules if rule.matches(database)), None)

    @property
    def matches_instances(self) -> bool:
        """Whether a rule matches on the instance (then a check of one client tells the rules its name)."""
        return any("instance" in rule.match for rule in self.rules)


def parse_duration(text: object) -> dt.timedelta:
    """ "26h", "2d", "90m", "1w" (or a number of seconds) as a timedelta; ValueError otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool) and text > 0:
        return dt.timedelta(seconds=text)
    found = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f'{text!r} is not a duration: write a number and a unit, e.g. "26h", "2d" or "90m"')
    return dt.timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2).lower()])


def _rule(table: Any, number: int, name: str, text: str, start: int | None) -> Rule:
    def fail(message: str, key: str | None = None) -> InputError:
        line = _key_line(text, key, start) if key else start
        return InputError(f"rule {number + 1}: {message}", file=name, line=line, column=key)

    if not isinstance(table, dict):
        raise fail("must be a table")
    for key in table:
        if key not in _RULE_KEYS:
            raise fail(_unknown(key, _RULE_KEYS, "key"), key)
    ignore = table.get("ignore", False)
    if not isinstance(ignore, bool):
        raise fail(f"ignore must be true or false, not {ignore!r}", "ignore")
    if ignore and set(table) - {"id", "match", "ignore"}:
        extra = sorted(set(table) - {"id", "match", "ignore"})[0]
        raise fail(f"a rule with ignore = true says nothing else ({extra!r} would never be checked)", extra)
    rule_id = table.get("id", f"rule {number + 1}")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise fail("id must be a non-empty string", "id")
    match = table.get("match", {})
    if not isinstance(match, dict):
        raise fail('match must be a table, e.g. match = { project = "prod-*" }', "match")
    for key, pattern in match.items():
        if key not in MATCH_KEYS:
            raise fail(_unknown(key, MATCH_KEYS, "match key"), key)
        if not isinstance(pattern, str):
            raise fail(f"match.{key} must be a glob string, not {pattern!r}", key)
    settings: dict[str, Any] = {}
    for key in SETTING_KEYS:
        if key not in table:
            continue
        field_ = BY_NAME[key]
        try:
            value = field_.read(table[key])
        except CellError as error:
            raise fail(f"{key} = {table[key]!r}: {error}", key) from None
        problems = field_.problems(value)
        if problems:
            raise fail(f"{key} = {table[key]!r}: {'; '.join(problems)}", key)
        settings[key] = field_.to_json(value)
    if not ignore:
        settings.setdefault("enabled", True)
    if settings.get("save_s3") is True and not settings.get("s3_storage_uuid"):
        raise fail(
            "save_s3 = true needs s3_storage_uuid in the same rule (a configuration cannot be created or "
            "moved to S3 without one)",
            "save_s3",
        )
    max_age = None
    if "max_age" in table:
        try:
            max_age = parse_duration(table["max_age"])
        except ValueError as error:
            raise fail(f"max_age: {error}", "max_age") from None
    minimums = {}
    for key in LIMITS:
        if key == "max_age" or key not in table:
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise fail(f"{key} must be a number at least 0, not {value!r}", key)
        minimums["database_backup_retention_" + key.removeprefix("min_retention_")] = float(value)
    return Rule(rule_id.strip(), dict(match), settings, max_age, minimums, start, ignore)


def _unknown(key: str, known: tuple[str, ...], what: str) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    return f"unknown {what} {key!r}{hint}"


def _text_of(source: str | os.PathLike[str]) -> tuple[str, str]:
    if isinstance(source, str) and ("\n" in source or "[[rule]]" in source):
        return source, "<policy>"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise InputError("no such file", file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text: save the policy as UTF-8", file=str(path)) from None


def _rule_lines(text: str) -> list[int]:
    """The line on which each `[[rule]]` table starts."""
    return [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)]


def _key_line(text: str, key: str | None, start: int | None) -> int | None:
    """The first line at or after `start` that sets `key` (a key of the rule, or of its inline match table); with
    no `start`, the first line anywhere that sets it or names it as a table."""
    if not text or key is None:
        return start
    lines = text.splitlines()
    begin = (start or 1) - 1
    pattern = re.compile(rf"(^|[\s{{,.\[]){re.escape(key)}\s*(=|\])")
    for number in range(begin, len(lines)):
        if start is not None and number > begin and re.match(r"\s*\[", lines[number]):
            break  # the next table: the key is not in this rule
        if pattern.search(lines[number]):
            return number + 1
    return start


def _decode_error_line(error: tomllib.TOMLDecodeError) -> int | None:
    found = re.search(r"line (\d+)", str(error))
    return int(found.group(1)) if found else None
