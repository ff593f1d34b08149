"""Requests and answers of the sandbox's Laravel application, and the request helpers every controller shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from bulkbackup.sandbox._laravel import (
    InvalidJson,
    clean_input,
    expects_json,
    is_json_request,
    json_body,
    php_json_decode,
    pretty_json_body,
    request_input,
)

JSON = "application/json"
HTML = "text/html; charset=UTF-8"

NOT_FOUND = json_body({"message": "Not found.", "docs": "https://coolify.io/docs"})
_ERROR_PAGE = """<!DOCTYPE html>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{title}</title>
    </head>
    <body class="antialiased">
        <div class="flex items-center pt-8 sm:justify-start sm:pt-0">
            <div class="px-4 text-lg">{status}</div>
            <div class="ml-4 text-lg uppercase tracking-wider">{title}</div>
        </div>
    </body>
</html>
"""

CONFIG_NOT_FOUND = {"message": "Backup configuration not found."}
"""The 404 of a backup configuration the team does not have (GET executions, PATCH, DELETE)."""


@dataclass
class ApiRequest:
    method: str
    target: str  # the raw request target: path and query
    headers: Mapping[str, str]  # case-insensitive .get(), like http.client.HTTPMessage
    body: bytes = b""
    client_ip: str = "127.0.0.1"


@dataclass
class ApiResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    from_app: bool = True  # False for what a proxy in front of Laravel answers (no Laravel headers)


def json_response(status: int, payload: object) -> ApiResponse:
    return ApiResponse(status, json_body(payload))


def error_page(status: int, title: str) -> bytes:
    return _ERROR_PAGE.format(status=status, title=title).encode()


def exception_response(request: ApiRequest, status: int, message: str, title: str) -> ApiResponse:
    """An exception rendered by Laravel's handler: pretty JSON if the client expects JSON, else the HTML view."""
    if expects_json(request.headers.get("Accept"), request.headers.get("X-Requested-With")):
        return ApiResponse(status, pretty_json_body({"message": message}))
    return ApiResponse(status, error_page(status, title), HTML)


def parse_query(query: str) -> dict[str, object]:
    """PHP's query-string parsing ($_GET): later keys win, "." and " " in names become "_", a[]/a[k] arrays."""
    result: dict[str, object] = {}
    if not query:
        return result  # the usual case: no query string at all
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = unquote_plus(name).lstrip(" "), unquote_plus(value)
        base, bracket, rest = name.partition("[")
        base = base.replace(" ", "_").replace(".", "_")
        if not base:
            continue
        if bracket and "]" in rest:
            key = rest.split("]", 1)[0]
            container = result.get(base)
            if not isinstance(container, dict):
                container = result[base] = {}
            container[key if key else str(len(container))] = value
        else:
            result[base] = value
    return result


def request_data(request: ApiRequest, query: dict[str, object]) -> dict[str, object]:
    """`$request->all()`: the JSON body when the request is JSON, plus the query string, cleaned."""
    body: dict[str, object] = {}
    if request.body and is_json_request(request.headers.get("Content-Type")):
        try:
            body = request_input(php_json_decode(request.body))
        except InvalidJson:
            body = {}
    return merge(clean_input(body), clean_input(query))


def merge(body: dict[str, object], query: dict[str, object]) -> dict[str, object]:
    """PHP's `$input + $query`: body keys win, query keys are added after them."""
    merged = dict(body)
    for key, value in query.items():
        merged.setdefault(key, value)
    return merged


def invalid_request(error: str) -> ApiResponse:
    return json_response(400, {"message": "Invalid request.", "error": error})


def validation_failed(errors: dict[str, list[str]]) -> ApiResponse:
    return json_response(422, {"message": "Validation failed.", "errors": errors})
