"""The end-of-session job: episodes → extractor → deduplicated typed memories, the session
summary, the workspace summary. Idempotent: a second run for a session creates nothing twice
(extracted memories have ids derived from their session and text, and a session whose
summary is ready is skipped)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from typing import Any

from engram.clock import Clock, iso
from engram.config import get_settings
from engram.errors import Conflict, NotFound
from engram.event_types import Publisher
from engram.extraction.extractor import Candidate, Episode, Extractor
from engram.memories.models import Memory, MemoryCreate, MemoryUpdate
from engram.memories.repository import MemoryFilters, MemoryRepository
from engram.memories.service import MemoryService
from engram.observability import logger
from engram.search.embedder import Embedder
from engram.search.index import SearchFilters, SearchIndex
from engram.sessions.repository import SessionRepository
from engram.text import indexed_text
from engram.workspaces.repository import WorkspaceRepository

SUMMARY_TYPES = ("pattern", "decision", "preference")


def extracted_id(session_id: str, memory_type: str, content: str) -> str:
    """Same session and text → same id, so a re-run's insert is a no-op conflict."""
    digest = hashlib.sha256(f"{session_id}\n{memory_type}\n{content.strip().lower()}".encode())
    return "mem_x" + digest.hexdigest()[:26]


class SessionExtraction:
    def __init__(
        self,
        sessions: SessionRepository,
        memories: MemoryService,
        memory_repo: MemoryRepository,
        workspaces: WorkspaceRepository,
        extractor: Extractor,
        embedder: Embedder,
        index: SearchIndex,
        events: Publisher,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._memories = memories
        self._memory_repo = memory_repo
        self._workspaces = workspaces
        self._extractor = extractor
        self._embedder = embedder
        self._index = index
        self._events = events
        self._clock = clock

    def run(self, workspace_id: str, session_id: str) -> str:
        """Returns what happened: skipped (gone or already summarised) or summarized."""
        try:
            session = self._sessions.get(workspace_id, session_id)
        except NotFound:
            return "skipped"
        if session.summary_status == "ready":
            return "skipped"
        episodes = [
            Episode(memory_id=m.memory_id, role=m.role, content=m.content, created_at=m.created_at)
            for m in self._memory_repo.session_memories(workspace_id, session_id)
            if m.memory_type == "episodic"
        ]
        extraction = self._extractor.extract(episodes, session.summary)
        stored = [self._store(workspace_id, session_id, c) for c in extraction.memories]
        self._sessions.update(
            workspace_id,
            session_id,
            {
                "summary": extraction.summary,
                "summary_status": "ready",
                "summary_error": None,
                "updated_at": iso(self._clock.now()),
            },
        )
        self.refresh_workspace_summary(workspace_id)
        self._events.publish(
            "session.summarized",
            workspace_id,
            {
                "session_id": session_id,
                "summary": extraction.summary,
                "memory_ids": [m for m in stored if m],
            },
        )
        return "summarized"

    def give_up(self, workspace_id: str, session_id: str, reason: str) -> None:
        try:
            self._sessions.update(
                workspace_id,
                session_id,
                {"summary_status": "failed", "summary_error": reason[:1000]},
            )
        except NotFound:
            return
        logger.warning("extraction failed for good", extra={"session_id": session_id})

    def _store(self, workspace_id: str, session_id: str, candidate: Candidate) -> str | None:
        """Updates a near-duplicate of the same type, or stores a new memory."""
        duplicate = self._near_duplicate(workspace_id, candidate)
        if duplicate is not None:
            self._merge(workspace_id, duplicate, candidate)
            return duplicate.memory_id
        body = MemoryCreate(
            content=candidate.content,
            memory_type=candidate.memory_type,
            title=candidate.title,
            importance_score=candidate.importance_score,
            session_id=session_id,
            tags=list(candidate.tags),
            metadata={"source_ids": list(candidate.source_ids), "extracted_from": session_id},
        )
        memory_id = extracted_id(session_id, candidate.memory_type, candidate.content)
        with contextlib.suppress(Conflict):  # a previous run stored it
            self._memories.create(workspace_id, [body], source="extraction", ids=[memory_id])
        return memory_id

    def _near_duplicate(self, workspace_id: str, candidate: Candidate) -> Memory | None:
        # Embedded as the stored memory would be, so like is compared with like.
        vector = self._embedder.embed([indexed_text(candidate.title, candidate.content)])[0]
        filters = SearchFilters(memory_types=(candidate.memory_type,))
        threshold = get_settings().dedup_similarity
        for hit in self._index.knn(workspace_id, vector.tolist(), filters, 3):
            if hit.score < threshold:
                break
            found = self._memory_repo.get_many(workspace_id, [hit.memory_id])
            if hit.memory_id in found:
                return found[hit.memory_id]
        return None

    def _merge(self, workspace_id: str, existing: Memory, candidate: Candidate) -> None:
        sources = sorted(set(existing.metadata.get("source_ids", [])) | set(candidate.source_ids))
        changes: dict[str, Any] = {"metadata": {"source_ids": sources}}
        if candidate.importance_score > existing.importance_score:
            changes["importance_score"] = candidate.importance_score
        if candidate.content != existing.content:
            changes["content"] = candidate.content  # the newer wording wins
        if sources != sorted(existing.metadata.get("source_ids", [])) or len(changes) > 1:
            self._memories.update(workspace_id, existing.memory_id, MemoryUpdate(**changes))

    def refresh_workspace_summary(self, workspace_id: str) -> str:
        """A short text of the workspace's most important patterns, decisions and preferences."""
        picked: list[Memory] = []
        for memory_type in SUMMARY_TYPES:
            page = self._memory_repo.list(
                workspace_id, MemoryFilters(memory_type=memory_type), limit=50, cursor=None
            )
            ranked = sorted(page.items, key=lambda m: (-m.importance_score, m.created_at))
            picked.extend(ranked[:5])
        summary = workspace_summary_text(picked)
        self._workspaces.set_summary(workspace_id, summary, iso(self._clock.now()))
        return summary


def workspace_summary_text(memories: Sequence[Memory]) -> str:
    labels = {"pattern": "Patterns", "decision": "Decisions", "preference": "Preferences"}
    lines = []
    for memory_type, label in labels.items():
        items = [m.content for m in memories if m.memory_type == memory_type]
        if items:
            lines.append(f"{label}: " + " ".join(items))
    return "\n".join(lines)
