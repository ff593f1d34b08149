"""The instances a command talks to: one client (as ever), or one per coolify-cli context.

    --endpoint URL / COOLIFY_ENDPOINT / one --context    one client: output exactly as it always was
    --context prod --context staging                     a list of clients, named after their contexts
    --all-contexts                                       one client per instance of coolify-cli's config

A list (even of one context, with --all-contexts) is handed to the library as a list, so its frames carry the
`instance` column and rows are routed by it. `--all-contexts` with `--context` or `--endpoint` is refused: which
instances a run changes must never be a guess.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from bulkbackup._cli.pace import Pace, said_wait, watch
from bulkbackup._coolify.clients import is_several
from bulkbackup._coolify.credentials import TOKEN_VARIABLE
from bulkbackup._core.errors import ConfigError

__all__ = ["WORDING", "connection_argv", "given_clients", "opened", "refuse_mixed"]


def _cli_wording():
    """The client's command-line wording, with the --ca-bundle flag this CLI has."""
    from bulkbackup._coolify.connection import CLI

    return dataclasses.replace(CLI, ca_bundle="give its bundle with --ca-bundle PATH (or REQUESTS_CA_BUNDLE=PATH)")


WORDING = _cli_wording()


def given_clients(args: argparse.Namespace, **kwargs: Any):
    """The command's Client, or its list of Clients (several instances); every one's waits said on the terminal.
    Nothing is sent: a wrong token is said by the first request, naming its instance."""
    from bulkbackup._coolify.connect import context_clients
    from bulkbackup._coolify.credentials import find_contexts, find_credentials

    if getattr(args, "ca_bundle", None):
        kwargs["ca_bundle"] = args.ca_bundle
    contexts = list(args.context or [])
    allow_http = args.allow_http or None  # None: BULKBACKUP_ALLOW_HTTP decides
    if args.all_contexts or len(contexts) > 1:
        refuse_mixed(args)
        found = find_contexts(None if args.all_contexts else contexts, allow_http=allow_http, wording=WORDING)
        clients = context_clients(found, wording=WORDING, **kwargs)
        for client in clients:
            watch(client, Pace(lambda seconds, name=client.name: said_wait(seconds, name)))
        return clients
    found = find_credentials(
        endpoint=args.endpoint,
        token_variable=args.token_env,
        context=contexts[0] if contexts else None,
        allow_http=allow_http,
        wording=WORDING,
    )
    client = _client(found, kwargs)
    watch(client, Pace())
    return client


def _client(found, kwargs: dict[str, Any]):
    """A Client of found credentials, named after their context (else the endpoint's host[:port])."""
    from bulkbackup._coolify.client import Client

    return Client(found.endpoint, found.token, allow_http=found.allow_http, name=found.name, wording=WORDING, **kwargs)


def refuse_mixed(args: argparse.Namespace) -> None:
    """Refuse connection options that name instances two ways; before anything is read, claimed or sent."""
    contexts = getattr(args, "context", None) or []
    every = getattr(args, "all_contexts", False)
    if not (every or contexts):
        return
    if every and contexts:
        raise ConfigError("--all-contexts takes every instance of coolify-cli's config: leave out --context")
    what = (
        "--all-contexts takes"
        if every
        else "--context given more than once names"
        if len(contexts) > 1
        else "--context names"
    )
    # A context brings its own address and token: an --endpoint or --token-env beside it would be ignored, and a
    # value the user gave is never dropped silently.
    if getattr(args, "endpoint", None):
        raise ConfigError(f"{what} coolify-cli's config instances, each with its own address: leave out --endpoint")
    token_env = getattr(args, "token_env", TOKEN_VARIABLE)
    if token_env != TOKEN_VARIABLE:
        raise ConfigError(
            f"{what} coolify-cli's config instances, each with its own token: leave out --token-env {token_env}"
        )


@contextlib.contextmanager
def opened(args: argparse.Namespace, **kwargs: Any) -> Iterator[Any]:
    """`given_clients`, every one closed when the command is done with them."""
    given = given_clients(args, **kwargs)
    try:
        yield given
    finally:
        for client in given if is_several(given) else [given]:
            client.close()


def connection_argv(args: argparse.Namespace) -> list[str]:
    """The connection options as given, for a command that repeats this one (finishing an interrupted run)."""
    argv: list[str] = []
    if getattr(args, "all_contexts", False):
        argv.append("--all-contexts")
    for context in args.context or []:
        argv += ["--context", context]
    for flag, value in (
        ("--endpoint", args.endpoint),
        ("--token-env", args.token_env if args.token_env != "COOLIFY_TOKEN" else None),
        ("--ca-bundle", getattr(args, "ca_bundle", None)),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.allow_http:
        argv.append("--allow-http")
    return argv
