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


# --- the scope is in the query, before the limit -------------------------------------------

OWN, LIMIT = 5, 3  # more of the bound key's own items than a page holds


def _interleaved(client, auth, bound, **body) -> list[str]:
    """OWN memories of bot-a, each followed by one of bot-b (written with the unbound key):
    in any time order the others sit between the bound key's own. Answers bot-a's ids."""
    mine = []
    for i in range(OWN):
        mine.append(_memory(client, bound, content=f"shared words {i}", **body)["memory_id"])
        _memory(client, auth, content=f"shared words {i}", agent_id="bot-b", **body)
    return mine


def _agents(client, auth, ids):
    return {client.get(f"/v1/memories/{i}", headers=auth).json()["agent_id"] for i in ids}


def test_a_bound_key_gets_a_full_page_of_its_own_sessions(client, auth, bound):
    for _ in range(OWN):
        client.post("/v1/sessions", json={}, headers=bound)
        client.post("/v1/sessions", json={"agent_id": "bot-b"}, headers=auth)
    page = client.get(f"/v1/sessions?limit={LIMIT}", headers=bound).json()
    assert len(page["data"]) == LIMIT and {s["agent_id"] for s in page["data"]} == {"bot-a"}
    assert page["has_more"] is True
    assert client.get("/v1/sessions?agent_id=bot-b", headers=bound).status_code == 403
    assert client.get("/v1/sessions?agent_id=bot-a", headers=bound).status_code == 200


def test_a_bound_key_gets_a_full_page_of_its_own_memories(client, auth, bound):
    _interleaved(client, auth, bound)
    page = client.get(f"/v1/memories?limit={LIMIT}", headers=bound).json()
    assert len(page["data"]) == LIMIT and {m["agent_id"] for m in page["data"]} == {"bot-a"}
    rest = client.get(f"/v1/memories?cursor={page['next_cursor']}", headers=bound).json()
    assert len(page["data"]) + len(rest["data"]) == OWN
    assert client.get("/v1/memories?agent_id=bot-b", headers=bound).status_code == 403


def test_a_bound_key_gets_a_full_page_of_its_own_search_results(client, auth, bound, pump):
    _interleaved(client, auth, bound)
    pump.drain_once()
    for mode in ("keyword", "semantic", "hybrid"):
        body = {"query": "shared words", "limit": LIMIT, "search_mode": mode}
        response = client.post("/v1/memories/search", json=body, headers=bound)
        assert response.status_code == 200, response.text
        hits = [r["memory_id"] for r in response.json()["results"]]
        assert len(hits) == LIMIT and _agents(client, auth, hits) == {"bot-a"}, mode
    listing = client.post("/v1/memories/search", json={"limit": LIMIT}, headers=bound).json()
    assert _agents(client, auth, [r["memory_id"] for r in listing["results"]]) == {"bot-a"}
    assert len(listing["results"]) == LIMIT
    other = {"query": "shared words", "agent_id": "bot-b"}
    refused = client.post("/v1/memories/search", json=other, headers=bound)
    assert refused.status_code == 403 and "bot-a" in refused.json()["detail"]
    own = client.post("/v1/memories/search", json={**other, "agent_id": "bot-a"}, headers=bound)
    assert own.status_code == 200 and own.json()["results"]


def test_a_bound_key_gets_a_full_context_of_its_own_memories(client, auth, bound, pump):
    session = client.post("/v1/sessions", json={}, headers=bound).json()["session_id"]
    _interleaved(client, auth, bound, memory_type="decision")
    pump.drain_once()
    query = f"max_memories={LIMIT}&query=shared%20words"
    for scope in ("workspace", "project"):
        response = client.get(
            f"/v1/sessions/{session}/context?{query}&scope={scope}", headers=bound
        )
        assert response.status_code == 200, response.text
        context = response.json()["context"]
        if scope == "workspace":
            recent = [m["memory_id"] for m in context["recent_memories"]]
            assert len(recent) == LIMIT and _agents(client, auth, recent) == {"bot-a"}
        relevant = [m["memory_id"] for m in context["relevant_memories"]]
        assert len(relevant) == LIMIT and _agents(client, auth, relevant) == {"bot-a"}, scope


def test_a_bound_keys_session_context_leaves_out_other_agents_memories_in_it(client, auth, bound):
    session = client.post("/v1/sessions", json={}, headers=bound).json()["session_id"]
    mine = _interleaved(client, auth, bound, memory_type="decision", session_id=session)
    url = f"/v1/sessions/{session}/context?max_memories={LIMIT}&scope=session"
    recent = client.get(url, headers=bound).json()["context"]["recent_memories"]
    assert len(recent) == LIMIT and {m["memory_id"] for m in recent} <= set(mine)


def test_a_bound_key_gets_a_full_diff_of_its_own_changes(client, auth, bound):
    mine = _interleaved(client, auth, bound)
    diff = client.get(f"/v1/memories/diff?limit={LIMIT}", headers=bound).json()
    assert [m["memory_id"] for m in diff["added"]] == mine[:LIMIT]
    assert diff["count"] == LIMIT
    session = client.post("/v1/sessions", json={}, headers=bound).json()["session_id"]
    in_session = _interleaved(client, auth, bound, session_id=session)
    diff = client.get(f"/v1/memories/diff?limit={LIMIT}&session_id={session}", headers=bound)
    assert [m["memory_id"] for m in diff.json()["added"]] == in_session[:LIMIT]


def test_a_bound_key_forgets_only_its_own_memories_of_a_session(client, auth, bound):
    session = client.post("/v1/sessions", json={}, headers=bound).json()["session_id"]
    _interleaved(client, auth, bound, session_id=session)
    forgotten = client.delete(f"/v1/sessions/{session}/memories", headers=bound).json()
    assert forgotten["forgotten"] == OWN
    left = client.get(f"/v1/memories?session_id={session}", headers=auth).json()["data"]
    assert {m["agent_id"] for m in left} == {"bot-b"} and len(left) == OWN
