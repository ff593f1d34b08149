"""The commands but `apply` (see `run`): each reads its arguments, claims its output file before the first request,
calls the library, and says what happened through `terminal`. Also what `run` shares with them: the changes
file, the output claim. Their clients (one, or one per coolify-cli context) come from `instances`."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from pathlib import Path

from bulkbackup._cli import exits, render
from bulkbackup._cli.instances import opened
from bulkbackup._cli.outputs import Claim, claim, claim_fresh, stamp
from bulkbackup._cli.terminal import say, warn
from bulkbackup._coolify.clients import clients_of, each_named, is_several
from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.errors import BulkBackupError, ConfigError, InputError
from bulkbackup._core.versions import parse as parse_version


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
            with opened(args) as given:
                planned = plan(changes, given, diff=not args.no_diff, prefer=args.prefer)
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
        with opened(args) as given:
            frame = inventory(given)
            instances = f" of {render.plural(len(given), 'instance')}" if is_several(given) else ""
        if out is not None:
            out.write_frame(frame)
            warn(f"{render.plural(len(frame), 'backup configuration')}{instances} written to {out.path}")
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

    with opened(args) as given:
        if not is_several(given):
            say(*render.storage_lines(storages(given)))
            return exits.EXIT_OK
        # every instance read in parallel (a failure names its instance); storages are per team, per instance
        frames = each_named(clients_of(given), storages)
    for client, frame in zip(given, frames, strict=True):
        say(f"{client.name} ({client.endpoint}):", *(f"  {line}" for line in render.storage_lines(frame)))
    return exits.EXIT_OK


def undo_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.undo import undo

    source = Path(args.source)
    with contextlib.ExitStack() as held:
        out = held.enter_context(released(output_claim(args, lambda n: undo_name(source, n), [source])))
        frame, instances = _of_instances(undo(source), args, source)
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
            flags = ["--allow-delete"] * bool(deletes) + instances
            say(f"to put them back: {shlex.join(['bulkbackup', 'apply', str(out.path), *flags])}")
    return exits.EXIT_OK


def _of_instances(frame, args: argparse.Namespace, source: Path):
    """The undo of the instances asked for (`--context`, repeated: only theirs; `--all-contexts` or neither:
    every one), and the options that apply it to those same instances, each row to its own."""
    asked = list(args.context or [])
    if INSTANCE not in frame.columns:  # a run of one instance: its rows name none
        if args.all_contexts or len(asked) > 1:
            raise ConfigError(
                f"{source} records a run of one instance (its rows name no instance): apply its undo to that "
                "instance alone (--context NAME)"
            )
        return frame, ["--context", *asked] if asked else []
    present = [name for name in dict.fromkeys(frame[INSTANCE]) if isinstance(name, str) and name]
    unknown = [name for name in asked if name not in present]
    if unknown:
        listed = ", ".join(repr(name) for name in present) or "none"
        raise ConfigError(f"--context {unknown[0]!r}: {source} records no row of that instance (it has {listed})")
    if asked:
        kept = frame[frame[INSTANCE].isin(asked)].reset_index(drop=True)
        kept.attrs = dict(frame.attrs)
        if len(kept) < len(frame):
            say(f"{render.plural(len(frame) - len(kept), 'row')} of other instances left out (--context)")
        frame, present = kept, [name for name in present if name in asked]
    if args.all_contexts:
        return frame, ["--all-contexts"]
    return frame, [arg for name in present for arg in ("--context", name)]


# --- doctor, sandbox, demo --------------------------------------------------------------------------------------------


def doctor_command(args: argparse.Namespace) -> int:
    from bulkbackup._coolify.doctor import diagnose, symbols

    with opened(args) as given:
        found = diagnose(given)
        endpoints = {client.name: client.endpoint for client in clients_of(given)}
    ok, fail = symbols(sys.stdout)
    if not is_several(given):
        say(*(render.speak_cli(check.line(ok, fail)) for check in found))
        return exits.EXIT_OK if found and all(c.ok for c in found) else exits.EXIT_NOT_ALL_OK
    for name, checks in found.items():  # one block per instance, headed by its name
        say(f"{name} ({endpoints[name]}):", *(f"  {render.speak_cli(check.line(ok, fail))}" for check in checks))
    passed = all(checks and all(c.ok for c in checks) for checks in found.values())
    return exits.EXIT_OK if passed else exits.EXIT_NOT_ALL_OK


def sandbox_command(args: argparse.Namespace) -> int:
    from bulkbackup.sandbox import parse_fault, serve

    try:
        faults = dict(parse_fault(text) for text in args.fault) or None
    except ValueError as error:
        raise BulkBackupError(f"--fault: {error}") from None
    if parse_version(args.coolify_version) is None:
        raise BulkBackupError(f"--version: {args.coolify_version!r} is not a Coolify version such as 4.3.18")
    if args.instances < 1:
        raise BulkBackupError(f"--instances: a number of sandboxes of at least 1, not {args.instances}")
    if args.cli_config:
        _refuse_a_real_config(Path(args.cli_config))
    serve(
        port=args.port,
        databases=args.databases,
        seed=args.seed,
        rate_limit=args.rate_limit,
        window=args.window,
        faults=faults,
        version=args.coolify_version,
        instances=args.instances,
        cli_config=args.cli_config,
    )
    return exits.EXIT_OK


def _refuse_a_real_config(path: Path) -> None:
    """A coolify-cli config that names a real Coolify (anything but a sandbox on this machine) is the user's: the
    sandbox's would replace it, tokens and all. Only a file some sandbox wrote before may be replaced."""
    if not path.exists():
        return
    try:
        found = json.loads(path.read_text(encoding="utf-8-sig"))
        urls = [str(i.get("fqdn", "")) for i in found["instances"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        urls = None
    if urls is None or not all(url.startswith("http://127.0.0.1:") for url in urls):
        raise BulkBackupError(
            f"--cli-config: {path} already exists and is not a sandbox's (it names other instances, or cannot be "
            "read): it is never replaced; give another path"
        )


def demo_command(args: argparse.Namespace) -> int:
    from bulkbackup._cli.demo import run_demo

    run_demo(folder=args.dir, databases=args.databases, instances=args.instances)
    return exits.EXIT_OK
