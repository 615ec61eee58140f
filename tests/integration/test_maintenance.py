"""Maintenance: stuck embeds re-queued, expired soft deletes (memories and sessions) purged
(without TTL), reindex."""

import io
import json
from datetime import timedelta

import boto3
from boto3.dynamodb.conditions import Key

from engram import aws, keys, wiring
from engram.clock import FixedClock, iso
from engram.memories.maintenance import Maintenance
from engram.memories.maintenance_jobs import reindex, run_maintenance
from engram.memories.repository import MemoryRepository
from engram.sessions.repository import SessionRepository


def _store(client, auth, content="remember the milk"):
    response = client.post("/v1/memories", json={"content": content}, headers=auth)
    assert response.status_code == 201
    return response.json()["memory_id"]


def _drain_embed_queue(aws_env):
    sqs, url, bodies = boto3.client("sqs"), aws_env.queue_urls["EmbedQueue"], []
    for _ in range(20):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(json.loads(message["Body"])["memory_id"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _later(minutes):
    return FixedClock(wiring.clock().now() + timedelta(minutes=minutes))


def test_pending_memories_past_the_age_are_requeued(client, auth, aws_env):
    stuck = _store(client, auth)
    _drain_embed_queue(aws_env)  # the message was lost
    repo = MemoryRepository(aws.table())
    enqueued = []
    assert Maintenance(repo, lambda ws, m: enqueued.append(m), _later(5)).requeue_pending() == 0
    assert Maintenance(repo, lambda ws, m: enqueued.append(m), _later(16)).requeue_pending() == 1
    assert enqueued == [stuck]


def test_ready_memories_are_not_requeued(client, auth, pump, aws_env):
    _store(client, auth)
    pump.drain_once()
    repo = MemoryRepository(aws.table())
    assert Maintenance(repo, lambda ws, m: None, _later(60)).requeue_pending() == 0


def test_expired_soft_deletes_are_purged_from_table_and_index(client, auth, pump, workspace):
    mid = _store(client, auth)
    kept = _store(client, auth, "keep me")
    pump.drain_once()
    client.delete(f"/v1/memories/{mid}", headers=auth)
    client.delete(f"/v1/memories/{kept}", headers=auth)
    client.post(f"/v1/memories/{kept}/restore", headers=auth)
    repo = MemoryRepository(aws.table())
    enqueue = wiring.maintenance()._enqueue_sync
    assert Maintenance(repo, enqueue, _later(60 * 24 * 29)).purge_expired() == 0
    assert Maintenance(repo, enqueue, _later(60 * 24 * 31)).purge_expired() == 1
    pump.drain_once()
    listed = client.get("/v1/memories?include_deleted=true", headers=auth).json()["data"]
    assert [m["memory_id"] for m in listed] == [kept]
    assert client.post(f"/v1/memories/{mid}/restore", headers=auth).status_code == 404
    assert wiring.search_index().count(workspace[0].workspace_id) == 1


def test_expired_soft_deleted_sessions_are_purged_with_their_checkpoints(client, auth):
    def session(user_id):
        sid = client.post("/v1/sessions", json={"user_id": user_id}, headers=auth).json()[
            "session_id"
        ]
        client.post(
            f"/v1/sessions/{sid}/messages", json={"role": "user", "content": "hi"}, headers=auth
        )
        assert client.post(f"/v1/sessions/{sid}/checkpoints", headers=auth).status_code == 201
        return sid

    gone, restored, live = session("u1"), session("u2"), session("u3")
    for user in ("u1", "u2"):
        assert client.delete(f"/v1/users/{user}/memories", headers=auth).json()["sessions"] == 1
    assert client.post("/v1/users/u2/restore", headers=auth).json()["sessions"] == 1
    table = aws.table()
    maintenance = wiring.maintenance()
    repo, enqueue, sessions = maintenance._repo, maintenance._enqueue_sync, SessionRepository(table)
    assert Maintenance(repo, enqueue, _later(60 * 24 * 29), sessions).purge_expired_sessions() == 0
    assert Maintenance(repo, enqueue, _later(60 * 24 * 31), sessions).run().purged_sessions == 1
    items = table.query(KeyConditionExpression=Key("PK").eq(keys.session_key(gone)["PK"]))
    assert items["Items"] == []  # the session and its checkpoint
    for sid in (restored, live):
        assert client.get(f"/v1/sessions/{sid}/checkpoints", headers=auth).json()
    assert [s["session_id"] for s in client.get("/v1/sessions", headers=auth).json()["data"]] == [
        live,
        restored,
    ]
    assert client.post("/v1/users/u1/restore", headers=auth).json() == {
        "user_id": "u1",
        "restored": 0,
        "sessions": 0,
    }
    assert Maintenance(repo, enqueue, _later(60 * 24 * 31), sessions).purge_expired_sessions() == 0


def test_the_scheduled_event_runs_both_jobs(aws_env):
    assert run_maintenance({}) == {
        "requeued": 0,
        "purged": 0,
        "reindexed": 0,
        "purged_sessions": 0,
        "healed": 0,
    }


def test_reindex_rebuilds_a_lost_index_without_reembedding(
    client, auth, pump, workspace, monkeypatch
):
    ws = workspace[0].workspace_id
    for text in ("one", "two", "three"):
        _store(client, auth, text)
    pump.drain_once()
    index = wiring.search_index()
    index.clear_workspace(ws)
    assert index.count(ws) == 0

    sync = wiring.index_sync()
    monkeypatch.setattr(
        sync._embedder,
        "embed",
        lambda texts: (_ for _ in ()).throw(AssertionError("stored vectors must be reused")),
    )
    seen = []
    assert reindex(ws, seen.append) == 3 and seen == [1, 2, 3]
    assert index.count(ws) == 3
    assert reindex(None) == 3  # the all-workspaces path (maintenance-only scan)


def test_the_scheduled_run_heals_a_workspace_its_index_lost(client, auth, pump, workspace):
    ws = workspace[0].workspace_id
    ids = [_store(client, auth, text) for text in ("tea with Ada", "walks with Bob")]
    pump.drain_once()
    index = wiring.search_index()
    index.clear_workspace(ws)
    assert run_maintenance({})["healed"] == 2
    assert index.count(ws) == 2
    found = client.post(
        "/v1/memories/search", json={"query": "Ada tea", "search_mode": "keyword"}, headers=auth
    )
    assert [r["memory_id"] for r in found.json()["results"]] == [ids[0]]
    assert run_maintenance({"action": "heal-index"}) == {"healed": 0}  # nothing missing now


def test_reindex_sends_one_bulk_write_per_batch(client, auth, pump, workspace, monkeypatch):
    from engram.memories import maintenance

    ws = workspace[0].workspace_id
    for text in ("one", "two", "three"):
        _store(client, auth, text)
    pump.drain_once()
    monkeypatch.setattr(maintenance, "REINDEX_BATCH", 2)  # pages are cut to it
    index, batches = wiring.search_index(), []
    real = type(index).upsert
    monkeypatch.setattr(
        type(index), "upsert", lambda self, docs: batches.append(len(docs)) or real(self, docs)
    )
    assert reindex(ws) == 3
    assert batches == [2, 1]


def test_cli_reindex_prints_progress(client, auth, pump, workspace, capsys):
    from engram.cli import ProgressBar, main

    _store(client, auth)
    pump.drain_once()
    assert main(["admin", "reindex", "--workspace", workspace[0].workspace_id]) == 0
    captured = capsys.readouterr()
    assert "reindexed 1 memories" in captured.out and "1/1" in captured.err
    stream = io.StringIO()
    bar = ProgressBar(None, stream=stream)
    bar(7)
    assert "7 memories" in stream.getvalue()
    assert iso(wiring.clock().now())
