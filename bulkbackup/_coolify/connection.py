"""What to say about a request that got no answer, in the words of whoever reads it (Python or the CLI).

One walker over an exception's chain (`causes`): requests wraps urllib3, which wraps the socket or ssl error.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["CLI", "PYTHON", "Wording", "causes", "describe_transport_error", "wrong_path_hint"]


@dataclass(frozen=True)
class Wording:
    """How a fix is spelled for its reader: a keyword in Python, a flag or variable on the command line."""

    ca_bundle: str
    allow_http: str
    endpoint: str
    token: str
    no_diff: str
    force: str
    context: str


PYTHON = Wording(
    ca_bundle="give its bundle (ca_bundle=PATH)",
    allow_http="allow_http=True",
    endpoint="connect(endpoint=URL)",
    token="set COOLIFY_TOKEN",
    no_diff="diff=False",
    force="force=True",
    context="context=<name>",
)
CLI = Wording(
    ca_bundle="give its bundle in REQUESTS_CA_BUNDLE=PATH",
    allow_http="--allow-http",
    endpoint="--endpoint",
    token="set COOLIFY_TOKEN (or the variable named by --token-env)",
    no_diff="--no-diff",
    force="--force",
    context="--context NAME",
)


def causes(error: BaseException) -> list[BaseException]:
    """The error and everything it wraps: its cause and context, urllib3's `reason`, and exceptions in its args."""
    found: list[BaseException] = []
    pending: list[object] = [error]
    while pending:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or any(item is f for f in found) or len(found) > 20:
            continue
        found.append(item)
        pending.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    return found


# What OpenSSL says when the other side answers a ClientHello with plain http, or hangs up on it.
_NOT_TLS = (
    "wrong_version_number",
    "wrong version number",
    "record layer failure",
    "unknown protocol",
    "http_request",
    "unexpected_eof_while_reading",
    "eof occurred in violation of protocol",
)


def _other_scheme(url: str, scheme: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme, parts.netloc, "", "", "")) or f"{scheme}://…"


def describe_transport_error(error: BaseException, endpoint: str | None = None, *, wording: Wording = PYTHON) -> str:
    """One line for a request that got no answer: what happened, to which HOST:PORT, and what to check.

    Replaces urllib3's "Max retries exceeded with url … NewConnectionError(…)" with e.g. "cannot connect to
    coolify.example.com:443 (connection refused) — check the address and port, and that Coolify is running".
    """
    import requests  # not with bulkbackup (see retry.py); an error from a request means it is loaded

    request = getattr(error, "request", None)
    url = getattr(request, "url", None) or endpoint or ""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = "?"
    where = f"{parts.hostname}:{port}" if parts.hostname else "the server"
    found = causes(error)
    texts = " ".join(str(c) for c in found).lower()

    def has(*kinds: type) -> bool:
        return any(isinstance(c, kinds) for c in found)

    certificate = next((c for c in found if isinstance(c, ssl.SSLCertVerificationError)), None)
    if certificate is None and parts.scheme == "https" and any(mark in texts for mark in _NOT_TLS):
        return (
            f"cannot connect to {where} (TLS error: the server did not answer in TLS) — if it speaks plain http, "
            f"try {_other_scheme(url, 'http')} (Coolify's own default is http://IP:8000)"
        )
    if certificate is not None or has(requests.exceptions.SSLError, ssl.SSLError):
        problem = getattr(certificate, "verify_message", None) or (
            str(certificate) if certificate else "handshake failed"
        )
        return (
            f"cannot connect to {where} (TLS error: {problem}) — check that the endpoint uses the instance's "
            f"certificate; for a private CA {wording.ca_bundle}"
        )
    if has(ConnectionRefusedError) or "connection refused" in texts:
        return (
            f"cannot connect to {where} (connection refused) — check the address and port, and that Coolify is running"
        )
    if has(socket.gaierror) or "nameresolutionerror" in texts or "name or service not known" in texts:
        return f"cannot connect to {where} (name not found) — check the host name in the endpoint and your DNS"
    if has(requests.exceptions.ConnectTimeout):
        return f"cannot connect to {where} (no answer in time) — check the address, a firewall or the network"
    if has(requests.exceptions.ReadTimeout):
        return f"no answer from {where} in time (read timeout) — the server is slow or stuck; try again later"
    closed = has(ConnectionResetError, ConnectionAbortedError) or "remotedisconnected" in texts or "aborted" in texts
    if closed or "badstatusline" in texts:
        if parts.scheme == "http":
            return (
                f"the connection to {where} was closed before an answer — if that port speaks TLS, use "
                f"{_other_scheme(url, 'https')}; else check a proxy in between, or try again"
            )
        return f"the connection to {where} was closed before an answer — check a proxy in between, or try again"
    return f"cannot connect to {where} ({type(error).__name__}) — check the address and the network"


def wrong_path_hint(endpoint: str, path: str, code: int) -> str | None:
    """For a 404 on a route every Coolify has: the endpoint's path is probably wrong (e.g. /api/v2)."""
    if code != 404 or path not in ("/databases", "/version", "/projects"):
        return None
    base = urlsplit(endpoint)
    return (
        f"the server has no {base.path}{path}: the path of the endpoint looks wrong. Give the address of the "
        f"Coolify instance itself (e.g. {base.scheme}://{base.netloc}); /api/v1 is added"
    )


def plain_http_to_tls_hint(text: str, endpoint: str) -> str | None:
    """nginx and others answer plain http on a TLS port with a 400 page that says so."""
    if "https port" in text.lower() or "speaking plain http to an ssl" in text.lower():
        return f"the port speaks TLS: use {_other_scheme(endpoint, 'https')}"
    return None
