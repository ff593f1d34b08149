"""The `bulkbackup` command: its arguments, and the one place errors become an exit code.

A thin face over the library: `commands` holds what each command does, `render` how plans and summaries read,
`outputs` which files a command writes (claimed before the first request), `terminal` the one way out to the
terminal (escaped), `pace` the waits it says, `exits` the exit codes. Options mean the same in every command that
has them: `-o/--output` names the file a command writes (`--results` too, for apply), `--overwrite` lets it replace
one, `--all` lists every row.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bulkbackup._cli import commands, run
from bulkbackup._cli.check import add_parser as add_check_parser
from bulkbackup._cli.enforce import add_parser as add_enforce_parser
from bulkbackup._cli.exits import EXIT_NOT_ALL_OK, EXIT_USAGE
from bulkbackup._cli.instances import opened, refuse_mixed
from bulkbackup._cli.render import speak_cli
from bulkbackup._cli.terminal import robust_output, shown, warn
from bulkbackup._coolify.client import ALLOW_HTTP_VARIABLE
from bulkbackup._core.errors import BulkBackupError
from bulkbackup._core.versions import DOCUMENTED as SANDBOX_VERSION
from bulkbackup._version import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: keep them one line and exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {shown(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bulkbackup", description="Change Coolify's scheduled database backups in bulk, safely.")
    parser.add_argument("--version", action="version", version=f"bulkbackup {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo",
        help="run the whole job against a local sandbox and show the results",
        description="Start an in-process Coolify sandbox, write a changes CSV from its "
        "fleet (some rows good, some with mistakes), apply it and print the summary.",
    )
    demo.add_argument("--dir", help="folder for the demo's files (default: a new temporary folder)")
    demo.add_argument("--databases", type=int, default=40, help="size of the sandbox fleet (default 40)")
    demo.add_argument(
        "--instances",
        type=int,
        default=1,
        choices=range(1, 6),
        metavar="N",
        help="run N sandboxes (1-5; two alike, so their uuids collide) and send one change to all in parallel",
    )
    demo.set_defaults(run=commands.demo_command)

    apply = sub.add_parser(
        "apply",
        help="apply a changes CSV to the server",
        description="Validate FILE, compare it with the server, show what will change and about how long it "
        "takes, ask, send only what changed, and write a results CSV, its journal and (when something changed) "
        "the changes that undo it. Exit code 0 when every row is updated, triggered or unchanged; 1 when any row "
        "is not; 2 for usage errors and aborted runs.",
    )
    apply.add_argument("file", metavar="FILE", help="changes CSV (comma, semicolon or tab separated)")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--dry-run", action="store_true", help="plan and report, send nothing (writes the plan)")
    apply.add_argument(
        "--strict", action="store_true", help="send nothing at all when any row is invalid (what a migration wants)"
    )
    apply.add_argument("--workers", type=_positive_int, default=4, help="parallel requests (default 4)")
    apply.add_argument(
        "--rate", type=_positive_float, help="cap on requests per second (default: the server's own limit only)"
    )
    _output_options(
        apply,
        "-o",
        "--output",
        "--results",
        metavar="RESULTS.csv",
        help="where to write the results (a dry run: the plan); default: next to FILE, named after it and the "
        "run's start time",
    )
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
    apply.add_argument(
        "--allow-delete",
        action="store_true",
        help="send the delete rows of a plan file (an undo of created configurations): Coolify's DELETE also "
        "deletes that configuration's local backup files (and S3 files with delete_s3); without it they are refused",
    )
    _all_rows_option(apply, "list every row before asking (default: the first rows of each kind)")
    _prefer_option(apply)
    _no_diff_option(apply, "every given field is sent as it is; nothing is compared or verified")
    _connection_options(apply)
    apply.set_defaults(run=run.apply_command)

    plan = sub.add_parser(
        "plan",
        help="show what applying a changes CSV would do, send nothing",
        description="Validate FILE and compare it with the server; print the rows that would change or are "
        "invalid, with their diff (--all: every row). Sends nothing. Exit code 0 when no row is invalid, 1 otherwise.",
    )
    plan.add_argument("file", metavar="FILE", help="changes CSV")
    _output_options(plan, "-o", "--output", metavar="PLAN.csv", help="also write the plan as CSV")
    plan.add_argument("--offline", action="store_true", help="validate only, without contacting the server")
    _all_rows_option(plan, "list every row, the unchanged ones too")
    _prefer_option(plan)
    _no_diff_option(plan, "every given field is listed as a change, without comparing")
    _connection_options(plan)
    plan.set_defaults(run=commands.plan_command)

    export = sub.add_parser(
        "export",
        help="write every backup configuration as CSV",
        description="Write the inventory (one row per backup configuration) as CSV to "
        "stdout or --output; edit it in a spreadsheet and feed it to plan/apply.",
    )
    _output_options(export, "-o", "--output", metavar="OUT.csv", help="file to write (default: stdout)")
    _connection_options(export)
    export.set_defaults(run=commands.export_command)

    storages = sub.add_parser(
        "storages",
        help="list the team's S3 storages (never their key or secret)",
        description="List every S3 storage of the token's team: name, the uuid to put in s3_storage_uuid, bucket, "
        "endpoint, and which backup configurations use it where the server lets that be known. Never the key or "
        "the secret.",
    )
    _connection_options(storages)
    storages.set_defaults(run=commands.storages_command)

    undo = sub.add_parser(
        "undo",
        help="write the changes that put back what a run changed",
        description="Read a results CSV or a journal (even of a killed run) and write a changes CSV that "
        "restores the previous value of every field the run changed; apply it with `bulkbackup apply`. What "
        "cannot be undone (a started backup, an S3 storage reference) is printed.",
    )
    undo.add_argument("source", metavar="RESULTS.csv|JOURNAL.jsonl", help="a results CSV or a journal")
    _output_options(undo, "-o", "--output", metavar="UNDO.csv", help="file to write (default: next to the source)")
    instances = undo.add_argument_group("instances (a run over several)")
    instances.add_argument(
        "--context",
        metavar="NAME",
        action="append",
        help="undo only the rows of this instance (repeatable); the hint to apply the undo names the same instances",
    )
    instances.add_argument(
        "--all-contexts",
        action="store_true",
        help="undo every instance's rows (the default), to apply with --all-contexts",
    )
    undo.set_defaults(run=commands.undo_command)

    sandbox = sub.add_parser(
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
    sandbox.add_argument(
        "--instances",
        type=int,
        default=1,
        metavar="N",
        help="run N sandboxes at once, seeded S, S+1, … on their own ports (default 1)",
    )
    sandbox.add_argument(
        "--cli-config",
        metavar="PATH",
        help="write a coolify-cli config file there with one context per sandbox (for --all-contexts); a file "
        "that names other instances than sandboxes is never replaced",
    )
    sandbox.set_defaults(run=commands.sandbox_command)

    doctor = sub.add_parser(
        "doctor",
        help="check that a run will work, changing nothing",
        description="Check the endpoint, TLS, the Coolify version, the API switch, the token and its read and "
        "write abilities, the rate-limit budget and the number of backup configurations, each with its fix; "
        "with several instances (--all-contexts, --context repeated) one block of checks per instance. "
        "Exit code 0 when every check passes, 1 otherwise.",
    )
    _connection_options(doctor)
    doctor.set_defaults(run=commands.doctor_command)
    add_check_parser(sub, _connection_options, opened)
    add_enforce_parser(sub, _connection_options, _output_options, _all_rows_option)
    return parser


def _output_options(parser: argparse.ArgumentParser, *flags: str, metavar: str, help: str) -> None:
    """The file a command writes: `-o/--output` everywhere, and `--overwrite` to replace an existing one."""
    parser.add_argument(*flags, dest="output", metavar=metavar, help=help)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="allow --output to replace an existing file (never the input file, nor one a running command holds)",
    )


def _all_rows_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--all", "--verbose", dest="all", action="store_true", help=help)


def _prefer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prefer",
        choices=("mine", "server"),
        help="an edited export whose field also changed on the server since the export is a conflict, not sent; "
        "mine: send the file's value, server: keep the server's",
    )


def _no_diff_option(parser: argparse.ArgumentParser, what_then: str) -> None:
    parser.add_argument(
        "--no-diff",
        action="store_true",
        help=f"do not read the server first (for a token without the read ability): {what_then}",
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
    group.add_argument(
        "--context",
        metavar="NAME",
        action="append",
        help="instance name in coolify-cli's config file; repeat it for several instances (their rows are told "
        "apart by an instance column)",
    )
    group.add_argument(
        "--all-contexts",
        action="store_true",
        help="every instance of coolify-cli's config file (not with --context or --endpoint)",
    )
    group.add_argument(
        "--allow-http",
        action="store_true",
        help=f"allow plain http:// to a host other than this machine (a trusted LAN; the token travels "
        f"unencrypted); also {ALLOW_HTTP_VARIABLE}=1",
    )
    group.add_argument(
        "--ca-bundle",
        metavar="PATH",
        help="CA certificates to trust for https:// (a private CA); also REQUESTS_CA_BUNDLE",
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


def main(argv: Sequence[str] | None = None) -> int:
    robust_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        refuse_mixed(args)  # instances named two ways: said before any file is read or claimed
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (`bulkbackup plan … | head`): end quietly. Python would report the pipe again
        # when it flushes stdout at exit, so point stdout at devnull first (the recipe of Python's signal docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_NOT_ALL_OK
    except KeyboardInterrupt:
        warn("interrupted")
        return EXIT_USAGE
    except (BulkBackupError, OSError) as error:
        warn(f"bulkbackup {args.command}: error: {speak_cli(str(error))}")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
