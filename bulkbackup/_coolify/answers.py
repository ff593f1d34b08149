"""Reading an answer: status, JSON shape, the server's message and whether it came from the API at all.

    answer = read_answer(response)
    answer.code, answer.body           # 422, {"message": "...", "errors": {...}}
    answer.message                     # the server's message, always a str ("" when it gave none)
    answer.detail                      # the message with the errors spelled out, or the reason phrase
    answer.not_api                     # why this cannot be the Coolify API (an HTML page, a redirect), or None
    answer.auth_hint                   # what a 400/401/403 about the token or access means, or None

Whatever shape the JSON has (a number for a message, `errors` as a string, a list, null), every field is a
readable string: a row always gets an outcome. The token is masked by the transport before an answer gets here
(`masking.mask_answer`); `token=` masks again for answers that did not come through a Client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bulkbackup._coolify.masking import redact
from bulkbackup._core import versions

if TYPE_CHECKING:
    import requests

__all__ = ["Answer", "auth_hint", "json_body", "read_answer", "server_message"]

_LONGEST = 300  # characters of server text kept in one message: enough to read, not a page


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read once: what every caller (the run, doctor, inventory) needs of it."""

    code: int
    body: Any  # the decoded JSON, or None when the answer is not JSON
    is_json: bool
    reason: str
    message: str
    detail: str
    not_api: str | None
    auth_hint: str | None
    location: str = ""  # a redirect's target

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def summary(self) -> str:
        """The code and the detail, e.g. "422 Validation failed. timeout: must be at least 60"."""
        return f"{self.code} {self.detail}".strip()


def read_answer(
    response: requests.Response, *, endpoint: str | None = None, text: bool = False, token: str | None = None
) -> Answer:
    """Read an answer once. `endpoint` names the address in `not_api`; `text` says a plain-text 2xx is expected
    (GET /version answers a bare version number)."""
    code = response.status_code
    try:
        body, is_json = json_body(response), True
    except ValueError:
        body, is_json = None, False
    reason = _mask(response.reason or "", token)
    message = _mask(server_message(body), token)
    detail = _mask(_detail(body, message or reason), token)
    location = _mask(response.headers.get("Location") or "", token)
    return Answer(
        code=code,
        body=body,
        is_json=is_json,
        reason=reason,
        message=message,
        detail=detail,
        not_api=_not_api(response, code, is_json, endpoint, text, location),
        auth_hint=auth_hint(code, message),
        location=location,
    )


def _mask(text: str, token: str | None) -> str:
    return redact(text, token) if token else text


def _readable(value: object) -> str:
    """A JSON value as a person reads it: strings as they are, numbers as numbers, the rest as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return str(value)


def _short(text: str) -> str:
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"


def server_message(body: object) -> str:
    """The `message` of a JSON object answer as a string, "" when there is none."""
    if not isinstance(body, dict):
        return ""
    return _short(_readable(body.get("message")).strip())


def _spell(value: object) -> str:
    """One field's errors: Laravel gives a list of sentences; a string is one sentence, not letters."""
    if isinstance(value, list | tuple):
        return " ".join(_readable(v) for v in value)
    return _readable(value)


def _detail(body: object, lead: str) -> str:
    parts = [lead] if lead else []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts.append("; ".join(f"{key}: {_spell(value)}" for key, value in errors.items()))
        elif errors not in (None, "", [], {}):
            parts.append(_spell(errors))
        elif body.get("error"):
            parts.append(_readable(body["error"]))
    elif body not in (None, "", [], {}):  # a list or a bare value where an object was expected: show it
        parts.append(_readable(body[:3] if isinstance(body, list) else body))  # a glimpse: a list may be megabytes
    return _short(" ".join(p for p in parts if p))


def json_body(response: requests.Response) -> Any:
    """`response.json()`, decoded once per response (ValueError when it is not JSON): the check that an answer
    is the API's and the code reading the answer both need it, and a fleet's GET /databases is megabytes."""
    decoded = vars(response).get("_bulkbackup_json")
    if decoded is None:
        try:
            decoded = (True, response.json())
        except ValueError:
            decoded = (False, None)
        response._bulkbackup_json = decoded
    if not decoded[0]:
        raise ValueError("the answer is not JSON")
    return decoded[1]


def _not_api(
    response: requests.Response, code: int, is_json: bool, endpoint: str | None, text: bool, location: str
) -> str | None:
    """Why an answer cannot have come from the Coolify API (an HTML page, a redirect), or None if it can.

    The API answers every /api/v1 request with JSON, 2xx, 4xx and redirects included (GET /version: plain
    text), so an HTML 200 is a web UI or a login proxy in front of it, and its "success" means nothing.
    Proxy errors (502, 503) and rate-limit answers are left to the status code.
    """
    if code == 429 or code >= 500:
        return None
    if 300 <= code < 400:
        seen = f"a {code} redirect to {location or 'elsewhere'}"
    else:
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if text and 200 <= code < 300:
            if versions.parse(response.text.strip()) is not None:
                return None
            seen = f"a {kind or 'page without a content type'} instead of a version number"
        elif "json" in kind and is_json:
            return None
        else:
            seen = f"a {kind or 'body without a content type'} answer ({code}), not JSON"
    return (
        f"{endpoint or 'the endpoint'} does not look like the Coolify API: it answered with {seen}. Use the address "
        "of the Coolify instance itself (e.g. https://coolify.example.com; /api/v1 is added), not the web UI behind "
        "a login page or proxy, and make sure nothing in between redirects /api/v1"
    )


_HINTS = (
    ("Unauthenticated", "the token is unknown, expired or revoked: create a new one in Coolify under Keys & Tokens"),
    ("Invalid token", "the token has no team, or its user is no longer in the team: create a new token"),
    ("API is disabled", "the API is disabled in Coolify's settings: enable API access there"),
    (
        "not allowed to access the API",
        "this is the server's API IP allowlist, not the token: add this machine's address to the allowed IPs "
        "in Coolify's settings (0.0.0.0 allows every address)",
    ),
    ("Missing required team role", "the token's user must be an admin or owner of the team for this token"),
    (
        "Missing required permissions: read",
        "the token cannot read: give it the read ability, or send without reading first with diff=False "
        "(--no-diff on the command line)",
    ),
    (
        "Missing required permissions: write",
        "a read-only or deploy-only token: create one with the write ability in Coolify under Keys & Tokens",
    ),
    ("Missing required permissions", "the token lacks an ability this request needs"),
)


def auth_hint(code: int, message: object) -> str | None:
    """A hint for an answer about the token or access, None when the answer is not one."""
    if code not in (400, 401, 403):
        return None
    text = _readable(message).lower()
    for needle, hint in _HINTS:
        if needle.lower() in text:
            return hint
    if code == 401:
        return "the token was not accepted"
    if code == 403:
        return "the token is not allowed to do this"
    return None  # a 400 that is not about the token
