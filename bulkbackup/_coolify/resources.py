"""The API's resources, as the Client's methods: what each endpoint returns and the shape it must have."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from bulkbackup._core.errors import ApiError
from bulkbackup._core.fields import uuid_problem

if TYPE_CHECKING:
    import threading

    import requests

__all__ = ["Resources"]


class Resources:
    """Mixed into `Client`: each method is one GET, through `get_json` (retried, checked, errors explained)."""

    def get_json(self, path: str, *, stop: threading.Event | None = None) -> object:  # pragma: no cover - Client's
        raise NotImplementedError

    def _get(self, path: str, *, stop: threading.Event | None = None) -> requests.Response:  # pragma: no cover
        raise NotImplementedError

    def _list(self, path: str) -> list[dict]:
        body = self.get_json(path)
        if not isinstance(body, list):
            raise ApiError(f"GET {path}: expected a JSON array, got {type(body).__name__}", status=200)
        return body

    def list_databases(self) -> list[dict]:
        """Every database of the token's team, each with its `backup_configs`."""
        return self._list("/databases")

    def list_projects(self) -> list[dict]:
        """The token's team's projects: `id`, `uuid`, `name`, `description` each (one `GET /api/v1/projects`)."""
        return self._list("/projects")

    def get_project(self, uuid: str) -> dict:
        """One project with its `environments` (`id`, `uuid`, `name`, …): `GET /api/v1/projects/{uuid}`."""
        problem = uuid_problem(str(uuid))
        if problem:
            raise ValueError(f"project {problem}")
        body = self.get_json(f"/projects/{uuid}")
        if not isinstance(body, dict):
            raise ApiError(f"GET /projects/{uuid}: expected a JSON object, got {type(body).__name__}", status=200)
        return body

    def list_executions(self, database_uuid: str, backup_uuid: str) -> list[dict]:
        """The runs of one backup configuration, newest first (`{"executions": [...]}` on the wire)."""
        database, backup = (quote(str(uuid), safe="") for uuid in (database_uuid, backup_uuid))
        body = self.get_json(f"/databases/{database}/backups/{backup}/executions")
        runs = body.get("executions") if isinstance(body, dict) else None
        if not isinstance(runs, list):
            raise ApiError(f"GET …/{backup}/executions: expected {{'executions': [...]}}, got {type(body).__name__}")
        return [run for run in runs if isinstance(run, dict)]

    def list_storages(self) -> list[dict]:
        """The team's S3 storages (`GET /api/v1/s3-storages`, Coolify 4.3.0 and later). The server sends `key` and
        `secret` to some tokens: they are dropped here, before anything else sees them."""
        try:
            listed = self._list("/s3-storages")
        except ApiError as error:
            if error.status != 404:
                raise
            raise ApiError(
                f"{error} — this Coolify has no GET /api/v1/s3-storages: it was added in Coolify 4.3.0",
                status=404,
            ) from None
        return [
            {k: v for k, v in s.items() if k not in ("key", "secret")} if isinstance(s, dict) else s for s in listed
        ]

    def version(self) -> str:
        """The Coolify version, e.g. "4.3.11" (needs the read ability and an enabled API)."""
        return self._get("/version").text.strip()
