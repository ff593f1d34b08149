"""Reading a journal back: every line checked, so a damaged journal is one clear error naming file and line.

A line torn by a kill (the last one, or one followed by the next run's header) is reported in `warnings` and
ignored: it was never complete on disk, so its request never left. Anything else that is not a record this version
writes — an unknown status, a header without its hash, a payload that is a list, a newer `journal_version` — is a
`ConfigError` before anything is sent: resuming or undoing from a record we cannot read exactly could send twice
or restore the wrong value.

Rows are keyed by `Operation.where`, (instance, database uuid, backup uuid): the instance is None in a journal of
one instance, and two instances restored from one backup (the same uuids) never share a row's history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bulkbackup._core.errors import ConfigError, printable
from bulkbackup._core.fields import BACKUP_NOW
from bulkbackup._core.statuses import Status

JOURNAL_VERSION = 2
"""The newest layout this version reads. A journal of one instance is written as version 1, unchanged; one of
several instances as version 2 (rows and records name their instance), which an older bulkbackup refuses by name
instead of mixing up two instances' rows that share uuids."""
ONE_INSTANCE = 1

_TEXT = (str, type(None))
_INT = (int, type(None))
_KEYS = {"database_uuid": (str,), "backup_uuid": (str,), "instance": _TEXT}

Where = tuple[str | None, str, str]
"""A row among several instances: (instance or None, database uuid, backup uuid), as `Operation.where`."""
# Per record kind: field → the JSON types it may hold. Fields not listed are allowed (and ignored).
_SHAPES: dict[str, dict[str, tuple[type, ...]]] = {
    "header": {
        "journal_version": (int,),
        "endpoint": _TEXT,
        "input": _TEXT,
        "changes_hash": (str,),
        "rows": (list,),
        "resumed": (bool,),
        "dry_run": (bool,),
        "bulkbackup": _TEXT,
        "coolify": (str, dict, type(None)),  # a run of several instances: name → version
        "instances": (dict,),  # a run of several instances: name → endpoint ("endpoint" is then null)
        "time": _TEXT,
    },
    "intent": {
        **_KEYS,
        "position": _INT,
        "line": _INT,
        "payload": (dict,),
        "before": (dict,),
        "action": _TEXT,
        "time": _TEXT,
    },
    "outcome": {
        **_KEYS,
        "position": _INT,
        "line": _INT,
        "status": (str,),
        "http_status": _INT,
        "message": _TEXT,
        "attempts": _INT,
        "created": _TEXT,
        "time": _TEXT,
    },
    "end": {
        "stopped": _TEXT,
        "interrupted": (bool,),
        "verification": _TEXT,
        "counts": (dict,),
        "instances": (dict,),  # a run of several instances: name → its endpoint, stopped, verification, counts
        "time": _TEXT,
    },
}
_REQUIRED = {
    "header": ("journal_version", "changes_hash", "rows"),
    "intent": ("database_uuid", "backup_uuid", "payload"),
    "outcome": ("database_uuid", "backup_uuid", "status"),
    "end": (),
}
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a number", bool: "true/false"}


@dataclass
class RowHistory:
    """Everything a journal says about one configuration, over every run that wrote to it."""

    database_uuid: str
    backup_uuid: str
    instance: str | None = None  # the Coolify instance (client name) of a journal of several; None for one
    payload: dict = field(default_factory=dict)  # the last intent's payload
    before: dict = field(default_factory=dict)  # per field, the value before the journal's first intent touched it
    status: str | None = None  # the last outcome; None while its last intent has no outcome
    pending: bool = False  # an intent without an outcome: the request may have been sent
    message: str = ""
    http_status: int | None = None
    changed: dict = field(default_factory=dict)  # field → the value it may have been set to (sent or maybe sent)
    backup_started: bool = False  # a backup_now that went out, or may have
    backup_certain: bool = False  # a backup_now the server answered 2xx: a backup certainly started
    intents: int = 0
    digest: str | None = None  # the row's hash in the header of the run that wrote its last intent
    action: str = "update"  # the last intent's: "create" and "delete" are recorded (a PATCH says nothing)
    created: str | None = None  # the backup_uuid a create's 201 answered

    def intent(self, payload: Mapping, before: Mapping, digest: str | None, action: str | None = None) -> None:
        self.intents += 1
        self.action = action or "update"
        self.payload = dict(payload)
        self.digest = digest
        for name, value in before.items():
            self.before.setdefault(name, value)
        self.status, self.pending, self.message, self.http_status = None, True, "", None

    def outcome(self, status: str, message: str, http_status: int | None, created: str | None = None) -> None:
        self.created = created or self.created
        self.status, self.pending, self.message, self.http_status = status, False, message, http_status

    def settle(self) -> None:
        """After an intent is answered (or never was): what it may have changed."""
        if not (self.pending or Status(self.status).info.sent and self.status != Status.REJECTED):
            return
        if self.action != "update":
            return  # a create's or a delete's payload changed no existing configuration's fields
        for name, value in self.payload.items():
            if name != BACKUP_NOW.name:
                self.changed[name] = value
            elif value and self.status != Status.FAILED:
                # A request that starts a backup ends `failed` only when it certainly was not processed (else it
                # is `unknown`), so only the others may have started one.
                self.backup_started = True
                if not self.pending and Status(self.status) in (Status.UPDATED, Status.TRIGGERED):
                    self.backup_certain = True  # answered 2xx: never sent again, whatever the flags


@dataclass
class JournalState:
    path: str
    header: dict | None = None  # the first run's header
    last_header: dict | None = None  # the latest run's: what a resumed run is checked against
    rows: dict[Where, RowHistory] = field(default_factory=dict)  # by (instance, database uuid, backup uuid)
    warnings: list[str] = field(default_factory=list)
    ends_with_newline: bool = True
    size: int = 0

    @property
    def instances(self) -> dict[str, str]:
        """name → endpoint of the instances the journal's runs went over; empty for a journal of one instance."""
        return dict((self.header or {}).get("instances") or {})


