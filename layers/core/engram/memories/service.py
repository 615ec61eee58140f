from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from engram.agent_scope import UNBOUND, AgentScope
from engram.clock import Clock, iso, parse_iso
from engram.config import get_settings
from engram.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from engram.event_types import Draft, Publisher
from engram.ids import new_id
from engram.memories.models import (
    Memory,
    MemoryCreate,
    MemoryList,
    MemoryUpdate,
    Source,
    metadata_size,
)
from engram.memories.repository import DedupClaim, DedupTaken, MemoryFilters, MemoryRepository
from engram.observability import logger
from engram.queues import Queues
from engram.sessions.repository import SessionRepository
from engram.text import content_hash, context_of, count_tokens, indexed_text, neighbour_text

# How many memories of the same session and batch, before and after, a memory is
# keyword-indexed with (chosen by leave-one-conversation-out on LoCoMo dev: docs/benchmarks.md).
CONTEXT_BEFORE, CONTEXT_AFTER = 2, 1


def batch_contexts(bodies: Sequence[MemoryCreate]) -> list[str | None]:
    """Each memory's indexing context in a batch a client posts: the contents of the two
    memories before it and the one after it in the batch with the same session (each as
    `neighbour_text`), as a message gets the messages around it. A turn's own words are few ("Wow, great!"); its
    neighbours make it findable (measured on LoCoMo: docs/benchmarks.md, "Retrieval").
    Nothing is read to find them."""
    by_session: dict[str, list[int]] = {}
    for i, body in enumerate(bodies):
        if body.session_id:
            by_session.setdefault(body.session_id, []).append(i)
    contexts: list[str | None] = [None] * len(bodies)
    for members in by_session.values():
        for at, i in enumerate(members):
            near = (
                members[max(0, at - CONTEXT_BEFORE) : at] + members[at + 1 : at + 1 + CONTEXT_AFTER]
            )
            contexts[i] = "\n".join(neighbour_text(bodies[j].content) for j in near) or None
    return contexts


