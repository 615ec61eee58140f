"""Which agents' data a caller may touch: one value, built from the principal, that every
service uses the same way.

A key bound to an agent (`agent_id` on the key) sees and writes only that agent's sessions,
memories and messages: asking for another agent is a 403, asking for none means its own.
Services push the scope into the query or index filter (`narrow`) so that the limit
counts only the caller's items; `owns` is for single items fetched by id (another agent's
is a 404, as if it did not exist)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar, cast

from pydantic import BaseModel

from engram.errors import Forbidden


class _HasAgent(Protocol):
    @property
    def agent_id(self) -> str | None: ...


F = TypeVar("F", bound=_HasAgent)


@dataclass(frozen=True)
class AgentScope:
    agent_id: str | None = None  # the bound agent; None: every agent of the workspace

    @classmethod
    def of(cls, principal: _HasAgent) -> AgentScope:
        return cls(principal.agent_id)

    @property
    def bound(self) -> bool:
        return self.agent_id is not None

    def check(self, agent_id: str | None) -> str | None:
        """The agent a request names, as the scope allows it: a bound key naming another
        agent is refused; naming none means its own."""
        if self.agent_id is None:
            return agent_id
        if agent_id not in (None, self.agent_id):
            raise Forbidden(f"This key is bound to agent '{self.agent_id}'.")
        return self.agent_id

    def narrow(self, filters: F) -> F:
        """`filters` (a dataclass or pydantic model with an `agent_id` field) with the
        scope's agent put in, checked as `check` does."""
        given = filters.agent_id
        agent_id = self.check(given)
        if agent_id == given:
            return filters
        if isinstance(filters, BaseModel):
            return filters.model_copy(update={"agent_id": agent_id})
        return replace(cast(Any, filters), agent_id=agent_id)

    def owns(self, item: _HasAgent) -> bool:
        return self.agent_id is None or item.agent_id == self.agent_id


UNBOUND = AgentScope()  # workers, maintenance and admin routes: the whole workspace
