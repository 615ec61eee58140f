"""Search: runs the index legs, fuses them, re-checks every hit against the table.

Fusion (`search/fusion.py`, issue 21): each leg's raw scores become z-scores over its
candidate slots, recency (0.5 ** (age_days / half_life)) a z-score over the candidates;
the score is the logistic of their weighted sum (in hybrid, plus a share of the best other
candidate of the same session), and a candidate holding more of the query's exact
identifiers ranks first. In hybrid the semantic leg embeds the query without its names
(fusion.semantic_query), and the candidates' words are compared with the query's by
meaning (word vectors, search/meanings.py). Single-leg modes keep the recency weight as
given and give the leg the rest (1 - recency), so `semantic` with the default weights is
0.9 semantic + 0.1 recency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from engram.agent_scope import UNBOUND, AgentScope
from engram.clock import Clock, iso, parse_iso
from engram.config import get_settings
from engram.memories.models import Memory
from engram.memories.repository import MemoryFilters, MemoryRepository
from engram.search.embedder import Embedder, embed_one
from engram.search.fusion import (
    MANY_SESSION_SUPPORT,
    SESSION_SUPPORT,
    Fused,
    logistic,
    semantic_query,
    session_support,
    standardise,
)
from engram.search.index import Hit, SearchFilters, SearchIndex
from engram.search.meanings import WordMeanings
from engram.search.models import (
    DEFAULT_WEIGHTS,
    LegScores,
    SearchRequest,
    SearchResponse,
    SearchResult,
    Weights,
)
from engram.search.pending import Pending, read_pending

LEGS = ("semantic", "keyword")
# Each leg's first factor x this many (the default limit) hits set its scale; a page reaching
# deeper fetches more hits, as candidates that score as the leg's lowest.
CANDIDATE_WINDOW = 10


def recency_score(created_at: datetime, now: datetime, half_life_days: float) -> float:
    """Exponential decay: 1.0 now, 0.5 one half-life ago; a future time counts as now."""
    age_days = max(0.0, (now - created_at).total_seconds() / 86_400)
    return 0.5 ** (age_days / half_life_days)


def mode_weights(mode: str, given: Weights | None) -> Weights:
    """The weights a mode uses: hybrid as given (or the default); a single-leg mode keeps
    the recency weight and gives the rest to its leg."""
    weights = given or DEFAULT_WEIGHTS
    if mode == "hybrid":
        return weights
    rest = 1.0 - weights.recency
    return Weights.model_construct(
        semantic=rest if mode == "semantic" else 0.0,
        keyword=rest if mode == "keyword" else 0.0,
        recency=weights.recency,
    )


def legs_of(mode: str) -> tuple[str, ...]:
    return LEGS if mode == "hybrid" else (mode,)


@dataclass(frozen=True)
class Scored:
    memory: Memory
    score: float
    scores: LegScores


class SearchService:
    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder | Callable[[], Embedder],
        repo: MemoryRepository,
        clock: Clock,
        half_life_days: float | None = None,
        candidates_factor: int | None = None,
        scope: AgentScope = UNBOUND,
        meanings: WordMeanings | None = None,
    ) -> None:
        settings = get_settings()
        self._scope = scope  # an agent-bound key's agent narrows every search, in the index
        self._index = index
        self._embedder = embedder  # or a factory, so keyword and listing never load a model
        self._repo = repo
        self._clock = clock
        self._half_life = half_life_days or settings.recency_half_life_days
        self._factor = candidates_factor or settings.search_candidates_factor
        self._query: tuple[str, Any] | None = None
        self._meanings = meanings or WordMeanings()  # word vectors: soft word match

    def search(self, workspace_id: str, request: SearchRequest) -> SearchResponse:
        started = time.perf_counter()
        filters = self._scope.narrow(request.index_filters())
        # The calibrated fusion scales each leg over the default page's window of slots
        # (factor x CANDIDATE_WINDOW) whatever `limit` and `offset` ask: `limit=2` (or
        # `offset=1`) is a slice of `limit=10`, and a deeper page adds candidates without
        # changing how the window's memories score.
        k = self._factor * max(request.limit + request.offset, CANDIDATE_WINDOW)
        if request.text:
            ranked = self._ranked(workspace_id, request, filters, k)
        elif request.needs_table() and not (request.tag_filters or request.filters or request.role):
            ranked = self._table_listing(workspace_id, request, filters, k)
        else:
            ranked = self._listing(workspace_id, filters, k, request.order == "asc")
        ranked = [s for s in ranked if request.keeps(s.memory)]
        if request.min_score is not None:
            ranked = [s for s in ranked if s.score >= request.min_score]
        page = ranked[request.offset : request.offset + request.limit]
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResponse(
            results=[_result(s) for s in page], total=len(ranked), query_time_ms=round(elapsed, 2)
        )

    def ranked_ids(
        self, workspace_id: str, query: str, limit: int, memory_types: list[str] | None = None
    ) -> list[str]:
        """The ids of the best `limit` memories for `query` (hybrid) of those types (any if
        None), best first."""
        request = SearchRequest(query=query, limit=limit, memory_types=memory_types)
        response = self.search(workspace_id, request)
        return [hit.memory_id for hit in response.results]

    # ranking ------------------------------------------------------------------------------

    def _ranked(
        self, workspace_id: str, request: SearchRequest, filters: SearchFilters, k: int
    ) -> list[Scored]:
        weights = mode_weights(request.search_mode, request.weights)
        pending = read_pending(self._repo, workspace_id, filters)
        legs = legs_of(request.search_mode)
        hits = {
            leg: self._leg_with_pending(
                leg, workspace_id, _leg_text(leg, legs, request.text), filters, k, pending
            )
            for leg in legs
        }
        fused = Fused(hits, self._factor * CANDIDATE_WINDOW, request.text)
        live = self._repo.get_many(workspace_id, fused.candidates())  # deleted or missing: dropped
        words = fused.words_to_compare(_text(m) for m in live.values())  # none unless hybrid
        if words:
            vectors = self._meanings.of(self._model(), words, first=fused.query_words)
            fused.use_meanings(vectors)
        return fuse(list(live.values()), fused, weights, self._recency)

    def _leg(
        self, leg: str, workspace_id: str, text: str, filters: SearchFilters, k: int
    ) -> list[Hit]:
        if leg == "keyword":
            return self._index.bm25(workspace_id, text, filters, k)
        return self._index.knn(workspace_id, self._query_vector(text).tolist(), filters, k)

    def _leg_with_pending(
        self,
        leg: str,
        workspace_id: str,
        text: str,
        filters: SearchFilters,
        k: int,
        pending: Pending,
    ) -> list[Hit]:
        """Read-your-writes (engram.search.pending): a leg's index hits, with the index's
        copies of not-yet-indexed memories replaced by those memories scored here."""
        hits = self._leg(leg, workspace_id, text, filters, k)
        if not pending:
            return hits
        hits = pending.without_stale(hits)
        if leg == "keyword":
            return hits + pending.keyword_hits(text, hits, k)
        return hits + pending.semantic_hits(self._query_vector(text), self._model(), k)

    def _query_vector(self, text: str) -> Any:
        """The query's embedding, made once per search (the index's leg and the pending
        memories' both use it)."""
        if self._query is None or self._query[0] != text:
            self._query = (text, embed_one(self._model(), text))
        return self._query[1]

    def _listing(
        self, workspace_id: str, filters: SearchFilters, k: int, oldest_first: bool = False
    ) -> list[Scored]:
        """No query: matching memories newest first (or oldest), scored by recency alone."""
        hits = self._index.list(workspace_id, filters, k)
        pending = read_pending(self._repo, workspace_id, filters)
        ids = [h.memory_id for h in pending.without_stale(hits)] + list(pending.memories)[:k]
        live = self._repo.get_many(workspace_id, ids)
        memories = sorted(live.values(), key=lambda m: (_newest_first(m), m.memory_id))
        if oldest_first:
            memories.reverse()
        return [self._listed(m) for m in memories]

    def _table_listing(
        self, workspace_id: str, request: SearchRequest, filters: SearchFilters, k: int
    ) -> list[Scored]:
        """No query and only filters the table's lists answer: the memories list itself
        (one indexed partition, exact in either order, fresh as the table)."""
        wanted = MemoryFilters(
            session_id=filters.session_id,
            memory_types=filters.memory_types or (),
            tags=filters.tags,
            user_id=filters.user_id,
            agent_id=filters.agent_id,
            event_types=tuple(request.event_types or ()),
            min_importance=request.min_importance,
            min_confidence=request.min_confidence,
            content_contains=request.content_contains,
            since=iso(filters.from_time) if filters.from_time else None,
            until=iso(filters.to_time) if filters.to_time else None,
            oldest_first=request.order == "asc",
        )
        page = self._repo.list(workspace_id, wanted, min(k, 1000), None)
        return [self._listed(m) for m in page.items]

    def _listed(self, memory: Memory) -> Scored:
        recency = self._recency(memory)
        return Scored(memory, recency, LegScores(semantic=0.0, keyword=0.0, recency=recency))

    def _recency(self, memory: Memory) -> float:
        created = parse_iso(memory.created_at)
        return recency_score(created, self._clock.now(), self._half_life)

    def _model(self) -> Embedder:
        if callable(self._embedder) and not hasattr(self._embedder, "embed"):
            self._embedder = self._embedder()
        return self._embedder  # type: ignore[return-value]


