"""Request and response bodies of POST /v1/memories/search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from engram.memories.models import EventType, Memory, MemoryType, Role
from engram.search.index import SearchFilters, TagFilter, TagOp
from engram.validation import JSON_NUMBER, EngramId, IsoTime, UnitFloat

SearchMode = Literal["semantic", "keyword", "hybrid"]
MetadataScalar = str | int | float | bool
WEIGHT_TOLERANCE = 0.001
MAX_OFFSET = 1000


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Weights(_Request):
    """How the legs combine; must sum to 1. A leg not given weighs 0."""

    semantic: UnitFloat = 0.0
    keyword: UnitFloat = 0.0
    recency: UnitFloat = 0.0

    @model_validator(mode="after")
    def _sums_to_one(self) -> Weights:
        total = self.semantic + self.keyword + self.recency
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(
                f"weights must sum to 1.0 (±{WEIGHT_TOLERANCE}); these sum to {total:.4g}"
            )
        return self


# Over the calibrated legs (search/fusion.py) the keyword leg weighs more: fitted with the
# query-analysis weights on LoCoMo dev and checked leave-one-conversation-out
# (`bench/fusion_fit.py`, `bench/retrieval.py --cv`), recency a small tie-breaker, since a
# newer memory should win between equals. See docs/benchmarks.md, "Retrieval".
DEFAULT_WEIGHTS = Weights(semantic=0.25, keyword=0.65, recency=0.1)


class TagFilterIn(_Request):
    # the schema says what _value_unless_exists enforces: a value unless op is exists
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["value"], "properties": {"value": {"type": "string"}}},
                {"required": ["op"], "properties": {"op": {"const": "exists"}}},
            ]
        },
    )

    key: str = Field(min_length=1, max_length=128)
    value: str | None = Field(None, max_length=128)
    op: TagOp = "eq"

    @model_validator(mode="after")
    def _value_unless_exists(self) -> TagFilterIn:
        if self.op != "exists" and self.value is None:
            raise ValueError(f"tag filter op '{self.op}' needs a value")
        return self


class SearchRequest(_Request):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: str | None = Field(None, max_length=8192)
    search_mode: SearchMode = "hybrid"
    weights: Weights | None = None
    limit: Annotated[int, Field(ge=1, le=100), JSON_NUMBER] = Field(
        10, validation_alias=AliasChoices("limit", "topK")
    )
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET), JSON_NUMBER] = 0
    session_id: EngramId | None = None
    memory_types: list[MemoryType] | None = None  # empty or null: any type
    role: Role | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)  # all of them
    tag_filters: list[TagFilterIn] = Field(default_factory=list, max_length=50)
    filters: dict[str, MetadataScalar] = Field(default_factory=dict, max_length=50)
    user_id: EngramId | None = None
    agent_id: EngramId | None = None
    from_time: IsoTime | None = None  # from after to: an empty range, nothing found
    to_time: IsoTime | None = None
    min_score: UnitFloat | None = None
    min_importance: UnitFloat | None = None
    min_confidence: UnitFloat | None = None
    event_types: list[EventType] | None = Field(None, max_length=50)  # any of them
    content_contains: str | None = Field(None, min_length=1, max_length=256)
    order: Literal["asc", "desc"] = Field(
        "desc", description="Without a query: by creation time (with one, best first)."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_limit(cls, data: Any) -> Any:
        if isinstance(data, dict) and "limit" in data and "topK" in data:
            if data["limit"] != data["topK"]:
                raise ValueError("give limit or its alias topK, not both")
            data = {k: v for k, v in data.items() if k != "topK"}
        return data

    def needs_table(self) -> bool:
        """Filters (or an order) that the index does not hold but the table's lists answer."""
        return (
            self.min_importance is not None
            or self.min_confidence is not None
            or bool(self.event_types)
            or self.content_contains is not None
            or self.order == "asc"
        )

    def keeps(self, memory: Memory) -> bool:
        """The filters checked on each candidate memory itself (not in the index)."""
        return (
            (self.min_importance is None or memory.importance_score >= self.min_importance)
            and (
                self.min_confidence is None
                or (
                    memory.confidence_score is not None
                    and memory.confidence_score >= self.min_confidence
                )
            )
            and (not self.event_types or memory.event_type in self.event_types)
            and (
                not self.content_contains
                or self.content_contains.casefold() in memory.content.casefold()
            )
        )

    @property
    def text(self) -> str:
        """The query, or '' for a filter-only listing."""
        return (self.query or "").strip()

    def index_filters(self) -> SearchFilters:
        """The port's filters (the caller's agent scope narrows them further)."""
        return SearchFilters(
            session_id=self.session_id,
            memory_types=tuple(self.memory_types) if self.memory_types else None,
            role=self.role,
            tags=tuple(self.tags),
            tag_filters=tuple(TagFilter(t.key, t.op, t.value) for t in self.tag_filters),
            metadata=dict(self.filters),
            user_id=self.user_id,
            agent_id=self.agent_id,
            from_time=self.from_time,
            to_time=self.to_time,
        )


class LegScores(BaseModel):
    semantic: float
    keyword: float
    recency: float


class SearchResult(BaseModel):
    memory_id: str
    content: str
    memory_type: str
    role: str | None
    score: float
    scores: LegScores
    created_at: str
    tags: list[str]
    metadata: dict[str, Any]
    session_id: str | None
    title: str | None
    importance_score: float


class SearchResponse(BaseModel):
    results: list[SearchResult]
    total: int
    query_time_ms: float


class RelatedMemory(BaseModel):
    memory: Memory
    score: float = Field(description="0-1: similarity, shared concepts and session, weighted.")
    reasons: list[Literal["similar", "shared_concepts", "same_session"]]
    shared_concepts: list[str]
    similarity: float | None = Field(None, description="Cosine similarity of the vectors.")


class RelatedMemories(BaseModel):
    """A memory's detail with its related memories, best first."""

    memory: Memory
    related_ids: list[str]
    related: list[RelatedMemory]
    count: int
