"""The scheduled maintenance jobs: re-queue stuck embeds, purge expired soft deletes (memories
and sessions), rebuild the index. None of it relies on DynamoDB's TTL (moto does not enforce it, and on
AWS it may lag by days): the sparse GSI4 says what is due."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from engram import keys
from engram.clock import Clock, iso
from engram.config import get_settings
from engram.memories.repository import MemoryRepository, StoredMemory
from engram.observability import logger
from engram.sessions.repository import SessionRepository

BATCH = 500  # one run's bound; the next run picks up the rest
REINDEX_BATCH = 500  # memories per sync_many call (one bulk request) when rebuilding

SyncStored = Callable[[Sequence[StoredMemory]], Mapping[tuple[str, str], object]]


@dataclass(frozen=True)
class MaintenanceReport:
    requeued: int = 0
    purged: int = 0
    reindexed: int = 0
    purged_sessions: int = 0
    healed: int = 0  # memories re-indexed because their workspace's index count fell short


class Maintenance:
    def __init__(
        self,
        repo: MemoryRepository,
        enqueue_sync: Callable[[str, str], None],
        clock: Clock,
        sessions: SessionRepository | None = None,
    ) -> None:
        self._repo = repo
        self._sessions = sessions
        self._enqueue_sync = enqueue_sync
        self._clock = clock

    def run(self) -> MaintenanceReport:
        report = MaintenanceReport(
            requeued=self.requeue_pending(),
            purged=self.purge_expired(),
            purged_sessions=self.purge_expired_sessions(),
        )
        logger.info(
            "maintenance done",
            extra={
                "requeued": report.requeued,
                "purged": report.purged,
                "purged_sessions": report.purged_sessions,
            },
        )
        return report

    def requeue_pending(self) -> int:
        age = timedelta(minutes=get_settings().pending_reembed_minutes)
        cutoff = iso(self._clock.now() - age)
        due = self._repo.maintenance_ids(keys.MAINT_PENDING, cutoff, BATCH)
        for workspace_id, memory_id in due:
            self._enqueue_sync(workspace_id, memory_id)
        return len(due)

    def purge_expired(self) -> int:
        now = iso(self._clock.now())
        purged = 0
        for workspace_id, memory_id in self._repo.maintenance_ids(keys.MAINT_PURGE, now, BATCH):
            if self._repo.purge(workspace_id, memory_id, now):
                self._enqueue_sync(workspace_id, memory_id)  # the worker drops it from the index
                purged += 1
        return purged

    def purge_expired_sessions(self) -> int:
        """Soft-deleted sessions past their window go for good, with their checkpoints."""
        if self._sessions is None:
            return 0
        now = iso(self._clock.now())
        due = self._repo.maintenance_ids(keys.MAINT_PURGE_SESSIONS, now, BATCH)
        return sum(self._sessions.purge(ws, session_id, now) for ws, session_id in due)

    def reindex(
        self,
        sync_stored: SyncStored,
        workspace_id: str | None = None,
        progress: Callable[[int], None] | None = None,
        pages: Iterable[Sequence[StoredMemory]] | None = None,
    ) -> int:
        """Rebuilds index documents from the table, a page of memories at a time as read
        (with their vectors: only changed text is embedded again), at most REINDEX_BATCH per
        IndexSync.sync_stored call: one bulk index request and at most one embedding call
        each. Raises the first failure after its batch. `pages`: memories read otherwise
        (the local stack's start reads its emulator directly), instead of the table's."""
        done = 0
        for page in self._repo.stored_pages(workspace_id) if pages is None else pages:
            for start in range(0, len(page), REINDEX_BATCH):
                batch = page[start : start + REINDEX_BATCH]
                failures = [o for o in sync_stored(batch).values() if isinstance(o, Exception)]
                if failures:
                    raise failures[0]
                for _ in batch:
                    done += 1
                    if progress:
                        progress(done)
        return done

    def heal_index(
        self, workspaces: Iterable[str], index_count: Callable[[str], int], sync_stored: SyncStored
    ) -> int:
        """A lost or partly lost index heals from the table: a workspace whose index holds
        fewer documents than it has live memories is re-indexed (vectors reused)."""
        healed = 0
        for workspace_id in workspaces:
            if index_count(workspace_id) < self._repo.count(workspace_id):
                healed += self.reindex(sync_stored, workspace_id)
        return healed
