from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from engram.config import get_settings
from engram.validation import (
    NON_BLANK,
    EngramId,
    Metadata,
    StrictBool,
    UnitFloat,
    check_batch_size,
    is_blank,
)

# Engram's own types; the seeds' products use open ones (`architecture`, `bug_fix`,
# `configuration`, ...), so any lower-case word of this pattern is a type.
MEMORY_TYPES = ("episodic", "fact", "preference", "decision", "pattern", "entity", "summary")
TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MemoryType = Annotated[str, StringConstraints(pattern=TYPE_PATTERN)]
EventType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
DedupKey = Annotated[str, StringConstraints(min_length=1, max_length=255)]
DISTILLED_TYPES = ("decision", "preference", "pattern", "fact", "entity")
Source = Literal["api", "message", "extraction"]
EmbeddingStatus = Literal["pending", "ready", "failed"]
EMBEDDING_STATUS_DOC = (
    "pending: not yet embedded and indexed (search still finds it: read-your-writes); "
    "ready: embedded, and the search index holds it; failed: every embed attempt failed "
    "(embedding_error says why)."
)
Role = Literal["user", "assistant", "system", "tool"]


def _check_content(value: str) -> str:
    if is_blank(value):
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


def _check_paths(value: list[str]) -> list[str]:
    limit = get_settings().max_tags
    if len(value) > limit:
        raise ValueError(f"{len(value)} source files given; the limit is {limit}")
    if any(not path or len(path) > 1024 for path in value):
        raise ValueError("each source file must be 1 to 1024 characters")
    return list(dict.fromkeys(value))


def _content_schema(schema: dict[str, Any]) -> None:
    """What _check_content enforces, in the schema (the byte limit bounds the characters)."""
    schema.update(minLength=1, maxLength=get_settings().max_content_bytes, pattern=NON_BLANK)


def _tags_schema(schema: dict[str, Any]) -> None:
    settings = get_settings()
    schema["maxItems"] = settings.max_tags
    schema["items"] = {"type": "string", "minLength": 1, "maxLength": settings.max_tag_chars}


def _paths_schema(schema: dict[str, Any]) -> None:
    schema["maxItems"] = get_settings().max_tags
    schema["items"] = {"type": "string", "minLength": 1, "maxLength": 1024}


Content = Annotated[str, AfterValidator(_check_content), Field(json_schema_extra=_content_schema)]
Tags = Annotated[list[str], AfterValidator(_check_tags), Field(json_schema_extra=_tags_schema)]
# the same limits as tags
Concepts = Annotated[list[str], AfterValidator(_check_tags), Field(json_schema_extra=_tags_schema)]
SourceFiles = Annotated[
    list[str], AfterValidator(_check_paths), Field(json_schema_extra=_paths_schema)
]
Importance = UnitFloat


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
    event_type: EventType | None = None
    dedup_key: DedupKey | None = Field(
        None,
        description="A second write with the same key in the workspace updates that memory "
        "instead of adding one.",
    )
    parent_id: EngramId | None = None
    confidence_score: Importance | None = None
    concepts: Concepts = Field(default_factory=list)
    source_files: SourceFiles = Field(default_factory=list)
    sync_embedding: StrictBool = Field(
        False, description="Embed and index the memory before answering (status then ready)."
    )


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
    event_type: EventType | None = None
    parent_id: EngramId | None = None
    confidence_score: Importance | None = None
    concepts: Concepts | None = None
    source_files: SourceFiles | None = None


class Memory(BaseModel):
    memory_id: str
    workspace_id: str
    session_id: str | None = None
    memory_type: str = "episodic"
    role: str | None = None
    title: str | None = None
    content: str
    importance_score: float = 0.5
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    agent_id: str | None = None
    event_type: str | None = None
    dedup_key: str | None = None
    parent_id: str | None = None
    confidence_score: float | None = None
    concepts: list[str] = Field(default_factory=list)
    source_files: list[str] = Field(default_factory=list)
    source: Source = "api"
    token_count: int = 0
    embedding_status: EmbeddingStatus = Field("pending", description=EMBEDDING_STATUS_DOC)
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
    embedding_status: EmbeddingStatus = Field(description=EMBEDDING_STATUS_DOC)
    embedding_generated_at: str | None
    embedding_error: str | None


def metadata_size(value: dict[str, Any]) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
