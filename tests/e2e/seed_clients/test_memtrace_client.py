"""Memtrace's own SDK (`memtrace-sdk` 0.2.0 from PyPI), unmodified, against the local stack
over HTTP with one changed line: `Memtrace("<engram>/memtrace", key)` (it appends
`/api/v1` and sends `x-api-key`). Every public method of the client, one test each,
asserting on what the client returns: sessions, memories, search and agents."""

from __future__ import annotations

import pytest
from memtrace import Memtrace
from memtrace.exceptions import AuthenticationError, ConflictError, NotFoundError
from memtrace.models import (
    AddMemoryRequest,
    Agent,
    AgentStats,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    RegisterAgentRequest,
    SearchQuery,
    Session,
    SessionContext,
)

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


# ---- memories ----


def _add(memtrace, agent: str, content: str, **fields) -> Memory:
    body = {"memory_type": "episodic", "event_type": "general", **fields}
    return memtrace.add_memory(AddMemoryRequest(agent_id=agent, content=content, **body))


def test_add_memory(memtrace, engram):
    agent = unique("agent_")
    session = memtrace.create_session(CreateSessionRequest(agent_id=agent))
    memory = _add(
        memtrace,
        agent,
        "Crawled https://example.com and found 3 product pages",
        session_id=session.id,
        event_type="crawl",
        metadata={"pages": 3},
        tags=["web"],
        importance=0.8,
        dedup_key="crawl:example.com",
    )
    assert isinstance(memory, Memory) and memory.org_id == engram.workspace_id()
    assert (memory.agent_id, memory.session_id) == (agent, session.id)
    assert (memory.memory_type, memory.event_type) == ("episodic", "crawl")
    assert memory.metadata == {"pages": 3} and memory.tags == ["web"]
    assert (memory.importance, memory.dedup_key) == (0.8, "crawl:example.com")
    again = _add(memtrace, agent, "Crawled it again: 4 pages", dedup_key="crawl:example.com")
    listed = memtrace.list_memories(ListOptions(agent_id=agent))
    assert [m.content for m in listed.memories] == [again.content]  # the key's one memory


def test_add_memories(memtrace):
    agent = unique("agent_")
    requests = [
        AddMemoryRequest(agent_id=agent, memory_type=kind, event_type=kind, content=f"{kind} one")
        for kind in ("episodic", "decision", "entity")
    ]
    made = memtrace.add_memories(requests)
    assert [(m.memory_type, m.content) for m in made] == [
        ("episodic", "episodic one"),
        ("decision", "decision one"),
        ("entity", "entity one"),
    ]
    assert memtrace.list_memories(ListOptions(agent_id=agent)).count == 3


def test_list_memories(memtrace):
    agent = unique("agent_")
    first = _add(memtrace, agent, "first", event_type="crawl", tags=["a", "b"])
    second = _add(memtrace, agent, "second", memory_type="decision", event_type="decision")
    newest = memtrace.list_memories(ListOptions(agent_id=agent))
    assert [m.content for m in newest.memories] == ["second", "first"]
    assert newest.count == 2 and newest.has_more is False
    oldest = memtrace.list_memories(ListOptions(agent_id=agent, order="asc", limit=1))
    assert [m.content for m in oldest.memories] == ["first"] and oldest.has_more is True
    paged = memtrace.list_memories(ListOptions(agent_id=agent, order="asc", limit=1, offset=1))
    assert [m.time for m in paged.memories] == [second.time]
    for options in (
        ListOptions(agent_id=agent, memory_type="episodic"),
        ListOptions(agent_id=agent, event_type="crawl"),
        ListOptions(agent_id=agent, tags="a,b"),
        ListOptions(agent_id=agent, until=first.time.isoformat()),
    ):
        assert [m.content for m in memtrace.list_memories(options).memories] == ["first"]
    assert memtrace.list_memories(ListOptions(agent_id=agent, since="1h")).count == 2


def test_search_memories(memtrace):
    agent = unique("agent_")
    _add(
        memtrace,
        agent,
        "Chose category A: higher engagement",
        memory_type="decision",
        event_type="decision",
        importance=0.9,
        tags=["pricing"],
    )
    _add(memtrace, agent, "Crawled the category A pages", importance=0.2)
    _add(
        memtrace,
        agent,
        "Skipped category B: low quality",
        memory_type="decision",
        event_type="decision",
        importance=0.4,
    )
    found = memtrace.search_memories(
        SearchQuery(agent_id=agent, content_contains="category a", order="asc")
    )
    assert [m.content for m in found.results] == [
        "Chose category A: higher engagement",
        "Crawled the category A pages",
    ]
    assert found.count == 2 and found.query_time_ms >= 0
    decided = memtrace.search_memories(
        SearchQuery(agent_id=agent, memory_types=["decision"], min_importance=0.5, since="2h")
    )
    assert [m.content for m in decided.results] == ["Chose category A: higher engagement"]
    tagged = memtrace.search_memories(
        SearchQuery(agent_id=agent, event_types=["decision"], tags=["pricing"], limit=5)
    )
    assert [m.importance for m in tagged.results] == [0.9]


