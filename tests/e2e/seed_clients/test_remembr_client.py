"""Remembr's own SDK (`remembr` 0.2.0 from PyPI), unmodified, against the local stack over
HTTP with one changed line: `base_url=<engram>/remembr/api/v1`. Every public method of
the client, one test each, asserting on what the client returns."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from remembr import RemembrClient
from remembr.exceptions import AuthenticationError, NotFoundError, RemembrError
from remembr.models import CheckpointInfo, Episode, MemoryQueryResult, Session, TagFilter

from tests.e2e.seed_clients.helpers import receiver, unique
from tests.stack import eventually

pytestmark = pytest.mark.e2e


def runner(engram):
    """run(coroutine function): runs it with a client of the dev workspace's admin key."""

    def run(call, key: str | None = None):
        async def go():
            client = RemembrClient(
                api_key=key or engram.key, base_url=f"{engram.url}/remembr/api/v1"
            )
            try:
                return await call(client)
            finally:
                await client.aclose()

        return asyncio.run(go())

    return run


@pytest.fixture
def remembr(engram):
    return runner(engram)


@pytest.fixture
def hooks(private_webhooks_engram):
    """The webhook tests' client: deliveries go to a receiver on 127.0.0.1."""
    return runner(private_webhooks_engram)


def _searchable(remembr, word: str, episode_id: str) -> None:
    """Until a keyword search finds it: the embed worker records `ready` just before its
    index write, so the status alone can run ahead of the index."""

    def found(c):
        body = {"query": word, "search_mode": "keyword", "limit": 5}
        return c.arequest("POST", "/memory/search", json=body)

    eventually(
        lambda: episode_id in [r["episode_id"] for r in remembr(found)["results"]], "indexing"
    )


def test_create_session(remembr, engram):
    session = remembr(lambda c: c.create_session(metadata={"thread": "support-42"}))
    assert isinstance(session, Session)
    assert session.session_id.startswith("sess_") and session.request_id.startswith("req_")
    assert session.org_id == engram.workspace_id()
    assert session.metadata == {"thread": "support-42"}
    assert session.created_at.tzinfo is not None


def test_create_session_with_an_idempotency_key_answers_the_same_session(remembr):
    key = unique("idem-")
    first = remembr(lambda c: c.create_session(metadata={"a": 1}, idempotency_key=key))
    again = remembr(lambda c: c.create_session(metadata={"a": 1}, idempotency_key=key))
    assert again.session_id == first.session_id


def test_get_session(remembr):
    made = remembr(lambda c: c.create_session(metadata={"source": "docs"}))
    got = remembr(lambda c: c.get_session(made.session_id))
    assert (got.session_id, got.org_id, got.metadata) == (
        made.session_id,
        made.org_id,
        made.metadata,
    )
    assert got.created_at == made.created_at


def test_get_session_of_an_unknown_id_raises_not_found(remembr):
    with pytest.raises(NotFoundError) as caught:
        remembr(lambda c: c.get_session("sess_does_not_exist"))
    assert caught.value.status_code == 404 and caught.value.code == "not_found"
    assert "sess_does_not_exist" in caught.value.message and caught.value.request_id


def test_list_sessions(remembr, engram):
    made = [remembr(lambda c, n=n: c.create_session(metadata={"n": n})) for n in range(3)]
    first = remembr(lambda c: c.list_sessions(limit=2, offset=0))
    second = remembr(lambda c: c.list_sessions(limit=2, offset=2))
    assert len(first) == 2 and all(isinstance(s, Session) for s in first)
    assert {s.org_id for s in first} == {engram.workspace_id()}
    seen = {s.session_id for s in first + second}
    assert not {s.session_id for s in first} & {s.session_id for s in second}
    newest = {m.session_id for m in made[1:]}
    assert newest <= seen  # newest first: the two newest are on the first pages


def test_store(remembr):
    session = remembr(lambda c: c.create_session())
    episode = remembr(
        lambda c: c.store(
            "Customer prefers Friday summaries.",
            role="user",
            session_id=session.session_id,
            tags=["kind:preference", "customer:ada"],
            metadata={"source": "langgraph"},
        )
    )
    assert isinstance(episode, Episode) and episode.episode_id
    assert episode.session_id == session.session_id
    assert episode.embedding_status == "pending" and episode.created_at.tzinfo is not None
    detail = remembr(lambda c: c.arequest("GET", f"/sessions/{session.session_id}"))
    assert [m["content"] for m in detail["messages"]] == ["Customer prefers Friday summaries."]
    assert detail["token_usage"]["message_count"] == 1


def test_store_without_a_session(remembr):
    episode = remembr(lambda c: c.store("A loose note.", role="assistant"))
    assert episode.session_id is None and episode.role == "assistant"


