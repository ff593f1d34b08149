"""`bb.connect()`: credentials found the one way (`credentials.py`), a Client, and the token checked at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bulkbackup._coolify import credentials
from bulkbackup._coolify.client import Client
from bulkbackup._core.errors import ApiError, AuthError

__all__ = ["connect"]


def connect(
    endpoint: str | None = None,
    *,
    context: str | None = None,
    prompt: bool | None = None,
    check: bool = True,
    environ: Mapping[str, str] | None = None,
    config_path: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Client:
    """A Client from `COOLIFY_ENDPOINT` + `COOLIFY_TOKEN`, else coolify-cli's config, else (in a notebook) a prompt.

    `endpoint` skips the lookup of the address; the token then comes from `COOLIFY_TOKEN` or the prompt. `prompt`
    forces the prompt on (True, e.g. in a terminal) or off (False); by default it is used only in a notebook a
    person can answer (not under papermill or nbclient, which get the same ConfigError as a script). `context`
    names a coolify-cli instance and never falls back to a prompt. `check` (default) spends one request
    (`GET /version`) to say at once if the token or the address is wrong. Other keywords go to `Client`.
    """
    ask = credentials.can_prompt() if prompt is None else bool(prompt)
    found = credentials.find_credentials(
        endpoint=endpoint,
        context=context,
        environ=environ,
        config_path=config_path,
        allow_http=kwargs.pop("allow_http", None),
        prompt=ask and context is None,
    )
    client = Client(found.endpoint, found.token, allow_http=found.allow_http, **kwargs)
    if check:
        try:
            _check(client)
        except BaseException:
            client.close()
            raise
    return client


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
