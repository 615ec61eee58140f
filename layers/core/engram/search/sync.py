"""Keeps the search index in line with the table, one memory at a time (the embed worker).

Idempotent by construction: it reads the memory's current state and makes the index
match it, embedding only when the text changed since the stored vector was made."""

from __future__ import annotations

import numpy as np

from engram.clock import Clock, iso, parse_iso
from engram.errors import NotFound
from engram.events import Publisher
from engram.memories.models import Memory
from engram.memories.repository import MemoryRepository, StoredMemory
from engram.memories.service import content_hash, search_text_of
from engram.observability import logger
from engram.search.embedder import Embedder
from engram.search.index import IndexDocument, SearchIndex


def to_document(memory: Memory, vector: np.ndarray, search_text: str | None) -> IndexDocument:
    return IndexDocument(
        memory_id=memory.memory_id, workspace_id=memory.workspace_id, content=memory.content,
        embedding=vector.tolist(), memory_type=memory.memory_type, session_id=memory.session_id,
        role=memory.role, title=memory.title, tags=tuple(memory.tags), metadata=memory.metadata,
        user_id=memory.user_id, agent_id=memory.agent_id, source=memory.source,
        importance_score=memory.importance_score, created_at=parse_iso(memory.created_at),
        search_text=search_text)


class IndexSync:
    def __init__(self, repo: MemoryRepository, index: SearchIndex, embedder: Embedder,
                 events: Publisher, clock: Clock) -> None:
        self._repo = repo
        self._index = index
        self._embedder = embedder
        self._events = events
        self._clock = clock

    def sync(self, workspace_id: str, memory_id: str) -> str:
        """Returns what it did: removed, indexed, embedded or stale."""
        try:
            stored = self._repo.get_stored(workspace_id, memory_id)
        except NotFound:
            self._index.delete(workspace_id, [memory_id])
            return "removed"
        if stored.memory.deleted_at:
            self._index.delete(workspace_id, [memory_id])
            return "removed"
        text = stored.search_text or search_text_of(stored.memory)
        # Keywords get the context (the message before); the vector is of the memory alone,
        # which context dilutes for a small model (measured: docs/benchmarks.md, "Retrieval").
        own = search_text_of(stored.memory)
        wanted = content_hash(f"{self._embedder.name}\n{own}")
        if stored.embedding is not None and stored.embedded_hash == wanted:
            self._upsert(stored, _vector(stored.embedding), text)
            return "indexed"
        vector = self._embedder.embed([own])[0].astype(np.float32)
        if not self._repo.set_embedding(stored, vector.tobytes(), self._embedder.name, wanted,
                                        iso(self._clock.now())):
            return "stale"  # the content changed meanwhile; its own message follows
        self._upsert(stored, vector, text)
        self._events.publish("embedding.ready", workspace_id, {
            "memory_id": memory_id, "model": self._embedder.name})
        return "embedded"

    def give_up(self, workspace_id: str, memory_id: str, reason: str) -> None:
        """The last attempt failed: the memory says why, and an event tells subscribers."""
        try:
            stored = self._repo.get_stored(workspace_id, memory_id)
        except NotFound:
            return
        self._repo.set_embedding_failed(memory_id, stored.content_hash, reason)
        self._events.publish("embedding.failed", workspace_id,
                             {"memory_id": memory_id, "error": reason[:500]})
        logger.warning("embedding failed for good", extra={"memory_id": memory_id})

    def _upsert(self, stored: StoredMemory, vector: np.ndarray, text: str) -> None:
        self._index.ensure_index(self._embedder.dimension)
        self._index.upsert([to_document(stored.memory, vector, text)])


def _vector(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.float32)