class MemoryService:
    def __init__(
        self,
        repo: MemoryRepository,
        queues: Queues,
        events: Publisher,
        clock: Clock,
        sessions: SessionRepository | None = None,
        scope: AgentScope = UNBOUND,
        sync_now: Callable[[list[tuple[str, str]]], object] | None = None,
    ) -> None:
        """`scope`: a key bound to an agent sees and writes only that agent's memories
        (others are 404, as if they did not exist). `sync_now` embeds
        and indexes (workspace_id, memory_id) jobs in this process: `sync_embedding`."""
        self._repo = repo
        self._sync_now = sync_now
        self._sessions = sessions
        self._scope = scope
        self._queues = queues
        self._events = events
        self._clock = clock

    # create -------------------------------------------------------------------------------

    def create(
        self,
        workspace_id: str,
        bodies: Sequence[MemoryCreate],
        source: Source = "api",
        contexts: Sequence[str | None] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Memory]:
        """Stores every memory or none, then queues their embedding. `contexts` gives each
        memory's indexing context (messages pass the message before them; a client's batch
        gets `batch_contexts`). A body whose
        `dedup_key` a live memory of the workspace holds updates that memory instead; the
        new memories are written first, so a failed write changes nothing."""
        dedups = [b.dedup_key for b in bodies if b.dedup_key]
        repeated = next((d for i, d in enumerate(dedups) if d in dedups[:i]), None)
        if repeated is not None:
            raise ValidationFailed(f"dedup_key {repeated!r} appears more than once in the batch.")
        if contexts is None:
            contexts = batch_contexts(bodies) if source == "api" else [None] * len(bodies)
        ids = ids or [new_id("mem") for _ in bodies]
        for _ in range(5):  # a key claimed meanwhile by another write: read the claims again
            try:
                memories = self._create_or_update(
                    workspace_id, bodies, source, contexts, ids, dedups
                )
                break
            except DedupTaken:
                continue
        else:
            raise Conflict("The dedup_key is being written by other requests; please retry.")
        wanted = [m for m, b in zip(memories, bodies, strict=True) if b.sync_embedding]
        return self._embedded_now(workspace_id, memories, wanted) if wanted else memories

    def _embedded_now(
        self, workspace_id: str, memories: list[Memory], wanted: list[Memory]
    ) -> list[Memory]:
        """`sync_embedding`: embeds and indexes these memories before the answer (their queued
        jobs then find nothing to do). If that fails they stay pending and the queue catches
        up; the answer shows each memory's status as stored."""
        if self._sync_now is None:
            raise ServiceUnavailable("sync_embedding is not available here; omit it and retry.")
        try:
            self._sync_now([(workspace_id, m.memory_id) for m in wanted])
        except Exception:  # noqa: BLE001
            logger.exception("sync_embedding failed; the embed queue will catch up")
        stored = self._repo.get_stored_many([m.memory_id for m in wanted])  # consistent reads
        return [stored[m.memory_id].memory if m.memory_id in stored else m for m in memories]

    def _create_or_update(
        self,
        workspace_id: str,
        bodies: Sequence[MemoryCreate],
        source: Source,
        contexts: Sequence[str | None],
        ids: Sequence[str],
        dedups: list[str],
    ) -> list[Memory]:
        holders = self._repo.dedup_holders(workspace_id, dedups) if dedups else {}
        targets: dict[int, Memory] = {}  # position → the live memory this body updates
        claims: list[DedupClaim] = []
        for position, (body, memory_id) in enumerate(zip(bodies, ids, strict=True)):
            held_by = holders.get(body.dedup_key) if body.dedup_key else None
            target = self._live(workspace_id, held_by) if held_by else None
            if target is not None:
                if not self._scope.owns(target):
                    raise Conflict(
                        f"dedup_key {body.dedup_key!r} is held by a memory this key cannot change."
                    )
                targets[position] = target
            elif body.dedup_key:
                claims.append(DedupClaim(workspace_id, body.dedup_key, memory_id, held_by))
        fresh = [i for i in range(len(bodies)) if i not in targets]
        created = self._insert(
            workspace_id,
            [bodies[i] for i in fresh],
            source,
            [contexts[i] for i in fresh],
            [ids[i] for i in fresh],
            claims,
        )
        answers: dict[int, Memory] = dict(zip(fresh, created, strict=True))
        for position, target in targets.items():
            answers[position] = self.update(
                workspace_id, target.memory_id, _as_update(bodies[position])
            )
        return [answers[i] for i in range(len(bodies))]

    def _live(self, workspace_id: str, memory_id: str) -> Memory | None:
        try:
            return self._repo.get(workspace_id, memory_id)
        except NotFound:
            return None

    def _insert(
        self,
        workspace_id: str,
        bodies: Sequence[MemoryCreate],
        source: Source,
        contexts: Sequence[str | None],
        ids: Sequence[str],
        claims: Sequence[DedupClaim],
    ) -> list[Memory]:
        if not bodies:
            return []
        now = iso(self._clock.now())
        rows = []
        for body, context, memory_id in zip(bodies, contexts, ids, strict=True):
            fields = body.model_dump(exclude={"sync_embedding"})
            fields["agent_id"] = self._scope.check(body.agent_id)
            memory = Memory(
                **fields,
                memory_id=memory_id,
                workspace_id=workspace_id,
                source=source,
                token_count=count_tokens(body.content),
                created_at=now,
            )
            text = indexed_text(memory.title, memory.content, context)
            rows.append((memory, content_hash(text), text))
        memories = [m for m, _, _ in rows]
        # The memory.stored events are written with the memories (one transaction when it fits).
        stored = self._events.draft(
            "memory.stored", workspace_id, [_event_data(m) for m in memories]
        )
        self._repo.add_many(rows, stored.items, claims)
        self._enqueue_or_undo(workspace_id, memories, stored)
        self._events.announce(stored)
        return memories

    def _enqueue_or_undo(self, workspace_id: str, memories: list[Memory], stored: Draft) -> None:
        """A write is acknowledged only once its embed job is queued; if queueing fails the
        memories (and their events) are removed again, so the client can retry without
        duplicates."""
        try:
            self._queues.send_many(
                "embed", [_sync_job(workspace_id, m.memory_id) for m in memories]
            )
        except Exception as exc:
            logger.exception("embed enqueue failed; undoing the write")
            for memory in memories:
                self._repo.hard_delete(workspace_id, memory.memory_id)
            self._repo.remove_also(stored.items)
            raise ServiceUnavailable(
                "The embedding queue is unavailable; nothing was stored. Please retry."
            ) from exc

    def enqueue_sync(self, workspace_id: str, memory_id: str) -> None:
        """Asks the embed worker to bring the index in line with the table for one memory."""
        self._queues.send("embed", _sync_job(workspace_id, memory_id))

    # read ---------------------------------------------------------------------------------

    def get(self, workspace_id: str, memory_id: str, include_deleted: bool = False) -> Memory:
        return self._owned(self._repo.get(workspace_id, memory_id, include_deleted))

    def _owned(self, memory: Memory) -> Memory:
        if not self._scope.owns(memory):
            raise NotFound(f"Memory {memory.memory_id} was not found.")
        return memory

    def list(
        self,
        workspace_id: str,
        filters: MemoryFilters,
        limit: int,
        cursor: str | None,
        offset: int = 0,
    ) -> MemoryList:
        filters = self._scope.narrow(filters)
        if filters.since and filters.until and filters.since > filters.until:
            # an inverted range holds nothing (as search's, export's and diff's)
            return MemoryList(data=[], next_cursor=None, has_more=False, count=None)
        page = self._repo.list(workspace_id, filters, limit, cursor, offset)
        return MemoryList(
            data=page.items,
            next_cursor=page.next_cursor,
            has_more=page.next_cursor is not None,
            count=self._repo.count(workspace_id) if filters.is_empty() else None,
        )

    # change -------------------------------------------------------------------------------

    def update(self, workspace_id: str, memory_id: str, body: MemoryUpdate) -> Memory:
        given = body.model_dump(exclude_unset=True)
        given = {k: v for k, v in given.items() if v is not None or k == "title"}
        if not given:
            return self.get(workspace_id, memory_id)
        stored = self._repo.get_stored(workspace_id, memory_id, include_deleted=False)
        current = self._owned(stored.memory)
        changes: dict[str, Any] = dict(given)
        if "metadata" in given:
            changes["metadata"] = {**current.metadata, **given["metadata"]}
            self._check_metadata(changes["metadata"])
        now = iso(self._clock.now())
        changes["updated_at"] = now
        updated = current.model_copy(update=changes)
        # The neighbours it was keyword-indexed with stay in its key (only its own text changed).
        context = context_of(stored.search_text, current.title, current.content)
        text = indexed_text(updated.title, updated.content, context)
        if "content" in given or "title" in given:
            changes["token_count"] = count_tokens(updated.content)
            changes["search_text"] = text
            changes["content_hash"] = content_hash(text)
            if changes["content_hash"] != stored.content_hash:
                changes.update(embedding_status="pending", embedding_error=None)
        memory = self._repo.update(workspace_id, memory_id, changes)
        self.enqueue_sync(workspace_id, memory_id)  # index filters (tags, metadata) follow too
        self._events.publish(
            "memory.updated", workspace_id, {**_event_data(memory), "changed": sorted(given)}
        )
        return memory

    def soft_delete(self, workspace_id: str, memory_id: str) -> Memory:
        self.get(workspace_id, memory_id)  # an agent never changes, so checking first is safe
        now = self._clock.now()
        until = now + timedelta(days=get_settings().soft_delete_days)
        memory = self._repo.soft_delete(
            workspace_id, memory_id, iso(now), iso(until), int(until.timestamp())
        )
        self.enqueue_sync(workspace_id, memory_id)
        self._events.publish("memory.deleted", workspace_id, {**_event_data(memory), "soft": True})
        return memory

    def restore(self, workspace_id: str, memory_id: str) -> Memory:
        self.get(workspace_id, memory_id, include_deleted=True)
        memory = self._repo.restore(workspace_id, memory_id, iso(self._clock.now()))
        self.enqueue_sync(workspace_id, memory_id)
        self._events.publish(
            "memory.updated", workspace_id, {**_event_data(memory), "changed": ["restored"]}
        )
        return memory

    def hard_delete(self, workspace_id: str, memory_id: str) -> None:
        self.get(workspace_id, memory_id, include_deleted=True)
        memory = self._repo.hard_delete(workspace_id, memory_id)
        self.enqueue_sync(workspace_id, memory_id)
        self._events.publish("memory.deleted", workspace_id, {**_event_data(memory), "soft": False})

    def forget_session(self, workspace_id: str, session_id: str) -> int:
        """Soft-deletes every live memory of the session; answers how many."""
        if self._sessions is not None:
            session = self._sessions.get(workspace_id, session_id)  # 404 unless it is ours
            if not self._scope.owns(session):
                raise NotFound(f"Session {session_id} was not found.")
        memories = self._repo.session_memories(
            workspace_id, session_id, agent_id=self._scope.agent_id
        )
        for memory in memories:
            self.soft_delete(workspace_id, memory.memory_id)
        return len(memories)

    def diff(
        self, workspace_id: str, from_time: str, to_time: str, session_id: str | None, limit: int
    ) -> dict[str, Any]:
        added, updated, deleted = [], [], []
        changed = []  # an inverted period holds no change
        if parse_iso(from_time) <= parse_iso(to_time):
            changed = self._repo.changes(
                workspace_id, from_time, to_time, limit, session_id, self._scope.agent_id
            )
        for memory in changed:
            if memory.deleted_at:
                deleted.append(memory)
            elif memory.created_at >= from_time:
                added.append(memory)  # new to the caller, even if also edited in the period
            else:
                updated.append(memory)
        return {
            "added": added,
            "updated": updated,
            "deleted": deleted,
            "period": {"from_time": from_time, "to_time": to_time},
            "count": len(added) + len(updated) + len(deleted),
        }

    @staticmethod
    def _check_metadata(metadata: dict[str, Any]) -> None:
        limit = get_settings().max_metadata_bytes
        size = metadata_size(metadata)
        if size > limit:
            raise ValidationFailed(
                f"The merged metadata is {size} bytes as JSON; the limit is {limit}."
            )


# What a second write with the same dedup_key changes: the memory's content and description,
# not its place (session, user, agent) or its id.
_DEDUP_UPDATES = tuple(
    name for name in MemoryUpdate.model_fields if name in MemoryCreate.model_fields
)


def _as_update(body: MemoryCreate) -> MemoryUpdate:
    given = body.model_dump(include=set(_DEDUP_UPDATES), exclude_unset=True)
    given["content"] = body.content
    return MemoryUpdate(**given)


def _event_data(memory: Memory) -> dict[str, Any]:
    return {
        "memory_id": memory.memory_id,
        "memory_type": memory.memory_type,
        "session_id": memory.session_id,
        "source": memory.source,
    }


def _sync_job(workspace_id: str, memory_id: str) -> dict[str, str]:
    return {"kind": "memory.sync", "workspace_id": workspace_id, "memory_id": memory_id}
