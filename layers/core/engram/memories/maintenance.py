"""The scheduled maintenance jobs: re-queue stuck embeds, purge expired soft deletes,
rebuild the index. None of it relies on DynamoDB's TTL (moto does not enforce it, and on
AWS it may lag by days): the sparse GSI4 says what is due."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from engram import keys
from engram.clock import Clock, iso
from engram.config import get_settings
from engram.memories.repository import MemoryRepository
from engram.observability import logger

BATCH = 500  # one run's bound; the next run picks up the rest


@dataclass(frozen=True)
class MaintenanceReport:
    requeued: int = 0
    purged: int = 0
    reindexed: int = 0


class Maintenance:
    def __init__(self, repo: MemoryRepository, enqueue_sync: Callable[[str, str], None],
                 clock: Clock) -> None:
        self._repo = repo
        self._enqueue_sync = enqueue_sync
        self._clock = clock

    def run(self) -> MaintenanceReport:
        report = MaintenanceReport(requeued=self.requeue_pending(), purged=self.purge_expired())
        logger.info("maintenance done", extra={"requeued": report.requeued, "purged": report.purged})
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

    def reindex(self, sync: Callable[[str, str], object], workspace_id: str | None = None,
                progress: Callable[[int], None] | None = None) -> int:
        """Rebuilds index documents from the table (stored vectors are reused; only changed
        text is embedded again). `sync` is IndexSync.sync or a queueing stand-in."""
        done = 0
        for ws, memory_id in self._repo.all_memory_ids(workspace_id):
            sync(ws, memory_id)
            done += 1
            if progress:
                progress(done)
        return done
