"""The services a dialect route uses, from the composition root (`engram.wiring`) with the
caller's agent scope, as the /v1 routes get them; without importing any /v1 route module
(a dialect function then declares only its own routes at cold start)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from engram import wiring
from engram.accounts.service import AccountService
from engram.agent_scope import AgentScope
from engram.agents.service import AgentService
from engram.auth import Principal, PrincipalDep
from engram.context.service import ContextService
from engram.datarights.service import DataRightsService
from engram.memories.service import MemoryService
from engram.search.related import RelatedService
from engram.search.service import SearchService
from engram.sessions.messages import ConversationService
from engram.sessions.service import SessionService
from engram.webhooks.service import WebhookService
from engram.workspaces.service import WorkspaceService


def _sessions(who: PrincipalDep) -> SessionService:
    return wiring.session_service(AgentScope.of(who))


def _conversation(who: PrincipalDep) -> ConversationService:
    return wiring.conversation_service(AgentScope.of(who))


def _memories(who: PrincipalDep) -> MemoryService:
    return wiring.memory_service(AgentScope.of(who))


def _search(who: PrincipalDep) -> SearchService:
    return wiring.search_service(AgentScope.of(who))


def _related(who: PrincipalDep) -> RelatedService:
    return wiring.related_service(AgentScope.of(who))


def _context(who: PrincipalDep) -> ContextService:
    return wiring.context_service(AgentScope.of(who))


def _agents(who: PrincipalDep) -> AgentService:
    return wiring.agent_service(AgentScope.of(who))


def _admin(who: PrincipalDep) -> Principal:
    who.require("admin")
    return who


SessionServiceDep = Annotated[SessionService, Depends(_sessions)]
ConversationDep = Annotated[ConversationService, Depends(_conversation)]
MemoryServiceDep = Annotated[MemoryService, Depends(_memories)]
SearchServiceDep = Annotated[SearchService, Depends(_search)]
RelatedServiceDep = Annotated[RelatedService, Depends(_related)]
ContextServiceDep = Annotated[ContextService, Depends(_context)]
AgentServiceDep = Annotated[AgentService, Depends(_agents)]
AccountServiceDep = Annotated[AccountService, Depends(wiring.account_service)]
WorkspaceServiceDep = Annotated[WorkspaceService, Depends(wiring.workspace_service)]
WebhookServiceDep = Annotated[WebhookService, Depends(wiring.webhook_service)]
DataRightsDep = Annotated[DataRightsService, Depends(wiring.data_rights_service)]
AdminDep = Annotated[Principal, Depends(_admin)]
