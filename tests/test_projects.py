"""The project endpoints as docs/coolify-projects.md reads them from Coolify's source, and inventory()'s use of them."""

from __future__ import annotations

import re

import pytest
import requests

import bulkbackup as bb
from bulkbackup._core.fields import INVENTORY_COLUMNS
from bulkbackup.sandbox import Sandbox
from bulkbackup.sandbox._fleet import Project

LARAVEL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z")
PUBLIC_ID = re.compile(r"[a-z0-9]{24}")
ENVIRONMENT_KEYS = ["id", "name", "project_id", "created_at", "updated_at", "description", "uuid"]
PROJECT_TAIL = ["environments", "icon_path", "icon_s3_storage_id", "icon_storage_type", "team_id"]


def call(sb, path, token=None):
    headers = {"Authorization": f"Bearer {token or sb.token}", "Accept": "application/json"}
    return requests.get(f"{sb.endpoint}{path}", headers=headers, timeout=30)


def test_project_listing_has_the_selected_columns_in_serialize_api_response_order(sandbox):
    response = call(sandbox, "/projects")
    assert response.status_code == 200
    projects = response.json()
    assert [p["id"] for p in projects] == sorted(p["id"] for p in projects)
    with_description = [p for p in projects if p["description"]]
    without = [p for p in projects if not p["description"]]
    assert with_description and without  # the seeded fleet shows both orders
    assert all(list(p) == ["id", "uuid", "description", "name"] for p in with_description)
    assert all(list(p) == ["id", "uuid", "name", "description"] and p["description"] is None for p in without)
    assert all(PUBLIC_ID.fullmatch(p["uuid"]) for p in projects)
    assert "Globex Platform" not in {p["name"] for p in projects}  # another team's project


def test_one_project_carries_every_column_and_its_environments_in_column_order(sandbox):
    listed = call(sandbox, "/projects").json()
    for summary in listed[:4]:
        project = call(sandbox, f"/projects/{summary['uuid']}").json()
        head = (
            ["id", "uuid", "description", "name"] if project["description"] else ["id", "uuid", "name", "description"]
        )
        assert list(project) == [*head, *PROJECT_TAIL, "created_at", "updated_at"]
        assert project["team_id"] == 1 and project["icon_path"] is None
        assert LARAVEL_TIME.fullmatch(project["created_at"])
        environments = project["environments"]
        assert environments and environments[0]["name"] == "production"  # made with the project
        assert [e["id"] for e in environments] == sorted(e["id"] for e in environments)
        for environment in environments:
            assert list(environment) == ENVIRONMENT_KEYS
            assert environment["project_id"] == project["id"]
            assert PUBLIC_ID.fullmatch(environment["uuid"])
        short = call(sandbox, f"/projects/{summary['uuid']}/environments").json()
        assert short == [{"id": e["id"], "uuid": e["uuid"], "name": e["name"]} for e in environments]


def test_databases_carry_only_an_environment_id(sandbox):
    databases = call(sandbox, "/databases").json()
    environment_ids = {
        e["id"]
        for p in call(sandbox, "/projects").json()
        for e in call(sandbox, f"/projects/{p['uuid']}").json()["environments"]
    }
    assert all(isinstance(d["environment_id"], int) and d["environment_id"] in environment_ids for d in databases)
    assert not {"environment", "project", "project_id", "laravel_through_key", "id"} & set(databases[0])


def test_project_errors_follow_the_controller(sandbox):
    other = next(p for p in sandbox.fleet.projects if p.team_id == 2)
    for path in ("/projects/nope", f"/projects/{other.uuid}", f"/projects/{other.uuid}/environments"):
        response = call(sandbox, path)
        assert (response.status_code, response.json()) == (404, {"message": "Project not found."})
    mine = call(sandbox, "/projects").json()[0]["uuid"]
    # Request::__get reads the query before the route parameter: an empty ?uuid= hides the path's uuid.
    response = call(sandbox, f"/projects/{mine}/environments?uuid=")
    assert (response.status_code, response.json()) == (422, {"message": "Project UUID is required."})
    assert call(sandbox, f"/projects/{mine}?uuid=").status_code == 404
    assert call(sandbox, f"/projects/{other.uuid}", token=sandbox.other_team_token).status_code == 200
    assert call(sandbox, "/projects", token=sandbox.read_token).status_code == 200
    denied = call(sandbox, "/projects", token=sandbox.write_token)
    assert (denied.status_code, denied.json()) == (403, {"message": "Missing required permissions: read"})
    assert call(sandbox, "/projects", token="1|nope").status_code == 401


