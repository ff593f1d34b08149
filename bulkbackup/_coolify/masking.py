"""The token never leaves the Authorization header: masking it in text, exceptions and the server's answers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

__all__ = ["MASK", "BearerAuth", "mask_answer", "redact", "scrub"]

MASK = "***"


def _secrets(token: str | None) -> list[str]:
    """The token and its secret part after `id|` (Sanctum accepts it alone), longest first."""
    if not token:
        return []
    # masking a 1-3 character "secret" would mangle ordinary text
    return [s for s in sorted({token, token.partition("|")[2]}, key=len, reverse=True) if len(s) >= 4]


def redact(text: object, token: str | None) -> str:
    """`text` as a string with the token, and its secret part after `id|`, masked."""
    result = str(text)
    for secret in _secrets(token):
        result = result.replace(secret, MASK)
    return result


class BearerAuth:
    """Adds the bearer header to each request; passing an auth object also keeps requests from using ~/.netrc.

    requests only calls it (requests.auth.AuthBase adds nothing else), so it need not import requests to exist.
    """

    __slots__ = ("_token",)

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return f"<bearer {MASK}>"


def scrub(item: Any, token: str | None) -> None:
    """Mask the token in what requests keeps of a request: the prepared request's headers, an error's message."""
    for holder in (item, getattr(item, "response", None)):
        request = getattr(holder, "request", None)
        headers = getattr(request, "headers", None)
        if headers is not None and "Authorization" in headers:
            headers["Authorization"] = f"Bearer {MASK}"
    if isinstance(item, BaseException):
        masked = [redact(a, token) for a in item.args]
        if masked != [str(a) for a in item.args]:
            item.args = tuple(masked)


def mask_answer(response: requests.Response, token: str | None) -> None:
    """Mask the token wherever a server (or a proxy in front of it) may quote it back: the body, the reason
    phrase, the headers. This is where server text enters bulkbackup, so every message built from an answer, in
    the results, the journal, the terminal or an exception, is built from masked text."""
    secrets = _secrets(token)
    if not secrets:
        return
    content = response.content  # read now: the body of every API answer is small JSON or a page
    if content:
        for secret in secrets:
            # as sent, and as JSON-encoded text spells it (PHP's json_encode also escapes "/")
            encoded = json.dumps(secret)[1:-1]
            for spelling in {secret, encoded, encoded.replace("/", "\\/")}:
                content = content.replace(spelling.encode("utf-8"), MASK.encode())
        response._content = content
    if response.reason:
        response.reason = redact(response.reason, token)
    for name, value in list(response.headers.items()):
        masked = redact(value, token)
        if masked != value:
            response.headers[name] = masked
