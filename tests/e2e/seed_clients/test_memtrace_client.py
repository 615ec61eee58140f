"""Memtrace's own SDK (`memtrace-sdk` 0.2.0 from PyPI), unmodified, against the local stack
over HTTP with one changed line: `Memtrace("<engram>/memtrace", key)` (it appends
`/api/v1` and sends `x-api-key`). Every public method of the client, one test each,
asserting on what the client returns."""

from __future__ import annotations

import pytest
from memtrace import Memtrace
from memtrace.exceptions import AuthenticationError, ConflictError, NotFoundError
from memtrace.models import ContextOptions, CreateSessionRequest, Session, SessionContext

from tests.e2e.seed_clients.helpers import unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def memtrace(engram):
    with Memtrace(f"{engram.url}/memtrace", engram.key) as client:
        yield client


def test_create_session(memtrace, engram):
    agent = unique("agent_")
    session = memtrace.create_session(
        CreateSessionRequest(agent_id=agent, metadata={"task": "product_research"})
    )
    assert isinstance(session, Session) and session.id.startswith("sess_")
    assert session.agent_id == agent and session.status == "active"
    assert session.org_id == engram.workspace_id() and session.closed_at is None
    assert session.metadata == {"task": "product_research"}


def test_get_session(memtrace):
    made = memtrace.create_session(CreateSessionRequest(agent_id=unique("agent_")))
    got = memtrace.get_session(made.id)
    assert (got.id, got.agent_id, got.created_at) == (made.id, made.agent_id, made.created_at)


def test_get_session_of_an_unknown_id_raises_not_found(memtrace):
    with pytest.raises(NotFoundError) as caught:
        memtrace.get_session("sess_nope")
    assert "sess_nope" in caught.value.message


def test_list_sessions(memtrace):
    agent = unique("agent_")
    made = [memtrace.create_session(CreateSessionRequest(agent_id=agent)) for _ in range(2)]
    memtrace.create_session(CreateSessionRequest(agent_id=unique("other_")))
    listed = memtrace.list_sessions(agent_id=agent)
    assert sorted(s.id for s in listed.sessions) == sorted(s.id for s in made)
    assert listed.count == 2
    assert memtrace.list_sessions().count >= 3


def test_close_session(memtrace):
    made = memtrace.create_session(CreateSessionRequest(agent_id=unique("agent_")))
    closed = memtrace.close_session(made.id)
    assert closed.status == "closed" and closed.closed_at is not None
    assert closed.updated_at >= made.updated_at
    assert memtrace.get_session(made.id).status == "closed"
    with pytest.raises(ConflictError):
        memtrace.close_session(made.id)


def test_get_session_context(memtrace, engram):
    import httpx

    made = memtrace.create_session(CreateSessionRequest(agent_id=unique("agent_")))
    auth = {"x-api-key": engram.key}
    posted = httpx.post(
        f"{engram.url}/v1/sessions/{made.id}/messages",
        headers=auth,
        json={"role": "assistant", "content": "Crawled https://example.com and found 3 pages"},
    )
    assert posted.status_code == 201, posted.text
    context = memtrace.get_session_context(
        made.id, ContextOptions(since="4h", include_types=["episodic", "decision"], max_tokens=2000)
    )
    assert isinstance(context, SessionContext) and context.session_id == made.id
    assert context.memory_count == 1
    assert context.context.startswith(f"## Session Context ({made.id})")
    assert "### Recent Actions (1)\n- Crawled https://example.com and found 3 pages" in (
        context.context
    )


def test_a_bad_key_raises_authentication_error(engram):
    with (
        Memtrace(f"{engram.url}/memtrace", "ek_wrong") as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.list_sessions()
    assert caught.value.message == "The API key is not valid."
