"""The agent registry: register, list, get, delete, and each agent's stats, read from
counters kept on every memory write and from key-condition queries (never a scan)."""

from __future__ import annotations

from datetime import timedelta

from engram.agent_scope import UNBOUND, AgentScope
from engram.agents.models import Agent, AgentCreate, AgentList, AgentStats
from engram.agents.repository import AgentRepository
from engram.clock import Clock, iso
from engram.errors import NotFound
from engram.ids import new_id
from engram.memories.repository import MemoryRepository
from engram.sessions.models import SessionFilters
from engram.sessions.repository import SessionRepository


class AgentService:
    def __init__(
        self,
        agents: AgentRepository,
        memories: MemoryRepository,
        sessions: SessionRepository,
        clock: Clock,
        scope: AgentScope = UNBOUND,
    ) -> None:
        """`scope`: a key bound to an agent sees and registers only that one (another agent
        is 404, as if it did not exist)."""
        self._agents = agents
        self._memories = memories
        self._sessions = sessions
        self._clock = clock
        self._scope = scope
        self._agent_id = scope.agent_id

    def register(self, workspace_id: str, body: AgentCreate) -> Agent:
        agent_id = self._scope.check(body.agent_id) or new_id("agt")
        agent = Agent(
            agent_id=agent_id,
            workspace_id=workspace_id,
            name=body.name,
            description=body.description,
            config=body.config,
            created_at=iso(self._clock.now()),
        )
        self._agents.add(agent)
        return agent

    def list(self, workspace_id: str, limit: int, cursor: str | None, offset: int) -> AgentList:
        if self._agent_id:  # a bound key's list is its own agent, if registered
            mine = self._find(workspace_id, self._agent_id)
            items = [mine] if mine and not cursor and not offset else []
            return AgentList(data=items, next_cursor=None, has_more=False, count=len(items))
        page = self._agents.list(workspace_id, limit, cursor, offset)
        return AgentList(
            data=[self._with_activity(a) for a in page.items],
            next_cursor=page.next_cursor,
            has_more=page.next_cursor is not None,
        )

    def get(self, workspace_id: str, agent_id: str) -> Agent:
        agent = self._find(workspace_id, agent_id)
        if agent is None:
            raise NotFound(f"Agent {agent_id} was not found.")
        return agent

    def delete(self, workspace_id: str, agent_id: str) -> None:
        """Removes the registration; the agent's sessions and memories stay."""
        self.get(workspace_id, agent_id)
        self._agents.delete(workspace_id, agent_id)

    def stats(self, workspace_id: str, agent_id: str) -> AgentStats:
        self.get(workspace_id, agent_id)
        since = iso(self._clock.now() - timedelta(hours=24))
        total, by_type = self._memories.agent_counts(workspace_id, agent_id)
        return AgentStats(
            agent_id=agent_id,
            memory_count=total,
            memories_24h=self._memories.agent_count_since(workspace_id, agent_id, since),
            errors_24h=self._memories.agent_count_since(
                workspace_id, agent_id, since, errors_only=True
            ),
            memory_types=by_type,
            session_count=self._sessions.count(workspace_id, SessionFilters(agent_id=agent_id)),
            active_sessions=self._sessions.count(
                workspace_id, SessionFilters(agent_id=agent_id, active=True)
            ),
            last_active_at=self._last_active(workspace_id, agent_id),
        )

    def _find(self, workspace_id: str, agent_id: str) -> Agent | None:
        if self._agent_id and agent_id != self._agent_id:
            return None
        try:
            return self._with_activity(self._agents.get(workspace_id, agent_id))
        except NotFound:
            return None

    def _with_activity(self, agent: Agent) -> Agent:
        return agent.model_copy(
            update={"last_active_at": self._last_active(agent.workspace_id, agent.agent_id)}
        )

    def _last_active(self, workspace_id: str, agent_id: str) -> str | None:
        moments = [
            self._memories.agent_latest(workspace_id, agent_id),
            self._sessions.agent_latest(workspace_id, agent_id),
        ]
        return max((m for m in moments if m), default=None)
