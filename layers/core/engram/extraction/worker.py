"""The extract worker's record logic: one SQS record → one SessionExtraction.run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from engram import wiring
from engram.config import get_settings
from engram.observability import count, log_keys
from engram.workers import with_last_attempt


class ExtractMessage(BaseModel):
    kind: Literal["session.extract"] = "session.extract"
    workspace_id: str
    session_id: str


def handle_extract_record(record: Any) -> str:
    """Raises to have the record retried; the last failed attempt marks the session's
    summary failed with the reason before the message is dead-lettered."""
    message = ExtractMessage.model_validate_json(record.body)
    job, ws, session_id = wiring.session_extraction(), message.workspace_id, message.session_id
    with log_keys(session_id=session_id, workspace_id=ws):
        outcome = with_last_attempt(
            record,
            lambda: job.run(ws, session_id),
            lambda why: job.give_up(ws, session_id, why),
            get_settings().extract_max_attempts,
        )
    count(f"Session{outcome.capitalize()}")
    return outcome
