from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from engram.config import get_settings
from engram.validation import EngramId, Metadata, check_batch_size

MemoryType = Literal["episodic", "fact", "preference", "decision", "pattern", "entity", "summary"]
MEMORY_TYPES: tuple[str, ...] = MemoryType.__args__  # type: ignore[attr-defined]
DISTILLED_TYPES = ("decision", "preference", "pattern", "fact", "entity")
Source = Literal["api", "message", "extraction"]
EmbeddingStatus = Literal["pending", "ready", "failed"]
Role = Literal["user", "assistant", "system", "tool"]


def _check_content(value: str) -> str:
    if not value.strip():
        raise ValueError("content must not be empty")
    limit = get_settings().max_content_bytes
    size = len(value.encode())
    if size > limit:
        raise ValueError(f"content is {size} bytes; the limit is {limit}")
    return value


def _check_tags(value: list[str]) -> list[str]:
    settings = get_settings()
    if len(value) > settings.max_tags:
        raise ValueError(f"{len(value)} tags given; the limit is {settings.max_tags}")
    for tag in value:
        if not tag or len(tag) > settings.max_tag_chars:
            raise ValueError(f"each tag must be 1 to {settings.max_tag_chars} characters")
    return list(dict.fromkeys(value))  # keep order, drop repeats


Content = Annotated[str, AfterValidator(_check_content)]
Tags = Annotated[list[str], AfterValidator(_check_tags)]
Importance = Annotated[float, Field(ge=0.0, le=1.0)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryCreate(_Request):
    content: Content
    memory_type: MemoryType = "episodic"
    role: Role | None = None
    title: str | None = Field(None, max_length=512)
    importance_score: Importance = 0.5
    session_id: EngramId | None = None
    tags: Tags = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    user_id: EngramId | None = None
    agent_id: EngramId | None = None


class MemoryBatchCreate(_Request):
    memories: list[MemoryCreate] = Field(min_length=1)

    @model_validator(mode="after")
    def _within_batch_limit(self) -> MemoryBatchCreate:
        check_batch_size(self.memories, "memories")
        return self


class MemoryUpdate(_Request):
    content: Content | None = None
    title: str | None = Field(None, max_length=512)
    tags: Tags | None = None
    metadata: Metadata | None = None  # merged into the existing metadata
    importance_score: Importance | None = None
    memory_type: MemoryType | None = None


class Memory(BaseModel):
    memory_id: str
    workspace_id: str
    session_id: str | None = None
    memory_type: MemoryType = "episodic"
    role: str | None = None
    title: str | None = None
    content: str
    importance_score: float = 0.5
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    agent_id: str | None = None
    source: Source = "api"
    token_count: int = 0
    embedding_status: EmbeddingStatus = "pending"
    embedding_error: str | None = None
    embedding_generated_at: str | None = None
    created_at: str
    updated_at: str | None = None
    deleted_at: str | None = None
    restorable_until: str | None = None


class MemoryList(BaseModel):
    data: list[Memory]
    next_cursor: str | None
    has_more: bool
    count: int | None


class MemoryStatus(BaseModel):
    memory_id: str
    embedding_status: EmbeddingStatus
    embedding_generated_at: str | None
    embedding_error: str | None


def metadata_size(value: dict[str, Any]) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
