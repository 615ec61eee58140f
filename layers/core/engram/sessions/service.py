from __future__ import annotations

from engram.agent_scope import UNBOUND, AgentScope
from engram.clock import Clock, iso
from engram.errors import NotFound
from engram.event_types import Publisher
from engram.ids import new_id
from engram.queues import Queues
from engram.sessions.messages import ConversationService, MessageIn
from engram.sessions.models import (
    OPEN_STATUSES,
    Session,
    SessionCreate,
    SessionEnd,
    SessionFilters,
    SessionList,
    SessionUpdate,
    sources_for,
)
from engram.sessions.repository import SessionRepository


class SessionService:
    def __init__(
        self,
        repo: SessionRepository,
        queues: Queues,
        events: Publisher,
        clock: Clock,
        conversation: ConversationService | None = None,
        scope: AgentScope = UNBOUND,
    ) -> None:
        self._repo = repo
        self._scope = scope
        self._conversation = conversation
        self._queues = queues
        self._events = events
        self._clock = clock

    def create(self, workspace_id: str, body: SessionCreate) -> Session:
        now = iso(self._clock.now())
        fields = body.model_dump(exclude={"prompt", "session_id"})
        fields["agent_id"] = self._scope.check(body.agent_id)
        session = Session(
            **fields,
            session_id=body.session_id or new_id("sess"),
            workspace_id=workspace_id,
            is_active=True,
            started_at=now,
            last_active_at=now,
            created_at=now,
        )
        self._repo.create(session)
        if body.prompt and self._conversation:
            session = self._first_message(
                self._conversation, workspace_id, session.session_id, body.prompt
            )
        self._events.publish("session.created", workspace_id, _event_data(session))
        return session

    def _first_message(
        self, conversation: ConversationService, workspace_id: str, session_id: str, prompt: str
    ) -> Session:
        """The prompt becomes message one; if it cannot be stored the session goes too, so
        the client can retry without a session missing its prompt."""
        try:
            conversation.add_messages(
                workspace_id, session_id, [MessageIn(role="user", content=prompt)]
            )
        except Exception:
            self._repo.delete(workspace_id, session_id)
            raise
        return self._repo.get(workspace_id, session_id)

    def get(self, workspace_id: str, session_id: str) -> Session:
        session = self._repo.get(workspace_id, session_id)
        if not self._scope.owns(session):  # as if it did not exist
            raise NotFound(f"Session {session_id} was not found.")
        return session

    def list(
        self,
        workspace_id: str,
        filters: SessionFilters,
        limit: int,
        cursor: str | None,
        offset: int = 0,
    ) -> SessionList:
        filters = self._scope.narrow(filters)
        page = self._repo.list(workspace_id, filters, limit, cursor, offset=offset)
        return SessionList(
            data=page.items,
            next_cursor=page.next_cursor,
            has_more=page.next_cursor is not None,
            count=self._repo.count(workspace_id, filters),
        )

    def update(self, workspace_id: str, session_id: str, body: SessionUpdate) -> Session:
        if self._scope.bound:  # a session's agent never changes, so checking first is race-free
            self.get(workspace_id, session_id)
        # null clears a text field but means "leave as is" for metadata and status.
        changes = {
            k: v
            for k, v in body.model_dump(exclude_unset=True).items()
            if v is not None or k not in ("metadata", "status")
        }
        for name in ("project_name", "branch_name"):  # these are "" when empty, never null
            if name in changes and changes[name] is None:
                changes[name] = ""
        if not changes:
            return self._repo.get(workspace_id, session_id)
        changes["updated_at"] = iso(self._clock.now())
        allowed_from = None
        if "status" in changes:
            changes["is_active"] = changes["status"] in OPEN_STATUSES
            allowed_from = sources_for(changes["status"])
            if not changes["is_active"]:
                changes.setdefault("ended_at", changes["updated_at"])
        return self._repo.update(workspace_id, session_id, changes, allowed_from)

    def delete(self, workspace_id: str, session_id: str) -> None:
        if self._scope.bound:
            self.get(workspace_id, session_id)
        if self._conversation:  # API.md: its memories are soft-deleted (restorable)
            self._conversation.forget_memories(workspace_id, session_id)
        self._repo.delete(workspace_id, session_id)

    def end(self, workspace_id: str, session_id: str, body: SessionEnd) -> Session:
        """Closes the session and queues its extraction job; the job itself runs later."""
        if self._scope.bound:
            self.get(workspace_id, session_id)
        now = iso(self._clock.now())
        changes = {
            "status": body.status,
            "is_active": False,
            "ended_at": now,
            "updated_at": now,
            "last_active_at": now,
            "summary_status": "pending",
        }
        if body.summary is not None:
            changes["summary"] = body.summary
        session = self._repo.update(workspace_id, session_id, changes, list(OPEN_STATUSES))
        self._queues.send(
            "extract",
            {
                "kind": "session.extract",
                "workspace_id": workspace_id,
                "session_id": session_id,
                "ended_at": now,
            },
        )
        self._events.publish("session.ended", workspace_id, _event_data(session))
        return session


def _event_data(session: Session) -> dict:
    return {
        "session_id": session.session_id,
        "status": session.status,
        "agent_id": session.agent_id,
        "project_name": session.project_name,
    }
