"""The SearchIndex port: documents in, raw per-leg hits out.

Two adapters implement it: the embedded local index (`engram.adapters.local_index`)
and OpenSearch (`engram.adapters.opensearch_index`); `engram.wiring` picks one. Both report the same raw scales:
k-NN hits carry the cosine similarity in [-1, 1], keyword hits the BM25 score. Every
query is scoped to one workspace inside the adapter; callers cannot widen it.

Tags are plain strings; a tag `key:value` (split on the first ':') can also be filtered
by key with a `TagFilter`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from engram.errors import ServiceUnavailable

TagOp = Literal["eq", "neq", "exists", "prefix"]
TAG_OPS: tuple[str, ...] = ("eq", "neq", "exists", "prefix")
MetadataValue = str | int | float | bool


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IndexUnavailable(ServiceUnavailable):
    """The search index failed or did not answer in time (503 with Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "The search index is not answering; your memories are stored and will be "
            f"searchable again when it recovers. Retry in {retry_after} s.",
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class IndexDocument:
    memory_id: str
    workspace_id: str
    content: str
    embedding: Sequence[float]
    memory_type: str = "episodic"
    session_id: str | None = None
    role: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    agent_id: str | None = None
    source: str = "api"
    importance_score: float = 0.5
    created_at: datetime = field(default_factory=_utcnow)
    # What BM25 indexes when set (content with context); else title + content.
    search_text: str | None = None

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware (UTC)")

    def keyword_text(self) -> str:
        if self.search_text is not None:
            return self.search_text
        return f"{self.title}\n{self.content}" if self.title else self.content


@dataclass(frozen=True)
class TagFilter:
    key: str
    op: TagOp
    value: str | None = None

    def __post_init__(self) -> None:
        if self.op not in TAG_OPS:
            raise ValueError(f"tag filter op must be one of {', '.join(TAG_OPS)}, not {self.op!r}")
        if self.op != "exists" and self.value is None:
            raise ValueError(f"tag filter op {self.op!r} needs a value")


@dataclass(frozen=True)
class SearchFilters:
    session_id: str | None = None
    memory_types: tuple[str, ...] | None = None
    role: str | None = None
    tags: tuple[str, ...] = ()  # every one must be present
    tag_filters: tuple[TagFilter, ...] = ()
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)  # AND-ed equality
    user_id: str | None = None
    agent_id: str | None = None
    from_time: datetime | None = None  # inclusive, on created_at
    to_time: datetime | None = None  # inclusive, on created_at


@dataclass(frozen=True)
class Hit:
    memory_id: str
    score: float  # raw leg score: cosine similarity for knn, BM25 score for keyword


class SearchIndex(Protocol):
    def ensure_index(self, dimension: int) -> None: ...

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        """Insert or replace by (workspace_id, memory_id)."""
        ...

    def delete(self, workspace_id: str, memory_ids: Sequence[str]) -> None:
        """Missing ids are fine."""
        ...

    def knn(
        self, workspace_id: str, vector: Sequence[float], filters: SearchFilters, k: int
    ) -> list[Hit]: ...

    def bm25(self, workspace_id: str, text: str, filters: SearchFilters, k: int) -> list[Hit]: ...

    def list(
        self, workspace_id: str, filters: SearchFilters, limit: int, offset: int = 0
    ) -> list[Hit]:
        """Filter only, newest created_at first (ties by memory_id), score 0."""
        ...

    def count(self, workspace_id: str) -> int: ...

    def clear_workspace(self, workspace_id: str) -> None: ...


def split_tag(tag: str) -> tuple[str, str] | None:
    """`key:value` -> (key, value); a tag without ':' has no key."""
    key, sep, value = tag.partition(":")
    return (key, value) if sep else None


def tag_keys(tags: Sequence[str]) -> tuple[str, ...]:
    """The distinct keys of a document's `key:value` tags, in first-seen order."""
    keys = (pair[0] for pair in map(split_tag, tags) if pair)
    return tuple(dict.fromkeys(keys))


def metadata_text(value: Any) -> str:
    """A metadata scalar as OpenSearch's flat_object stores it (so both adapters compare
    the same way): booleans as true/false, integral floats without '.0'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
