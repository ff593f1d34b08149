"""Will a run work? One pass over everything a run needs, changing nothing, each answer with its fix.

    for check in bb.diagnose(client):
        print(check)

    for name, checks in bb.diagnose([prod, staging]).items():   # several instances: one block each
        print(name, *checks, sep="\n  ")

The probes follow the order the server's middleware runs in (API-RULES §4): the health check needs no token,
`GET /version` needs a valid token, an enabled API and the read ability, `GET /databases` is the read a plan
makes, and a `PATCH {}` to a configuration that does not exist shows the write ability without touching anything
(the ability middleware answers before the controller, which then stops at "Empty JSON.").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

import requests

from bulkbackup._coolify.clients import clients_of, each, is_several
from bulkbackup._coolify.connection import describe_transport_error
from bulkbackup._coolify.endpoint import is_loopback as _is_loopback
from bulkbackup._coolify.state import own_configs
from bulkbackup._core.errors import ApiError, AuthError

if TYPE_CHECKING:
    from bulkbackup._coolify.client import Client

__all__ = ["Check", "diagnose", "symbols"]

# A uuid no configuration has (real ones are 24 lowercase letters and digits): the write probe addresses it.
PROBE_UUID = "bulkbackup-doctor-probe"


@dataclass(frozen=True)
class Check:
    """One line of the diagnosis: what was checked, whether it passed, what was seen, and the fix if it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self, ok_mark: str = "✓", fail_mark: str = "✗") -> str:
        text = f"{ok_mark if self.ok else fail_mark} {self.name}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix and not self.ok else text

    def __str__(self) -> str:
        return self.line()


def symbols(stream: TextIO | None = None) -> tuple[str, str]:
    """The pass and fail marks the stream can print: ✓ and ✗, or OK and FAIL on a console that cannot (cp1252)."""
    stream = stream if stream is not None else sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "OK", "FAIL"
    return "✓", "✗"


def diagnose(client: Client | Sequence[Client]) -> list[Check] | dict[str, list[Check]]:
    """Every check in order; stops after one that makes the next meaningless (nothing reachable, a bad token).

    Sends at most four requests (health, version, databases, one PATCH that cannot change anything). Given a list
    of clients (several instances): {client name: its checks}, one block per instance, in the list's order, the
    instances checked in parallel.
    """
    if is_several(client):
        clients = clients_of(client)
        return dict(zip(clients.names, each(clients, _diagnose_one), strict=True))
    return _diagnose_one(client)


def _diagnose_one(client: Client) -> list[Check]:
    checks: list[Check] = []
    reachable = _reachable(client, checks)
    if not reachable:
        return checks
    response = None
    try:
        version = client.version()
    except AuthError as error:
        if not _access_checks(error, checks):
            return checks
        version = None
        checks.append(Check("Coolify version", False, "unknown (reading it needs the read ability)", _fix(error)))
    except ApiError as error:
        checks.append(Check("Coolify version", False, _detail(error), "check that the endpoint is the Coolify API"))
        return checks
    else:
        checks.append(Check("token", True, "accepted"))
        checks.append(Check("API enabled", True, "yes, and this machine is allowed"))
        checks.append(Check("Coolify version", True, version))
    count = _read(client, checks)
    response = _write(client, checks)
    _budget(response, checks)
    if count is not None:
        configs, databases = count
        if configs:
            checks.append(Check("backup configurations", True, f"{configs} on {databases} databases"))
        else:
            checks.append(
                Check(
                    "backup configurations",
                    False,
                    f"none visible on {databases} databases",
                    "create scheduled backups in Coolify, or use a token of the team that has them",
                )
            )
    return checks


