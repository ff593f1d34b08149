"""Endpoint rules: what address the API is at, and whether the token may travel there.

The plain-http rule is about where the bytes go: to the endpoint itself, or to the proxy between (the transport
decides the route and applies `check_hop` to it).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from bulkbackup._core.errors import ConfigError

__all__ = [
    "ALLOW_HTTP_VARIABLE",
    "API_PATH",
    "allow_http_from_env",
    "api_url",
    "check_hop",
    "is_loopback",
    "normalise_endpoint",
]

ALLOW_HTTP_VARIABLE = "BULKBACKUP_ALLOW_HTTP"
API_PATH = "/api/v1"

# A query, a fragment, a backslash, whitespace or a control character would change which resource is addressed.
_UNSAFE_PATH_CHARS = re.compile(r"[?#\\\x00-\x20\x7f]")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")


def is_loopback(host: str) -> bool:
    """True for this machine: localhost, 127.0.0.0/8, ::1 (and ::ffff:127.x)."""
    host = host.lower().strip("[]").rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _refuse_plain_http(host: str, via: str = "") -> ConfigError:
    return ConfigError(
        f"refusing to send the API token over plain http:// to {host}{via}: anyone on the way can read it. Use "
        f"https://, or if the network is trusted allow it explicitly: --allow-http on the command line, "
        f"{ALLOW_HTTP_VARIABLE}=1 in the environment, or allow_http=True in Python"
    )


def normalise_endpoint(endpoint: str, *, allow_http: bool = False) -> str:
    """The API base URL ending in `/api/v1`, from a URL given with or without it; ConfigError when unusable."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigError(
            "the endpoint is empty: give the address of the Coolify instance, e.g. https://coolify.example.com"
        )
    text = endpoint.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if not scheme or "://" not in text:
        raise ConfigError(f"the endpoint {text!r} has no scheme: write it as https://{text.lstrip('/')}")
    if scheme not in ("http", "https"):
        raise ConfigError(f"the endpoint must be an http:// or https:// URL, not {scheme}://")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("the endpoint must not contain a user name or password: the token is sent in a header")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as error:
        raise ConfigError(f"the endpoint {text!r} is not a valid URL: {error}") from None
    if not host:
        raise ConfigError(f"the endpoint {text!r} has no host name")
    if parts.query or parts.fragment:
        raise ConfigError(f"the endpoint {text!r} must not have a query (?…) or fragment (#…)")
    if scheme == "http" and not allow_http and not is_loopback(host):
        raise _refuse_plain_http(host)
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    if path.endswith(API_PATH):
        pass
    elif path.endswith("/api"):
        path += "/v1"
    else:
        path += API_PATH
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, path, "", ""))


def check_hop(endpoint: str, proxy: str | None, *, allow_http: bool) -> None:
    """Refuse a route on which the token would cross the network readable: plain http to a proxy that is not
    this machine (an https endpoint is tunnelled through the proxy with CONNECT, so its token stays encrypted)."""
    if proxy is None or allow_http or urlsplit(endpoint).scheme != "http":
        return
    host = urlsplit(proxy if "://" in proxy else f"http://{proxy}").hostname or proxy
    if not is_loopback(host):
        raise _refuse_plain_http(urlsplit(endpoint).hostname or endpoint, f" through the proxy {host}")


def api_url(endpoint: str, path: str) -> str:
    """The absolute URL of an API path such as "/databases"; ValueError for a path that could address another."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"an API path starts with '/': {path!r}")
    if _UNSAFE_PATH_CHARS.search(path):
        raise ValueError(f"unsafe characters in API path {path!r}")
    if _DOT_SEGMENT.search(path):
        raise ValueError(f"dot segments in API path {path!r}")
    return endpoint + path


def allow_http_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether BULKBACKUP_ALLOW_HTTP asks for plain http to be allowed (1, true, yes or on)."""
    env = os.environ if environ is None else environ
    return (env.get(ALLOW_HTTP_VARIABLE) or "").strip().lower() in ("1", "true", "yes", "on")


def check_token(token: object) -> str:
    if not isinstance(token, str) or not token.strip():
        raise ConfigError("the API token is empty")
    token = token.strip()
    if any(not ("!" <= ch <= "~") for ch in token):
        # Anything else would break the header, and requests' error for that quotes the header value.
        raise ConfigError("the API token contains spaces or characters that cannot be sent in a header")
    return token


def check_timeout(timeout: float | tuple[float, float]) -> tuple[float, float]:
    values = timeout if isinstance(timeout, tuple | list) else (timeout, timeout)
    if len(values) != 2:
        raise ConfigError("timeout must be seconds or a (connect, read) pair of seconds")
    try:
        connect, read = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError("timeout must be seconds or a (connect, read) pair of seconds") from None
    if not (connect > 0 and read > 0 and math.isfinite(connect) and math.isfinite(read)):
        raise ConfigError("timeouts must be positive numbers of seconds")
    return connect, read


def check_verify(verify: bool | str, ca_bundle: str | os.PathLike | None) -> bool | str:
    if ca_bundle is not None:
        if verify is False:
            raise ConfigError("ca_bundle was given with verify=False: a CA bundle is only used when verifying")
        verify = os.fspath(ca_bundle)
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if isinstance(verify, str):
        if not os.path.exists(verify):
            raise ConfigError(f"the CA bundle {verify!r} does not exist")
        return verify
    if not isinstance(verify, bool):
        raise ConfigError("verify must be True, False or the path of a CA bundle")
    return verify


def instance_name(endpoint: str, name: str | None = None) -> str:
    """A client's name in frames of several instances: `name` when given (a coolify-cli context's), else the
    endpoint's host[:port] — what tells production from staging, unlike the shared `/api/v1` path."""
    if name is not None:
        text = str(name).strip() if isinstance(name, str) else ""
        if not text or any(not c.isprintable() for c in text):
            raise ConfigError(f"name must be a non-empty line of printable text, not {name!r}")
        return text
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{parts.port}" if parts.port is not None else shown
