"""Read-your-writes: search also scores the workspace's memories the index does not hold as
they are yet (the sparse GSI5 of the table, one Query; empty when all is indexed), so a
memory is found by the first search after its write was acknowledged, whatever the index's
refresh interval or the embed queue's backlog. The index's copy of a pending memory (its
old text or tags) is dropped; a deleted memory is never on the list.

Scoring, on each leg's raw scale so the usual fusion applies unchanged:
- semantic: the exact cosine of the query and the memory's vector, as the index computes
  it. The vector is the stored one when it is current; otherwise the memory's text is
  embedded now, at most EMBED_BOUND texts per search (one call; the vectors are kept in a
  small per-process cache). A pending memory beyond that bound, or when the model fails,
  is scored by keyword only until the worker has embedded it (a second or two).
- keyword: the share of the query's distinct terms found in the memory's indexed text
  (the index's own analysis: stopwords dropped and stemmed, as the local index and the
  OpenSearch mapping do, when that analyzer is installed; plain lower-cased words
  otherwise), on the scale of the best BM25 score of the index's hits (the top score when
  the memory holds every term).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engram.memories.models import Memory
from engram.memories.repository import MemoryRepository, StoredMemory
from engram.search.filtering import matches
from engram.search.index import Hit, SearchFilters, tag_keys
from engram.text import content_hash, indexed_text

if TYPE_CHECKING:
    import numpy as np

    from engram.search.embedder import Embedder

PENDING_LIMIT = 200  # the newest not-yet-indexed memories a search reads
EMBED_BOUND = 16  # pending texts a search embeds on the fly
CACHE_SIZE = 2048  # vectors of pending texts kept per process

_WORD = re.compile(r"(?u)\b\w\w+\b")
_vectors: OrderedDict[str, np.ndarray] = OrderedDict()


def _plain_terms(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _analyzer() -> Callable[[str], list[str]]:
    """The index's analysis when installed (stopwords, stemming), else plain words."""
    try:
        from engram.adapters.local_index import tokenize
    except ImportError:  # a Lambda layer without the local index's extras
        return _plain_terms
    return tokenize


@dataclass(frozen=True)
class Pending:
    """A search's not-yet-indexed memories that pass its filters, by id."""

    memories: dict[str, StoredMemory]
    all_ids: frozenset[str]  # every pending id read (filtered out or not): the index's
    # copies of these are stale, so their index hits are dropped

    def __bool__(self) -> bool:
        return bool(self.all_ids)

    def without_stale(self, hits: Sequence[Hit]) -> list[Hit]:
        return [h for h in hits if h.memory_id not in self.all_ids]

    def keyword_hits(self, text: str, index_hits: Sequence[Hit], k: int) -> list[Hit]:
        if not self.memories:
            return []
        analyze = _analyzer()
        terms = set(analyze(text))
        if not terms:
            return []
        top = max((h.score for h in index_hits), default=1.0)
        hits = []
        for memory_id, stored in self.memories.items():
            found = terms & set(
                analyze(
                    stored.search_text or indexed_text(stored.memory.title, stored.memory.content)
                )
            )
            if found:
                hits.append(Hit(memory_id, top * len(found) / len(terms)))
        return _best(hits, k)

    def semantic_hits(self, query: np.ndarray, embedder: Embedder, k: int) -> list[Hit]:
        vectors = pending_vectors(list(self.memories.values()), embedder, EMBED_BOUND)
        return _best([Hit(m, float(query @ v)) for m, v in vectors.items()], k)


def _best(hits: list[Hit], k: int) -> list[Hit]:
    """A leg's k best, as the index returns them (ties by id)."""
    return sorted(hits, key=lambda h: (-h.score, h.memory_id))[:k]


def read_pending(repo: MemoryRepository, workspace_id: str, filters: SearchFilters) -> Pending:
    """One Query of the sparse GSI5; those that pass the search's filters are kept."""
    stored = repo.unindexed(workspace_id, PENDING_LIMIT)
    if not stored:
        return Pending({}, frozenset())
    keep = {
        s.memory.memory_id: s
        for s in stored
        if not s.memory.deleted_at and memory_matches(s.memory, filters)
    }
    return Pending(keep, frozenset(s.memory.memory_id for s in stored))


def memory_matches(memory: Memory, filters: SearchFilters) -> bool:
    """The index's filter semantics (engram.search.filtering) on a memory of the table, as
    the document the worker would index for it."""
    import numpy as np

    from engram.search.sync import to_document

    doc = to_document(memory, np.empty(0, dtype=np.float32), None)
    if filters.from_time is not None and doc.created_at < filters.from_time:
        return False
    if filters.to_time is not None and doc.created_at > filters.to_time:
        return False
    return matches(doc, frozenset(doc.tags), frozenset(tag_keys(doc.tags)), filters)


def pending_vectors(
    memories: Sequence[StoredMemory], embedder: Embedder, bound: int
) -> dict[str, np.ndarray]:
    """Each memory's vector of its current text: stored, cached, or embedded now (at most
    `bound` texts, in one call); those left over have none."""
    import numpy as np

    vectors: dict[str, np.ndarray] = {}
    missing: list[tuple[str, str, str]] = []  # memory id, text, cache key
    for stored in memories:
        own = indexed_text(stored.memory.title, stored.memory.content)
        wanted = content_hash(f"{embedder.name}\n{own}")
        if stored.embedding is not None and stored.embedded_hash == wanted:
            vectors[stored.memory.memory_id] = np.frombuffer(stored.embedding, dtype=np.float32)
        elif wanted in _vectors:
            _vectors.move_to_end(wanted)
            vectors[stored.memory.memory_id] = _vectors[wanted]
        else:
            missing.append((stored.memory.memory_id, own, wanted))
    missing = missing[:bound]
    if missing:
        try:
            made = embedder.embed([text for _, text, _ in missing]).astype(np.float32)
        except Exception:  # noqa: BLE001 - keyword only until the worker embeds them
            return vectors
        for (memory_id, _, wanted), vector in zip(missing, made, strict=True):
            vectors[memory_id] = _vectors[wanted] = vector
        while len(_vectors) > CACHE_SIZE:
            _vectors.popitem(last=False)
    return vectors