def test_inventory_names_each_row_s_project_and_environment(sandbox):
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        frame = bb.inventory(client)
    assert {"project_uuid", "environment_uuid"} <= set(INVENTORY_COLUMNS)
    by_uuid = {d["uuid"]: d for d in sandbox.databases}
    projects = {p.uuid: p for p in sandbox.fleet.projects}
    environments = {e.uuid: e for e in sandbox.fleet.environments}
    assert len(frame) == len(sandbox.backups) and frame[["project", "environment"]].notna().all().all()
    for row in frame.itertuples():
        database = by_uuid[row.database_uuid]
        assert (row.project, row.environment) == (database["project"], database["environment"])
        environment = environments[row.environment_uuid]
        assert environment.name == row.environment and environment.project is projects[row.project_uuid]
    assert frame["project"].nunique() >= 2 and frame["environment"].nunique() >= 2


def test_inventory_reads_projects_only_until_every_environment_is_placed():
    with Sandbox(databases=60, seed=3, rate_limit=100_000) as sb:
        used = len(sb.fleet.team_projects(1))
        # Empty projects after the used ones (as a team's newest projects often are) need not be read.
        for number in range(5):
            project = Project(1000 + number, f"emptyproject{number:012d}", f"Empty {number}", 1)
            sb.fleet.projects.append(project)
            sb.fleet.projects_by_uuid[project.uuid] = project
        assert len(call(sb, "/projects").json()) == used + 5
        for workers, most in ((1, 2 + used), (4, 2 + used + 3)):
            with bb.Client(sb.endpoint, sb.token, workers=workers) as client:
                before = sb.request_count
                frame = bb.inventory(client)
                assert 2 + used <= sb.request_count - before <= most
                assert frame["project"].notna().all() and "Empty 0" not in set(frame["project"])
    with Sandbox(databases=0, rate_limit=100_000) as sb, bb.Client(sb.endpoint, sb.token) as client:
        before = sb.request_count
        frame = bb.inventory(client)
        assert sb.request_count - before == 1 and frame.empty
        assert list(frame.columns)[:4] == ["database_uuid", "backup_uuid", "project", "environment"]


def test_inventory_with_project_columns_goes_back_in_unchanged(sandbox):
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        frame = bb.inventory(client)
        planned = bb.plan(frame, client)
    assert set(planned["action"]) == {"unchanged"}
    assert "project_uuid" not in bb.read_changes(frame).columns


def test_unsafe_project_uuid_is_refused_before_sending(sandbox):
    with bb.Client(sandbox.endpoint, sandbox.token) as client:
        before = sandbox.request_count
        with pytest.raises(ValueError, match="not a usable uuid"):
            client.get_project("../databases")
        assert sandbox.request_count == before
        assert isinstance(client.get_project(client.list_projects()[0]["uuid"])["environments"], list)


def test_a_project_deleted_after_the_listing_is_skipped_and_other_errors_are_not(sandbox, monkeypatch):
    with bb.Client(sandbox.endpoint, sandbox.token, workers=2) as client:
        listed = client.list_projects()
        gone = {"id": 999, "uuid": "deletedproject0000000000", "name": "Deleted", "description": None}
        monkeypatch.setattr(client, "list_projects", lambda: [gone, *listed])
        frame = bb.inventory(client)
        assert frame["project"].notna().all() and "Deleted" not in set(frame["project"])
        monkeypatch.setattr(client, "list_projects", lambda: [{**gone, "uuid": "bad/uuid"}, *listed])
        with pytest.raises(ValueError, match="not a usable uuid"):
            bb.inventory(client)
        monkeypatch.setattr(client, "list_projects", lambda: listed)

        def failing(uuid):
            raise bb.ApiError("GET /projects/…: 500 Server Error", status=500)

        monkeypatch.setattr(client, "get_project", failing)
        with pytest.raises(bb.ApiError, match="500 Server Error"):
            bb.inventory(client)
