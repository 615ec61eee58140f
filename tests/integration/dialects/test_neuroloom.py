"""The Neuroloom dialect's routes of its memories document (no public client speaks them:
the document is the contract) and the workspace checks its MCP server makes at start."""

from __future__ import annotations

BASE = "/neuroloom/api/v1"


def _token(workspace) -> dict[str, str]:
    return {"Authorization": f"Token {workspace[1]}"}


def test_workspaces_answer_from_the_callers_key(client, workspace, other_auth):
    auth = _token(workspace)
    listed = client.get(f"{BASE}/workspaces/", headers=auth)
    assert listed.status_code == 200, listed.text
    (only,) = listed.json()
    assert only["id"] == workspace[0].workspace_id and only["name"] == "test"
    assert only["slug"] == "test"
    assert client.get(f"{BASE}/workspaces/{only['id']}/", headers=auth).json() == only
    other = client.get(f"{BASE}/workspaces/{only['id']}/", headers=other_auth)
    assert other.status_code == 404 and other.json()["detail"].endswith("was not found.")
    # the MCP server follows no redirect: the slash routes answer as they are
    direct = client.get(f"{BASE}/workspaces/", headers=auth, follow_redirects=False)
    assert direct.status_code == 200


def test_create_get_update_delete_a_memory(client, workspace):
    auth = _token(workspace)
    body = {
        "content": "The user prefers concise technical answers with code examples.",
        "metadata": {"category": "preferences", "agentId": "assistant-v1"},
    }
    made = client.post(f"{BASE}/memories", json=body, headers=auth)
    assert made.status_code == 201, made.text
    memory = made.json()
    assert memory["id"].startswith("mem_") and memory["content"] == body["content"]
    assert memory["metadata"] == body["metadata"]
    assert memory["workspaceId"] == workspace[0].workspace_id and memory["createdAt"]
    got = client.get(f"{BASE}/memories/{memory['id']}", headers=auth).json()
    assert got["id"] == memory["id"] and got["content"] == body["content"]
    patched = client.patch(
        f"{BASE}/memories/{memory['id']}", json={"content": "Updated content text."}, headers=auth
    )
    assert patched.status_code == 200 and patched.json()["content"] == "Updated content text."
    assert patched.json()["embedding_status"] == "pending"  # new text is embedded again
    assert client.delete(f"{BASE}/memories/{memory['id']}", headers=auth).status_code == 204
    assert client.get(f"{BASE}/memories/{memory['id']}", headers=auth).status_code == 404


def test_list_is_cursor_paged(client, workspace):
    auth = _token(workspace)
    ids = [
        client.post(f"{BASE}/memories", json={"content": f"m{i}"}, headers=auth).json()["id"]
        for i in range(3)
    ]
    first = client.get(f"{BASE}/memories", params={"limit": 2}, headers=auth).json()
    assert len(first["data"]) == 2 and first["hasMore"] is True and first["nextCursor"]
    rest = client.get(
        f"{BASE}/memories", params={"limit": 2, "cursor": first["nextCursor"]}, headers=auth
    ).json()
    assert rest["hasMore"] is False
    assert sorted(m["id"] for m in first["data"] + rest["data"]) == sorted(ids)


def test_search_with_top_k_and_metadata_filters(client, workspace, pump):
    auth = _token(workspace)
    for text, category in (
        ("Deploy with blue-green releases to production.", "deploy"),
        ("Deploy notes for the staging cluster.", "staging"),
    ):
        body = {"content": text, "metadata": {"category": category}}
        assert client.post(f"{BASE}/memories", json=body, headers=auth).status_code == 201
    pump.drain_once()
    found = client.post(
        f"{BASE}/memories/search",
        json={"query": "deployment instructions", "topK": 5, "filters": {"category": "deploy"}},
        headers=auth,
    )
    assert found.status_code == 200, found.text
    results = found.json()["results"]
    assert [r["metadata"] for r in results] == [{"category": "deploy"}]
    assert results[0]["content"].startswith("Deploy with blue-green") and results[0]["score"] > 0


def test_sessions_start_list_get_patch_end(client, workspace):
    auth = _token(workspace)
    start = {
        "session_id": "sess-abc123",
        "project_name": "neuroloom",
        "branch_name": "feature/graph-api",
        "user_id": "user_01xyz",
        "metadata": {"env": "development"},
    }
    made = client.post(f"{BASE}/sessions/start", json=start, headers=auth)
    assert made.status_code == 201, made.text
    session = made.json()
    assert session["session_id"] == "sess-abc123" and session["is_active"] is True
    assert session["metadata_json"] == {"env": "development"} and "metadata" not in session
    again = client.post(f"{BASE}/sessions/start", json=start, headers=auth)
    assert again.status_code == 409
    listed = client.get(f"{BASE}/sessions/", params={"limit": 10, "offset": 0}, headers=auth)
    assert (
        listed.json()["count"] == 1 and listed.json()["results"][0]["session_id"] == "sess-abc123"
    )
    patched = client.patch(
        f"{BASE}/sessions/sess-abc123", json={"summary": "Graph API live."}, headers=auth
    ).json()
    assert patched["summary"] == "Graph API live." and patched["updated_at"]
    ended = client.post(f"{BASE}/sessions/sess-abc123/end", headers=auth).json()
    assert ended["is_active"] is False and ended["ended_at"]
    assert client.get(f"{BASE}/sessions/sess-abc123", headers=auth).json() == ended
    context = client.get(
        f"{BASE}/sessions/sess-abc123/context", params={"max_memories": 15}, headers=auth
    ).json()
    assert context["session"]["session_id"] == "sess-abc123"
    assert {"recent_memories", "recent_sessions", "workspace_summary"} <= set(context["context"])


def test_tools_no_seed_describes_are_501_sentences(client, workspace):
    auth = _token(workspace)
    memory = client.post(f"{BASE}/memories", json={"content": "x"}, headers=auth).json()
    for method, path in (
        ("GET", "/code-graph/symbols/search"),
        ("POST", "/code-graph/sync"),
        ("POST", "/documents/ingest"),
        ("GET", "/sdlc/cc-sdlc-version"),
        ("POST", "/memories/explore"),
        ("POST", f"/memories/{memory['id']}/feedback"),
        ("POST", f"/memories/{memory['id']}/access"),
    ):
        response = client.request(method, f"{BASE}{path}", headers=auth, json={})
        assert response.status_code == 501, (path, response.text)
        assert response.json()["detail"].startswith("Engram does not offer Neuroloom's")
    unknown = client.post(f"{BASE}/memories/mem_nope/retrieval", headers=auth)
    assert unknown.status_code == 404
