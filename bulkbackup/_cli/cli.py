"""The `bulkbackup` command: a thin layer over the library.

Every command calls one library function and turns library errors into one line on stderr with a non-zero exit
code — never a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bulkbackup._cli.check import add_parser as add_check_parser
from bulkbackup._coolify.client import ALLOW_HTTP_VARIABLE
from bulkbackup._core.errors import BulkBackupError, InputError, printable
from bulkbackup._core.statuses import Action
from bulkbackup._core.versions import DOCUMENTED as SANDBOX_VERSION
from bulkbackup._core.versions import parse as parse_version
from bulkbackup._version import __version__

EXIT_OK, EXIT_NOT_ALL_OK, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: keep them one line and exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bulkbackup", description="Change Coolify's scheduled database backups in bulk, safely.")
    parser.add_argument("--version", action="version", version=f"bulkbackup {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo",
        help="run the whole job against a local sandbox and show the results",
        description="Start an in-process Coolify sandbox, write a changes CSV from its "
        "fleet (some rows good, some with mistakes), apply it and print the summary.",
    )
    demo.add_argument("--dir", help="folder for the demo's files (default: a new temporary folder)")
    demo.add_argument("--databases", type=int, default=40, help="size of the sandbox fleet (default 40)")
    demo.set_defaults(run=_demo)

    apply = commands.add_parser(
        "apply",
        help="apply a changes CSV to the server",
        description="Validate FILE, compare it with the server, show what will change, "
        "ask, send only what changed, and write a results CSV. Exit code 0 when every row "
        "is updated, triggered or unchanged; 1 when any row is not; 2 for usage errors "
        "and aborted runs.",
    )
    apply.add_argument("file", metavar="FILE", help="changes CSV (comma, semicolon or tab separated)")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--dry-run", action="store_true", help="plan and report, send nothing")
    apply.add_argument("--workers", type=_positive_int, default=4, help="parallel requests (default 4)")
    apply.add_argument(
        "--rate", type=_positive_float, help="cap on requests per second (default: the server's own limit only)"
    )
    apply.add_argument(
        "--results",
        metavar="OUT.csv",
        help="where to write the results (default: next to FILE, named after it and the run's start time); "
        "an existing file is refused unless --overwrite",
    )
    apply.add_argument("--overwrite", action="store_true", help="allow --results to replace an existing file")
    apply.add_argument(
        "--journal",
        metavar="PATH.jsonl",
        help="the run's journal (default: next to the results, named after FILE and the start time); naming an "
        "existing journal resumes that run",
    )
    apply.add_argument(
        "--retry-unknown",
        action="store_true",
        help="when resuming, send again the backup_now requests whose outcome is unknown",
    )
    apply.add_argument(
        "--force", action="store_true", help="resume a journal even though it was written for different changes"
    )
    apply.add_argument("--verbose", action="store_true", help="list every row of the plan before asking")
    _no_diff_option(apply)
    _connection_options(apply)
    apply.set_defaults(run=_apply)

    plan = commands.add_parser(
        "plan",
        help="show what applying a changes CSV would do, send nothing",
        description="Validate FILE and compare it with the server; print every row's "
        "action and diff. Exit code 0 when no row is invalid, 1 otherwise.",
    )
    plan.add_argument("file", metavar="FILE", help="changes CSV")
    plan.add_argument("--output", metavar="OUT.csv", help="also write the plan as CSV")
    plan.add_argument("--offline", action="store_true", help="validate only, without contacting the server")
    _no_diff_option(plan)
    _connection_options(plan)
    plan.set_defaults(run=_plan)

    export = commands.add_parser(
        "export",
        help="write every backup configuration as CSV",
        description="Write the inventory (one row per backup configuration) as CSV to "
        "stdout or --output; edit it in a spreadsheet and feed it to plan/apply.",
    )
    export.add_argument("--output", metavar="OUT.csv", help="file to write (default: stdout)")
    _connection_options(export)
    export.set_defaults(run=_export)

    undo = commands.add_parser(
        "undo",
        help="write the changes that put back what a run changed",
        description="Read a results CSV or a journal (even of a killed run) and write a changes CSV that "
        "restores the previous value of every field the run changed; apply it with `bulkbackup apply`. What "
        "cannot be undone (a started backup, an S3 storage reference) is printed.",
    )
    undo.add_argument("source", metavar="RESULTS.csv|JOURNAL.jsonl", help="a results CSV or a journal")
    undo.add_argument("-o", "--output", metavar="UNDO.csv", help="file to write (default: next to the source)")
    undo.add_argument("--overwrite", action="store_true", help="allow --output to replace an existing file")
    undo.set_defaults(run=_undo)

    sandbox = commands.add_parser(
        "sandbox",
        help="run a local Coolify-compatible server until Ctrl-C",
        description="Serve the Coolify backup endpoints on 127.0.0.1 with a seeded fleet; "
        "prints the endpoint and the tokens.",
    )
    sandbox.add_argument("--port", type=int, default=0, help="port (default: chosen by the system)")
    sandbox.add_argument("--databases", type=int, default=40, help="number of databases (default 40)")
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the fleet (default 0)")
    sandbox.add_argument("--rate-limit", type=int, default=200, help="requests per window per user (default 200)")
    sandbox.add_argument("--window", type=float, default=60.0, help="rate-limit window in seconds (default 60)")
    sandbox.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="inject faults: latency=SECONDS, 500=P, 502=P, 503=P, drop=P, 429=P (repeatable)",
    )
    sandbox.add_argument(
        "--version",
        dest="coolify_version",
        default=SANDBOX_VERSION,
        metavar="X.Y.Z",
        help=f"Coolify version to behave like (default {SANDBOX_VERSION}; 4.3.18 and newer take "
        "missing_backup_notification_days)",
    )
    sandbox.set_defaults(run=_sandbox)

    doctor = commands.add_parser(
        "doctor",
        help="check that a run will work, changing nothing",
        description="Check the endpoint, TLS, the Coolify version, the API switch, the token and its read and "
        "write abilities, the rate-limit budget and the number of backup configurations, each with its fix. "
        "Exit code 0 when every check passes, 1 otherwise.",
    )
    _connection_options(doctor)
    doctor.set_defaults(run=_doctor)
    add_check_parser(commands, _connection_options, _client)
    return parser


def _no_diff_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-diff",
        action="store_true",
        help="send every given field without reading the server first (for a token without the read ability); "
        "nothing is compared or verified",
    )


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "connection (default: COOLIFY_ENDPOINT and COOLIFY_TOKEN, else coolify-cli's config file)"
    )
    group.add_argument("--endpoint", metavar="URL", help="Coolify URL, with or without /api/v1")
    group.add_argument(
        "--token-env",
        metavar="NAME",
        default="COOLIFY_TOKEN",
        help="environment variable holding the token (default COOLIFY_TOKEN); the token is never "
        "taken on the command line",
    )
    group.add_argument("--context", metavar="NAME", help="instance name in coolify-cli's config file")
    group.add_argument(
        "--allow-http",
        action="store_true",
        help=f"allow plain http:// to a host other than this machine (a trusted LAN; the token travels "
        f"unencrypted); also {ALLOW_HTTP_VARIABLE}=1",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _client(args: argparse.Namespace, **kwargs):
    from bulkbackup._coolify.client import Client
    from bulkbackup._coolify.connection import CLI
    from bulkbackup._coolify.credentials import find_credentials

    found = find_credentials(
        endpoint=args.endpoint,
        token_variable=args.token_env,
        context=args.context,
        allow_http=args.allow_http or None,  # None: BULKBACKUP_ALLOW_HTTP decides
        wording=CLI,
    )
    return Client(found.endpoint, found.token, allow_http=found.allow_http, wording=CLI, **kwargs)


def _apply(args: argparse.Namespace) -> int:
    from bulkbackup._engine.apply import apply
    from bulkbackup._engine.plan import plan
    from bulkbackup._input.changes import read_changes, write_csv

    changes = _rows_of(read_changes(args.file))
    outputs = _RunOutputs.choose(args)  # every output path is checked before the first request
    with _client(args, workers=args.workers, rate=args.rate) as client:
        planned = plan(changes, client, diff=not args.no_diff)
        if outputs.resuming:
            planned = _without_settled(planned, changes, client, outputs.journal, args)
        print(_describe_plan(planned, args.verbose, changes))
        sending = int(planned["action"].isin(["update", "trigger"]).sum())
        if (
            sending
            and not args.dry_run
            and not args.yes
            and not _confirm(f"Send {sending} request{'s' * (sending != 1)} to {client.endpoint}? [y/N] ")
        ):
            print("aborted: nothing was sent", file=sys.stderr)
            return EXIT_USAGE
        if args.dry_run:
            write_csv(planned, outputs.plan)
            print(f"dry run: {sending} request{'s' * (sending != 1)} would be sent (nothing was sent)")
            print(f"plan written to {printable(str(outputs.plan))}")
            return EXIT_OK if not (planned["action"] == "invalid").any() else EXIT_NOT_ALL_OK
        print(
            f"journal: {printable(str(outputs.journal))}"
            + (" (resuming the run it records)" if outputs.resuming else "")
        )
        stop = threading.Event()
        with _ctrl_c_stops(stop):
            # The changes, not the plan: the journal identifies a run by what it asks for, which a resumed run's
            # plan (with the finished rows now unchanged) no longer shows. apply reads the server again anyway.
            results = apply(
                changes,
                client,
                workers=args.workers,
                rate=args.rate,
                stop=stop,
                journal=outputs.journal,
                retry_unknown=args.retry_unknown,
                force=args.force,
                diff=not args.no_diff,
            )
    _say_what_changed_since_the_plan(planned, results)
    _write_results(results, outputs.results)
    undo = f"bulkbackup undo {printable(str(outputs.results))} -o undo.csv"
    print(f"to undo this run: {undo}, then bulkbackup apply undo.csv")
    if stop.is_set():
        return EXIT_USAGE
    return _exit_code(results)


def _say_what_changed_since_the_plan(planned, results) -> None:
    """apply() read the server again after the question: when what was sent is not what was shown, the rows'
    messages say so (before the results are written) and one line says how many."""

    def seen(row) -> tuple[str, str]:
        return (row.payload or "", row.before or "") if isinstance(row.payload, str) else ("", "")

    shown = {(row.database_uuid, row.backup_uuid): seen(row) for row in planned.itertuples()}
    changed = [
        (label, f"{row.database_uuid}/{row.backup_uuid}")
        for label, row in zip(results.index, results.itertuples(), strict=True)
        if (row.database_uuid, row.backup_uuid) in shown
        and shown[(row.database_uuid, row.backup_uuid)] != seen(row)
        and "earlier run" not in str(row.message)
    ]
    if changed:
        note = "the server changed since the plan shown: payload is what was sent, before what it replaced"
        for label, _ in changed:
            message = results.at[label, "message"]
            results.at[label, "message"] = f"{message}; {note}" if message else note
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        listed = ", ".join(name for _, name in changed[:5]) + more
        print(
            f"warning: {len(changed)} row{'s' * (len(changed) != 1)} changed on the server between the plan shown "
            f"and the run ({listed}): their results say so"
        )


def _without_settled(planned, changes, client, journal: Path, args: argparse.Namespace):
    """The plan of a resumed run as it will be sent: without what the journal's earlier run settled. A journal of
    another run is refused here, before the question."""
    from bulkbackup._engine.journal import settled_by
    from bulkbackup._engine.plan import plan_of

    done = settled_by(journal, client, plan_of(planned), retry_unknown=args.retry_unknown, force=args.force)
    mask = [key in done for key in zip(planned["database_uuid"], planned["backup_uuid"], strict=True)]
    print(f"resuming the run recorded in {printable(str(journal))}: {sum(mask)} rows it settled are not sent again")
    return planned[[not m for m in mask]]


class _RunOutputs:
    """Where a run writes its record, decided and checked before anything is sent."""

    def __init__(self, results: Path, journal: Path, plan: Path, resuming: bool):
        self.results, self.journal, self.plan, self.resuming = results, journal, plan, resuming

    @classmethod
    def choose(cls, args: argparse.Namespace) -> _RunOutputs:
        from bulkbackup._core.errors import ConfigError

        source = Path(args.file)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        if args.dry_run:
            if args.results or args.journal:
                raise ConfigError("a dry run sends nothing: it writes a plan file, not --results or --journal")
            plan = _fresh(source.with_name(f"{source.stem}.plan-{stamp}.csv"))
            _check_writable(plan, "plan")
            return cls(Path(), Path(), plan, False)
        results = Path(args.results) if args.results else None
        if results is not None and results.exists() and not args.overwrite:
            raise ConfigError(
                f"--results {results} exists: it may be the only record of an earlier run. Choose another name, "
                "or pass --overwrite"
            )
        journal = Path(args.journal) if args.journal else None
        if results is None or journal is None:
            # Named after the input and the start time, with -2, -3 … when a run in the same second took it.
            n = 1
            while True:
                suffix = stamp if n == 1 else f"{stamp}-{n}"
                default_results = source.with_name(f"{source.stem}.results-{suffix}.csv")
                default_journal = (results or default_results).with_name(f"{source.stem}.journal-{suffix}.jsonl")
                if not (results is None and default_results.exists()) and not (
                    journal is None and default_journal.exists()
                ):
                    break
                n += 1
            results = results or default_results
            journal = journal or default_journal
        _check_writable(results, "--results")
        _check_writable(journal, "--journal")
        resuming = journal.exists() and journal.stat().st_size > 0
        return cls(results, journal, Path(), resuming)


def _fresh(path: Path) -> Path:
    """`path`, or with -2, -3 … added when it exists: two runs in the same second must not collide."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _check_writable(path: Path, what: str) -> None:
    from bulkbackup._core.errors import ConfigError

    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{what} {path}: the folder {folder} does not exist (nothing was sent)")
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{what} {path}: not writable (nothing was sent)")


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event):
    """First Ctrl-C: say so at once and stop sending; the second stops waiting for requests in flight. Either
    way the results and the journal are still written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.reason = "interrupted (Ctrl-C)"
        stop.set()
        print(
            "stopping: no new requests; waiting for those in flight (Ctrl-C again to stop waiting)",
            file=sys.stderr,
            flush=True,
        )

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _plan(args: argparse.Namespace) -> int:
    from bulkbackup._engine.plan import plan
    from bulkbackup._input.changes import read_changes, write_csv

    changes = _rows_of(read_changes(args.file))
    if args.offline:
        planned = plan(changes)
    else:
        with _client(args) as client:
            planned = plan(changes, client, diff=not args.no_diff)
    _print_plan(planned, changes)
    if args.output:
        write_csv(planned, args.output)
        print(f"plan written to {printable(args.output)}")
    return EXIT_NOT_ALL_OK if (planned["action"] == "invalid").any() else EXIT_OK


def _rows_of(changes):
    """The changes, unless there are none: a file with only a header is a mistake to say, not a silent success."""
    if len(changes) == 0:
        raise InputError(
            "no rows: the file has a header line but no rows below it, so there is nothing to do",
            file=changes.attrs.get("source"),
        )
    return changes


def _export(args: argparse.Namespace) -> int:
    from bulkbackup._engine.inventory import inventory
    from bulkbackup._input.changes import write_csv

    with _client(args) as client:
        frame = inventory(client)
    if args.output:
        write_csv(frame, args.output)
    else:
        # The CSV goes out as UTF-8 bytes whatever the console's encoding: on a cp1252 console the text stream
        # would escape a name it cannot encode, and the exported file would no longer hold the real name.
        sys.stdout.flush()
        out = getattr(sys.stdout, "buffer", sys.stdout)
        write_csv(frame, out)
        out.flush()
    if args.output:
        print(f"{len(frame)} backup configurations written to {printable(args.output)}", file=sys.stderr)
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    from bulkbackup.sandbox import parse_fault, serve

    try:
        faults = dict(parse_fault(text) for text in args.fault) or None
    except ValueError as error:
        raise BulkBackupError(f"--fault: {error}") from None
    if parse_version(args.coolify_version) is None:
        raise BulkBackupError(f"--version: {args.coolify_version!r} is not a Coolify version such as 4.3.18")
    serve(
        port=args.port,
        databases=args.databases,
        seed=args.seed,
        rate_limit=args.rate_limit,
        window=args.window,
        faults=faults,
        version=args.coolify_version,
    )
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from bulkbackup._coolify.doctor import diagnose, symbols

    with _client(args) as client:
        checks = diagnose(client)
    ok, fail = symbols(sys.stdout)
    for check in checks:
        print(check.line(ok, fail))
    return EXIT_OK if checks and all(c.ok for c in checks) else EXIT_NOT_ALL_OK


def _undo(args: argparse.Namespace) -> int:
    from bulkbackup._core.errors import ConfigError
    from bulkbackup._engine.undo import undo
    from bulkbackup._input.changes import write_csv

    source = Path(args.source)
    if args.output:
        out = Path(args.output)
        if out.exists() and not args.overwrite:
            raise ConfigError(f"--output {out} exists: choose another name, or pass --overwrite")
    else:
        out = _fresh(source.with_name(f"{source.stem}.undo-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.csv"))
    _check_writable(out, "--output")
    frame = undo(source)
    for warning in frame.attrs.get("warnings", []):
        print(f"cannot undo: {warning}", file=sys.stderr)
    write_csv(frame, out)
    print(f"{len(frame)} configuration{'s' * (len(frame) != 1)} to restore written to {printable(str(out))}")
    if len(frame):
        print(f"to put them back: bulkbackup apply {printable(str(out))}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from bulkbackup._cli.demo import run_demo

    run_demo(folder=args.dir, databases=args.databases)
    return EXIT_OK


_SENDING = (Action.UPDATE, Action.TRIGGER)


def _print_plan(planned, changes=None) -> None:
    """What `bulkbackup plan` prints: the counts, a problem repeated down a column once, then every other row."""
    print("\n".join(_plan_header(planned)))
    grouped, covered = _grouped(planned, changes)
    for line in grouped:
        print(f"  invalid: {printable(line)}")
    for position, (_, row) in enumerate(planned.iterrows()):
        if position not in covered:
            print(_row_line(row))


def _grouped(planned, changes) -> tuple[list[str], set[int]]:
    """The input's problems shared down a column, said once, and the plan rows they say all of (`_input.problems`)."""
    from bulkbackup._input.problems import column_groups

    if changes is None or len(changes) != len(planned):
        return [], set()
    lines, covered = column_groups(changes)
    errors = planned["errors"].tolist()
    said = changes["errors"].tolist()
    return lines, {i for i in covered if errors[i] == "; ".join(said[i])}  # plan added nothing of its own


