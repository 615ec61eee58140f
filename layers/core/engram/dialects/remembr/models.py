"""Remembr's bodies, and how Engram's objects read in them. Every model is named
`Remembr...`: the combined OpenAPI document holds every dialect's models side by side."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engram.accounts.models import Email, Password
from engram.http import current_request_id
from engram.memories.models import Content, Memory, Role, Tags
from engram.search.models import SearchRequest, TagFilterIn
from engram.sessions.models import Session
from engram.validation import EngramId, Metadata
from engram.webhooks.models import Delivery, Webhook

T = TypeVar("T")


class RemembrEnvelope(BaseModel, Generic[T]):
    success: bool = True
    data: T
    request_id: str


def envelope(data: Any) -> Any:  # FastAPI validates it against the route's RemembrEnvelope[...]
    return {"success": True, "data": data, "request_id": current_request_id()}


def error_body(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """Remembr's error: the SDK reads `error.message`, `error.code`, `error.details`."""
    details = {"errors": body["errors"]} if body.get("errors") else None
    error = {
        "code": body["code"],
        "message": body["detail"],
        "details": details,
        "request_id": body["request_id"],
    }
    return {"success": False, "error": error, "request_id": body["request_id"]}


ERROR_SCHEMA = (
    "RemembrError",
    {
        "title": "RemembrError",
        "type": "object",
        "required": ["success", "error", "request_id"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "request_id": {"type": "string"},
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": ["object", "null"]},
                    "request_id": {"type": "string"},
                },
            },
        },
    },
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- auth ----


class RemembrRegister(_Request):
    email: Email
    password: Password
    org_name: str = Field(min_length=1, max_length=255)


class RemembrLoggedOut(BaseModel):
    logged_out: bool = True


# ---- sessions ----


class RemembrSessionCreate(_Request):
    metadata: Metadata = Field(default_factory=dict)


class RemembrSession(BaseModel):
    session_id: str
    org_id: str
    created_at: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, session: Session) -> RemembrSession:
        return cls(
            session_id=session.session_id,
            org_id=session.workspace_id,
            created_at=session.created_at,
            metadata=session.metadata,
        )


class RemembrCreatedSession(RemembrSession):
    request_id: str


class RemembrSessionList(BaseModel):
    request_id: str
    org_id: str
    sessions: list[RemembrSession]
    total: int | None
    limit: int
    offset: int
    has_more: bool


class RemembrWindowMessage(BaseModel):
    role: str | None
    content: str
    tokens: int
    priority_score: float
    timestamp: str


class RemembrTokenUsage(BaseModel):
    message_count: int
    estimated_tokens: int


class RemembrSessionDetail(BaseModel):
    request_id: str
    session: RemembrSession
    messages: list[RemembrWindowMessage]
    token_usage: RemembrTokenUsage


class RemembrEpisode(BaseModel):
    episode_id: str
    session_id: str | None
    role: str
    content: str
    created_at: str
    tags: list[str]
    metadata: dict[str, Any]
    embedding_status: str

    @classmethod
    def of(cls, memory: Memory) -> RemembrEpisode:
        return cls(
            episode_id=memory.memory_id,
            session_id=memory.session_id,
            role=role_of(memory.role),
            content=memory.content,
            created_at=memory.created_at,
            tags=memory.tags,
            metadata=memory.metadata,
            embedding_status=memory.embedding_status,
        )


def role_of(role: str | None) -> str:
    """Remembr's episodes always have a role; Engram's extracted memories have none."""
    return role or "system"


class RemembrHistory(BaseModel):
    request_id: str
    session_id: str
    episodes: list[RemembrEpisode]
    total: int
    limit: int
    offset: int
    has_more: bool


class RemembrCheckpoint(BaseModel):
    request_id: str
    checkpoint_id: str
    session_id: str
    created_at: str
    message_count: int


class RemembrCheckpointList(BaseModel):
    request_id: str
    session_id: str
    checkpoints: list[RemembrCheckpoint]


class RemembrRestore(_Request):
    checkpoint_id: str = Field(max_length=255, pattern=r"^[A-Za-z0-9_.:\-]+$")


class RemembrRestored(BaseModel):
    request_id: str
    restored_message_count: int
    checkpoint_created_at: str


# ---- memory ----


class RemembrStore(_Request):
    role: Role
    content: Content
    session_id: EngramId | None = None
    tags: Tags = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)


class RemembrStored(BaseModel):
    request_id: str
    episode_id: str
    session_id: str | None
    created_at: str
    token_count: int
    embedding_status: str


