from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engram import keys
from engram.dynamo import (
    Page,
    attr,
    conflict_on_condition,
    get_item,
    query_page,
    to_dynamo,
    to_model,
)
from engram.errors import NotFound
from engram.workspaces.models import ApiKey, Workspace


class WorkspaceRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def workspace_put(self, workspace: Workspace) -> dict[str, Any]:
        """The transaction item that creates `workspace` (accounts add their user to it)."""
        item = {
            **keys.workspace_key(workspace.workspace_id),
            "type": "Workspace",
            **workspace.model_dump(),
        }
        return _put(self._table.name, item)

    def create_with_key(self, workspace: Workspace, key: ApiKey, key_hash: str) -> None:
        """The workspace and its first key land together or not at all."""
        with conflict_on_condition(f"Workspace {workspace.workspace_id} already exists."):
            self._transact([self.workspace_put(workspace), *self._key_puts(key, key_hash)])

    def all_ids(self) -> Iterator[str]:
        """Every workspace's id: a Scan, for maintenance only (never a request)."""
        kwargs: dict[str, Any] = {
            "FilterExpression": attr("type").eq("Workspace"),
            "ProjectionExpression": "workspace_id",
        }
        while True:
            response = self._table.scan(**kwargs)
            yield from (item["workspace_id"] for item in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get(self, workspace_id: str) -> Workspace | None:
        item = self._table.get_item(Key=keys.workspace_key(workspace_id)).get("Item")
        return to_model(Workspace, item) if item else None

    def add_key(self, key: ApiKey, key_hash: str) -> None:
        with conflict_on_condition("That API key already exists."):
            self._transact(self._key_puts(key, key_hash))

    def set_summary(self, workspace_id: str, summary: str, now: str) -> None:
        self._table.update_item(
            Key=keys.workspace_key(workspace_id),
            UpdateExpression="SET workspace_summary = :s, summary_updated_at = :t",
            ExpressionAttributeValues={":s": summary, ":t": now},
        )

    def summary(self, workspace_id: str) -> str:
        item = (
            self._table.get_item(
                Key=keys.workspace_key(workspace_id), ProjectionExpression="workspace_summary"
            ).get("Item")
            or {}
        )
        return item.get("workspace_summary") or ""

    def find_key(self, key_hash: str) -> ApiKey | None:
        item = get_item(self._table, keys.api_key_key(key_hash))  # every request: typed
        return to_model(ApiKey, item) if item else None

    def key_by_id(self, workspace_id: str, key_id: str) -> tuple[ApiKey, str]:
        """The key and its hash; 404 for another workspace's key."""
        pointer = self._table.get_item(Key=keys.api_key_id_key(key_id), ConsistentRead=True).get(
            "Item"
        )
        if not pointer or pointer.get("workspace_id") != workspace_id:
            raise NotFound(f"API key {key_id} was not found.")
        key = self.find_key(pointer["key_hash"])
        if key is None:
            raise NotFound(f"API key {key_id} was not found.")
        return key, pointer["key_hash"]

    def revoke_key(self, workspace_id: str, key_hash: str, revoked_at: str) -> None:
        with conflict_on_condition("That API key belongs to another workspace."):
            self._table.update_item(
                Key=keys.api_key_key(key_hash),
                UpdateExpression="SET revoked_at = :r",
                ConditionExpression="workspace_id = :ws",
                ExpressionAttributeValues={":r": revoked_at, ":ws": workspace_id},
            )

    def list_keys(
        self, workspace_id: str, limit: int, cursor: str | None, offset: int = 0
    ) -> Page[ApiKey]:
        page = query_page(
            self._table,
            index="GSI1",
            key_attrs=keys.GSI1_KEY_ATTRS,
            partition_attr="GSI1PK",
            partition_value=keys.api_keys_by_workspace(workspace_id),
            limit=limit,
            cursor=cursor,
            offset=offset,
        )
        return Page([to_model(ApiKey, i) for i in page.items], page.next_cursor)

    def _key_puts(self, key: ApiKey, key_hash: str) -> list[dict[str, Any]]:
        pointer = {
            **keys.api_key_id_key(key.key_id),
            "type": "ApiKeyId",
            "key_hash": key_hash,
            "workspace_id": key.workspace_id,
        }
        return [_put(self._table.name, _key_item(key, key_hash)), _put(self._table.name, pointer)]

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self._table.meta.client.transact_write_items(TransactItems=items)


def _put(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_dynamo(item),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def _key_item(key: ApiKey, key_hash: str) -> dict[str, Any]:
    return {
        **keys.api_key_key(key_hash),
        "type": "ApiKey",
        "GSI1PK": keys.api_keys_by_workspace(key.workspace_id),
        "GSI1SK": f"{key.created_at}#{key.key_id}",
        **key.model_dump(),
    }
