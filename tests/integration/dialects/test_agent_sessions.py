"""The agent-sessions dialect (its seed is the contract: it has no public client) through
the combined app, against moto: every route of the seed with its shapes."""

from __future__ import annotations

BASE = "/agent-sessions/api/sessions"


def _create(client, auth, **body):
    response = client.post(BASE, json={"agent_id": "CLAUDE_CODE", **body}, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_answers_the_seeds_session_with_status_created(client, auth):
    made = _create(client, auth, task_id="task-xyz")
    assert made["id"].startswith("sess_") and made["agent_id"] == "CLAUDE_CODE"
    assert made["task_id"] == "task-xyz" and made["status"] == "created"
    assert made["created_at"].endswith("Z") and made["message_count"] == 0
    # the same session on /v1
    assert client.get(f"/v1/sessions/{made['id']}", headers=auth).json()["status"] == "created"


def test_the_prompt_is_the_first_message(client, auth):
    made = _create(client, auth, prompt="Initial prompt for the session")
    got = client.get(f"{BASE}/{made['id']}", headers=auth).json()
    assert got["message_count"] == 1 and got["last_active"] >= got["created_at"]
    window = client.get(f"/v1/sessions/{made['id']}/messages", headers=auth).json()
    assert [m["content"] for m in window["messages"]] == ["Initial prompt for the session"]


def test_agent_id_is_required(client, auth):
    response = client.post(BASE, json={"task_id": "t"}, headers=auth)
    assert response.status_code == 422 and "agent_id" in response.json()["detail"]


def test_list_filters_by_task_agent_and_status(client, auth):
    a = _create(client, auth, task_id="task-a")
    _create(client, auth, task_id="task-b", agent_id="OTHER")
    listed = client.get(BASE, params={"task_id": "task-a"}, headers=auth).json()
    assert [s["id"] for s in listed["sessions"]] == [a["id"]]
    assert listed["sessions"][0]["last_active"] and "message_count" in listed["sessions"][0]
    by_agent = client.get(BASE, params={"agent_id": "OTHER"}, headers=auth).json()
    assert [s["task_id"] for s in by_agent["sessions"]] == ["task-b"]
    assert client.get(BASE, params={"status": "paused"}, headers=auth).json()["sessions"] == []


def test_list_pages_by_offset(client, auth):
    made = [_create(client, auth)["id"] for _ in range(5)]
    first = client.get(BASE, params={"limit": 2}, headers=auth).json()
    rest = client.get(BASE, params={"limit": 10, "offset": 2}, headers=auth).json()
    assert first["has_more"] is True and rest["has_more"] is False
    seen = [s["id"] for s in first["sessions"] + rest["sessions"]]
    assert sorted(seen) == sorted(made) and len(set(seen)) == 5


def test_patch_changes_status_and_data_and_adds_the_prompt(client, auth):
    made = _create(client, auth)
    response = client.patch(
        f"{BASE}/{made['id']}",
        json={"status": "paused", "data": {"notes": "Paused for review"}, "prompt": "Go on"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["status"] == "paused" and got["data"] == {"notes": "Paused for review"}
    assert got["message_count"] == 1
    assert client.get(f"{BASE}/{made['id']}", headers=auth).json() == got


def test_an_illegal_status_move_is_409(client, auth):
    made = _create(client, auth)
    assert client.patch(
        f"{BASE}/{made['id']}", json={"status": "completed"}, headers=auth
    ).is_success
    response = client.patch(f"{BASE}/{made['id']}", json={"status": "active"}, headers=auth)
    assert response.status_code == 409 and response.json()["detail"]


def test_message_is_stored_in_the_conversation(client, auth):
    made = _create(client, auth)
    response = client.post(
        f"{BASE}/{made['id']}/message",
        json={"content": "Please continue with the implementation"},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["status"] == "sent" and sent["message_id"] and sent["timestamp"].endswith("Z")
    window = client.get(f"/v1/sessions/{made['id']}/messages", headers=auth).json()
    assert window["messages"][0]["memory_id"] == sent["message_id"]
    assert window["messages"][0]["role"] == "user"


def test_delete_then_404(client, auth):
    made = _create(client, auth)
    assert client.delete(f"{BASE}/{made['id']}", headers=auth).status_code == 204
    response = client.get(f"{BASE}/{made['id']}", headers=auth)
    assert response.status_code == 404 and response.json()["detail"]


def test_another_workspace_sees_nothing(client, auth, other_auth):
    made = _create(client, auth)
    assert client.get(f"{BASE}/{made['id']}", headers=other_auth).status_code == 404
    assert client.get(BASE, headers=other_auth).json()["sessions"] == []