def _describe_plan(planned, verbose: bool = False, changes=None) -> str:
    """The summary shown before apply asks: counts per action and per field (so a stale export that would
    revert many rows shows before "y"), the invalid rows, and with `verbose` every row that would be sent."""
    lines = _plan_header(planned)
    grouped, covered = _grouped(planned, changes)
    lines.extend(f"  invalid: {printable(line)}" for line in grouped)
    listed = planned.iloc[[i for i in range(len(planned)) if i not in covered]] if covered else planned
    invalid = listed[listed["action"] == Action.INVALID]
    sending = planned[planned["action"].isin(_SENDING)]
    shown = invalid if verbose else invalid.head(_SHOWN_INVALID)
    lines.extend(_row_line(row) for _, row in shown.iterrows())
    if len(invalid) > len(shown):
        lines.append(f"  … and {len(invalid) - len(shown)} more invalid rows (--verbose lists them)")
    if verbose:
        lines.extend(_row_line(row) for _, row in sending.iterrows())
    elif len(sending):
        lines.append("  (--verbose lists every row that would be sent)")
    return "\n".join(lines)


_SHOWN_INVALID = 10


def _plan_header(planned) -> list[str]:
    counts = planned["action"].value_counts()
    lines = ["plan: " + (", ".join(f"{counts[a]} {a}" for a in Action if a in counts) or "no rows")]
    by_field = _field_counts(planned)
    if by_field:
        parts = [f"{name}: {n} row{'s' * (n != 1)}" for name, n in by_field.items()]
        lines.append("changes by field: " + ", ".join(parts))
    if planned.attrs.get("diff") is False:
        lines.append("no diff: every given field is sent as it is, without reading the server first")
    return lines


