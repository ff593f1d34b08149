"""Finding credentials, in one place for `Client.from_env`, `bb.connect()` and the command line.

In order: an explicit endpoint (the token then comes from its variable), the coolify-cli instance asked for by name,
`COOLIFY_ENDPOINT` + `COOLIFY_TOKEN`, coolify-cli's default instance, and only then, when asked to and where a
person can answer (a Jupyter kernel that accepts input; not papermill or nbclient), a prompt: the endpoint with
`input()`, the token with `getpass.getpass()`, which ipykernel turns into a hidden input field. A token typed there
lives only in the Client (whose repr masks it): not in the notebook's outputs, its history, a variable or a file.

`COOLIFY_URL` is never read: Coolify sets it inside every app it deploys, to that app's own address.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bulkbackup._coolify.cli_config import default_config_path, every_instance, pick_instance, read_config
from bulkbackup._coolify.connection import PYTHON, Wording
from bulkbackup._coolify.endpoint import allow_http_from_env, normalise_endpoint
from bulkbackup._coolify.masking import MASK
from bulkbackup._core.errors import ConfigError

__all__ = [
    "ENDPOINT_VARIABLE",
    "TOKEN_VARIABLE",
    "Credentials",
    "can_prompt",
    "find_contexts",
    "find_credentials",
    "in_notebook",
]

log = logging.getLogger("bulkbackup._coolify.client")

ENDPOINT_VARIABLE = "COOLIFY_ENDPOINT"
TOKEN_VARIABLE = "COOLIFY_TOKEN"


@dataclass(frozen=True)
class Credentials:
    """Where to connect and with what: `source` says where they were found (never the token itself). `name` is the
    coolify-cli context's, when they came from one: the client's name (None: the endpoint's host[:port])."""

    endpoint: str
    token: str = field(repr=False)
    source: str
    allow_http: bool = False
    name: str | None = None

    def __repr__(self) -> str:
        named = f", name={self.name!r}" if self.name is not None else ""
        return f"Credentials(endpoint={self.endpoint!r}, token={MASK!r}, source={self.source!r}{named})"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab): an IPython shell with a kernel.

    IPython is looked for among the loaded modules, never imported: outside a kernel it has no reason to be loaded.
    """
    return _kernel() is not None


def _kernel() -> object | None:
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return None
    try:
        shell = get_ipython()
    except Exception:  # an IPython half torn down at exit
        return None
    return getattr(shell, "kernel", None) if shell is not None else None


def can_prompt() -> bool:
    """A kernel that a person can answer: papermill and nbclient run cells with `allow_stdin` off."""
    if not in_notebook():
        return False
    return getattr(_kernel(), "_allow_stdin", True) is not False


def find_credentials(
    *,
    endpoint: str | None = None,
    token_variable: str = TOKEN_VARIABLE,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: str | os.PathLike | None = None,
    allow_http: bool | None = None,
    prompt: bool = False,
    wording: Wording = PYTHON,
) -> Credentials:
    """The endpoint and token to use, or a ConfigError saying what is missing, in `wording`'s words.

    `prompt` allows asking for what is missing (in a notebook a person can answer; `True` also in a terminal).
    `allow_http` None reads BULKBACKUP_ALLOW_HTTP.
    """
    env = os.environ if environ is None else environ
    if allow_http is None:
        allow_http = allow_http_from_env(env)
    path = Path(config_path) if config_path is not None else default_config_path(env)
    env_endpoint, token = _variable(env, ENDPOINT_VARIABLE), _variable(env, token_variable)

    if context is not None:
        if not path.is_file():
            raise ConfigError(f"context {context!r} was asked for, but there is no coolify-cli config file {path}")
        name, fqdn, instance_token = pick_instance(read_config(path), context, path, keyword=wording.context)
        return Credentials(fqdn, instance_token, f"coolify-cli instance {name!r} in {path}", allow_http, name or None)

    if endpoint is not None or token_variable != TOKEN_VARIABLE:
        endpoint = endpoint or env_endpoint
        if not endpoint:
            if not prompt:
                raise ConfigError(f"no endpoint: give {wording.endpoint} or set {ENDPOINT_VARIABLE}")
            endpoint = _ask_endpoint(allow_http)
        if not token:
            if not prompt:
                raise ConfigError(f"no API token for {endpoint}: set {token_variable}")
            token = _ask_token(token_variable)
        return Credentials(endpoint, token, "given", allow_http)

    if env_endpoint and token:
        return Credentials(env_endpoint, token, f"{ENDPOINT_VARIABLE} and {TOKEN_VARIABLE}", allow_http)
    if path.is_file():
        name, fqdn, instance_token = pick_instance(read_config(path), None, path, keyword=wording.context)
        if env_endpoint or token:
            present = ENDPOINT_VARIABLE if env_endpoint else TOKEN_VARIABLE
            absent = TOKEN_VARIABLE if env_endpoint else ENDPOINT_VARIABLE
            log.warning(
                "%s is set but %s is not, so both are ignored: using the coolify-cli instance %r (%s) from %s",
                *(present, absent, name, fqdn, path),
            )
        return Credentials(fqdn, instance_token, f"coolify-cli instance {name!r} in {path}", allow_http, name or None)
    if prompt:
        endpoint = env_endpoint or _ask_endpoint(allow_http)
        return Credentials(endpoint, token or _ask_token(token_variable), "typed in", allow_http)
    missing = " and ".join(n for n, v in ((ENDPOINT_VARIABLE, env_endpoint), (TOKEN_VARIABLE, token)) if not v)
    message = f"no Coolify instance configured: {missing} not set, and no coolify-cli config file {path}"
    if not env_endpoint and env.get("COOLIFY_URL"):
        message += (
            f" (COOLIFY_URL is set but not used: Coolify sets it inside deployed apps to the app's own "
            f"address; set {ENDPOINT_VARIABLE} to the Coolify instance instead)"
        )
    raise ConfigError(message)


def find_contexts(
    contexts: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_path: str | os.PathLike | None = None,
    allow_http: bool | None = None,
    wording: Wording = PYTHON,
) -> list[Credentials]:
    """The credentials of the coolify-cli contexts named (in that order), or of every one in the config file
    (`contexts` None), each named after its context. The variables are not read: a context names its instance."""
    env = os.environ if environ is None else environ
    if allow_http is None:
        allow_http = allow_http_from_env(env)
    path = Path(config_path) if config_path is not None else default_config_path(env)
    if contexts is not None:
        if not contexts:
            raise ConfigError(f"no context named: give at least one {wording.context}")
        repeated = next((c for i, c in enumerate(contexts) if c in contexts[:i]), None)
        if repeated is not None:
            raise ConfigError(f"context {repeated!r} is named twice: name each instance once")
    if not path.is_file():
        asked = "every context" if contexts is None else f"context {contexts[0]!r}"
        raise ConfigError(f"{asked} was asked for, but there is no coolify-cli config file {path}")
    config = read_config(path)
    if contexts is None:
        found = every_instance(config, path)
    else:
        found = [pick_instance(config, c, path, keyword=wording.context) for c in contexts]
    return [
        Credentials(fqdn, token, f"coolify-cli instance {name!r} in {path}", allow_http, name)
        for name, fqdn, token in found
    ]


def _variable(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _ask_endpoint(allow_http: bool) -> str:
    text = input("Coolify address (e.g. https://coolify.example.com): ").strip()
    if not text:
        raise ConfigError(f"no Coolify address given (or set {ENDPOINT_VARIABLE})")
    normalise_endpoint(text, allow_http=allow_http)  # a mistake is reported now, before the token is asked for
    return text


def _ask_token(variable: str) -> str:
    # getpass.getpass looked up at call time: ipykernel replaces it with its hidden input after we were imported.
    token = getpass.getpass("Coolify API token (hidden, not stored): ").strip()
    if not token:
        raise ConfigError(f"no API token given (or set {variable})")
    return token