def _reachable(client: Client, checks: list[Check]) -> bool:
    scheme = urlsplit(client.endpoint).scheme
    host = urlsplit(client.endpoint).hostname or ""
    try:
        # The health check needs no token and is not behind the API switch: it separates "reachable" from the rest.
        answer = client.health_answer()
    except requests.RequestException as error:
        text = describe_transport_error(error, client.endpoint, wording=client.wording)
        if "TLS error" in text:
            checks.append(Check("endpoint reachable", True, f"{host} answers"))
            checks.append(Check("TLS", False, text.partition(" — ")[0], text.partition(" — ")[2]))
        else:
            checks.append(Check("endpoint reachable", False, text.partition(" — ")[0], text.partition(" — ")[2]))
        return False
    if answer.status_code != 200 or answer.text.strip() != "OK":
        kind = (answer.headers.get("Content-Type") or "no content type").split(";")[0]
        seen = f"{host} answers, but not as Coolify: GET /health gave {answer.status_code} ({kind}), not Coolify's OK"
        fix = (
            "use the address of the Coolify instance itself (e.g. https://coolify.example.com; /api/v1 is added), "
            "not the web UI behind a login page or proxy"
        )
        checks.append(Check("endpoint reachable", False, seen, fix))
        return False
    checks.append(Check("endpoint reachable", True, f"{client.endpoint} answers as Coolify"))
    if scheme == "https":
        detail = "certificate verified" if client.verify else "encrypted, but the certificate is not verified"
        checks.append(Check("TLS", bool(client.verify), detail, f"verify the certificate: {client.wording.ca_bundle}"))
    elif _is_loopback(host):
        checks.append(Check("TLS", True, "plain http to this machine (nothing crosses the network)"))
    else:
        checks.append(Check("TLS", True, "plain http allowed: the token crosses the network unencrypted"))
    return True


def _access_checks(error: AuthError, checks: list[Check]) -> bool:
    """Lines for a 401/403 of the version probe; False when nothing further can be checked."""
    message, seen, fix = str(error), _detail(error), _fix(error)
    if "Missing required permissions" in message:
        checks.append(Check("token", True, "accepted"))
        checks.append(Check("API enabled", True, "yes, and this machine is allowed"))
        return True
    if "API is disabled" in message or "not allowed to access the API" in message:
        checks.append(Check("token", True, "accepted"))
        checks.append(Check("API enabled", False, seen, fix))
        return False
    checks.append(Check("token", False, seen, fix))
    return False


def _read(client: Client, checks: list[Check]) -> tuple[int, int] | None:
    try:
        databases = client.list_databases()
    except AuthError as error:
        checks.append(Check("read ability", False, _detail(error), _fix(error)))
        return None
    except ApiError as error:
        checks.append(Check("read ability", False, _detail(error), "check the endpoint and try again"))
        return None
    checks.append(Check("read ability", True, "GET /databases answered"))
    return sum(len(own_configs(db)) for db in databases), len(databases)


def _write(client: Client, checks: list[Check]) -> requests.Response | None:
    path = f"/databases/{PROBE_UUID}/backups/{PROBE_UUID}"
    try:
        # An empty object: the ability is checked before the controller, which refuses it as "Empty JSON."
        # (400) before it looks anything up, so no configuration can change whatever the server holds.
        attempted = client.attempt("PATCH", path, json={}, unsafe=False)
    except ApiError as error:  # pragma: no cover - attempt() reports failures in its result
        checks.append(Check("write ability", False, str(error)))
        return None
    response = attempted.response
    if response is None:
        error = attempted.error
        text = (
            describe_transport_error(error, client.endpoint, wording=client.wording)
            if error is not None
            else "no answer"
        )
        checks.append(Check("write ability", False, text.partition(" — ")[0], text.partition(" — ")[2]))
        return None
    problem = client.api_answer_problem(response)
    if problem:
        checks.append(Check("write ability", False, problem.partition(". ")[0], problem.partition(". ")[2]))
    elif response.status_code in (400, 404, 422):
        checks.append(Check("write ability", True, "PATCH accepted by the ability check (nothing was changed)"))
    else:
        error = client.error_for(response, f"PATCH {path}")
        checks.append(Check("write ability", False, _detail(error), _fix(error)))
    return response


def _budget(response: requests.Response | None, checks: list[Check]) -> None:
    headers = response.headers if response is not None else {}
    limit, remaining = headers.get("X-RateLimit-Limit"), headers.get("X-RateLimit-Remaining")
    if limit is None or remaining is None:
        checks.append(Check("rate limit", True, "not reported by the server"))
        return
    if remaining.strip() == "0":
        checks.append(
            Check(
                "rate limit",
                False,
                f"{limit} requests a minute, none left in this window",
                "wait a minute before a run (another client of the same user may be using the budget)",
            )
        )
        return
    checks.append(Check("rate limit", True, f"{limit} requests a minute, {remaining} left in this window"))


def _detail(error: ApiError) -> str:
    """The error without its hint (which the line shows as the fix)."""
    text = str(error)
    suffix = f" ({error.hint})"
    return text[: -len(suffix)] if error.hint and text.endswith(suffix) else text


def _fix(error: ApiError) -> str:
    return error.hint
