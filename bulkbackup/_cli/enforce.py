"""`bulkbackup enforce POLICY.toml`: make the fleet hold a policy — plan, show, ask, apply, as `apply` does.

The plan is `bb.enforce`'s (update and create rows; unchanged and unsupported ones listed too); everything after it
— the files claimed before the first request, the confirmation, Ctrl-C, the results, the finishing command and
the undo file — is `apply`'s own (`run.confirm_and_send`, `run.dry_run`). A resumed run (the same policy, the
same journal) adopts a configuration an earlier attempt created instead of creating another.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable

from bulkbackup._cli import run
from bulkbackup._cli.instances import opened


def add_parser(
    commands,
    connection_options: Callable[[argparse.ArgumentParser], None],
    output_options: Callable[..., None],
    all_rows_option: Callable[[argparse.ArgumentParser, str], None],
) -> None:
    parser = commands.add_parser(
        "enforce",
        help="make the fleet hold a backup policy (TOML): update what differs, create what is missing",
        description="Check the fleet against POLICY.toml as `check` does, plan the fixes an API call can make "
        "(update rows: only the settings that differ; create rows: a new backup configuration with every setting "
        "of the rule sent explicitly, save_s3 false unless the rule wants S3), show them, ask, and apply them "
        "with a journal, as `apply` does. A create is never retried automatically; resuming with the same "
        "--journal adopts a configuration an earlier attempt created. Databases Coolify cannot back up (redis, "
        "keydb, dragonfly) are listed as unsupported, never sent. Exit code 0 when every row is updated, created "
        "or unchanged; 1 when any row is not; 2 for usage errors and aborted runs.",
    )
    parser.add_argument("policy", metavar="POLICY.toml", help="the policy file ([[rule]] tables)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="plan and report, send nothing (writes the plan)")
    output_options(
        parser,
        "-o",
        "--output",
        "--results",
        metavar="RESULTS.csv",
        help="where to write the results (a dry run: the plan); default: next to POLICY.toml, named after it and "
        "the run's start time",
    )
    parser.add_argument(
        "--journal",
        metavar="PATH.jsonl",
        help="the run's journal (default: next to the results); naming an existing journal resumes that run",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="resume a journal even though it was written for another policy or other databases",
    )
    all_rows_option(parser, "list every row before asking (default: the first rows of each kind)")
    connection_options(parser)
    parser.set_defaults(run=enforce_command)


def enforce_command(args: argparse.Namespace) -> int:
    from bulkbackup._fleet.enforce import enforce
    from bulkbackup._fleet.policy import Policy

    policy = Policy.from_toml(args.policy)  # a mistake in the file is reported before connecting
    with contextlib.ExitStack() as held:
        if args.dry_run:
            return run.dry_run(args, args.policy, lambda client: enforce(policy, client), None, held)
        results_file, journal, resuming = run.claim_run_files(args, args.policy, held)
        with opened(args) as given:  # one client, or a list (several instances)
            planned = enforce(policy, given)
            return run.confirm_and_send(
                args,
                planned,
                given,
                changes=None,
                journal=journal,
                resuming=resuming,
                results_file=results_file,
                held=held,
                command=["enforce", args.policy],
            )
