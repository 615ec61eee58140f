"""Agent items: PK=WS#<ws>#AGENTS, SK=AGENT#<agent_id> (one Query lists a workspace's)."""

from __future__ import annotations

from typing import Any

from engram import keys
from engram.agents.models import Agent
from engram.dynamo import (
    Page,
    conflict_on_condition,
    error_code,
    from_dynamo,
    query_page,
    to_dynamo,
)
from engram.errors import NotFound

KEY_ATTRS = ("PK", "SK")


def _not_found(agent_id: str) -> NotFound:
    return NotFound(f"Agent {agent_id} was not found.")


class AgentRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def add(self, agent: Agent) -> None:
        item = {
            **keys.agent_key(agent.workspace_id, agent.agent_id),
            "type": "Agent",
            **agent.model_dump(exclude_none=True, exclude={"last_active_at"}),
        }
        with conflict_on_condition(f"Agent {agent.agent_id} is already registered."):
            self._table.put_item(
                Item=to_dynamo(item), ConditionExpression="attribute_not_exists(PK)"
            )

    def get(self, workspace_id: str, agent_id: str) -> Agent:
        item = self._table.get_item(
            Key=keys.agent_key(workspace_id, agent_id), ConsistentRead=True
        ).get("Item")
        if not item:
            raise _not_found(agent_id)
        return _agent(item)

    def list(
        self, workspace_id: str, limit: int, cursor: str | None, offset: int = 0
    ) -> Page[Agent]:
        page = query_page(
            self._table,
            index=None,
            key_attrs=KEY_ATTRS,
            partition_attr="PK",
            partition_value=keys.agents_partition(workspace_id),
            limit=limit,
            cursor=cursor,
            offset=offset,
            newest_first=False,
        )
        return Page([_agent(i) for i in page.items], page.next_cursor)

    def delete(self, workspace_id: str, agent_id: str) -> None:
        try:
            self._table.delete_item(
                Key=keys.agent_key(workspace_id, agent_id),
                ConditionExpression="attribute_exists(PK)",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise _not_found(agent_id) from exc
            raise


def _agent(item: dict[str, Any]) -> Agent:
    return Agent.model_validate(
        from_dynamo({k: v for k, v in item.items() if k in Agent.model_fields})
    )
