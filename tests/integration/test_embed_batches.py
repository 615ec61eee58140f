"""The embed worker's lambda_handler on whole SQS batches (moto): one read, one embedding call
and one index write for the batch, and still one outcome per record, so a record that fails
is retried alone."""

from __future__ import annotations

import json

import pytest

from engram import wiring
from tests.integration.webhooks_helpers import failed_ids, receive_all, sqs_event, sqs_record


@pytest.fixture
def store(client, auth):
    def make(*contents):
        body = {"memories": [{"content": c} for c in contents]}
        response = client.post("/v1/memories", json=body, headers=auth)
        assert response.status_code == 201, response.text
        return [m["memory_id"] for m in response.json()["memories"]]

    return make


@pytest.fixture
def embed_records(aws_env):
    """The embed queue's waiting messages as SQS event records, in the order sent."""
    import boto3

    def records(receive_count=None):
        url, arn = aws_env.queue_urls["EmbedQueue"], aws_env.queue_arns["EmbedQueue"]
        messages = receive_all(boto3.client("sqs"), url, rounds=10)
        return [sqs_record(m, arn, receive_count) for m in messages]

    return records


@pytest.fixture
def embed_calls(monkeypatch):
    """The texts of each call to the embedder."""

    real, calls = wiring.embedder(), []

    class Spy:
        dimension, name = real.dimension, real.name

        def embed(self, texts):
            calls.append(list(texts))
            return real.embed(texts)

    monkeypatch.setattr(wiring, "embedder", lambda: Spy())
    wiring.index_sync.cache_clear()
    return calls


def _status(client, auth, memory_id):
    return client.get(f"/v1/memories/{memory_id}/status", headers=auth).json()["embedding_status"]


def _ready_events(workspace_id):
    """The memory ids of the workspace's embedding.ready events, oldest first."""

    events = wiring.events().recent(workspace_id)
    return [e["data"]["memory_id"] for e in reversed(events) if e["type"] == "embedding.ready"]


def _ready_items(workspace_id):
    """The feed items holding the workspace's embedding.ready events."""
    from engram import aws, keys

    items = aws.table().query(
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": keys.events_partition(workspace_id)},
    )["Items"]
    return [
        item
        for item in items
        if any(e["type"] == "embedding.ready" for e in item.get("events", [item.get("event")]))
    ]


def test_a_batch_is_embedded_in_one_call_and_every_record_settles(
    client, auth, workspace, store, embed_records, embed_calls, lambda_context, monkeypatch
):
    from functions.embed_worker.handler import lambda_handler

    ids = store("Ada prefers tea.", "Bob likes long walks on the beach.", "Cy is allergic to nuts.")
    client.delete(f"/v1/memories/{ids[2]}", headers=auth)
    records = embed_records()
    records.append({**records[0], "messageId": "malformed", "body": "{not json"})
    reads = []
    import botocore.client

    real_call = botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        reads.append(operation)
        return real_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    assert failed_ids(lambda_handler(sqs_event(*records), lambda_context)) == ["malformed"]
    assert embed_calls == [["Ada prefers tea.", "Bob likes long walks on the beach."]]
    assert reads.count("BatchGetItem") == 1 and "GetItem" not in reads
    # Both vectors and their events in one conditional transaction, not a write each.
    assert reads.count("TransactWriteItems") == 1 and "UpdateItem" not in reads
    assert "BatchWriteItem" not in reads and "PutItem" not in reads
    assert [_status(client, auth, m) for m in ids[:2]] == ["ready", "ready"]
    assert sorted(_ready_events(workspace[0].workspace_id)) == sorted(ids[:2])
    assert len(_ready_items(workspace[0].workspace_id)) == 1  # the two events in one item
    assert failed_ids(lambda_handler(sqs_event(*records[:3]), lambda_context)) == []  # redelivered
    assert sorted(_ready_events(workspace[0].workspace_id)) == sorted(ids[:2])  # no second event
    hits = client.post(
        "/v1/memories/search", json={"query": "tea", "search_mode": "keyword"}, headers=auth
    )
    assert hits.status_code == 200, hits.text
    assert [h["memory_id"] for h in hits.json()["results"]] == [ids[0]]


def test_a_record_that_fails_is_retried_alone(
    client, auth, store, embed_records, embed_calls, lambda_context, monkeypatch
):
    from engram.memories.repository import MemoryRepository
    from functions.embed_worker.handler import lambda_handler

    ids = store("first note", "second note", "third note")
    real = MemoryRepository._transact_embeddings

    def flaky(self, writes):
        if len(writes) > 1:
            raise RuntimeError("transaction throttled")  # so each vector is written on its own
        if writes[0].stored.memory.memory_id == ids[1]:
            raise RuntimeError("throttled")
        return real(self, writes)

    monkeypatch.setattr(MemoryRepository, "_transact_embeddings", flaky)
    records = embed_records()
    by_memory = {json.loads(r["body"])["memory_id"]: r["messageId"] for r in records}
    assert failed_ids(lambda_handler(sqs_event(*records), lambda_context)) == [by_memory[ids[1]]]
    assert [_status(client, auth, m) for m in ids] == ["ready", "pending", "ready"]
    monkeypatch.setattr(MemoryRepository, "_transact_embeddings", real)
    retry = [r for r in records if r["messageId"] == by_memory[ids[1]]]
    assert failed_ids(lambda_handler(sqs_event(*retry), lambda_context)) == []
    assert _status(client, auth, ids[1]) == "ready"


