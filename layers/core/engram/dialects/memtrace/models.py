"""Memtrace's bodies, and how Engram's objects read in them. Every model is named
`Memtrace...`: the combined OpenAPI document holds every dialect's models side by side."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engram.agents.models import Agent
from engram.context.models import ContextRequest, Moment
from engram.memories.models import (
    Content,
    DedupKey,
    EventType,
    Importance,
    Memory,
    MemoryCreate,
    Tags,
)
from engram.sessions.models import Session
from engram.validation import EngramId, Metadata, check_batch_size

# A closed Memtrace session is an ended Engram one (completed or failed).
CLOSED = ("completed", "failed")


def error_body(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """Memtrace's error: `{"error": "<sentence>"}` (its SDK reads only that key)."""
    return {"error": body["detail"], "code": body["code"], "request_id": body["request_id"]}


ERROR_SCHEMA = (
    "MemtraceError",
    {
        "title": "MemtraceError",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string"},
            "request_id": {"type": "string"},
        },
    },
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemtraceSessionCreate(_Request):
    agent_id: EngramId
    metadata: Metadata = Field(default_factory=dict)


class MemtraceSessionUpdate(_Request):
    status: Literal["active", "closed"] | None = None
    metadata: Metadata | None = None


class MemtraceSession(BaseModel):
    id: str
    session_id: str  # the seed's name for it; the SDK reads `id`
    org_id: str
    agent_id: str
    status: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    closed_at: str | None

    @classmethod
    def of(cls, session: Session) -> MemtraceSession:
        closed = session.status in CLOSED
        return cls(
            id=session.session_id,
            session_id=session.session_id,
            org_id=session.workspace_id,
            agent_id=session.agent_id or "",
            status="closed" if closed else session.status,
            metadata=session.metadata,
            created_at=session.created_at,
            updated_at=session.updated_at or session.last_active_at,
            closed_at=session.ended_at if closed else None,
        )


class MemtraceSessionList(BaseModel):
    sessions: list[MemtraceSession]
    count: int


class MemtraceContextRequest(ContextRequest):
    """Engram's context request; Memtrace's context is the session's own memories."""

    scope: Literal["workspace", "session", "project"] = "session"


class MemtraceContext(BaseModel):
    session_id: str
    context: str
    memory_count: int


# ---- memories ----

# Memtrace's memory types (its SDK accepts no other): a list in this dialect shows these.
MEMTRACE_TYPES = ("episodic", "session", "decision", "entity")
MemtraceType = Literal["episodic", "session", "decision", "entity"]


class MemtraceMemoryCreate(_Request):
    agent_id: EngramId
    session_id: EngramId | None = None
    memory_type: MemtraceType
    event_type: EventType
    content: Content
    metadata: Metadata = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)
    dedup_key: DedupKey | None = None
    importance: Importance | None = None
    parent_id: EngramId | None = None

    def engram(self) -> MemoryCreate:
        fields = self.model_dump(exclude={"importance"}, exclude_none=True)
        if self.importance is not None:
            fields["importance_score"] = self.importance
        return MemoryCreate(**fields)


class MemtraceMemoryBatch(_Request):
    memories: list[MemtraceMemoryCreate] = Field(min_length=1)

    @model_validator(mode="after")
    def _within_batch_limit(self) -> MemtraceMemoryBatch:
        check_batch_size(self.memories, "memories")
        return self


class MemtraceMemory(BaseModel):
    id: str  # Engram's memory_id (Memtrace's own memories carry none; its SDK ignores it)
    time: str
    org_id: str
    agent_id: str
    session_id: str | None
    memory_type: str
    event_type: str
    content: str
    metadata: dict[str, Any]
    tags: list[str]
    dedup_key: str | None
    importance: float
    parent_id: str | None

    @classmethod
    def of(cls, memory: Memory) -> MemtraceMemory:
        return cls(
            id=memory.memory_id,
            time=memory.created_at,
            org_id=memory.workspace_id,
            agent_id=memory.agent_id or "",
            session_id=memory.session_id,
            memory_type=memory.memory_type,
            event_type=memory.event_type or "",
            content=memory.content,
            metadata=memory.metadata,
            tags=memory.tags,
            dedup_key=memory.dedup_key,
            importance=memory.importance_score,
            parent_id=memory.parent_id,
        )


class MemtraceMemoryBatchResult(BaseModel):
    memories: list[MemtraceMemory]


class MemtraceMemoryList(BaseModel):
    memories: list[MemtraceMemory]
    count: int  # of this page
    has_more: bool


class MemtraceSearch(_Request):
    """Memtrace's search: structured filters, no query text."""

    agent_id: EngramId | None = None
    session_id: EngramId | None = None
    memory_types: list[MemtraceType] | None = Field(None, max_length=4)
    event_types: list[EventType] | None = Field(None, max_length=50)
    tags: list[str] | None = Field(None, max_length=50)
    content_contains: str | None = Field(None, min_length=1, max_length=256)
    since: Moment | None = None
    until: Moment | None = None
    min_importance: Importance | None = None
    limit: int = Field(20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"


class MemtraceSearchResult(BaseModel):
    results: list[MemtraceMemory]
    count: int
    query_time_ms: int


# ---- agents ----


class MemtraceAgentCreate(_Request):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2048)
    config: Metadata = Field(default_factory=dict)


class MemtraceAgent(BaseModel):
    id: str
    org_id: str
    name: str
    description: str | None
    config: dict[str, Any]
    created_at: str
    last_active_at: str | None

    @classmethod
    def of(cls, agent: Agent) -> MemtraceAgent:
        return cls(
            id=agent.agent_id,
            org_id=agent.workspace_id,
            name=agent.name,
            description=agent.description,
            config=agent.config,
            created_at=agent.created_at,
            last_active_at=agent.last_active_at,
        )


class MemtraceAgentList(BaseModel):
    agents: list[MemtraceAgent]
    count: int
