"""The Memtrace dialect's memories, search and agents through the combined app against moto:
what its SDK's tests (tests/e2e/seed_clients) cannot show: types it cannot read stay out of
its lists, bad input is a 422 sentence in its shape, a batch is all or nothing, and keys
bound to an agent or read-only behave as on /v1."""

from __future__ import annotations

BASE = "/memtrace/api/v1"


def _memory(agent: str = "agent_a", **fields) -> dict:
    return {
        "agent_id": agent,
        "memory_type": "episodic",
        "event_type": "general",
        "content": "x",
        **fields,
    }


def test_lists_and_search_show_memtraces_types_only(client, auth):
    made = client.post(f"{BASE}/memories", json=_memory(content="seen"), headers=auth)
    assert made.status_code == 201, made.text
    engram_only = {"content": "a fact", "memory_type": "fact", "agent_id": "agent_a"}
    assert client.post("/v1/memories", json=engram_only, headers=auth).status_code == 201
    listed = client.get(f"{BASE}/memories", params={"agent_id": "agent_a"}, headers=auth).json()
    assert [m["content"] for m in listed["memories"]] == ["seen"]
    found = client.post(f"{BASE}/search", json={"agent_id": "agent_a"}, headers=auth).json()
    assert [m["content"] for m in found["results"]] == ["seen"]
    assert found["results"][0]["id"] == made.json()["id"]


def test_bad_input_is_a_422_sentence_in_memtraces_shape(client, auth):
    for response, says in (
        (client.get(f"{BASE}/memories", params={"since": "yesterday"}, headers=auth), "since"),
        (client.get(f"{BASE}/memories", params={"q": "x"}, headers=auth), "'q'"),
        (client.post(f"{BASE}/search", json={"query": "x"}, headers=auth), "query"),
        (client.post(f"{BASE}/memories", json=_memory(memory_type="fact"), headers=auth), ""),
        (client.post(f"{BASE}/agents", json={"name": ""}, headers=auth), "name"),
    ):
        assert response.status_code == 422, response.text
        assert says in response.json()["error"] and "detail" not in response.json()


def test_a_batch_is_stored_whole_or_not_at_all(client, auth):
    batch = {"memories": [_memory(content="ok"), _memory(content=" ")]}
    assert client.post(f"{BASE}/memories", json=batch, headers=auth).status_code == 422
    listed = client.get(f"{BASE}/memories", headers=auth).json()
    assert listed["memories"] == []


def test_a_key_bound_to_an_agent_sees_only_that_agent(client, auth, make_key):
    bound = {"x-api-key": make_key(scopes=["read", "write"], agent_id="agent_b")}
    client.post(f"{BASE}/memories", json=_memory("agent_a", content="a's"), headers=auth)
    mine = client.post(f"{BASE}/memories", json=_memory("agent_b", content="b's"), headers=bound)
    assert mine.status_code == 201, mine.text
    other = client.post(f"{BASE}/memories", json=_memory("agent_a"), headers=bound)
    assert other.status_code == 403 and "agent_b" in other.json()["error"]
    listed = client.get(f"{BASE}/memories", headers=bound).json()
    assert [m["content"] for m in listed["memories"]] == ["b's"]
    registered = client.post(f"{BASE}/agents", json={"name": "a"}, headers=auth).json()
    assert client.get(f"{BASE}/agents/{registered['id']}", headers=bound).status_code == 404


def test_a_read_only_key_reads_but_does_not_write(client, auth, make_key):
    read = {"x-api-key": make_key(scopes=["read"])}
    assert client.post(f"{BASE}/memories", json=_memory(), headers=read).status_code == 403
    assert client.post(f"{BASE}/agents", json={"name": "a"}, headers=read).status_code == 403
    assert client.post(f"{BASE}/search", json={}, headers=read).status_code == 200
    assert client.get(f"{BASE}/agents", headers=read).status_code == 200