class RemembrTagFilter(TagFilterIn):
    """Engram's tag filter (a value unless `exists`), with Remembr's `ne` for `neq`."""

    op: Literal["eq", "ne", "exists", "prefix"] = "eq"  # type: ignore[assignment]


class RemembrSearch(SearchRequest):
    """Engram's search body, as Remembr's SDK sends it (`tags` may be null; `ne` for neq)."""

    tags: list[str] | None = Field(None, max_length=50)  # type: ignore[assignment]
    tag_filters: list[RemembrTagFilter] = Field(default_factory=list, max_length=50)  # type: ignore[assignment]

    @field_validator("tags")
    @classmethod
    def _no_tags_is_none(cls, value: list[str] | None) -> list[str]:
        return value or []

    def engram(self) -> SearchRequest:
        filters = [
            TagFilterIn(key=f.key, value=f.value, op="neq" if f.op == "ne" else f.op)
            for f in self.tag_filters
        ]
        fields = {
            **{name: getattr(self, name) for name in SearchRequest.model_fields},
            "tags": self.tags or [],
            "tag_filters": filters,
        }
        return SearchRequest.model_construct(**fields)


class RemembrSearchResult(BaseModel):
    episode_id: str
    content: str
    role: str
    score: float
    created_at: str
    tags: list[str]
    session_id: str | None
    memory_type: str


class RemembrSearchResponse(BaseModel):
    request_id: str
    results: list[RemembrSearchResult]
    total: int
    query_time_ms: int


class RemembrDeleted(BaseModel):
    request_id: str
    deleted: bool = True
    episode_id: str
    soft: bool
    restorable_until: str | None = None


class RemembrForgottenSession(BaseModel):
    request_id: str
    session_id: str
    deleted_count: int


class RemembrForgottenUser(BaseModel):
    request_id: str
    user_id: str
    deleted_episodes: int
    deleted_sessions: int


class RemembrEpisodeStatus(BaseModel):
    episode_id: str
    embedding_status: str
    embedding_generated_at: str | None
    embedding_error: str | None


class RemembrDiffEpisode(BaseModel):
    episode_id: str
    session_id: str | None
    role: str
    content: str
    created_at: str
    tags: list[str]


class RemembrDiff(BaseModel):
    request_id: str
    added: list[RemembrDiffEpisode]
    period: dict[str, str]
    count: int


# ---- webhooks ----


class RemembrWebhook(BaseModel):
    id: str
    org_id: str
    url: str
    events: list[str]
    active: bool
    created_at: str
    updated_at: str
    last_delivery_at: str | None
    last_delivery_status: str | None
    failure_count: int
    disabled_reason: str | None = None

    @classmethod
    def of(cls, webhook: Webhook) -> RemembrWebhook:
        status = webhook.last_delivery_status
        return cls(
            id=webhook.webhook_id,
            org_id=webhook.workspace_id,
            url=webhook.url,
            events=webhook.events,
            active=webhook.active,
            created_at=webhook.created_at,
            updated_at=webhook.updated_at or webhook.created_at,
            last_delivery_at=webhook.last_delivery_at,
            last_delivery_status=None if status is None else str(status),
            failure_count=webhook.failure_count,
            disabled_reason=webhook.disabled_reason,
        )


class RemembrWebhookSecret(RemembrWebhook):
    secret: str


class RemembrDelivery(BaseModel):
    id: str
    webhook_id: str
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_attempt_at: str | None
    response_status_code: int | None
    response_body_snippet: str | None
    created_at: str

    @classmethod
    def of(cls, delivery: Delivery) -> RemembrDelivery:
        # Engram keeps each delivery's outcome, not its body: the payload names the event.
        return cls(
            id=delivery.delivery_id,
            webhook_id=delivery.webhook_id,
            event=delivery.event_type,
            payload={"id": delivery.event_id, "type": delivery.event_type},
            status=delivery.status,
            attempts=delivery.attempt,
            last_attempt_at=delivery.last_attempt_at,
            response_status_code=delivery.status_code,
            response_body_snippet=delivery.error,
            created_at=delivery.created_at,
        )


class RemembrDeletedWebhook(BaseModel):
    id: str
    deleted: bool = True


class RemembrQueuedTest(BaseModel):
    webhook_id: str
    event_id: str
    event_type: str
    queued: bool


# ---- api keys ----


class RemembrApiKey(BaseModel):
    id: str
    name: str
    prefix: str
    org_id: str
    user_id: str | None
    agent_id: str | None
    scopes: list[str]
    expires_at: str | None
    created_at: str


class RemembrApiKeyCreated(RemembrApiKey):
    api_key: str


class RemembrRevokedKey(BaseModel):
    id: str
    revoked: bool = True
