"""HTTP routes of the memories API: wiring only; the service decides."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel

from engram import wiring
from engram.agent_scope import AgentScope
from engram.auth import PrincipalDep
from engram.clock import iso
from engram.context.models import Moment, stored_moment
from engram.idempotency import IdempotentRoute
from engram.memories.models import (
    EventType,
    Memory,
    MemoryBatchCreate,
    MemoryCreate,
    MemoryList,
    MemoryStatus,
    MemoryType,
    MemoryUpdate,
)
from engram.memories.repository import MemoryFilters
from engram.memories.service import MemoryService
from engram.paging import Cursor, FilterId, Offset, PageLimit, PathId, page_size
from engram.validation import IsoTime, parse_one_or_many

router = APIRouter(tags=["memories"], route_class=IdempotentRoute)


def get_memory_service(who: PrincipalDep) -> MemoryService:
    return wiring.memory_service(AgentScope.of(who))


MemoryServiceDep = Annotated[MemoryService, Depends(get_memory_service)]


MemoryId = PathId
SessionId = PathId
Score = Annotated[float | None, Query(ge=0.0, le=1.0)]


class MemoryBatch(BaseModel):
    memories: list[Memory]


class DeletedMemory(BaseModel):
    deleted: bool
    memory_id: str
    soft: bool
    restorable_until: str | None


class ForgottenSession(BaseModel):
    session_id: str
    forgotten: int


class MemoryDiff(BaseModel):
    added: list[Memory]
    updated: list[Memory]
    deleted: list[Memory]
    period: dict[str, str]
    count: int


@router.post(
    "/v1/memories",
    status_code=201,
    response_model=Memory | MemoryBatch,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/MemoryCreate"},
                            {"$ref": "#/components/schemas/MemoryBatchCreate"},
                        ]
                    }
                }
            },
        }
    },
)
def create_memories(
    body: Annotated[Any, Body()], who: PrincipalDep, svc: MemoryServiceDep
) -> Memory | MemoryBatch:
    parsed = parse_one_or_many(body, MemoryCreate, MemoryBatchCreate, "memories")
    if isinstance(parsed, MemoryBatchCreate):
        return MemoryBatch(memories=svc.create(who.workspace_id, parsed.memories))
    return svc.create(who.workspace_id, [parsed])[0]


@router.get("/v1/memories")
def list_memories(
    who: PrincipalDep,
    svc: MemoryServiceDep,
    memory_type: MemoryType | None = None,
    memory_types: Annotated[list[MemoryType] | None, Query(max_length=50)] = None,
    session_id: FilterId = None,
    tag: Annotated[str | None, Query(max_length=128)] = None,
    tags: Annotated[
        list[Annotated[str, Query(max_length=128)]] | None,
        Query(max_length=50, description="Every one must be present (repeat the parameter)."),
    ] = None,
    user_id: FilterId = None,
    agent_id: FilterId = None,
    event_type: Annotated[EventType | None, Query()] = None,
    event_types: Annotated[list[EventType] | None, Query(max_length=50)] = None,
    min_importance: Score = None,
    min_confidence: Score = None,
    content_contains: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    since: Annotated[Moment | None, Query()] = None,
    until: Annotated[Moment | None, Query()] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="By creation time.")] = "desc",
    include_deleted: bool = False,
    limit: PageLimit = None,
    cursor: Cursor = None,
    offset: Offset = None,
) -> MemoryList:
    now = wiring.clock().now()
    filters = MemoryFilters(
        memory_type=memory_type,
        memory_types=tuple(memory_types or ()),
        session_id=session_id,
        tag=tag,
        tags=tuple(tags or ()),
        user_id=user_id,
        agent_id=agent_id,
        event_types=tuple(
            dict.fromkeys(([event_type] if event_type else []) + (event_types or []))
        ),
        min_importance=min_importance,
        min_confidence=min_confidence,
        content_contains=content_contains,
        since=stored_moment(since, "since", now),
        until=stored_moment(until, "until", now),
        oldest_first=order == "asc",
        include_deleted=include_deleted,
    )
    return svc.list(who.workspace_id, filters, page_size(limit), cursor, offset or 0)


def _day_before(moment: datetime) -> datetime:
    try:
        return moment - timedelta(days=1)
    except OverflowError:  # the first day there is
        return moment


@router.get("/v1/memories/diff")
def memory_diff(
    who: PrincipalDep,
    svc: MemoryServiceDep,
    from_time: Annotated[IsoTime | None, Query()] = None,
    to_time: Annotated[IsoTime | None, Query()] = None,
    session_id: FilterId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MemoryDiff:
    """The changes between from_time (default: a day before to_time) and to_time (default:
    now); an inverted range holds no change."""
    end = to_time or wiring.clock().now()
    start = from_time or _day_before(end)
    return MemoryDiff(**svc.diff(who.workspace_id, iso(start), iso(end), session_id, limit))


@router.get("/v1/memories/{memory_id}")
def get_memory(memory_id: MemoryId, who: PrincipalDep, svc: MemoryServiceDep) -> Memory:
    return svc.get(who.workspace_id, memory_id)


@router.patch("/v1/memories/{memory_id}")
def update_memory(
    memory_id: MemoryId, body: MemoryUpdate, who: PrincipalDep, svc: MemoryServiceDep
) -> Memory:
    return svc.update(who.workspace_id, memory_id, body)


@router.delete("/v1/memories/{memory_id}")
def delete_memory(memory_id: MemoryId, who: PrincipalDep, svc: MemoryServiceDep) -> DeletedMemory:
    memory = svc.soft_delete(who.workspace_id, memory_id)
    return DeletedMemory(
        deleted=True, memory_id=memory_id, soft=True, restorable_until=memory.restorable_until
    )


@router.post("/v1/memories/{memory_id}/restore")
def restore_memory(memory_id: MemoryId, who: PrincipalDep, svc: MemoryServiceDep) -> Memory:
    return svc.restore(who.workspace_id, memory_id)


@router.delete("/v1/memories/{memory_id}/hard", status_code=204)
def hard_delete_memory(memory_id: MemoryId, who: PrincipalDep, svc: MemoryServiceDep) -> Response:
    svc.hard_delete(who.workspace_id, memory_id)
    return Response(status_code=204)


@router.get("/v1/memories/{memory_id}/status")
def memory_status(memory_id: MemoryId, who: PrincipalDep, svc: MemoryServiceDep) -> MemoryStatus:
    memory = svc.get(who.workspace_id, memory_id)
    return MemoryStatus(
        memory_id=memory_id,
        embedding_status=memory.embedding_status,
        embedding_generated_at=memory.embedding_generated_at,
        embedding_error=memory.embedding_error,
    )


@router.delete("/v1/sessions/{session_id}/memories")
def forget_session(
    session_id: SessionId, who: PrincipalDep, svc: MemoryServiceDep
) -> ForgottenSession:
    return ForgottenSession(
        session_id=session_id, forgotten=svc.forget_session(who.workspace_id, session_id)
    )