def test_the_last_attempt_of_a_failed_batch_marks_the_memories_failed(
    client, auth, store, embed_records, lambda_context, monkeypatch
):
    from functions.embed_worker.handler import lambda_handler

    class Broken:
        dimension, name = 384, "broken"

        def embed(self, texts):
            raise RuntimeError("model exploded")

    monkeypatch.setattr(wiring, "embedder", lambda: Broken())
    wiring.index_sync.cache_clear()
    ids = store("one", "two")
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="All records failed"):  # Lambda retries them
        lambda_handler(sqs_event(*embed_records(receive_count=99)), lambda_context)
    for memory_id in ids:
        status = client.get(f"/v1/memories/{memory_id}/status", headers=auth).json()
        assert (
            status["embedding_status"] == "failed" and "model exploded" in status["embedding_error"]
        )


def test_when_the_batch_step_fails_each_record_does_its_own_work(
    client, auth, store, embed_records, embed_calls, lambda_context, monkeypatch
):
    from engram.memories.repository import MemoryRepository
    from functions.embed_worker.handler import lambda_handler

    ids = store("alpha", "beta")
    real = MemoryRepository.get_stored_many

    def no_batches(self, memory_ids):
        if len(memory_ids) > 1:
            raise RuntimeError("batch read unavailable")
        return real(self, memory_ids)

    monkeypatch.setattr(MemoryRepository, "get_stored_many", no_batches)
    assert failed_ids(lambda_handler(sqs_event(*embed_records()), lambda_context)) == []
    assert [_status(client, auth, m) for m in ids] == ["ready", "ready"]
    assert sorted(embed_calls) == [["alpha"], ["beta"]]


def test_a_memory_changed_while_the_batch_embeds_is_stale_and_the_rest_are_ready(
    client, auth, workspace, store, embed_records, lambda_context, monkeypatch
):
    """The changed memory's condition cancels the batch's transaction; each vector is then
    written on its own, so only the changed memory is skipped: its record is retried (the
    index may hold its old text), and its new message re-embeds it."""
    from functions.embed_worker.handler import lambda_handler

    ids = store("Ada prefers tea.", "Bob likes long walks.", "Cy is allergic to nuts.")
    records, real = embed_records(), wiring.embedder()

    class EditsMeanwhile:
        dimension, name = real.dimension, real.name

        def embed(self, texts):
            patched = client.patch(
                f"/v1/memories/{ids[1]}", json={"content": "Bob likes swimming."}, headers=auth
            )
            assert patched.status_code == 200, patched.text
            return real.embed(texts)

    monkeypatch.setattr(wiring, "embedder", lambda: EditsMeanwhile())
    wiring.index_sync.cache_clear()
    bobs = [r["messageId"] for r in records if json.loads(r["body"])["memory_id"] == ids[1]]
    assert failed_ids(lambda_handler(sqs_event(*records), lambda_context)) == bobs
    assert [_status(client, auth, m) for m in ids] == ["ready", "pending", "ready"]
    assert sorted(_ready_events(workspace[0].workspace_id)) == sorted(
        [ids[0], ids[2]]
    )  # none for Bob yet
    monkeypatch.setattr(wiring, "embedder", lambda: real)
    wiring.index_sync.cache_clear()
    again = embed_records()  # the PATCH queued its own message
    assert [json.loads(r["body"])["memory_id"] for r in again] == [ids[1]]
    assert failed_ids(lambda_handler(sqs_event(*again), lambda_context)) == []
    assert _status(client, auth, ids[1]) == "ready"
    assert _ready_events(workspace[0].workspace_id)[-1] == ids[1]


def test_vectors_go_50_to_a_transaction_and_a_cancelled_one_settles_memory_by_memory(
    client, auth, store, monkeypatch
):
    from engram import aws
    from engram.memories.repository import EmbeddingWrite, MemoryRepository

    ids = store(*(f"note {i}" for i in range(60)))
    repo = MemoryRepository(aws.table())
    stored = repo.get_stored_many(ids)
    patched = client.patch(f"/v1/memories/{ids[57]}", json={"content": "changed"}, headers=auth)
    assert patched.status_code == 200, patched.text
    transactions, one_by_one = [], []
    real_transact, real_set = MemoryRepository._transact_embeddings, MemoryRepository._set_one

    def transact(self, writes):
        transactions.append(len(writes))
        return real_transact(self, writes)

    def set_one(self, write):
        one_by_one.append(write.stored.memory.memory_id)
        return real_set(self, write)

    monkeypatch.setattr(MemoryRepository, "_transact_embeddings", transact)
    monkeypatch.setattr(MemoryRepository, "_set_one", set_one)
    writes = [
        EmbeddingWrite(stored[m], b"\x00" * 1536, "test-model", "h", "2026-01-01T00:00:00.000Z")
        for m in ids
    ]
    answers = repo.set_embeddings(writes)
    assert transactions == [50, 10]  # the second is cancelled by the changed memory
    assert one_by_one == ids[50:]  # only its transaction's memories, one by one
    assert answers == [True] * 57 + [False] + [True] * 2


