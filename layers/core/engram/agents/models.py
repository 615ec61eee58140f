"""The agent registry's shapes: an agent is a named, described, configured `agent_id`, the
same id that sessions, memories and bound API keys carry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engram.validation import EngramId, Metadata


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: EngramId | None = Field(
        None, description="The id its sessions and memories carry; generated when absent."
    )
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2048)
    config: Metadata = Field(default_factory=dict)


class Agent(BaseModel):
    agent_id: str
    workspace_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    last_active_at: str | None = None


class AgentList(BaseModel):
    data: list[Agent]
    next_cursor: str | None
    has_more: bool
    count: int | None = None


class AgentStats(BaseModel):
    agent_id: str
    memory_count: int = Field(description="Live memories of the agent.")
    memories_24h: int = Field(description="Memories stored in the last 24 hours.")
    errors_24h: int = Field(
        description="Memories of the last 24 hours whose event_type contains 'error'."
    )
    memory_types: dict[str, int] = Field(description="Live memories by memory_type.")
    session_count: int
    active_sessions: int
    last_active_at: str | None = Field(
        None, description="The agent's latest memory or session start."
    )