def test_search(remembr):
    word = unique("fridaysummary")
    session = remembr(lambda c: c.create_session())
    stored = remembr(
        lambda c: c.store(
            f"Customer prefers {word} on Fridays.",
            session_id=session.session_id,
            tags=["kind:preference", "customer:ada"],
        )
    )
    remembr(lambda c: c.store("Unrelated: the build runs nightly.", session_id=session.session_id))
    _searchable(remembr, word, stored.episode_id)
    result = remembr(
        lambda c: c.search(
            word,
            session_id=session.session_id,
            tags=["customer:ada"],
            tag_filters=[TagFilter(key="kind", value="preference")],
            limit=5,
            search_mode="hybrid",
            weights={"semantic": 0.6, "keyword": 0.3, "recency": 0.1},
        )
    )
    assert isinstance(result, MemoryQueryResult) and result.request_id
    assert [r.episode_id for r in result.results] == [stored.episode_id]
    assert result.total == 1 and result.results[0].role == "user"
    assert result.results[0].tags == ["kind:preference", "customer:ada"]
    assert result.query_time_ms >= 0 and 0 < result.results[0].score <= 1


def test_search_with_an_unsupported_tag_operator_is_a_sentence(remembr):
    with pytest.raises(RemembrError) as caught:
        remembr(lambda c: c.search("x", tag_filters=[TagFilter(key="score", value="1", op="gt")]))
    assert caught.value.status_code == 422 and "op" in caught.value.message


def test_get_session_history(remembr):
    session = remembr(lambda c: c.create_session())
    for text in ("first", "second", "third"):
        remembr(lambda c, t=text: c.store(t, role="user", session_id=session.session_id))
    history = remembr(lambda c: c.get_session_history(session.session_id, limit=2))
    assert [e.content for e in history] == ["first", "second"]
    assert all(isinstance(e, Episode) and e.role == "user" for e in history)


def test_checkpoint(remembr):
    session = remembr(lambda c: c.create_session())
    remembr(lambda c: c.store("one", session_id=session.session_id))
    made = remembr(lambda c: c.checkpoint(session.session_id))
    assert isinstance(made, CheckpointInfo) and made.message_count == 1 and made.checkpoint_id


def test_restore_resets_the_window_and_keeps_the_history(remembr):
    session = remembr(lambda c: c.create_session())
    remembr(lambda c: c.store("before", session_id=session.session_id))
    made = remembr(lambda c: c.checkpoint(session.session_id))
    remembr(lambda c: c.store("after", session_id=session.session_id))
    restored = remembr(lambda c: c.restore(session.session_id, made.checkpoint_id))
    assert restored["restored_message_count"] == 1 and restored["request_id"]
    assert datetime.fromisoformat(restored["checkpoint_created_at"]) == made.created_at
    window = remembr(lambda c: c.arequest("GET", f"/sessions/{session.session_id}"))
    assert [m["content"] for m in window["messages"]] == ["before"]
    history = remembr(lambda c: c.get_session_history(session.session_id))
    assert [e.content for e in history] == ["before", "after"]


def test_list_checkpoints(remembr):
    session = remembr(lambda c: c.create_session())
    remembr(lambda c: c.store("one", session_id=session.session_id))
    made = [remembr(lambda c: c.checkpoint(session.session_id)) for _ in range(2)]
    listed = remembr(lambda c: c.list_checkpoints(session.session_id))
    assert sorted(c.checkpoint_id for c in listed) == sorted(c.checkpoint_id for c in made)


def test_forget_episode(remembr):
    episode = remembr(lambda c: c.store("Forget me."))
    answer = remembr(lambda c: c.forget_episode(episode.episode_id))
    assert answer["deleted"] is True and answer["soft"] is True
    assert answer["episode_id"] == episode.episode_id and answer["restorable_until"]
    with pytest.raises(NotFoundError):
        remembr(lambda c: c.arequest("GET", f"/memory/{episode.episode_id}/status"))
    restored = remembr(lambda c: c.arequest("POST", f"/memory/{episode.episode_id}/restore"))
    assert restored["episode_id"] == episode.episode_id and restored["content"] == "Forget me."


def test_forget_session(remembr):
    session = remembr(lambda c: c.create_session())
    for text in ("a", "b"):
        remembr(lambda c, t=text: c.store(t, session_id=session.session_id))
    answer = remembr(lambda c: c.forget_session(session.session_id))
    assert answer == {
        "request_id": answer["request_id"],
        "session_id": session.session_id,
        "deleted_count": 2,
    }
    assert remembr(lambda c: c.get_session_history(session.session_id)) == []


def test_forget_user(remembr, engram):
    user = unique("user-")
    auth = {"Authorization": f"Bearer {engram.key}"}
    made = httpx.post(f"{engram.url}/v1/sessions", headers=auth, json={"user_id": user})
    sid = made.json()["session_id"]
    remembr(lambda c: c.store("Mine.", session_id=sid))
    answer = remembr(lambda c: c.forget_user(user))
    assert answer["user_id"] == user
    assert (answer["deleted_episodes"], answer["deleted_sessions"]) == (1, 1)
    with pytest.raises(NotFoundError):
        remembr(lambda c: c.get_session(sid))


def test_forget_user_needs_an_admin_key(remembr, engram):
    key = engram.make_key(scopes=["read", "write"])
    with pytest.raises(AuthenticationError) as caught:
        remembr(lambda c: c.forget_user("anyone"), key=key)
    assert caught.value.status_code == 403 and "admin" in caught.value.message


