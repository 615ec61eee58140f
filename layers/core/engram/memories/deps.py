"""The memory service as a FastAPI dependency, apart from the memories routes: a router
that stores memories (the conversation routes) takes it from here without importing
`engram.memories.routes`, which would declare every /v1/memories route at its cold start."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from engram import aws
from engram.auth import PrincipalDep
from engram.clock import get_clock
from engram.events import EventFeed
from engram.memories.repository import MemoryRepository
from engram.memories.service import MemoryService
from engram.queues import get_queues
from engram.sessions.repository import SessionRepository


def get_memory_service(who: PrincipalDep) -> MemoryService:
    table, clock = aws.table(), get_clock()
    return MemoryService(
        MemoryRepository(table),
        get_queues(),
        EventFeed(table, clock),
        clock,
        sessions=SessionRepository(table),
        agent_id=who.agent_id,
        sync_now=_sync_now,
    )


def _sync_now(jobs: list[tuple[str, str]]) -> object:
    """The embed worker's own sync, in this process (imported on use: it loads the embedder)."""
    from engram.search.worker import get_index_sync

    return get_index_sync().sync_many(jobs)


MemoryServiceDep = Annotated[MemoryService, Depends(get_memory_service)]
