"""HTTP routes of /v1/agents (the agent registry): wiring only; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from engram import wiring
from engram.agent_scope import AgentScope
from engram.agents.models import Agent, AgentCreate, AgentList, AgentStats
from engram.agents.service import AgentService
from engram.auth import PrincipalDep
from engram.idempotency import IdempotentRoute
from engram.paging import Cursor, Offset, PageLimit, PathId, page_size

router = APIRouter(prefix="/v1/agents", tags=["agents"], route_class=IdempotentRoute)


def get_agent_service(who: PrincipalDep) -> AgentService:
    return wiring.agent_service(AgentScope.of(who))


AgentServiceDep = Annotated[AgentService, Depends(get_agent_service)]
AgentId = PathId


@router.post("", status_code=201)
def register_agent(body: AgentCreate, who: PrincipalDep, svc: AgentServiceDep) -> Agent:
    return svc.register(who.workspace_id, body)


@router.get("")
def list_agents(
    who: PrincipalDep,
    svc: AgentServiceDep,
    limit: PageLimit = None,
    cursor: Cursor = None,
    offset: Offset = None,
) -> AgentList:
    return svc.list(who.workspace_id, page_size(limit), cursor, offset or 0)


@router.get("/{agent_id}")
def get_agent(agent_id: AgentId, who: PrincipalDep, svc: AgentServiceDep) -> Agent:
    return svc.get(who.workspace_id, agent_id)


@router.get("/{agent_id}/stats")
def agent_stats(agent_id: AgentId, who: PrincipalDep, svc: AgentServiceDep) -> AgentStats:
    return svc.stats(who.workspace_id, agent_id)


@router.delete("/{agent_id}", status_code=204)
def delete_agent(agent_id: AgentId, who: PrincipalDep, svc: AgentServiceDep) -> Response:
    svc.delete(who.workspace_id, agent_id)
    return Response(status_code=204)
