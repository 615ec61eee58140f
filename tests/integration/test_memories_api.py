"""The memories API and the embed pipeline, through the combined app, moto and the pump."""

import json
import math

import boto3
import pytest

from engram import wiring
from engram.search.index import SearchFilters


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"] and body["code"] and body["request_id"]
    return body


def _store(client, auth, **body):
    body.setdefault("content", "The customer prefers email over phone calls.")
    response = client.post("/v1/memories", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def _embed_messages(aws_env):
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=aws_env.queue_urls["EmbedQueue"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_store_one_is_pending_with_tokens_and_queued(client, auth, aws_env, workspace):
    memory = _store(
        client,
        auth,
        tags=["customer:ada", "vip"],
        metadata={"category": "prefs"},
        memory_type="preference",
        importance_score=0.8,
    )
    assert memory["memory_id"].startswith("mem_") and memory["source"] == "api"
    assert memory["embedding_status"] == "pending" and memory["token_count"] > 5
    assert memory["workspace_id"] == workspace[0].workspace_id
    assert _embed_messages(aws_env) == [
        {
            "kind": "memory.sync",
            "memory_id": memory["memory_id"],
            "workspace_id": workspace[0].workspace_id,
        }
    ]
    assert client.get(f"/v1/memories/{memory['memory_id']}", headers=auth).json() == memory


def test_the_embed_worker_makes_it_ready_and_searchable(client, auth, pump, workspace):
    memory = _store(client, auth, tags=["vip"])
    pump.drain_once()
    status = client.get(f"/v1/memories/{memory['memory_id']}/status", headers=auth).json()
    assert status["embedding_status"] == "ready" and status["embedding_generated_at"]
    index = wiring.search_index()
    hits = index.bm25(workspace[0].workspace_id, "email phone", SearchFilters(tags=("vip",)), 5)
    assert [h.memory_id for h in hits] == [memory["memory_id"]]


def test_a_redelivered_embed_message_does_no_harm(client, auth, pump, aws_env, workspace):
    memory = _store(client, auth)
    pump.drain_once()
    before = client.get(f"/v1/memories/{memory['memory_id']}", headers=auth).json()
    boto3.client("sqs").send_message(
        QueueUrl=aws_env.queue_urls["EmbedQueue"],
        MessageBody=json.dumps(
            {
                "kind": "memory.sync",
                "memory_id": memory["memory_id"],
                "workspace_id": workspace[0].workspace_id,
            }
        ),
    )
    pump.drain_once()
    after = client.get(f"/v1/memories/{memory['memory_id']}", headers=auth).json()
    assert after == before
    assert wiring.search_index().count(workspace[0].workspace_id) == 1


def test_batch_is_stored_in_order_or_not_at_all(client, auth):
    batch = {"memories": [{"content": f"fact number {i}", "memory_type": "fact"} for i in range(5)]}
    stored = client.post("/v1/memories", json=batch, headers=auth)
    assert stored.status_code == 201
    assert [m["content"] for m in stored.json()["memories"]] == [
        f"fact number {i}" for i in range(5)
    ]
    bad = {"memories": [{"content": "fine"}, {"content": ""}, {"content": "also fine"}]}
    body = _error(client.post("/v1/memories", json=bad, headers=auth), 422)
    assert "memories.1.content" in body["detail"]
    too_many = {"memories": [{"content": "x"}] * 101}
    assert (
        "at most 100"
        in _error(client.post("/v1/memories", json=too_many, headers=auth), 422)["detail"]
    )
    assert client.get("/v1/memories", headers=auth).json()["count"] == 5


@pytest.mark.parametrize(
    "body, phrase",
    [
        ({}, "content"),
        ({"content": "   "}, "empty"),
        ({"content": "x" * 40_000}, "limit is 32768"),
        ({"content": "x", "memory_type": "Dream Log!"}, "memory_type"),
        ({"content": "x", "event_type": "two words"}, "event_type"),
        ({"content": "x", "confidence_score": 1.01}, "confidence_score"),
        ({"content": "x", "dedup_key": ""}, "dedup_key"),
        ({"content": "x", "parent_id": "bad id"}, "letters"),
        ({"content": "x", "concepts": ["c"] * 51}, "limit is 50"),
        ({"content": "x", "source_files": [""]}, "1 to 1024"),
        ({"memories": [{"content": "x", "dedup_key": "k"}] * 2}, "more than once"),
        ({"content": "x", "importance_score": 1.5}, "importance_score"),
        ({"content": "x", "tags": ["t"] * 51}, "limit is 50"),
        ({"content": "x", "tags": ["y" * 129]}, "128"),
        ({"content": "x", "metadata": {"k": "v" * 9000}}, "8192"),
        ({"content": "x", "metadata": {"n": 10**40}}, "38 digits"),
        ({"content": "x", "metadata": {"deep": [{"n": -(10**38)}]}}, "38 digits"),
        ({"content": "x", "metadata": {"n": 1e200}}, "38 digits"),
        ({"content": "x", "session_id": "bad id"}, "letters"),
        ({"content": "x", "surprise": True}, "Unknown field"),
        ({"memories": []}, "memories"),
        ({"memories": "nope"}, "memories"),
        ([1, 2, 3], "body"),
        ("just a string", "body"),
    ],
)
def test_bad_memories_are_422_and_nothing_is_written(client, auth, aws_env, body, phrase):
    assert phrase in _error(client.post("/v1/memories", json=body, headers=auth), 422)["detail"]
    assert client.get("/v1/memories", headers=auth).json()["count"] == 0
    assert _embed_messages(aws_env) == []


def test_numbers_at_dynamodb_limits_are_stored_exactly(client, auth):
    """38 digits is DynamoDB's precision: the largest ints that fit come back exactly, and
    floats near the ends of its range come back as the same numbers (an integral one as an
    int, as DynamoDB itself returns it)."""
    metadata = {
        "big": 10**38 - 1,
        "neg": -(10**37),
        "tiny": 1.5e-120,
        "huge": 9.5e124,
        "list": [12345678901234567890123456789012345678],
    }
    stored = client.post("/v1/memories", json={"content": "x", "metadata": metadata}, headers=auth)
    assert stored.status_code == 201, stored.text
    got = client.get(f"/v1/memories/{stored.json()['memory_id']}", headers=auth).json()
    assert {k: got["metadata"][k] for k in ("big", "neg", "list")} == {
        k: metadata[k] for k in ("big", "neg", "list")
    }
    assert got["metadata"]["tiny"] == 1.5e-120
    assert math.isclose(got["metadata"]["huge"], 9.5e124)


def test_list_filters_newest_first(client, auth):
    a = _store(client, auth, content="alpha", memory_type="fact", tags=["x"], user_id="u1")
    b = _store(client, auth, content="beta", memory_type="decision", session_id="s1", agent_id="ag")
    c = _store(client, auth, content="gamma", memory_type="fact", tags=["x", "y"])

    def ids(query=""):
        return [
            m["memory_id"] for m in client.get(f"/v1/memories?{query}", headers=auth).json()["data"]
        ]

    assert ids() == [c["memory_id"], b["memory_id"], a["memory_id"]]
    assert ids("memory_type=fact") == [c["memory_id"], a["memory_id"]]
    assert ids("tag=y") == [c["memory_id"]]
    assert ids("session_id=s1") == [b["memory_id"]]
    assert ids("user_id=u1") == [a["memory_id"]]
    assert ids("agent_id=ag") == [b["memory_id"]]
    page = client.get("/v1/memories?limit=2", headers=auth).json()
    assert page["has_more"] and page["count"] == 3
    rest = client.get(f"/v1/memories?limit=2&cursor={page['next_cursor']}", headers=auth).json()
    assert [m["memory_id"] for m in rest["data"]] == [a["memory_id"]] and not rest["has_more"]


def test_patch_merges_metadata_and_reembeds_on_content_change(client, auth, pump):
    memory = _store(client, auth, metadata={"a": 1, "b": 2}, tags=["old"])
    pump.drain_once()
    mid = memory["memory_id"]
    patched = client.patch(
        f"/v1/memories/{mid}", json={"metadata": {"b": 3, "c": 4}, "tags": ["new"]}, headers=auth
    ).json()
    assert patched["metadata"] == {"a": 1, "b": 3, "c": 4} and patched["tags"] == ["new"]
    assert patched["embedding_status"] == "ready"  # the text did not change
    changed = client.patch(
        f"/v1/memories/{mid}", json={"content": "Now prefers phone calls."}, headers=auth
    ).json()
    assert changed["embedding_status"] == "pending" and changed["updated_at"]
    pump.drain_once()
    assert client.get(f"/v1/memories/{mid}", headers=auth).json()["embedding_status"] == "ready"
    _error(client.patch(f"/v1/memories/{mid}", json={"importance_score": -1}, headers=auth), 422)
    _error(client.patch(f"/v1/memories/{mid}", json={"workspace_id": "x"}, headers=auth), 422)
    big = {"metadata": {f"k{i}": "v" * 100 for i in range(90)}}
    assert (
        "8192" in _error(client.patch(f"/v1/memories/{mid}", json=big, headers=auth), 422)["detail"]
    )


def test_soft_delete_restore_and_hard_delete(client, auth, pump, workspace):
    ws = workspace[0].workspace_id
    mid = _store(client, auth)["memory_id"]
    pump.drain_once()
    deleted = client.delete(f"/v1/memories/{mid}", headers=auth).json()
    assert deleted["deleted"] and deleted["soft"] and deleted["restorable_until"]
    _error(client.get(f"/v1/memories/{mid}", headers=auth), 404)
    assert client.get("/v1/memories", headers=auth).json()["data"] == []
    listed = client.get("/v1/memories?include_deleted=true", headers=auth).json()["data"]
    assert [m["memory_id"] for m in listed] == [mid] and listed[0]["deleted_at"]
    pump.drain_once()
    assert wiring.search_index().count(ws) == 0
    _error(client.delete(f"/v1/memories/{mid}", headers=auth), 404)
    restored = client.post(f"/v1/memories/{mid}/restore", headers=auth).json()
    assert restored["deleted_at"] is None and restored["restorable_until"] is None
    _error(client.post(f"/v1/memories/{mid}/restore", headers=auth), 409)
    pump.drain_once()
    assert wiring.search_index().count(ws) == 1
    assert client.delete(f"/v1/memories/{mid}/hard", headers=auth).status_code == 204
    pump.drain_once()
    assert wiring.search_index().count(ws) == 0
    _error(client.get(f"/v1/memories/{mid}", headers=auth), 404)

    # the detail route takes no include_deleted: refused, not silently ignored
    _error(client.get(f"/v1/memories/{mid}?include_deleted=true", headers=auth), 422)
    assert client.get("/v1/memories", headers=auth).json()["count"] == 0


def test_forget_session_soft_deletes_its_memories(client, auth, other_auth):
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    for i in range(3):
        _store(client, auth, content=f"note {i}", session_id=sid)
    keep = _store(client, auth, content="elsewhere")
    _error(client.delete(f"/v1/sessions/{sid}/memories", headers=other_auth), 404)
    assert client.delete(f"/v1/sessions/{sid}/memories", headers=auth).json() == {
        "session_id": sid,
        "forgotten": 3,
    }
    assert [m["memory_id"] for m in client.get("/v1/memories", headers=auth).json()["data"]] == [
        keep["memory_id"]
    ]
    _error(client.delete("/v1/sessions/sess_nope/memories", headers=auth), 404)


def test_an_edit_keeps_the_neighbours_a_batch_memory_was_indexed_with(client, auth, workspace):
    turns = ["We fly to Lisbon on Friday.", "Which airline?", "TAP, the early flight."]
    batch = {"memories": [{"content": c, "session_id": "trip"} for c in turns]}
    ids = [
        m["memory_id"]
        for m in client.post("/v1/memories", json=batch, headers=auth).json()["memories"]
    ]
    repo = wiring.memory_repository()
    ws = workspace[0].workspace_id
    assert "Lisbon" in repo.get_stored(ws, ids[1]).search_text

    patched = {"content": "Which airline, and when do we land?", "title": "Flight"}
    assert client.patch(f"/v1/memories/{ids[1]}", json=patched, headers=auth).status_code == 200
    stored = repo.get_stored(ws, ids[1])
    assert stored.search_text.startswith("Flight\n") and "when do we land" in stored.search_text
    assert "Lisbon" in stored.search_text and "TAP" in stored.search_text
    assert "Which airline?" not in stored.search_text  # its old text is gone


def test_diff_reports_added_updated_and_deleted(client, auth, monkeypatch):
    from datetime import UTC, datetime

    from engram.clock import FixedClock, iso

    clock = FixedClock(datetime.now(UTC))
    monkeypatch.setattr(wiring, "clock", lambda: clock)
    old = _store(client, auth, content="old one")
    gone = _store(client, auth, content="doomed")
    start = client.get(f"/v1/memories/{gone['memory_id']}", headers=auth).json()["created_at"]
    clock.advance(seconds=1)
    middle = iso(clock.now())
    clock.advance(seconds=1)
    client.patch(f"/v1/memories/{old['memory_id']}", json={"title": "renamed"}, headers=auth)
    client.delete(f"/v1/memories/{gone['memory_id']}", headers=auth)
    new = _store(client, auth, content="fresh")
    diff = client.get(f"/v1/memories/diff?from_time={middle}", headers=auth).json()
    assert [m["memory_id"] for m in diff["added"]] == [new["memory_id"]]
    assert [m["memory_id"] for m in diff["updated"]] == [old["memory_id"]]
    assert [m["memory_id"] for m in diff["deleted"]] == [gone["memory_id"]]
    assert diff["count"] == 3 and diff["period"]["from_time"] == middle
    everything = client.get(f"/v1/memories/diff?from_time={start[:19]}Z", headers=auth).json()
    assert everything["count"] >= 3
    _error(client.get("/v1/memories/diff?from_time=yesterday", headers=auth), 422)
    _error(client.get("/v1/memories/diff?from_time=1.5", headers=auth), 422)
    inverted = client.get(
        f"/v1/memories/diff?from_time={middle}&to_time=2000-01-01T00:00:00Z", headers=auth
    )
    assert inverted.status_code == 200 and inverted.json()["count"] == 0


def test_another_workspace_gets_404_everywhere(client, auth, other_auth):
    mid = _store(client, auth)["memory_id"]
    for method, path in [
        ("get", f"/v1/memories/{mid}"),
        ("get", f"/v1/memories/{mid}/status"),
        ("delete", f"/v1/memories/{mid}"),
        ("delete", f"/v1/memories/{mid}/hard"),
        ("post", f"/v1/memories/{mid}/restore"),
    ]:
        _error(client.request(method, path, headers=other_auth), 404)
    _error(client.patch(f"/v1/memories/{mid}", json={"title": "x"}, headers=other_auth), 404)
    assert client.get("/v1/memories", headers=other_auth).json()["data"] == []
    assert client.get(f"/v1/memories/{mid}", headers=auth).status_code == 200


def test_events_for_store_update_delete(client, auth, pump, workspace):

    mid = _store(client, auth)["memory_id"]
    pump.drain_once()
    client.patch(f"/v1/memories/{mid}", json={"title": "t"}, headers=auth)
    client.delete(f"/v1/memories/{mid}", headers=auth)
    types = [e["type"] for e in wiring.events().recent(workspace[0].workspace_id)]
    assert types[::-1] == ["memory.stored", "embedding.ready", "memory.updated", "memory.deleted"]


def test_embedding_that_keeps_failing_ends_failed_with_the_reason(client, auth, pump, monkeypatch):
    class Broken:
        dimension, name = 384, "broken"

        def embed(self, texts):
            raise RuntimeError("model exploded")

    monkeypatch.setenv("EMBED_MAX_ATTEMPTS", "1")
    from engram.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(wiring, "embedder", lambda: Broken())
    wiring.index_sync.cache_clear()
    mid = _store(client, auth)["memory_id"]
    pump.drain_once()
    status = client.get(f"/v1/memories/{mid}/status", headers=auth).json()
    assert status["embedding_status"] == "failed" and "model exploded" in status["embedding_error"]


def test_a_full_batch_of_100_is_stored(client, auth):
    batch = {"memories": [{"content": f"note {i}"} for i in range(100)]}
    response = client.post("/v1/memories", json=batch, headers=auth)
    assert response.status_code == 201, response.text
    assert len(response.json()["memories"]) == 100
    assert client.get("/v1/memories", headers=auth).json()["count"] == 100


def _drain_embed_queue(aws_env, rounds=20):
    sqs, found = boto3.client("sqs"), []
    for _ in range(rounds):
        batch = sqs.receive_message(
            QueueUrl=aws_env.queue_urls["EmbedQueue"], MaxNumberOfMessages=10
        ).get("Messages", [])
        if not batch:
            break
        found += [json.loads(m["Body"]) for m in batch]
    return found


@pytest.fixture
def aws_calls(monkeypatch):
    """Names of the AWS operations made, in order."""
    import botocore.client

    made, real = [], botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        made.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return made


def test_a_batch_queues_one_embed_job_and_one_event_per_memory(
    client, auth, aws_env, workspace, aws_calls
):

    batch = {"memories": [{"content": f"note {i}"} for i in range(23)]}  # three SQS batches
    ids = [
        m["memory_id"]
        for m in client.post("/v1/memories", json=batch, headers=auth).json()["memories"]
    ]
    # A few calls per request, not a few per memory: the count and the memory.stored events
    # go inside the memories' transaction, embed jobs 10 to a SendMessageBatch; one webhook lookup.
    assert sorted(aws_calls) == sorted(
        [
            "GetItem",
            "TransactWriteItems",
            "SendMessageBatch",
            "SendMessageBatch",
            "SendMessageBatch",
            "Query",
        ]
    )
    assert sorted(job["memory_id"] for job in _drain_embed_queue(aws_env)) == sorted(ids)
    events = wiring.events().recent(workspace[0].workspace_id)
    assert [e["data"]["memory_id"] for e in events if e["type"] == "memory.stored"][::-1] == ids
    assert client.get("/v1/memories", headers=auth).json()["count"] == 23


def test_events_that_do_not_fit_the_transaction_follow_it(
    client, auth, aws_env, workspace, aws_calls
):

    batch = {"memories": [{"content": f"note {i}"} for i in range(60)]}  # 60 + 1 + 60 > 100
    ids = [
        m["memory_id"]
        for m in client.post("/v1/memories", json=batch, headers=auth).json()["memories"]
    ]
    # 60 filter entries (memory_type) before it, 60 events after it, 25 to a BatchWriteItem
    writes = [c for c in aws_calls if c in ("TransactWriteItems", "BatchWriteItem")]
    assert writes == ["BatchWriteItem"] * 3 + ["TransactWriteItems"] + ["BatchWriteItem"] * 3
    filtered = client.get("/v1/memories?memory_type=episodic&limit=100", headers=auth).json()
    assert [m["memory_id"] for m in filtered["data"]][::-1] == ids
    events = wiring.events().recent(workspace[0].workspace_id)
    assert [e["data"]["memory_id"] for e in events if e["type"] == "memory.stored"][::-1] == ids
    assert client.get("/v1/memories", headers=auth).json()["count"] == 60


def test_when_the_embed_queue_is_down_nothing_is_stored(client, auth, aws_env, workspace):

    boto3.client("sqs").delete_queue(QueueUrl=aws_env.queue_urls["EmbedQueue"])
    batch = {"memories": [{"content": f"note {i}"} for i in range(3)]}
    body = _error(client.post("/v1/memories", json=batch, headers=auth), 503)
    assert "nothing was stored" in body["detail"]
    listed = client.get("/v1/memories", headers=auth).json()
    assert listed["count"] == 0 and listed["data"] == []
    assert wiring.events().recent(workspace[0].workspace_id) == []


def test_the_seed_fields_are_stored_and_returned(client, auth):
    memory = _store(
        client,
        auth,
        memory_type="bug_fix",
        event_type="tool_call",
        parent_id="mem_parent",
        confidence_score=0.8,
        concepts=["retries", "backoff", "retries"],
        source_files=["src/app.py", "src/retry.py"],
    )
    assert memory["memory_type"] == "bug_fix" and memory["event_type"] == "tool_call"
    assert memory["parent_id"] == "mem_parent" and memory["confidence_score"] == 0.8
    assert memory["concepts"] == ["retries", "backoff"]
    assert memory["source_files"] == ["src/app.py", "src/retry.py"]
    assert client.get(f"/v1/memories/{memory['memory_id']}", headers=auth).json() == memory
    changed = client.patch(
        f"/v1/memories/{memory['memory_id']}",
        json={"concepts": ["jitter"], "confidence_score": 0.4, "event_type": "error"},
        headers=auth,
    ).json()
    assert changed["concepts"] == ["jitter"] and changed["confidence_score"] == 0.4
    assert changed["event_type"] == "error" and changed["source_files"] == memory["source_files"]


def test_a_second_write_with_the_same_dedup_key_updates_the_first(client, auth, aws_env):
    first = _store(
        client, auth, content="Deploys run at noon.", dedup_key="deploy-time", tags=["a"]
    )
    second = _store(
        client, auth, content="Deploys run at 3pm.", dedup_key="deploy-time", importance_score=0.9
    )
    assert second["memory_id"] == first["memory_id"] and second["content"] == "Deploys run at 3pm."
    assert second["importance_score"] == 0.9 and second["tags"] == ["a"] and second["updated_at"]
    listed = client.get("/v1/memories", headers=auth).json()
    assert listed["count"] == 1 and [m["memory_id"] for m in listed["data"]] == [first["memory_id"]]
    other = _store(client, auth, content="Another key.", dedup_key="other")
    assert other["memory_id"] != first["memory_id"]
    batch = client.post(
        "/v1/memories",
        json={
            "memories": [{"content": "Noon again.", "dedup_key": "deploy-time"}, {"content": "new"}]
        },
        headers=auth,
    )
    assert batch.status_code == 201, batch.text
    ids = [m["memory_id"] for m in batch.json()["memories"]]
    assert ids[0] == first["memory_id"] and ids[1] not in (first["memory_id"], other["memory_id"])
    assert client.get("/v1/memories", headers=auth).json()["count"] == 3


def test_a_deleted_memory_gives_its_dedup_key_to_the_next_write(client, auth):
    first = _store(client, auth, content="v1", dedup_key="k")
    assert client.delete(f"/v1/memories/{first['memory_id']}", headers=auth).status_code == 200
    second = _store(client, auth, content="v2", dedup_key="k")
    assert second["memory_id"] != first["memory_id"]
    assert (
        client.delete(f"/v1/memories/{second['memory_id']}/hard", headers=auth).status_code == 204
    )
    third = _store(client, auth, content="v3", dedup_key="k")
    assert third["memory_id"] not in (first["memory_id"], second["memory_id"])
    assert _store(client, auth, content="v4", dedup_key="k")["memory_id"] == third["memory_id"]


def test_dedup_keys_are_per_workspace(client, auth, other_auth):
    mine = _store(client, auth, content="mine", dedup_key="shared")
    response = client.post(
        "/v1/memories", json={"content": "theirs", "dedup_key": "shared"}, headers=other_auth
    )
    assert response.status_code == 201 and response.json()["memory_id"] != mine["memory_id"]
    assert client.get(f"/v1/memories/{mine['memory_id']}", headers=auth).json()["content"] == "mine"


def test_sync_embedding_answers_with_the_memory_embedded_and_searchable(client, auth, workspace):
    memory = _store(
        client, auth, content="Invoices are sent on the first Monday.", sync_embedding=True
    )
    assert memory["embedding_status"] == "ready" and memory["embedding_generated_at"]
    hits = client.post(
        "/v1/memories/search",
        json={"query": "when are invoices sent", "search_mode": "semantic", "limit": 3},
        headers=auth,
    ).json()["results"]
    assert hits[0]["memory_id"] == memory["memory_id"]
    plain = _store(client, auth, content="Not embedded yet.")
    assert plain["embedding_status"] == "pending"


def test_a_dedup_key_claimed_meanwhile_cancels_the_whole_write(client, auth, aws_env, workspace):
    """Two writes racing for one key: the claim in the loser's transaction fails, nothing of
    it is written, and the service then reads the claim and updates the winner's memory."""
    from engram import aws
    from engram.memories.models import Memory
    from engram.memories.repository import DedupClaim, DedupTaken, MemoryRepository

    ws = workspace[0].workspace_id
    winner = _store(client, auth, content="first", dedup_key="race")
    repo = MemoryRepository(aws.table())
    loser = Memory(
        memory_id="mem_loser", workspace_id=ws, content="second", created_at="2026-01-01T00:00:00Z"
    )
    with pytest.raises(DedupTaken):
        repo.add_many([(loser, "h", None)], claims=[DedupClaim(ws, "race", "mem_loser")])
    assert client.get("/v1/memories/mem_loser", headers=auth).status_code == 404
    assert repo.dedup_holders(ws, ["race"]) == {"race": winner["memory_id"]}


def test_a_batch_indexes_each_memory_with_the_one_before_it_in_its_session(client, auth, pump):
    """A reply's own words are few; keywords find it through the turn before it (issue 21)."""
    turns = [
        {"content": "Shall we go kayaking on Saturday?", "session_id": "trip"},
        {"content": "Sounds great!", "session_id": "other"},
        {"content": "Sounds great!", "session_id": "trip"},
        {"content": "Sounds great!"},
    ]
    response = client.post("/v1/memories", json={"memories": turns}, headers=auth)
    assert response.status_code == 201, response.text
    ids = [m["memory_id"] for m in response.json()["memories"]]
    pump.drain_once()
    found = client.post(
        "/v1/memories/search",
        json={"query": "kayaking", "search_mode": "keyword"},
        headers=auth,
    ).json()
    assert sorted(r["memory_id"] for r in found["results"]) == sorted([ids[0], ids[2]])
    assert {r["content"] for r in found["results"]} == {turns[0]["content"], "Sounds great!"}


def test_related_memories_by_session_concepts_and_vectors(client, auth, make_key):
    session = client.post("/v1/sessions", json={"agent_id": "bot"}, headers=auth).json()
    sid = session["session_id"]

    def store(content, **body):
        return _store(client, auth, content=content, sync_embedding=True, **body)["memory_id"]

    me = store(
        "Retries use exponential backoff with jitter.",
        concepts=["retries", "backoff"],
        session_id=sid,
        agent_id="bot",
    )
    sibling = store("The user likes tea.", session_id=sid, agent_id="bot")
    shares = store("Timeouts are ten seconds.", concepts=["retries"], agent_id="bot")
    similar = store("Retry with exponential backoff and random jitter.", agent_id="other")
    store("Nothing in common: the office plant needs water.", agent_id="bot")
    answer = client.get(f"/v1/memories/{me}/related?limit=3", headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["memory"]["memory_id"] == me and body["count"] == 3
    by_id = {r["memory"]["memory_id"]: r for r in body["related"]}
    assert set(by_id) == {sibling, shares, similar} and body["related_ids"][0] == similar
    assert by_id[sibling]["reasons"][-1] == "same_session"
    assert "shared_concepts" in by_id[shares]["reasons"]
    assert by_id[shares]["shared_concepts"] == ["retries"]
    assert by_id[similar]["similarity"] > 0.5
    bound = {"x-api-key": make_key(scopes=["read"], agent_id="bot")}
    mine = client.get(f"/v1/memories/{me}/related?limit=10", headers=bound).json()
    assert similar not in mine["related_ids"]
    assert client.get(f"/v1/memories/{similar}/related", headers=bound).status_code == 404
    assert client.get(f"/v1/memories/{me}/related?limit=0", headers=auth).status_code == 422
