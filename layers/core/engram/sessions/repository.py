from __future__ import annotations

from typing import Any

from engram import keys
from engram.dynamo import (
    Page,
    attr,
    conflict_on_condition,
    count_query,
    error_code,
    from_dynamo,
    key,
    query_page,
    to_dynamo,
)
from engram.errors import Conflict, NotFound
from engram.sessions.models import Session, SessionFilters

_GSI1_KEY = ("PK", "SK", "GSI1PK", "GSI1SK")
_GSI2_KEY = ("PK", "SK", "GSI2PK", "GSI2SK")


def _not_found(session_id: str) -> NotFound:
    return NotFound(f"Session {session_id} was not found.")


class SessionRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, session: Session) -> None:
        """Puts the session and bumps the workspace's session count in one transaction;
        a session id taken in any workspace is a conflict."""
        item = self._item(session)
        ws_key = keys.workspace_key(session.workspace_id)
        with conflict_on_condition(f"Session {session.session_id} already exists."):
            self._table.meta.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table.name, "Item": to_dynamo(item),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Update": {"TableName": self._table.name, "Key": to_dynamo(ws_key),
                            "UpdateExpression": "ADD session_count :one",
                            "ExpressionAttributeValues": to_dynamo({":one": 1})}},
            ])

    def get(self, workspace_id: str, session_id: str) -> Session:
        item = self._table.get_item(Key=keys.session_key(session_id), ConsistentRead=True).get("Item")
        if not item or item.get("workspace_id") != workspace_id:
            raise _not_found(session_id)
        return _session(item)

    def update(self, workspace_id: str, session_id: str, changes: dict[str, Any],
               allowed_from: list[str] | None = None) -> Session:
        """Sets `changes` only if the session is in this workspace and (when given) in one
        of the `allowed_from` statuses; otherwise 404 or 409, and nothing is written."""
        # Placeholders #u/:u: boto3's condition builder uses #n/:v for its own.
        names = {f"#u{i}": k for i, k in enumerate(changes)}
        values = {f":u{i}": to_dynamo(v) for i, v in enumerate(changes.values())}
        condition = attr("workspace_id").eq(workspace_id)
        if allowed_from is not None:
            condition = condition & attr("status").is_in(allowed_from)
        try:
            response = self._table.update_item(
                Key=keys.session_key(session_id),
                UpdateExpression="SET " + ", ".join(f"#u{i} = :u{i}" for i in range(len(changes))),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.get(workspace_id, session_id)  # 404 if it is not ours
            raise Conflict(
                f"Session {session_id} is {current.status}; that change is not allowed from there."
            ) from exc
        return _session(response["Attributes"])

    def delete(self, workspace_id: str, session_id: str) -> None:
        ws_key = keys.workspace_key(workspace_id)
        try:
            self._table.meta.client.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self._table.name, "Key": to_dynamo(keys.session_key(session_id)),
                            "ConditionExpression": "workspace_id = :ws",
                            "ExpressionAttributeValues": to_dynamo({":ws": workspace_id})}},
                {"Update": {"TableName": self._table.name, "Key": to_dynamo(ws_key),
                            "UpdateExpression": "ADD session_count :minus",
                            "ExpressionAttributeValues": to_dynamo({":minus": -1})}},
            ])
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise _not_found(session_id) from exc
            raise

    def list(self, workspace_id: str, filters: SessionFilters, limit: int,
             cursor: str | None) -> Page:
        index, attr, value, key_attrs = self._partition(workspace_id, filters)
        page = query_page(self._table, index=index, key_attrs=key_attrs, partition_attr=attr,
                          partition_value=value, limit=limit, cursor=cursor,
                          filter_expression=_filter(filters))
        return Page([_session(i) for i in page.items], page.next_cursor)

    def count(self, workspace_id: str, filters: SessionFilters) -> int:
        """Unfiltered, the workspace's counter (one read); filtered, a COUNT query."""
        if filters.is_empty():
            item = self._table.get_item(Key=keys.workspace_key(workspace_id)).get("Item") or {}
            return int(item.get("session_count", 0))
        index, attr, value, _ = self._partition(workspace_id, filters)
        return count_query(self._table, index=index, partition_attr=attr, partition_value=value,
                           filter_expression=_filter(filters))

    def get_raw(self, workspace_id: str, session_id: str) -> dict[str, Any]:
        """The stored item, with fields the API does not show (the window's restore point)."""
        item = self._table.get_item(Key=keys.session_key(session_id), ConsistentRead=True).get("Item")
        if not item or item.get("workspace_id") != workspace_id:
            raise _not_found(session_id)
        return from_dynamo(item)

    def add_activity(self, workspace_id: str, session_id: str, messages: int, tokens: int,
                     now: str, undo: bool = False) -> None:
        """Moves the message and token counters atomically (ADD), so concurrent posts lose no
        count. New messages need an open session; an undo does not."""
        condition = attr("workspace_id").eq(workspace_id)
        if not undo:
            condition = condition & attr("is_active").eq(True)
        try:
            self._table.update_item(
                Key=keys.session_key(session_id),
                UpdateExpression="ADD message_count :m, token_count :t SET last_active_at = :now",
                ConditionExpression=condition,
                ExpressionAttributeValues={":m": messages, ":t": tokens, ":now": now})
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = self.get(workspace_id, session_id)
            raise Conflict(f"Session {session_id} is {current.status}; it takes no more "
                           "messages.") from exc

    def add_checkpoint(self, checkpoint: dict[str, Any], snapshot: list[str]) -> None:
        key = keys.checkpoint_key(checkpoint["session_id"], checkpoint["checkpoint_id"])
        self._table.put_item(Item=to_dynamo({**key, "type": "Checkpoint", **checkpoint,
                                             "snapshot": snapshot}))

    def checkpoints(self, session_id: str) -> list[dict[str, Any]]:
        condition = key("PK").eq(keys.session_key(session_id)["PK"]) & key("SK").begins_with(
            keys.CHECKPOINT_PREFIX)
        response = self._table.query(KeyConditionExpression=condition, ScanIndexForward=False)
        fields = ("checkpoint_id", "session_id", "created_at", "message_count")
        return [{k: from_dynamo(i[k]) for k in fields} for i in response.get("Items", [])]

    def checkpoint(self, session_id: str, checkpoint_id: str) -> tuple[dict, list[str]] | None:
        item = self._table.get_item(Key=keys.checkpoint_key(session_id, checkpoint_id)).get("Item")
        if not item:
            return None
        return from_dynamo(item), list(item.get("snapshot") or [])

    @staticmethod
    def _partition(workspace_id: str, filters: SessionFilters) -> tuple[str, str, str, tuple]:
        if filters.agent_id:
            return "GSI2", "GSI2PK", keys.sessions_by_agent(workspace_id, filters.agent_id), _GSI2_KEY
        return "GSI1", "GSI1PK", keys.sessions_by_workspace(workspace_id), _GSI1_KEY

    @staticmethod
    def _item(session: Session) -> dict[str, Any]:
        sort = keys.session_sort(session.started_at, session.session_id)
        item = {**keys.session_key(session.session_id), "type": "Session",
                "GSI1PK": keys.sessions_by_workspace(session.workspace_id), "GSI1SK": sort,
                **session.model_dump()}
        if session.agent_id:
            item["GSI2PK"] = keys.sessions_by_agent(session.workspace_id, session.agent_id)
            item["GSI2SK"] = sort
        return item


def _filter(filters: SessionFilters) -> Any:
    """Filters other than the partition's agent, as one DynamoDB filter expression."""
    parts = [attr(name).eq(getattr(filters, name))
             for name in ("task_id", "user_id", "status", "project_name")
             if getattr(filters, name) is not None]
    if filters.active is not None:
        parts.append(attr("is_active").eq(filters.active))
    expression = None
    for part in parts:
        expression = part if expression is None else expression & part
    return expression


def _session(item: dict[str, Any]) -> Session:
    return Session.model_validate({k: v for k, v in from_dynamo(item).items()
                                   if k in Session.model_fields})
