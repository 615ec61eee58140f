"""API keys: create (shown once), list (prefix only), revoke at once; scopes, agent-bound
keys and expiry; bad input is a clear 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engram import wiring
from engram.clock import FixedClock


def create(client, auth, **body):
    return client.post("/v1/api-keys", json={"name": "ci", **body}, headers=auth)


def test_create_list_revoke(client, auth, workspace):
    response = create(client, auth, scopes=["read"], agent_id="bot-1")
    assert response.status_code == 201, response.text
    key = response.json()
    assert key["api_key"].startswith("ek_") and key["api_key"].startswith(key["prefix"])
    assert (key["workspace_id"], key["scopes"], key["agent_id"]) == (
        workspace[0].workspace_id,
        ["read"],
        "bot-1",
    )
    listed = client.get("/v1/api-keys", headers=auth).json()
    assert key["id"] in [k["id"] for k in listed["data"]]
    assert key["api_key"] not in str(listed)
    new_auth = {"x-api-key": key["api_key"]}
    assert client.get("/v1/sessions", headers=new_auth).status_code == 200
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=auth).status_code == 204
    assert client.get("/v1/sessions", headers=new_auth).status_code == 401  # at once
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=auth).status_code == 204


def test_another_workspaces_key_cannot_be_revoked(client, auth, other_auth):
    key = create(client, other_auth).json()
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=auth).status_code == 404
    assert client.get("/v1/sessions", headers={"x-api-key": key["api_key"]}).status_code == 200


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"scopes": ["root"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "future"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"agent_id": "bot 1"}, "agent_id"),
        ({"agent_id": "bot", "scopes": ["admin"]}, "admin"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_key_requests_are_422(client, auth, body, fragment):
    response = create(client, auth, **body)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


def test_scopes_are_enforced(client, make_key):
    reader = {"x-api-key": make_key(scopes=["read"])}
    writer = {"x-api-key": make_key(scopes=["write"])}
    assert client.get("/v1/sessions", headers=reader).status_code == 200
    assert client.post("/v1/sessions", json={}, headers=reader).status_code == 403
    assert client.post("/v1/sessions", json={}, headers=writer).status_code == 201
    assert client.get("/v1/api-keys", headers=writer).status_code == 403
    assert create(client, writer).status_code == 403


def test_expired_keys_are_refused(client, make_key, monkeypatch):
    soon = datetime.now(UTC) + timedelta(minutes=5)
    key = {"x-api-key": make_key(expires_at=soon)}
    assert client.get("/v1/sessions", headers=key).status_code == 200
    later = FixedClock(soon + timedelta(seconds=1))
    monkeypatch.setattr(wiring, "clock", lambda: later)
    response = client.get("/v1/sessions", headers=key)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_agent_bound_key_sees_and_writes_only_its_agent(client, auth, make_key):
    bot = {"x-api-key": make_key(scopes=["read", "write"], agent_id="bot-1")}
    theirs = client.post("/v1/sessions", json={"agent_id": "bot-2"}, headers=auth).json()
    unbound = client.post("/v1/sessions", json={}, headers=auth).json()
    mine = client.post("/v1/sessions", json={}, headers=bot)
    assert mine.status_code == 201 and mine.json()["agent_id"] == "bot-1"
    assert client.post("/v1/sessions", json={"agent_id": "bot-2"}, headers=bot).status_code == 403
    listed = client.get("/v1/sessions", headers=bot).json()
    assert [s["session_id"] for s in listed["data"]] == [mine.json()["session_id"]]
    assert client.get("/v1/sessions?agent_id=bot-2", headers=bot).status_code == 403
    for other in (theirs, unbound):
        sid = other["session_id"]
        assert client.get(f"/v1/sessions/{sid}", headers=bot).status_code == 404
        assert (
            client.patch(f"/v1/sessions/{sid}", json={"summary": "x"}, headers=bot).status_code
            == 404
        )
        assert client.post(f"/v1/sessions/{sid}/end", headers=bot).status_code == 404
        assert client.delete(f"/v1/sessions/{sid}", headers=bot).status_code == 404
        assert client.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "active"


def test_agent_bound_keys_cannot_use_admin_routes(client, make_key):
    bot = {"x-api-key": make_key(scopes=["read", "write"], agent_id="bot-1")}
    assert client.get("/v1/api-keys", headers=bot).status_code == 403
