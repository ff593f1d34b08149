"""The `bulkbackup` command: a thin layer over the library.

Every command calls one library function and turns library errors into one line on stderr with a non-zero exit
code — never a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import BulkBackupError, InputError, printable

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
    apply.add_argument("--results", metavar="OUT.csv", help="where to write the results (default: next to FILE)")
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
    sandbox.set_defaults(run=_sandbox)
    return parser


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
    from .client import Client
    from .errors import ConfigError

    if args.context:
        return Client.from_env(context=args.context, **kwargs)
    endpoint = args.endpoint or os.environ.get("COOLIFY_ENDPOINT")
    token = os.environ.get(args.token_env)
    if args.endpoint or args.token_env != "COOLIFY_TOKEN":
        if not endpoint:
            raise ConfigError("no endpoint: give --endpoint or set COOLIFY_ENDPOINT")
        if not token:
            raise ConfigError(f"no token: set the environment variable {args.token_env}")
        return Client(endpoint, token, **kwargs)
    return Client.from_env(**kwargs)


def _apply(args: argparse.Namespace) -> int:
    from .apply import apply
    from .changes import read_changes
    from .plan import plan

    changes = _rows_of(read_changes(args.file))
    with _client(args, workers=args.workers, rate=args.rate) as client:
        planned = plan(changes, client)
        _print_plan(planned)
        sending = int(planned["action"].isin(["update", "trigger"]).sum())
        if (
            sending
            and not args.dry_run
            and not args.yes
            and not _confirm(f"Send {sending} request{'s' * (sending != 1)} to {client.endpoint}? [y/N] ")
        ):
            print("aborted: nothing was sent", file=sys.stderr)
            return EXIT_USAGE
        results = apply(planned, client, dry_run=args.dry_run, workers=args.workers, rate=args.rate)
    out = Path(args.results) if args.results else _default_results_path(Path(args.file))
    _write_results(results, out)
    return _exit_code(results, dry_run=args.dry_run)


def _plan(args: argparse.Namespace) -> int:
    from .changes import read_changes, write_csv
    from .plan import plan

    changes = _rows_of(read_changes(args.file))
    if args.offline:
        planned = plan(changes)
    else:
        with _client(args) as client:
            planned = plan(changes, client)
    _print_plan(planned, limit=None)
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
    from .changes import write_csv
    from .inventory import inventory

    with _client(args) as client:
        frame = inventory(client)
    write_csv(frame, args.output or sys.stdout)
    if args.output:
        print(f"{len(frame)} backup configurations written to {printable(args.output)}", file=sys.stderr)
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import parse_fault, serve

    try:
        faults = dict(parse_fault(text) for text in args.fault) or None
    except ValueError as error:
        raise BulkBackupError(f"--fault: {error}") from None
    serve(
        port=args.port,
        databases=args.databases,
        seed=args.seed,
        rate_limit=args.rate_limit,
        window=args.window,
        faults=faults,
    )
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(folder=args.dir, databases=args.databases)
    return EXIT_OK


def _print_plan(planned, limit: int | None = 10) -> None:
    counts = planned["action"].value_counts()
    print(
        "plan: " + ", ".join(f"{counts[a]} {a}" for a in ("update", "trigger", "unchanged", "invalid") if a in counts)
    )
    invalid = planned[planned["action"] == "invalid"]
    for text in invalid["errors"].head(limit if limit else len(invalid)):
        print(f"  invalid: {text}")
    if limit and len(invalid) > limit:
        print(f"  … and {len(invalid) - limit} more invalid rows (see the results file)")
    changing = planned[planned["action"].isin(["update", "trigger"])]
    for _, row in changing.head(limit if limit else len(changing)).iterrows():
        print(f"  {row['action']} {row['database_uuid']}/{row['backup_uuid']}: {row['diff']}")
    if limit and len(changing) > limit:
        print(f"  … and {len(changing) - limit} more")


def _confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        print("no terminal to confirm on: pass --yes to apply without asking", file=sys.stderr)
        return False
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _default_results_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}.results.csv")


def _write_results(results, out: Path) -> None:
    from .changes import write_csv
    from .results import format_summary

    write_csv(results, out)
    print(f"results: {format_summary(results)}")
    if results.attrs.get("verification_error"):
        print(f"warning: {results.attrs['verification_error']}")
    print(f"results written to {printable(str(out))}")


def _exit_code(results, *, dry_run: bool = False) -> int:
    from .results import all_succeeded

    if results.attrs.get("interrupted"):
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
