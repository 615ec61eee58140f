from __future__ import annotations

from typing import Any

from engram import keys
from engram.dynamo import conflict_on_condition, from_dynamo, to_dynamo
from engram.workspaces.models import ApiKey, Workspace


class WorkspaceRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create_with_key(self, workspace: Workspace, key: ApiKey, key_hash: str) -> None:
        """The workspace and its first key land together or not at all."""
        ws_item = {**keys.workspace_key(workspace.workspace_id), "type": "Workspace",
                   **workspace.model_dump()}
        with conflict_on_condition(f"Workspace {workspace.workspace_id} already exists."):
            self._table.meta.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table.name, "Item": to_dynamo(ws_item),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"TableName": self._table.name, "Item": to_dynamo(_key_item(key, key_hash)),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
            ])

    def get(self, workspace_id: str) -> Workspace | None:
        item = self._table.get_item(Key=keys.workspace_key(workspace_id)).get("Item")
        return Workspace.model_validate(from_dynamo(item)) if item else None

    def add_key(self, key: ApiKey, key_hash: str) -> None:
        with conflict_on_condition("That API key already exists."):
            self._table.put_item(Item=_key_item(key, key_hash),
                                 ConditionExpression="attribute_not_exists(PK)")

    def find_key(self, key_hash: str) -> ApiKey | None:
        item = self._table.get_item(Key=keys.api_key_key(key_hash), ConsistentRead=True).get("Item")
        return ApiKey.model_validate(from_dynamo(item)) if item else None


def _key_item(key: ApiKey, key_hash: str) -> dict[str, Any]:
    return {
        **keys.api_key_key(key_hash),
        "type": "ApiKey",
        "GSI1PK": keys.api_keys_by_workspace(key.workspace_id),
        "GSI1SK": f"{key.created_at}#{key.key_id}",
        **key.model_dump(),
    }
