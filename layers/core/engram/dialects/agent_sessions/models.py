"""The agent-sessions seed's bodies, and how an Engram session reads in them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engram.memories.models import Content
from engram.sessions.models import Session, SessionStatus
from engram.validation import EngramId, Metadata


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentSessionCreate(_Request):
    agent_id: EngramId
    task_id: EngramId | None = None
    prompt: Content | None = None


class AgentSessionUpdate(_Request):
    status: SessionStatus | None = None
    data: Metadata | None = None
    prompt: Content | None = None  # a new prompt is the session's next user message


class AgentSessionMessageIn(_Request):
    content: Content


class AgentSession(BaseModel):
    id: str
    agent_id: str | None
    task_id: str | None
    status: SessionStatus
    created_at: str
    last_active: str
    message_count: int
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, session: Session) -> AgentSession:
        return cls(
            id=session.session_id,
            agent_id=session.agent_id,
            task_id=session.task_id,
            status=session.status,
            created_at=session.created_at,
            last_active=session.last_active_at,
            message_count=session.message_count,
            data=session.metadata,
        )


class AgentSessionList(BaseModel):
    sessions: list[AgentSession]
    count: int | None
    has_more: bool


class AgentSessionSentMessage(BaseModel):
    message_id: str
    status: str = "sent"
    timestamp: str
