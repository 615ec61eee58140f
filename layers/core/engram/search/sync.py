"""Keeps the search index in line with the table (the embed worker): one memory (`sync`) or
an SQS batch of them (`sync_many`, the same decisions with one read, one embedding call and
one index write for the lot; the vectors and their events go in transactions of 50).

Idempotent by construction: it reads the memory's current state and makes the index
match it, embedding only when the text changed since the stored vector was made."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engram.clock import Clock, iso, parse_iso
from engram.errors import NotFound
from engram.event_types import Draft, Publisher
from engram.memories.models import Memory
from engram.memories.repository import EmbeddingWrite, MemoryRepository, StoredMemory
from engram.observability import logger
from engram.search.embedder import Embedder
from engram.search.index import IndexDocument, SearchIndex
from engram.text import content_hash, indexed_text


def to_document(memory: Memory, vector: np.ndarray, search_text: str | None) -> IndexDocument:
    return IndexDocument(
        memory_id=memory.memory_id,
        workspace_id=memory.workspace_id,
        content=memory.content,
        embedding=vector.tolist(),
        memory_type=memory.memory_type,
        session_id=memory.session_id,
        role=memory.role,
        title=memory.title,
        tags=tuple(memory.tags),
        metadata=memory.metadata,
        user_id=memory.user_id,
        agent_id=memory.agent_id,
        source=memory.source,
        importance_score=memory.importance_score,
        created_at=parse_iso(memory.created_at),
        search_text=search_text,
    )


Job = tuple[str, str]  # (workspace_id, memory_id)


@dataclass
class _Plan:
    """What sync_many found to do, by job."""

    upserts: dict[Job, tuple[StoredMemory, np.ndarray, str]]  # the stored vector is current
    to_embed: dict[Job, tuple[StoredMemory, str, str]]  # stored, the text to embed, its hash
    upserts_of_embedded: dict[Job, tuple[StoredMemory, np.ndarray, str]] = field(
        default_factory=dict
    )


class StaleContent(Exception):
    """The memory changed between its read and its write: the record is retried."""


class IndexSync:
    def __init__(
        self,
        repo: MemoryRepository,
        index: SearchIndex,
        embedder: Embedder,
        events: Publisher,
        clock: Clock,
    ) -> None:
        self._repo = repo
        self._index = index
        self._embedder = embedder
        self._events = events
        self._clock = clock

    def sync(self, workspace_id: str, memory_id: str) -> str:
        """Returns what it did: removed, indexed, embedded or stale."""
        outcome = self.sync_many([(workspace_id, memory_id)])[(workspace_id, memory_id)]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def sync_many(
        self, jobs: Sequence[Job], found: dict[str, StoredMemory] | None = None
    ) -> dict[Job, str | Exception]:
        """sync() for each job, batched. A job's value is its outcome, or the exception that
        stopped it (its record is retried; the others stand).

        The index is written before the table records the memory as `ready`: a memory says
        `ready` only once search can find it (an index failure leaves it `pending`, and
        its record is retried)."""
        outcomes: dict[Job, str | Exception] = {}
        jobs = list(dict.fromkeys(jobs))
        if found is None:  # a rebuild passes what it has just read
            found = self._repo.get_stored_many([memory_id for _, memory_id in jobs])
        plan, removed = _Plan({}, {}), defaultdict(list)
        for job in jobs:
            stored = found.get(job[1])
            if stored is None or stored.memory.workspace_id != job[0] or stored.memory.deleted_at:
                removed[job[0]].append(job)
                continue
            # Keywords get the context (neighbouring messages); the vector is of the memory alone,
            # which context dilutes for a small model (measured: docs/benchmarks.md, "Retrieval").
            text, own = (
                stored.search_text or indexed_text(stored.memory.title, stored.memory.content),
                indexed_text(stored.memory.title, stored.memory.content),
            )
            wanted = content_hash(f"{self._embedder.name}\n{own}")
            if stored.embedding is not None and stored.embedded_hash == wanted:
                plan.upserts[job] = (stored, _vector(stored.embedding), text)
                outcomes[job] = "indexed"
            else:
                plan.to_embed[job] = (stored, own, wanted)
        # _each calls its action at once, so the lambdas below see this iteration's values.
        for workspace_id, gone in removed.items():
            outcomes.update(
                _each(
                    gone,
                    lambda: self._index.delete(workspace_id, [m for _, m in gone]),  # noqa: B023
                    "removed",
                )
            )
        vectors = self._embed_planned(plan, outcomes)
        indexed = {**plan.upserts, **{job: plan.upserts_of_embedded[job] for job in vectors}}
        failed = _each(list(indexed), lambda: self._upsert_many(indexed.values()), None)
        if failed:
            outcomes.update(failed)
            return outcomes
        for recorded, draft in self._record_vectors(plan, vectors, outcomes):
            # Their events are stored with their vectors; a failed announcement retries the
            # record, which then finds its vector and only indexes (and announces nothing).
            failed = _each(recorded, lambda: self._events.announce(draft), None)  # noqa: B023
            outcomes.update(
                {job: exc for job, exc in failed.items() if outcomes[job] == "embedded"}
            )
        self._mark_ready(plan, outcomes)
        return outcomes

    def sync_stored(self, memories: Sequence[StoredMemory]) -> dict[Job, str | Exception]:
        """sync_many for memories just read from the table (a rebuild's pages)."""
        jobs = [(s.memory.workspace_id, s.memory.memory_id) for s in memories]
        return self.sync_many(jobs, {s.memory.memory_id: s for s in memories})

    def _embed_planned(
        self, plan: _Plan, outcomes: dict[Job, str | Exception]
    ) -> dict[Job, np.ndarray]:
        """Embeds what needs it in one call; each job's document goes to
        `plan.upserts_of_embedded`. A failed call fails those jobs."""
        jobs = list(plan.to_embed)
        if not jobs:
            return {}
        try:
            vectors = self._embedder.embed([plan.to_embed[j][1] for j in jobs]).astype(np.float32)
        except Exception as exc:  # noqa: BLE001 - each job records it, and its record is retried
            outcomes.update(dict.fromkeys(jobs, exc))
            return {}
        for job, vector in zip(jobs, vectors, strict=True):
            stored = plan.to_embed[job][0]
            text = stored.search_text or indexed_text(stored.memory.title, stored.memory.content)
            plan.upserts_of_embedded[job] = (stored, vector, text)
        return dict(zip(jobs, vectors, strict=True))

    def _record_vectors(
        self, plan: _Plan, vectors: dict[Job, np.ndarray], outcomes: dict[Job, str | Exception]
    ) -> list[tuple[list[Job], Draft]]:
        """Records the indexed vectors with their `embedding.ready` events and the status
        `ready` (MemoryRepository.set_embeddings: a transaction per 50, each vector
        conditional). Returns, per workspace, the recorded jobs and the draft of their
        events, to announce."""
        jobs = list(vectors)
        if not jobs:
            return []
        now = iso(self._clock.now())
        drafts, event_of = self._draft_events(jobs)
        writes = [
            EmbeddingWrite(
                plan.to_embed[job][0],
                vectors[job].tobytes(),
                self._embedder.name,
                plan.to_embed[job][2],
                now,
                event_of.get(job),
            )
            for job in jobs
        ]
        recorded: set[Job] = set()
        for job, written in zip(jobs, self._repo.set_embeddings(writes), strict=True):
            if isinstance(written, Exception):
                outcomes[job] = written
            elif not written:
                # The memory changed meanwhile, so the index may hold its old text: retried,
                # the record indexes what the table holds now.
                outcomes[job] = StaleContent(f"memory {job[1]} changed while it was embedded")
            else:
                outcomes[job] = "embedded"
                recorded.add(job)
        return [_recorded(workspace_jobs, draft, recorded) for workspace_jobs, draft in drafts]

    def _mark_ready(self, plan: _Plan, outcomes: dict[Job, str | Exception]) -> None:
        """Memories whose stored vector was only (re-)indexed: `ready` now, if they did not
        say so yet (an index failure, or a text changed and changed back)."""
        for job, (stored, _, _) in plan.upserts.items():
            if not stored.index_pending and stored.memory.embedding_status == "ready":
                continue
            try:
                if not self._repo.mark_indexed(stored):
                    outcomes[job] = StaleContent(f"memory {job[1]} changed while it was indexed")
            except Exception as exc:  # noqa: BLE001 - that record is retried
                outcomes[job] = exc

    def _draft_events(
        self, jobs: list[Job]
    ) -> tuple[list[tuple[list[Job], Draft]], dict[Job, dict[str, Any]]]:
        """One `embedding.ready` draft per workspace, and each job's event item."""
        by_workspace: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_workspace[job[0]].append(job)
        drafts: list[tuple[list[Job], Draft]] = []
        event_of: dict[Job, dict[str, Any]] = {}
        for workspace_id, workspace_jobs in by_workspace.items():
            draft = self._events.draft(
                "embedding.ready",
                workspace_id,
                [
                    {"memory_id": memory_id, "model": self._embedder.name}
                    for _, memory_id in workspace_jobs
                ],
            )
            event_of.update(zip(workspace_jobs, draft.items, strict=False))
            drafts.append((workspace_jobs, draft))
        return drafts, event_of

    def _upsert_many(self, items: Iterable[tuple[StoredMemory, np.ndarray, str]]) -> None:
        docs = [to_document(stored.memory, vector, text) for stored, vector, text in items]
        if docs:
            self._index.ensure_index(self._embedder.dimension)
            self._index.upsert(docs)

    def give_up(self, workspace_id: str, memory_id: str, reason: str) -> None:
        """The last attempt failed: the memory says why, and an event tells subscribers."""
        try:
            stored = self._repo.get_stored(workspace_id, memory_id)
        except NotFound:
            return
        self._repo.set_embedding_failed(memory_id, stored.content_hash, reason)
        self._events.publish(
            "embedding.failed", workspace_id, {"memory_id": memory_id, "error": reason[:500]}
        )
        logger.warning("embedding failed for good", extra={"memory_id": memory_id})


def _recorded(jobs: list[Job], draft: Draft, recorded: set[Job]) -> tuple[list[Job], Draft]:
    """The jobs whose vectors (and so events) were recorded, with their events to announce
    (their items are written already, with the vectors)."""
    keep = [i for i, job in enumerate(jobs) if job in recorded]
    return [jobs[i] for i in keep], Draft([draft.events[i] for i in keep], [], draft.at)


def _vector(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.float32)


def _each(
    jobs: Sequence[Job], step: Callable[[], object], outcome: str | None
) -> dict[Job, str | Exception]:
    """Runs `step` for these jobs together: on success they get `outcome` (None: they keep
    the one they have), on failure each gets the exception."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001
        return dict.fromkeys(jobs, exc)
    return dict.fromkeys(jobs, outcome) if outcome is not None else {}
