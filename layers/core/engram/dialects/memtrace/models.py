"""Memtrace's bodies, and how Engram's objects read in them. Every model is named
`Memtrace...`: the combined OpenAPI document holds every dialect's models side by side."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engram.context.models import ContextRequest
from engram.sessions.models import Session
from engram.validation import EngramId, Metadata

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
