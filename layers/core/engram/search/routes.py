"""HTTP route of search: wiring only; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from engram import wiring
from engram.agent_scope import AgentScope
from engram.auth import PrincipalDep
from engram.search.models import SearchRequest, SearchResponse
from engram.search.service import SearchService

router = APIRouter(tags=["search"])


def get_search_service(who: PrincipalDep) -> SearchService:
    return wiring.search_service(AgentScope.of(who))


SearchServiceDep = Annotated[SearchService, Depends(get_search_service)]


@router.post("/v1/memories/search")
def search_memories(
    body: SearchRequest, who: PrincipalDep, svc: SearchServiceDep
) -> SearchResponse:
    return svc.search(who.workspace_id, body)