def damaged(path: str, number: int | None, problem: str) -> ConfigError:
    where = f"{path}:{number}" if number is not None else path
    return ConfigError(
        printable(
            f"journal {where}: {problem}: the journal is damaged and was not used (nothing was sent). Keep it "
            "for the record; resume with a copy repaired by hand, or start the run with another journal"
        )
    )


def read_journal(path: str | os.PathLike[str]) -> JournalState:
    """Parse and check a journal; a line torn by a kill is reported in `warnings` and ignored."""
    path = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"journal {printable(path)}: cannot be read ({error.strerror or error})") from None
    state = JournalState(path, size=len(data), ends_with_newline=not data or data.endswith(b"\n"))
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    open_rows: set[Where] = set()
    digests: dict[Where, str] = {}
    for number, raw in enumerate(lines, start=1):
        record = _parse(state, lines, number, raw)
        if record is None:
            continue
        kind = record["record"]
        if kind == "header":
            _check_header(path, number, record, state)
            digests = {header_where(r): r[2] for r in record["rows"]}
            for key in open_rows:
                state.rows[key].settle()
            open_rows.clear()
            continue
        if state.header is None:
            raise damaged(path, number, f"a {kind} record before any header (not a bulkbackup journal?)")
        if kind == "end":
            continue
        key = (record.get("instance"), record["database_uuid"], record["backup_uuid"])
        row = state.rows.get(key)
        if row is None:
            row = state.rows[key] = RowHistory(key[1], key[2], instance=key[0])
        if kind == "intent":
            if key in open_rows:
                row.settle()
            row.intent(record["payload"], record.get("before") or {}, digests.get(key), record.get("action"))
            open_rows.add(key)
        else:
            row.outcome(record["status"], record.get("message") or "", record.get("http_status"), record.get("created"))
            row.settle()
            open_rows.discard(key)
    for key in open_rows:
        state.rows[key].settle()
    return state


def _parse(state: JournalState, lines: list[bytes], number: int, raw: bytes) -> dict | None:
    """The record of one line, checked; None for a line torn by a kill."""
    path = state.path
    try:
        record = json.loads(raw)
    except ValueError:
        last = number == len(lines)
        next_is_header = not last and lines[number].startswith(b'{"record": "header"')
        if last or next_is_header:
            state.warnings.append(
                f"{path}:{number}: an incomplete last line (the run writing it was killed) was ignored"
            )
            return None
        raise damaged(path, number, f"not a journal record ({raw[:60]!r})") from None
    if not isinstance(record, dict) or not isinstance(record.get("record"), str):
        raise damaged(path, number, f"not a journal record ({raw[:60]!r})")
    kind = record["record"]
    if kind == "header":
        _check_version(path, number, record)  # first: a newer journal may hold records this version cannot read
    shape = _SHAPES.get(kind)
    if shape is None:
        raise damaged(path, number, f"an unknown record {kind!r}")
    for name in _REQUIRED[kind]:
        if name not in record:
            raise damaged(path, number, f"the {kind} record has no {name!r}")
    for name, types in shape.items():
        value = record.get(name)
        if name in record and not (isinstance(value, types) and not (isinstance(value, bool) and bool not in types)):
            wanted = " or ".join(_JSON_NAMES.get(t, "null") for t in types)
            raise damaged(path, number, f"{name} is {_shown(value)}, not {wanted}")
    if kind == "outcome" and record["status"] not in Status.__members__.values():
        raise damaged(path, number, f"an unknown status {record['status']!r}")
    if kind == "intent":
        for name in ("payload", "before"):
            unknown = [k for k in record.get(name) or {} if not isinstance(k, str)]
            if unknown:
                raise damaged(path, number, f"{name} has a key {unknown[0]!r}")
    return record


def _check_version(path: str, number: int, record: dict) -> None:
    version = record.get("journal_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > JOURNAL_VERSION:
        raise ConfigError(
            printable(
                f"journal {path}:{number}: written by a newer bulkbackup ({record.get('bulkbackup') or 'unknown'}, "
                f"journal_version {version}; this one reads up to {JOURNAL_VERSION}): nothing was sent. Resume or "
                "undo it with that version (pip install -U bulkbackup)"
            )
        )


def header_where(entry: list) -> Where:
    """The row of a header's `rows` entry: [database, backup, hash] in a journal of one instance, [database,
    backup, hash, instance] in one of several."""
    return (entry[3] if len(entry) > 3 else None, entry[0], entry[1])


def _check_header(path: str, number: int, record: dict, state: JournalState) -> None:
    for entry in record["rows"]:
        # The keys are as the changes held them (an invalid row's may be empty); the hash is always text.
        if (
            not (isinstance(entry, list) and len(entry) in (3, 4) and isinstance(entry[2], str))
            or any(isinstance(x, dict | list) for x in entry)
            or (len(entry) == 4 and not isinstance(entry[3], _TEXT))
        ):
            raise damaged(
                path, number, f"the header's rows hold {_shown(entry)}, not [database, backup, hash(, instance)]"
            )
    instances = record.get("instances") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in instances.items()):
        raise damaged(path, number, f"the header's instances are {_shown(instances)}, not names and endpoints")
    if state.header is None:
        state.header = record
    elif record.get("endpoint") != state.header.get("endpoint"):
        raise damaged(path, number, "the journal mixes runs against two endpoints")
    elif instances != (state.header.get("instances") or {}):
        raise damaged(path, number, "the journal mixes runs over different instances")
    state.last_header = record


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
