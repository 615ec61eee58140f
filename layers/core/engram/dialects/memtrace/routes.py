"""`/memtrace/api/v1/...`: Memtrace's routes over Engram's services."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Annotated, Literal

from fastapi import Depends, Query, Response

from engram import wiring
from engram.agents.models import AgentCreate, AgentStats
from engram.auth import PrincipalDep
from engram.context.models import Moment, stored_moment
from engram.dialects import DialectRouter, offset_page
from engram.dialects.deps import (
    AgentServiceDep,
    ContextServiceDep,
    MemoryServiceDep,
    SessionServiceDep,
)
from engram.dialects.memtrace.models import (
    ERROR_SCHEMA,
    MEMTRACE_TYPES,
    MemtraceAgent,
    MemtraceAgentCreate,
    MemtraceAgentList,
    MemtraceContext,
    MemtraceContextRequest,
    MemtraceMemory,
    MemtraceMemoryBatch,
    MemtraceMemoryBatchResult,
    MemtraceMemoryCreate,
    MemtraceMemoryList,
    MemtraceSearch,
    MemtraceSearchResult,
    MemtraceSession,
    MemtraceSessionCreate,
    MemtraceSessionList,
    MemtraceSessionUpdate,
    MemtraceType,
    error_body,
)
from engram.memories.models import EventType
from engram.memories.repository import MemoryFilters
from engram.memories.service import MemoryService
from engram.paging import MAX_OFFSET, FilterId, PageLimit, PathId, page_size
from engram.sessions.models import SessionCreate, SessionEnd, SessionFilters, SessionUpdate

router = DialectRouter(
    "/memtrace", "/api/v1", "memtrace dialect", error_shape=error_body, error_schema=ERROR_SCHEMA
)
Id = PathId
SESSION_LIST_MAX = 1000  # the seed's list has no paging: the newest this many
AGENT_LIST_MAX = 1000  # nor has the SDK's agent list


# ---- sessions ----


@router.post("/sessions", status_code=201)
def create_session(
    body: MemtraceSessionCreate, who: PrincipalDep, svc: SessionServiceDep
) -> MemtraceSession:
    create = SessionCreate(agent_id=body.agent_id, metadata=body.metadata)
    return MemtraceSession.of(svc.create(who.workspace_id, create))


@router.get("/sessions")
def list_sessions(
    who: PrincipalDep, svc: SessionServiceDep, agent_id: FilterId = None
) -> MemtraceSessionList:
    filters = SessionFilters(agent_id=agent_id)
    total: list[int | None] = [None]

    def fetch(size: int, cursor: str | None):
        page = svc.list(who.workspace_id, filters, size, cursor)
        total[0] = page.count
        return page

    sessions, _ = offset_page(fetch, 0, SESSION_LIST_MAX)
    return MemtraceSessionList(
        sessions=[MemtraceSession.of(s) for s in sessions], count=total[0] or len(sessions)
    )


@router.get("/sessions/{session_id}")
def get_session(session_id: Id, who: PrincipalDep, svc: SessionServiceDep) -> MemtraceSession:
    return MemtraceSession.of(svc.get(who.workspace_id, session_id))


@router.put("/sessions/{session_id}")
def update_session(
    session_id: Id, body: MemtraceSessionUpdate, who: PrincipalDep, svc: SessionServiceDep
) -> MemtraceSession:
    """`{"status": "closed"}` ends the session (its memories are distilled, as on /v1's
    end); `metadata` replaces the session's. Closing a closed session is a 409."""
    ws = who.workspace_id
    session = None
    if body.metadata is not None or body.status == "active":
        active = "active" if body.status == "active" else None  # closed: ended below
        changes = SessionUpdate(metadata=body.metadata, status=active)
        session = svc.update(ws, session_id, changes)
    if body.status == "closed":
        session = svc.end(ws, session_id, SessionEnd())
    return MemtraceSession.of(session or svc.get(ws, session_id))


@router.post("/sessions/{session_id}/context")
def session_context(
    session_id: Id,
    who: PrincipalDep,
    svc: ContextServiceDep,
    body: MemtraceContextRequest | None = None,
) -> MemtraceContext:
    built = svc.build(who.workspace_id, session_id, body or MemtraceContextRequest())
    return MemtraceContext(
        session_id=session_id, context=built.markdown, memory_count=built.memory_count
    )


# ---- memories ----


@dataclass(frozen=True)
class _ListOptions:
    """The SDK's ListOptions but agent_id and session_id (those come from paths too)."""

    filters: MemoryFilters
    limit: int
    offset: int


def _list_options(
    memory_type: MemtraceType | None = None,
    event_type: EventType | None = None,
    tags: Annotated[str | None, Query(max_length=2048, description="Comma-separated.")] = None,
    since: Annotated[Moment | None, Query()] = None,
    until: Annotated[Moment | None, Query()] = None,
    limit: PageLimit = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    order: Literal["asc", "desc"] = "desc",
) -> _ListOptions:
    now = wiring.clock().now()
    filters = MemoryFilters(
        memory_types=(memory_type,) if memory_type else MEMTRACE_TYPES,
        event_types=(event_type,) if event_type else (),
        tags=tuple(t.strip() for t in (tags or "").split(",") if t.strip()),
        since=stored_moment(since, "since", now),
        until=stored_moment(until, "until", now),
        oldest_first=order == "asc",
    )
    return _ListOptions(filters, page_size(limit), offset)


