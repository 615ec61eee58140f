"""Read-your-writes through the HTTP API: every write path is found by every search mode in
the first request after its 201, before any worker has run (the index holds nothing new);
an update's new content and tags likewise; a deleted memory never. Then, once the embed
worker has indexed everything, the not-yet-indexed list is empty and results are the same."""

from __future__ import annotations

from tests.integration.test_extraction import ScriptedExtractor, use_extractor  # noqa: F401

MODES = ("keyword", "semantic", "hybrid")


def _search(client, auth, query, mode, **extra):
    body = {"query": query, "search_mode": mode, **extra}
    response = client.post("/v1/memories/search", json=body, headers=auth)
    assert response.status_code == 200, response.text
    return [r["memory_id"] for r in response.json()["results"]]


def _unindexed(workspace_id):
    from engram import aws
    from engram.memories.repository import MemoryRepository

    return [s.memory.memory_id for s in MemoryRepository(aws.table()).unindexed(workspace_id, 50)]


def _store(client, auth, **body):
    response = client.post("/v1/memories", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["memory_id"]


def test_a_single_and_a_batch_write_are_found_by_the_next_search(client, auth, pump, workspace):
    single = _store(client, auth, content="Ada prefers green tea in the morning.")
    batch = client.post(
        "/v1/memories",
        json={"memories": [{"content": "Bob walks his dog at noon."}, {"content": "Cy codes."}]},
        headers=auth,
    )
    assert batch.status_code == 201
    bob = batch.json()["memories"][0]["memory_id"]
    for mode in MODES:
        assert _search(client, auth, "green tea", mode)[0] == single, mode
        assert _search(client, auth, "walking the dog", mode)[0] == bob, mode
    assert set(_unindexed(workspace[0].workspace_id)) >= {single, bob}
    pump.drain_once()
    assert _unindexed(workspace[0].workspace_id) == []  # indexed: off the list
    for mode in MODES:
        assert _search(client, auth, "green tea", mode)[0] == single, mode


def test_a_session_message_is_found_by_the_next_search(client, auth):
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    body = {"messages": [{"role": "user", "content": "Our release train leaves on Fridays."}]}
    sent = client.post(f"/v1/sessions/{sid}/messages", json=body, headers=auth)
    assert sent.status_code == 201, sent.text
    for mode in MODES:
        assert len(_search(client, auth, "release train Fridays", mode, session_id=sid)) == 1


def test_extracted_memories_are_found_before_the_embed_worker_runs(
    client,
    auth,
    pump,
    use_extractor,  # noqa: F811
):
    use_extractor(
        ScriptedExtractor([("decision", "Storage", "The team chose DynamoDB for storage.", 0.9)])
    )
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    body = {"messages": [{"role": "user", "content": "Let's go with DynamoDB."}]}
    assert client.post(f"/v1/sessions/{sid}/messages", json=body, headers=auth).status_code == 201
    assert client.post(f"/v1/sessions/{sid}/end", json={}, headers=auth).status_code == 200
    pump.run_once("ExtractQueue")  # the extract worker only: nothing is embedded yet
    made = client.get("/v1/memories?memory_type=decision", headers=auth).json()["data"]
    assert [m["embedding_status"] for m in made] == ["pending"]
    for mode in MODES:
        found = _search(client, auth, "DynamoDB storage", mode, memory_types=["decision"])
        assert found == [made[0]["memory_id"]], mode


def test_an_update_is_searched_as_it_is_now(client, auth, pump):
    memory_id = _store(client, auth, content="Ada prefers green tea.", tags=["kind:drink"])
    pump.drain_once()
    patched = client.patch(
        f"/v1/memories/{memory_id}",
        json={"content": "Ada switched to espresso coffee.", "tags": ["kind:coffee"]},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    new_tag = {"tag_filters": [{"key": "kind", "op": "eq", "value": "coffee"}]}
    old_tag = {"tag_filters": [{"key": "kind", "op": "eq", "value": "drink"}]}
    for mode in MODES:
        assert _search(client, auth, "espresso coffee", mode, **new_tag) == [memory_id], mode
        assert _search(client, auth, "espresso coffee", mode, **old_tag) == [], mode
    assert _search(client, auth, "green tea", "keyword") == []  # the index's old text is gone
    pump.drain_once()
    for mode in MODES:
        assert _search(client, auth, "espresso coffee", mode, **new_tag) == [memory_id], mode


def test_a_deleted_memory_is_never_found(client, auth, pump):
    indexed = _store(client, auth, content="Ada prefers green tea.")
    pump.drain_once()
    fresh = _store(client, auth, content="Ada also likes green tea cakes.")
    for memory_id in (indexed, fresh):
        assert client.delete(f"/v1/memories/{memory_id}", headers=auth).status_code == 200
    for mode in MODES:
        assert _search(client, auth, "green tea", mode) == [], mode
    restored = client.post(f"/v1/memories/{fresh}/restore", headers=auth)
    assert restored.status_code == 200
    for mode in MODES:
        assert _search(client, auth, "green tea", mode) == [fresh], mode  # back at once
    assert client.delete(f"/v1/memories/{fresh}/hard", headers=auth).status_code == 204
    for mode in MODES:
        assert _search(client, auth, "green tea", mode) == [], mode


def test_a_listing_without_a_query_shows_new_memories(client, auth):
    memory_id = _store(client, auth, content="Ada prefers green tea.", tags=["customer:ada"])
    body = {"tags": ["customer:ada"]}
    response = client.post("/v1/memories/search", json=body, headers=auth)
    assert [r["memory_id"] for r in response.json()["results"]] == [memory_id]


def test_pending_memories_pass_the_searchs_filters_and_the_agent_scope(client, auth, make_key):
    mine = _store(client, auth, content="Deploys happen on Fridays.", agent_id="bot-a")
    theirs = _store(client, auth, content="Deploys happen on Mondays.", agent_id="bot-b")
    assert set(_search(client, auth, "deploys", "keyword")) == {mine, theirs}
    assert _search(client, auth, "deploys", "keyword", agent_id="bot-b") == [theirs]
    bound = {"x-api-key": make_key(agent_id="bot-a", scopes=["read", "write"])}
    assert _search(client, bound, "deploys", "hybrid") == [mine]


def test_a_semantic_search_embeds_only_a_few_pending_texts(client, auth, monkeypatch):
    """Beyond the bound, pending memories are found by keyword only until embedded."""
    from engram.search import pending

    monkeypatch.setattr(pending, "EMBED_BOUND", 2)
    monkeypatch.setattr(pending, "_vectors", type(pending._vectors)())
    ids = [
        _store(client, auth, content=f"Release note {i} about the billing page.") for i in range(4)
    ]
    semantic = _search(client, auth, "billing page release", "semantic")
    assert len(semantic) == 2 and set(semantic) <= set(ids)
    assert set(_search(client, auth, "billing page release", "hybrid")) == set(ids)
    assert set(_search(client, auth, "billing page release", "semantic")) == set(ids)  # cached
