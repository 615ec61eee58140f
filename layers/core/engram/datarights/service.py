from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from datetime import timedelta

from engram.clock import Clock, iso
from engram.config import get_settings
from engram.datarights.models import (
    MEDIA_TYPES,
    Export,
    ExportFilters,
    ExportFormat,
    ForgottenUser,
    RestoredUser,
)
from engram.datarights.store import ExportStore
from engram.errors import Conflict, NotFound
from engram.ids import new_id
from engram.memories.models import Memory
from engram.memories.repository import MemoryFilters, MemoryRepository
from engram.memories.service import MemoryService
from engram.sessions.models import SessionFilters
from engram.sessions.repository import SessionRepository

PAGE = 100
CSV_FIELDS = list(Memory.model_fields)


class DataRightsService:
    def __init__(
        self,
        memories: MemoryService,
        memory_repo: MemoryRepository,
        sessions: SessionRepository,
        clock: Clock,
        store: ExportStore | None,
    ) -> None:
        self._memories = memories
        self._memory_repo = memory_repo
        self._sessions = sessions
        self._clock = clock
        self._store = store

    def forget_user(self, workspace_id: str, user_id: str) -> ForgottenUser:
        """Soft-deletes (restorably) the user's memories, every memory of their sessions and
        the sessions themselves, all with the same restore window."""
        forgotten = 0
        for memory in self._user_memories(workspace_id, user_id):
            self._memories.soft_delete(workspace_id, memory.memory_id)
            forgotten += 1
        now = self._clock.now()
        until = iso(now + timedelta(days=get_settings().soft_delete_days))
        sessions = sum(
            self._sessions.soft_delete(workspace_id, session_id, iso(now), until)
            for session_id in list(self._user_sessions(workspace_id, user_id))
        )
        return ForgottenUser(user_id=user_id, forgotten=forgotten, sessions=sessions)

    def restore_user(self, workspace_id: str, user_id: str) -> RestoredUser:
        """The way back from `forget_user`: the user's soft-deleted sessions, then their
        memories and the memories of their sessions, whatever is still inside its window."""
        now = iso(self._clock.now())
        sessions = sum(
            self._sessions.restore(workspace_id, session_id, now)
            for session_id in list(self._user_sessions(workspace_id, user_id, deleted=True))
        )
        restored = 0
        for memory in self._user_memories(workspace_id, user_id, include_deleted=True):
            if memory.deleted_at and (memory.restorable_until or "") > now:
                try:
                    self._memories.restore(workspace_id, memory.memory_id)
                except (Conflict, NotFound):  # restored, purged or expired meanwhile
                    continue
                restored += 1
        return RestoredUser(user_id=user_id, restored=restored, sessions=sessions)

    def export(self, workspace_id: str, filters: ExportFilters, fmt: ExportFormat) -> Export:
        chunks = self._encoded(self.export_memories(workspace_id, filters), fmt)
        if self._store is None:
            return Export(MEDIA_TYPES[fmt], chunks=chunks)
        return self._spooled(self._store, workspace_id, chunks, fmt)

    def export_memories(self, workspace_id: str, filters: ExportFilters) -> Iterator[Memory]:
        """Newest first, one page in memory at a time; an inverted range holds nothing."""
        if filters.from_date and filters.to_date and filters.from_date > filters.to_date:
            return
        base = MemoryFilters(session_id=filters.session_id, include_deleted=filters.include_deleted)
        for memory in self._pages(workspace_id, base):
            if filters.to_date and memory.created_at > filters.to_date:
                continue
            if filters.from_date and memory.created_at < filters.from_date:
                return
            yield memory

    def _spooled(
        self, store: ExportStore, workspace_id: str, chunks: Iterator[bytes], fmt: ExportFormat
    ) -> Export:
        """Small exports answer inline; larger ones (a Lambda answer holds 6 MB) go to S3 via
        a temporary file that spills to disk, never whole in memory."""
        settings = get_settings()
        with tempfile.SpooledTemporaryFile(max_size=settings.export_inline_max_bytes) as spool:
            size = sum(spool.write(chunk) for chunk in chunks)
            spool.seek(0)
            if size <= settings.export_inline_max_bytes:
                return Export(MEDIA_TYPES[fmt], chunks=[spool.read()], size=size)
            key = f"exports/{workspace_id}/{new_id('exp')}.{fmt}"
            url = store.put(
                spool,
                key,
                MEDIA_TYPES[fmt],
                f"engram-export.{fmt}",
                settings.export_url_ttl_seconds,
            )
        expires = self._clock.now() + timedelta(seconds=settings.export_url_ttl_seconds)
        return Export(MEDIA_TYPES[fmt], url=url, expires_at=iso(expires), size=size)

    def _pages(self, workspace_id: str, filters: MemoryFilters) -> Iterator[Memory]:
        cursor = None
        while True:
            page = self._memory_repo.list(workspace_id, filters, PAGE, cursor)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def _user_memories(
        self, workspace_id: str, user_id: str, include_deleted: bool = False
    ) -> Iterator[Memory]:
        """The user's memories, then those of their live sessions (one page at a time)."""
        filters = MemoryFilters(user_id=user_id, include_deleted=include_deleted)
        yield from self._pages(workspace_id, filters)
        for session_id in list(self._user_sessions(workspace_id, user_id)):
            yield from self._memory_repo.session_memories(
                workspace_id, session_id, include_deleted=include_deleted
            )

    def _user_sessions(
        self, workspace_id: str, user_id: str, deleted: bool = False
    ) -> Iterator[str]:
        """The user's live sessions, or with `deleted` their soft-deleted ones."""
        cursor = None
        while True:
            page = self._sessions.list(
                workspace_id, SessionFilters(user_id=user_id), PAGE, cursor, deleted=deleted
            )
            yield from (s.session_id for s in page.items)
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    @staticmethod
    def _encoded(memories: Iterator[Memory], fmt: ExportFormat) -> Iterator[bytes]:
        return _json_chunks(memories) if fmt == "json" else _csv_chunks(memories)


def _json_chunks(memories: Iterator[Memory]) -> Iterator[bytes]:
    yield b"["
    for index, memory in enumerate(memories):
        yield (b"," if index else b"") + memory.model_dump_json().encode()
    yield b"]"


def _csv_chunks(memories: Iterator[Memory]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for memory in memories:
        row = memory.model_dump(mode="json")
        writer.writerow(
            [json.dumps(row[f]) if isinstance(row[f], list | dict) else row[f] for f in CSV_FIELDS]
        )
        if buffer.tell() > 64_000:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