def _listed(
    memories: MemoryService,
    workspace_id: str,
    options: _ListOptions,
    agent_id: str | None = None,
    session_id: str | None = None,
) -> MemtraceMemoryList:
    filters = replace(options.filters, agent_id=agent_id, session_id=session_id)
    page = memories.list(workspace_id, filters, options.limit, None, options.offset)
    return MemtraceMemoryList(
        memories=[MemtraceMemory.of(m) for m in page.data],
        count=len(page.data),
        has_more=page.has_more,
    )


@router.get("/sessions/{session_id}/memories")
def session_memories(
    session_id: Id,
    who: PrincipalDep,
    sessions: SessionServiceDep,
    memories: MemoryServiceDep,
    options: Annotated[_ListOptions, Depends(_list_options)],
) -> MemtraceMemoryList:
    sessions.get(who.workspace_id, session_id)  # an unknown session is a 404, not an empty list
    return _listed(memories, who.workspace_id, options, session_id=session_id)


@router.post("/memories", status_code=201)
def add_memories(
    body: MemtraceMemoryCreate | MemtraceMemoryBatch, who: PrincipalDep, memories: MemoryServiceDep
) -> MemtraceMemory | MemtraceMemoryBatchResult:
    """One memory, or `{"memories": [...]}` (a batch, all or nothing)."""
    if isinstance(body, MemtraceMemoryCreate):
        return MemtraceMemory.of(memories.create(who.workspace_id, [body.engram()])[0])
    made = memories.create(who.workspace_id, [m.engram() for m in body.memories])
    return MemtraceMemoryBatchResult(memories=[MemtraceMemory.of(m) for m in made])


@router.get("/memories")
def list_memories(
    who: PrincipalDep,
    memories: MemoryServiceDep,
    options: Annotated[_ListOptions, Depends(_list_options)],
    agent_id: FilterId = None,
    session_id: FilterId = None,
) -> MemtraceMemoryList:
    """Memtrace's types only (its SDK reads no other), newest first unless order=asc."""
    return _listed(memories, who.workspace_id, options, agent_id=agent_id, session_id=session_id)


@router.post("/search")
def search(
    body: MemtraceSearch, who: PrincipalDep, memories: MemoryServiceDep
) -> MemtraceSearchResult:
    """Memtrace's search has no query text: it is the memories list under its filters (as
    Engram's search answers a filter-only request)."""
    started = time.perf_counter()
    now = wiring.clock().now()
    filters = MemoryFilters(
        agent_id=body.agent_id,
        session_id=body.session_id,
        memory_types=tuple(body.memory_types or MEMTRACE_TYPES),
        event_types=tuple(body.event_types or ()),
        tags=tuple(body.tags or ()),
        content_contains=body.content_contains,
        since=stored_moment(body.since, "since", now),
        until=stored_moment(body.until, "until", now),
        min_importance=body.min_importance,
        oldest_first=body.order == "asc",
    )
    page = memories.list(who.workspace_id, filters, body.limit, None)
    return MemtraceSearchResult(
        results=[MemtraceMemory.of(m) for m in page.data],
        count=len(page.data),
        query_time_ms=round((time.perf_counter() - started) * 1000),
    )


# ---- agents ----


@router.post("/agents", status_code=201)
def register_agent(
    body: MemtraceAgentCreate, who: PrincipalDep, agents: AgentServiceDep
) -> MemtraceAgent:
    create = AgentCreate(name=body.name, description=body.description, config=body.config)
    return MemtraceAgent.of(agents.register(who.workspace_id, create))


@router.get("/agents")
def list_agents(who: PrincipalDep, agents: AgentServiceDep) -> MemtraceAgentList:
    found, _ = offset_page(lambda n, c: agents.list(who.workspace_id, n, c, 0), 0, AGENT_LIST_MAX)
    return MemtraceAgentList(agents=[MemtraceAgent.of(a) for a in found], count=len(found))


@router.get("/agents/{agent_id}")
def get_agent(agent_id: Id, who: PrincipalDep, agents: AgentServiceDep) -> MemtraceAgent:
    return MemtraceAgent.of(agents.get(who.workspace_id, agent_id))


@router.get("/agents/{agent_id}/stats")
def agent_stats(agent_id: Id, who: PrincipalDep, agents: AgentServiceDep) -> AgentStats:
    return agents.stats(who.workspace_id, agent_id)


@router.get("/agents/{agent_id}/memories")
def agent_memories(
    agent_id: Id,
    who: PrincipalDep,
    agents: AgentServiceDep,
    memories: MemoryServiceDep,
    options: Annotated[_ListOptions, Depends(_list_options)],
) -> MemtraceMemoryList:
    agents.get(who.workspace_id, agent_id)  # a registered agent's; another id is a 404
    return _listed(memories, who.workspace_id, options, agent_id=agent_id)


@router.delete("/agents/{agent_id}", status_code=204)
def delete_agent(agent_id: Id, who: PrincipalDep, agents: AgentServiceDep) -> Response:
    """The registration only: the agent's sessions and memories stay."""
    agents.delete(who.workspace_id, agent_id)
    return Response(status_code=204)
