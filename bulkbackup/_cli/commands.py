"""The commands: each reads its arguments, calls the library, and says what happened through `terminal`.

The order inside each is the safety: every output file is claimed before the first request; nothing is sent before
the user saw the diff and said yes (or passed --yes); the results are written before anything else is said.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import threading
from pathlib import Path

from bulkbackup._cli import exits, render
from bulkbackup._cli.outputs import Claim, check_place, claim, claim_fresh, claim_together, stamp
from bulkbackup._cli.pace import Pace, watch
from bulkbackup._cli.terminal import ask, say, warn
from bulkbackup._core.errors import BulkBackupError, ConfigError, InputError
from bulkbackup._core.statuses import Status
from bulkbackup._core.versions import parse as parse_version


def _client(args: argparse.Namespace, **kwargs):
    from bulkbackup._coolify.client import Client, allow_http_from_env

    kwargs["allow_http"] = args.allow_http or allow_http_from_env()
    if getattr(args, "ca_bundle", None):
        kwargs["ca_bundle"] = args.ca_bundle
    if args.context:
        return Client.from_env(context=args.context, **kwargs)
    import os

    endpoint = args.endpoint or os.environ.get("COOLIFY_ENDPOINT")
    token = os.environ.get(args.token_env)
    if args.endpoint or args.token_env != "COOLIFY_TOKEN":
        if not endpoint:
            raise ConfigError("no endpoint: give --endpoint or set COOLIFY_ENDPOINT")
        if not token:
            raise ConfigError(f"no token: set the environment variable {args.token_env}")
        return Client(endpoint, token, **kwargs)
    return Client.from_env(**kwargs)


def _watched_client(args: argparse.Namespace, **kwargs):
    client = _client(args, **kwargs)
    return client, watch(client, Pace())


def _read(path: str):
    """The changes, unless there are none: a file with only a header is a mistake to say, not a silent success."""
    from bulkbackup._input.changes import read_changes

    changes = read_changes(path)
    if len(changes) == 0:
        raise InputError(
            "no rows: the file has a header line but no rows below it, so there is nothing to do",
            file=changes.attrs.get("source"),
        )
    return changes


# --- apply --------------------------------------------------------------------------------------------------------


def apply_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.apply import apply
    from bulkbackup._engine.plan import plan

    changes = _read(args.file)
    with contextlib.ExitStack() as held:
        if args.dry_run:
            return _dry_run(args, changes, held)
        results_file, journal, resuming = _claim_run_files(args, held)
        client, pace = _watched_client(args, workers=args.workers, rate=args.rate)  # the one rate cap: the client's
        with client:
            planned = plan(changes, client, diff=not args.no_diff)
            shown = _without_settled(planned, changes, client, journal, args) if resuming else planned
            say(*render.confirmation(shown, every_row=args.all))
            if args.strict and (shown["action"] == "invalid").any():
                warn("--strict: some rows are invalid, so nothing is sent; fix them (or leave out --strict)")
                return exits.EXIT_NOT_ALL_OK
            sending = int(shown["action"].isin(render.SENDING).sum())
            how_long = render.estimate(sending, pace.per_minute(args.rate))
            if how_long:
                say(how_long)
            question = f"Send {render.plural(sending, 'request')} to {client.endpoint}? [y/N] "
            if sending and not args.yes and not ask(question):
                warn("aborted: nothing was sent")
                return exits.EXIT_USAGE
            say(f"journal: {journal}" + (" (resuming the run it records)" if resuming else ""))
            stop = threading.Event()
            with _ctrl_c_stops(stop):
                results = apply(
                    _what_to_apply(planned, changes),
                    client,
                    workers=args.workers,
                    stop=stop,
                    journal=journal,
                    retry_unknown=args.retry_unknown,
                    force=args.force,
                    diff=not args.no_diff,
                )
        if planned.attrs.get("plan") is None:
            _note_stale_rows(planned, results)
        stale = render.stale_rows(results)
        if stale:
            say(render.stale_warning(stale))
        results_file.write_frame(results)
        say(*render.run_summary(results), f"results written to {results_file.path}")
        facts = results.attrs.get("run")
        if facts is not None and facts.journal:
            say(f"journal written to {facts.journal}")
        stopped = stop.is_set() or bool(facts is not None and facts.stopped)
        if stopped:
            say(f"to finish this run: {_finishing_command(args, journal)}")
        _undo_hint(results, results_file.path, held)
        return exits.of_run(results, stopped=stop.is_set())


def _what_to_apply(planned, changes):
    """ADAPTER until the engine's Plan reaches main: with `attrs["plan"]` the plan frame is applied (the journal is
    identified by the changes it was planned from, and apply notes rows that moved since it); without, the changes
    are (today's journal identity is of what is sent, so a plan frame would not resume), unnoted."""
    return planned if planned.attrs.get("plan") is not None else changes


def _note_stale_rows(planned, results) -> None:
    """ADAPTER until the engine's Plan reaches main (then bb.apply notes these rows itself, and this goes): mark the
    rows whose payload or before differ from the plan shown, the way bb.apply's note reads."""

    def seen(row) -> tuple[str, str]:
        return (row.payload or "", row.before or "") if isinstance(row.payload, str) else ("", "")

    shown = {(row.database_uuid, row.backup_uuid): seen(row) for row in planned.itertuples()}
    for label, row in zip(results.index, results.itertuples(), strict=True):
        key = (row.database_uuid, row.backup_uuid)
        if key in shown and shown[key] != seen(row) and "earlier run" not in str(row.message):
            note = f"the server {render.STALE_NOTE} shown: payload is what was sent, before what it replaced"
            results.at[label, "message"] = f"{row.message}; {note}" if row.message else note


def _claim_run_files(args: argparse.Namespace, held: contextlib.ExitStack) -> tuple[Claim, Path, bool]:
    """The results file, claimed and held, and the journal, reserved or checked; both before the first request."""
    source = Path(args.file)
    at = stamp()

    def results_name(n: str) -> Path:
        return source.with_name(f"{source.stem}.results-{at}{n}.csv")

    def journal_name(n: str, beside: Path) -> Path:
        return beside.with_name(f"{source.stem}.journal-{at}{n}.jsonl")

    if args.journal:
        journal = Path(args.journal)
        check_place(journal, "--journal", [source])
        if args.output:
            results = claim(args.output, "--results", overwrite=args.overwrite, inputs=[source])
        else:
            results = claim_fresh(results_name, "--results", inputs=[source])
        held.enter_context(_released(results))
        return results, journal, journal.exists() and journal.stat().st_size > 0
    if args.output:
        results = held.enter_context(
            _released(claim(args.output, "--results", overwrite=args.overwrite, inputs=[source]))
        )
        reserved = claim_fresh(lambda n: journal_name(n, results.path), "--journal", inputs=[source])
    else:
        results, reserved = claim_together(
            lambda n: [results_name(n), journal_name(n, source)], ["--results", "--journal"], inputs=[source]
        )
        held.enter_context(_released(results))
    reserved.unlock()  # an empty journal is a new one; the journal locks it itself for the run
    held.enter_context(_released(reserved))
    return results, reserved.path, False


@contextlib.contextmanager
def _released(claimed: Claim):
    try:
        yield claimed
    finally:
        claimed.release()


def _without_settled(planned, changes, client, journal: Path, args: argparse.Namespace):
    """The plan of a resumed run as it will be sent: without what the journal's earlier run settled. A journal of
    another run is refused here, before the question."""
    from bulkbackup._engine.journal import settled_by

    # ADAPTER: settled_by takes the Plan once the engine's model is on main, the changes before.
    what = planned.attrs.get("plan")
    what = what if what is not None else changes
    done = settled_by(journal, client, what, retry_unknown=args.retry_unknown, force=args.force)
    mask = [key in done for key in zip(planned["database_uuid"], planned["backup_uuid"], strict=True)]
    say(f"resuming the run recorded in {journal}: {render.plural(sum(mask), 'row')} it settled are not sent again")
    return planned[[not m for m in mask]]


def _finishing_command(args: argparse.Namespace, journal: Path) -> str:
    """The exact command that finishes an interrupted run: the same changes, connection and options, this journal."""
    argv = ["bulkbackup", "apply", args.file, "--journal", str(journal)]
    for flag, value in (
        ("--endpoint", args.endpoint),
        ("--context", args.context),
        ("--token-env", args.token_env if args.token_env != "COOLIFY_TOKEN" else None),
        ("--ca-bundle", args.ca_bundle),
        ("--workers", args.workers if args.workers != 4 else None),
        ("--rate", args.rate),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for flag, on in (
        ("--yes", args.yes),
        ("--allow-http", args.allow_http),
        ("--no-diff", args.no_diff),
        ("--retry-unknown", args.retry_unknown),
        ("--force", args.force),
    ):
        if on:
            argv.append(flag)
    return shlex.join(argv)


def _undo_hint(results, results_path: Path, held: contextlib.ExitStack) -> None:
    """When the run changed something: write the changes that put it back, and say how to apply them."""
    if not (results["status"] == Status.UPDATED).any():
        return
    from bulkbackup._engine.undo import undo

    try:
        frame = undo(results_path)
        undo_file = held.enter_context(_released(claim_fresh(lambda n: _undo_of_run(results_path, n), "undo file")))
        undo_file.write_frame(frame)
    except (BulkBackupError, OSError) as error:
        warn(
            f"could not write the undo file ({error}): make it with `bulkbackup undo {shlex.quote(str(results_path))}`"
        )
        return
    say(f"to undo this run: bulkbackup apply {shlex.quote(str(undo_file.path))}")


def _undo_of_run(results: Path, n: str) -> Path:
    """Beside a run's results, named like them: changes.results-STAMP.csv → changes.undo-STAMP.csv."""
    stem = results.stem.replace(".results-", ".undo-", 1) if ".results-" in results.stem else f"{results.stem}.undo"
    return results.with_name(f"{stem}{n}.csv")


def _undo_name(source: Path, n: str) -> Path:
    return source.with_name(f"{source.stem}.undo-{stamp()}{n}.csv")


def _dry_run(args: argparse.Namespace, changes, held: contextlib.ExitStack) -> int:
    from bulkbackup._engine.plan import plan

    if args.journal:
        raise ConfigError("a dry run sends nothing: it writes a plan file, not a --journal")
    source = Path(args.file)
    plan_file = held.enter_context(
        _released(_output_claim(args, lambda n: source.with_name(f"{source.stem}.plan-{stamp()}{n}.csv"), [source]))
    )
    client, pace = _watched_client(args, workers=args.workers, rate=args.rate)
    with client:
        planned = plan(changes, client, diff=not args.no_diff)
    say(*render.confirmation(planned, every_row=args.all))
    sending = int(planned["action"].isin(render.SENDING).sum())
    how_long = render.estimate(sending, pace.per_minute(args.rate))
    plan_file.write_frame(planned)
    say(
        f"dry run: {render.plural(sending, 'request')} would be sent (nothing was sent)",
        *([how_long] if how_long else []),
        f"plan written to {plan_file.path}",
    )
    return exits.of_plan(planned)


def _output_claim(args: argparse.Namespace, default, inputs: list) -> Claim:
    """`-o/--output` claimed (refused when it exists, unless --overwrite), or the default name, made unique."""
    if args.output:
        return claim(args.output, "--output", overwrite=args.overwrite, inputs=inputs)
    return claim_fresh(default, "--output", inputs=inputs)


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
        warn("stopping: no new requests; waiting for those in flight (Ctrl-C again to stop waiting)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- plan, export, undo -----------------------------------------------------------------------------------------------


def plan_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.plan import plan

    changes = _read(args.file)
    with contextlib.ExitStack() as held:
        out = held.enter_context(_released(_output_claim(args, None, [args.file]))) if args.output else None
        if args.offline:
            planned = plan(changes)
        else:
            client, _ = _watched_client(args)
            with client:
                planned = plan(changes, client, diff=not args.no_diff)
        say(*render.plan_listing(planned, every_row=args.all))
        if out is not None:
            out.write_frame(planned)
            say(f"plan written to {out.path}")
    return exits.of_plan(planned)


def export_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.inventory import inventory
    from bulkbackup._input.changes import write_csv

    with contextlib.ExitStack() as held:
        out = held.enter_context(_released(_output_claim(args, None, []))) if args.output else None
        client, _ = _watched_client(args)
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


def undo_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.undo import undo

    source = Path(args.source)
    with contextlib.ExitStack() as held:
        out = held.enter_context(_released(_output_claim(args, lambda n: _undo_name(source, n), [source])))
        frame = undo(source)
        for warning in frame.attrs.get("warnings", []):
            warn(f"cannot undo: {render.speak_cli(warning)}")
        out.write_frame(frame)
        say(f"{render.plural(len(frame), 'configuration')} to restore written to {out.path}")
        if len(frame):
            say(f"to put them back: bulkbackup apply {shlex.quote(str(out.path))}")
    return exits.EXIT_OK


# --- doctor, sandbox, demo --------------------------------------------------------------------------------------------


def doctor_command(args: argparse.Namespace) -> int:
    from bulkbackup._coolify.doctor import diagnose, symbols

    client, _ = _watched_client(args)
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