def test_remember(memtrace):
    agent = unique("agent_")
    memory = memtrace.remember(agent, "User prefers dark mode")
    assert (memory.agent_id, memory.memory_type, memory.event_type) == (
        agent,
        "episodic",
        "general",
    )
    assert memory.content == "User prefers dark mode"


def test_recall(memtrace):
    agent = unique("agent_")
    memtrace.remember(agent, "first thing")
    memtrace.remember(agent, "second thing")
    memtrace.remember(unique("other_"), "someone else's")
    recalled = memtrace.recall(agent)
    assert [m.content for m in recalled.memories] == ["second thing", "first thing"]


def test_decide(memtrace):
    agent = unique("agent_")
    decision = memtrace.decide(agent, "Focus on category A", "higher engagement")
    assert (decision.memory_type, decision.event_type) == ("decision", "decision")
    assert decision.metadata == {"reasoning": "higher engagement"}
    assert memtrace.recall(agent).memories[0].content == "Focus on category A"


def test_get_session_memories(memtrace):
    agent = unique("agent_")
    session = memtrace.create_session(CreateSessionRequest(agent_id=agent))
    _add(memtrace, agent, "in the session", session_id=session.id)
    _add(memtrace, agent, "outside it")
    listed = memtrace.get_session_memories(session.id)
    assert [m.content for m in listed.memories] == ["in the session"]
    with pytest.raises(NotFoundError):
        memtrace.get_session_memories("sess_nope")


# ---- agents ----


def _register(memtrace, **fields) -> Agent:
    return memtrace.register_agent(RegisterAgentRequest(name=unique("researcher "), **fields))


def test_register_agent(memtrace, engram):
    agent = _register(memtrace, description="Market research", config={"model": "sonnet"})
    assert isinstance(agent, Agent) and agent.id.startswith("agt_")
    assert agent.org_id == engram.workspace_id() and agent.name.startswith("researcher ")
    assert (agent.description, agent.config) == ("Market research", {"model": "sonnet"})
    assert agent.last_active_at is None


def test_list_agents(memtrace):
    made = [_register(memtrace) for _ in range(2)]
    listed = memtrace.list_agents()
    assert {a.id for a in made} <= {a.id for a in listed.agents}
    assert listed.count == len(listed.agents) >= 2


def test_get_agent(memtrace):
    made = _register(memtrace)
    memtrace.remember(made.id, "it did something")
    got = memtrace.get_agent(made.id)
    assert (got.id, got.name, got.created_at) == (made.id, made.name, made.created_at)
    assert got.last_active_at is not None
    with pytest.raises(NotFoundError):
        memtrace.get_agent("agt_nope")


def test_get_agent_stats(memtrace):
    agent = _register(memtrace)
    memtrace.remember(agent.id, "did a thing")
    memtrace.decide(agent.id, "chose a thing", "because")
    _add(memtrace, agent.id, "the crawl failed", event_type="crawl_error")
    memtrace.create_session(CreateSessionRequest(agent_id=agent.id))
    closed = memtrace.create_session(CreateSessionRequest(agent_id=agent.id))
    memtrace.close_session(closed.id)
    stats = memtrace.get_agent_stats(agent.id)
    assert isinstance(stats, AgentStats) and stats.agent_id == agent.id
    assert (stats.memory_count, stats.memories_24h, stats.errors_24h) == (3, 3, 1)
    assert stats.memory_types == {"episodic": 2, "decision": 1}
    assert (stats.session_count, stats.active_sessions) == (2, 1)
    assert stats.last_active_at is not None


def test_get_agent_memories(memtrace):
    agent = _register(memtrace)
    memtrace.remember(agent.id, "one")
    memtrace.decide(agent.id, "two", "why")
    memtrace.remember(unique("other_"), "not this agent's")
    everything = memtrace.get_agent_memories(agent.id)
    assert [m.content for m in everything.memories] == ["two", "one"]
    decisions = memtrace.get_agent_memories(agent.id, ListOptions(memory_type="decision"))
    assert [m.content for m in decisions.memories] == ["two"]
    with pytest.raises(NotFoundError):
        memtrace.get_agent_memories("agt_nope")


def test_delete_agent(memtrace):
    agent = _register(memtrace)
    memtrace.remember(agent.id, "kept after the registration goes")
    assert memtrace.delete_agent(agent.id) is None
    with pytest.raises(NotFoundError):
        memtrace.get_agent(agent.id)
    assert agent.id not in {a.id for a in memtrace.list_agents().agents}
    assert memtrace.list_memories(ListOptions(agent_id=agent.id)).count == 1
    with pytest.raises(NotFoundError):
        memtrace.delete_agent(agent.id)
