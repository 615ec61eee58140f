"""The embed worker's record logic: one SQS record → one IndexSync.sync."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from engram import aws
from engram.clock import get_clock
from engram.config import get_settings
from engram.events import EventFeed
from engram.memories.repository import MemoryRepository
from engram.observability import logger, metrics
from engram.search.embedder import get_embedder
from engram.search.index import get_search_index
from engram.search.sync import IndexSync
from engram.workers import with_last_attempt


class EmbedMessage(BaseModel):
    kind: Literal["memory.sync"] = "memory.sync"
    workspace_id: str
    memory_id: str


@cache
def get_index_sync() -> IndexSync:
    table, clock = aws.table(), get_clock()
    return IndexSync(MemoryRepository(table), get_search_index(), get_embedder(),
                     EventFeed(table, clock), clock)


def handle_embed_record(record: Any) -> str:
    """Raises to have the record retried; on the last attempt the memory is marked failed
    first, so a dead-lettered job is visible on the memory itself."""
    message = EmbedMessage.model_validate_json(record.body)
    logger.append_keys(memory_id=message.memory_id, workspace_id=message.workspace_id)
    sync, ws, memory_id = get_index_sync(), message.workspace_id, message.memory_id
    outcome = with_last_attempt(record, lambda: sync.sync(ws, memory_id),
                                lambda why: sync.give_up(ws, memory_id, why),
                                get_settings().embed_max_attempts)
    metrics.add_metric(name=f"Memory{outcome.capitalize()}", unit="Count", value=1)
    return outcome
