"""Plans, estimates and summaries as lines for a terminal: pure functions from frames to lists of lines.

Nothing here prints or escapes: the lines go out through `terminal.say`, which escapes every one of them.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import TYPE_CHECKING

from bulkbackup._core.fields import ALL_FIELDS
from bulkbackup._core.statuses import Action

if TYPE_CHECKING:
    import pandas as pd

SENDING = (Action.UPDATE, Action.TRIGGER, Action.CREATE, Action.DELETE)
FIRST_ROWS = 10  # rows of each kind shown before "… and N more" when the user did not ask for --all

# What bb.apply writes on a row whose server value moved between the plan and the run (see _engine/apply.py).


# The library speaks Python to Python callers; on the command line the same advice names the flag.
_CLI_WORDS = (
    ("force=True", "--force"),
    ("retry_unknown=True / --retry-unknown", "--retry-unknown"),
    ("retry_unknown=True", "--retry-unknown"),
    ("ca_bundle=PATH", "--ca-bundle PATH or REQUESTS_CA_BUNDLE"),
    (", or allow_http=True in Python", ""),
    ("allow_http=True", "--allow-http"),
    ("diff=False", "--no-diff"),
    ("overwrite=True", "--overwrite"),
)


def speak_cli(message: str) -> str:
    """A library message (an error, a warning, a doctor's fix) as the command line says it."""
    for python, flag in _CLI_WORDS:
        message = message.replace(python, flag)
    return message


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def plan_header(planned: pd.DataFrame) -> list[str]:
    """The counts per action and per field: a stale export that would revert many rows shows here."""
    counts = planned["action"].value_counts()
    lines = ["plan: " + (", ".join(f"{counts[a]} {a}" for a in Action if a in counts) or "no rows")]
    by_field = field_counts(planned)
    if by_field:
        lines.append("changes by field: " + ", ".join(f"{name}: {plural(n, 'row')}" for name, n in by_field.items()))
    if "instance" in planned.columns:  # several instances: the counts of each
        for name, rows in planned.groupby("instance", sort=False, dropna=False):
            each = rows["action"].value_counts()
            shown = name if isinstance(name, str) and name else "(no instance)"
            lines.append(f"  {shown}: " + ", ".join(f"{each[a]} {a}" for a in Action if a in each))
    if planned.attrs.get("diff") is False:
        lines.append("no diff: every given field is sent as it is, without reading the server first")
    return lines


def field_counts(planned: pd.DataFrame) -> dict[str, int]:
    """How many rows would send each field, in the field table's order."""
    counts: Counter[str] = Counter()
    for payload in planned.loc[planned["action"].isin(SENDING), "payload"]:
        if isinstance(payload, str) and payload:
            counts.update(json.loads(payload).keys())
        elif isinstance(payload, dict):
            counts.update(payload.keys())
    return {f.name: counts[f.name] for f in ALL_FIELDS if counts[f.name]}


def plan_listing(planned: pd.DataFrame, changes: pd.DataFrame | None, *, every_row: bool) -> list[str]:
    """What `bulkbackup plan` prints: the counts, a problem repeated down a column once, then the rows that change
    and the other invalid ones in input order (with `every_row`, the unchanged ones too)."""
    lines = plan_header(planned)
    grouped, listed = _grouped(planned, changes)
    lines.extend(grouped)
    shown = listed if every_row else listed[listed["action"] != Action.UNCHANGED]
    lines.extend(row_line(row) for _, row in shown.iterrows())
    hidden = len(listed) - len(shown)
    if hidden:
        lines.append(f"  ({plural(hidden, 'unchanged row')} not listed: --all lists every row)")
    return lines


def confirmation(planned: pd.DataFrame, changes: pd.DataFrame | None, *, every_row: bool) -> list[str]:
    """What `apply` shows before it asks: the counts, a problem repeated down a column once, the other invalid
    rows, then the diff of the rows it would send, the first few of each for a large run ("… and N more"), every
    one with `every_row`."""
    lines = plan_header(planned)
    grouped, listed = _grouped(planned, changes)
    lines.extend(grouped)
    for rows, kind in (
        (listed[listed["action"] == Action.INVALID], "invalid rows"),
        (planned[planned["action"].isin(SENDING)], "rows to send"),
    ):
        shown = rows if every_row else rows.head(FIRST_ROWS)
        lines.extend(row_line(row) for _, row in shown.iterrows())
        if len(rows) > len(shown):
            lines.append(f"  … and {len(rows) - len(shown):,} more {kind} (--all lists every row)")
    return lines


def _grouped(planned: pd.DataFrame, changes: pd.DataFrame | None) -> tuple[list[str], pd.DataFrame]:
    """The input's problems shared down a column, one line each (`_input.problems`), and the plan rows still to
    list: those the lines do not say all of."""
    from bulkbackup._input.problems import column_groups

    if changes is None or len(changes) != len(planned):
        return [], planned
    lines, covered = column_groups(changes)
    errors, said = planned["errors"].tolist(), changes["errors"].tolist()
    covered = {i for i in covered if errors[i] == "; ".join(map(str, said[i]))}  # the plan added nothing of its own
    if not covered:
        return [f"  invalid: {line}" for line in lines], planned
    keep = [i for i in range(len(planned)) if i not in covered]
    return [f"  invalid: {line}" for line in lines], planned.iloc[keep]


def row_line(row) -> str:
    """One plan row for people: line, action, the database by name and type when known, and what changes."""
    name, kind = row.get("database_name"), row.get("database_type")
    target = f"{row['database_uuid']}/{row['backup_uuid'] or '(new)'}"  # a create has no configuration yet
    if isinstance(name, str) and name:
        target = f"{name} ({kind}) {target}" if isinstance(kind, str) and kind else f"{name} {target}"
    line, instance = row.get("line"), row.get("instance")
    where = f"line {int(line)}: " if _known(line) else ""
    if isinstance(instance, str) and instance:  # several instances: uuids can repeat, the instance tells them apart
        where = f"{where}{instance}: "
    action = row["action"]
    if action == Action.INVALID:
        return f"  {where}invalid {target}: {row['errors']}"
    if action == Action.UNCHANGED:
        return f"  {where}unchanged {target}"
    return f"  {where}{action} {target}: {row['diff']}"


def send_question(sending: pd.DataFrame, endpoints: dict[str, str], *, several: bool) -> str:
    """The question before a run: how many requests go where. Several instances: each named, with its count and
    address, so a run meant for staging is seen to touch production before it does."""
    from bulkbackup._core.columns import INSTANCE

    total = plural(len(sending), "request")
    if not several:
        return f"Send {total} to {next(iter(endpoints.values()))}? [y/N] "
    counts = Counter(sending[INSTANCE]) if INSTANCE in sending.columns else Counter()
    each = ", ".join(f"{name} {plural(counts[name], 'row')} ({endpoint})" for name, endpoint in endpoints.items())
    return f"Send {total} to {plural(len(endpoints), 'instance')}: {each}? [y/N] "


def run_summary(results: pd.DataFrame) -> list[str]:
    """The summary after a run: counts, warnings, and a verification that did not happen or failed."""
    from bulkbackup._engine.results import format_summary

    lines = [f"results: {format_summary(results)}"]
    facts = results.attrs.get("run")
    if facts is not None:
        # The journal's failure is said apart, as an error (see run.py): not again as a warning.
        lines.extend(f"warning: {speak_cli(w)}" for w in facts.warnings if w != facts.journal_failure)
        if facts.verification.startswith(("skipped", "failed")) and facts.verification != "skipped: not asked":
            lines.append(f"verification {speak_cli(facts.verification)}")
        lines.extend(instance_lines(facts))
    return lines


def instance_lines(facts) -> list[str]:
    """A run over several instances: per instance, its counts, why it stopped, and its verification."""
    lines = []
    for name, part in (getattr(facts, "instances", None) or {}).items():
        counts = ", ".join(f"{n:,} {status}" for status, n in part.counts.items() if n) or "no rows"
        said = [counts]
        if part.stopped:
            said.append(f"stopped: {speak_cli(part.stopped)}")
        if part.verification.startswith(("skipped", "failed")) and part.verification != "skipped: not asked":
            said.append(f"verification {speak_cli(part.verification)}")
        lines.append(f"  {name} ({part.endpoint}): {'; '.join(said)}")
    return lines


def storage_lines(frame: pd.DataFrame) -> list[str]:
    """`bulkbackup storages`: one line per S3 storage — what to put in `s3_storage_uuid`, and who uses it."""
    if frame.empty:
        return ["no S3 storages: add one in Coolify (Storages) before setting save_s3"]
    lines = [f"{plural(len(frame), 'S3 storage')} (name, uuid for s3_storage_uuid, bucket at endpoint):"]
    for row in frame.itertuples(index=False):
        where = f"{row.bucket} at {row.endpoint}" + (f" ({row.region})" if isinstance(row.region, str) else "")
        usable = "" if row.is_usable is not False else "; not usable (Coolify could not reach it)"
        used = f"; used by {row.configurations}: {row.used_by}" if _known(row.configurations) else ""
        if _known(row.configurations) and not row.configurations:
            used = "; used by no configuration"
        lines.append(f"  {row.name}  {row.uuid}  {where}{usable}{used}")
    if frame.attrs.get("note"):
        lines.append(f"note: {frame.attrs['note']}")
    return lines


def _known(value) -> bool:
    if value is None:
        return False
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False
