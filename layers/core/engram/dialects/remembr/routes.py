"""`/remembr/api/v1/...`: every route of Remembr's API reference over Engram's services."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Response

from engram import wiring
from engram.accounts.models import LoginRequest, Me, RefreshRequest, RegisterRequest, TokenPair
from engram.auth import PrincipalDep
from engram.clock import iso, parse_iso
from engram.datarights.answers import EXPORT_RESPONSES, export_response
from engram.datarights.models import ExportFormat
from engram.dialects import MAX_OFFSET, DialectRouter, offset_page
from engram.dialects.deps import (
    AccountServiceDep,
    AdminDep,
    ConversationDep,
    DataRightsDep,
    MemoryServiceDep,
    SearchServiceDep,
    SessionServiceDep,
    WebhookServiceDep,
    WorkspaceServiceDep,
)
from engram.dialects.remembr.models import (
    ERROR_SCHEMA,
    RemembrApiKey,
    RemembrApiKeyCreated,
    RemembrCheckpoint,
    RemembrCheckpointList,
    RemembrCreatedSession,
    RemembrDeleted,
    RemembrDeletedWebhook,
    RemembrDelivery,
    RemembrDiff,
    RemembrDiffEpisode,
    RemembrEnvelope,
    RemembrEpisode,
    RemembrEpisodeStatus,
    RemembrForgottenSession,
    RemembrForgottenUser,
    RemembrHistory,
    RemembrLoggedOut,
    RemembrQueuedTest,
    RemembrRegister,
    RemembrRestore,
    RemembrRestored,
    RemembrRevokedKey,
    RemembrSearch,
    RemembrSearchResponse,
    RemembrSearchResult,
    RemembrSession,
    RemembrSessionCreate,
    RemembrSessionDetail,
    RemembrSessionList,
    RemembrStore,
    RemembrStored,
    RemembrWebhook,
    RemembrWebhookSecret,
    envelope,
    error_body,
    role_of,
)
from engram.errors import ValidationFailed
from engram.http import current_request_id
from engram.memories.models import Memory, MemoryCreate
from engram.paging import FilterId, PathId
from engram.sessions.messages import EmbeddingCounts, MessageIn
from engram.sessions.models import SessionCreate, SessionFilters
from engram.webhooks.models import WebhookCreate, WebhookUpdate
from engram.workspaces.models import ApiKeyCreate, ApiKeyInfo

router = DialectRouter(
    "/remembr", "/api/v1", "remembr dialect", error_shape=error_body, error_schema=ERROR_SCHEMA
)
PUBLIC_PATHS = (
    "/remembr/api/v1/health",
    *(f"/remembr/api/v1/auth/{p}" for p in ("register", "login", "refresh")),
)
Id = PathId
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Env = RemembrEnvelope


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


# ---- auth ----


@router.post("/auth/register", status_code=201)
def register(body: RemembrRegister, svc: AccountServiceDep) -> Env[TokenPair]:
    request = RegisterRequest(
        email=body.email, password=body.password, workspace_name=body.org_name
    )
    return envelope(svc.register(request))


@router.post("/auth/login")
def login(body: LoginRequest, svc: AccountServiceDep) -> Env[TokenPair]:
    return envelope(svc.login(body))


@router.post("/auth/refresh")
def refresh(body: RefreshRequest, svc: AccountServiceDep) -> Env[TokenPair]:
    return envelope(svc.refresh(body))


@router.post("/auth/logout")
def logout(
    body: RefreshRequest, who: PrincipalDep, svc: AccountServiceDep
) -> Env[RemembrLoggedOut]:
    svc.logout(who.workspace_id, body)
    return envelope(RemembrLoggedOut())


@router.get("/auth/me")
def me(who: PrincipalDep, svc: AccountServiceDep) -> Env[Me]:
    return envelope(svc.me(who))


# ---- api keys (admin) ----


def _key(key: ApiKeyInfo) -> dict[str, Any]:
    return {**key.model_dump(exclude={"workspace_id", "revoked_at"}), "org_id": key.workspace_id}


@router.post("/api-keys", status_code=201)
def create_api_key(
    body: ApiKeyCreate, who: PrincipalDep, svc: WorkspaceServiceDep
) -> Env[RemembrApiKeyCreated]:
    return envelope(_key(svc.create_key(who.workspace_id, who.user_id, body)))


@router.get("/api-keys")
def list_api_keys(
    who: PrincipalDep,
    svc: WorkspaceServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Offset = 0,
) -> Env[list[RemembrApiKey]]:
    keys, _ = offset_page(lambda n, c: svc.list_keys(who.workspace_id, n, c), offset, limit)
    return envelope([_key(k) for k in keys])


@router.delete("/api-keys/{key_id}")
def revoke_api_key(
    key_id: Id, who: PrincipalDep, svc: WorkspaceServiceDep
) -> Env[RemembrRevokedKey]:
    svc.revoke_key(who.workspace_id, key_id)
    return envelope(RemembrRevokedKey(id=key_id))


# ---- sessions ----


@router.post("/sessions", status_code=201)
def create_session(
    who: PrincipalDep, svc: SessionServiceDep, body: RemembrSessionCreate | None = None
) -> Env[RemembrCreatedSession]:
    create = SessionCreate(metadata=(body or RemembrSessionCreate()).metadata)
    session = svc.create(who.workspace_id, create)
    return envelope({**RemembrSession.of(session).model_dump(), "request_id": current_request_id()})


@router.get("/sessions")
def list_sessions(
    who: PrincipalDep,
    svc: SessionServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> Env[RemembrSessionList]:
    total: list[int | None] = [None]

    def fetch(size: int, cursor: str | None):
        page = svc.list(who.workspace_id, SessionFilters(), size, cursor)
        total[0] = page.count
        return page

    sessions, more = offset_page(fetch, offset, limit)
    listed = RemembrSessionList(
        request_id=current_request_id(),
        org_id=who.workspace_id,
        sessions=[RemembrSession.of(s) for s in sessions],
        total=total[0],
        limit=limit,
        offset=offset,
        has_more=more,
    )
    return envelope(listed)


@router.get("/sessions/{session_id}")
def get_session(
    session_id: Id, who: PrincipalDep, svc: SessionServiceDep, conversation: ConversationDep
) -> Env[RemembrSessionDetail]:
    session = svc.get(who.workspace_id, session_id)
    window = conversation.window(who.workspace_id, session_id)
    detail = RemembrSessionDetail(
        request_id=current_request_id(),
        session=RemembrSession.of(session),
        messages=[m.model_dump() for m in window.messages],
        token_usage=window.token_usage.model_dump(),
    )
    return envelope(detail)


@router.get("/sessions/{session_id}/history")
def session_history(
    session_id: Id,
    who: PrincipalDep,
    conversation: ConversationDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Env[RemembrHistory]:
    history = conversation.history(who.workspace_id, session_id, limit, offset)
    return envelope(
        RemembrHistory(
            request_id=current_request_id(),
            session_id=session_id,
            episodes=[RemembrEpisode.of(m) for m in history.data],
            total=history.count,
            limit=limit,
            offset=offset,
            has_more=history.has_more,
        )
    )


@router.post("/sessions/{session_id}/checkpoint", status_code=201)
def checkpoint(
    session_id: Id, who: PrincipalDep, conversation: ConversationDep
) -> Env[RemembrCheckpoint]:
    made = conversation.checkpoint(who.workspace_id, session_id)
    return envelope({**made.model_dump(), "request_id": current_request_id()})


@router.get("/sessions/{session_id}/checkpoints")
def list_checkpoints(
    session_id: Id, who: PrincipalDep, conversation: ConversationDep
) -> Env[RemembrCheckpointList]:
    rid = current_request_id()
    found = conversation.checkpoints(who.workspace_id, session_id)
    checkpoints = [{**c.model_dump(), "request_id": rid} for c in found]
    return envelope({"request_id": rid, "session_id": session_id, "checkpoints": checkpoints})


@router.post("/sessions/{session_id}/restore")
def restore(
    session_id: Id, body: RemembrRestore, who: PrincipalDep, conversation: ConversationDep
) -> Env[RemembrRestored]:
    restored = conversation.restore(who.workspace_id, session_id, body.checkpoint_id)
    return envelope({**restored.model_dump(), "request_id": current_request_id()})


@router.get("/sessions/{session_id}/embedding-status")
def embedding_status(
    session_id: Id, who: PrincipalDep, conversation: ConversationDep
) -> Env[EmbeddingCounts]:
    return envelope(conversation.embedding_counts(who.workspace_id, session_id))


# ---- memory ----


@router.post("/memory", status_code=201)
def store(
    body: RemembrStore,
    who: PrincipalDep,
    memories: MemoryServiceDep,
    conversation: ConversationDep,
) -> Env[RemembrStored]:
    """An episode of a session is one of its messages (it joins the short-term window)."""
    if body.session_id:
        message = MessageIn(
            role=body.role, content=body.content, tags=body.tags, metadata=body.metadata
        )
        (sent,) = conversation.add_messages(who.workspace_id, body.session_id, [message])
        memory = memories.get(who.workspace_id, sent.memory_id)
    else:
        create = MemoryCreate(
            content=body.content, role=body.role, tags=body.tags, metadata=body.metadata
        )
        (memory,) = memories.create(who.workspace_id, [create])
    return envelope(
        RemembrStored(
            request_id=current_request_id(),
            episode_id=memory.memory_id,
            session_id=memory.session_id,
            created_at=memory.created_at,
            token_count=memory.token_count,
            embedding_status=memory.embedding_status,
        )
    )


@router.post("/memory/search")
def search(
    body: RemembrSearch, who: PrincipalDep, svc: SearchServiceDep
) -> Env[RemembrSearchResponse]:
    answer = svc.search(who.workspace_id, body.engram())
    found, total, took = answer.results, answer.total, answer.query_time_ms
    results = [
        RemembrSearchResult(
            episode_id=hit.memory_id,
            content=hit.content,
            role=role_of(hit.role),
            score=hit.score,
            created_at=hit.created_at,
            tags=hit.tags,
            session_id=hit.session_id,
            memory_type=hit.memory_type,
        )
        for hit in found
    ]
    response = RemembrSearchResponse(
        request_id=current_request_id(), results=results, total=total, query_time_ms=round(took)
    )
    return envelope(response)


def _moment(value: datetime | None, default: datetime) -> str:
    return iso(value or default)


@router.get("/memory/diff")
def memory_diff(
    who: PrincipalDep,
    memories: MemoryServiceDep,
    from_time: datetime | None = None,
    to_time: datetime | None = None,
    session_id: FilterId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Env[RemembrDiff]:
    end = _moment(to_time, wiring.clock().now())
    start = _moment(from_time, parse_iso(end) - timedelta(days=1))
    found = memories.diff(who.workspace_id, start, end, session_id, limit)
    added = [
        RemembrDiffEpisode(
            episode_id=m.memory_id,
            session_id=m.session_id,
            role=role_of(m.role),
            content=m.content,
            created_at=m.created_at,
            tags=m.tags,
        )
        for m in found["added"]
    ]
    return envelope(
        RemembrDiff(
            request_id=current_request_id(), added=added, period=found["period"], count=len(added)
        )
    )


@router.delete("/memory/session/{session_id}")
def forget_session(
    session_id: Id, who: PrincipalDep, memories: MemoryServiceDep
) -> Env[RemembrForgottenSession]:
    count = memories.forget_session(who.workspace_id, session_id)
    return envelope(
        RemembrForgottenSession(
            request_id=current_request_id(), session_id=session_id, deleted_count=count
        )
    )


@router.delete("/memory/user/{user_id}")
def forget_user(user_id: Id, who: PrincipalDep, svc: DataRightsDep) -> Env[RemembrForgottenUser]:
    forgotten = svc.forget_user(who.workspace_id, user_id)
    return envelope(
        RemembrForgottenUser(
            request_id=current_request_id(),
            user_id=user_id,
            deleted_episodes=forgotten.forgotten,
            deleted_sessions=forgotten.sessions,
        )
    )


@router.delete("/memory/{episode_id}")
def forget_episode(
    episode_id: Id, who: PrincipalDep, memories: MemoryServiceDep
) -> Env[RemembrDeleted]:
    memory = memories.soft_delete(who.workspace_id, episode_id)
    deleted = RemembrDeleted(
        request_id=current_request_id(),
        episode_id=episode_id,
        soft=True,
        restorable_until=memory.restorable_until,
    )
    return envelope(deleted)


@router.delete("/memory/{episode_id}/hard")
def hard_delete(
    episode_id: Id, who: PrincipalDep, memories: MemoryServiceDep
) -> Env[RemembrDeleted]:
    memories.hard_delete(who.workspace_id, episode_id)
    return envelope(
        RemembrDeleted(request_id=current_request_id(), episode_id=episode_id, soft=False)
    )


@router.post("/memory/{episode_id}/restore")
def restore_episode(
    episode_id: Id, who: PrincipalDep, memories: MemoryServiceDep
) -> Env[RemembrEpisode]:
    return envelope(RemembrEpisode.of(memories.restore(who.workspace_id, episode_id)))


@router.get("/memory/{episode_id}/status")
def episode_status(
    episode_id: Id, who: PrincipalDep, memories: MemoryServiceDep
) -> Env[RemembrEpisodeStatus]:
    memory: Memory = memories.get(who.workspace_id, episode_id)
    status = RemembrEpisodeStatus(
        episode_id=episode_id,
        embedding_status=memory.embedding_status,
        embedding_generated_at=memory.embedding_generated_at,
        embedding_error=memory.embedding_error,
    )
    return envelope(status)


# ---- export (admin) ----


def _query_time(value: str | None, name: str) -> datetime | None:
    """The SDK writes `from_date`/`to_date` into the URL unescaped, so a `+00:00` offset
    arrives as ` 00:00`; that is read back as the offset it was."""
    if value is None:
        return None
    repaired = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip())
    try:
        return parse_iso(repaired)
    except ValueError as exc:
        raise ValidationFailed(
            f"{name} must be an ISO 8601 time, e.g. 2026-04-22T10:00:00Z."
        ) from exc


@router.get("/export", response_class=Response, responses=EXPORT_RESPONSES)
def export(
    who: PrincipalDep,
    svc: DataRightsDep,
    fmt: Annotated[ExportFormat, Query(alias="format")] = "json",
    from_date: Annotated[str | None, Query(max_length=64)] = None,
    to_date: Annotated[str | None, Query(max_length=64)] = None,
    session_id: FilterId = None,
    include_deleted: bool = False,
) -> Response:
    """The /v1 export itself (streamed, or a 303 to S3 when large)."""
    start, end = _query_time(from_date, "from_date"), _query_time(to_date, "to_date")
    return export_response(svc, who.workspace_id, fmt, start, end, session_id, include_deleted)


# ---- webhooks (admin) ----


@router.post("/webhooks", status_code=201)
def create_webhook(
    body: WebhookCreate, who: AdminDep, svc: WebhookServiceDep
) -> Env[RemembrWebhookSecret]:
    made = svc.create(who.workspace_id, body)
    return envelope({**RemembrWebhook.of(made).model_dump(), "secret": made.secret})


@router.get("/webhooks")
def list_webhooks(who: AdminDep, svc: WebhookServiceDep) -> Env[list[RemembrWebhook]]:
    hooks, _ = offset_page(lambda n, c: svc.list(who.workspace_id, n, c), 0, 100)
    return envelope([RemembrWebhook.of(w) for w in hooks])


@router.get("/webhooks/{webhook_id}")
def get_webhook(webhook_id: Id, who: AdminDep, svc: WebhookServiceDep) -> Env[RemembrWebhook]:
    return envelope(RemembrWebhook.of(svc.get(who.workspace_id, webhook_id)))


@router.patch("/webhooks/{webhook_id}")
def update_webhook(
    webhook_id: Id, body: WebhookUpdate, who: AdminDep, svc: WebhookServiceDep
) -> Env[RemembrWebhook]:
    return envelope(RemembrWebhook.of(svc.update(who.workspace_id, webhook_id, body)))


@router.delete("/webhooks/{webhook_id}")
def delete_webhook(
    webhook_id: Id, who: AdminDep, svc: WebhookServiceDep
) -> Env[RemembrDeletedWebhook]:
    svc.delete(who.workspace_id, webhook_id)
    return envelope(RemembrDeletedWebhook(id=webhook_id))


@router.post("/webhooks/{webhook_id}/rotate-secret")
def rotate_secret(
    webhook_id: Id, who: AdminDep, svc: WebhookServiceDep
) -> Env[RemembrWebhookSecret]:
    rotated = svc.rotate_secret(who.workspace_id, webhook_id)
    return envelope({**RemembrWebhook.of(rotated).model_dump(), "secret": rotated.secret})


@router.get("/webhooks/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: Id,
    who: AdminDep,
    svc: WebhookServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Env[list[RemembrDelivery]]:
    page = svc.deliveries(who.workspace_id, webhook_id, limit, None)
    return envelope([RemembrDelivery.of(d) for d in page.data])


@router.post("/webhooks/{webhook_id}/test", status_code=202)
def test_webhook(webhook_id: Id, who: AdminDep, svc: WebhookServiceDep) -> Env[RemembrQueuedTest]:
    return envelope(svc.send_test(who.workspace_id, webhook_id))
