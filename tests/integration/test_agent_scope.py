"""A key bound to an agent sees and writes only that agent's sessions and memories: the
memory, conversation and context routes (sessions are covered with the keys tests)."""

import pytest


@pytest.fixture
def bound(make_key):
    return {"x-api-key": make_key(agent_id="bot-a", scopes=["read", "write"])}


def _memory(client, headers, **body):
    body.setdefault("content", "a memory")
    response = client.post("/v1/memories", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_memories_written_by_a_bound_key_carry_its_agent(client, bound):
    assert _memory(client, bound)["agent_id"] == "bot-a"
    other = client.post("/v1/memories", json={"content": "x", "agent_id": "bot-b"}, headers=bound)
    assert other.status_code == 403


def test_a_bound_key_sees_only_its_agents_memories(client, auth, bound):
    mine = _memory(client, bound)["memory_id"]
    theirs = _memory(client, auth, agent_id="bot-b")["memory_id"]
    unowned = _memory(client, auth)["memory_id"]
    listed = [m["memory_id"] for m in client.get("/v1/memories", headers=bound).json()["data"]]
    assert listed == [mine]
    assert client.get("/v1/memories?agent_id=bot-b", headers=bound).status_code == 403
    for memory_id in (theirs, unowned):
        assert client.get(f"/v1/memories/{memory_id}", headers=bound).status_code == 404
        assert (
            client.patch(
                f"/v1/memories/{memory_id}", json={"title": "x"}, headers=bound
            ).status_code
            == 404
        )
        assert client.delete(f"/v1/memories/{memory_id}", headers=bound).status_code == 404
        assert client.delete(f"/v1/memories/{memory_id}/hard", headers=bound).status_code == 404
    assert client.get(f"/v1/memories/{theirs}", headers=auth).status_code == 200  # untouched
    diff = client.get("/v1/memories/diff", headers=bound).json()
    assert [m["memory_id"] for m in diff["added"]] == [mine]


def test_conversation_and_context_of_another_agents_session_are_404(client, auth, bound):
    theirs = client.post("/v1/sessions", json={"agent_id": "bot-b"}, headers=auth).json()[
        "session_id"
    ]
    for path in ("messages", "history", "checkpoints", "embedding-status", "context"):
        assert client.get(f"/v1/sessions/{theirs}/{path}", headers=bound).status_code == 404
    post = client.post(
        f"/v1/sessions/{theirs}/messages", json={"role": "user", "content": "hi"}, headers=bound
    )
    assert post.status_code == 404
    assert client.delete(f"/v1/sessions/{theirs}/memories", headers=bound).status_code == 404
    mine = client.post("/v1/sessions", json={}, headers=bound).json()["session_id"]
    sent = client.post(
        f"/v1/sessions/{mine}/messages", json={"role": "user", "content": "hi"}, headers=bound
    )
    assert sent.status_code == 201
    _memory(
        client, auth, content="another agent's decision", memory_type="decision", agent_id="bot-b"
    )
    _memory(client, bound, content="our decision", memory_type="decision")
    context = client.get(f"/v1/sessions/{mine}/context", headers=bound).json()
    assert [m["narrative"] for m in context["context"]["recent_memories"]] == ["our decision"]
