"""`bulkbackup check POLICY.toml`: where the fleet breaks a policy, for a person, a script or CI.

Exit codes follow the linters (ruff, sqlfluff): 0 the fleet complies, 1 violations, 2 the tool could not check
(a policy mistake, no connection: the CLI's usual one-line error).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import pandas as pd

from bulkbackup._cli.terminal import say
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import printable

EXIT_COMPLIANT, EXIT_VIOLATIONS = 0, 1
FORMATS = ("text", "json", "github")


def add_parser(commands, connection_options: Callable[[argparse.ArgumentParser], None], client_of: Callable) -> None:
    parser = commands.add_parser(
        "check",
        help="check the fleet against a backup policy (TOML); exit 0 compliant, 1 violations, 2 could not check",
        description="Reads the inventory (one request for the configurations, plus project names), checks every "
        "database against the policy's rules and prints one line per violation with its fix: update, create, or "
        "none where a person must act. Sends no change.",
    )
    parser.add_argument("policy", metavar="POLICY.toml", help="the policy file ([[rule]] tables)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (grouped, for people; default), json (one object per violation), github (workflow annotations)",
    )
    parser.add_argument("--now", metavar="TIME", help="check as of this time (ISO 8601; default: now)")
    parser.add_argument("--timezone", metavar="ZONE", default="UTC", help="the Coolify server's timezone (default UTC)")
    connection_options(parser)
    parser.set_defaults(run=lambda args: run(args, client_of))


def run(args: argparse.Namespace, client_of: Callable) -> int:
    from bulkbackup._fleet.check import check
    from bulkbackup._fleet.policy import Policy

    policy = Policy.from_toml(args.policy)  # a mistake in the file is reported before connecting
    with client_of(args) as given:  # one client, or a list (several instances: an `instance` column)
        violations = check(policy, given, now=args.now, timezone=args.timezone)
    say(*{"text": as_text, "json": as_json, "github": as_github}[args.format](violations, policy).split("\n"))
    return EXIT_VIOLATIONS if len(violations) else EXIT_COMPLIANT


def as_text(violations: pd.DataFrame, policy) -> str:
    checked = violations.attrs.get("checked", {})
    lines = [
        f"{printable(policy.source)}: {checked.get('databases', 0)} databases, "
        f"{checked.get('configurations', 0)} backup configurations checked"
        + (f"; {checked['ignored']} databases ignored by the policy" if checked.get("ignored") else "")
    ]
    unsupported = violations.attrs.get("unsupported") or []
    if unsupported:
        lines.append(
            f"{len(unsupported)} databases Coolify cannot back up through its API (redis, keydb, dragonfly)"
            " were not checked"
        )
    if violations.empty:
        lines.append("compliant: no violations")
        return "\n".join(lines)
    fixes = violations["fix"].value_counts()
    by_api = int(fixes.get("update", 0) + fixes.get("create", 0))
    lines.append(
        f"{len(violations)} violations: {by_api} an API call can fix ({int(fixes.get('update', 0))} update, "
        f"{int(fixes.get('create', 0))} create; `bulkbackup enforce` will), "
        f"{len(violations) - by_api} need a person"
    )
    several = INSTANCE in violations.columns  # uuids can repeat across instances: the instance leads the place
    keys = [INSTANCE] * several + ["project", "environment", "database_name", "database_type", "database_uuid"]
    for (*places, name, kind, database), group in violations.groupby(keys, sort=False, dropna=False):
        rule = group["rule"].iloc[0]
        where = " / ".join(printable(str(p)) for p in places if isinstance(p, str))
        lines.append("")
        lines.append(
            f"{where} / {printable(str(name))} ({printable(str(kind))}) {database}"
            + (f"  [rule {printable(str(rule))!r}]" if isinstance(rule, str) else "")
        )
        for row in group.itertuples(index=False):
            config = row.backup_uuid if isinstance(row.backup_uuid, str) else "(no configuration)"
            detail = ""
            if row.wanted or row.found:
                detail = f": wanted {printable(row.wanted)}, found {printable(row.found)}"
            fix = f"fix: {row.fix}" if row.fix else "a person must act"
            lines.append(f"  {config}  {printable(row.problem)}{detail}  — {fix}")
    return "\n".join(lines)


def as_json(violations: pd.DataFrame, policy) -> str:
    records = violations.astype(object).where(violations.notna(), None).to_dict("records")
    return json.dumps(
        {
            "policy": policy.source,
            "checked": violations.attrs.get("checked", {}),
            "unsupported": violations.attrs.get("unsupported", []),
            "violations": records,
        },
        indent=2,
        ensure_ascii=False,
    )


def as_github(violations: pd.DataFrame, policy) -> str:
    """GitHub Actions workflow commands: one `::error` (fixable) or `::warning` (a person must act) per violation,
    placed on the line of the rule that was broken, so the annotation shows on the policy file."""
    lines = {rule.id: rule.line for rule in policy.rules}
    out = []
    for row in violations.itertuples(index=False):
        level = "error" if row.fix else "warning"
        line = lines.get(row.rule)
        where = f"file={_escape_property(policy.source)}" + (f",line={line}" if line else "")
        instance = getattr(row, INSTANCE, None)
        on = f"{instance}: " if isinstance(instance, str) else ""  # several instances: which one
        title = _escape_property(f"{on}{row.database_name}: {row.problem}")
        backup = row.backup_uuid if isinstance(row.backup_uuid, str) else "no configuration"
        message = f"{on}{row.database_name} ({row.database_uuid}/{backup}): {row.problem}"
        if row.wanted or row.found:
            message += f" (wanted {row.wanted}, found {row.found})"
        message += f"; fix: {row.fix}" if row.fix else "; a person must act"
        out.append(f"::{level} {where},title={title}::{_escape_data(message)}")
    if not out:
        out.append(f"::notice file={_escape_property(policy.source)}::compliant: no violations")
    return "\n".join(out)


def _escape_data(text: str) -> str:
    # The workflow-command escaping of @actions/core (toCommandValue/escapeData).
    return printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(str(text)).replace(":", "%3A").replace(",", "%2C")
