"""The API's answers as pydantic models. Unknown fields are kept (`extra="allow"`), so a
newer server's additions reach the caller instead of breaking an older client; enumerations
are plain strings for the same reason."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Page(Model, Generic[T]):
    """One page of a cursor-paged list (API.md, "Lists")."""

    data: list[T]
    next_cursor: str | None = None
    has_more: bool = False
    count: int | None = None


class Health(Model):
    status: str
    version: str | None = None


class Session(Model):
    session_id: str
    workspace_id: str
    agent_id: str | None = None
    task_id: str | None = None
    user_id: str | None = None
    user_email: str | None = None
    project_name: str = ""
    branch_name: str = ""
    status: str = "active"
    is_active: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)
    summary: str | None = None
    summary_status: str = "none"
    summary_error: str | None = None
    message_count: int = 0
    token_count: int = 0
    started_at: str
    last_active_at: str
    ended_at: str | None = None
    created_at: str
    updated_at: str | None = None


class Memory(Model):
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
    source: str = "api"
    token_count: int = 0
    embedding_status: str = "pending"
    embedding_error: str | None = None
    embedding_generated_at: str | None = None
    created_at: str
    updated_at: str | None = None
    deleted_at: str | None = None
    restorable_until: str | None = None


class StoredMessage(Model):
    message_id: str
    memory_id: str
    status: str = "stored"
    timestamp: str
    tokens: int


class WindowMessage(Model):
    role: str | None = None
    content: str
    tokens: int
    priority_score: float
    timestamp: str
    memory_id: str


class TokenUsage(Model):
    message_count: int
    estimated_tokens: int


class Window(Model):
    session_id: str
    messages: list[WindowMessage]
    token_usage: TokenUsage


class History(Model):
    data: list[Memory]
    has_more: bool
    count: int


class Checkpoint(Model):
    checkpoint_id: str
    session_id: str
    created_at: str
    message_count: int


class Restored(Model):
    restored_message_count: int
    checkpoint_created_at: str


class EmbeddingCounts(Model):
    session_id: str
    pending: int
    ready: int
    failed: int
    total: int


class ContextMemory(Model):
    memory_id: str
    title: str | None = None
    memory_type: str
    importance_score: float
    narrative: str
    created_at: str


class RecentSession(Model):
    session_id: str
    summary: str | None = None
    ended_at: str | None = None


class ContextBody(Model):
    recent_memories: list[ContextMemory] = Field(default_factory=list)
    relevant_memories: list[ContextMemory] = Field(default_factory=list)
    recent_sessions: list[RecentSession] = Field(default_factory=list)
    workspace_summary: str = ""


class ContextSession(Model):
    session_id: str
    project_name: str = ""
    branch_name: str = ""
    is_active: bool = True
    started_at: str


class Context(Model):
    session: ContextSession
    context: ContextBody
    markdown: str
    memory_count: int
    token_estimate: int


class DeletedMemory(Model):
    deleted: bool
    memory_id: str
    soft: bool
    restorable_until: str | None = None


class MemoryStatus(Model):
    memory_id: str
    embedding_status: str
    embedding_generated_at: str | None = None
    embedding_error: str | None = None


class MemoryDiff(Model):
    added: list[Memory]
    updated: list[Memory]
    deleted: list[Memory]
    period: dict[str, str]
    count: int


class ForgottenSession(Model):
    session_id: str
    forgotten: int


class ForgottenUser(Model):
    user_id: str
    forgotten: int
    sessions: int


class RestoredUser(Model):
    user_id: str
    restored: int
    sessions: int


class LegScores(Model):
    semantic: float = 0.0
    keyword: float = 0.0
    recency: float = 0.0


class SearchResult(Model):
    memory_id: str
    content: str
    memory_type: str
    role: str | None = None
    score: float
    scores: LegScores = Field(default_factory=LegScores)
    created_at: str
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    session_id: str | None = None
    title: str | None = None
    importance_score: float = 0.5


class SearchResponse(Model):
    results: list[SearchResult]
    total: int
    query_time_ms: float


class Webhook(Model):
    webhook_id: str
    workspace_id: str
    url: str
    events: list[str]
    active: bool = True
    disabled_reason: str | None = None
    failure_count: int = 0
    last_delivery_at: str | None = None
    last_delivery_status: int | None = None
    last_delivery_error: str | None = None
    secret_rotated_at: str | None = None
    created_at: str
    updated_at: str | None = None


class WebhookWithSecret(Webhook):
    secret: str


class Delivery(Model):
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str = "pending"
    attempt: int = 0
    status_code: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    created_at: str
    last_attempt_at: str | None = None
    next_attempt_at: str | None = None


class QueuedTest(Model):
    webhook_id: str
    event_id: str
    event_type: str = "webhook.test"
    queued: bool = True


class ApiKey(Model):
    id: str
    name: str
    prefix: str
    workspace_id: str
    user_id: str | None = None
    agent_id: str | None = None
    scopes: list[str]
    expires_at: str | None = None
    created_at: str
    revoked_at: str | None = None


class ApiKeyCreated(ApiKey):
    api_key: str


class TokenPair(Model):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class User(Model):
    user_id: str
    email: str
    workspace_id: str
    created_at: str


class Workspace(Model):
    workspace_id: str
    name: str
    created_at: str
    session_count: int = 0
    memory_count: int = 0


class Agent(Model):
    agent_id: str
    workspace_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    last_active_at: str | None = None


class AgentStats(Model):
    agent_id: str
    memory_count: int
    memories_24h: int
    errors_24h: int
    memory_types: dict[str, int] = Field(default_factory=dict)
    session_count: int
    active_sessions: int
    last_active_at: str | None = None


class RelatedMemory(Model):
    memory: Memory
    score: float
    reasons: list[str] = Field(default_factory=list)
    shared_concepts: list[str] = Field(default_factory=list)
    similarity: float | None = None


class RelatedMemories(Model):
    memory: Memory
    related_ids: list[str]
    related: list[RelatedMemory]
    count: int


class Me(Model):
    user: User | None = None
    workspace: Workspace
    key_id: str | None = None
    agent_id: str | None = None
    scopes: list[str]
