"""`bulkbackup apply`: one run, from the files it claims to the record it leaves and the hints that follow it.

The order is the safety: the results file is claimed and the journal reserved before the first request; nothing is
sent before the user saw the diff (and how long it will take) and said yes, or passed --yes; the results are written
before anything else is said; an interrupted run says the command that finishes it.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import signal
import threading
from pathlib import Path

from bulkbackup._cli import exits, render
from bulkbackup._cli.commands import output_claim, read_changes_file, released
from bulkbackup._cli.instances import connection_argv, opened
from bulkbackup._cli.outputs import Claim, check_place, claim, claim_fresh, claim_together, stamp
from bulkbackup._cli.terminal import ask, say, warn
from bulkbackup._coolify.clients import clients_of, is_several
from bulkbackup._core.errors import BulkBackupError, ConfigError
from bulkbackup._core.statuses import Status
from bulkbackup._engine.pace import run_estimate


def apply_command(args: argparse.Namespace) -> int:
    from bulkbackup._engine.plan import plan

    planned_file = read_plan_file(args.file)  # a plan CSV (an undo with delete rows): sent as it says
    changes = read_changes_file(args.file) if planned_file is None else None
    with contextlib.ExitStack() as held:
        if args.dry_run:
            return _dry_run(args, changes if changes is not None else planned_file, held)
        results_file, journal, resuming = claim_run_files(args, args.file, held)
        # The one rate cap: each client's (one client, or one per instance: each its own budget).
        with opened(args, workers=args.workers, rate=args.rate) as given:
            planned = (
                planned_file
                if planned_file is not None
                else plan(changes, given, diff=not args.no_diff, prefer=getattr(args, "prefer", None))
            )
            return confirm_and_send(
                args,
                planned,
                given,
                changes=changes,
                journal=journal,
                resuming=resuming,
                results_file=results_file,
                held=held,
                command=["apply", args.file],
            )


def confirm_and_send(
    args: argparse.Namespace,
    planned,
    given,
    *,
    changes,
    journal: Path,
    resuming: bool,
    results_file: Claim,
    held: contextlib.ExitStack,
    command: list[str],
) -> int:
    """Show the plan, ask (unless --yes), send it with its journal, write the results, say how to finish or undo
    the run: what `apply` and `enforce` share once they have a plan and their files. `given` is the open client, or
    the list of them (several instances: the question names each and its count, the summary says each)."""
    from bulkbackup._engine.apply import apply
    from bulkbackup._engine.deletes import WHAT_GOES

    allow_delete = getattr(args, "allow_delete", False)
    shown = _without_settled(planned, given, journal, args) if resuming else planned
    say(*render.confirmation(shown, changes, every_row=args.all))
    for line in planned.attrs.get("warnings", ()):  # said once, not on every row
        warn(f"warning: {render.speak_cli(line)}")
    if getattr(args, "strict", False) and (shown["action"] == "invalid").any():
        warn("--strict: some rows are invalid, so nothing is sent; fix them (or leave out --strict)")
        return exits.EXIT_NOT_ALL_OK
    deletes = shown[shown["action"] == "delete"]
    if len(deletes):
        if allow_delete:
            say(f"these {render.plural(len(deletes), 'configuration')} will be DELETED; {WHAT_GOES}:")
            say(*(f"  delete {row.backup_uuid} on database {row.database_uuid}" for row in deletes.itertuples()))
        else:
            warn(
                f"{render.plural(len(deletes), 'delete row')} will not be sent: {WHAT_GOES}; "
                "apply with --allow-delete to delete them"
            )
    sends = shown["action"].isin(render.SENDING) & (allow_delete | (shown["action"] != "delete"))
    sending = int(sends.sum())
    say(*_estimates(given, shown[sends], getattr(args, "rate", None)))
    question = render.send_question(shown[sends], _endpoints(given), several=is_several(given))
    if sending and not args.yes and not ask(question):
        warn("aborted: nothing was sent")
        return exits.EXIT_USAGE
    say(f"journal: {journal}" + (" (resuming the run it records)" if resuming else ""))
    stop = threading.Event()
    with _ctrl_c_stops(stop):
        results = apply(
            planned,  # the whole plan: its identity (the changes) is the journal's, filtered or not
            given,
            workers=getattr(args, "workers", None),
            stop=stop,
            journal=journal,
            retry_unknown=getattr(args, "retry_unknown", False),
            force=getattr(args, "force", False),
            diff=not getattr(args, "no_diff", False),
            allow_delete=allow_delete,
        )
    results_file.write_frame(results)
    say(*render.run_summary(results), f"results written to {results_file.path}")
    facts = results.attrs.get("run")
    if facts is not None and facts.journal_failure:  # the record of the run is not (all) on disk: an error
        warn(f"error: {render.speak_cli(facts.journal_failure)}")
    elif facts is not None and facts.journal and Path(facts.journal).exists():
        say(f"journal written to {facts.journal}")
    stopped = stop.is_set() or bool(facts is not None and facts.stopped)
    if stopped:
        say(f"to finish this run: {_finishing_command(args, journal, command)}")
    _undo_hint(results, results_file.path, held, connection_argv(args))
    judged = results[results["status"] != Status.UNSUPPORTED] if command[0] == "enforce" else results
    return exits.of_run(judged, stopped=stop.is_set())


def read_plan_file(path: str):
    """A plan CSV (its header has `action` and `payload`, no `status`) as a plan frame; None for a changes file."""
    from bulkbackup._engine.plan import is_plan, plan_of, render
    from bulkbackup._input.safe_csv import read_csv

    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            header = {name.strip().lower() for name in re.split(r"[,;\t]", f.readline())}
    except OSError:
        return None  # read_changes says what is wrong with the file
    if not ({"action", "payload"} <= header and "status" not in header):
        return None
    frame = read_csv(path)
    return render(plan_of(frame)) if is_plan(frame) else None


def claim_run_files(args: argparse.Namespace, input_path: str, held: contextlib.ExitStack) -> tuple[Claim, Path, bool]:
    """The results file, claimed and held, and the journal, reserved or checked; both before the first request."""
    source = Path(input_path)
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
        held.enter_context(released(results))
        return results, journal, journal.exists() and journal.stat().st_size > 0
    if args.output:
        results = held.enter_context(
            released(claim(args.output, "--results", overwrite=args.overwrite, inputs=[source]))
        )
        reserved = claim_fresh(lambda n: journal_name(n, results.path), "--journal", inputs=[source])
    else:
        results, reserved = claim_together(
            lambda n: [results_name(n), journal_name(n, source)], ["--results", "--journal"], inputs=[source]
        )
        held.enter_context(released(results))
    reserved.unlock()  # an empty journal is a new one; the journal locks it itself for the run
    held.enter_context(released(reserved))
    return results, reserved.path, False


def _without_settled(planned, client, journal: Path, args: argparse.Namespace):
    """The plan of a resumed run as it will be sent: without what the journal's earlier run settled. A journal of
    another run is refused here, before the question."""
    from bulkbackup._engine.journal import settled_by

    done = settled_by(journal, client, planned.attrs["plan"], retry_unknown=args.retry_unknown, force=args.force)
    instances = planned["instance"] if "instance" in planned.columns else [None] * len(planned)
    mask = [where in done for where in zip(instances, planned["database_uuid"], planned["backup_uuid"], strict=True)]
    say(f"resuming the run recorded in {journal}: {render.plural(sum(mask), 'row')} it settled are not sent again")
    return planned[[not m for m in mask]]


def _finishing_command(args: argparse.Namespace, journal: Path, command: list[str]) -> str:
    """The exact command that finishes an interrupted run: the same input, connection and options, this journal."""
    argv = ["bulkbackup", *command, "--journal", str(journal), *connection_argv(args)]
    for flag, value in (
        ("--workers", getattr(args, "workers", 4) if getattr(args, "workers", 4) != 4 else None),
        ("--rate", getattr(args, "rate", None)),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for flag, on in (
        ("--yes", args.yes),
        ("--no-diff", getattr(args, "no_diff", False)),
        ("--retry-unknown", getattr(args, "retry_unknown", False)),
        ("--force", getattr(args, "force", False)),
        ("--allow-delete", getattr(args, "allow_delete", False)),
    ):
        if on:
            argv.append(flag)
    return shlex.join(argv)


def _undo_hint(results, results_path: Path, held: contextlib.ExitStack, connection: list[str]) -> None:
    """When the run changed something: write the changes that put it back, and say how to apply them — to the
    same instances (`connection`: the run's own options), not to whatever the environment names next time."""
    if not results["status"].isin([Status.UPDATED, Status.CREATED]).any():
        return
    from bulkbackup._engine.undo import undo

    try:
        frame = undo(results_path)
        undo_file = held.enter_context(released(claim_fresh(lambda n: _undo_of_run(results_path, n), "undo file")))
        undo_file.write_frame(frame)
    except (BulkBackupError, OSError) as error:
        warn(
            f"could not write the undo file ({error}): make it with `bulkbackup undo {shlex.quote(str(results_path))}`"
        )
        return
    flags = ["--allow-delete"] if "action" in frame.columns and (frame["action"] == "delete").any() else []
    say(f"to undo this run: {shlex.join(['bulkbackup', 'apply', str(undo_file.path), *flags, *connection])}")


def _undo_of_run(results: Path, n: str) -> Path:
    """Beside a run's results, named like them: changes.results-STAMP.csv → changes.undo-STAMP.csv."""
    stem = results.stem.replace(".results-", ".undo-", 1) if ".results-" in results.stem else f"{results.stem}.undo"
    return results.with_name(f"{stem}{n}.csv")


def _dry_run(args: argparse.Namespace, changes, held: contextlib.ExitStack) -> int:
    from bulkbackup._engine.plan import is_plan, plan

    def planned_by(client):
        return (
            changes
            if is_plan(changes)
            else plan(changes, client, diff=not args.no_diff, prefer=getattr(args, "prefer", None))
        )

    return dry_run(args, args.file, planned_by, None if is_plan(changes) else changes, held)


def dry_run(args: argparse.Namespace, input_path: str, planned_by, changes, held: contextlib.ExitStack) -> int:
    """Plan with the server, show it as a run would, write the plan file, send nothing: `apply` and `enforce`."""
    if args.journal:
        raise ConfigError("a dry run sends nothing: it writes a plan file, not a --journal")
    source = Path(input_path)
    plan_file = held.enter_context(
        released(output_claim(args, lambda n: source.with_name(f"{source.stem}.plan-{stamp()}{n}.csv"), [source]))
    )
    rate = getattr(args, "rate", None)
    with opened(args, workers=getattr(args, "workers", 4), rate=rate) as given:
        planned = planned_by(given)
    say(*render.confirmation(planned, changes, every_row=args.all))
    for line in planned.attrs.get("warnings", ()):  # said once, not on every row
        warn(f"warning: {render.speak_cli(line)}")
    sends = planned["action"].isin(render.SENDING)
    plan_file.write_frame(planned)
    say(
        f"dry run: {render.plural(int(sends.sum()), 'request')} would be sent (nothing was sent)",
        *_estimates(given, planned[sends], rate),
        f"plan written to {plan_file.path}",
    )
    return exits.of_plan(planned)


def _endpoints(given) -> dict[str, str]:
    """{name: endpoint} of every instance, in the order given."""
    return {client.name: client.endpoint for client in clients_of(given)}


def _estimates(given, sending, rate: float | None) -> list[str]:
    """How long sending takes at each server's budget: one line, or one per instance (they go in parallel, so
    the run takes about as long as the slowest)."""
    from bulkbackup._core.columns import INSTANCE

    if not is_several(given):
        how_long = run_estimate(given, len(sending), rate)
        return [how_long] if how_long else []
    counts = sending[INSTANCE].value_counts() if INSTANCE in sending.columns else {}
    lines = []
    for client in given:
        how_long = run_estimate(client, int(counts.get(client.name, 0)), rate)
        if how_long:
            lines.append(f"{client.name}: {how_long}")
    return lines


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
