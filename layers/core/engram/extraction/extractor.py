"""The Extractor port: a session's episodes in, a summary and typed memory candidates out.

Pure data types; `engram.wiring` picks and builds the adapter, so importing this module
costs nothing at cold start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, get_args, runtime_checkable

from engram.errors import ServiceUnavailable

MemoryType = Literal["decision", "preference", "pattern", "fact", "entity"]
MEMORY_TYPES: tuple[str, ...] = get_args(MemoryType)
MAX_TITLE_CHARS = 120


@dataclass(frozen=True)
class Episode:
    """One message or observation of the session; extractors receive them oldest first."""

    memory_id: str
    role: str | None
    content: str
    created_at: str  # ISO 8601, UTC ("...Z")


@dataclass(frozen=True)
class Candidate:
    """A typed memory the extractor proposes; the worker decides whether it is stored."""

    memory_type: MemoryType
    title: str  # short, <= MAX_TITLE_CHARS
    content: str  # one self-contained narrative sentence
    importance_score: float  # 0..1
    tags: tuple[str, ...]
    source_ids: tuple[str, ...]  # memory_ids of the episodes it came from (provenance)


@dataclass(frozen=True)
class Extraction:
    summary: str  # the session summary, a few sentences
    memories: tuple[Candidate, ...]


class ExtractionError(ServiceUnavailable):
    """Extraction failed; `retryable` says whether trying again may help (throttling, a
    timeout) or not (a refused request, output that stayed malformed)."""

    def __init__(self, detail: str, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable


@runtime_checkable
class Extractor(Protocol):
    name: str  # e.g. "heuristic", "bedrock:anthropic.claude-3-5-haiku-20241022-v1:0"

    def extract(self, episodes: Sequence[Episode], client_summary: str | None = None) -> Extraction:
        """The session's summary and memory candidates. `client_summary` is what the client
        said the session was about when it ended it, if anything."""
        ...


def ordered(episodes: Sequence[Episode]) -> list[Episode]:
    """Oldest first, ties by id: the same episodes in any order give the same input."""
    return sorted(episodes, key=lambda e: (e.created_at, e.memory_id))


def empty_extraction(client_summary: str | None) -> Extraction:
    """What every adapter returns for a session without episodes (no model call)."""
    summary = (client_summary or "").strip() or "The session had no messages."
    return Extraction(summary=summary, memories=())
