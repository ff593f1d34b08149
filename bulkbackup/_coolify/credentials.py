"""Finding credentials for a notebook user: `connect()`.

The environment and coolify-cli's config file come first, exactly as `Client.from_env` reads them. Only when neither
configures anything and the code runs in a Jupyter kernel does `connect()` ask: the endpoint with `input()`, the
token with `getpass.getpass()`, which ipykernel turns into a hidden input field. The token typed there lives only in
the Client (whose repr masks it): not in the notebook's outputs, its history, a variable or a file.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Mapping
from typing import Any

from bulkbackup._coolify.client import (
    ENDPOINT_VARIABLE,
    TOKEN_VARIABLE,
    Client,
    default_config_path,
    normalise_endpoint,
)
from bulkbackup._core.errors import ConfigError

__all__ = ["connect", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab): an IPython shell with a kernel.

    IPython is looked for among the loaded modules, never imported: outside a kernel it has no reason to be loaded.
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:  # an IPython half torn down at exit
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def connect(
    endpoint: str | None = None,
    *,
    context: str | None = None,
    prompt: bool | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Client:
    """A Client from `COOLIFY_ENDPOINT` + `COOLIFY_TOKEN`, else coolify-cli's config, else (in a notebook) a prompt.

    `endpoint` skips the lookup of the address; the token then comes from `COOLIFY_TOKEN` or the prompt. `prompt`
    forces the prompt on (True, e.g. in a terminal) or off (False); by default it is used only in a notebook.
    `context` names a coolify-cli instance and never falls back to a prompt. Other keywords go to `Client`.
    Without any of these a ConfigError says what is missing, as `Client.from_env` does.
    """
    env = os.environ if environ is None else environ
    ask = in_notebook() if prompt is None else bool(prompt)
    if endpoint is None:
        try:
            return Client.from_env(context=context, environ=env, config_path=config_path, **kwargs)
        except ConfigError:
            path = default_config_path(env) if config_path is None else config_path
            # A broken config file or a bad address is a mistake to report, not a reason to ask.
            configured = os.path.isfile(path) or (_variable(env, ENDPOINT_VARIABLE) and _variable(env, TOKEN_VARIABLE))
            if not ask or context is not None or configured:
                raise
        endpoint = _variable(env, ENDPOINT_VARIABLE) or _ask_endpoint(kwargs.get("allow_http", False))
    token = _variable(env, TOKEN_VARIABLE)
    if not token:
        if not ask:
            raise ConfigError(f"no API token for {endpoint}: set {TOKEN_VARIABLE}")
        token = _ask_token()
    return Client(endpoint, token, **kwargs)


def _variable(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _ask_endpoint(allow_http: bool) -> str:
    text = input("Coolify address (e.g. https://coolify.example.com): ").strip()
    if not text:
        raise ConfigError(f"no Coolify address given (or set {ENDPOINT_VARIABLE})")
    normalise_endpoint(text, allow_http=allow_http)  # a mistake is reported now, before the token is asked for
    return text


def _ask_token() -> str:
    # getpass.getpass looked up at call time: ipykernel replaces it with its hidden input after we were imported.
    token = getpass.getpass("Coolify API token (hidden, not stored): ").strip()
    if not token:
        raise ConfigError(f"no API token given (or set {TOKEN_VARIABLE})")
    return token
