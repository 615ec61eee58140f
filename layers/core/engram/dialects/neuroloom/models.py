"""Neuroloom's bodies, and how Engram's objects read in them. Every model is named
`Neuroloom...`: the combined OpenAPI document holds every dialect's models side by side."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from engram.memories.models import (
    Concepts,
    Content,
    Importance,
    Memory,
    MemoryType,
    SourceFiles,
    Tags,
)
from engram.search.models import MetadataScalar
from engram.sessions.models import Session
from engram.validation import EngramId, Metadata, ShortText
from engram.workspaces.models import Workspace


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- workspaces ----


class NeuroloomWorkspace(BaseModel):
    id: str
    workspace_id: str
    name: str
    slug: str
    created_at: str

    @classmethod
    def of(cls, workspace: Workspace) -> NeuroloomWorkspace:
        slug = re.sub(r"[^a-z0-9]+", "-", workspace.name.lower()).strip("-")
        return cls(
            id=workspace.workspace_id,
            workspace_id=workspace.workspace_id,
            name=workspace.name,
            slug=slug or workspace.workspace_id,
            created_at=workspace.created_at,
        )


# ---- memories ----


class NeuroloomMemory(BaseModel):
    """A memory in both of Neuroloom's vocabularies: the memories document's (`id`,
    `content`, `createdAt`, `workspaceId`) and the MCP server's (`memory_id`, `narrative`)."""

    id: str
    memory_id: str
    workspace_id: str
    workspaceId: str  # the seed's name
    title: str | None
    memory_type: str
    content: str
    narrative: str
    importance_score: float
    confidence_score: float | None
    tags: list[str]
    concepts: list[str]
    source_files: list[str]
    metadata: dict[str, Any]
    session_id: str | None
    embedding_status: str
    created_at: str
    createdAt: str  # the seed's name
    updated_at: str | None

    @classmethod
    def of(cls, memory: Memory) -> NeuroloomMemory:
        return cls(
            id=memory.memory_id,
            memory_id=memory.memory_id,
            workspace_id=memory.workspace_id,
            workspaceId=memory.workspace_id,
            title=memory.title,
            memory_type=memory.memory_type,
            content=memory.content,
            narrative=memory.content,
            importance_score=memory.importance_score,
            confidence_score=memory.confidence_score,
            tags=memory.tags,
            concepts=memory.concepts,
            source_files=memory.source_files,
            metadata=memory.metadata,
            session_id=memory.session_id,
            embedding_status=memory.embedding_status,
            created_at=memory.created_at,
            createdAt=memory.created_at,
            updated_at=memory.updated_at,
        )


class NeuroloomMemoryCreate(_Request):
    """The memories document's `POST /memories`."""

    content: Content
    metadata: Metadata = Field(default_factory=dict)
    title: str | None = Field(None, max_length=512)
    memory_type: MemoryType = "fact"
    tags: Tags = Field(default_factory=list)


class NeuroloomMemoryStore(_Request):
    """The MCP server's `POST /memories/store`: a pre-structured memory."""

    title: str = Field(min_length=1, max_length=512)
    memory_type: MemoryType
    narrative: Content
    importance_score: Importance = 0.7
    confidence_score: Importance | None = None
    sync_embedding: bool = False
    concepts: Concepts = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    source_files: SourceFiles = Field(default_factory=list)


class NeuroloomMemoryUpdate(_Request):
    content: Content | None = None
    narrative: Content | None = None
    title: str | None = Field(None, max_length=512)
    metadata: Metadata | None = None
    tags: Tags | None = None
    memory_type: MemoryType | None = None
    importance_score: Importance | None = None
    confidence_score: Importance | None = None
    concepts: Concepts | None = None
    source_files: SourceFiles | None = None


class NeuroloomMemoryPage(BaseModel):
    """The memories document's cursor page (`GET /memories`)."""

    data: list[NeuroloomMemory]
    nextCursor: str | None  # the seed's name
    hasMore: bool  # the seed's name


class NeuroloomSearch(_Request):
    """Both search bodies: the document's (`query`, `topK`, `filters`) and the MCP
    server's (`limit`, `offset`, `use_semantic`, `compact`, ...)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: str = Field(min_length=1, max_length=8192)
    limit: int = Field(10, ge=1, le=100, validation_alias=AliasChoices("limit", "topK"))
    offset: int = Field(0, ge=0, le=1000)
    filters: dict[str, MetadataScalar] = Field(default_factory=dict, max_length=50)
    workspace_id: str | None = Field(None, max_length=255)
    memory_types: list[MemoryType] | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    use_semantic: bool = True
    search_profile: str = Field("default", max_length=64)
    compact: bool = False
    include_aggregations: bool = True
    min_score: float | None = Field(None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1, le=200_000)
    files: list[str] | None = Field(None, max_length=50)
    tag_prefixes: list[str] | None = Field(None, max_length=50)
    min_importance: float | None = Field(None, ge=0.0, le=1.0)
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)


# ---- sessions ----


class NeuroloomSessionStart(_Request):
    session_id: EngramId = Field(max_length=255)
    project_name: ShortText = ""
    branch_name: ShortText = ""
    user_id: EngramId | None = None
    user_email: str | None = Field(None, max_length=254)
    metadata: Metadata = Field(default_factory=dict)


class NeuroloomSessionEnd(_Request):
    summary: str | None = Field(None, max_length=32_768)


class NeuroloomSessionUpdate(_Request):
    metadata: Metadata | None = None
    summary: str | None = Field(None, max_length=32_768)


class NeuroloomSession(BaseModel):
    id: str
    session_id: str
    workspace_id: str
    project_name: str
    branch_name: str
    user_id: str | None
    user_email: str | None
    is_active: bool
    started_at: str
    ended_at: str | None
    summary: str | None
    metadata_json: dict[str, Any]
    created_at: str
    updated_at: str | None

    @classmethod
    def of(cls, session: Session) -> NeuroloomSession:
        return cls(
            id=session.session_id,
            session_id=session.session_id,
            workspace_id=session.workspace_id,
            project_name=session.project_name,
            branch_name=session.branch_name,
            user_id=session.user_id,
            user_email=session.user_email,
            is_active=session.is_active,
            started_at=session.started_at,
            ended_at=session.ended_at,
            summary=session.summary,
            metadata_json=session.metadata,
            created_at=session.created_at,
            updated_at=session.updated_at,
        )


class NeuroloomSessionList(BaseModel):
    count: int
    results: list[NeuroloomSession]
