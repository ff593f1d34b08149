"""The commands but `apply` (see `run`): each reads its arguments, claims its output file before the first request,
calls the library, and says what happened through `terminal`. Also what `run` shares with them: the client, the
changes file, the output claim."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from pathlib import Path

from bulkbackup._cli import exits, render
from bulkbackup._cli.outputs import Claim, claim, claim_fresh, stamp
from bulkbackup._cli.pace import Pace, watch
from bulkbackup._cli.terminal import say, warn
from bulkbackup._core.errors import BulkBackupError, InputError
from bulkbackup._core.versions import parse as parse_version


def client_of(args: argparse.Namespace, **kwargs):
    from bulkbackup._coolify.client import Client
    from bulkbackup._coolify.credentials import find_credentials

    found = find_credentials(
        endpoint=args.endpoint,
        token_variable=args.token_env,
        context=args.context,
        allow_http=args.allow_http or None,  # None: BULKBACKUP_ALLOW_HTTP decides
        wording=WORDING,
    )
    if getattr(args, "ca_bundle", None):
        kwargs["ca_bundle"] = args.ca_bundle
    return Client(found.endpoint, found.token, allow_http=found.allow_http, wording=WORDING, **kwargs)


def _cli_wording():
    """The client's command-line wording, with the --ca-bundle flag this CLI has."""
    import dataclasses

    from bulkbackup._coolify.connection import CLI

    return dataclasses.replace(CLI, ca_bundle="give its bundle with --ca-bundle PATH (or REQUESTS_CA_BUNDLE=PATH)")


WORDING = _cli_wording()


def watched_client(args: argparse.Namespace, **kwargs):
    client = client_of(args, **kwargs)
    return client, watch(client, Pace())


def read_changes_file(path: str):
    """The changes, unless there are none: a file with only a header is a mistake to say, not a silent success."""
    from bulkbackup._input.changes import read_changes

    changes = read_changes(path)
    if len(changes) == 0:
        raise InputError(
            "no rows: the file has a header line but no rows below it, so there is nothing to do",
            file=changes.attrs.get("source"),
        )
    return changes


@contextlib.contextmanager
def released(claimed: Claim):
    try:
        yield claimed
    finally:
        claimed.release()


def output_claim(args: argparse.Namespace, default, inputs: list) -> Claim:
    """`-o/--output` claimed (refused when it exists, unless --overwrite), or the default name, made unique."""
    if args.output:
        return claim(args.output, "--output", overwrite=args.overwrite, inputs=inputs)
    return claim_fresh(default, "--output", inputs=inputs)


def undo_name(source: Path, n: str) -> Path:
    return source.with_name(f"{source.stem}.undo-{stamp()}{n}.csv")


# --- plan, export, undo -----------------------------------------------------------------------------------------------


def plan_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.plan import plan

    changes = read_changes_file(args.file)
    with contextlib.ExitStack() as held:
        out = held.enter_context(released(output_claim(args, None, [args.file]))) if args.output else None
        if args.offline:
            planned = plan(changes)
        else:
            client, _ = watched_client(args)
            with client:
                planned = plan(changes, client, diff=not args.no_diff, prefer=args.prefer)
        say(*render.plan_listing(planned, changes, every_row=args.all))
        for line in planned.attrs.get("warnings", ()):  # said once for the plan, not on every row
            warn(f"warning: {render.speak_cli(line)}")
        if out is not None:
            out.write_frame(planned)
            say(f"plan written to {out.path}")
    return exits.of_plan(planned)


def export_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.inventory import inventory
    from bulkbackup._input.changes import write_csv

    with contextlib.ExitStack() as held:
        out = held.enter_context(released(output_claim(args, None, []))) if args.output else None
        client, _ = watched_client(args)
        with client:
            frame = inventory(client)
        if out is not None:
            out.write_frame(frame)
            warn(f"{render.plural(len(frame), 'backup configuration')} written to {out.path}")
            return exits.EXIT_OK
    # The CSV goes out as UTF-8 bytes whatever the console's encoding: on a cp1252 console the text stream would
    # escape a name it cannot encode, and the exported file would no longer hold the real name. This is data for a
    # pipe, not text for a person, so it is the one output that does not go through `terminal`.
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", sys.stdout)
    write_csv(frame, stream)
    stream.flush()
    return exits.EXIT_OK


def storages_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.storages import storages

    client, _ = watched_client(args)
    with client:
        frame = storages(client)
    say(*render.storage_lines(frame))
    return exits.EXIT_OK


def undo_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.undo import undo

    source = Path(args.source)
    with contextlib.ExitStack() as held:
        out = held.enter_context(released(output_claim(args, lambda n: undo_name(source, n), [source])))
        frame = undo(source)
        for warning in frame.attrs.get("warnings", []):
            warn(f"cannot undo: {render.speak_cli(warning)}")
        out.write_frame(frame)
        say(f"{render.plural(len(frame), 'configuration')} to restore written to {out.path}")
        deletes = int((frame["action"] == "delete").sum()) if "action" in frame.columns else 0
        if deletes:
            say(
                f"{render.plural(deletes, 'created configuration')} among them would be deleted, with their local "
                "backup files: `bulkbackup apply` sends those only with --allow-delete"
            )
        if len(frame):
            flag = " --allow-delete" if deletes else ""
            say(f"to put them back: bulkbackup apply {shlex.quote(str(out.path))}{flag}")
    return exits.EXIT_OK


# --- doctor, sandbox, demo --------------------------------------------------------------------------------------------


def doctor_command(args: argparse.Namespace) -> int:
    from bulkbackup._coolify.doctor import diagnose, symbols

    client, _ = watched_client(args)
    with client:
        checks = diagnose(client)
    ok, fail = symbols(sys.stdout)
    say(*(render.speak_cli(check.line(ok, fail)) for check in checks))
    return exits.EXIT_OK if checks and all(c.ok for c in checks) else exits.EXIT_NOT_ALL_OK


def sandbox_command(args: argparse.Namespace) -> int:
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
    return exits.EXIT_OK


def demo_command(args: argparse.Namespace) -> int:
    from bulkbackup._cli.demo import run_demo

    run_demo(folder=args.dir, databases=args.databases)
    return exits.EXIT_OK
