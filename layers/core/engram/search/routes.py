"""HTTP routes of search and related memories: wiring only; the services decide."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from engram import wiring
from engram.agent_scope import AgentScope
from engram.auth import PrincipalDep
from engram.paging import PathId
from engram.search.models import RelatedMemories, SearchRequest, SearchResponse
from engram.search.related import RelatedService
from engram.search.service import SearchService

router = APIRouter(tags=["search"])


def get_search_service(who: PrincipalDep) -> SearchService:
    return wiring.search_service(AgentScope.of(who))


def get_related_service(who: PrincipalDep) -> RelatedService:
    return wiring.related_service(AgentScope.of(who))


SearchServiceDep = Annotated[SearchService, Depends(get_search_service)]
RelatedServiceDep = Annotated[RelatedService, Depends(get_related_service)]


@router.post("/v1/memories/search")
def search_memories(
    body: SearchRequest, who: PrincipalDep, svc: SearchServiceDep
) -> SearchResponse:
    return svc.search(who.workspace_id, body)


@router.get("/v1/memories/{memory_id}/related")
def related_memories(
    memory_id: PathId,
    who: PrincipalDep,
    svc: RelatedServiceDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> RelatedMemories:
    """The memory with the memories related to it: same session, shared concepts, nearest
    neighbours of its vector."""
    return svc.related(who.workspace_id, memory_id, limit)
