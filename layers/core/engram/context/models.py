from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from engram.clock import iso, parse_iso
from engram.errors import ValidationFailed
from engram.memories.models import MemoryType
from engram.validation import JSON_NUMBER

RELATIVE_PATTERN = r"^(\d{1,6})([smhdw])$"
_RELATIVE = re.compile(RELATIVE_PATTERN)
# What parse_moment takes, in the schema: relative, or an ISO 8601 time.
MOMENT_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": RELATIVE_PATTERN},
        {"type": "string", "format": "date-time", "maxLength": 64},
    ]
}
MAX_TYPES = 50  # types are open (any lower-case word), so a list of them is bounded
Moment = Annotated[str, Field(max_length=64), WithJsonSchema(MOMENT_SCHEMA)]
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(value: str, now: datetime, name: str) -> datetime:
    """`30m`, `2h`, `7d` (before now) or an ISO 8601 time; a sentence saying what is wrong."""
    match = _RELATIVE.match(value.strip())
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:  # further back than the calendar goes: from its first day
            return datetime.min.replace(tzinfo=UTC)
    try:
        return parse_iso(value.strip())
    except ValueError:
        raise ValueError(
            f"{name} must be relative like 30m, 2h or 7d, or an ISO 8601 time"
        ) from None


def stored_moment(value: str | None, name: str, now: datetime) -> str | None:
    """`parse_moment` of a query's filter, as the table stores times (ISO, Z); a wrong one
    is a 422 sentence."""
    if value is None:
        return None
    try:
        return iso(parse_moment(value, now, name))
    except ValueError as exc:
        raise ValidationFailed(f"{exc}.") from None


class ContextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_memories: Annotated[int, Field(ge=1, le=100), JSON_NUMBER] = 15
    max_tokens: Annotated[int, Field(ge=50, le=200_000), JSON_NUMBER] | None = None
    since: Moment | None = None
    until: Moment | None = None
    include_types: list[MemoryType] | None = Field(None, max_length=MAX_TYPES)
    exclude_types: list[MemoryType] | None = Field(None, max_length=MAX_TYPES)
    order: Literal["desc", "asc"] = "desc"
    query: str | None = Field(None, max_length=2000)
    scope: Literal["workspace", "session", "project"] = "workspace"
    recent_sessions: Annotated[int, Field(ge=0, le=50), JSON_NUMBER] = 5

    @model_validator(mode="after")
    def _moments_parse(self) -> ContextRequest:
        now = datetime.now().astimezone()
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                parse_moment(value, now, name)
        return self


class ContextSession(BaseModel):
    session_id: str
    project_name: str
    branch_name: str
    is_active: bool
    started_at: str


class ContextMemory(BaseModel):
    memory_id: str
    title: str | None
    memory_type: str
    importance_score: float
    narrative: str
    created_at: str


class RecentSession(BaseModel):
    session_id: str
    summary: str | None
    ended_at: str | None


class ContextBody(BaseModel):
    recent_memories: list[ContextMemory]
    relevant_memories: list[ContextMemory]
    recent_sessions: list[RecentSession]
    workspace_summary: str


class ContextResponse(BaseModel):
    session: ContextSession
    context: ContextBody
    markdown: str
    memory_count: int
    token_estimate: int
