"""Idempotency-Key on creating POSTs: replay, conflict (other body, other route), scope per
workspace, bad keys; and every creating POST of the combined app is covered (new routes
included)."""

from __future__ import annotations

import boto3
import pytest
from fastapi.routing import APIRoute

from engram.idempotency import IdempotentRoute
from engram_local.app import build_app, routers

# Not keyed on purpose (see engram/accounts/routes.py): replaying token responses.
UNKEYED = {("POST", "/v1/auth/register")}


def post(client, auth, key, body):
    return client.post("/v1/sessions", json=body, headers={**auth, "Idempotency-Key": key})


def test_same_key_and_body_replays_the_first_response(client, auth, aws_env):
    first = post(client, auth, "k-1", {"project_name": "p"})
    second = post(client, auth, "k-1", {"project_name": "p"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 1
    table = boto3.resource("dynamodb").Table(aws_env.tables["IdempotencyTable"])
    assert table.scan()["Items"][0]["status"] == "COMPLETED"


def test_same_key_other_body_is_409_and_writes_nothing(client, auth):
    assert post(client, auth, "k-2", {"project_name": "p"}).status_code == 201
    response = post(client, auth, "k-2", {"project_name": "q"})
    assert response.status_code == 409
    assert "different request" in response.json()["detail"]
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 1


def test_same_key_on_another_route_is_409_and_writes_nothing(client, auth):
    session = post(client, auth, "k-route", {}).json()
    headers = {**auth, "Idempotency-Key": "k-route"}
    response = client.post("/v1/memories", json={"content": "x"}, headers=headers)
    assert response.status_code == 409 and "another route" in response.json()["detail"]
    elsewhere = client.post(f"/v1/sessions/{session['session_id']}/end", json={}, headers=headers)
    assert elsewhere.status_code == 409
    assert client.get("/v1/memories", headers=auth).json()["count"] == 0
    fetched = client.get(f"/v1/sessions/{session['session_id']}", headers=auth).json()
    assert fetched["status"] == "active"


def test_keys_are_scoped_to_the_workspace(client, auth, other_auth):
    mine = post(client, auth, "shared", {"project_name": "p"}).json()
    theirs = post(client, other_auth, "shared", {"project_name": "p"})
    assert theirs.status_code == 201
    assert theirs.json()["session_id"] != mine["session_id"]
    assert theirs.json()["workspace_id"] != mine["workspace_id"]


def test_a_failed_request_is_not_replayed(client, auth):
    assert post(client, auth, "k-3", {"session_id": "bad id"}).status_code == 422
    taken = post(client, auth, "k-4", {"session_id": "sess_fixed"})
    assert taken.status_code == 201
    conflict = post(client, auth, "k-5", {"session_id": "sess_fixed"})
    assert conflict.status_code == 409
    again = post(client, auth, "k-5", {"session_id": "sess_fixed"})
    assert again.status_code == 409 and "idempotent-replayed" not in again.headers


@pytest.mark.parametrize("key", ["x" * 256, ""])
def test_bad_keys_are_422(client, auth, key):
    response = post(client, auth, key, {})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 0


def test_a_key_of_255_characters_is_fine(client, auth):
    assert post(client, auth, "k" * 255, {}).status_code == 201


def test_without_credentials_it_is_still_401(client):
    response = client.post("/v1/sessions", json={}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 401


def test_every_creating_post_takes_an_idempotency_key():
    creating = [
        r
        for router in routers()
        for r in router.routes
        if isinstance(r, APIRoute)
        and "POST" in r.methods
        and r.status_code == 201
        and ("POST", r.path) not in UNKEYED
    ]
    assert creating
    missing = [r.path for r in creating if not isinstance(r, IdempotentRoute)]
    assert not missing, f"creating POSTs without Idempotency-Key (use IdempotentRoute): {missing}"
    spec = build_app().openapi()["paths"]
    for route in creating:
        names = [p["name"] for p in spec[route.path]["post"].get("parameters", [])]
        assert "Idempotency-Key" in names, route.path


def test_a_twin_of_a_request_in_progress_is_409_with_retry_after(client, auth, aws_env):
    """The first request's record says INPROGRESS (as while it runs on another instance):
    its twin is told to come back shortly, with a Retry-After to honour."""
    assert post(client, auth, "k-busy", {"project_name": "p"}).status_code == 201
    table = boto3.resource("dynamodb").Table(aws_env.tables["IdempotencyTable"])
    (record,) = table.scan()["Items"]
    far = 4_102_444_800_000  # 2100-01-01 in ms: the first request has not timed out
    table.put_item(Item={**record, "status": "INPROGRESS", "in_progress_expiration": far})
    response = post(client, auth, "k-busy", {"project_name": "p"})
    assert response.status_code == 409
    assert "still in progress" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) >= 1
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 1
