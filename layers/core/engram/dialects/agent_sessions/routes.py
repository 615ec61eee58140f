"""`/agent-sessions/api/sessions`: the agent-sessions seed's routes over the sessions and
conversation services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from engram.auth import PrincipalDep
from engram.dialects import MAX_OFFSET, DialectRouter, offset_page
from engram.dialects.agent_sessions.models import (
    AgentSession,
    AgentSessionCreate,
    AgentSessionList,
    AgentSessionMessageIn,
    AgentSessionSentMessage,
    AgentSessionUpdate,
)
from engram.dialects.deps import ConversationDep, SessionServiceDep
from engram.paging import FilterId, PathId
from engram.sessions.messages import MessageIn as EngramMessage
from engram.sessions.models import SessionCreate, SessionFilters, SessionStatus, SessionUpdate

router = DialectRouter("/agent-sessions", "/api/sessions", "agent-sessions dialect")
SessionId = PathId


@router.get("")
def list_sessions(
    who: PrincipalDep,
    svc: SessionServiceDep,
    task_id: FilterId = None,
    agent_id: FilterId = None,
    status: SessionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AgentSessionList:
    filters = SessionFilters(task_id=task_id, agent_id=agent_id, status=status)
    counted: list[int | None] = [None]

    def fetch(size: int, cursor: str | None):
        page = svc.list(who.workspace_id, filters, size, cursor)
        counted[0] = page.count
        return page

    sessions, more = offset_page(fetch, offset, limit)
    return AgentSessionList(
        sessions=[AgentSession.of(s) for s in sessions], count=counted[0], has_more=more
    )


@router.post("", status_code=201)
def create_session(
    body: AgentSessionCreate, who: PrincipalDep, svc: SessionServiceDep
) -> AgentSession:
    create = SessionCreate(
        agent_id=body.agent_id, task_id=body.task_id, prompt=body.prompt, status="created"
    )
    return AgentSession.of(svc.create(who.workspace_id, create))


@router.get("/{session_id}")
def get_session(session_id: SessionId, who: PrincipalDep, svc: SessionServiceDep) -> AgentSession:
    return AgentSession.of(svc.get(who.workspace_id, session_id))


@router.patch("/{session_id}")
def update_session(
    session_id: SessionId,
    body: AgentSessionUpdate,
    who: PrincipalDep,
    svc: SessionServiceDep,
    conversation: ConversationDep,
) -> AgentSession:
    if body.prompt is not None:  # before a status change that could close the session
        message = EngramMessage(role="user", content=body.prompt)
        conversation.add_messages(who.workspace_id, session_id, [message])
    changes = SessionUpdate(status=body.status, metadata=body.data)
    return AgentSession.of(svc.update(who.workspace_id, session_id, changes))


@router.delete("/{session_id}", status_code=204)
def delete_session(session_id: SessionId, who: PrincipalDep, svc: SessionServiceDep) -> Response:
    svc.delete(who.workspace_id, session_id)
    return Response(status_code=204)


@router.post("/{session_id}/message", status_code=201)
def send_message(
    session_id: SessionId,
    body: AgentSessionMessageIn,
    who: PrincipalDep,
    conversation: ConversationDep,
) -> AgentSessionSentMessage:
    message = EngramMessage(role="user", content=body.content)
    (stored,) = conversation.add_messages(who.workspace_id, session_id, [message])
    return AgentSessionSentMessage(message_id=stored.message_id, timestamp=stored.timestamp)
