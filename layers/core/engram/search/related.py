"""Related memories: those of the same session, those sharing a concept (the concepts'
entry partitions) and the nearest neighbours of the memory's stored vector in the index,
each scored by what it shares."""

from __future__ import annotations

import array
from dataclasses import dataclass, field

from engram.agent_scope import UNBOUND, AgentScope
from engram.errors import NotFound
from engram.memories.repository import MemoryRepository
from engram.observability import logger
from engram.search.index import SearchFilters, SearchIndex
from engram.search.models import RelatedMemories, RelatedMemory

MAX_CONCEPTS = 20  # the concepts of one memory that are looked up
WEIGHTS = {"similar": 0.6, "shared_concepts": 0.25, "same_session": 0.15}


@dataclass
class _Why:
    same_session: bool = False
    concepts: set[str] = field(default_factory=set)
    similarity: float | None = None


class RelatedService:
    def __init__(
        self, repo: MemoryRepository, index: SearchIndex, scope: AgentScope = UNBOUND
    ) -> None:
        """`scope`: a bound key sees only its agent's memories, related ones included."""
        self._repo = repo
        self._index = index
        self._scope = scope

    def related(self, workspace_id: str, memory_id: str, limit: int) -> RelatedMemories:
        stored = self._repo.get_stored(workspace_id, memory_id, include_deleted=False)
        memory = stored.memory
        if not self._scope.owns(memory):
            raise NotFound(f"Memory {memory_id} was not found.")
        agent_id = self._scope.agent_id
        why: dict[str, _Why] = {}
        if memory.session_id:
            for other in self._repo.session_memories(
                workspace_id, memory.session_id, oldest_first=False, limit=limit + 1
            ):
                why.setdefault(other.memory_id, _Why()).same_session = True
        for concept in memory.concepts[:MAX_CONCEPTS]:
            for other_id in self._repo.sharing_concept(workspace_id, concept, limit + 1):
                why.setdefault(other_id, _Why()).concepts.add(concept)
        if stored.embedding is not None:
            vector = array.array("f", stored.embedding).tolist()  # float32, as stored
            try:
                hits = self._index.knn(
                    workspace_id, vector, SearchFilters(agent_id=agent_id), limit + 1
                )
            except Exception:  # noqa: BLE001 - the other relations still answer
                logger.exception("related: the nearest-neighbour search failed")
                hits = []
            for hit in hits:
                why.setdefault(hit.memory_id, _Why()).similarity = hit.score
        why.pop(memory_id, None)
        found = self._repo.get_many(workspace_id, list(why))
        related = [
            _related(found[other_id], reasons, len(memory.concepts))
            for other_id, reasons in why.items()
            if other_id in found and self._scope.owns(found[other_id])
        ]
        related.sort(key=lambda r: (-r.score, r.memory.memory_id))
        related = related[:limit]
        return RelatedMemories(
            memory=memory,
            related_ids=[r.memory.memory_id for r in related],
            related=related,
            count=len(related),
        )


def _related(other, why: _Why, own_concepts: int) -> RelatedMemory:
    reasons, score = [], 0.0
    if why.similarity is not None:
        reasons.append("similar")
        score += WEIGHTS["similar"] * max(0.0, min(1.0, why.similarity))
    if why.concepts:
        reasons.append("shared_concepts")
        score += WEIGHTS["shared_concepts"] * len(why.concepts) / max(own_concepts, 1)
    if why.same_session:
        reasons.append("same_session")
        score += WEIGHTS["same_session"]
    return RelatedMemory(
        memory=other,
        score=round(score, 6),
        reasons=reasons,
        shared_concepts=sorted(why.concepts),
        similarity=why.similarity,
    )