def test_a_transaction_of_50_vectors_with_50_feed_items_is_within_the_action_limit(
    client, auth, store, monkeypatch
):
    """The largest vector transaction: each event in a feed item of its own (a workspace
    each), 50 updates and 50 puts, TransactWriteItems' limit of 100 actions."""
    from engram import aws
    from engram.memories.repository import EmbeddingWrite, MemoryRepository

    ids = store(*(f"note {i}" for i in range(50)))
    repo = MemoryRepository(aws.table())
    stored = repo.get_stored_many(ids)
    one_by_one = []
    real_set = MemoryRepository._set_one
    monkeypatch.setattr(
        MemoryRepository, "_set_one", lambda self, w: one_by_one.append(w) or real_set(self, w)
    )
    events = wiring.events()
    writes = [
        EmbeddingWrite(
            stored[m],
            b"\x00" * 1536,
            "test-model",
            "h",
            "2026-01-01T00:00:00.000Z",
            events.draft("embedding.ready", f"ws_feed_{i}", [{"memory_id": m}]).items[0],
        )
        for i, m in enumerate(ids)
    ]
    assert repo.set_embeddings(writes) == [True] * 50
    assert one_by_one == []  # one transaction took them all
    assert [e["data"]["memory_id"] for e in events.recent("ws_feed_49")] == [ids[49]]


def test_an_index_write_that_fails_leaves_memories_pending_and_announces_once(
    client, auth, workspace, store, embed_records, lambda_context, monkeypatch
):
    """The index is written before the vectors and their events are recorded: while it
    fails the memories stay `pending` (search cannot find them in the index) and nothing is
    announced; the retried records index, record and announce each memory once."""
    from engram.events import EventFeed
    from engram.search import sync
    from functions.embed_worker.handler import lambda_handler

    ids = store("Ada prefers tea.", "Bob likes long walks.")
    announced, real_announce = [], EventFeed.announce
    monkeypatch.setattr(
        EventFeed,
        "announce",
        lambda self, draft: (
            announced.extend(e["data"]["memory_id"] for e in draft.events)
            or real_announce(self, draft)
        ),
    )
    real_upsert = sync.IndexSync._upsert_many

    def index_down(self, items):
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(sync.IndexSync, "_upsert_many", index_down)
    records = embed_records()
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="All records failed"):  # Lambda retries them
        lambda_handler(sqs_event(*records), lambda_context)
    assert announced == [] == _ready_events(workspace[0].workspace_id)
    assert [_status(client, auth, m) for m in ids] == ["pending", "pending"]
    monkeypatch.setattr(sync.IndexSync, "_upsert_many", real_upsert)
    assert failed_ids(lambda_handler(sqs_event(*records), lambda_context)) == []
    assert sorted(announced) == sorted(ids) == sorted(_ready_events(workspace[0].workspace_id))
    assert [_status(client, auth, m) for m in ids] == ["ready", "ready"]
    assert failed_ids(lambda_handler(sqs_event(*records), lambda_context)) == []
    assert sorted(announced) == sorted(ids)  # a redelivery announces nothing again
    hits = client.post(
        "/v1/memories/search", json={"query": "tea", "search_mode": "keyword"}, headers=auth
    )
    assert [h["memory_id"] for h in hits.json()["results"]] == [ids[0]]


def test_keys_a_batch_read_leaves_unprocessed_are_read_one_by_one(store, monkeypatch):
    """BatchGetItem may answer with UnprocessedKeys (throttling): after its retries, those
    memories are read one by one, so a missing memory always means it does not exist."""
    from engram import aws, dynamo
    from engram.memories.repository import MemoryRepository

    ids = store("kept back", "also kept back")
    repo = MemoryRepository(aws.table())
    client = dynamo.typed_client(aws.table())
    read_one = []
    real_get = dynamo.get_item

    def unprocessed(RequestItems):  # botocore names the parameter
        return {"Responses": {}, "UnprocessedKeys": RequestItems}

    def get_item(table, item_key, consistent=True):
        read_one.append(item_key["PK"])
        return real_get(table, item_key, consistent)

    monkeypatch.setattr(client, "batch_get_item", unprocessed)
    monkeypatch.setattr("engram.memories.repository.get_item", get_item)
    stored = repo.get_stored_many([*ids, "mem_missing"])
    assert sorted(stored) == sorted(ids)
    assert [s.memory.content for s in (stored[ids[0]], stored[ids[1]])] == [
        "kept back",
        "also kept back",
    ]
    assert len(read_one) == 3  # each key once, the missing one too
