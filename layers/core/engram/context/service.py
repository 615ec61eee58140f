"""Builds the context block. Deterministic: the same stored data gives byte-identical
output (prompt caches depend on it), so every ordering has a total tiebreak."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from engram.agent_scope import UNBOUND, AgentScope
from engram.clock import Clock, iso
from engram.context.models import (
    ContextBody,
    ContextMemory,
    ContextRequest,
    ContextResponse,
    ContextSession,
    RecentSession,
    parse_moment,
)
from engram.errors import NotFound
from engram.memories.models import DISTILLED_TYPES, Memory
from engram.memories.repository import MemoryFilters, MemoryRepository
from engram.sessions.models import Session, SessionFilters
from engram.sessions.repository import SessionRepository
from engram.workspaces.repository import WorkspaceRepository

HEADINGS = (
    ("episodic", "Recent Actions"),
    ("decision", "Decisions"),
    ("preference", "Preferences"),
    ("pattern", "Patterns"),
    ("fact", "Facts"),
    ("entity", "Entities"),
)
SCAN_LIMIT = 500  # newest memories considered for ranking; bounds the work per request
PROJECT_SESSIONS = 20


class _Search(Protocol):
    def ranked_ids(
        self, workspace_id: str, query: str, limit: int, memory_types: list[str] | None = None
    ) -> list[str]:
        """Memory ids, best first, of the caller's agent scope and these types."""
        ...


@dataclass(frozen=True)
class _Parts:
    recent: list[Memory]
    relevant: list[Memory]
    sessions: list[Session]
    workspace_summary: str


class ContextService:
    def __init__(
        self,
        sessions: SessionRepository,
        memories: MemoryRepository,
        workspaces: WorkspaceRepository,
        search: _Search,
        count_tokens: Callable[[str], int],
        clock: Clock,
        scope: AgentScope = UNBOUND,
    ) -> None:
        # An agent-bound key sees only its agent's sessions and memories; the scope is in
        # every query (and in the search, which is narrowed by the same scope).
        self._scope = scope
        self._sessions = sessions
        self._memories = memories
        self._workspaces = workspaces
        self._search = search
        self._count_tokens = count_tokens
        self._clock = clock

    def build(self, workspace_id: str, session_id: str, request: ContextRequest) -> ContextResponse:
        session = self._sessions.get(workspace_id, session_id)
        if not self._scope.owns(session):
            raise NotFound(f"Session {session_id} was not found.")
        parts = _Parts(
            recent=self._recent(workspace_id, session, request),
            relevant=self._relevant(workspace_id, request),
            sessions=self._recent_sessions(workspace_id, session, request.recent_sessions),
            workspace_summary=self._workspaces.summary(workspace_id),
        )
        if request.max_tokens:
            parts = self._fit(session, parts, request.max_tokens)
        markdown = render_markdown(session, parts)
        return ContextResponse(
            session=ContextSession(**session.model_dump(include=set(ContextSession.model_fields))),
            context=ContextBody(
                recent_memories=[_item(m) for m in parts.recent],
                relevant_memories=[_item(m) for m in parts.relevant],
                recent_sessions=[_recent_session(s) for s in parts.sessions],
                workspace_summary=parts.workspace_summary,
            ),
            markdown=markdown,
            memory_count=len({m.memory_id for m in parts.recent + parts.relevant}),
            token_estimate=self._count_tokens(markdown),
        )

    # parts --------------------------------------------------------------------------------

    def _types(self, request: ContextRequest) -> set[str]:
        types = set(request.include_types or DISTILLED_TYPES)
        if request.scope == "session" and not request.include_types:
            types.add("episodic")
        return types - set(request.exclude_types or ())

    def _recent(self, workspace_id: str, session: Session, request: ContextRequest) -> list[Memory]:
        types = self._types(request)
        now = self._clock.now()
        since = iso(parse_moment(request.since, now, "since")) if request.since else ""
        until = iso(parse_moment(request.until, now, "until")) if request.until else "\uffff"
        pool = [
            m
            for m in self._scoped(workspace_id, session, request.scope, types)
            if m.memory_type in types and since <= m.created_at <= until
        ]
        newest_first = request.order == "desc"
        pool.sort(key=lambda m: (m.created_at, m.memory_id), reverse=newest_first)
        pool.sort(key=lambda m: -m.importance_score)  # stable: importance, then time
        return pool[: request.max_memories]

    def _scoped(
        self, workspace_id: str, session: Session, scope: str, types: set[str]
    ) -> list[Memory]:
        agent_id = self._scope.agent_id
        if scope == "session":
            return self._memories.session_memories(
                workspace_id,
                session.session_id,
                oldest_first=False,
                limit=SCAN_LIMIT,
                agent_id=agent_id,
            )
        if scope == "project":
            project = self._scope.narrow(SessionFilters(project_name=session.project_name))
            sessions = self._sessions.list(workspace_id, project, PROJECT_SESSIONS, None).items
            found: list[Memory] = []
            for other in sessions:
                found += self._memories.session_memories(
                    workspace_id,
                    other.session_id,
                    oldest_first=False,
                    limit=SCAN_LIMIT,
                    agent_id=agent_id,
                )
            return found
        # The types are filtered in the query, so the newest SCAN_LIMIT are all candidates
        # (a workspace's many episodes do not crowd out an older important decision).
        filters = self._scope.narrow(MemoryFilters(memory_types=tuple(sorted(types))))
        return self._memories.list(workspace_id, filters, SCAN_LIMIT, None).items

    def _relevant(self, workspace_id: str, request: ContextRequest) -> list[Memory]:
        if not request.query or not request.query.strip():
            return []
        # The search is narrowed to the caller's agent and to include_types in the index,
        # before its limit; without include_types any type may answer the query (types are
        # open), less exclude_types.
        types = sorted(self._types(request)) if request.include_types else None
        if types == []:
            return []  # every included type is also excluded
        ids = self._search.ranked_ids(workspace_id, request.query, request.max_memories, types)
        found = self._memories.get_many(workspace_id, ids)
        excluded = set(request.exclude_types or ())
        return [
            found[i]
            for i in ids
            if i in found and self._scope.owns(found[i]) and found[i].memory_type not in excluded
        ]

    def _recent_sessions(self, workspace_id: str, current: Session, count: int) -> list[Session]:
        if count == 0:
            return []
        filters = self._scope.narrow(SessionFilters(active=False))
        page = self._sessions.list(workspace_id, filters, min(count + 1, 100), None)
        ended = [s for s in page.items if s.session_id != current.session_id and s.summary]
        return ended[:count]

    # budget -------------------------------------------------------------------------------

    def _fit(self, session: Session, parts: _Parts, max_tokens: int) -> _Parts:
        """Keeps the best whole items that fit, best first: the memories that answer the
        caller's query, the recent memories by rank, the workspace summary, then ended
        sessions newest first. An item that does not fit is skipped and the next (maybe
        smaller) one tried, so an item is dropped only when it alone does not fit beside
        the better ones, and the block is never empty when one item fits."""
        kept = _Parts([], [], [], "")
        for add in _candidates(parts):
            trial = add(kept)
            if self._count_tokens(render_markdown(session, trial)) <= max_tokens:
                kept = trial
        return kept


