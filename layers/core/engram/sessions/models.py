from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engram.memories.models import Content
from engram.validation import EngramId, Metadata, ShortText

SessionStatus = Literal["created", "active", "paused", "completed", "failed"]
SummaryStatus = Literal["none", "pending", "ready", "failed"]
OPEN_STATUSES = ("created", "active", "paused")

# API.md's allowed moves; anything out of completed/failed is a 409.
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"active", "paused", "completed", "failed"}),
    "active": frozenset({"paused", "completed", "failed"}),
    "paused": frozenset({"active", "completed", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
}


def sources_for(target: str) -> list[str]:
    """The statuses a session may move to `target` from (staying put is allowed while open)."""
    return sorted(
        s for s, moves in TRANSITIONS.items() if target in moves or (s == target and moves)
    )


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionCreate(_Request):
    session_id: EngramId | None = None
    agent_id: EngramId | None = None
    task_id: EngramId | None = None
    user_id: EngramId | None = None
    user_email: str | None = Field(None, max_length=254)
    project_name: ShortText = ""
    branch_name: ShortText = ""
    metadata: Metadata = Field(default_factory=dict)
    prompt: Content | None = None  # stored as the session's first message (role user)
    status: Literal["created", "active"] = "active"


class SessionUpdate(_Request):
    metadata: Metadata | None = None
    summary: str | None = Field(None, max_length=32_768)
    status: SessionStatus | None = None
    task_id: EngramId | None = None
    project_name: ShortText | None = None
    branch_name: ShortText | None = None


class SessionEnd(_Request):
    summary: str | None = Field(None, max_length=32_768)
    status: Literal["completed", "failed"] = "completed"


class Session(BaseModel):
    session_id: str
    workspace_id: str
    agent_id: str | None = None
    task_id: str | None = None
    user_id: str | None = None
    user_email: str | None = None
    project_name: str = ""
    branch_name: str = ""
    status: SessionStatus = "active"
    is_active: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)
    summary: str | None = None
    summary_status: SummaryStatus = "none"
    summary_error: str | None = None
    message_count: int = 0
    token_count: int = 0
    started_at: str
    last_active_at: str
    ended_at: str | None = None
    created_at: str
    updated_at: str | None = None


class SessionList(BaseModel):
    data: list[Session]
    next_cursor: str | None
    has_more: bool
    count: int | None


class SessionFilters(BaseModel):
    agent_id: str | None = None
    task_id: str | None = None
    user_id: str | None = None
    status: SessionStatus | None = None
    project_name: str | None = None
    active: bool | None = None

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)