def fuse(
    memories: list[Memory], fused: Fused, weights: Weights, recency: Callable[[Memory], float]
) -> list[Scored]:
    """The candidates best first: more exact identifiers of the query, then the logistic of
    the weighted z-scores (in hybrid, with the support of the session's best other
    candidate), then the newest, then the id."""
    by_id = {m.memory_id: m for m in memories}
    decay = {m.memory_id: recency(m) for m in memories}
    window = fused.window()
    recent = standardise(decay, over=window)
    values, legs = {}, {}
    for memory in memories:
        semantic, keyword = (fused.leg(leg, memory.memory_id) for leg in LEGS)
        values[memory.memory_id] = (
            weights.semantic * (semantic or 0.0)
            + weights.keyword * (keyword or 0.0)
            + weights.recency * recent[memory.memory_id]
            + fused.analysis(memory.memory_id, _text(memory), _created_day(memory))
        )
        legs[memory.memory_id] = LegScores(
            semantic=0.0 if semantic is None else logistic(semantic),
            keyword=0.0 if keyword is None else logistic(keyword),
            recency=decay[memory.memory_id],
        )
    if fused.hybrid:
        sessions = {m.memory_id: m.session_id for m in memories}
        share = MANY_SESSION_SUPPORT if fused.asks_for_many else SESSION_SUPPORT
        values = session_support(values, sessions, share, supporters=window)
    order = sorted(
        by_id,
        key=lambda i: (-fused.tier(_text(by_id[i])), -values[i], _newest_first(by_id[i]), i),
    )
    return [Scored(by_id[i], logistic(values[i]), legs[i]) for i in order]


def _leg_text(leg: str, legs: tuple[str, ...], query: str) -> str:
    """What a leg searches for: in hybrid the semantic leg embeds the query without its
    names (fusion.semantic_query); a single-leg mode searches the query as given."""
    return semantic_query(query) if leg == "semantic" and len(legs) > 1 else query


def _created_day(memory: Memory) -> date:
    return parse_iso(memory.created_at).date()


def _text(memory: Memory) -> str:
    return f"{memory.title}\n{memory.content}" if memory.title else memory.content


def _newest_first(memory: Memory) -> float:
    return -parse_iso(memory.created_at).timestamp()


def _result(scored: Scored) -> SearchResult:
    m = scored.memory
    return SearchResult(
        memory_id=m.memory_id,
        content=m.content,
        memory_type=m.memory_type,
        role=m.role,
        score=round(scored.score, 6),
        scores=LegScores(**{k: round(v, 6) for k, v in scored.scores.model_dump().items()}),
        created_at=m.created_at,
        tags=m.tags,
        metadata=m.metadata,
        session_id=m.session_id,
        title=m.title,
        importance_score=m.importance_score,
    )
