"""What one answer (or its absence) means for a row of a run: its outcome, and whether it stops the instance's lane.

The run (`run.py`) sends; this module only reads what came back, so the words a row ends with are in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bulkbackup._coolify.answers import Answer
from bulkbackup._coolify.connection import describe_transport_error
from bulkbackup._core.operations import Operation, Outcome
from bulkbackup._core.statuses import Action, Status

if TYPE_CHECKING:
    import requests  # for annotations only: requests loads with the first Client (see retry.py)


def answered(answer: Answer, operation: Operation, attempts: int, elapsed: float) -> Outcome:
    if answer.ok:
        status = {Action.TRIGGER: Status.TRIGGERED, Action.CREATE: Status.CREATED, Action.DELETE: Status.DELETED}
        message = answer.message or "OK"
        if operation.starts_backup:
            message += "; backup started"
        body = answer.body
        created = body.get("uuid") if operation.action is Action.CREATE and isinstance(body, dict) else None
        return Outcome(
            status.get(operation.action, Status.UPDATED),
            answer.code,
            message,
            attempts,
            elapsed,
            backup_uuid=created if isinstance(created, str) else None,
        )
    message = answer.summary
    if answer.code in (401, 403):
        message += f" ({answer.auth_hint})"  # what a 403 means: a read-only token, the IP allowlist…
    return Outcome(Status.REJECTED, answer.code, message, attempts, elapsed)


def auth_stop(answer: Answer) -> str | None:
    """Why a 401/403 answer stops its instance's lane (None for any other answer): no other request may go out
    with a token the server refuses."""
    if answer.code not in (401, 403):
        return None
    return f"the server answered {answer.code} {answer.message or answer.reason} ({answer.auth_hint})"


def describe(attempted, answer: Answer | None) -> str:
    if answer is not None:
        return f"server error {answer.code} {answer.message}".strip()
    error = attempted.error
    return describe_transport_error(error) if error else "no answer"


def uncertain(operation: Operation, path: str) -> str:
    """Why a request with an uncertain outcome was not sent again, and how to find out what it did."""
    if operation.action is Action.CREATE:
        return (
            "the configuration may have been created and the request was not re-sent, because a second POST makes "
            f"a second schedule; check GET /api/v1/databases for a new configuration on {operation.ref.database_uuid}"
        )
    if operation.action is Action.DELETE:
        return f"the configuration may have been deleted; check GET /api/v1{path} (404: it is gone)"
    return (
        "the request may have taken effect and was not re-sent because it starts a backup; "
        f"check GET /api/v1{path}/executions before triggering again"
    )


def status_of(response: requests.Response | None) -> int | None:
    return None if response is None else response.status_code
