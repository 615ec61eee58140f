"""The extract worker's record logic: one SQS record → one SessionExtraction.run."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from engram import aws
from engram.clock import get_clock
from engram.config import get_settings
from engram.events import EventFeed
from engram.extraction.extractor import get_extractor
from engram.extraction.job import SessionExtraction
from engram.memories.repository import MemoryRepository
from engram.memories.service import MemoryService
from engram.observability import count, log_keys
from engram.queues import get_queues
from engram.search.embedder import get_embedder
from engram.search.index import get_search_index
from engram.sessions.repository import SessionRepository
from engram.workers import with_last_attempt
from engram.workspaces.repository import WorkspaceRepository


class ExtractMessage(BaseModel):
    kind: Literal["session.extract"] = "session.extract"
    workspace_id: str
    session_id: str


@cache
def get_session_extraction() -> SessionExtraction:
    table, clock = aws.table(), get_clock()
    events = EventFeed(table, clock)
    memories = MemoryService(MemoryRepository(table), get_queues(), events, clock)
    return SessionExtraction(
        SessionRepository(table),
        memories,
        MemoryRepository(table),
        WorkspaceRepository(table),
        get_extractor(),
        get_embedder(),
        get_search_index(),
        events,
        clock,
    )


def handle_extract_record(record: Any) -> str:
    """Raises to have the record retried; the last failed attempt marks the session's
    summary failed with the reason before the message is dead-lettered."""
    message = ExtractMessage.model_validate_json(record.body)
    job, ws, session_id = get_session_extraction(), message.workspace_id, message.session_id
    with log_keys(session_id=session_id, workspace_id=ws):
        outcome = with_last_attempt(
            record,
            lambda: job.run(ws, session_id),
            lambda why: job.give_up(ws, session_id, why),
            get_settings().extract_max_attempts,
        )
    count(f"Session{outcome.capitalize()}")
    return outcome
