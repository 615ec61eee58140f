"""Wiring of the maintenance jobs to the configured stores (the function and the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from engram import aws
from engram.clock import get_clock
from engram.events import EventFeed
from engram.memories.maintenance import Maintenance
from engram.memories.repository import MemoryRepository
from engram.memories.service import MemoryService
from engram.queues import get_queues
from engram.sessions.repository import SessionRepository


def build_maintenance() -> Maintenance:
    table, clock = aws.table(), get_clock()
    memories = MemoryService(MemoryRepository(table), get_queues(), EventFeed(table, clock), clock)
    return Maintenance(
        MemoryRepository(table), memories.enqueue_sync, clock, SessionRepository(table)
    )


def reindex(workspace_id: str | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Rebuilds the configured index in this process (stored vectors are reused)."""
    from engram.search.worker import get_index_sync

    return build_maintenance().reindex(get_index_sync().sync, workspace_id, progress)


def run_maintenance(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("action") == "reindex":
        return {"reindexed": reindex(event.get("workspace_id"))}
    return asdict(build_maintenance().run())