def _candidates(parts: _Parts) -> list[Callable[[_Parts], _Parts]]:
    """One function per item, in the order the budget takes them, each adding it to a
    `_Parts` (appending keeps every group in its rank order)."""

    def relevant(m: Memory) -> Callable[[_Parts], _Parts]:
        return lambda p: replace(p, relevant=[*p.relevant, m])

    def recent(m: Memory) -> Callable[[_Parts], _Parts]:
        return lambda p: replace(p, recent=[*p.recent, m])

    def ended(s: Session) -> Callable[[_Parts], _Parts]:
        return lambda p: replace(p, sessions=[*p.sessions, s])

    summary = parts.workspace_summary
    return [
        *map(relevant, parts.relevant),
        *map(recent, parts.recent),
        *([lambda p: replace(p, workspace_summary=summary)] if summary else []),
        *map(ended, parts.sessions),
    ]


def _item(memory: Memory) -> ContextMemory:
    return ContextMemory(
        memory_id=memory.memory_id,
        title=memory.title,
        memory_type=memory.memory_type,
        importance_score=memory.importance_score,
        narrative=memory.content,
        created_at=memory.created_at,
    )


def _recent_session(session: Session) -> RecentSession:
    return RecentSession(
        session_id=session.session_id, summary=session.summary, ended_at=session.ended_at
    )


def _line(memory: Memory) -> str:
    text = " ".join(memory.content.split())
    title = (memory.title or "").strip().rstrip(".")
    if not title or text.lower().startswith(title.lower()):  # a title that repeats the text
        return f"- {text}"
    return f"- **{title}**: {text}"


def render_markdown(session: Session, parts: _Parts) -> str:
    lines = [f"## Session Context ({session.session_id})", ""]
    where = [
        f"Project: {session.project_name}" if session.project_name else "",
        f"Branch: {session.branch_name}" if session.branch_name else "",
    ]
    if any(where):
        lines += [" | ".join(w for w in where if w), ""]
    if parts.workspace_summary:
        lines += ["### Workspace Summary", parts.workspace_summary, ""]
    for memory_type, heading in HEADINGS:
        group = [m for m in parts.recent if m.memory_type == memory_type]
        if group:
            lines += [f"### {heading} ({len(group)})", *map(_line, group), ""]
    if parts.relevant:
        lines += [f"### Relevant Memories ({len(parts.relevant)})", *map(_line, parts.relevant), ""]
    if parts.sessions:
        lines += [f"### Session Summaries ({len(parts.sessions)})"]
        lines += [
            f"- {s.session_id} (ended {s.ended_at}): {' '.join((s.summary or '').split())}"
            for s in parts.sessions
        ]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