def test_export(remembr):
    session = remembr(lambda c: c.create_session())
    remembr(lambda c: c.store("Exported line.", session_id=session.session_id))

    async def rows(c):
        stream = await c.export(session_id=session.session_id)
        return [row async for row in stream]

    exported = remembr(rows)
    assert [r["content"] for r in exported] == ["Exported line."]
    since = datetime.now(UTC) - timedelta(hours=1)
    csv = remembr(lambda c: c.export(format="csv", from_date=since, session_id=session.session_id))
    assert isinstance(csv, bytes) and b"Exported line." in csv and csv.startswith(b"memory_id")


def test_request_and_arequest_return_the_data_of_the_envelope(remembr, engram):
    session = remembr(lambda c: c.create_session())
    # `request` is the SDK's one synchronous method (asyncio.run inside): used outside a loop
    client = RemembrClient(api_key=engram.key, base_url=f"{engram.url}/remembr/api/v1")
    counts = client.request("GET", f"/sessions/{session.session_id}/embedding-status")
    assert counts == {
        "session_id": session.session_id,
        "pending": 0,
        "ready": 0,
        "failed": 0,
        "total": 0,
    }
    assert remembr(lambda c: c.arequest("GET", "/health")) == {"status": "ok"}


def test_a_bad_key_raises_authentication_error(remembr):
    with pytest.raises(AuthenticationError) as caught:
        remembr(lambda c: c.list_sessions(), key="ek_not_a_real_key")
    assert caught.value.status_code == 401 and caught.value.code == "unauthorized"


# ---- client.webhooks ----


def test_webhooks_create(hooks, private_webhooks_engram):
    hook = hooks(lambda c: c.webhooks.create("http://127.0.0.1:9/hook", ["memory.stored"]))
    assert hook.secret and hook.active is True and hook.events == ["memory.stored"]
    assert hook.org_id == private_webhooks_engram.workspace_id() and hook.failure_count == 0
    assert hook.updated_at >= hook.created_at and hook.last_delivery_at is None
    hooks(lambda c: c.webhooks.delete(hook.id))


def test_webhooks_list(hooks):
    hook = hooks(lambda c: c.webhooks.create("http://127.0.0.1:9/list", ["session.created"]))
    listed = hooks(lambda c: c.webhooks.list())
    assert hook.id in [w.id for w in listed]
    assert not hasattr(next(w for w in listed if w.id == hook.id), "secret")
    hooks(lambda c: c.webhooks.delete(hook.id))


def test_webhooks_get(hooks):
    hook = hooks(lambda c: c.webhooks.create("http://127.0.0.1:9/get", ["memory.deleted"]))
    got = hooks(lambda c: c.webhooks.get(hook.id))
    assert (got.id, got.url, got.events) == (hook.id, "http://127.0.0.1:9/get", ["memory.deleted"])
    hooks(lambda c: c.webhooks.delete(hook.id))


def test_webhooks_update(hooks):
    hook = hooks(lambda c: c.webhooks.create("http://127.0.0.1:9/up", ["memory.stored"]))
    updated = hooks(
        lambda c: c.webhooks.update(hook.id, events=["checkpoint.created"], active=False)
    )
    assert updated.events == ["checkpoint.created"] and updated.active is False
    assert updated.updated_at >= hook.updated_at
    hooks(lambda c: c.webhooks.delete(hook.id))


def test_webhooks_delete(hooks):
    hook = hooks(lambda c: c.webhooks.create("http://127.0.0.1:9/del", ["memory.stored"]))
    assert hooks(lambda c: c.webhooks.delete(hook.id)) == {"id": hook.id, "deleted": True}
    with pytest.raises(NotFoundError):
        hooks(lambda c: c.webhooks.get(hook.id))


def test_webhooks_rotate_secret(hooks):
    hook = hooks(lambda c: c.webhooks.create("http://127.0.0.1:9/rot", ["memory.stored"]))
    rotated = hooks(lambda c: c.webhooks.rotate_secret(hook.id))
    assert rotated.id == hook.id and rotated.secret and rotated.secret != hook.secret
    hooks(lambda c: c.webhooks.delete(hook.id))


def test_webhooks_test_and_deliveries(hooks):
    with receiver() as (url, bodies):
        hook = hooks(lambda c: c.webhooks.create(url, ["memory.stored"]))
        queued = hooks(lambda c: c.webhooks.test(hook.id))
        assert queued["webhook_id"] == hook.id and queued["queued"] is True
        delivered = eventually(
            lambda: [
                d
                for d in hooks(lambda c: c.webhooks.deliveries(hook.id))
                if d.status == "succeeded"
            ],
            "the test delivery",
        )
        assert delivered[0].event == "webhook.test" and delivered[0].attempts == 1
        assert delivered[0].response_status_code == 200
        assert delivered[0].payload == {"id": queued["event_id"], "type": "webhook.test"}
        assert json.loads(bodies[0])["type"] == "webhook.test"
        hooks(lambda c: c.webhooks.delete(hook.id))
