"""GET and POST /v1/sessions/{session_id}/context."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from engram import wiring
from engram.agent_scope import AgentScope
from engram.auth import PrincipalDep
from engram.context.models import MAX_TYPES, ContextRequest, ContextResponse, Moment
from engram.context.service import ContextService
from engram.memories.models import MemoryType
from engram.paging import PathId
from engram.validation import as_request_error

router = APIRouter(prefix="/v1/sessions/{session_id}", tags=["context"])


def get_context_service(who: PrincipalDep) -> ContextService:
    return wiring.context_service(AgentScope.of(who))


ContextServiceDep = Annotated[ContextService, Depends(get_context_service)]
SessionId = PathId


def _request(**fields: object) -> ContextRequest:
    try:
        return ContextRequest(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise as_request_error(exc, "query") from exc


@router.get("/context")
def get_context(
    session_id: SessionId,
    who: PrincipalDep,
    svc: ContextServiceDep,
    max_memories: Annotated[int, Query(ge=1, le=100)] = 15,
    max_tokens: Annotated[int | None, Query(ge=50, le=200_000)] = None,
    since: Annotated[Moment | None, Query()] = None,
    until: Annotated[Moment | None, Query()] = None,
    include_types: Annotated[list[MemoryType] | None, Query(max_length=MAX_TYPES)] = None,
    exclude_types: Annotated[list[MemoryType] | None, Query(max_length=MAX_TYPES)] = None,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    query: Annotated[str | None, Query(max_length=2000)] = None,
    scope: Annotated[str, Query(pattern="^(workspace|session|project)$")] = "workspace",
    recent_sessions: Annotated[int, Query(ge=0, le=50)] = 5,
) -> ContextResponse:
    request = _request(
        max_memories=max_memories,
        max_tokens=max_tokens,
        since=since,
        until=until,
        include_types=include_types,
        exclude_types=exclude_types,
        order=order,
        query=query,
        scope=scope,
        recent_sessions=recent_sessions,
    )
    return svc.build(who.workspace_id, session_id, request)


@router.post("/context")
def post_context(
    session_id: SessionId,
    who: PrincipalDep,
    svc: ContextServiceDep,
    body: ContextRequest | None = None,
) -> ContextResponse:
    return svc.build(who.workspace_id, session_id, body or ContextRequest())
