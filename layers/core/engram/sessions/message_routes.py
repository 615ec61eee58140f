"""HTTP routes of a session's conversation: messages, window, history, checkpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel

from engram import wiring
from engram.agent_scope import AgentScope
from engram.auth import PrincipalDep
from engram.idempotency import IdempotentRoute
from engram.paging import PathId
from engram.sessions.messages import (
    Checkpoint,
    ConversationService,
    EmbeddingCounts,
    History,
    MessageBatchIn,
    MessageIn,
    Restored,
    RestoreIn,
    StoredMessage,
    Window,
)
from engram.validation import parse_one_or_many

router = APIRouter(
    prefix="/v1/sessions/{session_id}", tags=["sessions"], route_class=IdempotentRoute
)


def get_conversation_service(who: PrincipalDep) -> ConversationService:
    return wiring.conversation_service(AgentScope.of(who))


ConversationDep = Annotated[ConversationService, Depends(get_conversation_service)]
SessionId = PathId


class StoredMessages(BaseModel):
    messages: list[StoredMessage]


class CheckpointList(BaseModel):
    data: list[Checkpoint]


_MESSAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/MessageIn"},
                        {"$ref": "#/components/schemas/MessageBatchIn"},
                    ]
                }
            }
        },
    }
}


@router.post("/messages", status_code=201, openapi_extra=_MESSAGE_BODY)
def post_messages(
    session_id: SessionId, body: Annotated[Any, Body()], who: PrincipalDep, svc: ConversationDep
) -> StoredMessages:
    parsed = parse_one_or_many(body, MessageIn, MessageBatchIn, "messages")
    messages = parsed.messages if isinstance(parsed, MessageBatchIn) else [parsed]
    return StoredMessages(messages=svc.add_messages(who.workspace_id, session_id, messages))


@router.get("/messages")
def get_window(session_id: SessionId, who: PrincipalDep, svc: ConversationDep) -> Window:
    return svc.window(who.workspace_id, session_id)


@router.get("/history")
def get_history(
    session_id: SessionId,
    who: PrincipalDep,
    svc: ConversationDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> History:
    return svc.history(who.workspace_id, session_id, limit, offset)


@router.post("/checkpoints", status_code=201)
def create_checkpoint(session_id: SessionId, who: PrincipalDep, svc: ConversationDep) -> Checkpoint:
    return svc.checkpoint(who.workspace_id, session_id)


@router.get("/checkpoints")
def list_checkpoints(
    session_id: SessionId, who: PrincipalDep, svc: ConversationDep
) -> CheckpointList:
    return CheckpointList(data=svc.checkpoints(who.workspace_id, session_id))


@router.post("/restore")
def restore_checkpoint(
    session_id: SessionId, body: RestoreIn, who: PrincipalDep, svc: ConversationDep
) -> Restored:
    return svc.restore(who.workspace_id, session_id, body.checkpoint_id)


@router.get("/embedding-status")
def embedding_status(
    session_id: SessionId, who: PrincipalDep, svc: ConversationDep
) -> EmbeddingCounts:
    return svc.embedding_counts(who.workspace_id, session_id)
