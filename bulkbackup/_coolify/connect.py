"""`bb.connect()`: credentials found the one way (`credentials.py`), a Client (or one per coolify-cli context), and
every token checked at once."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from bulkbackup._coolify import credentials
from bulkbackup._coolify.client import Client
from bulkbackup._coolify.clients import each
from bulkbackup._core.errors import ApiError, AuthError, ConfigError

__all__ = ["connect", "context_clients"]


def connect(
    endpoint: str | None = None,
    *,
    context: str | Sequence[str] | None = None,
    all_contexts: bool = False,
    prompt: bool | None = None,
    check: bool = True,
    environ: Mapping[str, str] | None = None,
    config_path: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Client | list[Client]:
    """A Client from `COOLIFY_ENDPOINT` + `COOLIFY_TOKEN`, else coolify-cli's config, else (in a notebook) a prompt.

    `endpoint` skips the lookup of the address; the token then comes from `COOLIFY_TOKEN` or the prompt. `prompt`
    forces the prompt on (True, e.g. in a terminal) or off (False); by default it is used only in a notebook a
    person can answer (not under papermill or nbclient, which get the same ConfigError as a script). `context`
    names a coolify-cli instance (the client is named after it) and never falls back to a prompt. `check`
    (default) spends one request (`GET /version`) to say at once if the token or the address is wrong. Other
    keywords go to `Client`.

    Several instances: `context=["prod", "staging"]` gives a list of clients, one per context named, and
    `all_contexts=True` one per instance of coolify-cli's config file, each named after its context; every one is
    checked, in parallel, and an error names its context.
    """
    if all_contexts or (context is not None and not isinstance(context, str)):
        return _connect_contexts(endpoint, context, all_contexts, check, environ, config_path, kwargs)
    ask = credentials.can_prompt() if prompt is None else bool(prompt)
    found = credentials.find_credentials(
        endpoint=endpoint,
        context=context,
        environ=environ,
        config_path=config_path,
        allow_http=kwargs.pop("allow_http", None),
        prompt=ask and context is None,
    )
    client = Client(found.endpoint, found.token, allow_http=found.allow_http, **{"name": found.name, **kwargs})
    if check:
        try:
            _check(client)
        except BaseException:
            client.close()
            raise
    return client


def _connect_contexts(endpoint, context, all_contexts, check, environ, config_path, kwargs) -> list[Client]:
    if all_contexts and (context is not None or endpoint is not None):
        given = "context" if context is not None else "endpoint"
        raise ConfigError(f"all_contexts=True takes every instance of coolify-cli's config: leave out {given}=")
    if endpoint is not None:
        raise ConfigError("a list of contexts names its instances: leave out endpoint=")
    if "name" in kwargs:
        raise ConfigError("each client is named after its context: leave out name=")
    found = credentials.find_contexts(
        None if all_contexts else [str(c) for c in context],
        environ=environ,
        config_path=config_path,
        allow_http=kwargs.pop("allow_http", None),
    )
    clients = context_clients(found, **kwargs)
    if check:
        try:
            each(clients, _check_named)
        except BaseException:
            for client in clients:  # none left open behind an error
                client.close()
            raise
    return clients


def context_clients(found: Sequence[credentials.Credentials], **kwargs: Any) -> list[Client]:
    """A Client per context's credentials, named after its context. An address refused (plain http to another
    machine, a malformed fqdn) is said naming the context, and the clients already made are closed."""
    clients: list[Client] = []
    try:
        for f in found:
            try:
                clients.append(Client(f.endpoint, f.token, allow_http=f.allow_http, name=f.name, **kwargs))
            except ConfigError as error:
                raise ConfigError(f"context {f.name!r}: {error}") from None
    except BaseException:
        for client in clients:
            client.close()
        raise
    return clients


def _check_named(client: Client) -> None:
    """`_check`, its error naming the context: with several instances, which one is wrong is the news."""
    try:
        _check(client)
    except AuthError as error:
        raise AuthError(_named(client, error), status=error.status, hint=error.hint) from None
    except ApiError as error:
        raise ApiError(_named(client, error), status=error.status) from None


def _named(client: Client, error: ApiError) -> str:
    return f"connect: context {client.name!r} ({client.endpoint}): {str(error).removeprefix('connect: ')}"


def _check(client: Client) -> None:
    """One cheap request: a wrong token, a disabled API or a wrong address is said now, not at the first run."""
    try:
        client.remember_version(client.version())
    except AuthError as error:
        if "Missing required permissions" in str(error):
            return  # a token without the read ability is valid; what it cannot do is said where it matters
        raise AuthError(f"connect: {error}", status=error.status, hint=error.hint) from None
    except ApiError as error:
        raise ApiError(f"connect: {error}", status=error.status) from None
