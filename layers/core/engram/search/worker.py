"""The embed worker's logic: an SQS batch → IndexSync.sync_many, each record then settled
from its memory's outcome (or, if the batch step failed, by its own IndexSync.sync)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from engram import wiring
from engram.config import get_settings
from engram.observability import count, log_keys
from engram.search.sync import Job
from engram.workers import backoff_seconds, with_last_attempt


class EmbedMessage(BaseModel):
    kind: Literal["memory.sync"] = "memory.sync"
    workspace_id: str
    memory_id: str


def prepare_embed_batch(records: list[dict]) -> dict[Job, str | Exception]:
    """Syncs every well-formed record's memory together; a malformed one is left to its
    record handler, which rejects it."""
    jobs = []
    for raw in records:
        try:
            message = EmbedMessage.model_validate_json(raw.get("body") or "")
        except ValueError:
            continue
        jobs.append((message.workspace_id, message.memory_id))
    return wiring.index_sync().sync_many(jobs) if jobs else {}


def handle_embed_record(record: Any, prepared: dict[Job, str | Exception] | None = None) -> str:
    """Raises to have the record retried; on the last attempt the memory is marked failed
    first, so a dead-lettered job is visible on the memory itself."""
    message = EmbedMessage.model_validate_json(record.body)
    with log_keys(memory_id=message.memory_id, workspace_id=message.workspace_id):
        return _handle_embed_job(record, message, prepared)


def _handle_embed_job(
    record: Any, message: EmbedMessage, prepared: dict[Job, str | Exception] | None
) -> str:
    sync, ws, memory_id = wiring.index_sync(), message.workspace_id, message.memory_id

    def job() -> str:
        if prepared is None or (ws, memory_id) not in prepared:
            return sync.sync(ws, memory_id)
        outcome = prepared[(ws, memory_id)]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    outcome = with_last_attempt(
        record,
        job,
        lambda why: sync.give_up(ws, memory_id, why),
        get_settings().embed_max_attempts,
        backoff=backoff_seconds,
    )
    count(f"Memory{outcome.capitalize()}")
    return outcome
