"""HTTP routes of the sessions API: wiring only; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from engram import wiring
from engram.agent_scope import AgentScope
from engram.auth import PrincipalDep
from engram.idempotency import IdempotentRoute
from engram.paging import Cursor, FilterId, Offset, PageLimit, PathId, page_size
from engram.sessions.models import (
    Session,
    SessionCreate,
    SessionEnd,
    SessionFilters,
    SessionList,
    SessionStatus,
    SessionUpdate,
)
from engram.sessions.service import SessionService

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], route_class=IdempotentRoute)


def get_session_service(who: PrincipalDep) -> SessionService:
    return wiring.session_service(AgentScope.of(who))


SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]
SessionId = PathId


@router.post("", status_code=201)
def create_session(body: SessionCreate, who: PrincipalDep, svc: SessionServiceDep) -> Session:
    return svc.create(who.workspace_id, body)


@router.get("")
def list_sessions(
    who: PrincipalDep,
    svc: SessionServiceDep,
    agent_id: FilterId = None,
    task_id: FilterId = None,
    user_id: FilterId = None,
    status: SessionStatus | None = None,
    project_name: Annotated[str | None, Query(max_length=255)] = None,
    active: bool | None = None,
    limit: PageLimit = None,
    cursor: Cursor = None,
    offset: Offset = None,
) -> SessionList:
    filters = SessionFilters(
        agent_id=agent_id,
        task_id=task_id,
        user_id=user_id,
        status=status,
        project_name=project_name,
        active=active,
    )
    return svc.list(who.workspace_id, filters, page_size(limit), cursor, offset=offset or 0)


@router.get("/{session_id}")
def get_session(session_id: SessionId, who: PrincipalDep, svc: SessionServiceDep) -> Session:
    return svc.get(who.workspace_id, session_id)


@router.patch("/{session_id}")
def update_session(
    session_id: SessionId, body: SessionUpdate, who: PrincipalDep, svc: SessionServiceDep
) -> Session:
    return svc.update(who.workspace_id, session_id, body)


@router.delete("/{session_id}", status_code=204)
def delete_session(session_id: SessionId, who: PrincipalDep, svc: SessionServiceDep) -> Response:
    svc.delete(who.workspace_id, session_id)
    return Response(status_code=204)


@router.post("/{session_id}/end")
def end_session(
    session_id: SessionId, who: PrincipalDep, svc: SessionServiceDep, body: SessionEnd | None = None
) -> Session:
    return svc.end(who.workspace_id, session_id, body or SessionEnd())
