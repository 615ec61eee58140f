"""`/memtrace/api/v1/...`: Memtrace's routes over Engram's services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from engram.auth import PrincipalDep
from engram.dialects import DialectRouter, offset_page
from engram.dialects.deps import ContextServiceDep, SessionServiceDep
from engram.dialects.memtrace.models import (
    ERROR_SCHEMA,
    MemtraceContext,
    MemtraceContextRequest,
    MemtraceSession,
    MemtraceSessionCreate,
    MemtraceSessionList,
    MemtraceSessionUpdate,
    error_body,
)
from engram.ids import ID_PATTERN
from engram.sessions.models import SessionCreate, SessionEnd, SessionFilters, SessionUpdate

router = DialectRouter(
    "/memtrace", "/api/v1", "memtrace dialect", error_shape=error_body, error_schema=ERROR_SCHEMA
)
Id = Annotated[str, Path(max_length=255, pattern=ID_PATTERN)]
FilterId = Annotated[str | None, Query(max_length=255, pattern=ID_PATTERN)]
SESSION_LIST_MAX = 1000  # the seed's list has no paging: the newest this many


# ---- sessions ----


@router.post("/sessions", status_code=201)
def create_session(
    body: MemtraceSessionCreate, who: PrincipalDep, svc: SessionServiceDep
) -> MemtraceSession:
    create = SessionCreate(agent_id=body.agent_id, metadata=body.metadata)
    return MemtraceSession.of(svc.create(who.workspace_id, create))


@router.get("/sessions")
def list_sessions(
    who: PrincipalDep, svc: SessionServiceDep, agent_id: FilterId = None
) -> MemtraceSessionList:
    filters = SessionFilters(agent_id=agent_id)
    total: list[int | None] = [None]

    def fetch(size: int, cursor: str | None):
        page = svc.list(who.workspace_id, filters, size, cursor)
        total[0] = page.count
        return page

    sessions, _ = offset_page(fetch, 0, SESSION_LIST_MAX)
    return MemtraceSessionList(
        sessions=[MemtraceSession.of(s) for s in sessions], count=total[0] or len(sessions)
    )


@router.get("/sessions/{session_id}")
def get_session(session_id: Id, who: PrincipalDep, svc: SessionServiceDep) -> MemtraceSession:
    return MemtraceSession.of(svc.get(who.workspace_id, session_id))


@router.put("/sessions/{session_id}")
def update_session(
    session_id: Id, body: MemtraceSessionUpdate, who: PrincipalDep, svc: SessionServiceDep
) -> MemtraceSession:
    """`{"status": "closed"}` ends the session (its memories are distilled, as on /v1's
    end); `metadata` replaces the session's. Closing a closed session is a 409."""
    ws = who.workspace_id
    session = None
    if body.metadata is not None or body.status == "active":
        active = "active" if body.status == "active" else None  # closed: ended below
        changes = SessionUpdate(metadata=body.metadata, status=active)
        session = svc.update(ws, session_id, changes)
    if body.status == "closed":
        session = svc.end(ws, session_id, SessionEnd())
    return MemtraceSession.of(session or svc.get(ws, session_id))


@router.post("/sessions/{session_id}/context")
def session_context(
    session_id: Id,
    who: PrincipalDep,
    svc: ContextServiceDep,
    body: MemtraceContextRequest | None = None,
) -> MemtraceContext:
    built = svc.build(who.workspace_id, session_id, body or MemtraceContextRequest())
    return MemtraceContext(
        session_id=session_id, context=built.markdown, memory_count=built.memory_count
    )
