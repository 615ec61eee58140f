"""Webhooks and deliveries in the single table (keys from engram.keys only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engram import keys
from engram.dynamo import (
    Page,
    attr,
    conditional_write,
    count_query,
    error_code,
    partition_items,
    put_all,
    query_page,
    to_dynamo,
    to_model,
)
from engram.errors import NotFound
from engram.webhooks.models import Delivery, WebhookRecord

_MAX_WEBHOOK_PAGES = 10  # a workspace holds at most a few dozen webhooks


def _live() -> Any:
    """A deleted webhook stays, soft, until its TTL. Built per call: boto3 at import would
    cost the webhooks function ~90 ms of cold start."""
    return attr("deleted_at").eq(None)


def _not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook {webhook_id} was not found.")


def _set(changes: dict[str, Any]) -> dict[str, Any]:
    """update_item arguments that SET `changes` (placeholders #u/:u, clear of boto3's own)."""
    return {
        "UpdateExpression": "SET " + ", ".join(f"#u{i} = :u{i}" for i in range(len(changes))),
        "ExpressionAttributeNames": {f"#u{i}": k for i, k in enumerate(changes)},
        "ExpressionAttributeValues": {
            f":u{i}": to_dynamo(v) for i, v in enumerate(changes.values())
        },
    }


class WebhookRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    # --- webhooks ---

    def create(self, webhook: WebhookRecord) -> None:
        item = {
            **keys.webhook_key(webhook.workspace_id, webhook.webhook_id),
            "type": "Webhook",
            **webhook.model_dump(),
        }
        self._table.put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(PK)")

    def find(self, workspace_id: str, webhook_id: str) -> WebhookRecord | None:
        """The webhook, soft-deleted ones included (the worker needs to know)."""
        item = self._table.get_item(
            Key=keys.webhook_key(workspace_id, webhook_id), ConsistentRead=True
        ).get("Item")
        return _webhook(item) if item else None

    def get(self, workspace_id: str, webhook_id: str) -> WebhookRecord:
        webhook = self.find(workspace_id, webhook_id)
        if webhook is None or webhook.deleted_at:
            raise _not_found(webhook_id)
        return webhook

    def all(self, workspace_id: str) -> list[WebhookRecord]:
        """Every live webhook of the workspace, oldest first: one Query (bounded pages).
        Each event a request makes reads them, so the read goes typed (partition_items)."""
        items = partition_items(
            self._table, keys.webhooks_partition(workspace_id), _MAX_WEBHOOK_PAGES
        )
        return [w for w in map(_webhook, items) if not w.deleted_at]

    def page(
        self, workspace_id: str, limit: int, cursor: str | None, offset: int = 0
    ) -> Page[WebhookRecord]:
        """One page of live webhooks, newest first (ids sort by creation time)."""
        page = query_page(
            self._table,
            index=None,
            key_attrs=("PK", "SK"),
            partition_attr="PK",
            partition_value=keys.webhooks_partition(workspace_id),
            limit=limit,
            cursor=cursor,
            filter_expression=_live(),
            newest_first=True,
            offset=offset,
        )
        return Page([_webhook(i) for i in page.items], page.next_cursor)

    def count(self, workspace_id: str) -> int:
        return count_query(
            self._table,
            index=None,
            partition_attr="PK",
            partition_value=keys.webhooks_partition(workspace_id),
            filter_expression=_live(),
        )

    def update(self, workspace_id: str, webhook_id: str, changes: dict[str, Any]) -> WebhookRecord:
        """SETs `changes` on a live webhook of this workspace, else 404."""
        try:
            response = self._table.update_item(
                Key=keys.webhook_key(workspace_id, webhook_id),
                **_set(changes),
                ConditionExpression=attr("PK").exists() & attr("deleted_at").eq(None),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise _not_found(webhook_id) from exc
            raise
        return _webhook(response["Attributes"])

    def record_success(self, workspace_id: str, webhook_id: str, at: str, status: int) -> None:
        self._stats(
            workspace_id,
            webhook_id,
            {
                "last_delivery_at": at,
                "last_delivery_status": status,
                "last_delivery_error": None,
                "failure_count": 0,
            },
        )

    def record_failure(
        self, workspace_id: str, webhook_id: str, at: str, status: int | None, error: str
    ) -> WebhookRecord | None:
        """Counts the failure atomically (concurrent attempts); returns the new state."""
        return self._stats(
            workspace_id,
            webhook_id,
            {"last_delivery_at": at, "last_delivery_status": status, "last_delivery_error": error},
            add_failure=True,
        )

    def disable(self, workspace_id: str, webhook_id: str, reason: str, at: str) -> bool:
        """Switches an active webhook off; False when it already was (or is gone)."""
        return (
            conditional_write(
                lambda: self._table.update_item(
                    Key=keys.webhook_key(workspace_id, webhook_id),
                    **_set({"active": False, "disabled_reason": reason, "updated_at": at}),
                    ConditionExpression=attr("active").eq(True) & attr("deleted_at").eq(None),
                )
            )
            is not None
        )

    def _stats(
        self, workspace_id: str, webhook_id: str, changes: dict[str, Any], add_failure: bool = False
    ) -> WebhookRecord | None:
        """Webhook bookkeeping after an attempt; None if the item is gone."""
        parts = _set(changes)
        if add_failure:
            parts["UpdateExpression"] += " ADD failure_count :one"
            parts["ExpressionAttributeValues"][":one"] = 1
        response = conditional_write(
            lambda: self._table.update_item(
                Key=keys.webhook_key(workspace_id, webhook_id),
                **parts,
                ConditionExpression="attribute_exists(PK)",
                ReturnValues="ALL_NEW",
            )
        )
        return _webhook(response["Attributes"]) if response else None

    # --- deliveries ---

    def add_deliveries(
        self, workspace_id: str, deliveries: Sequence[Delivery], expires: int
    ) -> None:
        put_all(
            self._table,
            (
                to_dynamo(
                    {
                        **keys.delivery_key(
                            workspace_id, delivery.webhook_id, delivery.delivery_id
                        ),
                        "type": "WebhookDelivery",
                        "ttl": expires,
                        **delivery.model_dump(),
                    }
                )
                for delivery in deliveries
            ),
        )

    def get_delivery(self, workspace_id: str, webhook_id: str, delivery_id: str) -> Delivery | None:
        item = self._table.get_item(
            Key=keys.delivery_key(workspace_id, webhook_id, delivery_id), ConsistentRead=True
        ).get("Item")
        return _delivery(item) if item else None

    def update_delivery(
        self, workspace_id: str, webhook_id: str, delivery_id: str, changes: dict[str, Any]
    ) -> None:
        """A record already gone (TTL) is not recreated as a stub: the send still counts."""
        try:
            self._table.update_item(
                Key=keys.delivery_key(workspace_id, webhook_id, delivery_id),
                **_set(changes),
                ConditionExpression="attribute_exists(PK)",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def deliveries(
        self, workspace_id: str, webhook_id: str, limit: int, cursor: str | None, offset: int = 0
    ) -> Page[Delivery]:
        page = query_page(
            self._table,
            index=None,
            key_attrs=("PK", "SK"),
            partition_attr="PK",
            partition_value=keys.deliveries_partition(workspace_id, webhook_id),
            limit=limit,
            cursor=cursor,
            newest_first=True,
            offset=offset,
        )
        return Page([_delivery(i) for i in page.items], page.next_cursor)


def _webhook(item: dict[str, Any]) -> WebhookRecord:
    return to_model(WebhookRecord, item)


def _delivery(item: dict[str, Any]) -> Delivery:
    return to_model(Delivery, item)
