"""Messages, the short-term window, history, checkpoints and embedding status of a session."""

import threading

import pytest

from engram import wiring
from engram.search.index import SearchFilters


def _session(client, auth, **body):
    response = client.post("/v1/sessions", json=body, headers=auth)
    assert response.status_code == 201
    return response.json()["session_id"]


def _post(client, auth, sid, *contents, role="user"):
    body = {"messages": [{"role": role, "content": c} for c in contents]}
    response = client.post(f"/v1/sessions/{sid}/messages", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["messages"]


def test_messages_are_episodic_memories_and_move_the_counters(client, auth):
    sid = _session(client, auth, agent_id="bot")
    one = client.post(
        f"/v1/sessions/{sid}/messages",
        json={"role": "user", "content": "Hello there"},
        headers=auth,
    )
    assert one.status_code == 201
    stored = one.json()["messages"]
    assert len(stored) == 1 and stored[0]["status"] == "stored" and stored[0]["tokens"] == 2
    stored += _post(
        client, auth, sid, "I use Postgres 16 in production.", "Noted.", role="assistant"
    )
    memory = client.get(f"/v1/memories/{stored[1]['memory_id']}", headers=auth).json()
    assert memory["memory_type"] == "episodic" and memory["source"] == "message"
    assert memory["session_id"] == sid and memory["role"] == "assistant"
    assert memory["agent_id"] == "bot"
    session = client.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert session["message_count"] == 3
    assert session["token_count"] == sum(m["tokens"] for m in stored)
    assert session["last_active_at"] >= session["started_at"]


def test_concurrent_posts_lose_no_count(client, auth, monkeypatch):
    """moto's in-process DynamoDB is not thread-safe, so each AWS call is serialised here;
    requests still interleave between calls, which is where a read-modify-write counter
    would lose counts."""
    import threading as _threading

    from botocore.client import BaseClient

    lock, original = _threading.Lock(), BaseClient._make_api_call

    def serialised(self, operation, params):
        with lock:
            return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", serialised)
    sid = _session(client, auth)
    errors = []

    def post(n):
        try:
            for i in range(3):
                _post(client, auth, sid, f"thread {n} message {i}")
        except Exception as exc:  # pragma: no cover - shown by the assert below  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    session = client.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert session["message_count"] == 12
    history = client.get(f"/v1/sessions/{sid}/history?limit=100", headers=auth).json()
    assert history["count"] == 12
    assert session["token_count"] == sum(m["token_count"] for m in history["data"])


def test_window_is_the_newest_messages_within_budget_oldest_first(client, auth, monkeypatch):
    monkeypatch.setenv("WINDOW_MAX_MESSAGES", "3")
    from engram.config import get_settings

    get_settings.cache_clear()
    sid = _session(client, auth)
    _post(client, auth, sid, *[f"message number {i}" for i in range(5)])
    window = client.get(f"/v1/sessions/{sid}/messages", headers=auth).json()
    assert [m["content"] for m in window["messages"]] == [f"message number {i}" for i in (2, 3, 4)]
    assert window["token_usage"]["message_count"] == 3
    assert window["token_usage"]["estimated_tokens"] == sum(m["tokens"] for m in window["messages"])
    first = window["messages"][0]
    assert set(first) == {"role", "content", "tokens", "priority_score", "timestamp", "memory_id"}
    monkeypatch.setenv("WINDOW_MAX_TOKENS", "16")
    monkeypatch.setenv("WINDOW_MAX_MESSAGES", "50")
    get_settings.cache_clear()
    tight = client.get(f"/v1/sessions/{sid}/messages", headers=auth).json()
    assert tight["token_usage"]["estimated_tokens"] <= 16
    assert tight["messages"][-1]["content"] == "message number 4"


def test_history_pages_oldest_first(client, auth):
    sid = _session(client, auth)
    _post(client, auth, sid, *[f"m{i}" for i in range(5)])
    page = client.get(f"/v1/sessions/{sid}/history?limit=2&offset=2", headers=auth).json()
    assert [m["content"] for m in page["data"]] == ["m2", "m3"]
    assert page["has_more"] and page["count"] == 5


def test_checkpoint_and_restore_bring_the_window_back(client, auth, pump, workspace):
    sid = _session(client, auth)
    _post(client, auth, sid, "alpha", "beta")
    checkpoint = client.post(f"/v1/sessions/{sid}/checkpoints", headers=auth)
    assert checkpoint.status_code == 201
    cp = checkpoint.json()
    assert cp["message_count"] == 2 and cp["checkpoint_id"].startswith("ckpt_")
    _post(client, auth, sid, "gamma after the checkpoint")
    restored = client.post(
        f"/v1/sessions/{sid}/restore", json={"checkpoint_id": cp["checkpoint_id"]}, headers=auth
    ).json()
    assert restored == {"restored_message_count": 2, "checkpoint_created_at": cp["created_at"]}
    window = client.get(f"/v1/sessions/{sid}/messages", headers=auth).json()
    assert [m["content"] for m in window["messages"]] == ["alpha", "beta"]
    _post(client, auth, sid, "delta after the restore")
    window = client.get(f"/v1/sessions/{sid}/messages", headers=auth).json()
    assert [m["content"] for m in window["messages"]] == [
        "alpha",
        "beta",
        "delta after the restore",
    ]
    pump.drain_once()  # gamma stays in long-term memory and search
    hits = wiring.search_index().bm25(
        workspace[0].workspace_id, "gamma checkpoint", SearchFilters(), 5
    )
    assert hits
    listed = client.get(f"/v1/sessions/{sid}/checkpoints", headers=auth).json()["data"]
    assert [c["checkpoint_id"] for c in listed] == [cp["checkpoint_id"]]
    missing = client.post(
        f"/v1/sessions/{sid}/restore", json={"checkpoint_id": "ckpt_nope"}, headers=auth
    )
    assert missing.status_code == 404


def test_checkpoint_event_is_published(client, auth, workspace):

    sid = _session(client, auth)
    client.post(f"/v1/sessions/{sid}/checkpoints", headers=auth)
    types = [e["type"] for e in wiring.events().recent(workspace[0].workspace_id)]
    assert "checkpoint.created" in types


def test_embedding_status_counts(client, auth, pump):
    sid = _session(client, auth)
    _post(client, auth, sid, "one", "two")
    counts = client.get(f"/v1/sessions/{sid}/embedding-status", headers=auth).json()
    assert counts == {"session_id": sid, "pending": 2, "ready": 0, "failed": 0, "total": 2}
    pump.drain_once()
    counts = client.get(f"/v1/sessions/{sid}/embedding-status", headers=auth).json()
    assert counts["ready"] == 2 and counts["pending"] == 0


@pytest.mark.parametrize(
    "body, status",
    [
        ({"role": "user"}, 422),
        ({"role": "robot", "content": "x"}, 422),
        ({"role": "user", "content": ""}, 422),
        ({"messages": []}, 422),
        ({"messages": [{"role": "user", "content": "ok"}, {"role": "user"}]}, 422),
        ({"role": "user", "content": "x", "extra": 1}, 422),
    ],
)
def test_bad_messages_write_nothing(client, auth, body, status):
    sid = _session(client, auth)
    response = client.post(f"/v1/sessions/{sid}/messages", json=body, headers=auth)
    assert response.status_code == status and response.json()["detail"]
    assert client.get(f"/v1/sessions/{sid}", headers=auth).json()["message_count"] == 0
    assert client.get("/v1/memories", headers=auth).json()["count"] == 0


def test_an_ended_session_takes_no_messages_and_others_get_404(client, auth, other_auth):
    sid = _session(client, auth)
    for path in ("messages", "history", "checkpoints", "embedding-status"):
        assert client.get(f"/v1/sessions/{sid}/{path}", headers=other_auth).status_code == 404
    assert (
        client.post(
            f"/v1/sessions/{sid}/messages",
            json={"role": "user", "content": "x"},
            headers=other_auth,
        ).status_code
        == 404
    )
    assert client.post(f"/v1/sessions/{sid}/checkpoints", headers=other_auth).status_code == 404
    client.post(f"/v1/sessions/{sid}/end", headers=auth)
    late = client.post(
        f"/v1/sessions/{sid}/messages", json={"role": "user", "content": "x"}, headers=auth
    )
    assert late.status_code == 409
    assert client.get(f"/v1/sessions/{sid}", headers=auth).json()["message_count"] == 0


def test_the_prompt_becomes_the_first_message(client, auth):
    created = client.post(
        "/v1/sessions", json={"prompt": "Help me plan the migration."}, headers=auth
    ).json()
    assert created["message_count"] == 1 and created["token_count"] > 0
    window = client.get(f"/v1/sessions/{created['session_id']}/messages", headers=auth).json()
    assert [(m["role"], m["content"]) for m in window["messages"]] == [
        ("user", "Help me plan the migration.")
    ]
    empty = client.post("/v1/sessions", json={"prompt": "   "}, headers=auth)
    assert empty.status_code == 422
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 1


def test_deleting_a_session_soft_deletes_its_memories(client, auth):
    sid = _session(client, auth)
    stored = _post(client, auth, sid, "first", "second")
    assert client.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    assert client.get("/v1/memories", headers=auth).json()["data"] == []
    deleted = client.get("/v1/memories?include_deleted=true", headers=auth).json()["data"]
    assert {m["memory_id"] for m in deleted} == {m["memory_id"] for m in stored}
    restored = client.post(f"/v1/memories/{stored[0]['memory_id']}/restore", headers=auth)
    assert restored.status_code == 200


def test_deleting_a_session_removes_its_checkpoints(client, auth):
    from engram import aws
    from engram.sessions.repository import SessionRepository

    sid = _session(client, auth)
    _post(client, auth, sid, "one")
    client.post(f"/v1/sessions/{sid}/checkpoints", headers=auth)
    assert SessionRepository(aws.table()).checkpoints(sid)
    assert client.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    assert SessionRepository(aws.table()).checkpoints(sid) == []


def test_a_full_batch_of_100_messages_is_stored(client, auth):
    sid = _session(client, auth)
    stored = _post(client, auth, sid, *[f"line {i}" for i in range(100)])
    assert len(stored) == 100
    assert client.get(f"/v1/sessions/{sid}", headers=auth).json()["message_count"] == 100


def test_a_message_is_keyword_indexed_with_its_context_but_embedded_alone(
    client, auth, pump, workspace
):
    """The message before gives a bare reply its keywords; the vector is of the reply alone
    (context dilutes a small model's embedding: docs/benchmarks.md, Retrieval)."""
    import numpy as np

    from engram import aws
    from engram.memories.repository import MemoryRepository

    sid = _session(client, auth)
    stored = _post(client, auth, sid, "Which database do we use for billing?", "Postgres.")
    pump.drain_once()
    reply = MemoryRepository(aws.table()).get_stored(None, stored[1]["memory_id"])
    assert "billing" in reply.search_text
    vector = np.frombuffer(reply.embedding, dtype=np.float32)
    assert np.allclose(vector, wiring.embedder().embed(["Postgres."])[0], atol=1e-5)
    hits = wiring.search_index().bm25(
        workspace[0].workspace_id, "billing database", SearchFilters(), 5
    )
    assert stored[1]["memory_id"] in [h.memory_id for h in hits]


def test_a_message_is_keyword_indexed_with_the_reply_after_it_in_its_batch(
    client, auth, pump, workspace
):
    """A question sent with its answer is found by the answer's words; the neighbours'
    shared time stamp and speaker label are not repeated in its key."""
    from engram import aws
    from engram.memories.repository import MemoryRepository

    sid = _session(client, auth)
    stored = _post(
        client,
        auth,
        sid,
        "[8 May 2023] Caroline: Which database do we use?",
        "[8 May 2023] Melanie: Postgres, for billing.",
    )
    pump.drain_once()
    question = MemoryRepository(aws.table()).get_stored(None, stored[0]["memory_id"])
    assert question.search_text == (
        "Postgres, for billing.\n[8 May 2023] Caroline: Which database do we use?"
    )
    hits = wiring.search_index().bm25(workspace[0].workspace_id, "billing", SearchFilters(), 5)
    assert stored[0]["memory_id"] in [h.memory_id for h in hits]
