"""The agent registry (/v1/agents) and the caller's workspace (/v1/workspaces), through the
combined app and moto."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engram.clock import SystemClock


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_register_list_get_delete(client, auth):
    made = _ok(
        client.post(
            "/v1/agents",
            json={"name": "Researcher", "description": "reads", "config": {"model": "x"}},
            headers=auth,
        ),
        201,
    )
    assert made["agent_id"].startswith("agt_") and made["name"] == "Researcher"
    assert made["config"] == {"model": "x"} and made["last_active_at"] is None
    named = _ok(
        client.post("/v1/agents", json={"agent_id": "bot-1", "name": "Bot"}, headers=auth), 201
    )
    again = client.post("/v1/agents", json={"agent_id": "bot-1", "name": "Bot"}, headers=auth)
    assert _ok(again, 409) and "already registered" in again.json()["detail"]
    listed = _ok(client.get("/v1/agents", headers=auth))
    assert sorted(a["agent_id"] for a in listed["data"]) == sorted(
        [made["agent_id"], named["agent_id"]]
    )
    assert [
        a["agent_id"] for a in _ok(client.get("/v1/agents?offset=1", headers=auth))["data"]
    ] == [listed["data"][1]["agent_id"]]
    assert _ok(client.get("/v1/agents/bot-1", headers=auth))["name"] == "Bot"
    assert client.delete("/v1/agents/bot-1", headers=auth).status_code == 204
    assert client.get("/v1/agents/bot-1", headers=auth).status_code == 404
    assert client.delete("/v1/agents/bot-1", headers=auth).status_code == 404


def test_stats_count_memories_errors_sessions_and_activity(client, auth, monkeypatch):
    now = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]
    monkeypatch.setattr(SystemClock, "now", lambda self: now[0])
    _ok(client.post("/v1/agents", json={"agent_id": "bot-1", "name": "Bot"}, headers=auth), 201)
    old = _ok(
        client.post(
            "/v1/memories",
            json={"content": "old error", "agent_id": "bot-1", "event_type": "error"},
            headers=auth,
        ),
        201,
    )
    now[0] = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # two days on: the first is not in 24 h
    body = {
        "memories": [
            {"content": "a", "agent_id": "bot-1", "event_type": "tool_error"},
            {"content": "b", "agent_id": "bot-1", "memory_type": "decision"},
            {"content": "c", "agent_id": "bot-1", "memory_type": "decision"},
            {"content": "other agent", "agent_id": "bot-2", "event_type": "error"},
        ]
    }
    made = _ok(client.post("/v1/memories", json=body, headers=auth), 201)["memories"]
    now[0] = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    _ok(client.post("/v1/sessions", json={"agent_id": "bot-1"}, headers=auth), 201)
    ended = _ok(client.post("/v1/sessions", json={"agent_id": "bot-1"}, headers=auth), 201)
    _ok(client.post(f"/v1/sessions/{ended['session_id']}/end", json={}, headers=auth))
    client.delete(f"/v1/memories/{made[2]['memory_id']}", headers=auth)
    client.patch(f"/v1/memories/{old['memory_id']}", json={"memory_type": "fact"}, headers=auth)
    stats = _ok(client.get("/v1/agents/bot-1/stats", headers=auth))
    assert stats == {
        "agent_id": "bot-1",
        "memory_count": 3,
        "memories_24h": 2,
        "errors_24h": 1,
        "memory_types": {"episodic": 1, "decision": 1, "fact": 1},
        "session_count": 2,
        "active_sessions": 1,
        "last_active_at": stats["last_active_at"],
    }
    assert stats["last_active_at"] >= "2026-03-03T10:00:00.000Z"
    assert (
        _ok(client.get("/v1/agents/bot-1", headers=auth))["last_active_at"]
        == stats["last_active_at"]
    )


def test_a_bound_key_sees_and_registers_only_its_agent(client, auth, make_key):
    bound = {"x-api-key": make_key(scopes=["read", "write"], agent_id="bot-b")}
    _ok(client.post("/v1/agents", json={"agent_id": "bot-a", "name": "A"}, headers=auth), 201)
    refused = client.post("/v1/agents", json={"agent_id": "bot-a2", "name": "x"}, headers=bound)
    assert refused.status_code == 403
    mine = _ok(client.post("/v1/agents", json={"name": "Mine"}, headers=bound), 201)
    assert mine["agent_id"] == "bot-b"
    assert [a["agent_id"] for a in _ok(client.get("/v1/agents", headers=bound))["data"]] == [
        "bot-b"
    ]
    assert client.get("/v1/agents/bot-a", headers=bound).status_code == 404
    assert client.get("/v1/agents/bot-a/stats", headers=bound).status_code == 404


def test_another_workspace_never_sees_the_agent(client, auth, other_auth):
    _ok(client.post("/v1/agents", json={"agent_id": "bot-a", "name": "A"}, headers=auth), 201)
    assert client.get("/v1/agents/bot-a", headers=other_auth).status_code == 404
    assert _ok(client.get("/v1/agents", headers=other_auth))["data"] == []
    made = client.post("/v1/agents", json={"agent_id": "bot-a", "name": "B"}, headers=other_auth)
    assert made.status_code == 201  # ids are per workspace


@pytest.mark.parametrize(
    "body, phrase",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "agent_id": "bad id"}, "letters"),
        ({"name": "x", "config": {"n": 10**40}}, "38 digits"),
        ({"name": "x", "colour": 1}, "Unknown field"),
    ],
)
def test_bad_agents_are_422(client, auth, body, phrase):
    response = client.post("/v1/agents", json=body, headers=auth)
    assert response.status_code == 422 and phrase in response.json()["detail"]


def test_workspaces_answer_the_callers_own(client, auth, other_auth, workspace):
    ws = workspace[0]
    listed = _ok(client.get("/v1/workspaces", headers=auth))
    assert [w["workspace_id"] for w in listed["data"]] == [ws.workspace_id] and listed["count"] == 1
    one = _ok(client.get(f"/v1/workspaces/{ws.workspace_id}", headers=auth))
    assert one["name"] == ws.name and one["memory_count"] == 0
    assert client.get(f"/v1/workspaces/{ws.workspace_id}", headers=other_auth).status_code == 404
    assert client.get("/v1/workspaces?limit=5", headers=auth).status_code == 422
