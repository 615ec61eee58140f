"""HTTP route of search: wiring only; the service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from engram import aws
from engram.auth import PrincipalDep
from engram.clock import get_clock
from engram.memories.repository import MemoryRepository
from engram.search.embedder import get_embedder
from engram.search.index import get_search_index
from engram.search.models import SearchRequest, SearchResponse
from engram.search.service import SearchService

router = APIRouter(tags=["search"])


def get_search_service() -> SearchService:
    # The embedder is passed as a factory: keyword searches never load a model.
    return SearchService(
        get_search_index(), get_embedder, MemoryRepository(aws.table()), get_clock()
    )


SearchServiceDep = Annotated[SearchService, Depends(get_search_service)]


@router.post("/v1/memories/search")
def search_memories(
    body: SearchRequest, who: PrincipalDep, svc: SearchServiceDep
) -> SearchResponse:
    if who.agent_id and body.agent_id and body.agent_id != who.agent_id:
        # An agent-bound key sees only its agent's memories: another agent's are "none".
        return SearchResponse(results=[], total=0, query_time_ms=0.0)
    return svc.search(who.workspace_id, body, agent_id=who.agent_id)