def _field_counts(planned) -> dict[str, int]:
    """How many rows would send each field, in the field table's order."""
    import json
    from collections import Counter

    from bulkbackup._core.fields import ALL_FIELDS

    counts: Counter[str] = Counter()
    for payload in planned.loc[planned["action"].isin(_SENDING), "payload"]:
        if payload:
            counts.update(json.loads(payload).keys())
    return {f.name: counts[f.name] for f in ALL_FIELDS if counts[f.name]}


def _row_line(row) -> str:
    """One plan row for people: line, action, the database by name and type when known, and what changes."""
    name, kind = row.get("database_name"), row.get("database_type")
    target = f"{row['database_uuid']}/{row['backup_uuid']}"
    if isinstance(name, str) and name:
        target = f"{name} ({kind}) {target}" if isinstance(kind, str) and kind else f"{name} {target}"
    line = row.get("line")
    where = f"line {line}: " if line is not None and not _is_na(line) else ""
    action = row["action"]
    if action == Action.INVALID:
        return f"  {where}invalid {target}: {row['errors']}"
    if action == Action.UNCHANGED:
        return f"  {where}unchanged {target}"
    return f"  {where}{action} {target}: {row['diff']}"


def _is_na(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def _confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        print("no terminal to confirm on: pass --yes to apply without asking", file=sys.stderr)
        return False
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _write_results(results, out: Path) -> None:
    from bulkbackup._engine.results import format_summary
    from bulkbackup._input.changes import write_csv

    write_csv(results, out)
    print(f"results: {format_summary(results)}")
    facts = results.attrs.get("run")
    if facts is not None:
        for warning in facts.warnings:
            print(f"warning: {warning}")
        if facts.verification.startswith(("skipped: the run", "skipped: diff", "failed")):
            print(f"verification {facts.verification}")
    print(f"results written to {printable(str(out))}")
    if facts is not None and facts.journal:
        print(f"journal written to {printable(str(facts.journal))}")


def _exit_code(results, *, dry_run: bool = False) -> int:
    from bulkbackup._engine.results import all_succeeded

    facts = results.attrs.get("run")
    if facts is not None and facts.interrupted:
        return EXIT_USAGE
    if dry_run:
        return EXIT_OK if results["status"].isin(["planned", "unchanged"]).all() else EXIT_NOT_ALL_OK
    return EXIT_OK if all_succeeded(results) else EXIT_NOT_ALL_OK


def _robust_output() -> None:
    """Never die on what we print: a cp1252 console cannot show the diff's "→", and a file name that is not UTF-8
    (Python keeps its bytes as lone surrogates) cannot be encoded at all. Such characters are printed escaped."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream already in use in another way: leave it as it is
                pass


def _one_line(error: BaseException) -> str:
    return printable(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    _robust_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (`bulkbackup plan … | head`): end quietly. Python would report the pipe again
        # when it flushes stdout at exit, so point stdout at devnull first (the recipe of Python's signal docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_NOT_ALL_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_USAGE
    except BulkBackupError as error:
        print(f"bulkbackup {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"bulkbackup {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
