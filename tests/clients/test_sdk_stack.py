"""The SDK against the running local stack: every resource group, pagination by cursor,
errors with the API's sentence, and an idempotent POST replayed after its answer was lost."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from engram_sdk import (
    AsyncEngram,
    AuthenticationError,
    ConflictError,
    Engram,
    NotFoundError,
    UnprocessableEntityError,
    verify_webhook,
)

from tests.clients.conftest import ScriptedServer
from tests.stack import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def engram(stack_env):
    with Engram(stack_env["ENGRAM_URL"], stack_env["ENGRAM_API_KEY"]) as client:
        yield client


def test_health_auth_and_api_keys(engram):
    assert engram.health().status == "ok"
    me = engram.auth.me()
    assert me.workspace.workspace_id and "admin" in me.scopes
    created = engram.api_keys.create("sdk-test", scopes=["read"])
    assert created.api_key.startswith("ek_") and created.scopes == ["read"]
    assert created.id in {key.id for key in engram.api_keys.list()}
    with Engram(engram.base_url, created.api_key) as reader:
        assert reader.auth.me().scopes == ["read"]
    engram.api_keys.revoke(created.id)
    with Engram(engram.base_url, created.api_key) as reader, pytest.raises(AuthenticationError):
        reader.auth.me()

    email = f"sdk-{uuid.uuid4().hex[:8]}@example.com"
    pair = engram.auth.register(email, "correct horse battery", "SDK workspace")
    with Engram(engram.base_url, pair.access_token) as user:
        assert user.auth.me().user.email == email
    again = engram.auth.login(email, "correct horse battery")
    rotated = engram.auth.refresh(again.refresh_token)
    with Engram(engram.base_url, rotated.access_token) as user:
        user.auth.logout(rotated.refresh_token)


def test_sessions_conversation_and_context(engram):
    session = engram.sessions.create(agent_id="sdk-bot", project_name="sdk", metadata={"n": 1})
    sid = session.session_id
    assert engram.sessions.get(sid).project_name == "sdk"
    assert engram.sessions.update(sid, status="paused").status == "paused"
    stored = engram.sessions.add_messages(
        sid,
        [
            {"role": "user", "content": "We decided to ship on Fridays."},
            {"role": "assistant", "content": "Noted: releases go out on Fridays."},
        ],
    )
    assert [m.status for m in stored] == ["stored", "stored"]
    checkpoint = engram.sessions.checkpoint(sid)
    assert checkpoint.message_count == 2
    engram.sessions.add_message(sid, "user", "And hotfixes any day.")
    assert len(engram.sessions.window(sid).messages) == 3
    assert [c.checkpoint_id for c in engram.sessions.checkpoints(sid)] == [checkpoint.checkpoint_id]
    assert engram.sessions.restore(sid, checkpoint.checkpoint_id).restored_message_count == 2
    assert len(engram.sessions.window(sid).messages) == 2
    history = engram.sessions.history(sid, limit=2)
    assert history.count == 3 and len(history.data) == 2 and history.has_more
    assert engram.sessions.embedding_status(sid).total == 3
    context = engram.sessions.context(sid, max_memories=5, include_types=["episodic"])
    assert context.session.session_id == sid and context.markdown.startswith("## ")
    posted = engram.sessions.context_post(sid, query="when do we ship?", max_memories=5)
    assert posted.session.session_id == sid
    assert any(s.session_id == sid for s in engram.sessions.list(agent_id="sdk-bot"))
    ended = engram.sessions.end(sid, summary="Release day agreed.")
    assert ended.status == "completed" and ended.summary_status == "pending"
    with pytest.raises(ConflictError) as caught:
        engram.sessions.update(sid, status="active")
    assert caught.value.status == 409 and caught.value.detail and caught.value.request_id
    assert engram.memories.forget_session(sid).forgotten >= 3
    engram.sessions.delete(sid)
    with pytest.raises(NotFoundError):
        engram.sessions.get(sid)


def test_list_follows_next_cursor_across_pages(engram):
    agent = f"pager-{uuid.uuid4().hex[:6]}"
    ids = {engram.sessions.create(agent_id=agent).session_id for _ in range(5)}
    paginator = engram.sessions.list(agent_id=agent, limit=2)
    pages = list(paginator.pages())
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert {s.session_id for s in paginator} == ids


def test_memories_crud_search_diff_and_forget(engram):
    tag = f"sdk:{uuid.uuid4().hex[:6]}"
    memory = engram.memories.create(
        "The customer Ada prefers email over phone calls.",
        memory_type="preference",
        tags=[tag],
        user_id="ada",
        sync_embedding=True,  # searchable before the answer
    )
    assert engram.memories.status(memory.memory_id).embedding_status == "ready"
    batch = engram.memories.batch(
        [
            {"content": "Invoices go out on the first business day.", "tags": [tag]},
            {"content": "Ada's account manager is Grace.", "memory_type": "fact", "tags": [tag]},
        ]
    )
    assert [m.tags for m in batch] == [[tag], [tag]]
    for stored in batch:
        eventually(
            lambda m=stored: engram.memories.status(m.memory_id).embedding_status == "ready",
            "embedding",
        )
    assert engram.memories.get(memory.memory_id).content.startswith("The customer Ada")
    listed = list(engram.memories.list(tag=tag, limit=2))
    assert len(listed) == 3
    hits = engram.memories.search("does Ada prefer email or phone?", tags=[tag], limit=3)
    assert hits.results[0].memory_id == memory.memory_id, hits.results
    keyword = engram.memories.search("invoices", search_mode="keyword", tags=[tag])
    assert keyword.results[0].memory_id == batch[0].memory_id
    updated = engram.memories.update(memory.memory_id, title="Contact", metadata={"k": "v"})
    assert updated.title == "Contact" and updated.metadata["k"] == "v"
    assert engram.memories.diff().count >= 3
    deleted = engram.memories.delete(memory.memory_id)
    assert deleted.soft and deleted.restorable_until
    assert engram.memories.restore(memory.memory_id).deleted_at is None
    engram.memories.hard_delete(batch[1].memory_id)
    with pytest.raises(NotFoundError):
        engram.memories.get(batch[1].memory_id)
    with pytest.raises(UnprocessableEntityError) as caught:
        engram.memories.create("   ")
    assert "content" in caught.value.detail
    forgotten = engram.memories.forget_user("ada")
    assert forgotten.forgotten >= 1
    assert engram.memories.restore_user("ada").restored >= 1


def test_export_streams_json_and_csv(engram):
    memory = engram.memories.create("Exported memory.", tags=["export"])
    exported = engram.export.memories()
    assert memory.memory_id in {m.memory_id for m in exported}
    csv = b"".join(engram.export.stream(format="csv")).decode()
    assert csv.splitlines()[0].startswith("memory_id") and memory.memory_id in csv


def test_webhooks_and_a_signed_delivery(webhook_stack_env):
    receiver = ScriptedServer()
    receiver.script = [(200, {}, {})]
    engram = Engram(webhook_stack_env["ENGRAM_URL"], webhook_stack_env["ENGRAM_API_KEY"])
    try:
        hook = engram.webhooks.create(f"{receiver.url}/hook", ["webhook.test"])
        assert hook.secret and engram.webhooks.get(hook.webhook_id).url.endswith("/hook")
        assert hook.webhook_id in {w.webhook_id for w in engram.webhooks.list()}
        queued = engram.webhooks.test(hook.webhook_id)
        assert queued.queued
        eventually(lambda: receiver.received, "the test delivery")
        _, _, headers, body = receiver.received[0]
        assert verify_webhook(body, headers["engram-signature"], hook.secret)["type"] == (
            "webhook.test"
        )
        eventually(lambda: list(engram.webhooks.deliveries(hook.webhook_id)), "delivery log")
        rotated = engram.webhooks.rotate_secret(hook.webhook_id)
        assert rotated.secret != hook.secret
        assert not engram.webhooks.update(hook.webhook_id, active=False).active
        engram.webhooks.delete(hook.webhook_id)
        with pytest.raises(NotFoundError):
            engram.webhooks.get(hook.webhook_id)
    finally:
        receiver.close()
        engram.close()


def test_a_lost_answer_is_retried_and_replayed_not_duplicated(stack_env, engram):
    proxy = ScriptedServer(upstream=stack_env["ENGRAM_URL"])
    proxy.forward_then_fail = 1  # the stack stores it, the client sees a 503
    tag = f"replay:{uuid.uuid4().hex[:6]}"
    try:
        with Engram(proxy.url, stack_env["ENGRAM_API_KEY"], sleep=lambda _: None) as client:
            memory = client.memories.create("Stored once despite the retry.", tags=[tag])
    finally:
        proxy.close()
    posts = [r for r in proxy.received if r[0] == "POST"]
    assert len(posts) == 2 and posts[0][2]["idempotency-key"] == posts[1][2]["idempotency-key"]
    assert [m.memory_id for m in engram.memories.list(tag=tag)] == [memory.memory_id]


def test_the_async_client_against_the_stack(stack_env):
    async def main():
        async with AsyncEngram(stack_env["ENGRAM_URL"], stack_env["ENGRAM_API_KEY"]) as engram:
            session = await engram.sessions.create(project_name="async")
            await engram.sessions.add_message(session.session_id, "user", "Async hello.")
            pages = [s async for s in engram.sessions.list(project_name="async")]
            context = await engram.sessions.context(session.session_id)
            return session, pages, context

    session, pages, context = asyncio.run(main())
    assert session.session_id in {s.session_id for s in pages}
    assert json.loads(context.model_dump_json())["session"]["session_id"] == session.session_id


def test_agents_workspaces_related_and_list_filters(engram):
    agent_id = f"agent-{uuid.uuid4().hex[:6]}"
    agent = engram.agents.create("Support bot", agent_id=agent_id, config={"model": "small"})
    assert agent.agent_id == agent_id and engram.agents.get(agent_id).name == "Support bot"
    assert agent_id in {a.agent_id for a in engram.agents.list()}
    first = engram.memories.create(
        "Deploys run through the release pipeline.",
        agent_id=agent_id,
        concepts=["deploy"],
        event_type="decision_made",
        importance_score=0.9,
        sync_embedding=True,
    )
    second = engram.memories.create(
        "The release pipeline deploys on Fridays.",
        agent_id=agent_id,
        concepts=["deploy"],
        importance_score=0.2,
        sync_embedding=True,
    )
    assert engram.agents.stats(agent_id).memory_count == 2
    related = engram.memories.related(first.memory_id, limit=5)
    assert related.memory.memory_id == first.memory_id
    assert second.memory_id in related.related_ids
    important = list(engram.memories.list(agent_id=agent_id, min_importance=0.5))
    assert [m.memory_id for m in important] == [first.memory_id]
    oldest_first = list(engram.memories.list(agent_id=agent_id, order="asc", since="1h"))
    assert [m.memory_id for m in oldest_first] == [first.memory_id, second.memory_id]
    events = engram.memories.list(agent_id=agent_id, event_types=["decision_made"])
    assert [m.event_type for m in events] == ["decision_made"]
    narrowed = engram.memories.search("release pipeline", agent_id=agent_id, min_importance=0.5)
    assert [hit.memory_id for hit in narrowed.results] == [first.memory_id]
    engram.agents.delete(agent_id)
    with pytest.raises(NotFoundError):
        engram.agents.get(agent_id)

    workspace_id = engram.auth.me().workspace.workspace_id
    assert [w.workspace_id for w in engram.workspaces.list()] == [workspace_id]
    assert engram.workspaces.get(workspace_id).memory_count >= 2
